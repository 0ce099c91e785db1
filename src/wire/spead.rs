//! SPEAD packets (as spead2 sends them), big-endian.
//!
//! ```text
//!  0      1      2        3        4      6            8
//!  +------+------+--------+--------+------+------------+
//!  | 0x53 | 0x04 | ptr-hw | hw     | 0 0  | item count |   header; hw = heap address width
//!  +------+------+--------+--------+------+------------+
//!  | item pointer × item count (64 bits each):           |
//!  |   bit 63 immediate | id (63 − 8·hw bits) | value / address (8·hw bits)
//!  | payload: `payload length` bytes                     |
//! ```
//! Flavour 64-40 (spead2's default): ptr-hw 3, hw 5, 23-bit ids, 40-bit values. Flavour 64-48:
//! ptr-hw 2, hw 6, 15-bit ids, 48-bit values. Ids 0x1 heap cnt, 0x2 heap size, 0x3 heap offset,
//! 0x4 payload length (1, 3 and 4 required, all immediate), 0x6 stream control (2 = stop),
//! 0x0 null (ignored).

use super::WireError;

/// Bytes of the packet header.
pub const HEADER_LEN: usize = 8;
/// Bytes of one item pointer.
pub const POINTER_LEN: usize = 8;
pub const MAGIC: u8 = 0x53;
pub const VERSION: u8 = 4;
pub const ID_NULL: u32 = 0x0;
pub const ID_HEAP_CNT: u32 = 0x1;
pub const ID_HEAP_SIZE: u32 = 0x2;
pub const ID_HEAP_OFFSET: u32 = 0x3;
pub const ID_PAYLOAD_LEN: u32 = 0x4;
pub const ID_STREAM_CTRL: u32 = 0x6;
/// Stream control value that ends a stream.
pub const CTRL_STOP: u64 = 2;

/// Heap-address width.
///
/// ```
/// use ringshot::wire::spead::Flavour;
///
/// let f: Flavour = "64-48".parse().unwrap();
/// assert_eq!((f.addr_bits(), f.max_id(), f.name()), (48, (1 << 15) - 1, "64-48"));
/// assert_eq!(Flavour::default().max_value(), (1 << 40) - 1);
/// assert!("64-32".parse::<Flavour>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Flavour {
    /// 40-bit addresses, 23-bit ids: spead2's default.
    #[default]
    Spead64_40,
    /// 48-bit addresses, 15-bit ids.
    Spead64_48,
}

impl Flavour {
    /// Heap-address width in bits.
    pub const fn addr_bits(self) -> u32 {
        match self {
            Flavour::Spead64_40 => 40,
            Flavour::Spead64_48 => 48,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Flavour::Spead64_40 => "64-40",
            Flavour::Spead64_48 => "64-48",
        }
    }

    fn from_widths(ptr: u8, hw: u8) -> Option<Flavour> {
        match (ptr, hw) {
            (3, 5) => Some(Flavour::Spead64_40),
            (2, 6) => Some(Flavour::Spead64_48),
            _ => None,
        }
    }

    /// Largest value (or address) an item pointer holds.
    pub const fn max_value(self) -> u64 {
        (1 << self.addr_bits()) - 1
    }

    /// Largest item id.
    pub const fn max_id(self) -> u32 {
        (1 << (63 - self.addr_bits())) - 1
    }
}

impl std::str::FromStr for Flavour {
    type Err = String;
    fn from_str(s: &str) -> Result<Flavour, String> {
        match s {
            "64-40" => Ok(Flavour::Spead64_40),
            "64-48" => Ok(Flavour::Spead64_48),
            _ => Err(format!(
                "unknown SPEAD flavour '{s}' (expected 64-40 or 64-48)"
            )),
        }
    }
}

/// One item pointer.
///
/// ```
/// use ringshot::wire::spead::{Flavour, ItemPointer, Packet, Repr, ID_HEAP_CNT};
///
/// // A data item (id 0x1000) at heap address 0, written after the packet-level items.
/// let data = ItemPointer { immediate: false, id: 0x1000, value: 0 };
/// let repr = Repr {
///     flavour: Flavour::Spead64_40,
///     heap_cnt: 1,
///     heap_size: None,
///     heap_offset: 0,
///     payload_len: 0,
///     stream_ctrl: None,
///     other_items: 0,
/// };
/// let mut buf = [0u8; 64];
/// let end = repr.emit(&mut buf, &[data]);
/// let p = Packet::new_checked(&buf[..end]).unwrap();
/// assert_eq!(p.item(0), ItemPointer::imm(ID_HEAP_CNT, 1));
/// assert_eq!(p.item(3), data);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ItemPointer {
    pub immediate: bool,
    pub id: u32,
    /// Immediate value, or the item's address in the heap.
    pub value: u64,
}

