//! USRP2 async/flow-control packets (and data framing): no panic; accepted ACKs round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringshot::wire::usrp2::{parse_data, AckRepr};

fuzz_target!(|data: &[u8]| {
    let _ = parse_data(data).map(|(_, p)| p.payload().len());
    // The first byte picks the stream id so both matching and foreign ids are explored.
    let Some((&sid, rest)) = data.split_first() else {
        return;
    };
    let Ok(repr) = AckRepr::parse(rest, u32::from(sid & 3)) else {
        return;
    };
    let mut buf = vec![0u8; repr.buffer_len()];
    let n = repr.emit(&mut buf);
    assert_eq!(AckRepr::parse(&buf[..n], repr.stream_id), Ok(repr));
});
