//! Data-path faults: [`DataFaults`] drops, duplicates and reorders ringshot data packets on their
//! way to the device, and restarts the device on a packet-count schedule.

use std::collections::VecDeque;
use std::time::Duration;

use super::{FaultConfig, FaultCounts, Odds, Pick, Restart, REORDER_MAX_HOLD};
use crate::fault::SplitMix64;
use crate::recv::{DatagramSink, RxMeta, StreamChecker};
use crate::wire::header;

/// A data packet held back for reordering.
#[derive(Debug)]
struct Held {
    buf: Vec<u8>,
    meta: RxMeta,
    /// `fresh` when it was held: it was overtaken if `fresh` grew since.
    fresh_at_hold: u64,
    held_at_ns: u64,
}

/// Data-path fault middleware over a sink `S`. Only datagrams that parse as ringshot data packets
/// are disturbed (and counted); anything else passes through untouched.
///
/// Per packet it costs one header parse and one generator draw; held packets are copied into
/// buffers that are reused, so after the first few holds nothing allocates.
///
/// ```
/// use ringshot::device::{DataFaults, FaultConfig};
/// use ringshot::recv::{DatagramSink, RxMeta, StreamChecker};
/// use ringshot::wire::header::pattern_packet;
///
/// // A tenth of the packets dropped before the checker sees them, from a seed: the same
/// // packets every run.
/// let cfg = FaultConfig::builder().seed(9).drop_data(0.1).build().unwrap();
/// let mut sink = DataFaults::new(StreamChecker::new(4096, true), &cfg);
/// let meta = RxMeta { src: "10.0.0.1:4000".parse().unwrap(), at_ns: 0 };
/// for seq in 0..1000 {
///     sink.datagram(&pattern_packet(0, seq, 64), &meta);
/// }
/// sink.finish(0);
/// let dropped = sink.counts().drop_data;
/// assert!(dropped > 50 && dropped < 150);
/// let checker = sink.into_inner();
/// assert_eq!(checker.packets() + dropped, 1000); // every packet reached the checker or was dropped
/// ```
#[derive(Debug)]
pub struct DataFaults<S> {
    inner: S,
    rng: SplitMix64,
    odds: Odds,
    depth: u64,
    held: VecDeque<Held>,
    spare: Vec<Vec<u8>>,
    /// Data packets delivered straight through (duplicate copies included), never held ones.
    fresh: u64,
    restart_after: Option<u64>,
    since_restart: u64,
    counts: FaultCounts,
    /// The data format: only its data packets are faulted (anything else passes through).
    format: crate::framing::Format,
}

impl<S: DatagramSink + Restart> DataFaults<S> {
    /// Wraps `inner`; only the data-path part of `cfg` is used here (ACK faults live in
    /// [`AckFaults`](super::AckFaults)).
    pub fn new(inner: S, cfg: &FaultConfig) -> DataFaults<S> {
        let (rng, _) = cfg.streams();
        DataFaults {
            inner,
            rng,
            odds: Odds::new(cfg.drop_data, cfg.dup_data, cfg.reorder_data, 0.0),
            depth: cfg.reorder_depth as u64,
            held: VecDeque::with_capacity(cfg.reorder_depth),
            spare: Vec::new(),
            fresh: 0,
            restart_after: cfg.restart_after,
            since_restart: 0,
            counts: FaultCounts::default(),
            format: crate::framing::Format::Ringshot,
        }
    }

    /// Fault the data packets of `format` (ringshot's header by default).
    pub fn with_format(mut self, format: crate::framing::Format) -> DataFaults<S> {
        self.format = format;
        self
    }

