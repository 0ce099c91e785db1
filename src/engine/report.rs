//! The report the engine returns when a stream ends, and the ACK core's counts inside it.

use std::time::Duration;

#[cfg(feature = "serde")]
use serde::Serialize;

use crate::flow::AckStats;
use crate::stats::{Percentiles, TxMetrics};
use crate::sys::TxBackend;

/// What the engine measured, returned when the stream ends. Serialises to the `--json` keys.
///
/// ```
/// use ringshot::{PatternSource, SenderConfig, SourceSender};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let receiver = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// let cfg = SenderConfig::builder(receiver.local_addr()?).payload(512).build()?;
/// let report = SourceSender::spawn(cfg, PatternSource::new(512, Some(2000), None))?.finish()?;
/// // The books: every packet taken is sent or counted failed.
/// assert_eq!(report.packets + report.failed_packets, report.committed);
/// assert_eq!(report.bytes, report.packets * 512);
/// println!(
///     "{} sent {} packets in {:.3} s ({:.0} pps), submit p99 {} ns over {} submits",
///     report.backend, report.packets, report.seconds, report.pps, report.submit_ns.p99, report.submits
/// );
/// // Unpaced, no flow control: those figures are absent.
/// assert!(report.rate_target_pps.is_none() && report.acks.is_none());
/// // The whole histogram is there for your own percentiles.
/// assert_eq!(report.submit_hist.len(), report.submits);
/// assert_eq!(report.refused_sends(), 0);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(Serialize))]
#[non_exhaustive]
pub struct TxReport {
    pub backend: &'static str,
    pub gso: bool,
    /// Packets the kernel accepted (for completion backends: reported sent).
    pub packets: u64,
    /// Packets taken from the app or the source; `packets + failed_packets == committed` on
    /// every way the stream can end.
    pub committed: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub pps: f64,
    pub gbps: f64,
    pub submits: u64,
    pub syscalls: u64,
    pub submit_ns: Percentiles,
    pub submits_over_100us: u64,
    pub submits_over_1ms: u64,
    /// Reap calls that waited for completions or reported finished slots, and how long each
    /// took (timed by the engine around every backend's `reap`).
    pub reaps: u64,
    pub reap_ns: Percentiles,
    /// Send errors by kind (the JSON keys are this system's names: `ECONNREFUSED`, ...).
    /// Recoverable ones were re-sent; see [`SendErrno`](crate::SendErrno) for what each means.
    pub errors: std::collections::BTreeMap<crate::stats::SendErrno, u64>,
    pub gso_downgrades: u64,
    pub resent_packets: u64,
    /// Packets that left after a later packet had left (a relaxed send order only; 0 when
    /// strict).
    pub reordered_packets: u64,
    /// Packets committed by the app that never left (fatal error, early end); `packets +
    /// failed_packets` equals the packets committed.
    pub failed_packets: u64,
    /// Completions that matched no op (stale generation, duplicate notification): ignored.
    pub stray_completions: u64,
    /// Faults injected by a test's fault plan (all 0 in production).
    pub injected_faults: crate::fault::InjectedFaults,
    pub zero_copy_sends: u64,
    pub zero_copy_notifications: u64,
    pub batch_packets: Percentiles,
    /// CPU time of the engine thread, ns.
    pub cpu_ns: u64,
    /// Paced streams: the target rate, how far the achieved rate was from it, and how late each
    /// batch left against its schedule (JSON null when unpaced).
    pub rate_target_pps: Option<f64>,
    pub rate_error_pct: Option<f64>,
    pub lateness_ns: Option<Percentiles>,
    /// Schedule slots given up after stalls longer than the burst allowance.
    pub schedule_slips: u64,
    /// VRT/USRP2 packets whose integer-seconds timestamp (TSI) would have passed `u32::MAX` and
    /// was held there instead of wrapping.
    pub tsi_saturated: u64,
    /// Flow control: how often the window was closed when a batch was due, and for how long;
    /// and the time from the ACK core receiving an ACK to this engine first seeing its credit
    /// (JSON null without flow control).
    pub window_waits: u64,
    pub window_wait_ns: Option<Percentiles>,
    pub ack_visibility_ns: Option<Percentiles>,
    pub acks: Option<AckCounts>,
    /// Device events seen by the ACK core, by name.
    pub events: std::collections::BTreeMap<String, u64>,
    /// The stream ended because nothing moved for the stall timeout (the window stayed closed,
    /// or the kernel accepted no packet).
    pub stalled: bool,
    /// The stream ended because `stop()` was called (for example on SIGINT or SIGTERM).
    pub interrupted: bool,
    /// One-time messages: fallbacks, refused tuning.
    pub notices: Vec<String>,
    /// What the kernel counted below the socket during the stream (Linux): the egress
    /// device's queueing-discipline drops and the UDP send errors, to check `packets` against.
    /// When the qdiscs dropped more than the sender re-sent, some packets counted in `packets`
    /// were dropped without the sender being told, and a notice says so.
    pub kernel: crate::sys::KernelSendCounts,
    /// The time series, one record per interval, when the configuration asked for one
    /// (`SenderConfig::builder(..).timeline(period)`); absent from the JSON otherwise.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Vec::is_empty"))]
    pub timeline: Vec<super::TimelineInterval>,
    #[cfg_attr(feature = "serde", serde(skip))]
    pub submit_hist: hdrhistogram::Histogram<u64>,
    #[cfg_attr(feature = "serde", serde(skip))]
    pub reap_hist: hdrhistogram::Histogram<u64>,
    /// The whole run's lateness, window wait and ACK visibility histograms (ns), where measured.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub lateness_hist: Option<hdrhistogram::Histogram<u64>>,
    #[cfg_attr(feature = "serde", serde(skip))]
    pub window_wait_hist: Option<hdrhistogram::Histogram<u64>>,
    #[cfg_attr(feature = "serde", serde(skip))]
    pub ack_visibility_hist: Option<hdrhistogram::Histogram<u64>>,
    #[cfg_attr(feature = "serde", serde(skip))]
    pub started: std::time::SystemTime,
}

