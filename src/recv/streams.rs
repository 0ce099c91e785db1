//! Streams: a reusable receiver's view of who sent what, one stream after another.
//!
//! A receiver that is not told otherwise ([`super::RecvConfigBuilder::streams`]) follows one
//! sender at a time, as an iperf3 server serves one client at a time:
//!
//! - the first datagram's source opens stream 1;
//! - a datagram from another source while the followed sender is still streaming (heard from
//!   within the stream idle time, [`DEFAULT_STREAM_IDLE`]) is counted as `foreign` and dropped
//!   unchecked, as a single-run receiver does;
//! - a datagram from another source once the followed sender has been quiet for the stream idle
//!   time closes the stream and opens a new one from that source;
//! - a datagram from the followed source that carries the start sequence again, after that
//!   source got at least [`RESTART_MARGIN`] packets past it or after a quiet stream idle time,
//!   is a restarted sender (`--bind` with a fixed port): it closes the stream and opens a new one.
//!   The sequence is read as the format has it ([`super::formats::sequence`]: a narrow counter
//!   widened against the highest seen, so a wrap of CHDR's 16-bit SeqNum is not a restart). A
//!   format without sequence numbers (raw, SPEAD) never restarts on a sequence value: its
//!   streams are told apart by source alone, and their summaries carry no sequence counts.
//!
//! Closing a stream records its [`StreamSummary`] (the differences of the checker's running
//! totals since it opened) and forgets the sequence windows, so the next stream's numbers are
//! neither duplicates nor late. A concurrent second sender is not tracked as its own stream:
//! that would need a checker per source on the per-packet path.
//!
//! Per datagram this costs a comparison of addresses and, for the followed sender, one read of
//! the packet's sequence number; nothing allocates but the closing of a stream.

use std::net::SocketAddr;
use std::time::Duration;

#[cfg(feature = "serde")]
use serde::Serialize;

use super::check::StreamChecker;
use super::formats::{has_sequence, sequence};
use crate::framing::Format;

/// Default quiet time after which the followed sender's stream is over for a new source.
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
    /// 1 for the first stream of the run.
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
/// assert_eq!(streams.admit(a, &first, 1, 0), Admit::Yes); // opens stream 1
/// streams.saw(&first);
/// assert_eq!(streams.admit(b, &first, 1, 1_000_000), Admit::Foreign); // a is still streaming
/// // A second later a has gone quiet: b opens a new stream once the first is closed.
/// assert_eq!(streams.admit(b, &first, 1, 1_000_000_000), Admit::NewStream("new_source"));
/// streams.close(None, "new_source");
/// assert_eq!(streams.admit(b, &first, 1, 1_000_000_000), Admit::Yes);
/// assert_eq!((streams.closed().len(), streams.foreign()), (1, 1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// From the followed sender, in the current stream.
    Yes,
    /// From another source while the followed sender streams: drop and count.
    Foreign,
    /// Opens a new stream: close the current one first (`new_source` or `restart`).
    NewStream(&'static str),
}

/// Running totals of a checker, to take differences of.
#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    packets: u64,
    bytes: u64,
    lost: u64,
    reordered: u64,
    duplicates: u64,
    late: u64,
}

impl Totals {
    fn of(c: Option<&StreamChecker>) -> Totals {
        let Some(c) = c else {
            return Totals::default();
        };
        let (lost, reordered, duplicates, late) = c.totals();
        Totals {
            packets: c.packets(),
            bytes: c.bytes(),
            lost,
            reordered,
            duplicates,
            late,
        }
    }
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
///     assert_eq!(streams.admit(src, &p, 1, seq * 1000), Admit::Yes);
///     streams.saw(&p);
/// }
/// let again = pattern_packet(0, 0, 64);
/// assert_eq!(streams.admit(src, &again, 1, 200_000), Admit::NewStream("restart"));
/// streams.close(None, "restart");
/// let done = streams.take();
/// assert_eq!((done.len(), done[0].first_seq, done[0].last_seq), (1, Some(0), Some(99)));
/// ```
#[derive(Debug)]
pub struct Streams {
    /// Whether to open new streams at all (a single-run receiver only records its one stream).
    split: bool,
    /// The data format, whose sequence numbers (if it has any) are read.
    format: Format,
    start_seq: u64,
    idle_ns: u64,
    followed: Option<SocketAddr>,
    foreign: u64,
    last_ns: u64,
    first_ns: u64,
    seq: Option<(u64, u64)>,
    opened: Totals,
    closed: Vec<StreamSummary>,
}

impl Streams {
    /// A tracker that opens new streams as the module documentation says.
    pub fn new(start_seq: u64, idle: Duration) -> Streams {
        Streams::with_split(true, start_seq, idle)
    }

