//! [`RecvReport`]: what a receiver run saw, built from the checker's and the run loop's counts,
//! and its `ringshot recv --json` form.

use std::collections::BTreeMap;

#[cfg(feature = "serde")]
use serde::Serialize;

use super::{formats, GapInterval, RunStats, StopReason, StreamChecker, StreamSummary};
use crate::framing::Format;
use crate::sys::rx::RxBackend;

/// Inter-arrival gap summary, ns.
///
/// ```
/// use std::time::Duration;
/// use ringshot::recv::{Receiver, RecvConfig};
/// use ringshot::wire::header::pattern_packet;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cfg = RecvConfig::builder("127.0.0.1:0".parse()?).count(3).idle_exit(Duration::from_secs(5)).build()?;
/// let rx = Receiver::spawn(cfg)?;
/// let tx = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// for seq in 0..3 {
///     tx.send_to(&pattern_packet(0, seq, 64), rx.local_addr())?;
///     std::thread::sleep(Duration::from_millis(2));
/// }
/// let g = rx.join()?.gaps_ns;
/// assert!(g.p50 <= g.p99 && g.p99 <= g.max);
/// assert!(g.max >= 1_000_000); // the 2 ms sleeps show as gaps of at least a millisecond
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct GapSummary {
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}

/// What a receiver run saw. Serialises to the `ringshot recv --json` object (see
/// [`RecvReport::sequenced`] for the sequence counts there); the fields the JSON leaves out are
/// extra detail for library users and tests.
///
/// ```
/// use std::time::Duration;
/// use ringshot::recv::{Receiver, RecvConfig};
/// use ringshot::wire::header::pattern_packet;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cfg = RecvConfig::builder("127.0.0.1:0".parse()?).count(4).idle_exit(Duration::from_secs(5)).build()?;
/// let rx = Receiver::spawn(cfg)?;
/// let tx = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// tx.send_to(b"noise", rx.local_addr())?; // malformed: counted by reason, not a packet
/// for seq in [0, 1, 3, 2] {
///     tx.send_to(&pattern_packet(0, seq, 100), rx.local_addr())?;
/// }
/// let r = rx.join()?;
/// assert!(r.sequenced()); // ringshot packets carry sequence numbers
/// assert_eq!((r.packets, r.bytes, r.lost, r.reordered, r.duplicates), (4, 400, 0, 1, 0));
/// assert_eq!((r.first_seq, r.last_seq), (Some(0), Some(3)));
/// assert_eq!(r.malformed.get("truncated"), Some(&1));
/// assert_eq!((r.corrupt, r.foreign, r.datagrams), (0, 0, 5));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RecvReport {
    /// Valid ringshot packets (duplicates included; malformed datagrams excluded).
    pub packets: u64,
    /// UDP payload bytes of those packets.
    pub bytes: u64,
    /// From the first to the last packet.
    pub seconds: f64,
    pub pps: f64,
    /// The sequence counts: 0 for a format without sequence numbers (null in the JSON).
    pub lost: u64,
    pub reordered: u64,
    pub duplicates: u64,
    /// Arrived after having been declared lost (below the reorder window).
    pub late: u64,
    /// Datagrams from a source other than the followed senders, dropped unchecked (each
    /// datagram of a GRO buffer counted).
    pub foreign: u64,
    /// `foreign` by reason, non-zero ones only: `not_from_addr` (not the configured
    /// [`from_addr`](super::RecvConfigBuilder::from_addr)), `senders_busy` (every sender the
    /// receiver follows at a time, [`senders`](super::RecvConfigBuilder::senders), was
    /// streaming).
    pub foreign_reasons: BTreeMap<String, u64>,
    /// The distinct sources of the foreign datagrams, the first
    /// [`MAX_FOREIGN_LISTED`](super::MAX_FOREIGN_LISTED) of them.
    pub foreign_sources: Vec<String>,
    /// Packets not believed because their sequence number was implausibly far ahead.
    pub implausible: u64,
    /// Lowest and highest sequence numbers received and believed (null before any packet). When
    /// `packets − duplicates = last_seq − first_seq + 1`, the range arrived whole (a receiver
    /// that joined late can check its run this way, whatever `lost` says about the numbers
    /// before it joined). Over all senders: with several, each stream's own range is in
    /// `streams`.
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    /// Receive buffers the kernel dropped at the socket queue (SO_RXQ_OVFL), as last reported:
    /// datagrams, or with GRO coalesced buffers, each counted once however many packets it held.
    /// Not a packet count; `lost` counts packets.
    pub kernel_drops: u64,
    pub gaps_ns: GapSummary,
    /// Malformed datagrams by reason.
    pub malformed: BTreeMap<String, u64>,
    /// Breaches of the stream's own timeline by reason (accepted packets): `tsi_backwards`,
    /// `heaps_skipped`, `heap_cnt_backwards`, `heap_offset_gap` (see [`super::framecheck`]).
    pub framing_errors: BTreeMap<String, u64>,
    /// Packets whose payload failed the pattern check.
    pub corrupt: u64,
    pub backend: &'static str,
    pub gro: bool,
    /// One summary per stream, in the order they opened (see [`super::streams`]); a single-run
    /// receiver has one per sender it followed. `packets`, `bytes`, `lost`, `reordered`,
    /// `duplicates` and `late` above are the sums over them.
    pub streams: Vec<StreamSummary>,
    /// Gaps per interval when the configuration asked for a timeline (absent from the JSON
    /// otherwise), from the first packet on.
    pub timeline: Vec<GapInterval>,
    /// The data format the checker expected; `None` when the sink stack had no
    /// [`StreamChecker`] (then no sequence was checked). Not in the JSON.
    pub format: Option<Format>,
    /// All inter-arrival gaps, ns, and when the first packet arrived (wall clock).
    pub gaps_hist: hdrhistogram::Histogram<u64>,
    pub first_packet_at: Option<std::time::SystemTime>,
    /// Datagrams handed to the sink stack (GRO segments counted one by one).
    pub datagrams: u64,
    /// Receive batches that delivered something.
    pub batches: u64,
    /// io_uring multishot re-arms.
    pub rearms: u64,
    pub stop: StopReason,
    /// One-line notices from start-up (backend fallback, refused socket options, pinning).
    pub notices: Vec<String>,
}

