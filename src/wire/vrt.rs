//! VITA-49.0 (VRT) packets: 32-bit big-endian words.
//!
//! ```text
//!  31   28 27 26 25 24 23 22 21 20 19   16 15                 0
//!  +------+--+--+--+--+-----+-----+-------+--------------------+
//!  | type |C |T |r |TSM| TSI | TSF | count | size (words)       |  header
//!  +------+--+--+--+--+-----+-----+-------+--------------------+
//!  | stream id                     (types 1, 3, 4, 5)          |
//!  | class id: pad 8, OUI 24       (C)                         |
//!  |           info class 16, packet class 16                  |
//!  | integer timestamp             (TSI != 0)                  |
//!  | fractional timestamp, 64 bits (TSF != 0)                  |
//!  | payload ...                                               |
//!  | trailer                       (T, data packets only)      |
//! ```
//! Every optional field is located from the header flags; nothing sits at a fixed offset. The
//! packet occupies the first `size × 4` bytes of the buffer; anything after that is ignored.

use super::WireError;

/// VRT packet types 0..=5; 6..=15 are reserved.
///
/// ```
/// use ringshot::wire::vrt::PacketType;
///
/// let t = PacketType::from_raw(1).unwrap();
/// assert_eq!(t, PacketType::IfDataWithStreamId);
/// assert!(t.is_data() && t.has_stream_id());
/// assert!(!PacketType::IfData.has_stream_id());
/// assert_eq!(PacketType::IfContext.raw(), 4);
/// assert_eq!(PacketType::from_raw(6), None); // reserved
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    IfData,
    IfDataWithStreamId,
    ExtData,
    ExtDataWithStreamId,
    IfContext,
    ExtContext,
}

impl PacketType {
    pub const fn from_raw(v: u8) -> Option<PacketType> {
        Some(match v {
            0 => PacketType::IfData,
            1 => PacketType::IfDataWithStreamId,
            2 => PacketType::ExtData,
            3 => PacketType::ExtDataWithStreamId,
            4 => PacketType::IfContext,
            5 => PacketType::ExtContext,
            _ => return None,
        })
    }

    pub const fn raw(self) -> u8 {
        match self {
            PacketType::IfData => 0,
            PacketType::IfDataWithStreamId => 1,
            PacketType::ExtData => 2,
            PacketType::ExtDataWithStreamId => 3,
            PacketType::IfContext => 4,
            PacketType::ExtContext => 5,
        }
    }

    /// Data packets may carry a trailer; context packets may set TSM.
    pub const fn is_data(self) -> bool {
        self.raw() <= 3
    }

    /// Odd data types and all context types carry a stream id.
    pub const fn has_stream_id(self) -> bool {
        !self.is_data() || self.raw() & 1 == 1
    }
}

/// Integer-seconds timestamp kind (TSI, when not "none").
///
/// ```
/// use ringshot::wire::vrt::{PacketType, Repr, Tsf, Tsi};
///
/// // A data packet stamped with GPS seconds and a sample count.
/// let repr = Repr {
///     packet_type: PacketType::IfDataWithStreamId,
///     stream_id: Some(1),
///     class_id: None,
///     tsm: false,
///     integer_timestamp: Some((Tsi::Gps, 1_400_000_000)),
///     fractional_timestamp: Some((Tsf::SampleCount, 0)),
///     packet_count: 0,
///     trailer: None,
///     payload_words: 0,
/// };
/// assert_eq!(repr.header_len(), 4 + 4 + 4 + 8);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tsi {
    Utc = 1,
    Gps = 2,
    Other = 3,
}

/// Fractional timestamp kind (TSF, when not "none").
///
/// ```
/// use ringshot::wire::vrt::{Packet, PacketType, Repr, Tsf};
///
/// let repr = Repr {
///     packet_type: PacketType::IfData,
///     stream_id: None,
///     class_id: None,
///     tsm: false,
///     integer_timestamp: None,
///     fractional_timestamp: Some((Tsf::RealTimePs, 500_000)),
///     packet_count: 0,
///     trailer: None,
///     payload_words: 0,
/// };
/// let mut buf = vec![0u8; repr.buffer_len()];
/// repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
/// let p = Packet::new_checked(&buf[..]).unwrap();
/// assert_eq!(p.tsf(), Some(Tsf::RealTimePs));
/// assert_eq!(p.fractional_timestamp(), Some((Tsf::RealTimePs, 500_000)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tsf {
    SampleCount = 1,
    RealTimePs = 2,
    FreeRunning = 3,
}