    /// A tracker that records one stream and never opens another (`split` false).
    pub fn with_split(split: bool, start_seq: u64, idle: Duration) -> Streams {
        Streams {
            split,
            format: Format::Ringshot,
            start_seq,
            idle_ns: idle.as_nanos().min(u128::from(u64::MAX)) as u64,
            followed: None,
            foreign: 0,
            last_ns: 0,
            first_ns: 0,
            seq: None,
            opened: Totals::default(),
            closed: Vec::with_capacity(16),
        }
    }

    /// Reads the sequence numbers of `format` (ringshot's header by default); see the module
    /// documentation.
    pub fn with_format(mut self, format: Format) -> Streams {
        self.format = format;
        self
    }

    /// Decides about a receive buffer from `src` of `datagrams` datagrams (more than one when GRO
    /// coalesced them; a foreign buffer counts them all) starting with UDP payload `data` (the
    /// first segment of a GRO buffer is enough) that arrived at `at_ns`. On [`Admit::NewStream`] nothing is recorded:
    /// the caller resets its checker's windows, calls [`close`](Self::close), then admits the
    /// datagram again (it then opens the new stream).
    #[inline]
    pub fn admit(&mut self, src: SocketAddr, data: &[u8], datagrams: u64, at_ns: u64) -> Admit {
        let src = SocketAddr::new(src.ip().to_canonical(), src.port());
        let quiet = at_ns.saturating_sub(self.last_ns) >= self.idle_ns;
        match self.followed {
            None => {
                self.followed = Some(src);
                self.first_ns = at_ns;
            }
            Some(_) if !self.split => {}
            Some(f) if f != src => {
                if !quiet {
                    self.foreign += datagrams;
                    return Admit::Foreign;
                }
                return Admit::NewStream("new_source");
            }
            Some(_) => {
                if self.seq_of(data) == Some(self.start_seq) && self.restarted(quiet) {
                    return Admit::NewStream("restart");
                }
            }
        }
        self.last_ns = at_ns;
        Admit::Yes
    }

    /// Records the sequence number of one admitted datagram (each GRO segment on its own).
    #[inline]
    pub fn saw(&mut self, data: &[u8]) {
        if let Some(s) = self.seq_of(data) {
            self.seq = Some(self.seq.map_or((s, s), |(lo, hi)| (lo.min(s), hi.max(s))));
        }
    }

    /// The sequence number `data` carries in the stream's format, widened against the highest
    /// seen so far.
    #[inline]
    fn seq_of(&self, data: &[u8]) -> Option<u64> {
        let reference = self.seq.map_or(self.start_seq, |(_, hi)| hi);
        sequence(self.format, data, reference)
    }

    fn restarted(&self, quiet: bool) -> bool {
        self.seq.is_some_and(|(_, hi)| {
            hi >= self.start_seq.saturating_add(RESTART_MARGIN) || (quiet && hi > self.start_seq)
        })
    }