impl RecvReport {
    /// Whether the sequence counts (`lost`, `reordered`, `duplicates`, `late`, `implausible`,
    /// `first_seq`, `last_seq`) mean anything: a checker ran on a format with sequence numbers
    /// ([`formats::has_sequence`]). When not, the JSON has them null.
    pub fn sequenced(&self) -> bool {
        self.format.is_some_and(formats::has_sequence)
    }
}

/// The `ringshot recv --json` object: the report's fields in order, the sequence counts null
/// where the format has no sequence numbers, the timeline only when there is one.
#[cfg(feature = "serde")]
#[derive(Serialize)]
struct RecvJson<'a> {
    packets: u64,
    bytes: u64,
    seconds: f64,
    pps: f64,
    lost: Option<u64>,
    reordered: Option<u64>,
    duplicates: Option<u64>,
    late: Option<u64>,
    foreign: u64,
    foreign_reasons: &'a BTreeMap<String, u64>,
    foreign_sources: &'a [String],
    implausible: Option<u64>,
    first_seq: Option<u64>,
    last_seq: Option<u64>,
    kernel_drops: u64,
    gaps_ns: GapSummary,
    malformed: &'a BTreeMap<String, u64>,
    framing_errors: &'a BTreeMap<String, u64>,
    corrupt: u64,
    backend: &'static str,
    gro: bool,
    streams: &'a [StreamSummary],
    #[serde(skip_serializing_if = "<[GapInterval]>::is_empty")]
    timeline: &'a [GapInterval],
}

#[cfg(feature = "serde")]
impl Serialize for RecvReport {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let seq = |n: u64| self.sequenced().then_some(n);
        RecvJson {
            packets: self.packets,
            bytes: self.bytes,
            seconds: self.seconds,
            pps: self.pps,
            lost: seq(self.lost),
            reordered: seq(self.reordered),
            duplicates: seq(self.duplicates),
            late: seq(self.late),
            foreign: self.foreign,
            foreign_reasons: &self.foreign_reasons,
            foreign_sources: &self.foreign_sources,
            implausible: seq(self.implausible),
            first_seq: self.first_seq.filter(|_| self.sequenced()),
            last_seq: self.last_seq.filter(|_| self.sequenced()),
            kernel_drops: self.kernel_drops,
            gaps_ns: self.gaps_ns,
            malformed: &self.malformed,
            framing_errors: &self.framing_errors,
            corrupt: self.corrupt,
            backend: self.backend,
            gro: self.gro,
            streams: &self.streams,
            timeline: &self.timeline,
        }
        .serialize(s)
    }
}

impl RecvReport {
    pub(super) fn new(
        checker: Option<&StreamChecker>,
        run: &RunStats,
        backend: &dyn RxBackend,
        notices: Vec<String>,
    ) -> Self {
        let empty;
        let c = match checker {
            Some(c) => c,
            None => {
                empty = StreamChecker::new(64, false);
                &empty
            }
        };
        let (lost, reordered, duplicates, late) = c.totals();
        let seconds = c.seconds();
        let mut malformed = c.malformed();
        if run.truncated > 0 {
            *malformed
                .entry(crate::wire::WireError::Truncated.name().to_string())
                .or_default() += run.truncated;
        }
        let g = c.gaps();
        let (timeline, first_packet_at) = c.gap_timeline();
        let gaps_ns = if g.is_empty() {
            GapSummary::default()
        } else {
            GapSummary {
                p50: g.value_at_quantile(0.5),
                p99: g.value_at_quantile(0.99),
                max: g.max(),
            }
        };
        RecvReport {
            packets: c.packets(),
            bytes: c.bytes(),
            seconds,
            pps: if seconds > 0.0 {
                c.packets() as f64 / seconds
            } else {
                0.0
            },
            lost,
            reordered,
            duplicates,
            late,
            foreign: run.foreign.datagrams(),
            foreign_reasons: run.foreign.reasons(),
            foreign_sources: run
                .foreign
                .sources()
                .iter()
                .map(|a| a.to_string())
                .collect(),
            implausible: c.implausible(),
            first_seq: c.seq_range().0,
            last_seq: c.seq_range().1,
            kernel_drops: backend.kernel_drops(),
            gaps_ns,
            malformed,
            framing_errors: c.framing_errors(),
            corrupt: c.corrupt(),
            backend: backend.name(),
            gro: backend.gro(),
            streams: run.streams.clone(),
            timeline,
            format: checker.map(StreamChecker::format),
            gaps_hist: g.clone(),
            first_packet_at,
            datagrams: run.datagrams,
            batches: run.batches,
            rearms: backend.rearms(),
            stop: run.stop,
            notices,
        }
    }
}
