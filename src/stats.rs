//! Measurement: pre-allocated HDR histograms and counters, recorded on the hot path without
//! allocation, summarised at the end.

use hdrhistogram::Histogram;
#[cfg(feature = "serde")]
use serde::Serialize;
use std::collections::BTreeMap;

/// Lowest and highest trackable value of a latency histogram, in ns (1 ns .. 60 s).
pub const LATENCY_LOW_NS: u64 = 1;
pub const LATENCY_HIGH_NS: u64 = 60_000_000_000;
/// Significant decimal digits kept by every histogram.
pub const SIGFIG: u8 = 3;

/// A 1 ns .. 60 s histogram at 3 significant digits. All its buckets are allocated here, so
/// recording never allocates (values above the bound are clamped, not resized).
///
/// ```
/// use ringshot::stats::{latency_histogram, record_clamped, Percentiles, LATENCY_HIGH_NS};
///
/// let mut h = latency_histogram();
/// for ns in [800, 1_200, 1_500, 90_000] {
///     record_clamped(&mut h, ns);
/// }
/// let p = Percentiles::of(&h);
/// assert!(p.p50 >= 1_200 && p.p50 < 1_202); // 3 significant digits
/// assert!(p.max >= 90_000 && p.max < 90_100);
/// record_clamped(&mut h, u64::MAX); // beyond the range: clamped, never an error
/// assert!(h.max() >= LATENCY_HIGH_NS);
/// ```
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(LATENCY_LOW_NS, LATENCY_HIGH_NS, SIGFIG)
        .expect("static histogram bounds are valid")
}

/// Records `v` into `h`, clamping it to the histogram's range (never allocates, never fails).
///
/// ```
/// use ringshot::stats::{latency_histogram, record_clamped};
///
/// let mut h = latency_histogram();
/// record_clamped(&mut h, 0); // below the 1 ns floor: recorded as 1
/// assert_eq!((h.len(), h.min()), (1, 1));
/// ```
#[inline]
pub fn record_clamped(h: &mut Histogram<u64>, v: u64) {
    let v = v.clamp(h.low(), h.high());
    // Cannot fail: the value is inside the bounds and auto-resize is off.
    let _ = h.record(v);
}

/// Records `v` (clamped) into `h` when a time series is being kept: the interval copy of a
/// cumulative histogram, which gets every value the cumulative one gets.
#[inline]
pub(crate) fn record_interval(h: &mut Option<Histogram<u64>>, v: u64) {
    if let Some(h) = h {
        record_clamped(h, v);
    }
}

/// Hands over the values recorded since the last cut and starts an empty interval: one
/// allocation (zeroed pages, touched only where values land), no walk over the buckets.
pub(crate) fn take_interval(h: &mut Option<Histogram<u64>>) -> Option<Histogram<u64>> {
    h.as_mut()
        .map(|h| std::mem::replace(h, latency_histogram()))
}

/// Percentile summary of a latency histogram, in ns.
///
/// ```
/// use ringshot::{PatternSource, Percentiles, SenderConfig, SourceSender};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let receiver = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// let cfg = SenderConfig::builder(receiver.local_addr()?).build()?;
/// let report = SourceSender::spawn(cfg, PatternSource::new(1472, Some(500), None))?.finish()?;
/// let p: Percentiles = report.submit_ns;
/// assert!(p.p50 <= p.p90 && p.p90 <= p.p99 && p.p99 <= p.p999 && p.p999 <= p.p9999);
/// assert!(p.p9999 <= p.max);
/// assert_eq!(p, Percentiles::of(&report.submit_hist));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct Percentiles {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub p9999: u64,
    pub max: u64,
}

impl Percentiles {
    /// The percentiles of `h`, in its unit (ns for the engine's histograms).
    ///
    /// ```
    /// use ringshot::stats::{latency_histogram, Percentiles};
    ///
    /// // An empty histogram summarises to zeros.
    /// assert_eq!(Percentiles::of(&latency_histogram()), Percentiles::default());
    /// ```
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            p9999: h.value_at_quantile(0.9999),
            max: h.max(),
        }
    }
}

