use super::*;
use crate::framing::{Format, Framing, Spead, Stamper};
use proptest::prelude::*;

fn meta() -> RxMeta {
    RxMeta {
        src: "127.0.0.1:9".parse().unwrap(),
        at_ns: 0,
    }
}

/// `heaps` heaps of 100 bytes in packets of at most 40 data bytes (40, 40, 20), then the stop.
fn stream(heaps: usize) -> Vec<Vec<u8>> {
    let framing = Framing {
        spead: Spead {
            heap_size: 100,
            ..Spead::default()
        },
        ..Framing::of(Format::Spead)
    };
    let mut s = Stamper::new(framing, 0);
    let mut out = Vec::new();
    let mut seq = 0;
    let mut sent = 0;
    while sent < heaps * 100 {
        let mut buf = vec![0u8; 128];
        let n = s.next_room(40);
        let len = s.stamp(&mut buf, seq, 0, n);
        buf.truncate(len);
        out.push(buf);
        seq += 1;
        sent += n;
    }
    let mut buf = vec![0u8; 128];
    let len = s.stamp_end(&mut buf, seq).unwrap();
    assert!(s.stamp_end(&mut buf, seq).is_none(), "one stop heap");
    buf.truncate(len);
    out.push(buf);
    out
}

fn feed(r: &mut SpeadReassembler, packets: &[Vec<u8>]) {
    for p in packets {
        r.datagram(p, &meta());
    }
    r.finish(0);
}

#[test]
fn whole_heaps_and_the_stop() {
    let mut r = SpeadReassembler::new(SpeadConfig::default());
    let flag = r.stop_flag();
    feed(&mut r, &stream(3));
    let s = r.stats();
    assert_eq!((s.heaps, s.packets, s.stopped), (3, 10, true));
    assert_eq!(
        (s.incomplete_heaps_evicted, s.incomplete_heaps_flushed),
        (0, 0)
    );
    assert!(flag.load(Ordering::Relaxed));
    assert!(r.malformed().is_empty());
}

#[test]
fn a_lost_packet_leaves_its_heap_to_the_flush() {
    let mut p = stream(3);
    p.remove(4); // heap 2, second packet
    let mut r = SpeadReassembler::new(SpeadConfig::default());
    feed(&mut r, &p);
    let s = r.stats();
    assert_eq!((s.heaps, s.incomplete_heaps_flushed), (2, 1));
    assert_eq!(s.out_of_order_packets, 1, "the third packet follows a gap");
}

#[test]
fn out_of_order_needs_the_option() {
    let mut p = stream(2);
    p.swap(0, 1);
    let mut r = SpeadReassembler::new(SpeadConfig::default());
    feed(&mut r, &p);
    assert_eq!(r.stats().heaps, 1);
    let mut r = SpeadReassembler::new(SpeadConfig {
        allow_out_of_order: true,
        ..SpeadConfig::default()
    });
    feed(&mut r, &p);
    assert_eq!(r.stats().heaps, 2);
}

#[test]
fn a_full_substream_evicts_its_oldest_heap() {
    let p = stream(2);
    // Heap 1's first packet, then all of heap 2, then the rest of heap 1: one live heap only.
    let order = [0usize, 3, 4, 5, 1, 2, 6];
    let mut r = SpeadReassembler::new(SpeadConfig {
        max_heaps: 1,
        ..SpeadConfig::default()
    });
    for i in order {
        r.datagram(&p[i], &meta());
    }
    let s = r.stats();
    assert_eq!(s.heaps, 1, "{s:?}");
    assert!(s.incomplete_heaps_evicted >= 1, "{s:?}");
    // With two substreams heaps 1 and 2 live side by side.
    let mut r = SpeadReassembler::new(SpeadConfig {
        max_heaps: 1,
        substreams: 2,
        ..SpeadConfig::default()
    });
    for i in order {
        r.datagram(&p[i], &meta());
    }
    assert_eq!(r.stats().heaps, 2);
}

#[test]
fn batches_and_foreign_datagrams() {
    let mut r = SpeadReassembler::new(SpeadConfig::default());
    r.datagram(b"RS\x01\x00\x00\x00\x00\x00", &meta());
    r.datagram(&[0x53, 0x04, 3, 5, 0, 0, 0, 9], &meta());
    r.tick(0);
    r.tick(0);
    let s = r.stats();
    assert_eq!((s.batches, s.max_batch, s.packets), (1, 2, 0));
    assert_eq!(r.malformed().get("bad_magic"), Some(&1));
    assert_eq!(r.malformed().get("truncated"), Some(&1));
    assert!(SpeadConfig {
        max_heaps: 0,
        ..SpeadConfig::default()
    }
    .validate()
    .is_err());
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(
        packets in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..8),
        ooo in any::<bool>(),
    ) {
        let mut r = SpeadReassembler::new(SpeadConfig {
            allow_out_of_order: ooo,
            max_heaps: 2,
            substreams: 2,
        });
        for p in &packets {
            r.datagram(p, &meta());
        }
        r.finish(0);
        let s = r.stats();
        prop_assert!(s.heaps <= s.packets);
    }
}
