//! Tests of [`super::StreamChecker`].

use super::*;
use crate::wire::header::HEADER_LEN;

fn packet(stream: u32, seq: u64, len: usize) -> Vec<u8> {
    crate::wire::header::pattern_packet(stream, seq, len)
}

fn meta(at_ns: u64) -> RxMeta {
    RxMeta {
        src: "127.0.0.1:9".parse().unwrap(),
        at_ns,
    }
}

#[test]
fn counts_packets_malformed_corrupt_and_gaps() {
    let mut c = StreamChecker::new(64, true);
    for (i, seq) in [0u64, 1, 3, 2, 2].into_iter().enumerate() {
        c.datagram(&packet(7, seq, 100), &meta(1_000 + i as u64 * 500));
    }
    c.datagram(&[1, 2, 3], &meta(4_000)); // short
    let mut bad = packet(7, 4, 100);
    bad[0] = b'X';
    c.datagram(&bad, &meta(4_000));
    let mut bad = packet(7, 4, 100);
    bad[2] = 9;
    c.datagram(&bad, &meta(4_000));
    let mut flipped = packet(7, 4, 100);
    flipped[HEADER_LEN + 10] ^= 1;
    c.datagram(&flipped, &meta(5_000));

    assert_eq!(c.packets(), 6);
    assert_eq!(c.bytes(), 600);
    assert_eq!(c.corrupt(), 1);
    assert_eq!(c.totals(), (0, 1, 1, 0));
    let m = c.malformed();
    assert_eq!(m.len(), 3);
    assert_eq!(m["truncated"], 1);
    assert_eq!(m["bad_magic"], 1);
    assert_eq!(m["bad_version"], 1);
    assert_eq!(c.gaps().len(), 5);
    assert_eq!(c.gaps().max(), c.gaps().highest_equivalent(2_000));
    assert_eq!(
        c.gaps().value_at_quantile(0.5),
        c.gaps().highest_equivalent(500)
    );
    assert!((c.seconds() - 4e-6).abs() < 1e-12);
}

#[test]
fn unflagged_payload_is_not_checked_and_verify_can_be_off() {
    let mut c = StreamChecker::new(64, true);
    let mut p = packet(0, 0, 64);
    p[3] = 0; // no FLAG_PATTERN
    p[HEADER_LEN] ^= 0xff;
    c.datagram(&p, &meta(1));
    assert_eq!(c.corrupt(), 0);
    let mut c = StreamChecker::new(64, false);
    let mut p = packet(0, 0, 64);
    p[HEADER_LEN] ^= 0xff;
    c.datagram(&p, &meta(1));
    assert_eq!((c.packets(), c.corrupt()), (1, 0));
}

#[test]
fn streams_are_tracked_apart_up_to_the_limit() {
    let mut c = StreamChecker::new(64, true);
    for s in 0..MAX_STREAMS as u32 + 2 {
        c.datagram(&packet(s, 1, 32), &meta(1)); // seq 0 of every stream missing
    }
    assert_eq!(c.packets(), MAX_STREAMS as u64);
    assert_eq!(c.malformed_count(WireError::Unexpected), 2);
    assert_eq!(c.totals().0, MAX_STREAMS as u64);
    c.datagram(&packet(3, 0, 32), &meta(2));
    assert_eq!(c.totals(), (MAX_STREAMS as u64 - 1, 1, 0, 0));
    assert_eq!(c.streams().count(), MAX_STREAMS);
}

/// Each format's own counter is tracked across its wrap: a lost packet and a corrupted one
/// are found, a context packet is counted by reason.
#[test]
fn foreign_formats_track_their_own_counters() {
    use crate::framing::{Framing, Stamper};
    for format in [Format::Vrt, Format::Usrp2, Format::Chdr] {
        let mut s = Stamper::new(Framing::of(format), 3);
        let mut c = StreamChecker::new(64, true).with_format(format);
        let h = s.header_len();
        // Start just below the 16-bit CHDR wrap; 40 packets cross it (and VRT's many times).
        let start = 0xFFF0;
        c = c.with_start_seq(start);
        for seq in start..start + 40 {
            let mut buf = [0u8; 64];
            crate::wire::header::fill_pattern(seq, &mut buf[h..h + 32]);
            if seq == start + 21 {
                buf[h] ^= 1;
            }
            let n = s.stamp(&mut buf, seq, 0, 32);
            if seq != start + 20 {
                c.datagram(&buf[..n], &meta(seq));
            }
        }
        c.datagram(&[0x40, 0, 0, 2, 0, 0, 0, 3], &meta(0));
        assert_eq!(c.packets(), 39, "{format}");
        assert_eq!(c.totals().0, 1, "{format} lost");
        assert_eq!(c.corrupt(), 1, "{format} corrupt");
        assert_eq!(c.seq_range(), (Some(start), Some(start + 39)), "{format}");
        assert_eq!(c.malformed().values().sum::<u64>(), 1, "{format}");
    }
}

