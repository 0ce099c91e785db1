//! VRT: parse must not panic; a parsed packet re-emits (with its payload) to the same Repr.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringshot::wire::vrt::{Packet, Repr};

fuzz_target!(|data: &[u8]| {
    let packet = Packet::new_unchecked(data);
    let Ok(repr) = Repr::parse(&packet) else {
        return;
    };
    let _ = (packet.payload_word(0), packet.trailer(), packet.class_id());
    assert!(packet.header_len() + packet.payload().len() <= packet.packet_len());
    let mut buf = vec![0u8; repr.buffer_len()];
    let mut out = Packet::new_unchecked(&mut buf[..]);
    repr.emit(&mut out);
    out.payload_mut().copy_from_slice(packet.payload());
    let again = Packet::new_checked(&buf[..]).expect("emitted packet checks");
    assert_eq!(Repr::parse(&again), Ok(repr));
    assert_eq!(again.payload(), packet.payload());
});
