//! [`StreamChecker`]: the sink that validates ringshot data packets and keeps the counts the
//! report is made of.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::formats::{decode, has_sequence, widen};
use super::framecheck::FramingChecks;
use super::lanes::{Counts, Lanes, Placed};
use super::seq::SeqTracker;
use super::sink::{DatagramSink, RxMeta};
use crate::framing::Format;
use crate::stats::{latency_histogram, record_clamped};
use crate::wire::header::{check_pattern, Packet, Repr, FLAG_PATTERN};
use crate::wire::WireError;

/// Distinct stream ids tracked per sender; packets of further streams are counted as malformed
/// (`unexpected`).
pub const MAX_STREAMS: usize = 16;

/// Parses each datagram as a ringshot data packet, checks its contents (when the header's
/// [`FLAG_PATTERN`] is set and verification is on) and tracks its sequence number per stream id.
/// Malformed datagrams are counted by reason and otherwise ignored; nothing here can panic on
/// network input, and after the first packet of each stream nothing allocates.
///
/// ```
/// use ringshot::recv::{DatagramSink, RxMeta, StreamChecker};
/// use ringshot::wire::header::{pattern_packet, HEADER_LEN};
///
/// let mut c = StreamChecker::new(64, true);
/// let meta = RxMeta { src: "10.0.0.1:4000".parse().unwrap(), at_ns: 0 };
/// for seq in [0, 1, 3] {
///     c.datagram(&pattern_packet(7, seq, 100), &meta);
/// }
/// let mut bad = pattern_packet(7, 4, 100);
/// bad[HEADER_LEN + 10] ^= 0xFF; // a payload byte corrupted in flight
/// c.datagram(&bad, &meta);
/// c.datagram(b"hello", &meta); // not a ringshot packet at all
/// assert_eq!((c.packets(), c.bytes(), c.corrupt()), (4, 400, 1));
/// assert_eq!(c.malformed().get("truncated"), Some(&1));
/// let (stream, tracker) = c.streams().next().unwrap();
/// assert_eq!((stream, tracker.lost()), (7, 1)); // sequence 2 never came
/// assert_eq!(c.seq_range(), (Some(0), Some(4)));
/// assert!(c.sequenced());
/// ```
#[derive(Debug)]
pub struct StreamChecker {
    /// The data format expected (ringshot's header by default).
    format: Format,
    /// One lane per sender tracked at a time (see [`super::lanes`]); one by default.
    lanes: Lanes,
    verify: bool,
    window: usize,
    start_seq: u64,
    max_seq_jump: u64,
    streams: Vec<(u32, SeqTracker)>,
    /// Per stream (same index): the lane (sender) it belongs to.
    lane: Vec<usize>,
    /// Per stream (same index): the TSI of its newest packet.
    tsi: Vec<Option<u32>>,
    /// TSI and SPEAD heap checks.
    framing: FramingChecks,
    /// Index into `streams` of the last stream seen (the common case is one stream).
    last: usize,
    packets: u64,
    bytes: u64,
    corrupt: u64,
    malformed: [u64; WireError::ALL.len()],
    gaps: Histogram<u64>,
    first_ns: Option<u64>,
    last_ns: u64,
    /// Per-interval gaps, when a time series was asked for.
    series: Option<super::gaps::GapSeries>,
}

impl StreamChecker {
    /// A checker with a reorder window of `window` sequence numbers per stream; `verify` turns
    /// the payload pattern check on.
    pub fn new(window: usize, verify: bool) -> StreamChecker {
        StreamChecker {
            format: Format::Ringshot,
            lanes: Lanes::new(1),
            verify,
            window,
            start_seq: 0,
            max_seq_jump: super::seq::DEFAULT_MAX_SEQ_JUMP,
            streams: Vec::with_capacity(MAX_STREAMS),
            lane: Vec::with_capacity(MAX_STREAMS),
            tsi: Vec::with_capacity(MAX_STREAMS),
            framing: FramingChecks::new(1),
            last: 0,
            packets: 0,
            bytes: 0,
            corrupt: 0,
            malformed: [0; WireError::ALL.len()],
            gaps: latency_histogram(),
            first_ns: None,
            last_ns: 0,
            series: None,
        }
    }

