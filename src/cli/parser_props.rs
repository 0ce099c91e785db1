//! Every value parser of the command line takes any text without panicking: it answers a value or
//! a one-line reason. (Host names are left out: resolving random text would ask the resolver.)

use proptest::prelude::*;

use super::{framing, parse, units};

fn check(r: Result<impl std::fmt::Debug, String>) {
    if let Err(reason) = r {
        assert!(!reason.is_empty() && !reason.contains('\n'), "{reason:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn value_parsers_never_panic(s in "\\PC{0,24}") {
        check(units::rate(&s));
        check(framing::parse_rate(&s));
        check(parse::secs(&s));
        check(parse::secs_or_zero(&s));
        check(parse::millis(&s));
        check(parse::micros(&s));
        check(parse::micros_or_zero(&s));
        check(parse::zc_threshold(&s));
    }

    #[test]
    fn number_like_input_never_panics(
        n in prop_oneof![any::<f64>().prop_map(|v| v.to_string()), "[0-9]{1,40}", "-?[0-9]{0,5}\\.[0-9]{0,30}(e[+-]?[0-9]{1,4})?"],
        unit in prop_oneof![Just(""), Just("pps"), Just("kpps"), Just("Mpps"), Just("G"), Just("Gbit/s"), Just("Msps"), Just("ms"), Just("us"), Just("h")],
    ) {
        let s = format!("{n}{unit}");
        check(units::rate(&s));
        check(framing::parse_rate(&s));
        check(parse::secs(&s));
        check(parse::micros(&s));
    }
}
