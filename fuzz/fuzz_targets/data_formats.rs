//! Data-packet decoding in every format the receiver knows: never panics; a decoded payload lies
//! inside the datagram; an accepted CHDR data packet round-trips through its Repr; the SPEAD
//! reassembler takes any sequence of datagrams; the stream checker (VRT integer timestamp and
//! SPEAD heap sequence checks) takes any sequence of datagrams in every format.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringshot::framing::Format;
use ringshot::recv::formats::{decode, SeqReader};
use ringshot::recv::spead::{SpeadConfig, SpeadReassembler};
use ringshot::recv::{DatagramSink, RxMeta, StreamChecker};
use ringshot::wire::chdr::{DataRepr, Packet};
use ringshot::wire::spead;

fuzz_target!(|data: &[u8]| {
    for format in Format::ALL {
        if let Ok(d) = decode(format, data) {
            assert!(d.payload.len() <= data.len());
        }
        let mut r = SeqReader::new(format, u64::MAX - 3);
        let _ = r.read(data, true);
        let _ = r.read(data, false);
    }
    // The SPEAD reassembler, fed the input cut into datagrams at every 0xFF byte.
    let mut spead = SpeadReassembler::new(SpeadConfig {
        allow_out_of_order: data.first().is_some_and(|b| b & 1 == 1),
        max_heaps: 2,
        substreams: 2,
    });
    let meta = RxMeta {
        src: "127.0.0.1:9".parse().unwrap(),
        at_ns: 0,
    };
    for d in data.split(|b| *b == 0xFF) {
        spead.datagram(d, &meta);
    }
    spead.finish(0);
    assert!(spead.stats().heaps <= spead.stats().packets);
    // The checker of each format, fed the same datagrams: counts only, never a panic.
    for format in Format::ALL {
        let mut c = StreamChecker::new(64, true)
            .with_format(format)
            .with_heap_cnt_step(u64::from(data.first().copied().unwrap_or(1)));
        for d in data.split(|b| *b == 0xFF) {
            c.datagram(d, &meta);
        }
        let malformed: u64 = c.malformed().values().sum();
        assert!(c.packets() + malformed <= data.split(|b| *b == 0xFF).count() as u64);
        let _ = c.framing_errors();
    }
    // A SPEAD packet that parses re-emits to the same Repr (other items as data pointers).
    if let Ok(r) = spead::Repr::parse(&spead::Packet::new_unchecked(data)) {
        let extra = vec![
            spead::ItemPointer {
                immediate: false,
                id: 0x1000,
                value: 0,
            };
            usize::from(r.other_items)
        ];
        let mut buf = vec![0u8; r.header_len(extra.len()) + r.payload_len as usize];
        r.emit(&mut buf, &extra);
        assert_eq!(spead::Repr::parse(&spead::Packet::new_unchecked(&buf[..])), Ok(r));
    }
    let packet = Packet::new_unchecked(data);
    if let Ok(repr) = DataRepr::parse(&packet) {
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(DataRepr::parse(&Packet::new_unchecked(&buf[..])), Ok(repr));
    }
});