    /// What was injected on the data path so far (drop, dup, reorder, restarts).
    pub fn counts(&self) -> FaultCounts {
        self.counts
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    pub fn inner_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Hands one data packet to the inner sink and runs the restart schedule.
    fn deliver(&mut self, payload: &[u8], meta: &RxMeta) {
        self.inner.datagram(payload, meta);
        if let Some(n) = self.restart_after {
            self.since_restart += 1;
            if self.since_restart >= n {
                self.since_restart = 0;
                self.counts.restarts += 1;
                self.inner.restart(meta.at_ns);
            }
        }
    }

    /// Delivers the oldest held packet; counts it as reordered if something overtook it.
    fn release_one(&mut self) {
        if let Some(h) = self.held.pop_front() {
            if self.fresh > h.fresh_at_hold {
                self.counts.reorder_data += 1;
            }
            self.deliver(&h.buf, &h.meta);
            self.spare.push(h.buf);
        }
    }

    fn release_due_by_count(&mut self) {
        while self
            .held
            .front()
            .is_some_and(|h| self.fresh >= h.fresh_at_hold + self.depth)
        {
            self.release_one();
        }
    }

    fn release_due_by_time(&mut self, now_ns: u64) {
        let limit = REORDER_MAX_HOLD.as_nanos() as u64;
        while self
            .held
            .front()
            .is_some_and(|h| now_ns.saturating_sub(h.held_at_ns) >= limit)
        {
            self.release_one();
        }
    }

    fn hold(&mut self, payload: &[u8], meta: &RxMeta) {
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(payload);
        self.held.push_back(Held {
            buf,
            meta: *meta,
            fresh_at_hold: self.fresh,
            held_at_ns: meta.at_ns,
        });
    }
}

impl<S: DatagramSink + Restart> DatagramSink for DataFaults<S> {
    fn datagram(&mut self, payload: &[u8], meta: &RxMeta) {
        let is_data = match self.format {
            crate::framing::Format::Ringshot => {
                header::Repr::parse(&header::Packet::new_unchecked(payload)).is_ok()
            }
            f => crate::recv::formats::decode(f, payload).is_ok(),
        };
        if !is_data {
            self.inner.datagram(payload, meta);
            return;
        }
        match self.odds.pick(&mut self.rng) {
            Pick::Drop => {
                self.counts.drop_data += 1;
                return;
            }
            Pick::Dup => {
                self.counts.dup_data += 1;
                self.fresh += 2;
                self.deliver(payload, meta);
                self.deliver(payload, meta);
            }
            Pick::Reorder if (self.held.len() as u64) < self.depth => {
                self.hold(payload, meta);
                return;
            }
            _ => {
                self.fresh += 1;
                self.deliver(payload, meta);
            }
        }
        self.release_due_by_count();
    }

