//! [`StreamChecker`]: the sink that validates ringshot data packets and keeps the counts the
//! report is made of.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::formats::{decode, has_sequence, widen};
use super::framecheck::FramingChecks;
use super::seq::SeqTracker;
use super::sink::{DatagramSink, RxMeta};
use crate::framing::Format;
use crate::stats::{latency_histogram, record_clamped};
use crate::wire::header::{check_pattern, Packet, Repr, FLAG_PATTERN};
use crate::wire::WireError;

/// Distinct stream ids tracked; packets of further streams are counted as malformed
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
    /// Datagrams of a format without sequence numbers so far in this stream: the n-th carries
    /// the check pattern of sequence `start_seq + n`, if it carries the pattern at all.
    arrivals: u64,
    verify: bool,
    window: usize,
    start_seq: u64,
    max_seq_jump: u64,
    streams: Vec<(u32, SeqTracker)>,
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
            arrivals: 0,
            verify,
            window,
            start_seq: 0,
            max_seq_jump: super::seq::DEFAULT_MAX_SEQ_JUMP,
            streams: Vec::with_capacity(MAX_STREAMS),
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
    fn tracker(&mut self, stream: u32) -> Option<&mut SeqTracker> {
        let i = self.stream_index(stream)?;
        Some(&mut self.streams[i].1)
    }

    /// The index of `stream`'s tracker, making one for a new stream (up to [`MAX_STREAMS`]).
    #[inline]
    fn stream_index(&mut self, stream: u32) -> Option<usize> {
        if self
            .streams
            .get(self.last)
            .is_some_and(|(id, _)| *id == stream)
        {
            return Some(self.last);
        }
        let i = match self.streams.iter().position(|(id, _)| *id == stream) {
            Some(i) => i,
            None if self.streams.len() < MAX_STREAMS => {
                let t = SeqTracker::with_start(self.window, self.start_seq)
                    .with_max_jump(self.max_seq_jump);
                self.streams.push((stream, t));
                self.tsi.push(None);
                self.streams.len() - 1
            }
            None => return None,
        };
        self.last = i;
        Some(i)
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
        let Some(tracker) = self.tracker(repr.stream_id) else {
            return self.reject(WireError::Unexpected);
        };
        tracker.record(repr.seq);
        if self.verify
            && repr.flags & FLAG_PATTERN != 0
            && !check_pattern(repr.seq, packet.payload())
        {
            self.corrupt += 1;
        }
        self.arrived(payload.len(), meta);
    }

    fn checker(&self) -> Option<&StreamChecker> {
        Some(self)
    }

    fn new_stream(&mut self) {
        self.restart();
        self.arrivals = 0;
    }
}

