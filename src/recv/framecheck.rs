//! Checks on a stream's own timeline beyond each packet's sequence counter: the VRT integer
//! timestamp (TSI) must not go backwards, and SPEAD heaps must follow each other by the heap cnt
//! step, each packet at the offset where the previous one ended. Each breach is counted under a
//! reason ([`FramingError::name`]); the packets themselves are still accepted and tracked.

use std::collections::BTreeMap;

use super::formats::HeapPos;

/// A breach of a stream's timeline, counted by reason.
///
/// ```
/// use ringshot::framing::{Format, Framing, Stamper};
/// use ringshot::recv::framecheck::FramingError;
/// use ringshot::recv::{DatagramSink, RxMeta, StreamChecker};
///
/// // A SPEAD stream with its second packet lost: the third does not start where the first ended.
/// let mut st = Stamper::new(Framing::of(Format::Spead), 0);
/// let mut c = StreamChecker::new(64, true).with_format(Format::Spead);
/// let meta = RxMeta { src: "10.0.0.1:4000".parse().unwrap(), at_ns: 0 };
/// let mut buf = [0u8; 1500];
/// for seq in 0..3 {
///     let len = st.stamp(&mut buf, seq, 0, 1000);
///     if seq != 1 {
///         c.datagram(&buf[..len], &meta);
///     }
/// }
/// let name = FramingError::HeapOffsetGap.name();
/// assert_eq!(c.framing_errors().get(name), Some(&1));
/// assert_eq!(FramingError::ALL.len(), 5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FramingError {
    /// The newest packet of a stream (highest sequence so far) carries a lower TSI than the
    /// newest before it.
    TsiBackwards,
    /// Heaps whose cnt was passed over: counted once per heap missing.
    HeapsSkipped,
    /// A packet of a heap older than the current one (a heap cnt lower than the newest seen).
    HeapCntBackwards,
    /// A packet not at the offset where the heap's previous packet ended (or a new heap that
    /// does not start at offset 0): a packet lost or reordered inside a heap.
    HeapOffsetGap,
    /// A heap left behind (the next heap began) before its data reached its heap size: its
    /// last packets were lost.
    HeapsIncomplete,
}

impl FramingError {
    pub const ALL: [FramingError; 5] = [
        FramingError::TsiBackwards,
        FramingError::HeapsSkipped,
        FramingError::HeapCntBackwards,
        FramingError::HeapOffsetGap,
        FramingError::HeapsIncomplete,
    ];

    /// The key the count is reported under.
    pub const fn name(self) -> &'static str {
        match self {
            FramingError::TsiBackwards => "tsi_backwards",
            FramingError::HeapsSkipped => "heaps_skipped",
            FramingError::HeapCntBackwards => "heap_cnt_backwards",
            FramingError::HeapOffsetGap => "heap_offset_gap",
            FramingError::HeapsIncomplete => "heaps_incomplete",
        }
    }
}

/// The counts, and the SPEAD stream's position (SPEAD streams are one stream per receiver).
#[derive(Debug, Clone)]
pub(crate) struct FramingChecks {
    counts: [u64; FramingError::ALL.len()],
    heap_step: u64,
    /// The newest heap's cnt, the offset its next packet should have, and its heap size.
    heap: Option<(u64, u64, Option<u64>)>,
}

impl FramingChecks {
    /// Checks for heaps whose cnt grows by `heap_step` (at least 1).
    pub fn new(heap_step: u64) -> FramingChecks {
        FramingChecks {
            counts: [0; FramingError::ALL.len()],
            heap_step: heap_step.max(1),
            heap: None,
        }
    }

    /// A new stream (or a device restart): the next heap starts the timeline again.
    pub fn restart(&mut self) {
        self.heap = None;
    }

    fn count(&mut self, e: FramingError, n: u64) {
        self.counts[e as usize] = self.counts[e as usize].saturating_add(n);
    }

    /// The count of one reason.
    #[cfg(test)]
    pub fn get(&self, e: FramingError) -> u64 {
        self.counts[e as usize]
    }

    /// Non-zero counts by reason name.
    pub fn by_name(&self) -> BTreeMap<String, u64> {
        FramingError::ALL
            .iter()
            .zip(self.counts)
            .filter(|(_, n)| *n > 0)
            .map(|(e, n)| (e.name().to_string(), n))
            .collect()
    }

