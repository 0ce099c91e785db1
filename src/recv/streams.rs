//! Streams: a receiver's view of who sent what, one summary per sender's stream.
//!
//! A receiver follows up to [`senders`](super::RecvConfigBuilder::senders) senders at the same
//! time (one by default), each by its source address (IPv4-mapped IPv6 read as IPv4), with one
//! stream open for each:
//!
//! - a datagram from a followed source goes on in its stream;
//! - a datagram from a new source opens a stream while fewer than `senders` are open;
//! - when all are open, and one of the followed senders has been quiet for the stream idle time
//!   ([`DEFAULT_STREAM_IDLE`]) in a reusable receiver ([`super::RecvConfigBuilder::streams`]),
//!   the new source closes that stream (`new_source`) and opens its own;
//! - otherwise the datagram is counted as `foreign` (reason `senders_busy`) and dropped
//!   unchecked, as a single-run receiver drops everything but its one sender;
//! - in a reusable receiver, a datagram from a followed source that carries the start sequence
//!   again, after that source got at least [`RESTART_MARGIN`] packets past it or after a quiet
//!   stream idle time, is a restarted sender (`--bind` with a fixed port): it closes that
//!   source's stream (`restart`) and opens a new one. The sequence is read as the format has it
//!   ([`super::formats::sequence`]: a narrow counter widened against the highest seen, so a wrap
//!   of CHDR's 16-bit SeqNum is not a restart). A format without sequence numbers (raw, SPEAD)
//!   never restarts on a sequence value: its streams are told apart by source alone, and their
//!   summaries carry no sequence counts.
//!
//! So the default (one sender) follows one sender at a time, as an iperf3 server serves one
//! client at a time, and `senders(N)` checks the N engines of `ringshot send --engines N` (each
//! its own socket and sequence space) in one receiver, each exactly.
//!
//! Each sender is checked in its own lane of the [`StreamChecker`] (see [`super::lanes`]), so
//! the streams' sequence spaces never mix. Closing a stream records its [`StreamSummary`] (the
//! differences of the checker's counts for its source since it opened) and tells the sink stack
//! that the source's stream ended ([`super::DatagramSink::end_stream`]), which forgets that
//! source's sequence windows, so its next stream's numbers are neither duplicates nor late. The
//! run's totals are the sums over its streams.
//!
//! Per datagram this costs a comparison with the source matched last and, when that differs, a
//! scan of the open streams (at most `senders`), and for a followed sender one read of the
//! packet's sequence number; nothing allocates or locks but the closing of a stream.

use std::net::SocketAddr;
use std::time::Duration;

#[cfg(feature = "serde")]
use serde::Serialize;

use super::check::StreamChecker;
use super::formats::{has_sequence, sequence};
use super::lanes::{canonical, Counts, MAX_SENDERS};
use super::source::{ForeignTally, Why};
use crate::framing::Format;

/// Default quiet time after which a followed sender's stream is over for a new source.
pub const DEFAULT_STREAM_IDLE: Duration = Duration::from_millis(500);
/// How far past the start sequence a sender must have got before the start sequence again means
/// a restart rather than a late duplicate.
pub const RESTART_MARGIN: u64 = 64;

/// One stream's summary: JSON `streams[]`.
///
/// ```
/// use std::time::Duration;
/// use ringshot::recv::{Receiver, RecvConfig};
/// use ringshot::wire::header::pattern_packet;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // A reusable receiver: two senders one after the other make two streams.
/// let cfg = RecvConfig::builder("127.0.0.1:0".parse()?)
///     .streams(true)
///     .stream_idle(Duration::from_millis(20))
///     .build()?;
/// let rx = Receiver::spawn(cfg)?;
/// for _ in 0..2 {
///     let tx = std::net::UdpSocket::bind("127.0.0.1:0")?;
///     for seq in 0..5 {
///         tx.send_to(&pattern_packet(0, seq, 64), rx.local_addr())?;
///     }
///     std::thread::sleep(Duration::from_millis(50)); // quiet longer than the stream idle time
/// }
/// while rx.progress().0 < 10 {
///     std::thread::sleep(Duration::from_millis(1));
/// }
/// rx.stop();
/// let report = rx.join()?;
/// let s = &report.streams;
/// assert_eq!(s.len(), 2);
/// assert_eq!((s[0].index, s[0].packets, s[0].closed_by), (1, 5, "new_source"));
/// assert_eq!((s[1].first_seq, s[1].last_seq, s[1].closed_by), (Some(0), Some(4), "end"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct StreamSummary {
    /// 1 for the first stream of the run, in the order the streams opened.
    pub index: u32,
    /// The sender's address and port.
    pub source: String,
    pub packets: u64,
    pub bytes: u64,
    /// The sequence counts; `None` (JSON null) for a format without sequence numbers.
    pub lost: Option<u64>,
    pub reordered: Option<u64>,
    pub duplicates: Option<u64>,
    pub late: Option<u64>,
    /// From its first to its last packet.
    pub seconds: f64,
    pub pps: f64,
    /// Lowest and highest sequence numbers its datagrams carried (null before any).
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    /// Why it closed: `new_source`, `restart` (the start sequence again) or `end` (the run
    /// ended).
    pub closed_by: &'static str,
}

