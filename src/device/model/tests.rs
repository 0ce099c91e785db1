//! The device model driven packet by packet with a recording link: drain timing, ACK cadence,
//! underflow, gaps, heartbeats, restarts and hostile input.

use super::*;
use crate::flow::{AckFormat, AckParser, AckUpdate};

/// Records ACKs with their send times.
#[derive(Debug, Default)]
struct Wire {
    acks: Vec<(u64, Vec<u8>)>,
}

impl AckLink for Wire {
    fn send(&mut self, ack: &[u8], _to: SocketAddr, now_ns: u64) {
        self.acks.push((now_ns, ack.to_vec()));
    }
    fn sent(&self) -> u64 {
        self.acks.len() as u64
    }
}

const LEN: usize = 1000;
const MS: u64 = 1_000_000;

fn pkt(seq: u64) -> Vec<u8> {
    crate::wire::header::pattern_packet(3, seq, LEN)
}

fn meta(at_ns: u64) -> RxMeta {
    RxMeta {
        src: "127.0.0.1:9".parse().unwrap(),
        at_ns,
    }
}

/// 1000 pps (1 ms per packet), a 4-packet buffer, ACK every 2, interval 10 ms.
fn device(format: AckFormat) -> DeviceModel<StreamChecker, Wire> {
    let cfg = DeviceConfig::builder()
        .buffer_bytes(4 * LEN as u64)
        .drain(Rate::Pps(1000.0))
        .ack(format)
        .ack_every(2)
        .ack_interval(Duration::from_millis(10))
        .build()
        .unwrap();
    DeviceModel::new(&cfg, StreamChecker::new(64, true), Wire::default())
}

fn parse_all(dev: &DeviceModel<StreamChecker, Wire>, format: AckFormat) -> Vec<AckUpdate> {
    let mut p: Box<dyn AckParser> = format.parser(0);
    let mut acked = 0;
    dev.link()
        .acks
        .iter()
        .map(|(_, b)| {
            let u = p.parse(b, acked).unwrap();
            acked = acked.max(u.acked_packets.unwrap_or(0));
            u
        })
        .collect()
}

const T0: u64 = 1_700_000_000 * 1_000_000_000;

#[test]
fn drains_at_the_rate_and_acks_every_n() {
    let mut d = device(AckFormat::Native);
    for s in 0..4 {
        d.datagram(&pkt(s), &meta(T0));
    }
    assert_eq!(d.fill_bytes(), 4000);
    // Packet 0 finishes at 1 ms, 1 at 2 ms: the first ACK is due at 2 ms.
    assert_eq!(d.tick(T0), Some(Duration::from_millis(2)));
    d.tick(T0 + MS + MS / 2);
    assert_eq!(d.report().consumed, 1);
    assert!(d.link().acks.is_empty());
    d.tick(T0 + 2 * MS);
    assert_eq!(d.report().consumed, 2);
    assert_eq!(d.link().acks.len(), 1);
    // Two packets fit again; the next two do not.
    for s in 4..8 {
        d.datagram(&pkt(s), &meta(T0 + 2 * MS));
    }
    let r = d.report();
    assert_eq!((r.overflows, r.max_fill_bytes), (2, 4000));
    // 2, 3, 4, 5 are consumed by 6 ms; the buffer is then empty, which ACKs.
    d.tick(T0 + 6 * MS);
    let r = d.report();
    assert_eq!((r.consumed, r.fill_bytes, r.underflows), (6, 0, 0));
    let ups = parse_all(&d, AckFormat::Native);
    let counts: Vec<_> = ups.iter().filter_map(|u| u.acked_packets).collect();
    assert_eq!(counts, vec![2, 2, 2, 6]);
    assert_eq!(ups[1].events, EventSet::OVERFLOW);
    assert_eq!(ups[2].events, EventSet::OVERFLOW);
    assert_eq!(ups[3].acked_bytes, Some(6000));
    assert_eq!(ups[3].capacity_bytes, Some(4000));
    // 8 follows the dropped 6 and 7 without a sequence error; consumed, it credits them.
    // The buffer ran dry at 6 ms and 8 came at 7 ms: one underflow.
    d.datagram(&pkt(8), &meta(T0 + 7 * MS));
    d.tick(T0 + 8 * MS);
    let last = parse_all(&d, AckFormat::Native).pop().unwrap();
    assert_eq!(last.acked_packets, Some(9));
    assert_eq!(last.acked_bytes, Some(9000));
    let r = d.report();
    assert_eq!((r.skipped, r.seq_errors, r.underflows), (2, 0, 1));
    assert_eq!(r.consumed_bytes, 7000);
}

#[test]
fn underflow_once_per_dry_spell_and_not_at_the_end() {
    let mut d = device(AckFormat::Native);
    d.datagram(&pkt(0), &meta(T0));
    d.datagram(&pkt(1), &meta(T0 + MS / 2)); // still playing 0: no underflow
    d.datagram(&pkt(2), &meta(T0 + 2 * MS)); // 1 ends exactly now: no gap in the output
    d.datagram(&pkt(3), &meta(T0 + 10 * MS)); // dry from 3 ms to 10 ms
    d.datagram(&pkt(4), &meta(T0 + 10 * MS));
    d.tick(T0 + 100 * MS); // dry again, and the stream ended: not an underflow
    d.finish(T0 + 200 * MS);
    let r = d.report();
    assert_eq!((r.consumed, r.underflows), (5, 1));
    let ups = parse_all(&d, AckFormat::Native);
    assert_eq!(
        ups.iter()
            .filter(|u| u.events == EventSet::UNDERFLOW)
            .count(),
        1
    );
}

