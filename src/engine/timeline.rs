//! The engine's optional time series ([`SenderConfig::builder`]`.timeline(period)`): every
//! histogram the engine keeps (submit, reap, lateness, window wait, ACK visibility) also records
//! into an interval copy, and at the first batch boundary after each `period` the engine moves the
//! copies into an interval record and starts empty ones. A cut costs one zeroed allocation per
//! histogram (pages are touched only where values land) and no walk over the buckets, so the TX
//! thread is not held up; percentiles are computed once the stream is over. Every value goes into
//! exactly one interval, so the intervals' counts add up to the report's totals.
//!
//! [`SenderConfig::builder`]: crate::SenderConfig::builder

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
#[cfg(feature = "serde")]
use serde::Serialize;

use super::TxFlow;
use crate::stats::{latency_histogram, take_interval, Percentiles, TxMetrics};

/// One interval of the time series: when it started (from the stream's first batch), how long
/// it lasted, the packets that left in it and the percentiles of what the engine measured in it.
/// The histograms themselves are kept beside the figures for interval logs (`.hlog`).
///
/// ```
/// use std::time::Duration;
/// use ringshot::{PatternSource, SenderConfig, SourceSender};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let receiver = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// let cfg = SenderConfig::builder(receiver.local_addr()?)
///     .timeline(Duration::from_millis(5))
///     .build()?;
/// let source = PatternSource::new(1472, None, Some(Duration::from_millis(30)));
/// let report = SourceSender::spawn(cfg, source)?.finish()?;
/// assert!(!report.timeline.is_empty());
/// for iv in &report.timeline {
///     let _ = (iv.start(), iv.duration(), iv.submit_ns.p99); // when, how long, how fast
/// }
/// // Every packet lands in exactly one interval.
/// let total: u64 = report.timeline.iter().map(|iv| iv.packets).sum();
/// assert_eq!(total, report.packets);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(Serialize))]
#[non_exhaustive]
pub struct TimelineInterval {
    /// Seconds from the stream's first batch to the start of this interval.
    pub start_s: f64,
    pub seconds: f64,
    /// Packets the kernel accepted during the interval.
    pub packets: u64,
    pub submit_ns: Percentiles,
    pub reap_ns: Percentiles,
    /// Paced streams only (null otherwise), like the lateness of the whole report.
    pub lateness_ns: Option<Percentiles>,
    /// Flow control only (null otherwise).
    pub window_wait_ns: Option<Percentiles>,
    pub ack_visibility_ns: Option<Percentiles>,
    #[cfg_attr(feature = "serde", serde(skip))]
    pub hists: IntervalHists,
}

/// The histograms of one interval (ns).
///
/// ```
/// use std::time::Duration;
/// use ringshot::{PatternSource, SenderConfig, SourceSender};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let receiver = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// let cfg = SenderConfig::builder(receiver.local_addr()?)
///     .timeline(Duration::from_millis(5))
///     .build()?;
/// let report = SourceSender::spawn(cfg, PatternSource::new(1472, Some(5000), None))?.finish()?;
/// // The interval histograms add up to the whole run's.
/// let submits: u64 = report.timeline.iter().map(|iv| iv.hists.submit.len()).sum();
/// assert_eq!(submits, report.submit_hist.len());
/// assert!(report.timeline.iter().all(|iv| iv.hists.lateness.is_none())); // unpaced
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IntervalHists {
    pub submit: Histogram<u64>,
    pub reap: Histogram<u64>,
    pub lateness: Option<Histogram<u64>>,
    pub window_wait: Option<Histogram<u64>>,
    pub ack_visibility: Option<Histogram<u64>>,
}

impl TimelineInterval {
    /// When the interval started, from the stream's first batch.
    pub fn start(&self) -> Duration {
        Duration::from_secs_f64(self.start_s.max(0.0))
    }

    /// How long the interval lasted.
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.seconds.max(0.0))
    }

    /// Fills the percentile figures from the histograms (after the stream, off the hot path).
    pub(super) fn summarise(&mut self) {
        let h = &self.hists;
        self.submit_ns = Percentiles::of(&h.submit);
        self.reap_ns = Percentiles::of(&h.reap);
        self.lateness_ns = h.lateness.as_ref().map(Percentiles::of);
        self.window_wait_ns = h.window_wait.as_ref().map(Percentiles::of);
        self.ack_visibility_ns = h.ack_visibility.as_ref().map(Percentiles::of);
    }
}