    /// Turns the payload pattern check on or off.
    pub fn with_verify(mut self, verify: bool) -> StreamChecker {
        self.verify = verify;
        self
    }

    /// Also keep the gaps per interval of `period` (see [`super::GapInterval`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use ringshot::recv::{DatagramSink, RxMeta, StreamChecker};
    /// use ringshot::wire::header::pattern_packet;
    ///
    /// let mut c = StreamChecker::new(64, true).with_timeline(Some(Duration::from_millis(1)));
    /// for (seq, at_ns) in [(0, 0), (1, 400_000), (2, 1_500_000), (3, 1_600_000)] {
    ///     let meta = RxMeta { src: "10.0.0.1:4000".parse().unwrap(), at_ns };
    ///     c.datagram(&pattern_packet(0, seq, 64), &meta);
    /// }
    /// let (intervals, _first) = c.gap_timeline();
    /// assert!(!intervals.is_empty());
    /// assert!(c.gaps().max() >= 1_000_000); // the 1.1 ms gap
    /// ```
    pub fn with_timeline(mut self, period: Option<Duration>) -> StreamChecker {
        self.series = period.map(super::gaps::GapSeries::new);
        self
    }

    /// The gap series so far (empty without a timeline), and the first packet's wall time.
    pub fn gap_timeline(&self) -> (Vec<super::GapInterval>, Option<std::time::SystemTime>) {
        match &self.series {
            Some(s) => (s.intervals(self.last_ns), s.started()),
            None => (Vec::new(), None),
        }
    }

    /// Valid ringshot packets received (duplicates included).
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// UDP payload bytes of those packets.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Packets whose payload failed the pattern check.
    pub fn corrupt(&self) -> u64 {
        self.corrupt
    }

    /// Seconds from the first to the last packet.
    pub fn seconds(&self) -> f64 {
        self.first_ns
            .map_or(0.0, |f| self.last_ns.saturating_sub(f) as f64 / 1e9)
    }

    /// Inter-arrival gaps between consecutive packets, ns.
    pub fn gaps(&self) -> &Histogram<u64> {
        &self.gaps
    }

    /// Malformed datagrams by reason ([`WireError::name`]), non-zero ones only.
    pub fn malformed(&self) -> BTreeMap<String, u64> {
        malformed_by_name(&self.malformed)
    }

    /// Breaches of the streams' timelines (TSI backwards, SPEAD heap sequence) by reason, non-zero
    /// ones only.
    pub fn framing_errors(&self) -> BTreeMap<String, u64> {
        self.framing.by_name()
    }

    /// SPEAD: the heap cnt step between the sender's heaps (1 unless several senders share the
    /// stream), for the heap sequence check.
    pub fn with_heap_cnt_step(mut self, step: u64) -> StreamChecker {
        self.framing = FramingChecks::new(step);
        self
    }

    /// Malformed datagrams of one reason.
    ///
    /// ```
    /// use ringshot::recv::{DatagramSink, RxMeta, StreamChecker};
    /// use ringshot::wire::WireError;
    ///
    /// let mut c = StreamChecker::new(64, true);
    /// let meta = RxMeta { src: "10.0.0.1:4000".parse().unwrap(), at_ns: 0 };
    /// c.datagram(&[b'X'; 32], &meta);
    /// assert_eq!(c.malformed_count(WireError::BadMagic), 1);
    /// ```
    pub fn malformed_count(&self, reason: WireError) -> u64 {
        self.malformed[reason as usize]
    }

