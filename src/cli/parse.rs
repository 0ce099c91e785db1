//! Value parsers for flags whose values need range checks beyond their type: durations (never
//! more than [`MAX_DURATION`]), zero-copy thresholds. Errors are one phrase; clap prefixes the flag.

use std::time::Duration;

use ringshot::config::MAX_DURATION;

/// The unit of a bare number in a duration flag.
#[derive(Debug, Clone, Copy)]
enum Unit {
    Secs,
    Millis,
    Micros,
}

impl Unit {
    fn secs(self) -> f64 {
        match self {
            Unit::Secs => 1.0,
            Unit::Millis => 1e-3,
            Unit::Micros => 1e-6,
        }
    }
}

/// A duration: a bare number in `bare` units, or a number with a unit as [`humantime`] reads
/// them (`500ms`, `2s`, `1m`, `2h`, `1h 30m`, `50us`), or a decimal with one simple unit
/// (`1.5s`, `0.5ms`). Refuses negative, non-finite and over-a-year values, and zero unless
/// `zero_ok`.
fn duration(s: &str, bare: Unit, zero_ok: bool) -> Result<Duration, String> {
    let t = s.trim();
    let too_long = || {
        format!(
            "'{s}' is longer than the maximum of one year ({} s)",
            MAX_DURATION.as_secs()
        )
    };
    let d = if let Ok(v) = t.parse::<f64>() {
        scaled(s, v, bare.secs())?.ok_or_else(too_long)?
    } else if let Ok(d) = humantime::parse_duration(t) {
        d
    } else {
        let (num, scale) = [
            ("ns", 1e-9),
            ("us", 1e-6),
            ("µs", 1e-6),
            ("ms", 1e-3),
            ("s", 1.0),
        ]
        .into_iter()
        .find_map(|(unit, scale)| t.strip_suffix(unit).map(|n| (n, scale)))
        .ok_or_else(|| format!("'{s}' is not a duration (e.g. 250ms, 2s, 1m, 2h, 1.5)"))?;
        let v: f64 = num
            .trim()
            .parse()
            .map_err(|_| format!("'{s}' is not a duration (e.g. 250ms, 2s, 1m, 2h, 1.5)"))?;
        scaled(s, v, scale)?.ok_or_else(too_long)?
    };
    if d > MAX_DURATION {
        return Err(too_long());
    }
    if d.is_zero() && !zero_ok {
        return Err(format!("'{s}' must be more than 0"));
    }
    Ok(d)
}

/// `v × scale` seconds; `None` when it does not fit a `Duration`.
fn scaled(s: &str, v: f64, scale: f64) -> Result<Option<Duration>, String> {
    if !v.is_finite() || v < 0.0 {
        return Err(format!("'{s}' must be a positive duration"));
    }
    Ok(Duration::try_from_secs_f64(v * scale).ok())
}

/// Seconds (bare numbers), more than 0 and at most one year.
pub fn secs(s: &str) -> Result<Duration, String> {
    duration(s, Unit::Secs, false)
}

/// Seconds (bare numbers), 0 allowed (it turns the option off), at most one year.
pub fn secs_or_zero(s: &str) -> Result<Duration, String> {
    duration(s, Unit::Secs, true)
}

/// Milliseconds (bare numbers), more than 0 and at most one year.
pub fn millis(s: &str) -> Result<Duration, String> {
    duration(s, Unit::Millis, false)
}

/// Microseconds (bare numbers), more than 0 and at most one year.
pub fn micros(s: &str) -> Result<Duration, String> {
    duration(s, Unit::Micros, false)
}

/// Microseconds (bare numbers), 0 allowed, at most one year.
pub fn micros_or_zero(s: &str) -> Result<Duration, String> {
    duration(s, Unit::Micros, true)
}

/// A zero-copy threshold in bytes, `None` for `off`. A newtype, because clap would read a bare
/// `Option` as "the flag may be absent".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZcThreshold(pub Option<usize>);

/// A zero-copy threshold: a datagram size of at least 1 byte, or `off`.
pub fn zc_threshold(s: &str) -> Result<ZcThreshold, String> {
    if s == "off" {
        return Ok(ZcThreshold(None));
    }
    match s.parse::<usize>() {
        Ok(0) => Err("0 bytes is not a datagram size (use 1 or more, or 'off')".into()),
        Ok(v) => Ok(ZcThreshold(Some(v))),
        Err(_) => Err(format!("'{s}' is not a byte count or 'off'")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_bounds() {
        assert_eq!(secs("2").unwrap(), Duration::from_secs(2));
        assert_eq!(secs("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(millis("200").unwrap(), Duration::from_millis(200));
        assert_eq!(millis("200ms").unwrap(), Duration::from_millis(200));
        assert_eq!(millis("3s").unwrap(), Duration::from_secs(3));
        assert_eq!(micros_or_zero("0").unwrap(), Duration::ZERO);
        assert_eq!(micros_or_zero("50us").unwrap(), Duration::from_micros(50));
        assert_eq!(secs("31536000").unwrap(), MAX_DURATION);
        assert_eq!(secs("1m").unwrap(), Duration::from_secs(60));
        assert_eq!(secs("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(millis("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(millis("1m").unwrap(), Duration::from_secs(60));
        for bad in [
            "0", "-1", "1e20", "31536001", "inf", "NaN", "x", "", "1e400", "2y", "-1s",
        ] {
            assert!(secs(bad).is_err(), "{bad}");
        }
        assert!(millis("0ms").is_err());
        assert!(millis("18446744073709551615").is_err());
    }

    #[test]
    fn zc_threshold_zero_is_refused() {
        assert_eq!(zc_threshold("off").unwrap(), ZcThreshold(None));
        assert_eq!(zc_threshold("1").unwrap(), ZcThreshold(Some(1)));
        assert!(zc_threshold("0").is_err());
        assert!(zc_threshold("-1").is_err());
    }
}