#[test]
fn gaps_duplicates_and_late_packets() {
    for format in [
        AckFormat::Native,
        AckFormat::Usrp2 { stream_id: 2 },
        AckFormat::Chdr,
    ] {
        let mut d = device(format);
        for s in [0u64, 1, 1, 4, 2, 5] {
            d.datagram(&pkt(s), &meta(T0));
        }
        d.finish(T0 + 100 * MS);
        let r = d.report();
        assert_eq!(
            (r.consumed, r.seq_errors, r.skipped, r.discarded),
            (4, 1, 2, 2),
            "{format}"
        );
        let ups = parse_all(&d, format);
        assert_eq!(
            ups.iter()
                .filter(|u| u.events.contains_any(EventSet::SEQ_ERROR))
                .count(),
            1,
            "{format}"
        );
        // The last flow update covers 0..=5 (2 and 3 skipped).
        let last = ups.iter().rev().find_map(|u| u.acked_packets).unwrap();
        assert_eq!(last, 6, "{format}");
        // The checker saw all six arrivals.
        let c = d.inner();
        assert_eq!(c.packets(), 6);
        assert_eq!(c.totals(), (1, 1, 1, 0));
    }
}

#[test]
fn heartbeats_repeat_then_stop() {
    let mut d = device(AckFormat::Native);
    d.datagram(&pkt(0), &meta(T0));
    let mut t = T0;
    let mut n = 0;
    while t < T0 + 1000 * MS {
        if let Some(w) = d.tick(t) {
            t += w.as_nanos() as u64;
        } else {
            break;
        }
        n += 1;
        assert!(n < 10_000, "no busy loop");
    }
    let acks = d.link().acks.len() as u64;
    // One at 1 ms (buffer empty), then heartbeats every 10 ms up to 16 intervals later.
    assert!((HEARTBEATS..=HEARTBEATS + 2).contains(&acks), "{acks} ACKs");
    assert_eq!(d.tick(T0 + 2000 * MS), None);
}

#[test]
fn restart_forgets_and_waits_for_the_stream_to_restart() {
    for format in [
        AckFormat::Native,
        AckFormat::Usrp2 { stream_id: 2 },
        AckFormat::Chdr,
    ] {
        let mut d = device(format);
        for s in 0..4 {
            d.datagram(&pkt(s), &meta(T0));
        }
        d.tick(T0 + 2 * MS); // 0 and 1 consumed, ACK for 2
        d.restart(T0 + 2 * MS);
        let r = d.report();
        assert_eq!((r.restarts, r.lost_in_restart, r.fill_bytes), (1, 2, 0));
        // Data of the old stream is discarded; heartbeats report the reset position.
        d.datagram(&pkt(4), &meta(T0 + 3 * MS));
        d.datagram(&pkt(5), &meta(T0 + 3 * MS));
        d.tick(T0 + 20 * MS);
        assert_eq!(d.report().discarded, 2);
        assert_eq!(d.report().consumed, 2);
        let mut parser = format.parser(0);
        let mut acked = 2;
        let mut restart_seen = false;
        let mut stale = 0;
        for (_, b) in &d.link().acks[1..] {
            let u = parser.parse(b, acked).unwrap();
            restart_seen |= u.events.contains_any(EventSet::RESTART)
                || u.events.contains_any(EventSet::CMD_ERROR)
                || u.events.0 == u16::from(super::super::encode::USRP2_CODE_RESTART);
            if let Some(p) = u.acked_packets {
                assert!(p <= 2, "{format}: an ACK after the restart claims {p}");
                stale += u64::from(p < acked);
            }
            acked = acked.max(u.acked_packets.unwrap_or(0));
        }
        assert!(restart_seen, "{format}");
        assert!(stale > 0, "{format}");
        // The sender restarts at 0: the device and the checker take it as a new stream.
        d.datagram(&pkt(0), &meta(T0 + 30 * MS));
        d.datagram(&pkt(1), &meta(T0 + 30 * MS));
        d.finish(T0 + 40 * MS);
        let r = d.report();
        assert_eq!((r.consumed, r.discarded, r.seq_errors), (4, 2, 0));
        assert_eq!(d.inner().totals().2, 0, "no duplicates after the restart");
    }
}

#[test]
fn drain_rate_in_bits() {
    let cfg = DeviceConfig::builder()
        .buffer_bytes(1 << 20)
        .drain(Rate::Bps(8e6)) // 1 byte per µs: 1000 µs per packet
        .ack_every(1)
        .build()
        .unwrap();
    let mut d = DeviceModel::new(&cfg, StreamChecker::new(64, true), Wire::default());
    d.datagram(&pkt(0), &meta(T0));
    d.datagram(&pkt(1), &meta(T0));
    d.tick(T0 + MS - 1);
    assert_eq!(d.report().consumed, 0);
    d.tick(T0 + MS);
    assert_eq!(d.report().consumed, 1);
    d.tick(T0 + 2 * MS);
    assert_eq!(d.report().consumed, 2);
}

#[test]
fn garbage_and_hostile_sequences_do_not_panic() {
    let mut d = device(AckFormat::Usrp2 { stream_id: 2 });
    d.datagram(b"", &meta(T0));
    d.datagram(&[0xFF; 3], &meta(0));
    for s in [u64::MAX, 0, u64::MAX - 1, u64::MAX, 5] {
        d.datagram(&pkt(s), &meta(T0 - 5)); // time going backwards too
    }
    d.tick(0);
    d.tick(u64::MAX);
    d.restart(u64::MAX);
    d.datagram(&pkt(u64::MAX), &meta(u64::MAX));
    d.finish(u64::MAX);
    assert_eq!(d.report().overflows, 0);
}
