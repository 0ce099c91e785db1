use super::*;
use crate::framing::{Format, Framing, Spead, Stamper};
use crate::recv::StreamChecker;
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
    // Heap-level loss: three heaps begun, one incomplete, lacking the lost packet's 40 bytes
    // (the 20 bytes that arrived after the gap arrived, though the heap dropped them).
    assert_eq!(
        (s.heaps_seen, s.incomplete_heaps, s.missing_bytes),
        (3, 1, 40)
    );
    assert_eq!(s.heap_bytes, 200);
    assert_eq!(s.heaps_seen, s.heaps + s.incomplete_heaps);
}

/// The checker below the reassembler counts what arrived: every SPEAD packet (the stop packet
/// too) and its UDP payload bytes, the time from the first to the last and the gaps; nothing
/// after the stop packet, and no sequence numbers.
#[test]
fn the_checker_counts_what_arrived() {
    let p = stream(2);
    let mut r = SpeadReassembler::new(SpeadConfig::default())
        .with_checker(StreamChecker::new(64, true).with_timeline(None));
    for (i, d) in p.iter().chain([&p[0]]).enumerate() {
        let meta = RxMeta {
            at_ns: 1_000_000 + i as u64 * 1_000,
            ..meta()
        };
        r.datagram(d, &meta);
    }
    r.datagram(&[0x53, 0x04, 3, 5, 0, 0, 0, 9], &meta());
    r.finish(0);
    let c = r.checker().expect("a checker");
    let bytes: usize = p.iter().map(Vec::len).sum();
    assert_eq!((c.packets(), c.bytes()), (p.len() as u64, bytes as u64));
    assert_eq!(c.packets(), r.stats().packets);
    assert_eq!(r.stats().after_stop, 2);
    assert!((c.seconds() - (p.len() - 1) as f64 * 1e-6).abs() < 1e-12);
    assert_eq!(c.gaps().len(), p.len() as u64 - 1);
    assert_eq!(c.format(), crate::framing::Format::Spead);
    assert_eq!(c.corrupt(), 0, "SPEAD payloads are not pattern-checked");
    assert_eq!(c.seq_range(), (None, None));
    assert!(c.framing_errors().is_empty(), "{:?}", c.framing_errors());
}

/// An evicted heap lacks what never arrived for it; a heap without a heap size lacks nothing
/// anyone can count.
#[test]
fn an_evicted_heap_counts_its_missing_bytes() {
    let p = stream(3);
    // Heap 1's first packet (40 of 100 bytes), then heaps 2 and 3 whole: one live heap only.
    let mut r = SpeadReassembler::new(SpeadConfig {
        max_heaps: 1,
        ..SpeadConfig::default()
    });
    for d in [&p[0]].into_iter().chain(&p[3..]) {
        r.datagram(d, &meta());
    }
    r.finish(0);
    let s = r.stats();
    assert_eq!((s.heaps_seen, s.heaps), (3, 2), "{s:?}");
    assert_eq!(
        (
            s.incomplete_heaps,
            s.incomplete_heaps_evicted,
            s.missing_bytes
        ),
        (1, 1, 60),
        "{s:?}"
    );
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
        prop_assert_eq!(s.heaps_seen, s.heaps + s.incomplete_heaps);
        prop_assert_eq!(
            s.incomplete_heaps,
            s.incomplete_heaps_evicted + s.incomplete_heaps_flushed
        );
    }
}
