//! Exact sequence accounting with a bounded reorder window.
//!
//! A [`SeqTracker`] follows one stream whose sequence numbers start at 0 and grow by one per
//! packet. It keeps a bitmap of the last `window` sequence numbers (a multiple of 64, 4096 by
//! default) ending at the highest number seen so far, and classifies every arrival `s`:
//!
//! - **in order**: `s` is exactly one past the highest seen;
//! - **ahead**: `s` skips over numbers not yet seen (they stay in the window as candidates for
//!   reordering, not yet lost);
//! - **reordered**: `s` is below the highest seen, inside the window, and not seen before;
//! - **duplicate**: `s` is inside the window and already seen;
//! - **late**: `s` is below the window, so it was already declared lost when the window slid past
//!   it. A late arrival is not subtracted from `lost`. (A duplicate of a number that has left the
//!   window cannot be told apart from a late first copy and is counted as late too.)
//!
//! `lost` counts every number the window slid past without having seen it, and at the end of the
//! stream ([`SeqTracker::lost`]) every number below the highest seen that the window still holds
//! unseen. Numbers above the highest seen cannot be known to exist and are never counted. The
//! counts are exact: for any arrival order, `lost` equals the number of distinct sequence numbers
//! below the highest seen that never arrived inside the window.
//!
//! **Implausible jumps.** An arrival more than `max_jump` numbers ahead of the highest seen
//! (2^20 by default, [`DEFAULT_MAX_SEQ_JUMP`]) is not believed: it is counted as `implausible`
//! and changes nothing else (no loss declared, the window stays put). One forged packet with a
//! huge sequence number would otherwise declare up to 2^64 packets lost and slide every real
//! packet below the window. The bound is far above any reorder window (at most
//! [`MAX_WINDOW`]) and above any real burst of loss a receiver reports usefully (2^20 packets is
//! a second of total outage at a million packets per second). If the sender really did jump that
//! far, [`RESYNC_RUN`] consecutive numbers ahead (each one past the previous, with no plausible
//! arrival between them) are believed: the last of them is taken as an ordinary jump ahead, and
//! the ones before it stay counted as implausible (and lost). The first arrival of a stream is
//! never implausible: where a stream starts is the sender's choice.
//!
//! Per packet the work is one bit test and, when the window moves by one, one bit cleared; a jump
//! of `d` numbers costs `d / 64` word operations (at most the whole window). Nothing allocates after
//! [`SeqTracker::new`].

/// Default reorder window, in sequence numbers.
pub const DEFAULT_WINDOW: usize = 4096;
/// Largest accepted reorder window (16 Mi numbers, a 2 MiB bitmap).
pub const MAX_WINDOW: usize = 1 << 24;
/// Default bound on a believable jump ahead of the highest sequence number seen.
pub const DEFAULT_MAX_SEQ_JUMP: u64 = 1 << 20;
/// Consecutive implausible numbers after which the tracker believes the stream really jumped.
pub const RESYNC_RUN: u32 = 64;

/// How one arrival was classified.
///
/// ```
/// use ringshot::recv::{Arrival, SeqTracker};
///
/// let mut t = SeqTracker::new(64);
/// let arrivals: Vec<Arrival> = [0, 1, 3, 2, 2].into_iter().map(|s| t.record(s)).collect();
/// assert_eq!(
///     arrivals,
///     [Arrival::InOrder, Arrival::InOrder, Arrival::Ahead, Arrival::Reordered, Arrival::Duplicate]
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// One past the highest seen.
    InOrder,
    /// Beyond one past the highest seen: a gap opened below it.
    Ahead,
    /// Below the highest seen, inside the window, first copy.
    Reordered,
    /// Inside the window, already seen.
    Duplicate,
    /// Below the window: it had already been declared lost.
    Late,
    /// Implausibly far ahead of the highest seen: not believed, nothing changed.
    Implausible,
}

/// Running counts of a [`SeqTracker`].
///
/// ```
/// use ringshot::recv::SeqTracker;
///
/// let mut t = SeqTracker::new(64);
/// for s in [0, 2, 1, 1] {
///     t.record(s);
/// }
/// let c = t.counts();
/// assert_eq!((c.arrivals, c.in_order, c.ahead, c.reordered, c.duplicates), (4, 1, 1, 1, 1));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeqCounts {
    /// Arrivals of any kind.
    pub arrivals: u64,
    pub in_order: u64,
    pub ahead: u64,
    pub reordered: u64,
    pub duplicates: u64,
    pub late: u64,
    /// Not believed: too far ahead (see the module documentation).
    pub implausible: u64,
}