impl ItemPointer {
    fn raw(self, f: Flavour) -> u64 {
        u64::from(self.immediate) << 63
            | (u64::from(self.id & f.max_id())) << f.addr_bits()
            | (self.value & f.max_value())
    }

    fn from_raw(v: u64, f: Flavour) -> ItemPointer {
        ItemPointer {
            immediate: v >> 63 == 1,
            id: ((v >> f.addr_bits()) as u32) & f.max_id(),
            value: v & f.max_value(),
        }
    }

    /// An immediate item.
    pub const fn imm(id: u32, value: u64) -> ItemPointer {
        ItemPointer {
            immediate: true,
            id,
            value,
        }
    }
}

/// A zero-copy view of a SPEAD packet.
///
/// ```
/// use ringshot::wire::spead::{Flavour, ItemPointer, Packet, Repr};
///
/// // 64-40 header with 3 item pointers: heap cnt 5, heap offset 0, payload length 2 (all
/// // immediate), then 2 payload bytes.
/// let bytes = [
///     0x53, 0x04, 0x03, 0x05, 0x00, 0x00, 0x00, 0x03,
///     0x80, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x05,
///     0x80, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00,
///     0x80, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x02,
///     0xAA, 0xBB,
/// ];
/// let p = Packet::new_checked(&bytes[..]).unwrap();
/// assert_eq!((p.flavour(), p.item_count(), p.payload_at()), (Flavour::Spead64_40, 3, 32));
/// assert_eq!(p.item(0), ItemPointer::imm(1, 5));
/// assert_eq!(p.rest(), &[0xAA, 0xBB]);
/// let repr = Repr::parse(&p).unwrap();
/// assert_eq!((repr.heap_cnt, repr.heap_offset, repr.payload_len), (5, 0, 2));
/// // Item pointers announced but missing: truncated.
/// assert!(Packet::new_checked(&bytes[..20]).is_err());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Checks magic, version, flavour and that the header and item pointers fit.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, WireError> {
        let p = Packet::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    pub fn check_len(&self) -> Result<(), WireError> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if b[0] != MAGIC {
            return Err(WireError::BadMagic);
        }
        if b[1] != VERSION {
            return Err(WireError::BadVersion);
        }
        if Flavour::from_widths(b[2], b[3]).is_none() {
            return Err(WireError::BadField);
        }
        if b.len() < self.payload_at() {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The flavour (call after `check_len`).
    pub fn flavour(&self) -> Flavour {
        let b = self.buffer.as_ref();
        Flavour::from_widths(b[2], b[3]).unwrap_or_default()
    }

    pub fn item_count(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[6], b[7]])
    }

    /// Offset of the payload: after the header and every item pointer.
    pub fn payload_at(&self) -> usize {
        HEADER_LEN + usize::from(self.item_count()) * POINTER_LEN
    }

    /// Item pointer `i` (`i < item_count`).
    pub fn item(&self, i: usize) -> ItemPointer {
        let at = HEADER_LEN + i * POINTER_LEN;
        let b = &self.buffer.as_ref()[at..at + POINTER_LEN];
        let mut w = [0u8; 8];
        w.copy_from_slice(b);
        ItemPointer::from_raw(u64::from_be_bytes(w), self.flavour())
    }

    /// Everything after the item pointers (the payload, and any padding after it).
    pub fn rest(&self) -> &[u8] {
        &self.buffer.as_ref()[self.payload_at()..]
    }
}

