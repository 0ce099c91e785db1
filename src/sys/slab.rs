//! The packet slab: one allocation of `slots × slot_size` bytes, made once, page-aligned so it can
//! be registered with io_uring as a fixed buffer, and shared between the app thread, the engine
//! thread and the kernel.
//!
//! Access is governed by [`SlotToken`]s: exactly one token exists per slot, it is not `Clone`, and
//! only its holder may touch the slot's bytes. Tokens move between threads through SPSC rings whose
//! Release/Acquire ordering publishes the bytes written before the move. While the kernel reads a
//! slot (between submission and completion) the engine keeps the token parked, so nobody can write.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ptr::NonNull;

use super::TxDesc;

/// Page alignment: io_uring pins whole pages of a registered buffer.
const ALIGN: usize = 4096;
/// Slot sizes are a multiple of this, so every slot starts 4-byte aligned (16-bit and 32-bit
/// samples and header words), yet packets of almost any size fill their slots: then a GSO
/// super-packet's bytes run on and go to the kernel in one piece (see [`Slab::spans`]). Rounding
/// to a cache line instead left gaps after 1400- or 1500-byte packets, which cost such GSO
/// streams about 6 % more CPU per packet.
const SLOT_ALIGN: usize = 4;

/// The right to read and write one slot of a [`Slab`]. One exists per slot; it is neither
/// `Clone` nor `Copy`, so whoever holds it is the slot's only user.
///
/// ```
/// use ringshot::backend::{Slab, SlotToken};
///
/// let (slab, tokens) = Slab::new(3, 64);
/// let indices: Vec<u32> = tokens.iter().map(SlotToken::index).collect();
/// assert_eq!(indices, [0, 1, 2]);
/// // A token is moved, never copied: hand it to another thread and it is gone from here.
/// let t = std::thread::spawn(move || tokens.into_iter().last()).join().unwrap();
/// assert_eq!(t.map(|t| t.index()), Some(2));
/// # drop(slab);
/// ```
#[derive(Debug, PartialEq, Eq)]
pub struct SlotToken {
    index: u32,
    slab_id: u32,
}

impl SlotToken {
    /// Index of the slot this token owns (what a [`TxDesc`] names).
    ///
    /// ```
    /// let (_slab, tokens) = ringshot::backend::Slab::new(2, 64);
    /// assert_eq!(tokens[1].index(), 1);
    /// ```
    pub fn index(&self) -> u32 {
        self.index
    }
}

/// Fixed-size packet buffers, allocated once, shared by the app, the engine and the kernel; a
/// [`SlotToken`] per slot says who may touch it.
///
/// ```
/// use ringshot::backend::Slab;
///
/// // Eight slots for 1472-byte packets, and the eight tokens that give the right to use them.
/// let (slab, mut tokens) = Slab::new(8, 1472);
/// assert_eq!((slab.slots(), slab.slot_size(), tokens.len()), (8, 1472, 8));
/// let t = &mut tokens[3];
/// slab.bytes_mut(t)[..4].copy_from_slice(&[1, 2, 3, 4]);
/// assert_eq!(&slab.bytes(t)[..4], &[1, 2, 3, 4]);
/// ```
#[derive(Debug)]
pub struct Slab {
    base: NonNull<u8>,
    slot_size: usize,
    /// Bytes reserved in front of each slot (for headers a backend writes there), a multiple of 4.
    headroom: usize,
    /// Distance from one slot's first byte to the next one's: headroom + slot size.
    stride: usize,
    slots: u32,
    layout: Layout,
    id: u32,
}

// SAFETY: the slab is plain memory; concurrent access to a slot is excluded by the unique
// SlotToken protocol described in the module docs, and raw-pointer reads by backends happen only
// for slots whose token the engine holds.
unsafe impl Send for Slab {}
// SAFETY: as above; `&Slab` only hands out slot bytes against a token.
unsafe impl Sync for Slab {}

impl Slab {
    /// Allocates `slots` zeroed slots of `slot_size` bytes (rounded up to a multiple of 4) and
    /// returns the slab with one token per slot, in slot order.
    ///
    /// # Panics
    ///
    /// When `slots` or `slot_size` is 0, or the slab's size overflows `usize`.
    ///
    /// ```
    /// use ringshot::backend::Slab;
    ///
    /// let (slab, tokens) = Slab::new(4, 1499);
    /// assert_eq!(slab.slot_size(), 1500); // rounded up to a multiple of 4
    /// assert!(tokens.iter().all(|t| slab.bytes(t).iter().all(|&b| b == 0)));
    /// ```
    pub fn new(slots: u32, slot_size: usize) -> (Slab, Vec<SlotToken>) {
        Slab::with_headroom(slots, slot_size, 0)
    }