impl TxReport {
    /// Sends the destination refused (nothing listened there: ECONNREFUSED, or a reset on
    /// Windows). Each was sent again; without a listener those packets were lost.
    ///
    /// ```
    /// use ringshot::{Sender, SenderConfig};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let receiver = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// let mut tx = Sender::spawn(SenderConfig::builder(receiver.local_addr()?).build()?)?;
    /// tx.send(b"someone is listening")?;
    /// let report = tx.finish()?;
    /// assert_eq!(report.refused_sends(), 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn refused_sends(&self) -> u64 {
        self.errors
            .iter()
            .filter(|(e, _)| e.is_refusal())
            .map(|(_, n)| n)
            .sum()
    }

    pub(super) fn new(
        metrics: &TxMetrics,
        backend: &dyn TxBackend,
        elapsed: Duration,
        cpu_ns: u64,
    ) -> Self {
        let seconds = elapsed.as_secs_f64().max(1e-9);
        TxReport {
            backend: backend.name(),
            gso: backend.gso_active(),
            packets: metrics.packets,
            committed: 0,
            bytes: metrics.bytes,
            seconds,
            pps: metrics.packets as f64 / seconds,
            gbps: metrics.bytes as f64 * 8.0 / seconds / 1e9,
            submits: metrics.submits,
            syscalls: metrics.syscalls,
            submit_ns: Percentiles::of(&metrics.submit_ns),
            submits_over_100us: metrics.submits_over_100us,
            submits_over_1ms: metrics.submits_over_1ms,
            reaps: metrics.reaps,
            reap_ns: Percentiles::of(&metrics.reap_ns),
            errors: metrics.errors_by_kind(),
            gso_downgrades: metrics.gso_downgrades,
            resent_packets: metrics.resent_packets,
            reordered_packets: metrics.reordered_packets,
            failed_packets: metrics.failed_packets,
            stray_completions: metrics.stray_completions,
            injected_faults: metrics.injected,
            zero_copy_sends: metrics.zero_copy_sends,
            zero_copy_notifications: metrics.zero_copy_notifications,
            batch_packets: Percentiles::of(&metrics.batch_packets),
            cpu_ns,
            rate_target_pps: None,
            rate_error_pct: None,
            lateness_ns: None,
            schedule_slips: 0,
            tsi_saturated: 0,
            window_waits: 0,
            window_wait_ns: None,
            ack_visibility_ns: None,
            acks: None,
            events: Default::default(),
            stalled: false,
            interrupted: false,
            notices: Vec::new(),
            kernel: Default::default(),
            timeline: Vec::new(),
            submit_hist: metrics.submit_ns.clone(),
            reap_hist: metrics.reap_ns.clone(),
            lateness_hist: None,
            window_wait_hist: None,
            ack_visibility_hist: None,
            started: std::time::SystemTime::now() - elapsed,
        }
    }
}

/// What the ACK core did with the datagrams it received.
///
/// ```
/// use std::time::Duration;
/// use ringshot::{AckFormat, EngineError, Sender, SenderConfig};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // A "device" that never answers: the window of 64 packets closes and the stream stalls.
/// let silent = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// let cfg = SenderConfig::builder(silent.local_addr()?)
///     .ack(AckFormat::Native)
///     .window_packets(64)
///     .stall_timeout(Duration::from_millis(100))
///     .build()?;
/// let mut tx = Sender::spawn(cfg)?;
/// for _ in 0..100 {
///     if tx.send(b"x").is_err() {
///         break;
///     }
/// }
/// let err = tx.finish().unwrap_err();
/// let acks = err.report().and_then(|r| r.acks.clone()).expect("flow control was on");
/// assert_eq!((acks.accepted, acks.malformed), (0, 0));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct AckCounts {
    pub accepted: u64,
    pub stale: u64,
    pub beyond_sent: u64,
    pub foreign_source: u64,
    pub malformed: u64,
    /// Malformed datagrams by reason.
    pub malformed_by_reason: std::collections::BTreeMap<String, u64>,
}

impl AckCounts {
    pub(super) fn from_stats(s: &AckStats) -> AckCounts {
        AckCounts {
            accepted: s.accepted,
            stale: s.stale,
            beyond_sent: s.beyond_sent,
            foreign_source: s.foreign_source,
            malformed: s.malformed_total(),
            malformed_by_reason: s
                .malformed
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
        }
    }
}