/// What [`Streams::admit`] decided about one datagram.
///
/// ```
/// use std::time::Duration;
/// use ringshot::recv::streams::{Admit, Streams};
/// use ringshot::wire::header::pattern_packet;
///
/// let mut streams = Streams::new(0, Duration::from_millis(500));
/// let (a, b) = ("10.0.0.1:4000".parse().unwrap(), "10.0.0.2:4000".parse().unwrap());
/// let first = pattern_packet(0, 0, 64);
/// assert_eq!(streams.admit(None, a, &first, 1, 0), Admit::Yes); // opens stream 1
/// streams.saw(&first);
/// assert_eq!(streams.admit(None, b, &first, 1, 1_000_000), Admit::Foreign); // a is still streaming
/// // A second later a has gone quiet: b opens a new stream once a's is closed.
/// assert_eq!(streams.admit(None, b, &first, 1, 1_000_000_000), Admit::NewStream("new_source"));
/// assert_eq!(streams.closing(), Some(a));
/// streams.close(None, "new_source");
/// assert_eq!(streams.admit(None, b, &first, 1, 1_000_000_000), Admit::Yes);
/// assert_eq!((streams.closed().len(), streams.foreign()), (1, 1));
/// assert_eq!(streams.foreign_sources(), &[b]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// From a followed sender, in its current stream.
    Yes,
    /// From another source while every followed sender streams: drop and count.
    Foreign,
    /// Opens a new stream: close the one [`Streams::closing`] names first (`new_source` or
    /// `restart`).
    NewStream(&'static str),
}

/// One open stream.
#[derive(Debug, Clone)]
struct Open {
    src: SocketAddr,
    index: u32,
    first_ns: u64,
    last_ns: u64,
    /// Lowest and highest sequence numbers seen.
    seq: Option<(u64, u64)>,
    /// The checker's counts for the source when the stream opened.
    opened: Counts,
}

/// The stream tracker (see the module documentation).
///
/// ```
/// use std::time::Duration;
/// use ringshot::recv::streams::{Admit, Streams};
/// use ringshot::wire::header::pattern_packet;
///
/// // One sender restarting with the same port: the start sequence again opens a new stream.
/// let mut streams = Streams::new(0, Duration::from_millis(500));
/// let src = "10.0.0.1:4000".parse().unwrap();
/// for seq in 0..100 {
///     let p = pattern_packet(0, seq, 64);
///     assert_eq!(streams.admit(None, src, &p, 1, seq * 1000), Admit::Yes);
///     streams.saw(&p);
/// }
/// let again = pattern_packet(0, 0, 64);
/// assert_eq!(streams.admit(None, src, &again, 1, 200_000), Admit::NewStream("restart"));
/// streams.close(None, "restart");
/// let done = streams.take();
/// assert_eq!((done.len(), done[0].first_seq, done[0].last_seq), (1, Some(0), Some(99)));
/// ```
///
/// Two senders at the same time, each with its own stream:
///
/// ```
/// use std::time::Duration;
/// use ringshot::recv::streams::{Admit, Streams};
/// use ringshot::wire::header::pattern_packet;
///
/// let mut streams = Streams::new(0, Duration::from_millis(500)).with_senders(2);
/// let (a, b, c) = (
///     "10.0.0.1:4000".parse().unwrap(),
///     "10.0.0.1:4001".parse().unwrap(),
///     "10.0.0.1:4002".parse().unwrap(),
/// );
/// for seq in 0..10 {
///     let p = pattern_packet(0, seq, 64);
///     for src in [a, b] {
///         assert_eq!(streams.admit(None, src, &p, 1, seq * 1000), Admit::Yes);
///         streams.saw(&p);
///     }
///     assert_eq!(streams.admit(None, c, &p, 1, seq * 1000), Admit::Foreign); // a third
/// }
/// streams.close(None, "end");
/// let done = streams.take();
/// assert_eq!((done.len(), done[1].index, done[1].last_seq), (2, 2, Some(9)));
/// assert_eq!(streams.foreign(), 10);
/// ```
#[derive(Debug)]
pub struct Streams {
    /// Whether to open new streams for a source that follows a quiet one, and on restarts (a
    /// single-run receiver records each followed sender's one stream).
    split: bool,
    /// The data format, whose sequence numbers (if it has any) are read.
    format: Format,
    start_seq: u64,
    idle_ns: u64,
    /// How many streams may be open at a time.
    senders: usize,
    open: Vec<Open>,
    /// Index into `open` of the stream matched last.
    last: usize,
    /// The stream a [`Admit::NewStream`] asked to close.
    pending: Option<usize>,
    opened: u32,
    foreign: ForeignTally,
    closed: Vec<StreamSummary>,
}