    /// As [`Slab::new`], with `headroom` bytes (rounded up to a multiple of 4) reserved in front
    /// of every slot: a backend that writes link-layer and IP headers before each packet's
    /// payload (`xdp`) writes them there, so header and payload are one contiguous frame. The
    /// headroom belongs to the backend, not to the slot's token. The whole region is a multiple
    /// of the page size.
    pub fn with_headroom(slots: u32, slot_size: usize, headroom: usize) -> (Slab, Vec<SlotToken>) {
        static NEXT_ID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
        assert!(slots > 0 && slot_size > 0, "empty slab");
        let slot_size = slot_size.div_ceil(SLOT_ALIGN) * SLOT_ALIGN;
        let headroom = headroom.div_ceil(SLOT_ALIGN) * SLOT_ALIGN;
        let stride = slot_size + headroom;
        let len = stride
            .checked_mul(slots as usize)
            .and_then(|l| l.checked_next_multiple_of(ALIGN))
            .expect("slab size overflows usize");
        let layout = Layout::from_size_align(len, ALIGN).expect("slab layout");
        // SAFETY: layout has non-zero size (slots > 0, slot_size > 0).
        let ptr = unsafe { alloc_zeroed(layout) };
        let base = NonNull::new(ptr).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tokens = (0..slots)
            .map(|index| SlotToken { index, slab_id: id })
            .collect();
        (
            Slab {
                base,
                slot_size,
                headroom,
                stride,
                slots,
                layout,
                id,
            },
            tokens,
        )
    }

    /// Bytes per slot (after rounding).
    ///
    /// ```
    /// let (slab, _tokens) = ringshot::backend::Slab::new(1, 61);
    /// assert_eq!(slab.slot_size(), 64);
    /// ```
    pub fn slot_size(&self) -> usize {
        self.slot_size
    }

    /// Bytes reserved in front of each slot (see [`Slab::with_headroom`]).
    pub fn headroom(&self) -> usize {
        self.headroom
    }

    /// Number of slots.
    ///
    /// ```
    /// let (slab, _tokens) = ringshot::backend::Slab::new(16, 64);
    /// assert_eq!(slab.slots(), 16);
    /// ```
    pub fn slots(&self) -> u32 {
        self.slots
    }

    /// Start and length of the whole region, for buffer registration. The start is
    /// page-aligned (4096 bytes); the length is the slots (each its headroom and `slot_size`
    /// bytes) rounded up to whole pages, since the kernel registers whole pages.
    ///
    /// ```
    /// let (slab, _tokens) = ringshot::backend::Slab::new(4, 1500);
    /// let (base, len) = slab.region();
    /// assert_eq!(base as usize % 4096, 0);
    /// assert_eq!(len, (4 * 1500usize).next_multiple_of(4096)); // 8192
    /// ```
    pub fn region(&self) -> (*mut u8, usize) {
        (self.base.as_ptr(), self.layout.size())
    }

    /// Raw pointer to the first byte of slot `index`. Backends read through it while the engine
    /// holds the slot's token on their behalf. Slots lie back to back, `slot_size` apart.
    ///
    /// # Panics
    ///
    /// When `index` is not below [`slots`](Self::slots).
    ///
    /// ```
    /// let (slab, _tokens) = ringshot::backend::Slab::new(4, 64);
    /// let (base, _) = slab.region();
    /// assert_eq!(slab.slot_ptr(0), base);
    /// assert_eq!(slab.slot_ptr(3) as usize - base as usize, 3 * 64);
    /// ```
    pub fn slot_ptr(&self, index: u32) -> *mut u8 {
        assert!(index < self.slots, "slot index out of range");
        // SAFETY: index < slots, so the offset stays inside the allocation.
        unsafe {
            self.base
                .as_ptr()
                .add(index as usize * self.stride + self.headroom)
        }
    }

