//! The native ACK: parse must not panic; an accepted ACK re-emits to the same Repr.
//!
//! Random bytes almost never carry a valid CRC-32C, so when the first input byte is odd the
//! target fixes the checksum up first: that lets the fuzzer reach the checks behind it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringshot::wire::ack::{Packet, Repr, ACK_LEN};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut bytes = rest.to_vec();
    if mode & 1 == 1 && bytes.len() >= ACK_LEN {
        Packet::new_unchecked(&mut bytes[..]).fill_checksum();
    }
    let packet = Packet::new_unchecked(&bytes[..]);
    let Ok(repr) = Repr::parse(&packet) else {
        return;
    };
    assert!(packet.verify_checksum());
    let out = repr.to_bytes();
    assert_eq!(Repr::parse(&Packet::new_unchecked(&out[..])), Ok(repr));
});