impl Streams {
    /// A tracker that opens new streams as the module documentation says.
    pub fn new(start_seq: u64, idle: Duration) -> Streams {
        Streams::with_split(true, start_seq, idle)
    }

    /// A tracker that records each followed sender's one stream and never opens another
    /// (`split` false).
    pub fn with_split(split: bool, start_seq: u64, idle: Duration) -> Streams {
        Streams {
            split,
            format: Format::Ringshot,
            start_seq,
            idle_ns: idle.as_nanos().min(u128::from(u64::MAX)) as u64,
            senders: 1,
            open: Vec::with_capacity(1),
            last: 0,
            pending: None,
            opened: 0,
            foreign: ForeignTally::default(),
            closed: Vec::with_capacity(16),
        }
    }

    /// Reads the sequence numbers of `format` (ringshot's header by default); see the module
    /// documentation.
    pub fn with_format(mut self, format: Format) -> Streams {
        self.format = format;
        self
    }

    /// Follows up to `senders` senders at the same time (1 to
    /// [`MAX_SENDERS`]; 1 by default).
    pub fn with_senders(mut self, senders: usize) -> Streams {
        self.senders = senders.clamp(1, MAX_SENDERS);
        self.open = Vec::with_capacity(self.senders);
        self
    }

    /// Decides about a receive buffer from `src` of `datagrams` datagrams (more than one when GRO
    /// coalesced them; a foreign buffer counts them all) starting with UDP payload `data` (the
    /// first segment of a GRO buffer is enough) that arrived at `at_ns`. `checker` (the sink
    /// stack's) gives a new stream's starting counts. On [`Admit::NewStream`] nothing is
    /// recorded: the caller tells its sink stack that the stream of
    /// [`closing`](Self::closing) ended ([`DatagramSink::end_stream`](super::DatagramSink::end_stream)),
    /// calls [`close`](Self::close), then admits the datagram again (it then opens the new
    /// stream).
    #[inline]
    pub fn admit(
        &mut self,
        checker: Option<&StreamChecker>,
        src: SocketAddr,
        data: &[u8],
        datagrams: u64,
        at_ns: u64,
    ) -> Admit {
        let src = canonical(src);
        if let Some(i) = self.find(src) {
            let s = &self.open[i];
            let quiet = at_ns.saturating_sub(s.last_ns) >= self.idle_ns;
            if self.split
                && self.seq_of(s, data) == Some(self.start_seq)
                && self.restarted(s, quiet)
            {
                self.pending = Some(i);
                return Admit::NewStream("restart");
            }
            self.last = i;
            self.open[i].last_ns = at_ns;
            return Admit::Yes;
        }
        if self.open.len() < self.senders {
            self.opened = self.opened.saturating_add(1);
            self.open.push(Open {
                src,
                index: self.opened,
                first_ns: at_ns,
                last_ns: at_ns,
                seq: None,
                opened: checker.map_or_else(Counts::default, |c| c.source_counts(src)),
            });
            self.last = self.open.len() - 1;
            return Admit::Yes;
        }
        // Every stream is open: a new source takes the place of the one quiet longest, if it
        // has been quiet for the stream idle time.
        let quietest = if self.split {
            (0..self.open.len()).min_by_key(|&i| self.open[i].last_ns)
        } else {
            None
        };
        match quietest {
            Some(i) if at_ns.saturating_sub(self.open[i].last_ns) >= self.idle_ns => {
                self.pending = Some(i);
                Admit::NewStream("new_source")
            }
            _ => {
                self.foreign.count(src, datagrams, Why::SendersBusy);
                Admit::Foreign
            }
        }
    }