    /// Walks `pkts` as the fewest byte spans their places allow and calls `span` with each
    /// span's first byte and length, in order; returns how many spans there were. A packet
    /// extends the span before it when its slot directly follows the previous packet's slot and
    /// that packet filled its slot, so the bytes run on without a gap. A GSO super-packet of
    /// packets in consecutive full slots is then one piece for the kernel to copy, as an app's
    /// own contiguous buffer would be, not one piece per packet (measured at 64 and 1472 B, about
    /// 7 % of the sending thread's CPU).
    pub(crate) fn spans(&self, pkts: &[TxDesc], mut span: impl FnMut(*mut u8, usize)) -> usize {
        let mut count = 0;
        let mut open: Option<(u32, usize, &TxDesc)> = None; // first slot, length, last packet
        for p in pkts {
            debug_assert!(
                p.len as usize <= self.slot_size,
                "packet longer than its slot"
            );
            if let Some((first, len, last)) = &mut open {
                let follows = last.slot.checked_add(1) == Some(p.slot);
                if follows && last.len as usize == self.slot_size && self.headroom == 0 {
                    *len += p.len as usize;
                    *last = p;
                    continue;
                }
                span(self.slot_ptr(*first), *len);
                count += 1;
            }
            open = Some((p.slot, p.len as usize, p));
        }
        if let Some((first, len, _)) = open {
            span(self.slot_ptr(first), len);
            count += 1;
        }
        count
    }

    /// The bytes of the slot `token` owns. The slice borrows the token as well as the slab, so
    /// the token cannot be used for [`bytes_mut`](Self::bytes_mut) (or handed away) while the
    /// slice lives.
    ///
    /// # Panics
    ///
    /// When `token` belongs to another slab.
    ///
    /// ```
    /// use ringshot::backend::Slab;
    ///
    /// let (slab, mut tokens) = Slab::new(2, 8);
    /// slab.bytes_mut(&mut tokens[1]).copy_from_slice(b"ringshot");
    /// assert_eq!(slab.bytes(&tokens[1]), b"ringshot");
    /// assert_eq!(slab.bytes(&tokens[0]), [0; 8]);
    /// ```
    pub fn bytes<'a>(&'a self, token: &'a SlotToken) -> &'a [u8] {
        assert_eq!(token.slab_id, self.id, "token from another slab");
        // SAFETY: the token is the unique right to this slot, borrowed shared here, so no `&mut`
        // to the same bytes can exist at the same time; the range is inside the allocation.
        unsafe { std::slice::from_raw_parts(self.slot_ptr(token.index), self.slot_size) }
    }

    /// The bytes of the slot `token` owns, writable.
    ///
    /// The slice borrows the token mutably for as long as it lives, and the token is the only
    /// right to its slot, so no second reference to these bytes can exist meanwhile:
    ///
    /// ```
    /// use ringshot::backend::Slab;
    /// let (slab, mut tokens) = Slab::new(2, 64);
    /// let (first, second) = tokens.split_at_mut(1);
    /// let a = slab.bytes_mut(&mut first[0]);
    /// let b = slab.bytes_mut(&mut second[0]);
    /// a[0] = 1; // two slots, two tokens: both slices may live together
    /// b[0] = 2;
    /// assert_eq!((slab.bytes(&tokens[0])[0], slab.bytes(&tokens[1])[0]), (1, 2));
    /// ```
    ///
    /// Asking twice with the same token while the first slice is alive does not compile:
    ///
    /// ```compile_fail,E0499
    /// use ringshot::backend::Slab;
    /// let (slab, mut tokens) = Slab::new(1, 64);
    /// let a = slab.bytes_mut(&mut tokens[0]);
    /// let b = slab.bytes_mut(&mut tokens[0]);
    /// a[0] = 1;
    /// b[0] = 2;
    /// ```
    ///
    /// Nor does reading the slot through [`bytes`](Self::bytes) while a writable slice lives:
    ///
    /// ```compile_fail,E0502
    /// use ringshot::backend::Slab;
    /// let (slab, mut tokens) = Slab::new(1, 64);
    /// let a = slab.bytes_mut(&mut tokens[0]);
    /// let b = slab.bytes(&tokens[0]);
    /// a[0] = b[0];
    /// ```
    // The exclusivity comes from `&mut SlotToken`, not from `&mut self`: one token per slot.
    #[allow(clippy::mut_from_ref)]
    pub fn bytes_mut<'a>(&'a self, token: &'a mut SlotToken) -> &'a mut [u8] {
        assert_eq!(token.slab_id, self.id, "token from another slab");
        // SAFETY: the token is the unique right to this slot and is borrowed mutably for the
        // lifetime of the returned slice, so this is the only live reference to these bytes.
        unsafe { std::slice::from_raw_parts_mut(self.slot_ptr(token.index), self.slot_size) }
    }
}