    /// The per-stream trackers, by stream id, in order of first appearance.
    pub fn streams(&self) -> impl Iterator<Item = (u32, &SeqTracker)> {
        self.streams.iter().map(|(id, t)| (*id, t))
    }

    /// Sums of the per-stream counts: (lost, reordered, duplicates, late).
    ///
    /// ```
    /// use ringshot::recv::{DatagramSink, RxMeta, StreamChecker};
    /// use ringshot::wire::header::pattern_packet;
    ///
    /// let mut c = StreamChecker::new(64, false);
    /// let meta = RxMeta { src: "10.0.0.1:4000".parse().unwrap(), at_ns: 0 };
    /// for seq in [0, 2, 1, 1] {
    ///     c.datagram(&pattern_packet(0, seq, 64), &meta);
    /// }
    /// let (lost, reordered, duplicates, late) = c.totals();
    /// assert_eq!((lost, reordered, duplicates, late), (0, 1, 1, 0));
    /// ```
    pub fn totals(&self) -> (u64, u64, u64, u64) {
        self.streams
            .iter()
            .fold((0, 0, 0, 0), |(l, r, d, la), (_, t)| {
                let c = t.counts();
                (l + t.lost(), r + c.reordered, d + c.duplicates, la + c.late)
            })
    }

    /// Lowest and highest sequence numbers believed, over all streams.
    pub fn seq_range(&self) -> (Option<u64>, Option<u64>) {
        let lowest = self.streams.iter().filter_map(|(_, t)| t.lowest()).min();
        let highest = self.streams.iter().filter_map(|(_, t)| t.highest()).max();
        (lowest, highest)
    }

    /// Arrivals not believed because they were implausibly far ahead, over all streams.
    pub fn implausible(&self) -> u64 {
        self.streams
            .iter()
            .map(|(_, t)| t.counts().implausible)
            .sum()
    }

    /// Sets the bound on a believable sequence jump (see [`SeqTracker`]) for streams seen from
    /// now on.
    ///
    /// ```
    /// use ringshot::recv::{DatagramSink, RxMeta, StreamChecker};
    /// use ringshot::wire::header::pattern_packet;
    ///
    /// let mut c = StreamChecker::new(64, true).with_max_seq_jump(1000);
    /// let meta = RxMeta { src: "10.0.0.1:4000".parse().unwrap(), at_ns: 0 };
    /// c.datagram(&pattern_packet(0, 0, 64), &meta);
    /// c.datagram(&pattern_packet(0, 5_000_000, 64), &meta); // a forged sequence number
    /// assert_eq!((c.implausible(), c.totals().0), (1, 0));
    /// ```
    pub fn with_max_seq_jump(mut self, max_jump: u64) -> StreamChecker {
        self.max_seq_jump = max_jump;
        self
    }

    /// Forgets every stream's window (a device restart): see [`SeqTracker::restart`].
    ///
    /// ```
    /// use ringshot::recv::{DatagramSink, RxMeta, StreamChecker};
    /// use ringshot::wire::header::pattern_packet;
    ///
    /// let mut c = StreamChecker::new(64, true);
    /// let meta = RxMeta { src: "10.0.0.1:4000".parse().unwrap(), at_ns: 0 };
    /// c.datagram(&pattern_packet(0, 0, 64), &meta);
    /// c.datagram(&pattern_packet(0, 1, 64), &meta);
    /// c.restart(); // the sender started again from 0
    /// c.datagram(&pattern_packet(0, 0, 64), &meta);
    /// assert_eq!((c.packets(), c.totals().2), (3, 0)); // no duplicate: a new stream
    /// ```
    pub fn restart(&mut self) {
        for (_, t) in &mut self.streams {
            t.restart();
        }
        self.tsi.fill(None);
        self.framing.restart();
    }