/// The time series being recorded, owned by the engine thread.
#[derive(Debug)]
pub(super) struct Timeline {
    period: Duration,
    /// The stream's first batch; `None` until then.
    t0: Option<Instant>,
    /// The end of the interval being recorded.
    next: Instant,
    /// The start of the interval being recorded.
    last: Instant,
    /// Packets sent at the start of the interval being recorded.
    packets: u64,
    /// Lateness since the last cut (paced streams; the others live with their histograms).
    pub(super) lateness: Option<Histogram<u64>>,
    out: Vec<TimelineInterval>,
}

impl Timeline {
    /// A series cut every `period`; turns on the interval copies in `metrics` and `flow`.
    pub(super) fn new(
        period: Duration,
        paced: bool,
        metrics: &mut TxMetrics,
        flow: Option<&mut TxFlow>,
    ) -> Timeline {
        metrics.keep_intervals();
        if let Some(f) = flow {
            f.wait_interval = Some(latency_histogram());
            f.visibility_interval = Some(latency_histogram());
        }
        let now = Instant::now();
        Timeline {
            period,
            t0: None,
            next: now,
            last: now,
            packets: 0,
            lateness: paced.then(latency_histogram),
            // A minute of one-second intervals before the vector grows.
            out: Vec::with_capacity(64),
        }
    }

    /// The stream's first batch is leaving at `t0` (later calls change nothing).
    pub(super) fn start(&mut self, t0: Instant) {
        if self.t0.is_none() {
            self.t0 = Some(t0);
            self.last = t0;
            self.next = t0 + self.period;
        }
    }

    /// Once per batch: cuts an interval when `now` has passed its end.
    #[inline]
    pub(super) fn tick(
        &mut self,
        now: Instant,
        metrics: &mut TxMetrics,
        flow: Option<&mut TxFlow>,
    ) {
        if self.t0.is_some() && now >= self.next {
            self.cut(now, metrics, flow);
            while self.next <= now {
                self.next += self.period;
            }
        }
    }

    /// Moves what was recorded since the last cut into an interval ending at `now`.
    pub(super) fn cut(&mut self, now: Instant, metrics: &mut TxMetrics, flow: Option<&mut TxFlow>) {
        let t0 = *self.t0.get_or_insert(self.last);
        let (window_wait, ack_visibility) = match flow {
            Some(f) => (
                take_interval(&mut f.wait_interval),
                take_interval(&mut f.visibility_interval),
            ),
            None => (None, None),
        };
        let hists = IntervalHists {
            submit: take_interval(&mut metrics.submit_interval).unwrap_or_else(latency_histogram),
            reap: take_interval(&mut metrics.reap_interval).unwrap_or_else(latency_histogram),
            lateness: take_interval(&mut self.lateness),
            window_wait,
            ack_visibility,
        };
        self.out.push(TimelineInterval {
            start_s: self.last.saturating_duration_since(t0).as_secs_f64(),
            seconds: now.saturating_duration_since(self.last).as_secs_f64(),
            packets: metrics.packets.saturating_sub(self.packets),
            submit_ns: Percentiles::default(),
            reap_ns: Percentiles::default(),
            lateness_ns: None,
            window_wait_ns: None,
            ack_visibility_ns: None,
            hists,
        });
        self.last = now;
        self.packets = metrics.packets;
    }

    /// The last cut, once the stream is over: a remainder shorter than a tenth of the period
    /// (the wind-down after the last batch) joins the interval before it instead of standing as
    /// an interval of almost no length. Off the hot path: the join adds histograms.
    pub(super) fn cut_last(
        &mut self,
        now: Instant,
        metrics: &mut TxMetrics,
        flow: Option<&mut TxFlow>,
    ) {
        let from = self.last;
        self.cut(now, metrics, flow);
        let short = now.saturating_duration_since(from) < self.period / 10;
        if self.out.len() < 2 || !short {
            return;
        }
        let tail = self.out.pop().expect("two intervals");
        let prev = self.out.last_mut().expect("one interval left");
        prev.seconds += tail.seconds;
        prev.packets += tail.packets;
        let (a, b) = (&mut prev.hists, tail.hists);
        // Same bounds on both sides: adding cannot fail or resize.
        let _ = a.submit.add(&b.submit);
        let _ = a.reap.add(&b.reap);
        for (x, y) in [
            (&mut a.lateness, b.lateness),
            (&mut a.window_wait, b.window_wait),
            (&mut a.ack_visibility, b.ack_visibility),
        ] {
            if let (Some(x), Some(y)) = (x, y) {
                let _ = x.add(&y);
            }
        }
    }

    /// The intervals with their percentiles filled in.
    pub(super) fn finish(mut self) -> Vec<TimelineInterval> {
        for i in &mut self.out {
            i.summarise();
        }
        self.out
    }
}