impl Tsi {
    const fn from_raw(v: u32) -> Option<Tsi> {
        match v & 3 {
            1 => Some(Tsi::Utc),
            2 => Some(Tsi::Gps),
            3 => Some(Tsi::Other),
            _ => None,
        }
    }
}

impl Tsf {
    const fn from_raw(v: u32) -> Option<Tsf> {
        match v & 3 {
            1 => Some(Tsf::SampleCount),
            2 => Some(Tsf::RealTimePs),
            3 => Some(Tsf::FreeRunning),
            _ => None,
        }
    }
}

/// The 64-bit class identifier. The 8 bits above the OUI are not interpreted (emitted as zero).
///
/// ```
/// use ringshot::wire::vrt::{ClassId, Packet, PacketType, Repr};
///
/// let class = ClassId { oui: 0x00_12_A2, info_class: 1, packet_class: 2 };
/// let repr = Repr {
///     packet_type: PacketType::ExtDataWithStreamId,
///     stream_id: Some(5),
///     class_id: Some(class),
///     tsm: false,
///     integer_timestamp: None,
///     fractional_timestamp: None,
///     packet_count: 0,
///     trailer: None,
///     payload_words: 0,
/// };
/// let mut buf = vec![0u8; repr.buffer_len()];
/// repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
/// let p = Packet::new_checked(&buf[..]).unwrap();
/// assert!(p.class_id_present());
/// assert_eq!(p.class_id(), Some(class));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClassId {
    /// IEEE OUI, 24 bits.
    pub oui: u32,
    pub info_class: u16,
    pub packet_class: u16,
}

mod bits {
    pub const TYPE_SHIFT: u32 = 28;
    pub const C: u32 = 1 << 27;
    pub const T: u32 = 1 << 26;
    pub const TSM: u32 = 1 << 24;
    pub const TSI_SHIFT: u32 = 22;
    pub const TSF_SHIFT: u32 = 20;
    pub const COUNT_SHIFT: u32 = 16;
    pub const SIZE_MASK: u32 = 0xFFFF;
}