    /// The open stream of `src` (canonical): the one matched last, else a scan.
    #[inline]
    fn find(&self, src: SocketAddr) -> Option<usize> {
        match self.open.get(self.last) {
            Some(s) if s.src == src => Some(self.last),
            _ => self.open.iter().position(|s| s.src == src),
        }
    }

    /// The source whose stream the last [`Admit::NewStream`] closes.
    pub fn closing(&self) -> Option<SocketAddr> {
        self.pending.and_then(|i| self.open.get(i)).map(|s| s.src)
    }

    /// Records the sequence number of one admitted datagram (each GRO segment on its own), in
    /// the stream [`admit`](Self::admit) matched.
    #[inline]
    pub fn saw(&mut self, data: &[u8]) {
        let Some(s) = self.open.get(self.last) else {
            return;
        };
        if let Some(n) = self.seq_of(s, data) {
            let s = &mut self.open[self.last];
            s.seq = Some(s.seq.map_or((n, n), |(lo, hi)| (lo.min(n), hi.max(n))));
        }
    }

    /// The sequence number `data` carries in the stream's format, widened against the highest
    /// seen so far in stream `s`.
    #[inline]
    fn seq_of(&self, s: &Open, data: &[u8]) -> Option<u64> {
        let reference = s.seq.map_or(self.start_seq, |(_, hi)| hi);
        sequence(self.format, data, reference)
    }

    fn restarted(&self, s: &Open, quiet: bool) -> bool {
        s.seq.is_some_and(|(_, hi)| {
            hi >= self.start_seq.saturating_add(RESTART_MARGIN) || (quiet && hi > self.start_seq)
        })
    }

    /// Closes the stream the last [`Admit::NewStream`] named (`why`), or, when none is pending,
    /// every open stream (the end of the run), with the checker's counts for their sources now.
    pub fn close(&mut self, checker: Option<&StreamChecker>, why: &'static str) {
        match self.pending.take() {
            Some(i) if i < self.open.len() => {
                let s = self.open.swap_remove(i);
                self.record(s, checker, why);
            }
            Some(_) => {}
            None => {
                while let Some(s) = self.open.pop() {
                    self.record(s, checker, why);
                }
            }
        }
        self.last = 0;
    }

    fn record(&mut self, s: Open, checker: Option<&StreamChecker>, why: &'static str) {
        let now = checker.map_or(s.opened, |c| c.source_counts(s.src));
        let d = now.since(s.opened);
        let seconds = s.last_ns.saturating_sub(s.first_ns) as f64 / 1e9;
        let counted = |n: u64| has_sequence(self.format).then_some(n);
        self.closed.push(StreamSummary {
            index: s.index,
            source: s.src.to_string(),
            packets: d.packets,
            bytes: d.bytes,
            lost: counted(d.lost),
            reordered: counted(d.reordered),
            duplicates: counted(d.duplicates),
            late: counted(d.late),
            seconds,
            pps: if seconds > 0.0 {
                d.packets as f64 / seconds
            } else {
                0.0
            },
            first_seq: s.seq.map(|(lo, _)| lo),
            last_seq: s.seq.map(|(_, hi)| hi),
            closed_by: why,
        });
    }

    /// Datagrams dropped because every followed sender was streaming.
    pub fn foreign(&self) -> u64 {
        self.foreign.datagrams()
    }

    /// The distinct sources of those datagrams (the first
    /// [`MAX_FOREIGN_LISTED`](super::MAX_FOREIGN_LISTED)).
    pub fn foreign_sources(&self) -> &[SocketAddr] {
        self.foreign.sources()
    }

    pub(crate) fn tally(&self) -> &ForeignTally {
        &self.foreign
    }

    /// The streams closed so far, in the order they closed.
    pub fn closed(&self) -> &[StreamSummary] {
        &self.closed
    }

    /// Takes the closed streams (at the end of the run), in the order they opened.
    pub fn take(&mut self) -> Vec<StreamSummary> {
        let mut done = std::mem::take(&mut self.closed);
        done.sort_unstable_by_key(|s| s.index);
        done
    }
}

#[cfg(test)]
#[path = "streams_tests.rs"]
mod tests;