/// Counts how many recorded values in `h` are strictly above `threshold`.
///
/// ```
/// use ringshot::stats::{count_above, latency_histogram, record_clamped};
///
/// let mut h = latency_histogram();
/// for ns in [10_000, 50_000, 200_000, 3_000_000] {
///     record_clamped(&mut h, ns);
/// }
/// assert_eq!(count_above(&h, 100_000), 2); // submits over 100 µs
/// assert_eq!(count_above(&h, 5_000_000), 0);
/// ```
pub fn count_above(h: &Histogram<u64>, threshold: u64) -> u64 {
    if h.max() <= threshold {
        return 0;
    }
    let at_or_below = h
        .iter_recorded()
        .take_while(|v| v.value_iterated_to() <= threshold)
        .map(|v| v.count_at_value())
        .sum::<u64>();
    h.len() - at_or_below
}

/// A send error, by what it means (the same on every system). The report counts errors by it
/// (the send report's `errors`); `Display` gives this system's name for it
/// (`ECONNREFUSED` on Unix, `WSAECONNREFUSED` on Windows), which is also its JSON key.
///
/// ```
/// use ringshot::SendErrno;
/// let e = SendErrno::ConnectionRefused;
/// assert!(e.is_refusal());
/// # #[cfg(unix)]
/// assert_eq!(e.to_string(), "ECONNREFUSED");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum SendErrno {
    /// The socket buffer was full (EAGAIN / WSAEWOULDBLOCK): waited for, then re-sent.
    WouldBlock,
    /// A queue below the socket was full or dropped the datagram (ENOBUFS): re-sent.
    NoBuffers,
    /// The destination refused an earlier datagram (ICMP port unreachable): re-sent.
    ConnectionRefused,
    /// Windows reports a refusal on UDP as a reset (WSAECONNRESET): re-sent.
    ConnectionReset,
    /// A signal interrupted the call (EINTR): re-sent.
    Interrupted,
    /// EIO: with GSO, the path cannot segment (GSO is turned off and the packets re-sent).
    Io,
    /// EINVAL: with GSO, as `Io`; otherwise it ends the stream.
    InvalidInput,
    /// EMSGSIZE: with GSO, a segment larger than the path MTU (GSO off, re-sent); otherwise a
    /// datagram too long for the socket, which ends the stream.
    MessageTooLong,
    /// EPERM: a firewall rule refused the send; ends the stream.
    PermissionDenied,
    /// EACCES (a broadcast without permission); ends the stream.
    AccessDenied,
    /// ENETUNREACH: no route (a link that went down); ends the stream.
    NetworkUnreachable,
    /// EHOSTUNREACH; ends the stream.
    HostUnreachable,
    /// ENETDOWN: the interface is down; ends the stream.
    NetworkDown,
    /// EBADF; ends the stream.
    BadDescriptor,
    /// WSAETIMEDOUT (Windows): waited for, then re-sent.
    TimedOut,
    /// WSA_OPERATION_ABORTED (Windows): an overlapped send cancelled.
    Aborted,
    /// WSAENETRESET (Windows).
    NetworkReset,
    /// Any other OS error code.
    Other(i32),
    /// Errors beyond the report's counter slots, counted together (`other`).
    Uncounted,
}

impl SendErrno {
    /// This system's symbol for the kind (`EAGAIN` on Unix, `WSAEWOULDBLOCK` on Windows);
    /// `None` for a kind this system never reports, an unnamed code, or the uncounted. The
    /// codes behind the symbols (raw errno to kind, [`SendErrno::from_os`]) live with the OS
    /// layer, which turns each code into its kind at the syscall boundary.
    ///
    /// ```
    /// use ringshot::SendErrno;
    ///
    /// let expected = if cfg!(windows) { "WSAENOBUFS" } else { "ENOBUFS" };
    /// assert_eq!(SendErrno::NoBuffers.symbol(), Some(expected));
    /// assert_eq!(SendErrno::Other(99_999).symbol(), None);
    /// assert_eq!(SendErrno::Uncounted.symbol(), None);
    /// ```
    pub fn symbol(self) -> Option<&'static str> {
        NAMED_ERRNOS
            .iter()
            .find(|(kind, _)| *kind == self)
            .map(|(_, name)| *name)
    }

    /// Whether the destination refused the datagram (nothing listening there).
    pub fn is_refusal(self) -> bool {
        matches!(
            self,
            SendErrno::ConnectionRefused | SendErrno::ConnectionReset
        )
    }
}