    fn tick(&mut self, now_ns: u64) -> Option<Duration> {
        self.release_due_by_time(now_ns);
        let inner = self.inner.tick(now_ns);
        let own = self.held.front().map(|h| {
            let due = h.held_at_ns + REORDER_MAX_HOLD.as_nanos() as u64;
            Duration::from_nanos(due.saturating_sub(now_ns))
        });
        match (inner, own) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn finish(&mut self, now_ns: u64) {
        while !self.held.is_empty() {
            self.release_one();
        }
        self.inner.finish(now_ns);
    }

    fn checker(&self) -> Option<&StreamChecker> {
        self.inner.checker()
    }
}

impl<S: Restart> Restart for DataFaults<S> {
    fn restart(&mut self, now_ns: u64) {
        self.inner.restart(now_ns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::header::{Packet, Repr};
    use proptest::prelude::*;

    fn pkt(seq: u64, len: usize) -> Vec<u8> {
        crate::wire::header::pattern_packet(0, seq, len)
    }

    fn meta(at_ns: u64) -> RxMeta {
        RxMeta {
            src: "127.0.0.1:9".parse().unwrap(),
            at_ns,
        }
    }

    /// Records what reaches it, and how often it was restarted.
    #[derive(Debug, Default)]
    struct Tape {
        seqs: Vec<u64>,
        other: usize,
        restarts: Vec<usize>,
    }

    impl DatagramSink for Tape {
        fn datagram(&mut self, payload: &[u8], _meta: &RxMeta) {
            match Repr::parse(&Packet::new_unchecked(payload)) {
                Ok(r) => self.seqs.push(r.seq),
                Err(_) => self.other += 1,
            }
        }
    }

    impl Restart for Tape {
        fn restart(&mut self, _now_ns: u64) {
            self.restarts.push(self.seqs.len());
        }
    }

    fn run_tape(cfg: &FaultConfig, n: u64) -> (Tape, FaultCounts) {
        let mut f = DataFaults::new(Tape::default(), cfg);
        for s in 0..n {
            f.datagram(&pkt(s, 64), &meta(s));
        }
        f.finish(n);
        let counts = f.counts();
        (f.into_inner(), counts)
    }

    #[test]
    fn same_seed_same_faults_other_seed_other_faults() {
        let cfg = |seed| {
            FaultConfig::builder()
                .seed(seed)
                .drop_data(0.1)
                .dup_data(0.1)
                .reorder_data(0.1)
                .build()
                .unwrap()
        };
        let (a, ca) = run_tape(&cfg(7), 2000);
        let (b, cb) = run_tape(&cfg(7), 2000);
        let (c, _) = run_tape(&cfg(8), 2000);
        assert_eq!(a.seqs, b.seqs);
        assert_eq!(ca, cb);
        assert_ne!(a.seqs, c.seqs);
        assert!(ca.drop_data > 100 && ca.dup_data > 100 && ca.reorder_data > 100);
    }

    #[test]
    fn no_faults_is_transparent_and_other_datagrams_pass() {
        let mut f = DataFaults::new(Tape::default(), &FaultConfig::none());
        for s in 0..100 {
            f.datagram(&pkt(s, 32), &meta(s));
            f.datagram(b"not ringshot", &meta(s));
        }
        assert_eq!(f.inner().seqs, (0..100).collect::<Vec<_>>());
        assert_eq!(f.inner().other, 100);
        assert_eq!(f.counts(), FaultCounts::default());
    }

    #[test]
    fn reordered_packets_come_after_depth_later_ones() {
        let cfg = FaultConfig::builder()
            .reorder_data(1.0)
            .reorder_depth(3)
            .build()
            .unwrap();
        // Every packet wants to be held; at most 3 are, so the 4th passes and so on.
        let (t, c) = run_tape(&cfg, 8);
        assert_eq!(t.seqs, vec![3, 4, 5, 0, 1, 2, 6, 7]);
        // 6 and 7 were held at the end and released by finish with nothing after them.
        assert_eq!(c.reorder_data, 3);
    }

    #[test]
    fn held_packets_leave_after_the_time_limit() {
        let cfg = FaultConfig::builder()
            .reorder_data(1.0)
            .reorder_depth(4)
            .build()
            .unwrap();
        let mut f = DataFaults::new(Tape::default(), &cfg);
        f.datagram(&pkt(0, 32), &meta(1_000));
        assert!(f.inner().seqs.is_empty());
        let wait = f.tick(1_000).unwrap();
        assert_eq!(wait, REORDER_MAX_HOLD);
        f.tick(1_000 + REORDER_MAX_HOLD.as_nanos() as u64);
        assert_eq!(f.inner().seqs, vec![0]);
        assert_eq!(f.counts().reorder_data, 0, "nothing overtook it");
    }

    #[test]
    fn restarts_follow_the_packet_count() {
        let cfg = FaultConfig::builder().restart_after(10).build().unwrap();
        let (t, c) = run_tape(&cfg, 35);
        assert_eq!(t.restarts, vec![10, 20, 30]);
        assert_eq!(c.restarts, 3);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// The checker below the injector reports exactly what was injected: lost = drops (those
        /// below the highest delivered number; a drop at the very end cannot be seen by anyone),
        /// duplicates = dup, reordered = reorder, nothing late.
        #[test]
        fn checker_counts_equal_injected_counts(
            seed in any::<u64>(),
            drop in 0.0f64..0.3,
            dup in 0.0f64..0.3,
            reorder in 0.0f64..0.3,
            depth in 1usize..64,
        ) {
            let cfg = FaultConfig::builder()
                .seed(seed)
                .drop_data(drop)
                .dup_data(dup)
                .reorder_data(reorder)
                .reorder_depth(depth)
                .build()
                .unwrap();
            let n = 3000u64;
            let mut f = DataFaults::new(StreamChecker::new(4096, true), &cfg);
            for s in 0..n {
                f.datagram(&pkt(s, 48), &meta(s * 1000));
            }
            f.finish(n * 1000);
            let c = f.counts();
            let checker = f.inner();
            let (lost, reordered, duplicates, late) = checker.totals();
            let highest = checker.streams().next().and_then(|(_, t)| t.highest()).unwrap_or(0);
            let tail = n - 1 - highest;
            prop_assert_eq!(lost + tail, c.drop_data);
            prop_assert_eq!(duplicates, c.dup_data);
            prop_assert_eq!(reordered, c.reorder_data);
            prop_assert_eq!(late, 0);
            prop_assert_eq!(checker.packets(), n - c.drop_data + c.dup_data);
        }
    }
}