/// Raw datagrams carry no sequence number: whatever bytes sit where another format keeps
/// one, nothing is tracked, so nothing is lost, reordered, duplicate or late; the pattern
/// is checked in order of arrival, starting again with a new stream.
#[test]
fn raw_datagrams_get_no_sequence_accounting() {
    let mut c = StreamChecker::new(64, true).with_format(Format::Raw);
    assert!(!c.sequenced());
    let mut garbage = packet(0, 1 << 40, 64);
    garbage[HEADER_LEN] ^= 0xff;
    for seq in [5u64, 0, 9, 9, 1 << 40] {
        c.datagram(&packet(0, seq, 64), &meta(seq));
    }
    c.datagram(&garbage, &meta(1));
    assert_eq!(c.packets(), 6);
    assert_eq!(c.totals(), (0, 0, 0, 0));
    assert_eq!((c.seq_range(), c.implausible()), ((None, None), 0));
    assert_eq!(c.streams().count(), 0);
    // Arrival n carries the pattern of n: a ramp from 0, then from 0 again after a new
    // stream.
    let mut c = StreamChecker::new(64, true).with_format(Format::Raw);
    let ramp = |n: u64| {
        let mut b = vec![0u8; 32];
        crate::wire::header::fill_pattern(n, &mut b);
        b
    };
    c.datagram(&ramp(0), &meta(1));
    c.datagram(&ramp(1), &meta(2));
    c.new_stream();
    c.datagram(&ramp(0), &meta(3));
    c.datagram(&ramp(0), &meta(4));
    assert_eq!((c.packets(), c.corrupt()), (4, 1));
    assert!(StreamChecker::new(64, true).sequenced());
}

/// A VRT stream whose integer timestamp steps back once (a second sender restarted its
/// clock): counted once, under `tsi_backwards`; a reordered packet with an older TSI is not.
#[test]
fn tsi_going_backwards_is_counted() {
    use crate::framing::{Framing, IntegerTime, Stamper};
    use crate::wire::vrt::Tsi;
    let at = |start| Framing {
        tsi: Some(IntegerTime {
            kind: Tsi::Utc,
            start,
        }),
        sample_rate: 8,
        ..Framing::of(Format::Usrp2)
    };
    let mut c = StreamChecker::new(64, false).with_format(Format::Usrp2);
    let (mut early, mut late) = (Stamper::new(at(10), 1), Stamper::new(at(5), 1));
    let mut packets = Vec::new();
    for seq in 0..12u64 {
        // 8 bytes = 2 samples a packet: a second every 4 packets.
        let s = if seq < 8 { &mut early } else { &mut late };
        let mut buf = [0u8; 64];
        let n = s.stamp(&mut buf, seq, 0, 8);
        packets.push(buf[..n].to_vec());
    }
    packets.swap(3, 4); // seq 4 (second 11) before seq 3 (second 10): reordered, fine
    for p in &packets {
        c.datagram(p, &meta(1));
    }
    assert_eq!(c.packets(), 12);
    assert_eq!(c.totals().1, 1, "one reordered");
    let want: BTreeMap<String, u64> = [("tsi_backwards".to_string(), 1)].into();
    assert_eq!(c.framing_errors(), want);
}

/// A SPEAD stream of 4-packet heaps through the checker: one packet lost inside a heap and
/// one heap lost whole are each counted by reason; the stop heap is not.
#[test]
fn spead_heap_sequence_is_checked() {
    use crate::framing::{Framing, Spead, Stamper};
    let framing = Framing {
        spead: Spead {
            heap_size: 64,
            ..Spead::default()
        },
        ..Framing::of(Format::Spead)
    };
    let mut s = Stamper::new(framing, 0);
    let mut c = StreamChecker::new(64, false).with_format(Format::Spead);
    for seq in 0..20u64 {
        let mut buf = [0u8; 128];
        let n = s.stamp(&mut buf, seq, 0, 16);
        // seq 5: heap 2's second packet; 12..16: heap 4 whole.
        if seq != 5 && !(12..16).contains(&seq) {
            c.datagram(&buf[..n], &meta(1));
        }
    }
    let mut buf = [0u8; 128];
    let n = s.stamp_end(&mut buf, 20).unwrap();
    c.datagram(&buf[..n], &meta(1));
    let want: BTreeMap<String, u64> = [
        ("heap_offset_gap".to_string(), 1),
        ("heaps_skipped".to_string(), 1),
    ]
    .into();
    assert_eq!(c.framing_errors(), want);
    assert_eq!(c.packets(), 16);
    assert!(c.malformed().is_empty());
}