/// Sequence tracker for one stream. See the module documentation for the exact semantics.
///
/// ```
/// use ringshot::recv::{Arrival, SeqTracker};
///
/// let mut t = SeqTracker::new(64);
/// for s in 0..10 {
///     if s != 4 {
///         t.record(s); // 4 never arrives
///     }
/// }
/// assert_eq!((t.lowest(), t.highest(), t.lost()), (Some(0), Some(9), 1));
/// // Far beyond the window, 4 has been declared lost for good: arriving now it is late.
/// for s in 10..200 {
///     t.record(s);
/// }
/// assert_eq!(t.record(4), Arrival::Late);
/// assert_eq!(t.lost(), 1); // a late arrival is not subtracted
/// assert_eq!(t.window(), 64);
/// ```
#[derive(Debug, Clone)]
pub struct SeqTracker {
    /// Bit `p % window` is set when position `p` of the window `[next - window, next)` was seen.
    /// Positions below 0 count as seen, so the bitmap starts all ones.
    bits: Box<[u64]>,
    window: u64,
    /// One past the highest sequence number seen (0 before the first packet). u128 so that
    /// `u64::MAX` from the network is an ordinary number, not an overflow.
    next: u128,
    /// Numbers declared lost as the window slid past them.
    slid_lost: u64,
    counts: SeqCounts,
    /// The stream's first sequence number (numbers below it were never sent).
    start: u64,
    /// Largest believable distance above the highest seen.
    max_jump: u64,
    /// The number that would continue the current run of implausible arrivals, and its length.
    resync_next: u128,
    resync_run: u32,
    /// Lowest sequence number believed so far (the first arrival of a receiver that joined a
    /// stream late is usually it).
    lowest: Option<u64>,
}

impl Default for SeqTracker {
    fn default() -> Self {
        SeqTracker::new(DEFAULT_WINDOW)
    }
}

impl SeqTracker {
    /// A tracker with a reorder window of `window` numbers, rounded up to a multiple of 64 and
    /// clamped to 64..=[`MAX_WINDOW`].
    pub fn new(window: usize) -> SeqTracker {
        let window = window.clamp(64, MAX_WINDOW).next_multiple_of(64);
        SeqTracker {
            bits: vec![!0u64; window / 64].into_boxed_slice(),
            window: window as u64,
            next: 0,
            slid_lost: 0,
            counts: SeqCounts::default(),
            start: 0,
            max_jump: DEFAULT_MAX_SEQ_JUMP,
            resync_next: 0,
            resync_run: 0,
            lowest: None,
        }
    }

    /// Sets the bound on a believable jump ahead (at least 1; `u64::MAX` believes everything).
    ///
    /// ```
    /// use ringshot::recv::{Arrival, SeqTracker};
    ///
    /// let mut t = SeqTracker::new(64).with_max_jump(1000);
    /// t.record(0);
    /// assert_eq!(t.record(1_000_000), Arrival::Implausible); // one forged number changes nothing
    /// assert_eq!((t.highest(), t.lost()), (Some(0), 0));
    /// ```
    pub fn with_max_jump(mut self, max_jump: u64) -> SeqTracker {
        self.max_jump = max_jump.max(1);
        self
    }

    /// Whether an arrival `s` at or past `next` is too far ahead to believe, keeping track of
    /// runs of them (see the module documentation).
    #[inline]
    fn implausible(&mut self, s: u128) -> bool {
        let first = self.next == u128::from(self.start);
        if first || s - self.next < u128::from(self.max_jump) {
            self.resync_run = 0;
            return false;
        }
        if self.resync_run > 0 && s == self.resync_next {
            self.resync_run += 1;
        } else {
            self.resync_run = 1;
        }
        self.resync_next = s + 1;
        if self.resync_run >= RESYNC_RUN {
            self.resync_run = 0;
            return false;
        }
        true
    }