    /// A stream's newest packet carries `tsi`; `last` is the TSI of the newest before it.
    #[inline]
    pub fn tsi(&mut self, last: &mut Option<u32>, tsi: u32) {
        if last.is_some_and(|l| tsi < l) {
            self.count(FramingError::TsiBackwards, 1);
        }
        *last = Some(tsi);
    }

    /// A SPEAD packet at `pos` carrying `len` bytes of heap data.
    pub fn heap(&mut self, pos: HeapPos, len: u64) {
        if pos.stop {
            return;
        }
        let next = pos.offset.saturating_add(len);
        let Some((cnt, expect, size)) = self.heap else {
            // The first packet seen: a receiver that joined late may see a heap's middle.
            self.heap = Some((pos.cnt, next, pos.size));
            return;
        };
        if pos.cnt == cnt {
            if pos.offset != expect {
                self.count(FramingError::HeapOffsetGap, 1);
            }
            self.heap = Some((cnt, next.max(expect), size.or(pos.size)));
        } else if pos.cnt > cnt {
            if size.is_some_and(|s| expect < s) {
                self.count(FramingError::HeapsIncomplete, 1);
            }
            let missing = (pos.cnt - cnt).div_ceil(self.heap_step) - 1;
            self.count(FramingError::HeapsSkipped, missing);
            if pos.offset != 0 {
                self.count(FramingError::HeapOffsetGap, 1);
            }
            self.heap = Some((pos.cnt, next, pos.size));
        } else {
            self.count(FramingError::HeapCntBackwards, 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(cnt: u64, offset: u64) -> HeapPos {
        HeapPos {
            cnt,
            offset,
            size: Some(30),
            stop: false,
        }
    }

    #[test]
    fn tsi_backwards_is_counted() {
        let mut c = FramingChecks::new(1);
        let mut last = None;
        for t in [5, 5, 6, 4, 7] {
            c.tsi(&mut last, t);
        }
        assert_eq!(c.get(FramingError::TsiBackwards), 1);
        assert_eq!(last, Some(7));
    }

    /// Heaps of 3 packets of 10 bytes, step 2: a lost packet inside heap 3, heap 5 lost whole,
    /// an old packet of heap 3 late, heap 7 left without its last packet, the stop item ignored.
    #[test]
    fn heap_sequence_breaches_by_reason() {
        let mut c = FramingChecks::new(2);
        let stream = [
            at(1, 0),
            at(1, 10),
            at(1, 20),
            at(3, 0),
            at(3, 20),
            at(7, 0),
            at(3, 10),
            at(7, 10),
            at(9, 0),
            at(9, 10),
            at(9, 20),
        ];
        for p in stream {
            c.heap(p, 10);
        }
        c.heap(
            HeapPos {
                cnt: 11,
                offset: 0,
                size: Some(0),
                stop: true,
            },
            0,
        );
        let want: BTreeMap<String, u64> = [
            ("heap_offset_gap".to_string(), 1),
            ("heaps_skipped".to_string(), 1),
            ("heap_cnt_backwards".to_string(), 1),
            ("heaps_incomplete".to_string(), 1),
        ]
        .into_iter()
        .collect();
        assert_eq!(c.by_name(), want);
        assert_eq!(c.get(FramingError::TsiBackwards), 0);
    }

    proptest::proptest! {
        /// Any sequence of heap positions and TSIs: no panic, and a stream whose heaps follow
        /// each other by the step, packet after packet, has no breach.
        #[test]
        fn arbitrary_positions_never_panic(
            step in 0u64..5,
            ps in proptest::collection::vec(
                (proptest::prelude::any::<u64>(), proptest::prelude::any::<u64>(),
                 proptest::prelude::any::<Option<u64>>(), proptest::prelude::any::<bool>(),
                 proptest::prelude::any::<u64>(), proptest::prelude::any::<u32>()),
                0..32),
        ) {
            let mut c = FramingChecks::new(step);
            let mut last = None;
            for (cnt, offset, size, stop, len, tsi) in ps {
                c.heap(HeapPos { cnt, offset, size, stop }, len);
                c.tsi(&mut last, tsi);
            }
            let _ = c.by_name();
            let mut good = FramingChecks::new(step.max(1));
            for h in 0..6u64 {
                for k in 0..3u64 {
                    good.heap(HeapPos { cnt: 1 + h * step.max(1), offset: k * 8, size: Some(24), stop: false }, 8);
                }
            }
            proptest::prop_assert!(good.by_name().is_empty());
        }
    }
}