    /// Expect data packets of `format` and track its own sequence counter (USRP2 word, VRT
    /// packet count, CHDR SeqNum; see [`super::formats`]). A format without sequence numbers
    /// (raw, SPEAD) gets no sequence accounting at all: nothing lost, reordered, duplicate or
    /// late, no sequence range. In a format other than ringshot's, the payload pattern is
    /// checked whenever verification is on (there are no flags to say so); without sequence
    /// numbers, against the order of arrival.
    ///
    /// ```
    /// use ringshot::framing::{Format, Framing, Stamper};
    /// use ringshot::recv::{DatagramSink, RxMeta, StreamChecker};
    ///
    /// // Check a VRT stream: the sequence is the 4-bit packet count, widened as it goes.
    /// let mut c = StreamChecker::new(64, true).with_format(Format::Vrt);
    /// let mut st = Stamper::new(Framing::of(Format::Vrt), 1);
    /// let meta = RxMeta { src: "10.0.0.1:4000".parse().unwrap(), at_ns: 0 };
    /// let mut buf = [0u8; 64];
    /// for seq in 0..40 {
    ///     let len = st.stamp(&mut buf, seq, 0, 16);
    ///     c.datagram(&buf[..len], &meta);
    /// }
    /// assert_eq!((c.format(), c.packets(), c.totals().0), (Format::Vrt, 40, 0));
    /// ```
    pub fn with_format(mut self, format: Format) -> StreamChecker {
        self.format = format;
        self
    }

    /// The data format expected.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Whether the format carries sequence numbers, so that the sequence counts
    /// ([`totals`](Self::totals), [`seq_range`](Self::seq_range), [`implausible`](Self::implausible))
    /// mean anything; see [`super::formats::has_sequence`].
    pub fn sequenced(&self) -> bool {
        has_sequence(self.format)
    }

    /// Streams start at sequence `start` instead of 0 (the sender's `--start-seq`).
    ///
    /// ```
    /// use ringshot::recv::{DatagramSink, RxMeta, StreamChecker};
    /// use ringshot::wire::header::pattern_packet;
    ///
    /// let mut c = StreamChecker::new(64, true).with_start_seq(100);
    /// let meta = RxMeta { src: "10.0.0.1:4000".parse().unwrap(), at_ns: 0 };
    /// c.datagram(&pattern_packet(0, 101, 64), &meta);
    /// assert_eq!(c.totals().0, 1); // 100 was sent first and never came
    /// ```
    pub fn with_start_seq(mut self, start: u64) -> StreamChecker {
        self.start_seq = start;
        self
    }

    #[inline]
    fn tracker(&mut self, lane: usize, stream: u32) -> Option<&mut SeqTracker> {
        let i = self.stream_index(lane, stream)?;
        Some(&mut self.streams[i].1)
    }

    /// The index of `stream`'s tracker in `lane`, making one for a new stream (up to
    /// [`MAX_STREAMS`] per lane).
    #[inline]
    fn stream_index(&mut self, lane: usize, stream: u32) -> Option<usize> {
        let at = |c: &Self, i: usize| c.lane[i] == lane && c.streams[i].0 == stream;
        if self.last < self.streams.len() && at(self, self.last) {
            return Some(self.last);
        }
        let i = match (0..self.streams.len()).find(|&i| at(self, i)) {
            Some(i) => i,
            None if self.streams.len() < MAX_STREAMS * self.lanes.senders() => {
                let t = SeqTracker::with_start(self.window, self.start_seq)
                    .with_max_jump(self.max_seq_jump);
                self.streams.push((stream, t));
                self.lane.push(lane);
                self.tsi.push(None);
                self.streams.len() - 1
            }
            None => return None,
        };
        self.last = i;
        Some(i)
    }

    /// The lane of a datagram from `src`; `None` when every lane is taken (see
    /// [`super::lanes`]).
    #[inline]
    fn lane_of(&mut self, src: std::net::SocketAddr) -> Option<usize> {
        match self.lanes.place(src)? {
            Placed::In(i) => Some(i),
            Placed::Bound(i) => {
                let seq = self.seq_counts(i);
                self.lanes.rebase(i, seq);
                Some(i)
            }
        }
    }