    /// A tracker for a stream whose first sequence number is `start` rather than 0.
    ///
    /// ```
    /// use ringshot::recv::SeqTracker;
    ///
    /// // A sender that started at 1000 (`--start-seq 1000`): 1000..1002 all arrived, nothing lost.
    /// let mut t = SeqTracker::with_start(64, 1000);
    /// assert_eq!(t.highest(), None);
    /// for s in 1000..1003 {
    ///     t.record(s);
    /// }
    /// assert_eq!((t.highest(), t.lost()), (Some(1002), 0));
    /// ```
    pub fn with_start(window: usize, start: u64) -> SeqTracker {
        let mut t = SeqTracker::new(window);
        t.start = start;
        t.next = u128::from(start);
        t
    }

    /// The window size in sequence numbers.
    pub fn window(&self) -> usize {
        self.window as usize
    }

    /// Highest sequence number seen, if any.
    pub fn highest(&self) -> Option<u64> {
        if self.next == u128::from(self.start) {
            return None;
        }
        self.next.checked_sub(1).map(|h| h as u64)
    }

    /// Lowest sequence number seen and believed, if any.
    pub fn lowest(&self) -> Option<u64> {
        self.lowest
    }

    /// Running counts.
    pub fn counts(&self) -> SeqCounts {
        self.counts
    }

    /// Numbers lost so far: those the window slid past unseen plus those still unseen inside the
    /// window below the highest seen. Final once the stream has ended.
    pub fn lost(&self) -> u64 {
        let seen: u64 = self.bits.iter().map(|w| u64::from(w.count_ones())).sum();
        self.slid_lost.saturating_add(self.window - seen)
    }

    /// Forgets the window (as after a device restart) so the next stream starts again at its
    /// start sequence. The numbers still unseen are declared lost first; the counts carry on.
    ///
    /// ```
    /// use ringshot::recv::SeqTracker;
    ///
    /// let mut t = SeqTracker::new(64);
    /// for s in [0, 1, 3] {
    ///     t.record(s);
    /// }
    /// t.restart(); // the sender started over: 2 is declared lost, the window forgotten
    /// assert_eq!(t.lost(), 1);
    /// t.record(0);
    /// assert_eq!(t.counts().duplicates, 0); // 0 again is a new stream's first packet
    /// ```
    pub fn restart(&mut self) {
        self.slid_lost = self.lost();
        self.bits.fill(!0);
        self.next = u128::from(self.start);
    }

    /// Records the arrival of `seq` and says how it was classified.
    ///
    /// ```
    /// use ringshot::recv::{Arrival, SeqTracker};
    ///
    /// let mut t = SeqTracker::new(64);
    /// assert_eq!(t.record(0), Arrival::InOrder);
    /// assert_eq!(t.record(5), Arrival::Ahead); // 1..=4 are candidates for reordering, not lost yet
    /// assert_eq!(t.lost(), 4); // ...but would be, were the stream to end now
    /// assert_eq!(t.record(2), Arrival::Reordered);
    /// assert_eq!(t.lost(), 3);
    /// ```
    #[inline]
    pub fn record(&mut self, seq: u64) -> Arrival {
        self.counts.arrivals += 1;
        let s = u128::from(seq);
        let w = u128::from(self.window);
        if s >= self.next && self.implausible(s) {
            self.counts.implausible += 1;
            return Arrival::Implausible;
        }
        self.lowest = Some(self.lowest.map_or(seq, |l| l.min(seq)));
        if s >= self.next {
            let kind = if s == self.next {
                self.counts.in_order += 1;
                Arrival::InOrder
            } else {
                self.counts.ahead += 1;
                Arrival::Ahead
            };
            let d = s + 1 - self.next;
            if d >= w {
                // The whole window slides out, and `d - window` numbers pass through it unseen.
                let lost = self.lost() - self.slid_lost + saturate(d - w);
                self.slid_lost = self.slid_lost.saturating_add(lost);
                self.bits.fill(0);
            } else {
                let start = (self.next % w) as u64;
                let zeros = self.clear_range(start, d as u64);
                self.slid_lost = self.slid_lost.saturating_add(zeros);
            }
            self.set(seq);
            self.next = s + 1;
            kind
        } else if self.next - s > w {
            self.counts.late += 1;
            Arrival::Late
        } else if self.test(seq) {
            self.counts.duplicates += 1;
            Arrival::Duplicate
        } else {
            self.set(seq);
            self.counts.reordered += 1;
            Arrival::Reordered
        }
    }