impl Drop for Slab {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with exactly this layout, freed once.
        unsafe { dealloc(self.base.as_ptr(), self.layout) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_slots_disjoint() {
        let (slab, mut tokens) = Slab::new(4, 1499);
        assert_eq!(slab.slot_size(), 1500, "rounded up to a multiple of 4");
        assert_eq!(tokens.len(), 4);
        for (i, t) in tokens.iter_mut().enumerate() {
            slab.bytes_mut(t).fill(i as u8);
        }
        for (i, t) in tokens.iter().enumerate() {
            assert!(slab.bytes(t).iter().all(|&b| b == i as u8));
        }
        assert_eq!(slab.region().0 as usize % ALIGN, 0);
    }

    #[test]
    fn headroom_sits_in_front_of_every_slot_and_breaks_spans() {
        let (slab, mut tokens) = Slab::with_headroom(3, 62, 62);
        assert_eq!((slab.slot_size(), slab.headroom()), (64, 64));
        let base = slab.region().0 as usize;
        assert_eq!(slab.region().1, ALIGN, "rounded up to whole pages");
        for (i, t) in tokens.iter_mut().enumerate() {
            assert_eq!(slab.slot_ptr(i as u32) as usize - base, 128 * i + 64);
            slab.bytes_mut(t).fill(0xaa);
        }
        // The headroom of slot 1 was not written through slot 0's bytes.
        // SAFETY: inside the allocation, and no slice of these bytes is alive.
        let gap = unsafe { std::slice::from_raw_parts(slab.slot_ptr(1).sub(64), 64) };
        assert!(gap.iter().all(|&b| b == 0));
        assert_eq!(spans_of(&slab, &[(0, 64), (1, 64)]), [(64, 64), (192, 64)]);
    }

    #[test]
    #[should_panic(expected = "another slab")]
    fn foreign_token_is_refused() {
        let (a, _ta) = Slab::new(1, 64);
        let (_b, tb) = Slab::new(1, 64);
        let _ = a.bytes(&tb[0]);
    }

    /// (offset from the slab's start, length) of each span of `pkts` as (slot, len) pairs.
    fn spans_of(slab: &Slab, pkts: &[(u32, u32)]) -> Vec<(usize, usize)> {
        let pkts: Vec<TxDesc> = pkts
            .iter()
            .map(|&(slot, len)| TxDesc { slot, len })
            .collect();
        let base = slab.region().0 as usize;
        let mut out = Vec::new();
        let n = slab.spans(&pkts, |p, len| out.push((p as usize - base, len)));
        assert_eq!(n, out.len(), "returned count");
        out
    }

    #[test]
    fn packets_filling_consecutive_slots_make_one_span() {
        let (slab, _t) = Slab::new(8, 64);
        assert_eq!(spans_of(&slab, &[(2, 64), (3, 64), (4, 64)]), [(128, 192)]);
        // The last packet may be shorter: its bytes still follow on.
        assert_eq!(spans_of(&slab, &[(0, 64), (1, 64), (2, 10)]), [(0, 138)]);
        assert_eq!(spans_of(&slab, &[(5, 64)]), [(320, 64)]);
        assert_eq!(spans_of(&slab, &[]), []);
    }

    #[test]
    fn a_gap_a_jump_or_reversed_order_starts_a_new_span() {
        let (slab, _t) = Slab::new(8, 64);
        // A packet shorter than its slot leaves a gap before the next slot.
        assert_eq!(spans_of(&slab, &[(0, 60), (1, 60)]), [(0, 60), (64, 60)]);
        assert_eq!(
            spans_of(&slab, &[(0, 64), (2, 64), (3, 64)]),
            [(0, 64), (128, 128)]
        );
        assert_eq!(spans_of(&slab, &[(3, 64), (2, 64)]), [(192, 64), (128, 64)]);
        // A short packet in the middle ends its span; the next starts one.
        assert_eq!(
            spans_of(&slab, &[(0, 64), (1, 32), (2, 64), (3, 64)]),
            [(0, 96), (128, 128)]
        );
        // The same slot twice is not "the next slot".
        assert_eq!(spans_of(&slab, &[(1, 64), (1, 64)]), [(64, 64), (64, 64)]);
    }
}
