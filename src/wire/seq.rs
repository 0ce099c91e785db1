//! Wrap-safe extension of short wire sequence numbers (16, 32, 40 bits ...) to a 64-bit count.
//!
//! A device reports a counter modulo 2^N. Given a reference that is already 64 bits (the highest
//! count known so far), the wire value is read as the one 64-bit value congruent to it that lies
//! nearest the reference: at most 2^(N-1) − 1 behind it or at most 2^(N-1) ahead of it. Values
//! that would fall below zero are read forward instead, since a count is never negative.
//!
//! [`SeqExtender`] keeps the highest value seen and never moves it backwards: a stale, duplicated
//! or reordered report extends to a value at or below the reference and is reported as such.

/// Extends the `bits`-bit wire value `wire` to the 64-bit value nearest `reference`.
///
/// `bits` is clamped to 1..=64; bits of `wire` above `bits` are ignored. With 64 bits the wire
/// value is returned as is.
///
/// ```
/// use ringshot::wire::seq::extend;
///
/// assert_eq!(extend(0x1_FFF0, 0x0005, 16), 0x2_0005); // wrapped forward
/// assert_eq!(extend(0x2_0005, 0xFFF0, 16), 0x1_FFF0); // a late report, read behind
/// assert_eq!(extend(3, 0xFFFF, 16), 0xFFFF); // never below zero: read forward
/// ```
pub fn extend(reference: u64, wire: u64, bits: u32) -> u64 {
    let bits = bits.clamp(1, 64);
    if bits == 64 {
        return wire;
    }
    let modulus = 1u64 << bits;
    let mask = modulus - 1;
    let half = modulus >> 1;
    // How far `wire` is ahead of `reference`, modulo 2^bits.
    let ahead = wire.wrapping_sub(reference) & mask;
    if ahead <= half {
        // Forward, unless that would overflow u64 (only reachable with absurd references).
        match reference.checked_add(ahead) {
            Some(v) => v,
            None => reference - (modulus - ahead),
        }
    } else {
        let behind = modulus - ahead;
        // A count is never negative: a value "behind zero" can only be ahead.
        match reference.checked_sub(behind) {
            Some(v) => v,
            None => reference + ahead,
        }
    }
}

/// Extends a 16-bit wire sequence relative to `reference`.
///
/// ```
/// assert_eq!(ringshot::wire::seq::extend16(65_535, 0), 65_536);
/// ```
pub fn extend16(reference: u64, wire: u16) -> u64 {
    extend(reference, u64::from(wire), 16)
}

/// Extends a 32-bit wire sequence relative to `reference`.
///
/// ```
/// assert_eq!(ringshot::wire::seq::extend32(u64::from(u32::MAX), 1), 1 << 32 | 1);
/// ```
pub fn extend32(reference: u64, wire: u32) -> u64 {
    extend(reference, u64::from(wire), 32)
}

/// How a wire value relates to the highest value seen so far.
///
/// ```
/// use ringshot::wire::seq::{SeqClass, SeqExtender};
///
/// let mut s = SeqExtender::new(8, 250);
/// assert_eq!(s.observe(4), SeqClass::Advanced { from: 250, to: 260 });
/// assert_eq!(s.observe(4), SeqClass::Same(260));
/// assert_eq!(s.observe(255), SeqClass::Stale(255));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqClass {
    /// Ahead of the highest value: the tracker moved to it.
    Advanced { from: u64, to: u64 },
    /// Equal to the highest value (a duplicate or a report with no progress).
    Same(u64),
    /// Behind the highest value (stale or reordered); the tracker did not move.
    Stale(u64),
}

/// Tracks the highest extended value of an N-bit wire counter. Never moves backwards.
///
/// ```
/// use ringshot::wire::seq::{SeqClass, SeqExtender};
///
/// // A 16-bit counter that wraps twice.
/// let mut s = SeqExtender::new(16, 0);
/// for wire in [30_000u64, 60_000, 10, 30_000, 60_000, 5] {
///     s.observe(wire);
/// }
/// assert_eq!(s.highest(), 2 * 65_536 + 5);
/// assert_eq!(s.extend(65_535), 2 * 65_536 - 1); // read against the highest, tracker unchanged
/// assert!(matches!(s.observe(65_535), SeqClass::Stale(_)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqExtender {
    bits: u32,
    highest: u64,
}

impl SeqExtender {
    /// A tracker for a `bits`-bit counter whose highest known value is `start`.
    pub fn new(bits: u32, start: u64) -> SeqExtender {
        SeqExtender {
            bits: bits.clamp(1, 64),
            highest: start,
        }
    }

    /// The highest value seen (or the start).
    pub fn highest(&self) -> u64 {
        self.highest
    }

    /// Extends `wire` against the highest value without moving the tracker.
    pub fn extend(&self, wire: u64) -> u64 {
        extend(self.highest, wire, self.bits)
    }