    #[inline]
    fn index(&self, seq: u64) -> (usize, u64) {
        let i = seq % self.window;
        ((i / 64) as usize, 1u64 << (i % 64))
    }

    #[inline]
    fn test(&self, seq: u64) -> bool {
        let (word, mask) = self.index(seq);
        self.bits[word] & mask != 0
    }

    #[inline]
    fn set(&mut self, seq: u64) {
        let (word, mask) = self.index(seq);
        self.bits[word] |= mask;
    }

    /// Clears `len` (< window) bits of the circular bitmap from bit index `start` and returns how
    /// many of them were clear already (numbers leaving the window unseen).
    #[inline]
    fn clear_range(&mut self, mut start: u64, mut len: u64) -> u64 {
        let mut zeros = 0;
        while len > 0 {
            let bit = start % 64;
            let n = (64 - bit).min(len);
            let mask = if n == 64 {
                !0
            } else {
                ((1u64 << n) - 1) << bit
            };
            let word = &mut self.bits[(start / 64) as usize];
            zeros += n - u64::from((*word & mask).count_ones());
            *word &= !mask;
            start = (start + n) % self.window;
            len -= n;
        }
        zeros
    }
}

fn saturate(v: u128) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    /// The obviously correct model: a set of everything seen inside the window.
    #[derive(Default)]
    struct Model {
        window: u128,
        seen: BTreeSet<u64>,
        highest: Option<u64>,
        late: u64,
        dups: u64,
        reordered: u64,
    }

    impl Model {
        fn record(&mut self, s: u64) {
            match self.highest {
                Some(h) if s <= h => {
                    if u128::from(s) + self.window <= u128::from(h) {
                        self.late += 1;
                    } else if !self.seen.insert(s) {
                        self.dups += 1;
                    } else {
                        self.reordered += 1;
                    }
                }
                _ => {
                    self.highest = Some(s);
                    self.seen.insert(s);
                }
            }
        }
        fn lost(&self) -> u64 {
            self.highest.map_or(0, |h| h + 1 - self.seen.len() as u64)
        }
    }

    fn run(window: usize, arrivals: &[u64]) -> SeqTracker {
        let mut t = SeqTracker::new(window);
        for &s in arrivals {
            t.record(s);
        }
        t
    }

    #[test]
    fn a_stream_starting_elsewhere_loses_nothing_before_its_start() {
        let start = (1u64 << 32) - 10;
        let mut t = SeqTracker::with_start(64, start);
        assert_eq!(t.highest(), None);
        for s in start..start + 20 {
            if s != start + 5 {
                t.record(s);
            }
        }
        assert_eq!(t.lost(), 1);
        assert_eq!(t.highest(), Some(start + 19));
        t.restart();
        assert_eq!(t.lost(), 1);
        assert_eq!(t.record(start), Arrival::InOrder);
    }

    #[test]
    fn in_order_stream_has_nothing_to_report() {
        let t = run(4096, &(0..10_000).collect::<Vec<_>>());
        let c = t.counts();
        assert_eq!(c.in_order, 10_000);
        assert_eq!((c.ahead, c.reordered, c.duplicates, c.late), (0, 0, 0, 0));
        assert_eq!(t.lost(), 0);
        assert_eq!(t.highest(), Some(9_999));
    }

    #[test]
    fn empty_tracker() {
        let t = SeqTracker::new(100);
        assert_eq!(t.window(), 128);
        assert_eq!(t.lost(), 0);
        assert_eq!(t.highest(), None);
    }

    #[test]
    fn classifies_each_kind() {
        let mut t = SeqTracker::new(64);
        assert_eq!(t.record(0), Arrival::InOrder);
        assert_eq!(t.record(2), Arrival::Ahead); // 1 missing for now
        assert_eq!(t.lost(), 1);
        assert_eq!(t.record(1), Arrival::Reordered);
        assert_eq!(t.lost(), 0);
        assert_eq!(t.record(1), Arrival::Duplicate);
        assert_eq!(t.record(3), Arrival::InOrder);
        // Skip 4, then slide the window far past it.
        assert_eq!(t.record(5), Arrival::Ahead);
        for s in 6..100 {
            t.record(s);
        }
        assert_eq!(t.lost(), 1);
        assert_eq!(t.record(4), Arrival::Late);
        assert_eq!(t.lost(), 1, "a late arrival stays lost");
        let c = t.counts();
        assert_eq!((c.reordered, c.duplicates, c.late, c.ahead), (1, 1, 1, 2));
    }

    #[test]
    fn first_packet_missing_is_lost_and_can_still_be_reordered() {
        let mut t = SeqTracker::new(64);
        assert_eq!(t.record(1), Arrival::Ahead);
        assert_eq!(t.lost(), 1);
        assert_eq!(t.record(0), Arrival::Reordered);
        assert_eq!(t.lost(), 0);
    }

    #[test]
    fn window_edges_are_exact() {
        // Exactly `window` numbers behind the highest is outside; one less is inside.
        let mut t = SeqTracker::new(64);
        t.record(64); // the window is now [1, 64]: 0 slid out unseen, 1..=63 are still inside
        assert_eq!(t.lost(), 64);
        assert_eq!(t.record(0), Arrival::Late);
        assert_eq!(t.record(1), Arrival::Reordered);
        assert_eq!(t.lost(), 63);
    }

    #[test]
    fn huge_jumps_and_extremes_do_not_overflow() {
        let mut t = SeqTracker::new(4096).with_max_jump(u64::MAX);
        t.record(0);
        t.record(u64::MAX);
        assert_eq!(t.lost(), u64::MAX - 1);
        assert_eq!(t.record(u64::MAX), Arrival::Duplicate);
        assert_eq!(t.record(5), Arrival::Late);
        let mut t = SeqTracker::new(64);
        t.record(u64::MAX);
        assert_eq!(t.lost(), u64::MAX);
    }

    #[test]
    fn implausible_jumps_change_nothing() {
        let mut t = SeqTracker::new(4096).with_max_jump(1000);
        for s in 0..10 {
            t.record(s);
        }
        // Just inside the bound: believed.
        assert_eq!(t.record(9 + 1000), Arrival::Ahead);
        assert_eq!(t.lost(), 999);
        let before = (t.lost(), t.highest());
        for forged in [u64::MAX - 1, 1_000_000_000_000, 9 + 1000 + 1001] {
            assert_eq!(t.record(forged), Arrival::Implausible);
        }
        assert_eq!((t.lost(), t.highest()), before);
        assert_eq!(t.record(1010), Arrival::InOrder);
        assert_eq!(t.counts().implausible, 3);
        assert_eq!(t.counts().arrivals, 15);
        // The first arrival of a stream is where the sender chose to start.
        let mut t = SeqTracker::new(64).with_max_jump(10);
        assert_eq!(t.record(1 << 40), Arrival::Ahead);
        assert_eq!(t.lost(), 1 << 40);
    }

    #[test]
    fn a_real_jump_beyond_the_bound_is_believed_after_a_run() {
        let mut t = SeqTracker::new(4096).with_max_jump(1000);
        t.record(0);
        let far = 1_000_000u64;
        for k in 0..u64::from(RESYNC_RUN) - 1 {
            assert_eq!(t.record(far + k), Arrival::Implausible);
        }
        let last = far + u64::from(RESYNC_RUN) - 1;
        assert_eq!(t.record(last), Arrival::Ahead);
        assert_eq!(t.record(last + 1), Arrival::InOrder);
        assert_eq!(t.counts().implausible, u64::from(RESYNC_RUN) - 1);
        assert_eq!(t.lost(), last - 1);
        // A run broken by a plausible arrival starts over.
        let mut t = SeqTracker::new(4096).with_max_jump(1000);
        t.record(0);
        for k in 0..u64::from(RESYNC_RUN) * 2 {
            if k % 10 == 9 {
                t.record(k / 10 + 1);
            } else {
                assert_eq!(t.record(far + k), Arrival::Implausible, "{k}");
            }
        }
    }

    #[test]
    fn restart_keeps_counts_and_declares_the_rest_lost() {
        let mut t = SeqTracker::new(64);
        t.record(0);
        t.record(3);
        t.restart();
        assert_eq!(t.lost(), 2);
        assert_eq!(t.record(0), Arrival::InOrder);
        assert_eq!(t.lost(), 2);
        assert_eq!(t.counts().arrivals, 3);
    }

    #[test]
    fn jumps_of_every_length_around_the_window() {
        for window in [64usize, 128, 192] {
            for jump in 1..(3 * window as u64) {
                let mut t = SeqTracker::new(window);
                let mut m = Model {
                    window: window as u128,
                    ..Model::default()
                };
                for s in [0, 3, jump + 3, jump + 4, jump / 2 + 2, 1] {
                    t.record(s);
                    m.record(s);
                }
                assert_eq!(t.lost(), m.lost(), "window {window} jump {jump}");
                assert_eq!(t.counts().late, m.late, "window {window} jump {jump}");
                assert_eq!(t.counts().reordered, m.reordered);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any arrival sequence at all: the tracker agrees with the set model exactly.
        #[test]
        fn matches_model_on_arbitrary_arrivals(
            window in prop::sample::select(vec![64usize, 128, 256]),
            arrivals in prop::collection::vec(0u64..2_000, 0..600),
        ) {
            let t = run(window, &arrivals);
            let mut m = Model { window: window as u128, ..Model::default() };
            for &s in &arrivals {
                m.record(s);
            }
            let c = t.counts();
            prop_assert_eq!(t.lost(), m.lost());
            prop_assert_eq!(c.late, m.late);
            prop_assert_eq!(c.duplicates, m.dups);
            prop_assert_eq!(c.reordered, m.reordered);
            prop_assert_eq!(c.arrivals, arrivals.len() as u64);
            prop_assert_eq!(t.highest(), arrivals.iter().copied().max());
        }

        /// A stream 0..n with some numbers dropped, some duplicated, and local swaps that stay
        /// well inside the window: lost is exactly the drops below the highest delivered number,
        /// duplicates exactly the extra copies, and nothing is late.
        #[test]
        fn drops_dups_and_local_reordering_are_exact(
            n in 1u64..3_000,
            drop_mask in prop::collection::vec(prop::bool::weighted(0.1), 3_000),
            dup_mask in prop::collection::vec(prop::bool::weighted(0.05), 3_000),
            swaps in prop::collection::vec((0usize..3_000, 1usize..32), 0..200),
        ) {
            let mut arrivals = Vec::new();
            let mut dropped = BTreeSet::new();
            let mut dups = 0u64;
            for s in 0..n {
                if drop_mask[s as usize] {
                    dropped.insert(s);
                    continue;
                }
                arrivals.push(s);
                if dup_mask[s as usize] {
                    arrivals.push(s);
                    dups += 1;
                }
            }
            for (at, dist) in swaps {
                if arrivals.len() > 1 {
                    let i = at % arrivals.len();
                    let j = (i + dist).min(arrivals.len() - 1);
                    arrivals.swap(i, j);
                }
            }
            let t = run(DEFAULT_WINDOW, &arrivals);
            let highest = arrivals.iter().copied().max();
            let expected_lost = highest.map_or(0, |h| dropped.range(..h).count() as u64);
            let c = t.counts();
            prop_assert_eq!(t.lost(), expected_lost);
            prop_assert_eq!(c.duplicates, dups);
            prop_assert_eq!(c.late, 0);
            prop_assert_eq!(c.arrivals, arrivals.len() as u64);
            // Every first copy is in order, ahead or reordered.
            prop_assert_eq!(c.in_order + c.ahead + c.reordered, arrivals.len() as u64 - dups);
        }

        /// A random permutation of 0..n (n below the window) loses nothing and reorders exactly
        /// the numbers that arrive after a larger one.
        #[test]
        fn permutations_count_reorders_exactly(perm in Just((0u64..1_000).collect::<Vec<_>>()).prop_shuffle()) {
            let t = run(DEFAULT_WINDOW, &perm);
            let mut max = None::<u64>;
            let mut expected = 0;
            for &s in &perm {
                if max.is_some_and(|m| s < m) {
                    expected += 1;
                }
                max = max.max(Some(s));
            }
            prop_assert_eq!(t.lost(), 0);
            prop_assert_eq!(t.counts().reordered, expected);
        }
    }
}