impl std::fmt::Display for SendErrno {
    /// This system's name for the error: `EAGAIN`, `WSAEWOULDBLOCK`, `errno_N` for a code
    /// without a name here, `other` for the uncounted.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendErrno::Other(code) => write!(f, "errno_{code}"),
            SendErrno::Uncounted => f.write_str("other"),
            kind => match kind.symbol() {
                Some(name) => f.write_str(name),
                None => write!(f, "{kind:?}"),
            },
        }
    }
}

#[cfg(feature = "serde")]
impl Serialize for SendErrno {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The errors the send path expects on this system, each with its symbol: every one has a
/// counter slot reserved in [`TxMetrics`]. Names only: which OS code is which kind is the OS
/// layer's table (and its tests check that both agree).
#[cfg(not(windows))]
const NAMED_ERRNOS: [(SendErrno, &str); 13] = [
    (SendErrno::WouldBlock, "EAGAIN"),
    (SendErrno::NoBuffers, "ENOBUFS"),
    (SendErrno::ConnectionRefused, "ECONNREFUSED"),
    (SendErrno::Interrupted, "EINTR"),
    (SendErrno::Io, "EIO"),
    (SendErrno::InvalidInput, "EINVAL"),
    (SendErrno::MessageTooLong, "EMSGSIZE"),
    (SendErrno::PermissionDenied, "EPERM"),
    (SendErrno::AccessDenied, "EACCES"),
    (SendErrno::NetworkUnreachable, "ENETUNREACH"),
    (SendErrno::HostUnreachable, "EHOSTUNREACH"),
    (SendErrno::NetworkDown, "ENETDOWN"),
    (SendErrno::BadDescriptor, "EBADF"),
];

/// On Windows the send path sees WinSock errors: the same kinds, by their WSA names.
#[cfg(windows)]
const NAMED_ERRNOS: [(SendErrno, &str); 14] = [
    (SendErrno::WouldBlock, "WSAEWOULDBLOCK"),
    (SendErrno::NoBuffers, "WSAENOBUFS"),
    (SendErrno::ConnectionReset, "WSAECONNRESET"),
    (SendErrno::ConnectionRefused, "WSAECONNREFUSED"),
    (SendErrno::Interrupted, "WSAEINTR"),
    (SendErrno::MessageTooLong, "WSAEMSGSIZE"),
    (SendErrno::InvalidInput, "WSAEINVAL"),
    (SendErrno::NetworkUnreachable, "WSAENETUNREACH"),
    (SendErrno::HostUnreachable, "WSAEHOSTUNREACH"),
    (SendErrno::NetworkDown, "WSAENETDOWN"),
    (SendErrno::AccessDenied, "WSAEACCES"),
    (SendErrno::NetworkReset, "WSAENETRESET"),
    (SendErrno::TimedOut, "WSAETIMEDOUT"),
    (SendErrno::Aborted, "WSA_OPERATION_ABORTED"),
];

/// Counter slots left for errnos outside [`NAMED_ERRNOS`]; further unexpected ones count as
/// `other`.
const SPARE_ERRNO_SLOTS: usize = 4;

/// Everything the TX side measures. Owned by the engine thread; backends record into it.
///
/// ```
/// use ringshot::stats::TxMetrics;
/// use ringshot::SendErrno;
///
/// // What a backend records, and what the engine summarises from it.
/// let mut m = TxMetrics::new();
/// m.record_submit(2_000, 64); // one sendmmsg of 64 packets took 2 µs
/// m.record_submit(250_000, 64); // a slow one
/// m.record_reap(500);
/// # #[cfg(unix)]
/// m.record_error(SendErrno::NoBuffers);
/// assert_eq!((m.submits, m.syscalls, m.reaps, m.submits_over_100us), (2, 2, 1, 1));
/// assert_eq!(m.submit_ns.len(), 2);
/// # #[cfg(unix)]
/// assert_eq!(m.errors_by_kind().get(&SendErrno::NoBuffers), Some(&1));
/// # #[cfg(unix)]
/// assert_eq!(m.errors_by_name().get("ENOBUFS"), Some(&1));
/// ```
#[derive(Debug)]
pub struct TxMetrics {
    /// Duration of every submit syscall (io_uring_enter, sendmmsg, sendmsg, send), ns.
    pub submit_ns: Histogram<u64>,
    /// Duration of every reap call that waited for completions or reported at least one
    /// finished slot, timed by the engine around the backend's `reap` (io_uring_enter for CQEs,
    /// the readiness backends' hand-back, a completion port's dequeue), ns. A non-waiting reap
    /// that found nothing is not recorded, so an idle engine's polling does not drown the tail.
    pub reap_ns: Histogram<u64>,
    /// Reap calls recorded in `reap_ns` (the histogram's count equals this).
    pub reaps: u64,
    /// When a time series is kept: submit and reap durations since the last interval cut.
    pub(crate) submit_interval: Option<Histogram<u64>>,
    pub(crate) reap_interval: Option<Histogram<u64>>,
    /// Packets handed to the kernel per submit syscall.
    pub batch_packets: Histogram<u64>,
    pub packets: u64,
    pub bytes: u64,
    /// Submit syscalls (the histogram's count equals this).
    pub submits: u64,
    /// All send-path syscalls, including waits for writability and completion reaping.
    pub syscalls: u64,
    /// Send errors seen, by kind: the named ones first, then spare slots taken by the first
    /// unexpected codes (`Uncounted` marks a free one). Fixed array so recording never
    /// allocates.
    errors: [(SendErrno, u64); NAMED_ERRNOS.len() + SPARE_ERRNO_SLOTS],
    errors_other: u64,
    /// Sends the destination refused (ECONNREFUSED, or a reset on Windows), also in `errors`.
    pub refused: u64,
    /// Submits that took over 100 µs and over 1 ms, counted exactly (not from histogram buckets).
    pub submits_over_100us: u64,
    pub submits_over_1ms: u64,
    pub gso_downgrades: u64,
    /// Sends that went out zero-copy (io_uring SEND_ZC / SENDMSG_ZC), and their notifications.
    pub zero_copy_sends: u64,
    pub zero_copy_notifications: u64,
    /// Packets re-sent after a recoverable error (GSO downgrade, ENOBUFS, ECONNREFUSED).
    pub resent_packets: u64,
    /// Packets of the message a `sendmmsg` stopped short at: the kernel drops that message's
    /// error (ENOBUFS from a qdisc, EAGAIN) and returns the count before it; the message goes
    /// again with the next call. Not in `resent_packets`, which counts reported refusals.
    pub short_stops: u64,
    /// Packets that left after a later packet of the stream had left: only with a relaxed send
    /// order (`SendOrder::Relaxed`), a re-sent packet overtaken by the rest of its batch.
    pub reordered_packets: u64,
    /// Packets the engine accepted from the app that never left (a fatal error or an early end
    /// while they were queued or in flight). `packets + failed_packets` = packets committed.
    pub failed_packets: u64,
    /// Completions that matched no op in the state it could be in (a stale generation, an
    /// unknown index, a second notification): counted and ignored, never acted on.
    pub stray_completions: u64,
    /// Faults injected by a test's fault plan (0 in production).
    pub injected: crate::fault::InjectedFaults,
}

impl Default for TxMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl TxMetrics {
    pub fn new() -> TxMetrics {
        TxMetrics {
            submit_ns: latency_histogram(),
            reap_ns: latency_histogram(),
            reaps: 0,
            submit_interval: None,
            reap_interval: None,
            batch_packets: Histogram::new_with_bounds(1, 65_536, SIGFIG).expect("bounds"),
            packets: 0,
            bytes: 0,
            submits: 0,
            syscalls: 0,
            errors: {
                let mut slots = [(SendErrno::Uncounted, 0); NAMED_ERRNOS.len() + SPARE_ERRNO_SLOTS];
                for (slot, (kind, _)) in slots.iter_mut().zip(NAMED_ERRNOS) {
                    slot.0 = kind;
                }
                slots
            },
            refused: 0,
            errors_other: 0,
            submits_over_100us: 0,
            submits_over_1ms: 0,
            gso_downgrades: 0,
            zero_copy_sends: 0,
            zero_copy_notifications: 0,
            short_stops: 0,
            resent_packets: 0,
            reordered_packets: 0,
            failed_packets: 0,
            stray_completions: 0,
            injected: Default::default(),
        }
    }