    /// The sequence counts of lane `i`'s trackers (packets and bytes left 0).
    fn seq_counts(&self, i: usize) -> Counts {
        let mut c = Counts::default();
        for ((_, t), _) in self
            .streams
            .iter()
            .zip(&self.lane)
            .filter(|(_, l)| **l == i)
        {
            let n = t.counts();
            c.lost += t.lost();
            c.reordered += n.reordered;
            c.duplicates += n.duplicates;
            c.late += n.late;
        }
        c
    }

    /// Tracks up to `senders` senders at the same time, each by its source address with
    /// trackers of its own (1, the default, checks whatever the receiver lets through as one
    /// sender; at most [`MAX_SENDERS`](super::lanes::MAX_SENDERS)). Datagrams from a further
    /// source while every lane is taken are counted as malformed (`unexpected`); a receiver
    /// configured with the same [`senders`](super::RecvConfigBuilder::senders) never passes
    /// one on.
    ///
    /// ```
    /// use ringshot::recv::{DatagramSink, RxMeta, StreamChecker};
    /// use ringshot::wire::header::pattern_packet;
    ///
    /// // Two senders, both on stream id 0 from sequence 0, interleaved: each checked on its own.
    /// let mut c = StreamChecker::new(64, true).with_senders(2);
    /// let a = RxMeta { src: "10.0.0.1:4000".parse().unwrap(), at_ns: 0 };
    /// let b = RxMeta { src: "10.0.0.2:4000".parse().unwrap(), at_ns: 0 };
    /// for seq in 0..10 {
    ///     c.datagram(&pattern_packet(0, seq, 64), &a);
    ///     if seq != 4 {
    ///         c.datagram(&pattern_packet(0, seq, 64), &b); // b's 4 is lost
    ///     }
    /// }
    /// assert_eq!((c.packets(), c.senders()), (19, 2));
    /// assert_eq!(c.totals(), (1, 0, 0, 0)); // one lost, no duplicates: two sequence spaces
    /// ```
    pub fn with_senders(mut self, senders: usize) -> StreamChecker {
        self.lanes = Lanes::new(senders);
        let n = MAX_STREAMS * self.lanes.senders();
        self.streams.reserve(n);
        self.lane.reserve(n);
        self.tsi.reserve(n);
        self
    }

    /// How many senders it tracks at the same time ([`with_senders`](Self::with_senders)).
    pub fn senders(&self) -> usize {
        self.lanes.senders()
    }

    /// The counts of `src`'s lane since the lane was bound to it (with one lane: of the whole
    /// run); zero when `src` has no lane.
    pub(crate) fn source_counts(&self, src: std::net::SocketAddr) -> Counts {
        match self.lanes.find(src) {
            Some(i) => self.lanes.counts(i, self.seq_counts(i)),
            None => Counts::default(),
        }
    }

    #[inline]
    fn reject(&mut self, e: WireError) {
        self.malformed[e as usize] += 1;
    }
}

impl DatagramSink for StreamChecker {
    #[inline]
    fn datagram(&mut self, payload: &[u8], meta: &RxMeta) {
        if self.format != Format::Ringshot {
            return self.foreign(payload, meta);
        }
        let packet = Packet::new_unchecked(payload);
        let repr = match Repr::parse(&packet) {
            Ok(r) => r,
            Err(e) => return self.reject(e),
        };
        let Some(lane) = self.lane_of(meta.src) else {
            return self.reject(WireError::Unexpected);
        };
        let Some(tracker) = self.tracker(lane, repr.stream_id) else {
            return self.reject(WireError::Unexpected);
        };
        tracker.record(repr.seq);
        if self.verify
            && repr.flags & FLAG_PATTERN != 0
            && !check_pattern(repr.seq, packet.payload())
        {
            self.corrupt += 1;
        }
        self.arrived(lane, payload.len(), meta);
    }