/// The packet-level items of a SPEAD packet.
///
/// ```
/// use ringshot::wire::spead::{Flavour, Packet, Repr, CTRL_STOP};
///
/// let repr = Repr {
///     flavour: Flavour::Spead64_48,
///     heap_cnt: 42,
///     heap_size: Some(8),
///     heap_offset: 0,
///     payload_len: 8,
///     stream_ctrl: None,
///     other_items: 0,
/// };
/// let mut buf = [0u8; 128];
/// let at = repr.emit(&mut buf, &[]);
/// assert_eq!(at, repr.header_len(0));
/// buf[at..at + 8].copy_from_slice(b"ABCDEFGH");
/// let parsed = Repr::parse(&Packet::new_checked(&buf[..at + 8]).unwrap()).unwrap();
/// assert_eq!(parsed, repr);
///
/// // The end-of-stream packet: stream control 2, no payload.
/// let stop = Repr { heap_size: None, payload_len: 0, stream_ctrl: Some(CTRL_STOP), ..repr };
/// let at = stop.emit(&mut buf, &[]);
/// let parsed = Repr::parse(&Packet::new_checked(&buf[..at]).unwrap()).unwrap();
/// assert_eq!(parsed.stream_ctrl, Some(CTRL_STOP));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub flavour: Flavour,
    pub heap_cnt: u64,
    pub heap_size: Option<u64>,
    pub heap_offset: u64,
    pub payload_len: u64,
    /// Stream control value (2: stop), when the packet carries one.
    pub stream_ctrl: Option<u64>,
    /// Item pointers that are none of the above (descriptors, data items, nulls excluded).
    pub other_items: u16,
}

impl Repr {
    /// Parses a packet: heap cnt, heap offset and payload length are required (and must be
    /// immediate, else `bad_field`); the payload must fit (`truncated`).
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr, WireError> {
        p.check_len()?;
        let (mut cnt, mut size, mut off, mut len, mut ctrl) = (None, None, None, None, None);
        let mut other_items = 0u16;
        for i in 0..usize::from(p.item_count()) {
            let it = p.item(i);
            let slot = match it.id {
                ID_NULL => continue,
                ID_HEAP_CNT => &mut cnt,
                ID_HEAP_SIZE => &mut size,
                ID_HEAP_OFFSET => &mut off,
                ID_PAYLOAD_LEN => &mut len,
                ID_STREAM_CTRL if it.immediate => &mut ctrl,
                _ => {
                    other_items += 1;
                    continue;
                }
            };
            if !it.immediate {
                return Err(WireError::BadField);
            }
            *slot = Some(it.value);
        }
        let (Some(heap_cnt), Some(heap_offset), Some(payload_len)) = (cnt, off, len) else {
            return Err(WireError::BadField);
        };
        if (p.rest().len() as u64) < payload_len {
            return Err(WireError::Truncated);
        }
        Ok(Repr {
            flavour: p.flavour(),
            heap_cnt,
            heap_size: size,
            heap_offset,
            payload_len,
            stream_ctrl: ctrl,
            other_items,
        })
    }

    /// Bytes of header and item pointers this writes, with `extra` more pointers.
    pub fn header_len(&self, extra: usize) -> usize {
        let n = 3 + usize::from(self.heap_size.is_some()) + usize::from(self.stream_ctrl.is_some());
        HEADER_LEN + (n + extra) * POINTER_LEN
    }