    /// Records one submit syscall that took `ns` and carried `packets` packets.
    #[inline]
    pub fn record_submit(&mut self, ns: u64, packets: usize) {
        self.submits += 1;
        self.syscalls += 1;
        record_clamped(&mut self.submit_ns, ns.max(1));
        record_interval(&mut self.submit_interval, ns.max(1));
        if ns > 100_000 {
            self.submits_over_100us += 1;
            if ns > 1_000_000 {
                self.submits_over_1ms += 1;
            }
        }
        if packets > 0 {
            record_clamped(&mut self.batch_packets, packets as u64);
        }
    }

    /// Records one reap call that took `ns`.
    #[inline]
    pub fn record_reap(&mut self, ns: u64) {
        self.reaps += 1;
        record_clamped(&mut self.reap_ns, ns.max(1));
        record_interval(&mut self.reap_interval, ns.max(1));
    }

    /// Starts keeping interval copies of the submit and reap histograms (a time series).
    pub(crate) fn keep_intervals(&mut self) {
        self.submit_interval = Some(latency_histogram());
        self.reap_interval = Some(latency_histogram());
    }

    /// Counts one send error of kind `kind` (the OS layer turns a raw code into its kind:
    /// [`SendErrno::from_os`]). `Other(0)` and `Uncounted` count as `other`.
    #[inline]
    pub fn record_error(&mut self, kind: SendErrno) {
        if kind.is_refusal() {
            self.refused += 1;
        }
        let countable = !matches!(kind, SendErrno::Other(0) | SendErrno::Uncounted);
        let slot = match self.errors.iter().position(|(e, _)| *e == kind) {
            Some(i) if countable => Some(i),
            None if countable => self
                .errors
                .iter()
                .position(|(e, _)| *e == SendErrno::Uncounted),
            _ => None,
        };
        match slot {
            Some(i) => {
                self.errors[i].0 = kind;
                self.errors[i].1 += 1;
            }
            None => self.errors_other += 1,
        }
    }

