//! SPEAD framing: the stream is cut into heaps of a fixed size, each sent as packets that carry
//! heap cnt, heap size, heap offset and payload length, plus one data item (at heap address 0)
//! in the heap's first packet; a null item keeps the header room the same in the others. The
//! stream ends with a stop heap (stream control = 2).

use crate::wire::spead::{self, Flavour};

/// Item pointers in every packet: the four packet items and one more (the data item, a null, or
/// stream control in the stop heap).
pub const POINTERS: usize = 5;
/// Header room of every SPEAD packet.
pub const HEADER_LEN: usize = spead::HEADER_LEN + POINTERS * spead::POINTER_LEN;
/// Item id of the heap's data, by default (the first id past SPEAD's reserved ones).
pub const DEFAULT_ITEM_ID: u32 = 0x1000;
/// Default heap size in bytes.
pub const DEFAULT_HEAP_SIZE: u64 = 65_536;

/// The most whole packets of `room` data bytes within `heap` bytes, as a heap size (at least one
/// packet's worth): a heap that never ends in a short packet.
///
/// ```
/// use ringshot::framing::whole_packet_heap;
///
/// assert_eq!(whole_packet_heap(65_536, 1424), 46 * 1424);
/// assert_eq!(whole_packet_heap(100, 1424), 1424); // at least one packet
/// ```
pub fn whole_packet_heap(heap: u64, room: u64) -> u64 {
    let room = room.max(1);
    room * (heap / room).max(1)
}

/// SPEAD options.
///
/// ```
/// use ringshot::framing::{Format, Framing, Spead};
/// use ringshot::wire::spead::Flavour;
///
/// // Two senders feeding one spead2 stream: heap cnts 1, 3, 5, ... and 2, 4, 6, ...
/// let framing = Framing {
///     spead: Spead {
///         flavour: Flavour::Spead64_48,
///         heap_size: 1 << 20,
///         first_heap_cnt: 1,
///         heap_cnt_step: 2,
///         ..Spead::default()
///     },
///     ..Framing::of(Format::Spead)
/// };
/// let cfg = ringshot::SenderConfig::builder("127.0.0.1:8888".parse().unwrap())
///     .framing(framing)
///     .build();
/// assert!(cfg.is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spead {
    pub flavour: Flavour,
    /// Bytes of data per heap (at least 1, within the flavour's address range).
    pub heap_size: u64,
    /// Heap cnt of the first heap (spead2 senders start at 1).
    pub first_heap_cnt: u64,
    /// Added to the heap cnt per heap (several senders into one stream use the sender count,
    /// each starting at its own index).
    pub heap_cnt_step: u64,
    /// Item id the heap's data is sent under.
    pub item_id: u32,
}

impl Default for Spead {
    fn default() -> Spead {
        Spead {
            flavour: Flavour::Spead64_40,
            heap_size: DEFAULT_HEAP_SIZE,
            first_heap_cnt: 1,
            heap_cnt_step: 1,
            item_id: DEFAULT_ITEM_ID,
        }
    }
}

/// Where the stream is in its heaps.
#[derive(Debug, Clone)]
pub(super) struct HeapCursor {
    cnt: u64,
    offset: u64,
    stopped: bool,
}

impl HeapCursor {
    pub(super) fn new(s: &Spead) -> HeapCursor {
        HeapCursor {
            cnt: s.first_heap_cnt,
            offset: 0,
            stopped: false,
        }
    }

    /// Room for the next packet's data: what is left of the heap, at most `max`.
    #[inline]
    pub(super) fn room(&self, s: &Spead, max: usize) -> usize {
        let left = s.heap_size.saturating_sub(self.offset);
        usize::try_from(left).map_or(max, |l| l.min(max))
    }

    /// Writes a data packet's header for `app_len` bytes at the cursor and moves it on.
    #[inline]
    pub(super) fn stamp(&mut self, s: &Spead, buf: &mut [u8], app_len: usize) -> usize {
        // The layout `spead::Repr::emit` writes (the tests parse it back), one store per word.
        let bits = s.flavour.addr_bits();
        let imm =
            |id: u32, v: u64| 1u64 << 63 | u64::from(id) << bits | (v & s.flavour.max_value());
        let extra = if self.offset == 0 {
            u64::from(s.item_id & s.flavour.max_id()) << bits
        } else {
            imm(spead::ID_NULL, 0)
        };
        let (ptr, hw) = match s.flavour {
            Flavour::Spead64_40 => (3, 5),
            Flavour::Spead64_48 => (2, 6),
        };
        let words = [
            u64::from_be_bytes([
                spead::MAGIC,
                spead::VERSION,
                ptr,
                hw,
                0,
                0,
                0,
                POINTERS as u8,
            ]),
            imm(spead::ID_HEAP_CNT, self.cnt),
            imm(spead::ID_HEAP_SIZE, s.heap_size),
            imm(spead::ID_HEAP_OFFSET, self.offset),
            imm(spead::ID_PAYLOAD_LEN, app_len as u64),
            extra,
        ];
        for (i, w) in words.iter().enumerate() {
            buf[i * 8..i * 8 + 8].copy_from_slice(&w.to_be_bytes());
        }
        self.advance(s, app_len);
        HEADER_LEN + app_len
    }

    /// Moves the cursor past a packet of `app_len` data bytes: the next heap once this one is
    /// full. The one place the heap bookkeeping lives (the engine's stamp and a push-mode
    /// sender's view of the room both go through it).
    #[inline]
    pub(super) fn advance(&mut self, s: &Spead, app_len: usize) {
        self.offset += app_len as u64;
        if self.offset >= s.heap_size {
            // Heap cnt is a flavour-wide counter (40 or 48 bits): it wraps there by design, as
            // spead2's does.
            self.cnt = self.cnt.wrapping_add(s.heap_cnt_step) & s.flavour.max_value();
            self.offset = 0;
        }
    }

    /// The stop heap, once: after a partial heap it takes the next heap cnt.
    pub(super) fn stamp_stop(&mut self, s: &Spead, buf: &mut [u8]) -> Option<usize> {
        if self.stopped {
            return None;
        }
        self.stopped = true;
        if self.offset != 0 {
            self.cnt = self.cnt.wrapping_add(s.heap_cnt_step) & s.flavour.max_value();
            self.offset = 0;
        }
        let repr = spead::Repr {
            flavour: s.flavour,
            heap_cnt: self.cnt,
            heap_size: Some(0),
            heap_offset: 0,
            payload_len: 0,
            stream_ctrl: Some(spead::CTRL_STOP),
            other_items: 0,
        };
        Some(repr.emit(buf, &[]))
    }
}