impl StreamChecker {
    /// A datagram in a format other than ringshot's: decode, widen its counter, track it.
    fn foreign(&mut self, datagram: &[u8], meta: &RxMeta) {
        let d = match decode(self.format, datagram) {
            Ok(d) => d,
            Err(e) => return self.reject(e),
        };
        if d.seq_bits == 0 {
            return self.unsequenced(&d, datagram.len(), meta);
        }
        let start = self.start_seq;
        let Some(i) = self.stream_index(d.stream_id) else {
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
        self.arrived(datagram.len(), meta);
    }

    /// A datagram of a format without sequence numbers (raw, SPEAD): no sequence tracker sees
    /// it; the SPEAD heap checks do, and the pattern check follows the order of arrival.
    fn unsequenced(&mut self, d: &super::formats::Decoded<'_>, len: usize, meta: &RxMeta) {
        if let Some(pos) = d.heap {
            self.framing.heap(pos, d.payload.len() as u64);
        }
        let seq = self.start_seq.saturating_add(self.arrivals);
        self.arrivals += 1;
        if self.verify && !check_pattern(seq, d.payload) {
            self.corrupt += 1;
        }
        self.arrived(len, meta);
    }

    #[inline]
    fn arrived(&mut self, len: usize, meta: &RxMeta) {
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
mod tests {
    use super::*;
    use crate::wire::header::HEADER_LEN;

    fn packet(stream: u32, seq: u64, len: usize) -> Vec<u8> {
        crate::wire::header::pattern_packet(stream, seq, len)
    }

    fn meta(at_ns: u64) -> RxMeta {
        RxMeta {
            src: "127.0.0.1:9".parse().unwrap(),
            at_ns,
        }
    }

    #[test]
    fn counts_packets_malformed_corrupt_and_gaps() {
        let mut c = StreamChecker::new(64, true);
        for (i, seq) in [0u64, 1, 3, 2, 2].into_iter().enumerate() {
            c.datagram(&packet(7, seq, 100), &meta(1_000 + i as u64 * 500));
        }
        c.datagram(&[1, 2, 3], &meta(4_000)); // short
        let mut bad = packet(7, 4, 100);
        bad[0] = b'X';
        c.datagram(&bad, &meta(4_000));
        let mut bad = packet(7, 4, 100);
        bad[2] = 9;
        c.datagram(&bad, &meta(4_000));
        let mut flipped = packet(7, 4, 100);
        flipped[HEADER_LEN + 10] ^= 1;
        c.datagram(&flipped, &meta(5_000));

        assert_eq!(c.packets(), 6);
        assert_eq!(c.bytes(), 600);
        assert_eq!(c.corrupt(), 1);
        assert_eq!(c.totals(), (0, 1, 1, 0));
        let m = c.malformed();
        assert_eq!(m.len(), 3);
        assert_eq!(m["truncated"], 1);
        assert_eq!(m["bad_magic"], 1);
        assert_eq!(m["bad_version"], 1);
        assert_eq!(c.gaps().len(), 5);
        assert_eq!(c.gaps().max(), c.gaps().highest_equivalent(2_000));
        assert_eq!(
            c.gaps().value_at_quantile(0.5),
            c.gaps().highest_equivalent(500)
        );
        assert!((c.seconds() - 4e-6).abs() < 1e-12);
    }

    #[test]
    fn unflagged_payload_is_not_checked_and_verify_can_be_off() {
        let mut c = StreamChecker::new(64, true);
        let mut p = packet(0, 0, 64);
        p[3] = 0; // no FLAG_PATTERN
        p[HEADER_LEN] ^= 0xff;
        c.datagram(&p, &meta(1));
        assert_eq!(c.corrupt(), 0);
        let mut c = StreamChecker::new(64, false);
        let mut p = packet(0, 0, 64);
        p[HEADER_LEN] ^= 0xff;
        c.datagram(&p, &meta(1));
        assert_eq!((c.packets(), c.corrupt()), (1, 0));
    }

    #[test]
    fn streams_are_tracked_apart_up_to_the_limit() {
        let mut c = StreamChecker::new(64, true);
        for s in 0..MAX_STREAMS as u32 + 2 {
            c.datagram(&packet(s, 1, 32), &meta(1)); // seq 0 of every stream missing
        }
        assert_eq!(c.packets(), MAX_STREAMS as u64);
        assert_eq!(c.malformed_count(WireError::Unexpected), 2);
        assert_eq!(c.totals().0, MAX_STREAMS as u64);
        c.datagram(&packet(3, 0, 32), &meta(2));
        assert_eq!(c.totals(), (MAX_STREAMS as u64 - 1, 1, 0, 0));
        assert_eq!(c.streams().count(), MAX_STREAMS);
    }

    /// Each format's own counter is tracked across its wrap: a lost packet and a corrupted one
    /// are found, a context packet is counted by reason.
    #[test]
    fn foreign_formats_track_their_own_counters() {
        use crate::framing::{Framing, Stamper};
        for format in [Format::Vrt, Format::Usrp2, Format::Chdr] {
            let mut s = Stamper::new(Framing::of(format), 3);
            let mut c = StreamChecker::new(64, true).with_format(format);
            let h = s.header_len();
            // Start just below the 16-bit CHDR wrap; 40 packets cross it (and VRT's many times).
            let start = 0xFFF0;
            c = c.with_start_seq(start);
            for seq in start..start + 40 {
                let mut buf = [0u8; 64];
                crate::wire::header::fill_pattern(seq, &mut buf[h..h + 32]);
                if seq == start + 21 {
                    buf[h] ^= 1;
                }
                let n = s.stamp(&mut buf, seq, 0, 32);
                if seq != start + 20 {
                    c.datagram(&buf[..n], &meta(seq));
                }
            }
            c.datagram(&[0x40, 0, 0, 2, 0, 0, 0, 3], &meta(0));
            assert_eq!(c.packets(), 39, "{format}");
            assert_eq!(c.totals().0, 1, "{format} lost");
            assert_eq!(c.corrupt(), 1, "{format} corrupt");
            assert_eq!(c.seq_range(), (Some(start), Some(start + 39)), "{format}");
            assert_eq!(c.malformed().values().sum::<u64>(), 1, "{format}");
        }
    }

    /// Raw datagrams carry no sequence number: whatever bytes sit where another format keeps
    /// one, nothing is tracked, so nothing is lost, reordered, duplicate or late; the pattern
    /// is checked in order of arrival, starting again with a new stream.
    #[test]
    fn raw_datagrams_get_no_sequence_accounting() {
        let mut c = StreamChecker::new(64, true).with_format(Format::Raw);
        assert!(!c.sequenced());
        let mut garbage = packet(0, 1 << 40, 64);
        garbage[HEADER_LEN] ^= 0xff;
        for seq in [5u64, 0, 9, 9, 1 << 40] {
            c.datagram(&packet(0, seq, 64), &meta(seq));
        }
        c.datagram(&garbage, &meta(1));
        assert_eq!(c.packets(), 6);
        assert_eq!(c.totals(), (0, 0, 0, 0));
        assert_eq!((c.seq_range(), c.implausible()), ((None, None), 0));
        assert_eq!(c.streams().count(), 0);
        // Arrival n carries the pattern of n: a ramp from 0, then from 0 again after a new
        // stream.
        let mut c = StreamChecker::new(64, true).with_format(Format::Raw);
        let ramp = |n: u64| {
            let mut b = vec![0u8; 32];
            crate::wire::header::fill_pattern(n, &mut b);
            b
        };
        c.datagram(&ramp(0), &meta(1));
        c.datagram(&ramp(1), &meta(2));
        c.new_stream();
        c.datagram(&ramp(0), &meta(3));
        c.datagram(&ramp(0), &meta(4));
        assert_eq!((c.packets(), c.corrupt()), (4, 1));
        assert!(StreamChecker::new(64, true).sequenced());
    }

    /// A VRT stream whose integer timestamp steps back once (a second sender restarted its
    /// clock): counted once, under `tsi_backwards`; a reordered packet with an older TSI is not.
    #[test]
    fn tsi_going_backwards_is_counted() {
        use crate::framing::{Framing, IntegerTime, Stamper};
        use crate::wire::vrt::Tsi;
        let at = |start| Framing {
            tsi: Some(IntegerTime {
                kind: Tsi::Utc,
                start,
            }),
            sample_rate: 8,
            ..Framing::of(Format::Usrp2)
        };
        let mut c = StreamChecker::new(64, false).with_format(Format::Usrp2);
        let (mut early, mut late) = (Stamper::new(at(10), 1), Stamper::new(at(5), 1));
        let mut packets = Vec::new();
        for seq in 0..12u64 {
            // 8 bytes = 2 samples a packet: a second every 4 packets.
            let s = if seq < 8 { &mut early } else { &mut late };
            let mut buf = [0u8; 64];
            let n = s.stamp(&mut buf, seq, 0, 8);
            packets.push(buf[..n].to_vec());
        }
        packets.swap(3, 4); // seq 4 (second 11) before seq 3 (second 10): reordered, fine
        for p in &packets {
            c.datagram(p, &meta(1));
        }
        assert_eq!(c.packets(), 12);
        assert_eq!(c.totals().1, 1, "one reordered");
        let want: BTreeMap<String, u64> = [("tsi_backwards".to_string(), 1)].into();
        assert_eq!(c.framing_errors(), want);
    }

    /// A SPEAD stream of 4-packet heaps through the checker: one packet lost inside a heap and
    /// one heap lost whole are each counted by reason; the stop heap is not.
    #[test]
    fn spead_heap_sequence_is_checked() {
        use crate::framing::{Framing, Spead, Stamper};
        let framing = Framing {
            spead: Spead {
                heap_size: 64,
                ..Spead::default()
            },
            ..Framing::of(Format::Spead)
        };
        let mut s = Stamper::new(framing, 0);
        let mut c = StreamChecker::new(64, false).with_format(Format::Spead);
        for seq in 0..20u64 {
            let mut buf = [0u8; 128];
            let n = s.stamp(&mut buf, seq, 0, 16);
            // seq 5: heap 2's second packet; 12..16: heap 4 whole.
            if seq != 5 && !(12..16).contains(&seq) {
                c.datagram(&buf[..n], &meta(1));
            }
        }
        let mut buf = [0u8; 128];
        let n = s.stamp_end(&mut buf, 20).unwrap();
        c.datagram(&buf[..n], &meta(1));
        let want: BTreeMap<String, u64> = [
            ("heap_offset_gap".to_string(), 1),
            ("heaps_skipped".to_string(), 1),
        ]
        .into();
        assert_eq!(c.framing_errors(), want);
        assert_eq!(c.packets(), 16);
        assert!(c.malformed().is_empty());
    }
}
