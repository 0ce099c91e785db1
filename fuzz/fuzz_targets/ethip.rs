//! Ethernet + IP + UDP frames: the view and the parser must not panic on any bytes; what parses
//! re-emits (headers rebuilt, same payload) to a frame that parses to the same fields, with the
//! IPv6 UDP checksum recomputed and IPv4 carrying none.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringshot::wire::ethip::{Frame, Repr, Template};

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = Frame::new_checked(data) else {
        return;
    };
    let payload = frame.payload().to_vec();
    let Ok(repr) = Repr::parse(&frame) else {
        return;
    };
    let mut again = repr;
    let hl = repr.header_len();
    let mut buf = vec![0u8; hl + payload.len()];
    buf[hl..].copy_from_slice(&payload);
    again.emit(&mut buf).expect("a parsed frame re-emits");
    let back = Repr::parse(&Frame::new_checked(&buf[..]).unwrap()).unwrap();
    assert_eq!(back, again);
    assert_eq!((back.src, back.dst, back.payload_len), (repr.src, repr.dst, repr.payload_len));
    // The per-flow template writes the same bytes.
    let mut other = buf.clone();
    let t = Template::new(&repr).unwrap();
    t.write(&mut other[..hl], &payload, repr.ip_id);
    assert_eq!(&other[..hl], &buf[..hl]);
});