    /// Writes the header and item pointers (heap cnt, heap size, heap offset, payload length,
    /// stream control, then `extra`) and returns where the payload starts. Values wider than
    /// the flavour's address are cut to it (callers keep them in range).
    ///
    /// # Panics
    /// If `buf` is shorter than [`header_len`](Self::header_len).
    pub fn emit(&self, buf: &mut [u8], extra: &[ItemPointer]) -> usize {
        let f = self.flavour;
        let (ptr, hw) = match f {
            Flavour::Spead64_40 => (3, 5),
            Flavour::Spead64_48 => (2, 6),
        };
        let items = [
            Some(ItemPointer::imm(ID_HEAP_CNT, self.heap_cnt)),
            self.heap_size.map(|s| ItemPointer::imm(ID_HEAP_SIZE, s)),
            Some(ItemPointer::imm(ID_HEAP_OFFSET, self.heap_offset)),
            Some(ItemPointer::imm(ID_PAYLOAD_LEN, self.payload_len)),
            self.stream_ctrl
                .map(|c| ItemPointer::imm(ID_STREAM_CTRL, c)),
        ];
        let mut at = HEADER_LEN;
        for it in items.into_iter().flatten().chain(extra.iter().copied()) {
            buf[at..at + POINTER_LEN].copy_from_slice(&it.raw(f).to_be_bytes());
            at += POINTER_LEN;
        }
        let count = ((at - HEADER_LEN) / POINTER_LEN) as u16;
        buf[..HEADER_LEN].copy_from_slice(&[MAGIC, VERSION, ptr, hw, 0, 0, 0, 0]);
        buf[6..8].copy_from_slice(&count.to_be_bytes());
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// 64-40, heap cnt 5, heap size 0x10, offset 8, payload length 8, one data item at address 0,
    /// payload "ABCDEFGH". Written by hand.
    static FIXTURE: [u8; 56] = [
        0x53, 0x04, 0x03, 0x05, 0x00, 0x00, 0x00, 0x05, // header, 5 items
        0x80, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x05, // heap cnt 5
        0x80, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x10, // heap size 16
        0x80, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x08, // heap offset 8
        0x80, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x08, // payload length 8
        0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // item 0x1000 at address 0
        b'A', b'B', b'C', b'D', b'E', b'F', b'G', b'H',
    ];

    fn fixture_repr() -> Repr {
        Repr {
            flavour: Flavour::Spead64_40,
            heap_cnt: 5,
            heap_size: Some(16),
            heap_offset: 8,
            payload_len: 8,
            stream_ctrl: None,
            other_items: 1,
        }
    }

    const DATA: ItemPointer = ItemPointer {
        immediate: false,
        id: 0x1000,
        value: 0,
    };

    #[test]
    fn parse_and_emit_fixture() {
        let p = Packet::new_checked(&FIXTURE[..]).unwrap();
        assert_eq!(Repr::parse(&p), Ok(fixture_repr()));
        assert_eq!(p.item(4), DATA);
        assert_eq!(&p.rest()[..8], b"ABCDEFGH");
        let mut buf = [0u8; 56];
        let at = fixture_repr().emit(&mut buf, &[DATA]);
        buf[at..].copy_from_slice(b"ABCDEFGH");
        assert_eq!(buf, FIXTURE);
    }

    #[test]
    fn rejections() {
        let mut b = FIXTURE;
        b[0] = 0x54;
        assert_eq!(
            Packet::new_checked(&b[..]).map(|_| ()),
            Err(WireError::BadMagic)
        );
        let mut b = FIXTURE;
        b[3] = 4;
        assert_eq!(
            Packet::new_checked(&b[..]).map(|_| ()),
            Err(WireError::BadField)
        );
        // Payload length 8 but only 7 bytes.
        let p = Packet::new_checked(&FIXTURE[..55]).unwrap();
        assert_eq!(Repr::parse(&p), Err(WireError::Truncated));
        // Item count beyond the datagram.
        let mut b = FIXTURE;
        b[7] = 9;
        assert_eq!(
            Packet::new_checked(&b[..]).map(|_| ()),
            Err(WireError::Truncated)
        );
        // No heap offset: heap offset item turned into a null.
        let mut b = FIXTURE;
        b[24..32].fill(0);
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&b[..])),
            Err(WireError::BadField)
        );
    }

    #[test]
    fn flavour_64_48_widths() {
        let r = Repr {
            flavour: Flavour::Spead64_48,
            heap_cnt: (1 << 48) - 1,
            stream_ctrl: Some(CTRL_STOP),
            other_items: 0,
            ..fixture_repr()
        };
        let mut buf = [0u8; 64];
        let at = r.emit(&mut buf, &[]);
        assert_eq!(&buf[..4], &[0x53, 0x04, 0x02, 0x06]);
        assert_eq!(
            &buf[8..16],
            &[0x80, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        );
        let p = Packet::new_checked(&buf[..at + 8]).unwrap();
        assert_eq!(Repr::parse(&p), Ok(r));
    }

    proptest! {
        #[test]
        fn round_trip(
            wide in any::<bool>(), cnt in any::<u64>(), size in proptest::option::of(any::<u64>()),
            off in any::<u64>(), len in 0u64..32, stop in any::<bool>(), extra in 0usize..3,
        ) {
            let flavour = if wide { Flavour::Spead64_48 } else { Flavour::Spead64_40 };
            let m = flavour.max_value();
            let r = Repr {
                flavour,
                heap_cnt: cnt & m,
                heap_size: size.map(|s| s & m),
                heap_offset: off & m,
                payload_len: len,
                stream_ctrl: stop.then_some(CTRL_STOP),
                other_items: extra as u16,
            };
            let extras = [DATA; 3];
            let mut buf = [0u8; 160];
            let at = r.emit(&mut buf, &extras[..extra]);
            prop_assert_eq!(at, r.header_len(extra));
            let p = Packet::new_checked(&buf[..at + len as usize]).unwrap();
            prop_assert_eq!(Repr::parse(&p), Ok(r));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
            let p = Packet::new_unchecked(&bytes[..]);
            if let Ok(r) = Repr::parse(&p) {
                prop_assert!(r.payload_len <= p.rest().len() as u64);
            }
        }
    }
}