/// A zero-copy view of a VRT packet.
///
/// ```
/// use ringshot::wire::vrt::{Packet, PacketType};
///
/// // IF data with a stream id: header 0x1000_0003 (type 1, size 3 words), stream id 0x42,
/// // one payload word.
/// let bytes = [0x10, 0x00, 0x00, 0x03, 0, 0, 0, 0x42, 0xDE, 0xAD, 0xBE, 0xEF];
/// let p = Packet::new_checked(&bytes[..]).unwrap();
/// assert_eq!(p.packet_type(), Some(PacketType::IfDataWithStreamId));
/// assert_eq!((p.stream_id(), p.size_words(), p.packet_len()), (Some(0x42), 3, 12));
/// assert_eq!((p.header_len(), p.packet_count()), (8, 0));
/// assert_eq!((p.tsi(), p.tsf(), p.trailer()), (None, None, None));
/// assert!(!p.trailer_present() && !p.tsm());
/// assert_eq!(p.payload_word(0), Some(0xDEAD_BEEF));
/// assert_eq!(p.payload_word(1), None);
/// assert_eq!(p.header(), 0x1000_0003);
/// // The size field says 12 bytes; a shorter buffer is rejected.
/// assert!(Packet::new_checked(&bytes[..8]).is_err());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer after checking that the header, the fields it announces and the size it
    /// claims all fit.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Ensures accessors will not panic: a known type, a size that holds the announced fields,
    /// and a buffer that holds the size.
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < 4 {
            return Err(WireError::Truncated);
        }
        if self.packet_type().is_none() {
            return Err(WireError::BadField);
        }
        if self.packet_len() < self.header_len() + self.trailer_len() {
            return Err(WireError::BadField);
        }
        if len < self.packet_len() {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn word(&self, at: usize) -> u32 {
        let b = self.buffer.as_ref();
        u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }

    /// The raw header word.
    pub fn header(&self) -> u32 {
        self.word(0)
    }

    /// `None` for the reserved types 6..=15.
    pub fn packet_type(&self) -> Option<PacketType> {
        PacketType::from_raw((self.header() >> bits::TYPE_SHIFT) as u8)
    }

    pub fn class_id_present(&self) -> bool {
        self.header() & bits::C != 0
    }

    /// The T bit; only data packets carry a trailer.
    pub fn trailer_present(&self) -> bool {
        self.header() & bits::T != 0 && self.packet_type().is_some_and(PacketType::is_data)
    }

    /// The TSM bit; meaningful for context packets only.
    pub fn tsm(&self) -> bool {
        self.header() & bits::TSM != 0 && self.packet_type().is_some_and(|t| !t.is_data())
    }

    pub fn tsi(&self) -> Option<Tsi> {
        Tsi::from_raw(self.header() >> bits::TSI_SHIFT)
    }

    pub fn tsf(&self) -> Option<Tsf> {
        Tsf::from_raw(self.header() >> bits::TSF_SHIFT)
    }

    /// Packet count, modulo 16.
    pub fn packet_count(&self) -> u8 {
        ((self.header() >> bits::COUNT_SHIFT) & 0xF) as u8
    }

    /// Size field: the whole packet in 32-bit words, header and trailer included.
    pub fn size_words(&self) -> u16 {
        (self.header() & bits::SIZE_MASK) as u16
    }

    /// The whole packet in bytes, as the size field claims.
    pub fn packet_len(&self) -> usize {
        usize::from(self.size_words()) * 4
    }

    fn stream_id_len(&self) -> usize {
        if self.packet_type().is_some_and(PacketType::has_stream_id) {
            4
        } else {
            0
        }
    }

    fn class_id_at(&self) -> usize {
        4 + self.stream_id_len()
    }

    fn tsi_at(&self) -> usize {
        self.class_id_at() + if self.class_id_present() { 8 } else { 0 }
    }

    fn tsf_at(&self) -> usize {
        self.tsi_at() + if self.tsi().is_some() { 4 } else { 0 }
    }

    /// Bytes before the payload: header word and every optional field it announces.
    pub fn header_len(&self) -> usize {
        self.tsf_at() + if self.tsf().is_some() { 8 } else { 0 }
    }

    fn trailer_len(&self) -> usize {
        if self.trailer_present() {
            4
        } else {
            0
        }
    }

    pub fn stream_id(&self) -> Option<u32> {
        (self.stream_id_len() != 0).then(|| self.word(4))
    }

    pub fn class_id(&self) -> Option<ClassId> {
        self.class_id_present().then(|| {
            let at = self.class_id_at();
            let w0 = self.word(at);
            let w1 = self.word(at + 4);
            ClassId {
                oui: w0 & 0x00FF_FFFF,
                info_class: (w1 >> 16) as u16,
                packet_class: w1 as u16,
            }
        })
    }

    pub fn integer_timestamp(&self) -> Option<(Tsi, u32)> {
        self.tsi().map(|k| (k, self.word(self.tsi_at())))
    }

    pub fn fractional_timestamp(&self) -> Option<(Tsf, u64)> {
        self.tsf().map(|k| {
            let at = self.tsf_at();
            (
                k,
                u64::from(self.word(at)) << 32 | u64::from(self.word(at + 4)),
            )
        })
    }

    pub fn trailer(&self) -> Option<u32> {
        self.trailer_present()
            .then(|| self.word(self.packet_len() - 4))
    }

    /// The payload: between the announced fields and the trailer, within the size field.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..self.packet_len() - self.trailer_len()]
    }

    /// Payload word `i` (big-endian), if the payload has it.
    pub fn payload_word(&self, i: usize) -> Option<u32> {
        let p = self.payload();
        let at = i.checked_mul(4)?;
        let w = p.get(at..at.checked_add(4)?)?;
        Some(u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn set_word(&mut self, at: usize, v: u32) {
        self.buffer.as_mut()[at..at + 4].copy_from_slice(&v.to_be_bytes());
    }

    /// Writes the raw header word. Set it before the optional fields: their offsets follow it.
    pub fn set_header(&mut self, v: u32) {
        self.set_word(0, v);
    }

    /// Writes the stream id (the packet type must carry one).
    pub fn set_stream_id(&mut self, v: u32) {
        self.set_word(4, v);
    }

    /// Writes the class id (the C bit must be set).
    pub fn set_class_id(&mut self, c: ClassId) {
        let at = self.class_id_at();
        self.set_word(at, c.oui & 0x00FF_FFFF);
        self.set_word(
            at + 4,
            u32::from(c.info_class) << 16 | u32::from(c.packet_class),
        );
    }

    /// Writes the integer timestamp (TSI must be set).
    pub fn set_integer_timestamp(&mut self, v: u32) {
        let at = self.tsi_at();
        self.set_word(at, v);
    }

    /// Writes the fractional timestamp (TSF must be set).
    pub fn set_fractional_timestamp(&mut self, v: u64) {
        let at = self.tsf_at();
        self.set_word(at, (v >> 32) as u32);
        self.set_word(at + 4, v as u32);
    }

    /// Writes the trailer (the T bit and the size must be set).
    pub fn set_trailer(&mut self, v: u32) {
        let at = self.packet_len() - 4;
        self.set_word(at, v);
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (start, end) = (self.header_len(), self.packet_len() - self.trailer_len());
        &mut self.buffer.as_mut()[start..end]
    }
}

/// High-level form of a VRT packet header (everything but the payload bytes).
///
/// ```
/// use ringshot::wire::vrt::{Packet, PacketType, Repr, Tsf, Tsi};
///
/// let repr = Repr {
///     packet_type: PacketType::IfDataWithStreamId,
///     stream_id: Some(7),
///     class_id: None,
///     tsm: false,
///     integer_timestamp: Some((Tsi::Utc, 1_700_000_000)),
///     fractional_timestamp: Some((Tsf::SampleCount, 4096)),
///     packet_count: 3,
///     trailer: Some(0),
///     payload_words: 2,
/// };
/// let mut buf = vec![0u8; repr.buffer_len()];
/// let mut p = Packet::new_unchecked(&mut buf[..]);
/// repr.emit(&mut p);
/// p.payload_mut().copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
/// let p = Packet::new_checked(&buf[..]).unwrap();
/// assert_eq!(Repr::parse(&p), Ok(repr));
/// assert_eq!(p.payload(), &[1, 2, 3, 4, 5, 6, 7, 8]);
/// assert_eq!(p.integer_timestamp(), Some((Tsi::Utc, 1_700_000_000)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub packet_type: PacketType,
    /// Present exactly when `packet_type.has_stream_id()`; emitted as 0 if missing there.
    pub stream_id: Option<u32>,
    pub class_id: Option<ClassId>,
    /// Timestamp mode; context packets only.
    pub tsm: bool,
    pub integer_timestamp: Option<(Tsi, u32)>,
    pub fractional_timestamp: Option<(Tsf, u64)>,
    /// Packet count, modulo 16.
    pub packet_count: u8,
    /// Data packets only.
    pub trailer: Option<u32>,
    /// Payload length in 32-bit words.
    pub payload_words: usize,
}

