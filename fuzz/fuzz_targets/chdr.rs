//! CHDR: parse must not panic; accepted STRS/STRC packets round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringshot::wire::chdr::{Packet, Repr};

fuzz_target!(|data: &[u8]| {
    let packet = Packet::new_unchecked(data);
    if packet.check_len().is_ok() {
        let _ = (packet.payload(), packet.metadata(), packet.timestamp());
    }
    let Ok(repr) = Repr::parse(&packet) else {
        return;
    };
    let mut buf = vec![0u8; repr.buffer_len()];
    let n = repr.emit_into(&mut buf);
    assert_eq!(Repr::parse(&Packet::new_unchecked(&buf[..n])), Ok(repr));
});