    /// Closes the current stream (`why`), if one is open, with the checker's totals now (after
    /// the caller reset its windows, which settles what the stream lost).
    pub fn close(&mut self, checker: Option<&StreamChecker>, why: &'static str) {
        let Some(src) = self.followed.take() else {
            return;
        };
        let now = Totals::of(checker);
        let o = self.opened;
        let seconds = self.last_ns.saturating_sub(self.first_ns) as f64 / 1e9;
        let packets = now.packets.saturating_sub(o.packets);
        let counted =
            |now: u64, then: u64| has_sequence(self.format).then(|| now.saturating_sub(then));
        let (first_seq, last_seq) = match self.seq.take() {
            Some((lo, hi)) => (Some(lo), Some(hi)),
            None => (None, None),
        };
        self.closed.push(StreamSummary {
            index: u32::try_from(self.closed.len() + 1).unwrap_or(u32::MAX),
            source: src.to_string(),
            packets,
            bytes: now.bytes.saturating_sub(o.bytes),
            lost: counted(now.lost, o.lost),
            reordered: counted(now.reordered, o.reordered),
            duplicates: counted(now.duplicates, o.duplicates),
            late: counted(now.late, o.late),
            seconds,
            pps: if seconds > 0.0 {
                packets as f64 / seconds
            } else {
                0.0
            },
            first_seq,
            last_seq,
            closed_by: why,
        });
        self.opened = now;
    }

    /// Datagrams dropped because another sender was streaming.
    pub fn foreign(&self) -> u64 {
        self.foreign
    }

    /// The streams closed so far, oldest first.
    pub fn closed(&self) -> &[StreamSummary] {
        &self.closed
    }

    /// Takes the closed streams (at the end of the run).
    pub fn take(&mut self) -> Vec<StreamSummary> {
        std::mem::take(&mut self.closed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recv::sink::{DatagramSink, RxMeta};
    use crate::wire::header::{Packet, Repr};

    fn packet(seq: u64) -> Vec<u8> {
        let mut b = vec![0u8; 64];
        Repr {
            stream_id: 0,
            seq,
            flags: 0,
        }
        .emit(&mut Packet::new_unchecked(&mut b[..]));
        b
    }

    /// Feeds `seqs` from `src` starting at `t0` ms, 1 ms apart, as `drive` does.
    fn feed(
        st: &mut Streams,
        c: &mut StreamChecker,
        src: &str,
        seqs: std::ops::Range<u64>,
        t0: u64,
    ) {
        feed_packets(st, c, src, seqs.map(packet), t0);
    }

    /// Feeds `packets` from `src` starting at `t0` ms, 1 ms apart, as `drive` does.
    fn feed_packets(
        st: &mut Streams,
        c: &mut StreamChecker,
        src: &str,
        packets: impl Iterator<Item = Vec<u8>>,
        t0: u64,
    ) {
        let src: SocketAddr = src.parse().unwrap();
        for (i, p) in packets.enumerate() {
            let at = (t0 + i as u64) * 1_000_000;
            let mut v = st.admit(src, &p, 1, at);
            if let Admit::NewStream(why) = v {
                c.restart();
                st.close(Some(c), why);
                v = st.admit(src, &p, 1, at);
            }
            if v == Admit::Yes {
                st.saw(&p);
                c.datagram(&p, &RxMeta { src, at_ns: at });
            }
        }
    }

    #[test]
    fn a_second_sender_after_the_first_is_a_new_stream_not_duplicates() {
        let mut st = Streams::new(0, DEFAULT_STREAM_IDLE);
        let mut c = StreamChecker::new(4096, false);
        feed(&mut st, &mut c, "127.0.0.1:4000", 0..1000, 0);
        // Concurrent: another source while the first streams is foreign.
        feed(&mut st, &mut c, "127.0.0.1:4001", 0..3, 1000);
        feed(&mut st, &mut c, "127.0.0.1:4001", 0..1000, 3000);
        // The same source restarting from 0 at once.
        feed(&mut st, &mut c, "127.0.0.1:4001", 0..500, 4000);
        c.restart();
        st.close(Some(&c), "end");
        let s = st.take();
        assert_eq!(st.foreign(), 3);
        assert_eq!(s.len(), 3, "{s:?}");
        for (x, (n, src, why)) in s.iter().zip([
            (1000, "127.0.0.1:4000", "new_source"),
            (1000, "127.0.0.1:4001", "restart"),
            (500, "127.0.0.1:4001", "end"),
        ]) {
            assert_eq!(
                (x.packets, x.source.as_str(), x.closed_by),
                (n, src, why),
                "{x:?}"
            );
            assert_eq!(
                (x.lost, x.duplicates, x.late),
                (Some(0), Some(0), Some(0)),
                "{x:?}"
            );
            assert_eq!((x.first_seq, x.last_seq), (Some(0), Some(n - 1)));
        }
        assert_eq!(c.totals().2, 0, "no duplicates over the run");
    }

    #[test]
    fn a_duplicate_of_the_first_packet_is_not_a_restart() {
        let mut st = Streams::new(0, DEFAULT_STREAM_IDLE);
        let mut c = StreamChecker::new(4096, false);
        feed(&mut st, &mut c, "127.0.0.1:4000", 0..10, 0);
        feed(&mut st, &mut c, "127.0.0.1:4000", 0..1, 10);
        feed(&mut st, &mut c, "127.0.0.1:4000", 10..20, 11);
        st.close(Some(&c), "end");
        let s = st.take();
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].packets, s[0].duplicates), (21, Some(1)));
        assert_eq!(Streams::new(0, DEFAULT_STREAM_IDLE).take().len(), 0);
    }

