//! The receiver's optional time series of inter-arrival gaps ([`RecvConfigBuilder::timeline`]):
//! every gap the checker records also goes into an interval histogram, and the first packet that
//! arrives a `period` or more after the interval began closes it. A cut is one zeroed allocation
//! (pages touched only where values land), never one per packet.
//!
//! [`RecvConfigBuilder::timeline`]: super::RecvConfigBuilder::timeline

use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
#[cfg(feature = "serde")]
use serde::Serialize;

use crate::stats::{latency_histogram, record_clamped};

/// One interval of the gap series, from the first packet of the run.
///
/// ```
/// use std::time::Duration;
/// use ringshot::recv::{DatagramSink, RxMeta, StreamChecker};
/// use ringshot::wire::header::pattern_packet;
///
/// // Gaps per 1 ms interval, fed by hand: 4 packets, 0.4 ms apart, then 3 ms of silence.
/// let mut c = StreamChecker::new(64, true).with_timeline(Some(Duration::from_millis(1)));
/// for (seq, at_ns) in [(0, 0), (1, 400_000), (2, 800_000), (3, 3_800_000)] {
///     let meta = RxMeta { src: "10.0.0.1:4000".parse().unwrap(), at_ns };
///     c.datagram(&pattern_packet(0, seq, 64), &meta);
/// }
/// let (intervals, _) = c.gap_timeline();
/// let first = &intervals[0];
/// assert_eq!((first.start(), first.packets), (Duration::ZERO, 3)); // 0, 0.4 and 0.8 ms
/// assert!(first.max_gap_ns >= 399_000 && first.duration() > Duration::ZERO);
/// ```
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(Serialize))]
#[non_exhaustive]
pub struct GapInterval {
    /// Seconds from the first packet to the start of this interval.
    pub start_s: f64,
    pub seconds: f64,
    /// Packets that arrived in the interval (the first packet of the run has no gap).
    pub packets: u64,
    pub p99_gap_ns: u64,
    pub max_gap_ns: u64,
    /// The interval's gaps, ns.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub gaps: Histogram<u64>,
}

impl GapInterval {
    /// When the interval started, from the first packet.
    pub fn start(&self) -> Duration {
        Duration::from_secs_f64(self.start_s.max(0.0))
    }

    /// How long it lasted.
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.seconds.max(0.0))
    }
}

/// The series being recorded (arrival times in ns since the Unix epoch).
#[derive(Debug, Clone)]
pub(crate) struct GapSeries {
    period_ns: u64,
    first_ns: Option<u64>,
    from_ns: u64,
    packets: u64,
    gaps: Histogram<u64>,
    out: Vec<GapInterval>,
}

impl GapSeries {
    pub(crate) fn new(period: Duration) -> GapSeries {
        GapSeries {
            period_ns: (period.as_nanos().min(u128::from(u64::MAX)) as u64).max(1),
            first_ns: None,
            from_ns: 0,
            packets: 0,
            gaps: latency_histogram(),
            out: Vec::with_capacity(64),
        }
    }

    /// One packet arrived at `at_ns`, `gap` after the one before it (`None` for the first).
    #[inline]
    pub(crate) fn arrived(&mut self, at_ns: u64, gap: Option<u64>) {
        let first = *self.first_ns.get_or_insert(at_ns);
        if self.out.is_empty() && self.packets == 0 {
            self.from_ns = first;
        }
        if at_ns.saturating_sub(self.from_ns) >= self.period_ns {
            // Boundaries stay on the period's grid from the first packet.
            let end = at_ns - (at_ns - first) % self.period_ns;
            self.cut(end);
        }
        self.packets += 1;
        if let Some(g) = gap {
            record_clamped(&mut self.gaps, g);
        }
    }

    fn cut(&mut self, end_ns: u64) {
        let gaps = std::mem::replace(&mut self.gaps, latency_histogram());
        let first = self.first_ns.unwrap_or(self.from_ns);
        self.out
            .push(interval(first, self.from_ns, end_ns, self.packets, gaps));
        self.from_ns = end_ns;
        self.packets = 0;
    }

    /// The intervals so far, the open one ending at `last_ns` included.
    pub(crate) fn intervals(&self, last_ns: u64) -> Vec<GapInterval> {
        let mut v = self.out.clone();
        if self.packets > 0 {
            let first = self.first_ns.unwrap_or(self.from_ns);
            let end = last_ns.max(self.from_ns);
            v.push(interval(
                first,
                self.from_ns,
                end,
                self.packets,
                self.gaps.clone(),
            ));
        }
        v
    }

    /// The wall-clock time of the first packet.
    pub(crate) fn started(&self) -> Option<SystemTime> {
        self.first_ns
            .map(|ns| SystemTime::UNIX_EPOCH + Duration::from_nanos(ns))
    }
}

fn interval(first: u64, from: u64, end: u64, packets: u64, gaps: Histogram<u64>) -> GapInterval {
    let (p99, max) = if gaps.is_empty() {
        (0, 0)
    } else {
        (gaps.value_at_quantile(0.99), gaps.max())
    };
    GapInterval {
        start_s: from.saturating_sub(first) as f64 / 1e9,
        seconds: end.saturating_sub(from) as f64 / 1e9,
        packets,
        p99_gap_ns: p99,
        max_gap_ns: max,
        gaps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_fall_into_one_interval_each_and_add_up() {
        let mut s = GapSeries::new(Duration::from_secs(1));
        let t0 = 1_000_000_000_000u64;
        let mut last = None;
        let mut n = 0u64;
        // 3.5 s of packets every 1 ms.
        for i in 0..3500u64 {
            let at = t0 + i * 1_000_000;
            s.arrived(at, last.map(|l| at - l));
            last = Some(at);
            n += 1;
        }
        let v = s.intervals(last.unwrap());
        assert_eq!(v.len(), 4);
        assert_eq!(v.iter().map(|i| i.packets).sum::<u64>(), n);
        assert_eq!(v.iter().map(|i| i.gaps.len()).sum::<u64>(), n - 1);
        assert_eq!((v[1].start_s, v[1].seconds), (1.0, 1.0));
        assert_eq!(v[0].packets, 1000);
        assert_eq!(
            s.started().unwrap(),
            SystemTime::UNIX_EPOCH + Duration::from_nanos(t0)
        );
        // A silent second is not an interval of its own: the next packet's gap spans it.
        let at = last.unwrap() + 2_000_000_000;
        s.arrived(at, Some(2_000_000_000));
        let v = s.intervals(at);
        assert_eq!(v.last().unwrap().max_gap_ns, v.last().unwrap().gaps.max());
        assert_eq!(v.iter().map(|i| i.packets).sum::<u64>(), n + 1);
    }
}
