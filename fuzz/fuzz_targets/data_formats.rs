//! Data-packet decoding in every format the receiver knows: never panics; a decoded payload lies
//! inside the datagram; an accepted CHDR data packet round-trips through its Repr.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringshot::framing::Format;
use ringshot::recv::formats::{decode, SeqReader};
use ringshot::wire::chdr::{DataRepr, Packet};

fuzz_target!(|data: &[u8]| {
    for format in Format::ALL {
        if let Ok(d) = decode(format, data) {
            assert!(d.payload.len() <= data.len());
        }
        let mut r = SeqReader::new(format, u64::MAX - 3);
        let _ = r.read(data, true);
        let _ = r.read(data, false);
    }
    let packet = Packet::new_unchecked(data);
    if let Ok(repr) = DataRepr::parse(&packet) {
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(DataRepr::parse(&Packet::new_unchecked(&buf[..])), Ok(repr));
    }
});