    /// Raw datagrams have no sequence number: bytes that would be ringshot's sequence 0 (the
    /// start) after many packets are not a restart, and the stream's summary has no sequence
    /// counts.
    #[test]
    fn raw_streams_never_restart_on_bytes() {
        let mut st = Streams::new(0, DEFAULT_STREAM_IDLE).with_format(Format::Raw);
        let mut c = StreamChecker::new(4096, false).with_format(Format::Raw);
        let packets = (1000..1100)
            .chain([0])
            .chain(1100..1200)
            .map(packet)
            .chain([vec![0u8; 64]]);
        feed_packets(&mut st, &mut c, "127.0.0.1:4000", packets, 0);
        st.close(Some(&c), "end");
        let s = st.take();
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!((s[0].packets, s[0].closed_by), (202, "end"));
        assert_eq!(
            (s[0].lost, s[0].reordered, s[0].duplicates, s[0].late),
            (None, None, None, None)
        );
        assert_eq!((s[0].first_seq, s[0].last_seq), (None, None));
    }

    /// CHDR's 16-bit SeqNum is read as CHDR has it and widened: its wrap to 0 is not a restart,
    /// a sender starting again from 0 early on is.
    #[test]
    fn chdr_streams_restart_on_their_own_counter_not_its_wrap() {
        use crate::framing::{Framing, Stamper};
        let mut stamper = Stamper::new(Framing::of(Format::Chdr), 0);
        let mut chdr = |seq: u64| {
            let mut buf = vec![0u8; 64];
            let h = stamper.header_len();
            let n = stamper.stamp(&mut buf, seq, 0, 8);
            buf.truncate(n.max(h));
            buf
        };
        let first: Vec<Vec<u8>> = (0..1000).map(&mut chdr).collect();
        let second: Vec<Vec<u8>> = (0..70_000).map(&mut chdr).collect();
        let mut st = Streams::new(0, DEFAULT_STREAM_IDLE).with_format(Format::Chdr);
        let mut c = StreamChecker::new(4096, false).with_format(Format::Chdr);
        feed_packets(&mut st, &mut c, "127.0.0.1:4000", first.into_iter(), 0);
        feed_packets(&mut st, &mut c, "127.0.0.1:4000", second.into_iter(), 1000);
        st.close(Some(&c), "end");
        let s = st.take();
        assert_eq!(s.len(), 2, "{s:?}");
        for (x, (n, why)) in s.iter().zip([(1000, "restart"), (70_000, "end")]) {
            assert_eq!((x.packets, x.closed_by), (n, why), "{x:?}");
            assert_eq!((x.lost, x.duplicates), (Some(0), Some(0)), "{x:?}");
            assert_eq!((x.first_seq, x.last_seq), (Some(0), Some(n - 1)), "{x:?}");
        }
    }
}
