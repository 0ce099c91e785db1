//! Live per-interval figures for progress displays, without a lock or an allocation per packet.
//!
//! The engine thread stores its running totals in atomics once per batch. A watcher that wants
//! interval percentiles raises [`LiveShared::want`]; at its next batch the engine computes them
//! from the difference between its cumulative histograms and copies kept at the previous cut
//! (allocated once, at start), publishes them and lowers the flag. So a cut costs one walk over
//! the histograms' buckets per interval, and a batch costs one relaxed load of the flag.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use hdrhistogram::Histogram;

use crate::stats::latency_histogram;

/// The atomics the engine publishes and the watcher reads.
#[derive(Debug, Default)]
pub(crate) struct LiveShared {
    bytes: AtomicU64,
    window_waits: AtomicU64,
    want: AtomicBool,
    cuts: AtomicU64,
    submit_p99: AtomicU64,
    lateness_max: AtomicU64,
    visibility_p99: AtomicU64,
}

/// The engine's running totals and the figures of its latest interval cut.
///
/// ```
/// use ringshot::engine::LiveSnapshot;
/// use ringshot::{PatternSource, SenderConfig, SourceSender};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let receiver = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// let cfg = SenderConfig::builder(receiver.local_addr()?).build()?;
/// let tx = SourceSender::spawn(cfg, PatternSource::new(1472, Some(1000), None))?;
/// let snap: LiveSnapshot = tx.live();
/// assert!(snap.packets <= 1000 && snap.window_waits == 0);
/// let report = tx.finish()?;
/// assert!(report.packets >= snap.packets);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LiveSnapshot {
    /// Packets handed to the kernel so far.
    pub packets: u64,
    /// UDP payload bytes handed to the kernel so far.
    pub bytes: u64,
    /// Times the flow-control window was closed when a batch was due, so far.
    pub window_waits: u64,
    /// How many cuts the engine has made; the figures below belong to the latest one.
    pub cuts: u64,
    /// Submit latency p99 over the interval ending at the latest cut, ns (0: no submit).
    pub submit_p99_ns: u64,
    /// Paced streams: the latest batch over that interval, ns late (0 when unpaced).
    pub lateness_max_ns: u64,
    /// Flow control: ACK visibility p99 over that interval, ns (0 without flow control).
    pub visibility_p99_ns: u64,
}

impl LiveShared {
    /// Asks the engine to cut an interval at its next batch.
    pub(crate) fn request_cut(&self) {
        self.want.store(true, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self, packets: u64) -> LiveSnapshot {
        LiveSnapshot {
            packets,
            bytes: self.bytes.load(Ordering::Relaxed),
            window_waits: self.window_waits.load(Ordering::Relaxed),
            cuts: self.cuts.load(Ordering::Acquire),
            submit_p99_ns: self.submit_p99.load(Ordering::Relaxed),
            lateness_max_ns: self.lateness_max.load(Ordering::Relaxed),
            visibility_p99_ns: self.visibility_p99.load(Ordering::Relaxed),
        }
    }
}

/// The engine thread's copies of its histograms at the previous cut.
#[derive(Debug)]
pub(crate) struct LiveCut {
    submit: Histogram<u64>,
    lateness: Histogram<u64>,
    visibility: Histogram<u64>,
}

impl LiveCut {
    pub(crate) fn new() -> LiveCut {
        LiveCut {
            submit: latency_histogram(),
            lateness: latency_histogram(),
            visibility: latency_histogram(),
        }
    }

    /// Once per batch: publishes the totals, and cuts an interval when one was asked for.
    pub(crate) fn publish(
        &mut self,
        live: &LiveShared,
        bytes: u64,
        window_waits: u64,
        submit: &Histogram<u64>,
        lateness: Option<&Histogram<u64>>,
        visibility: Option<&Histogram<u64>>,
    ) {
        live.bytes.store(bytes, Ordering::Relaxed);
        live.window_waits.store(window_waits, Ordering::Relaxed);
        if !live.want.load(Ordering::Relaxed) {
            return;
        }
        live.want.store(false, Ordering::Relaxed);
        live.submit_p99
            .store(cut(submit, &mut self.submit, 0.99), Ordering::Relaxed);
        if let Some(h) = lateness {
            live.lateness_max
                .store(cut(h, &mut self.lateness, 1.0), Ordering::Relaxed);
        }
        if let Some(h) = visibility {
            live.visibility_p99
                .store(cut(h, &mut self.visibility, 0.99), Ordering::Relaxed);
        }
        live.cuts.fetch_add(1, Ordering::Release);
    }
}

/// The `q` quantile since the previous cut; then `prev` becomes a copy of `cur` (same bounds,
/// so adding does not allocate).
fn cut(cur: &Histogram<u64>, prev: &mut Histogram<u64>, q: f64) -> u64 {
    let v = quantile_since(cur, prev, q);
    prev.reset();
    let _ = prev.add(cur);
    v
}

/// The `q` quantile of what `cur` recorded since it equalled `prev` (`prev` ⊆ `cur`); 0 when
/// nothing was recorded since. No allocation: one walk over `cur`'s recorded buckets.
pub(crate) fn quantile_since(cur: &Histogram<u64>, prev: &Histogram<u64>, q: f64) -> u64 {
    let total = cur.len().saturating_sub(prev.len());
    if total == 0 {
        return 0;
    }
    let target = ((q * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0u64;
    let mut last = 0;
    for v in cur.iter_recorded() {
        let value = v.value_iterated_to();
        let n = v.count_at_value().saturating_sub(prev.count_at(value));
        if n == 0 {
            continue;
        }
        last = cur.highest_equivalent(value);
        seen += n;
        if seen >= target {
            return last;
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_quantiles_cover_only_the_interval() {
        let mut cur = latency_histogram();
        let mut cut = LiveCut::new();
        let live = LiveShared::default();
        for _ in 0..1000 {
            cur.record(5_000_000).unwrap();
        }
        live.request_cut();
        cut.publish(&live, 10, 2, &cur, None, None);
        let s = live.snapshot(7);
        assert_eq!((s.packets, s.bytes, s.window_waits, s.cuts), (7, 10, 2, 1));
        assert!(s.submit_p99_ns >= 5_000_000, "{s:?}");
        for _ in 0..1000 {
            cur.record(1_000).unwrap();
        }
        // No cut asked for: the figures stay those of the first interval.
        cut.publish(&live, 11, 2, &cur, None, None);
        assert_eq!(live.snapshot(0).cuts, 1);
        live.request_cut();
        cut.publish(&live, 12, 3, &cur, Some(&cur), None);
        let s = live.snapshot(0);
        assert_eq!(s.cuts, 2);
        assert!(s.submit_p99_ns < 2_000, "{s:?}");
        assert!(s.lateness_max_ns >= 5_000_000, "{s:?}");
        live.request_cut();
        cut.publish(&live, 12, 3, &cur, None, None);
        assert_eq!(live.snapshot(0).submit_p99_ns, 0);
    }
}