impl Repr {
    /// Parses a checked packet.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr, WireError> {
        packet.check_len()?;
        let packet_type = packet.packet_type().ok_or(WireError::BadField)?;
        Ok(Repr {
            packet_type,
            stream_id: packet.stream_id(),
            class_id: packet.class_id(),
            tsm: packet.tsm(),
            integer_timestamp: packet.integer_timestamp(),
            fractional_timestamp: packet.fractional_timestamp(),
            packet_count: packet.packet_count(),
            trailer: packet.trailer(),
            payload_words: packet.payload().len() / 4,
        })
    }

    fn has_trailer(&self) -> bool {
        self.trailer.is_some() && self.packet_type.is_data()
    }

    /// Bytes before the payload.
    pub fn header_len(&self) -> usize {
        4 + if self.packet_type.has_stream_id() {
            4
        } else {
            0
        } + if self.class_id.is_some() { 8 } else { 0 }
            + if self.integer_timestamp.is_some() {
                4
            } else {
                0
            }
            + if self.fractional_timestamp.is_some() {
                8
            } else {
                0
            }
    }

    /// The whole packet in bytes. The size field holds 16 bits, so this must stay below 256 KiB.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload_words * 4 + if self.has_trailer() { 4 } else { 0 }
    }

    /// Writes the header, the optional fields and the trailer; the caller fills `payload_mut()`.
    ///
    /// # Panics
    /// If the buffer is shorter than [`Repr::buffer_len`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        let mut h = u32::from(self.packet_type.raw()) << bits::TYPE_SHIFT;
        if self.class_id.is_some() {
            h |= bits::C;
        }
        if self.has_trailer() {
            h |= bits::T;
        }
        if self.tsm && !self.packet_type.is_data() {
            h |= bits::TSM;
        }
        if let Some((k, _)) = self.integer_timestamp {
            h |= (k as u32) << bits::TSI_SHIFT;
        }
        if let Some((k, _)) = self.fractional_timestamp {
            h |= (k as u32) << bits::TSF_SHIFT;
        }
        h |= u32::from(self.packet_count & 0xF) << bits::COUNT_SHIFT;
        h |= (self.buffer_len() / 4) as u32 & bits::SIZE_MASK;
        packet.set_header(h);
        if self.packet_type.has_stream_id() {
            packet.set_stream_id(self.stream_id.unwrap_or(0));
        }
        if let Some(c) = self.class_id {
            packet.set_class_id(c);
        }
        if let Some((_, v)) = self.integer_timestamp {
            packet.set_integer_timestamp(v);
        }
        if let Some((_, v)) = self.fractional_timestamp {
            packet.set_fractional_timestamp(v);
        }
        if let (true, Some(t)) = (self.has_trailer(), self.trailer) {
            packet.set_trailer(t);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// IF data with stream id, class id, both timestamps and a trailer, written by hand:
    /// header 0x1 C T . | TSI=2 (GPS) TSF=1 (samples) | count 3 | size 10.
    pub(crate) static DATA_FIXTURE: [u8; 40] = [
        0x1C, 0x93, 0x00, 0x0A, // type 1, C, T; TSI 2, TSF 1, count 3; size 10 words
        0xDE, 0xAD, 0xBE, 0xEF, // stream id
        0x00, 0x00, 0x2D, 0x35, // class id: pad 0, OUI 0x002D35
        0x12, 0x34, 0x56, 0x78, // info class 0x1234, packet class 0x5678
        0x65, 0x00, 0x00, 0x01, // integer timestamp
        0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, // fractional timestamp 2^32 + 2
        0x01, 0x02, 0x03, 0x04, // payload word 0
        0x05, 0x06, 0x07, 0x08, // payload word 1
        0x40, 0x00, 0x01, 0x00, // trailer
    ];

    fn data_repr() -> Repr {
        Repr {
            packet_type: PacketType::IfDataWithStreamId,
            stream_id: Some(0xDEAD_BEEF),
            class_id: Some(ClassId {
                oui: 0x2D35,
                info_class: 0x1234,
                packet_class: 0x5678,
            }),
            tsm: false,
            integer_timestamp: Some((Tsi::Gps, 0x6500_0001)),
            fractional_timestamp: Some((Tsf::SampleCount, (1 << 32) + 2)),
            packet_count: 3,
            trailer: Some(0x4000_0100),
            payload_words: 2,
        }
    }

    #[test]
    fn parse_data_fixture() {
        let p = Packet::new_checked(&DATA_FIXTURE[..]).unwrap();
        assert_eq!(Repr::parse(&p).unwrap(), data_repr());
        assert_eq!(p.header_len(), 28);
        assert_eq!(p.payload(), &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(p.payload_word(1), Some(0x0506_0708));
        assert_eq!(p.payload_word(2), None);
        assert_eq!(p.payload_word(usize::MAX), None);
    }

    #[test]
    fn emit_data_fixture() {
        let r = data_repr();
        assert_eq!(r.buffer_len(), 40);
        let mut buf = [0u8; 40];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        r.emit(&mut p);
        p.payload_mut().copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(buf, DATA_FIXTURE);
    }

    #[test]
    fn minimal_packets() {
        // Type 0 IF data, no stream id, no options, one payload word; extra bytes ignored.
        let b = [0x00, 0x05, 0x00, 0x02, 0xAA, 0xBB, 0xCC, 0xDD, 0xFF, 0xFF];
        let p = Packet::new_checked(&b[..]).unwrap();
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r.packet_type, PacketType::IfData);
        assert_eq!(r.stream_id, None);
        assert_eq!(r.packet_count, 5);
        assert_eq!(p.payload(), &[0xAA, 0xBB, 0xCC, 0xDD]);
        // Context with TSM, and a T bit that context packets do not have.
        let b = [0x55, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02];
        let p = Packet::new_checked(&b[..]).unwrap();
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r.packet_type, PacketType::ExtContext);
        assert!(r.tsm);
        assert_eq!(r.trailer, None);
        assert_eq!(r.stream_id, Some(2));
        assert_eq!(r.payload_words, 0);
    }

    #[test]
    fn rejects_bad_input() {
        let check = |b: &[u8]| Packet::new_checked(b).map(|_| ());
        assert_eq!(check(&[0x10, 0x00, 0x00]), Err(WireError::Truncated));
        // Reserved type 6.
        assert_eq!(check(&[0x60, 0, 0, 1]), Err(WireError::BadField));
        // Size 0, and a size too small for the stream id it announces.
        assert_eq!(check(&[0x00, 0, 0, 0]), Err(WireError::BadField));
        assert_eq!(
            check(&[0x10, 0, 0, 1, 0, 0, 0, 0]),
            Err(WireError::BadField)
        );
        // The fixture cut short, and with a size larger than the buffer.
        assert_eq!(check(&DATA_FIXTURE[..36]), Err(WireError::Truncated));
        let mut big = DATA_FIXTURE;
        big[3] = 11;
        assert_eq!(check(&big), Err(WireError::Truncated));
    }

    pub(crate) fn arb_repr() -> impl Strategy<Value = Repr> {
        let ty = (0u8..6).prop_map(|t| PacketType::from_raw(t).unwrap());
        let tsi = prop_oneof![Just(Tsi::Utc), Just(Tsi::Gps), Just(Tsi::Other)];
        let tsf = prop_oneof![
            Just(Tsf::SampleCount),
            Just(Tsf::RealTimePs),
            Just(Tsf::FreeRunning)
        ];
        let cid = (0u32..1 << 24, any::<u16>(), any::<u16>()).prop_map(|(oui, i, p)| ClassId {
            oui,
            info_class: i,
            packet_class: p,
        });
        (
            ty,
            any::<u32>(),
            proptest::option::of(cid),
            any::<bool>(),
            proptest::option::of((tsi, any::<u32>())),
            proptest::option::of((tsf, any::<u64>())),
            0u8..16,
            any::<Option<u32>>(),
            0usize..64,
        )
            .prop_map(|(t, sid, cid, tsm, tsi, tsf, count, trailer, words)| Repr {
                packet_type: t,
                stream_id: t.has_stream_id().then_some(sid),
                class_id: cid,
                tsm: tsm && !t.is_data(),
                integer_timestamp: tsi,
                fractional_timestamp: tsf,
                packet_count: count,
                trailer: trailer.filter(|_| t.is_data()),
                payload_words: words,
            })
    }

    proptest! {
        #[test]
        fn round_trip(r in arb_repr(), fill in any::<u8>()) {
            let mut buf = vec![0u8; r.buffer_len()];
            let mut p = Packet::new_unchecked(&mut buf[..]);
            r.emit(&mut p);
            p.payload_mut().fill(fill);
            let p = Packet::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(Repr::parse(&p), Ok(r));
            prop_assert_eq!(p.payload().len(), r.payload_words * 4);
            prop_assert!(p.payload().iter().all(|&b| b == fill));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
            let p = Packet::new_unchecked(&bytes[..]);
            if Repr::parse(&p).is_ok() {
                let _ = (p.payload(), p.trailer(), p.payload_word(3), p.class_id());
            }
        }

        /// Random bytes rarely carry a size that fits; this draws headers whose size is small, so
        /// every combination of flags meets every buffer length.
        #[test]
        fn arbitrary_headers_never_panic(
            flags in any::<u16>(),
            size in 0u16..24,
            rest in proptest::collection::vec(any::<u8>(), 0..96),
        ) {
            let mut bytes = Vec::with_capacity(4 + rest.len());
            bytes.extend_from_slice(&flags.to_be_bytes());
            bytes.extend_from_slice(&size.to_be_bytes());
            bytes.extend_from_slice(&rest);
            let p = Packet::new_unchecked(&bytes[..]);
            if Repr::parse(&p).is_ok() {
                prop_assert!(p.header_len() + p.payload().len() <= p.packet_len());
                let _ = (p.trailer(), p.payload_word(0), p.fractional_timestamp());
            }
        }
    }
}