    fn checker(&self) -> Option<&StreamChecker> {
        Some(self)
    }

    fn new_stream(&mut self) {
        self.restart();
        self.lanes.restart_arrivals();
    }

    /// With one lane, [`new_stream`](DatagramSink::new_stream); with several, forgets the
    /// windows of `src`'s trackers only and lets another source take its lane over.
    fn end_stream(&mut self, src: std::net::SocketAddr) {
        if self.lanes.senders() == 1 {
            return self.new_stream();
        }
        let Some(lane) = self.lanes.end(src) else {
            return;
        };
        for i in 0..self.streams.len() {
            if self.lane[i] == lane {
                self.streams[i].1.restart();
                self.tsi[i] = None;
            }
        }
    }
}

impl StreamChecker {
    /// A datagram in a format other than ringshot's: decode, widen its counter, track it.
    fn foreign(&mut self, datagram: &[u8], meta: &RxMeta) {
        let d = match decode(self.format, datagram) {
            Ok(d) => d,
            Err(e) => return self.reject(e),
        };
        let Some(lane) = self.lane_of(meta.src) else {
            return self.reject(WireError::Unexpected);
        };
        if d.seq_bits == 0 {
            return self.unsequenced(lane, &d, datagram.len(), meta);
        }
        let start = self.start_seq;
        let Some(i) = self.stream_index(lane, d.stream_id) else {
            return self.reject(WireError::Unexpected);
        };
        let tracker = &mut self.streams[i].1;
        let reference = tracker.highest().unwrap_or(start);
        let seq = widen(d.wire_seq, d.seq_bits, reference);
        let newest = tracker.highest().is_none_or(|h| seq > h);
        tracker.record(seq);
        if let (Some(t), true) = (d.tsi, newest) {
            self.framing.tsi(&mut self.tsi[i], t);
        }
        if self.verify && !check_pattern(seq, d.payload) {
            self.corrupt += 1;
        }
        self.arrived(lane, datagram.len(), meta);
    }

    /// A datagram of a format without sequence numbers (raw, SPEAD): no sequence tracker sees
    /// it; the SPEAD heap checks do, and the pattern check follows the order of arrival.
    fn unsequenced(
        &mut self,
        lane: usize,
        d: &super::formats::Decoded<'_>,
        len: usize,
        meta: &RxMeta,
    ) {
        if let Some(pos) = d.heap {
            self.framing.heap(pos, d.payload.len() as u64);
        }
        let seq = self.start_seq.saturating_add(self.lanes.next_arrival(lane));
        if self.verify && !check_pattern(seq, d.payload) {
            self.corrupt += 1;
        }
        self.arrived(lane, len, meta);
    }

    #[inline]
    fn arrived(&mut self, lane: usize, len: usize, meta: &RxMeta) {
        self.lanes.arrived(lane, len);
        self.packets += 1;
        self.bytes += len as u64;
        let gap = match self.first_ns {
            None => {
                self.first_ns = Some(meta.at_ns);
                None
            }
            Some(_) => {
                let g = meta.at_ns.saturating_sub(self.last_ns);
                record_clamped(&mut self.gaps, g);
                Some(g)
            }
        };
        if let Some(s) = &mut self.series {
            s.arrived(meta.at_ns.max(self.last_ns), gap);
        }
        self.last_ns = self.last_ns.max(meta.at_ns);
    }
}

/// Counts of malformed datagrams indexed by reason ([`WireError::ALL`]) as a map from reason
/// name ([`WireError::name`]) to count, non-zero ones only.
pub(crate) fn malformed_by_name(counts: &[u64; WireError::ALL.len()]) -> BTreeMap<String, u64> {
    WireError::ALL
        .iter()
        .zip(counts)
        .filter(|(_, n)| **n > 0)
        .map(|(r, n)| (r.name().to_string(), *n))
        .collect()
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;