    /// Error counts by kind (only non-zero ones).
    pub fn errors_by_kind(&self) -> BTreeMap<SendErrno, u64> {
        let mut m: BTreeMap<SendErrno, u64> = self
            .errors
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(e, n)| (*e, *n))
            .collect();
        if self.errors_other > 0 {
            m.insert(SendErrno::Uncounted, self.errors_other);
        }
        m
    }

    /// Error counts by errno name (only non-zero ones).
    pub fn errors_by_name(&self) -> BTreeMap<String, u64> {
        let mut m: BTreeMap<String, u64> = self
            .errors
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(e, n)| (e.to_string(), *n))
            .collect();
        if self.errors_other > 0 {
            m.insert("other".into(), self.errors_other);
        }
        m
    }
}

#[cfg(feature = "hdr-log")]
/// Writes `h` as an HdrHistogram V2 interval log (one interval covering the whole run), readable by
/// HdrHistogram's `HistogramLogProcessor` and hdrhistogram-rs.
///
/// ```
/// use ringshot::stats::{latency_histogram, record_clamped, write_interval_log};
///
/// let mut h = latency_histogram();
/// record_clamped(&mut h, 1_500);
/// let mut log = Vec::new();
/// let start = std::time::SystemTime::now();
/// write_interval_log(&mut log, &h, start, std::time::Duration::from_secs(1), "submit").unwrap();
/// let text = String::from_utf8(log).unwrap();
/// assert!(text.contains("#[StartTime:") && text.contains("Tag=submit"));
/// ```
pub fn write_interval_log<W: std::io::Write>(
    out: &mut W,
    h: &Histogram<u64>,
    start: std::time::SystemTime,
    duration: std::time::Duration,
    tag: &str,
) -> std::io::Result<()> {
    let one = [(std::time::Duration::ZERO, duration, h)];
    write_interval_series(out, "ringshot submit latency, ns", start, tag, &one)
}

#[cfg(feature = "hdr-log")]
/// Writes a time series as an HdrHistogram V2 interval log: one interval line per
/// `(offset from start, length, histogram)`, with `start` as the log's StartTime and BaseTime
/// (so each line's timestamp is its offset in seconds), every line tagged `tag`.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use ringshot::stats::{latency_histogram, record_clamped, write_interval_series};
///
/// let (mut a, mut b) = (latency_histogram(), latency_histogram());
/// record_clamped(&mut a, 1_000);
/// record_clamped(&mut b, 2_000);
/// let second = Duration::from_secs(1);
/// let series = [(Duration::ZERO, second, &a), (second, second, &b)];
/// let mut log = Vec::new();
/// write_interval_series(&mut log, "my run", SystemTime::now(), "submit", &series).unwrap();
/// let lines = String::from_utf8(log).unwrap();
/// assert_eq!(lines.lines().filter(|l| l.starts_with("Tag=submit")).count(), 2);
/// ```
pub fn write_interval_series<W: std::io::Write>(
    out: &mut W,
    comment: &str,
    start: std::time::SystemTime,
    tag: &str,
    intervals: &[(std::time::Duration, std::time::Duration, &Histogram<u64>)],
) -> std::io::Result<()> {
    use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
    use hdrhistogram::serialization::V2DeflateSerializer;
    let mut ser = V2DeflateSerializer::new();
    let mut builder = IntervalLogWriterBuilder::new();
    builder
        .add_comment(comment)
        .with_start_time(start)
        .with_base_time(start)
        .with_max_value_divisor(1.0);
    let mut w = builder.begin_log_with(out, &mut ser).map_err(io_other)?;
    for (offset, len, h) in intervals {
        w.write_histogram(*h, *offset, *len, Tag::new(tag))
            .map_err(io_other)?;
    }
    Ok(())
}