    /// Extends `wire` and moves the tracker forward if it is ahead.
    pub fn observe(&mut self, wire: u64) -> SeqClass {
        let v = self.extend(wire);
        if v > self.highest {
            let from = self.highest;
            self.highest = v;
            SeqClass::Advanced { from, to: v }
        } else if v == self.highest {
            SeqClass::Same(v)
        } else {
            SeqClass::Stale(v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fixed_cases() {
        // Plain forward and backward steps.
        assert_eq!(extend32(100, 105), 105);
        assert_eq!(extend32(100, 95), 95);
        // Across the 2^32 boundary, both ways.
        assert_eq!(extend32(0xFFFF_FFF0, 0x10), 0x1_0000_0010);
        assert_eq!(extend32(0x1_0000_0010, 0xFFFF_FFF0), 0xFFFF_FFF0);
        // 16-bit wrap several epochs in.
        assert_eq!(extend16(3 * 65_536 + 65_530, 4), 4 * 65_536 + 4);
        assert_eq!(extend16(4 * 65_536 + 4, 65_530), 3 * 65_536 + 65_530);
        // Below zero reads forward.
        assert_eq!(extend16(5, 65_530), 65_530);
        assert_eq!(extend32(0, u32::MAX), u64::from(u32::MAX));
        // Exactly half a window ahead counts as ahead.
        assert_eq!(extend16(1 << 20, 0x8000), (1 << 20) + 0x8000);
        // 64 bits pass through; absurd references do not overflow.
        assert_eq!(extend(7, 3, 64), 3);
        assert_eq!(extend(u64::MAX - 1, 5, 16), u64::MAX - 65_530);
        assert_eq!(extend(u64::MAX, 0xFFFF, 16), u64::MAX);
    }

    #[test]
    fn tracker_never_goes_back() {
        let mut t = SeqExtender::new(16, 65_000);
        assert_eq!(
            t.observe(65_100),
            SeqClass::Advanced {
                from: 65_000,
                to: 65_100
            }
        );
        assert_eq!(
            t.observe(100),
            SeqClass::Advanced {
                from: 65_100,
                to: 65_636
            }
        );
        assert_eq!(t.observe(65_200), SeqClass::Stale(65_200));
        assert_eq!(t.observe(100), SeqClass::Same(65_636));
        assert_eq!(t.highest(), 65_636);
    }

    fn bits_strategy() -> impl Strategy<Value = u32> {
        prop_oneof![Just(16u32), Just(32u32), Just(40u32), 1u32..64]
    }

    proptest! {
        #[test]
        fn congruent_and_nearest(reference in any::<u64>(), wire in any::<u64>(), bits in bits_strategy()) {
            let v = extend(reference, wire, bits);
            let mask = (1u64 << bits) - 1;
            prop_assert_eq!(v & mask, wire & mask);
            let half = 1u64 << (bits - 1);
            // Nearest, unless the nearest would be negative or past u64::MAX.
            let dist = v.abs_diff(reference);
            if reference >= half && reference <= u64::MAX - half {
                prop_assert!(dist <= half, "v={v} ref={reference} bits={bits}");
            }
        }

        #[test]
        fn round_trip_within_half_window(
            reference in any::<u64>(),
            delta in -(1i64 << 31) + 1..=(1i64 << 31),
        ) {
            let truth = reference as i128 + delta as i128;
            prop_assume!(truth >= 0 && truth <= u64::MAX as i128);
            let truth = truth as u64;
            prop_assert_eq!(extend32(reference, truth as u32), truth);
        }

        #[test]
        fn round_trip_16(reference in any::<u64>(), delta in -(1i64 << 15) + 1..=(1i64 << 15)) {
            let truth = reference as i128 + delta as i128;
            prop_assume!(truth >= 0 && truth <= u64::MAX as i128);
            let truth = truth as u64;
            prop_assert_eq!(extend16(reference, truth as u16), truth);
        }

        /// A device counter starting near a wrap, reported with loss, duplicates and bounded
        /// reordering: the tracker follows the true maximum exactly and never goes back.
        #[test]
        fn tracker_follows_true_max(
            bits in prop_oneof![Just(16u32), Just(32u32)],
            before_wrap in 0u64..2_000,
            epochs in 0u64..3,
            steps in proptest::collection::vec((0u64..500, 0u64..400, any::<bool>()), 1..300),
        ) {
            let modulus = 1u64 << bits;
            let start = (epochs + 1) * modulus - before_wrap;
            let mut tracker = SeqExtender::new(bits, start);
            let mut truth = start;
            let mut max_seen = start;
            for (step, lag, dup) in steps {
                truth += step;
                // A reordered report of an older count, never older than the start.
                let reported = truth.saturating_sub(lag).max(start);
                for _ in 0..(1 + dup as u32) {
                    let before = tracker.highest();
                    tracker.observe(reported & (modulus - 1));
                    prop_assert!(tracker.highest() >= before);
                    max_seen = max_seen.max(reported);
                    prop_assert_eq!(tracker.highest(), max_seen);
                }
            }
        }
    }
}
