//! The data header: parse must not panic; what parses re-emits to the same fields.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringshot::wire::header::{check_pattern, Packet, Repr, HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    let packet = Packet::new_unchecked(data);
    let Ok(repr) = Repr::parse(&packet) else {
        return;
    };
    let _ = check_pattern(packet.seq(), packet.payload());
    let mut buf = [0u8; HEADER_LEN];
    repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
    assert_eq!(Repr::parse(&Packet::new_unchecked(&buf[..])), Ok(repr));
});