#[cfg(feature = "hdr-log")]
fn io_other<E: std::fmt::Debug>(e: E) -> std::io::Error {
    std::io::Error::other(format!("{e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_never_grows_and_counts_over_thresholds() {
        let mut h = latency_histogram();
        let before = h.distinct_values();
        for v in [0, 1, 50, 90_000, 110_000, 2_000_000, u64::MAX] {
            record_clamped(&mut h, v);
        }
        assert_eq!(h.distinct_values(), before, "histogram must not resize");
        assert_eq!(h.len(), 7);
        assert_eq!(count_above(&h, 100_000), 3);
        assert_eq!(count_above(&h, 1_000_000), 2);
        assert_eq!(h.max(), h.highest_equivalent(LATENCY_HIGH_NS));
    }

    #[cfg(not(windows))]
    #[test]
    fn errno_counts_by_name() {
        let mut m = TxMetrics::new();
        m.record_error(SendErrno::NoBuffers);
        m.record_error(SendErrno::NoBuffers);
        m.record_error(SendErrno::WouldBlock);
        m.record_error(SendErrno::PermissionDenied);
        m.record_error(SendErrno::NetworkUnreachable);
        m.record_error(SendErrno::Other(12345));
        m.record_error(SendErrno::Other(12345));
        for unexpected in 20_000..20_000 + SPARE_ERRNO_SLOTS as i32 {
            m.record_error(SendErrno::Other(unexpected));
        }
        m.record_error(SendErrno::Other(0));
        let e = m.errors_by_name();
        assert_eq!(e["ENOBUFS"], 2);
        assert_eq!(e["EAGAIN"], 1);
        assert_eq!(e["EPERM"], 1);
        assert_eq!(e["ENETUNREACH"], 1);
        assert_eq!(e["errno_12345"], 2);
        // 12345 took the first spare slot; the last unexpected code and code 0 found none.
        assert_eq!(e["other"], 2);
        assert_eq!(e.values().sum::<u64>(), 12);
        assert_eq!(m.errors_by_kind()[&SendErrno::Uncounted], 2);
    }

    #[test]
    fn every_named_kind_has_its_symbol() {
        for (kind, name) in NAMED_ERRNOS {
            assert_eq!(kind.to_string(), name);
            assert_eq!(kind.symbol(), Some(name));
        }
        assert_eq!(SendErrno::Other(4242).to_string(), "errno_4242");
        assert_eq!(SendErrno::Other(4242).symbol(), None);
        assert_eq!(SendErrno::Uncounted.to_string(), "other");
        #[cfg(not(windows))]
        assert_eq!(SendErrno::PermissionDenied.to_string(), "EPERM");
        #[cfg(windows)]
        assert_eq!(SendErrno::NoBuffers.to_string(), "WSAENOBUFS");
    }

    #[cfg(feature = "hdr-log")]
    #[test]
    fn interval_log_round_trips() {
        use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
        let mut h = latency_histogram();
        for v in 1..=1000u64 {
            record_clamped(&mut h, v * 1000);
        }
        let mut buf = Vec::new();
        write_interval_log(
            &mut buf,
            &h,
            std::time::SystemTime::now(),
            std::time::Duration::from_secs(1),
            "submit",
        )
        .unwrap();
        let text = String::from_utf8(buf.clone()).unwrap();
        assert!(text.contains("#[StartTime:"));
        let mut n = 0;
        for e in IntervalLogIterator::new(&buf) {
            if let Ok(LogEntry::Interval(i)) = e {
                assert_eq!(i.tag().map(|t| t.as_str()), Some("submit"));
                n += 1;
            }
        }
        assert_eq!(n, 1);
    }
}
