//! RFNoC CHDR with a 64-bit bus: little-endian 64-bit words. Parsed and emitted
//! here: the header, stream status (STRS, device → host) and stream command (STRC, host → device).
//!
//! ```text
//!  63    58 57  56  55   53 52    48 47        32 31        16 15         0
//!  +-------+---+---+-------+--------+------------+------------+------------+
//!  |  VC   |EOB|EOV|PktType|NumMData|   SeqNum   |   Length   |  DstEPID   |  header
//!  +-------+---+---+-------+--------+------------+------------+------------+
//!  | timestamp (PktType 7 only)                                            |
//!  | NumMData metadata words                                               |
//!  | payload ... up to Length bytes (whole packet)                         |
//! ```
//! STRS payload, 4 words: w0 = capacity_bytes 63:24 | status 19:16 | src_epid 15:0;
//! w1 = xfer_count_pkts 63:24 | capacity_pkts 23:0; w2 = xfer_count_bytes;
//! w3 = status_info 63:16 | buff_info 15:0.
//! STRC payload, 2 words: w0 = num_pkts 63:24 | op_data 23:20 | opcode 19:16 | src_epid 15:0;
//! w1 = num_bytes. Only the 64-bit CHDR width is supported (wider buses pad the header).

use super::WireError;

/// Bytes of the CHDR header word.
pub const HEADER_LEN: usize = 8;
/// Bytes of an STRS payload.
pub const STRS_LEN: usize = 32;
/// Bytes of an STRC payload.
pub const STRC_LEN: usize = 16;

const MASK_40: u64 = (1 << 40) - 1;
const MASK_24: u64 = (1 << 24) - 1;
const MASK_48: u64 = (1 << 48) - 1;

/// CHDR packet types.
///
/// ```
/// use ringshot::wire::chdr::PktType;
///
/// assert_eq!(PktType::from_raw(7), PktType::DataWithTs);
/// assert_eq!(PktType::from_raw(3), PktType::Reserved(3));
/// assert_eq!(PktType::StreamStatus.raw(), 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PktType {
    Management,
    StreamStatus,
    StreamCommand,
    Control,
    DataNoTs,
    DataWithTs,
    /// 3 and 5.
    Reserved(u8),
}

impl PktType {
    pub const fn from_raw(v: u8) -> PktType {
        match v & 7 {
            0 => PktType::Management,
            1 => PktType::StreamStatus,
            2 => PktType::StreamCommand,
            4 => PktType::Control,
            6 => PktType::DataNoTs,
            7 => PktType::DataWithTs,
            r => PktType::Reserved(r),
        }
    }

    pub const fn raw(self) -> u8 {
        match self {
            PktType::Management => 0,
            PktType::StreamStatus => 1,
            PktType::StreamCommand => 2,
            PktType::Control => 4,
            PktType::DataNoTs => 6,
            PktType::DataWithTs => 7,
            PktType::Reserved(r) => r & 7,
        }
    }
}

fn word(b: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[i * 8..i * 8 + 8]);
    u64::from_le_bytes(w)
}

fn set_word(b: &mut [u8], i: usize, v: u64) {
    b[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
}

/// A zero-copy view of a CHDR packet.
///
/// ```
/// use ringshot::wire::chdr::{Packet, PktType};
///
/// // A 12-byte data packet without timestamp: header word 0x00C0_0005_000C_0001
/// // (type 6, seq 5, length 12, destination endpoint 1), little-endian, then 4 payload bytes.
/// let bytes = [0x01, 0x00, 0x0C, 0x00, 0x05, 0x00, 0xC0, 0x00, 1, 2, 3, 4];
/// let p = Packet::new_checked(&bytes[..]).unwrap();
/// assert_eq!(p.pkt_type(), PktType::DataNoTs);
/// assert_eq!((p.seq_num(), p.length(), p.dst_epid()), (5, 12, 1));
/// assert_eq!((p.vc(), p.eob(), p.eov(), p.num_mdata()), (0, false, false, 0));
/// assert_eq!((p.timestamp(), p.header_len()), (None, 8));
/// assert_eq!(p.payload(), &[1, 2, 3, 4]);
/// assert!(p.metadata().is_empty());
/// // The header claims 12 bytes: 11 are truncated.
/// assert!(Packet::new_checked(&bytes[..11]).is_err());
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

    /// Wraps a buffer after checking that the header, timestamp and metadata fit in the length
    /// the header claims, and that the buffer holds that length.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Ensures accessors will not panic.
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if usize::from(self.length()) < self.header_len() {
            return Err(WireError::BadField);
        }
        if len < usize::from(self.length()) {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The raw header word.
    pub fn header(&self) -> u64 {
        word(self.buffer.as_ref(), 0)
    }
    pub fn vc(&self) -> u8 {
        (self.header() >> 58) as u8 & 0x3F
    }
    pub fn eob(&self) -> bool {
        self.header() >> 57 & 1 == 1
    }
    pub fn eov(&self) -> bool {
        self.header() >> 56 & 1 == 1
    }
    pub fn pkt_type(&self) -> PktType {
        PktType::from_raw((self.header() >> 53) as u8)
    }
    pub fn num_mdata(&self) -> u8 {
        (self.header() >> 48) as u8 & 0x1F
    }
    pub fn seq_num(&self) -> u16 {
        (self.header() >> 32) as u16
    }
    /// Whole packet in bytes.
    pub fn length(&self) -> u16 {
        (self.header() >> 16) as u16
    }
    pub fn dst_epid(&self) -> u16 {
        self.header() as u16
    }

    /// The timestamp word of a PktType 7 packet.
    pub fn timestamp(&self) -> Option<u64> {
        (self.pkt_type() == PktType::DataWithTs).then(|| word(self.buffer.as_ref(), 1))
    }

    /// Bytes before the payload: header, timestamp and metadata.
    pub fn header_len(&self) -> usize {
        let ts = usize::from(self.pkt_type() == PktType::DataWithTs);
        (1 + ts + usize::from(self.num_mdata())) * 8
    }

    /// The metadata words.
    pub fn metadata(&self) -> &[u8] {
        &self.buffer.as_ref()
            [self.header_len() - usize::from(self.num_mdata()) * 8..self.header_len()]
    }

    /// The payload, up to the length the header claims.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.length())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Writes the raw header word.
    pub fn set_header(&mut self, v: u64) {
        set_word(self.buffer.as_mut(), 0, v);
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (start, end) = (self.header_len(), usize::from(self.length()));
        &mut self.buffer.as_mut()[start..end]
    }
}

/// Status code of an STRS packet.
///
/// ```
/// use ringshot::wire::chdr::StrsStatus;
///
/// assert_eq!(StrsStatus::from_raw(2), Some(StrsStatus::SeqErr));
/// assert_eq!(StrsStatus::from_raw(9), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StrsStatus {
    Okay,
    CmdErr,
    SeqErr,
    DataErr,
    RtErr,
}

impl StrsStatus {
    pub const fn from_raw(v: u8) -> Option<StrsStatus> {
        Some(match v {
            0 => StrsStatus::Okay,
            1 => StrsStatus::CmdErr,
            2 => StrsStatus::SeqErr,
            3 => StrsStatus::DataErr,
            4 => StrsStatus::RtErr,
            _ => return None,
        })
    }
}

/// Stream status: the device's buffer capacity and what it has consumed, both cumulative counts.
///
/// ```
/// use ringshot::wire::chdr::{StrsRepr, StrsStatus, STRS_LEN};
///
/// let strs = StrsRepr {
///     src_epid: 2,
///     status: StrsStatus::Okay,
///     capacity_bytes: 1 << 20,
///     capacity_pkts: 712,
///     xfer_count_pkts: 1000,
///     xfer_count_bytes: 1000 * 1472,
///     buff_info: 0,
///     status_info: 0,
/// };
/// let mut payload = [0u8; STRS_LEN];
/// strs.emit_payload(&mut payload);
/// assert_eq!(StrsRepr::parse_payload(&payload), Ok(strs));
/// assert!(StrsRepr::parse_payload(&payload[..STRS_LEN - 1]).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrsRepr {
    pub src_epid: u16,
    pub status: StrsStatus,
    /// 40 bits.
    pub capacity_bytes: u64,
    /// 24 bits.
    pub capacity_pkts: u32,
    /// 40 bits, wrapping.
    pub xfer_count_pkts: u64,
    pub xfer_count_bytes: u64,
    pub buff_info: u16,
    /// 48 bits.
    pub status_info: u64,
}

impl StrsRepr {
    /// Parses an STRS payload (at least [`STRS_LEN`] bytes; more is ignored).
    pub fn parse_payload(p: &[u8]) -> Result<StrsRepr, WireError> {
        if p.len() < STRS_LEN {
            return Err(WireError::Truncated);
        }
        let (w0, w1, w2, w3) = (word(p, 0), word(p, 1), word(p, 2), word(p, 3));
        Ok(StrsRepr {
            src_epid: w0 as u16,
            status: StrsStatus::from_raw((w0 >> 16) as u8 & 0xF).ok_or(WireError::BadField)?,
            capacity_bytes: w0 >> 24,
            capacity_pkts: (w1 & MASK_24) as u32,
            xfer_count_pkts: w1 >> 24,
            xfer_count_bytes: w2,
            buff_info: w3 as u16,
            status_info: w3 >> 16,
        })
    }

    /// Writes the payload into the first [`STRS_LEN`] bytes of `p`; wide fields are masked.
    pub fn emit_payload(&self, p: &mut [u8]) {
        set_word(
            p,
            0,
            (self.capacity_bytes & MASK_40) << 24
                | (self.status as u64) << 16
                | u64::from(self.src_epid),
        );
        set_word(
            p,
            1,
            (self.xfer_count_pkts & MASK_40) << 24 | (u64::from(self.capacity_pkts) & MASK_24),
        );
        set_word(p, 2, self.xfer_count_bytes);
        set_word(
            p,
            3,
            (self.status_info & MASK_48) << 16 | u64::from(self.buff_info),
        );
    }
}

/// STRC opcode.
///
/// ```
/// use ringshot::wire::chdr::StrcOpcode;
///
/// assert_eq!(StrcOpcode::from_raw(1), Some(StrcOpcode::Ping));
/// assert_eq!(StrcOpcode::from_raw(3), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StrcOpcode {
    Init,
    Ping,
    Resync,
}

impl StrcOpcode {
    pub const fn from_raw(v: u8) -> Option<StrcOpcode> {
        Some(match v {
            0 => StrcOpcode::Init,
            1 => StrcOpcode::Ping,
            2 => StrcOpcode::Resync,
            _ => return None,
        })
    }
}

/// Stream command from the host.
///
/// ```
/// use ringshot::wire::chdr::{StrcOpcode, StrcRepr, STRC_LEN};
///
/// let strc = StrcRepr { src_epid: 1, opcode: StrcOpcode::Init, op_data: 0, num_pkts: 64, num_bytes: 0 };
/// let mut payload = [0u8; STRC_LEN];
/// strc.emit_payload(&mut payload);
/// assert_eq!(StrcRepr::parse_payload(&payload), Ok(strc));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrcRepr {
    pub src_epid: u16,
    pub opcode: StrcOpcode,
    /// 4 bits.
    pub op_data: u8,
    /// 40 bits.
    pub num_pkts: u64,
    pub num_bytes: u64,
}

impl StrcRepr {
    /// Parses an STRC payload (at least [`STRC_LEN`] bytes; more is ignored).
    pub fn parse_payload(p: &[u8]) -> Result<StrcRepr, WireError> {
        if p.len() < STRC_LEN {
            return Err(WireError::Truncated);
        }
        let (w0, w1) = (word(p, 0), word(p, 1));
        Ok(StrcRepr {
            src_epid: w0 as u16,
            opcode: StrcOpcode::from_raw((w0 >> 16) as u8 & 0xF).ok_or(WireError::BadField)?,
            op_data: (w0 >> 20) as u8 & 0xF,
            num_pkts: w0 >> 24,
            num_bytes: w1,
        })
    }

    /// Writes the payload into the first [`STRC_LEN`] bytes of `p`; wide fields are masked.
    pub fn emit_payload(&self, p: &mut [u8]) {
        set_word(
            p,
            0,
            (self.num_pkts & MASK_40) << 24
                | u64::from(self.op_data & 0xF) << 20
                | (self.opcode as u64) << 16
                | u64::from(self.src_epid),
        );
        set_word(p, 1, self.num_bytes);
    }
}

/// The flow-control packets this module understands.
///
/// ```
/// use ringshot::wire::chdr::{Body, Packet, Repr, StrcOpcode, StrcRepr};
///
/// let cmd = StrcRepr { src_epid: 1, opcode: StrcOpcode::Ping, op_data: 0, num_pkts: 0, num_bytes: 0 };
/// let repr = Repr { vc: 0, eob: false, eov: false, seq_num: 0, dst_epid: 2, body: Body::StreamCommand(cmd) };
/// let mut buf = [0u8; 64];
/// let n = repr.emit_into(&mut buf);
/// match Repr::parse(&Packet::new_checked(&buf[..n]).unwrap()).unwrap().body {
///     Body::StreamCommand(c) => assert_eq!(c.opcode, StrcOpcode::Ping),
///     Body::StreamStatus(_) => unreachable!("an STRC was emitted"),
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    StreamStatus(StrsRepr),
    StreamCommand(StrcRepr),
}

/// High-level form of an STRS or STRC packet.
///
/// ```
/// use ringshot::wire::chdr::{Body, Packet, PktType, Repr, StrsRepr, StrsStatus};
///
/// let repr = Repr {
///     vc: 0,
///     eob: false,
///     eov: false,
///     seq_num: 7,
///     dst_epid: 0x0A0B,
///     body: Body::StreamStatus(StrsRepr {
///         src_epid: 0x0C0D,
///         status: StrsStatus::Okay,
///         capacity_bytes: 1 << 20,
///         capacity_pkts: 712,
///         xfer_count_pkts: 10,
///         xfer_count_bytes: 14_720,
///         buff_info: 0,
///         status_info: 0,
///     }),
/// };
/// let mut buf = vec![0u8; repr.buffer_len()];
/// repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
/// let p = Packet::new_checked(&buf[..]).unwrap();
/// assert_eq!(p.pkt_type(), PktType::StreamStatus);
/// assert_eq!(Repr::parse(&p), Ok(repr));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// 6 bits.
    pub vc: u8,
    pub eob: bool,
    pub eov: bool,
    pub seq_num: u16,
    pub dst_epid: u16,
    pub body: Body,
}

impl Repr {
    /// Parses an STRS or STRC packet (metadata words, if any, are skipped). Other packet types
    /// are [`WireError::Unexpected`]; reserved types are [`WireError::BadField`].
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr, WireError> {
        packet.check_len()?;
        let body = match packet.pkt_type() {
            PktType::StreamStatus => Body::StreamStatus(StrsRepr::parse_payload(packet.payload())?),
            PktType::StreamCommand => {
                Body::StreamCommand(StrcRepr::parse_payload(packet.payload())?)
            }
            PktType::Reserved(_) => return Err(WireError::BadField),
            _ => return Err(WireError::Unexpected),
        };
        Ok(Repr {
            vc: packet.vc(),
            eob: packet.eob(),
            eov: packet.eov(),
            seq_num: packet.seq_num(),
            dst_epid: packet.dst_epid(),
            body,
        })
    }

    fn pkt_type(&self) -> PktType {
        match self.body {
            Body::StreamStatus(_) => PktType::StreamStatus,
            Body::StreamCommand(_) => PktType::StreamCommand,
        }
    }

    /// The whole packet in bytes (header and payload, no metadata).
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
            + match self.body {
                Body::StreamStatus(_) => STRS_LEN,
                Body::StreamCommand(_) => STRC_LEN,
            }
    }

    /// Writes the whole packet.
    ///
    /// # Panics
    /// If the buffer is shorter than [`Repr::buffer_len`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        let h = u64::from(self.vc & 0x3F) << 58
            | u64::from(self.eob) << 57
            | u64::from(self.eov) << 56
            | u64::from(self.pkt_type().raw()) << 53
            | u64::from(self.seq_num) << 32
            | (self.buffer_len() as u64) << 16
            | u64::from(self.dst_epid);
        packet.set_header(h);
        match self.body {
            Body::StreamStatus(s) => s.emit_payload(packet.payload_mut()),
            Body::StreamCommand(c) => c.emit_payload(packet.payload_mut()),
        }
    }

    /// Emits into the front of `buf` and returns the length.
    ///
    /// # Panics
    /// If `buf` is shorter than [`Repr::buffer_len`].
    ///
    /// ```
    /// use ringshot::wire::chdr::{Body, Repr, StrcOpcode, StrcRepr, HEADER_LEN, STRC_LEN};
    ///
    /// let cmd = StrcRepr { src_epid: 1, opcode: StrcOpcode::Resync, op_data: 0, num_pkts: 0, num_bytes: 0 };
    /// let repr = Repr { vc: 0, eob: false, eov: false, seq_num: 0, dst_epid: 2, body: Body::StreamCommand(cmd) };
    /// let mut buf = [0u8; 1500];
    /// assert_eq!(repr.emit_into(&mut buf), HEADER_LEN + STRC_LEN);
    /// ```
    pub fn emit_into(&self, buf: &mut [u8]) -> usize {
        let len = self.buffer_len();
        self.emit(&mut Packet::new_unchecked(&mut buf[..len]));
        len
    }
}

/// High-level form of a CHDR data packet (PktType 6, or 7 with a timestamp). Metadata words are
/// skipped on parse and never emitted.
///
/// ```
/// use ringshot::wire::chdr::{DataRepr, Packet};
///
/// let repr = DataRepr {
///     vc: 0,
///     eob: true,
///     eov: false,
///     seq_num: 3,
///     dst_epid: 1,
///     timestamp: Some(123_456),
///     payload_len: 4,
/// };
/// let mut buf = vec![0u8; repr.buffer_len()];
/// let mut p = Packet::new_unchecked(&mut buf[..]);
/// repr.emit(&mut p);
/// p.payload_mut().copy_from_slice(&[9, 9, 9, 9]);
/// let p = Packet::new_checked(&buf[..]).unwrap();
/// assert_eq!(DataRepr::parse(&p), Ok(repr));
/// assert_eq!((p.header_len(), p.payload()), (16, &[9u8, 9, 9, 9][..]));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataRepr {
    /// 6 bits.
    pub vc: u8,
    pub eob: bool,
    pub eov: bool,
    pub seq_num: u16,
    pub dst_epid: u16,
    /// Present exactly for PktType 7.
    pub timestamp: Option<u64>,
    /// Payload bytes after the header (and timestamp).
    pub payload_len: usize,
}

impl DataRepr {
    /// Parses a data packet; STRS, STRC, control and management packets are
    /// [`WireError::Unexpected`], reserved types [`WireError::BadField`].
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<DataRepr, WireError> {
        packet.check_len()?;
        match packet.pkt_type() {
            PktType::DataNoTs | PktType::DataWithTs => {}
            PktType::Reserved(_) => return Err(WireError::BadField),
            _ => return Err(WireError::Unexpected),
        }
        Ok(DataRepr {
            vc: packet.vc(),
            eob: packet.eob(),
            eov: packet.eov(),
            seq_num: packet.seq_num(),
            dst_epid: packet.dst_epid(),
            timestamp: packet.timestamp(),
            payload_len: packet.payload().len(),
        })
    }

    /// Bytes before the payload: the header word and the timestamp word when present.
    pub const fn header_len(&self) -> usize {
        if self.timestamp.is_some() {
            2 * HEADER_LEN
        } else {
            HEADER_LEN
        }
    }

    /// The whole packet in bytes; Length is 16 bits, so this must stay at or below 65,535.
    pub const fn buffer_len(&self) -> usize {
        self.header_len() + self.payload_len
    }

    /// Writes the header (and timestamp); the caller fills the payload.
    ///
    /// # Panics
    /// If the buffer is shorter than [`DataRepr::header_len`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        let pkt_type = match self.timestamp {
            Some(_) => PktType::DataWithTs,
            None => PktType::DataNoTs,
        };
        let h = u64::from(self.vc & 0x3F) << 58
            | u64::from(self.eob) << 57
            | u64::from(self.eov) << 56
            | u64::from(pkt_type.raw()) << 53
            | u64::from(self.seq_num) << 32
            | (self.buffer_len() as u64 & 0xFFFF) << 16
            | u64::from(self.dst_epid);
        packet.set_header(h);
        if let Some(ts) = self.timestamp {
            set_word(packet.buffer.as_mut(), 1, ts);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// STRS, written by hand word by word (each shown most significant byte first, then stored
    /// little-endian):
    /// header = VC 0 | EOB 0 | EOV 0 | type 1 << 53 | mdata 0 | seq 0x0102 << 32 | len 40 << 16 |
    ///          dst 0x0A0B                       = 0x0020_0102_0028_0A0B
    /// w0 = capacity 1 MiB << 24 | SEQERR 2 << 16 | src 0x0C0D = 0x0000_1000_0002_0C0D
    /// w1 = xfer pkts 0xAB_CDEF_0123 << 24 | cap pkts 712    = 0xABCD_EF01_2300_02C8
    /// w2 = xfer bytes                                       = 0x1122_3344_5566_7788
    /// w3 = status info 0xBEEF << 16 | buff info 0x0042      = 0x0000_0000_BEEF_0042
    static STRS_FIXTURE: [u8; 40] = [
        0x0B, 0x0A, 0x28, 0x00, 0x02, 0x01, 0x20, 0x00, // header
        0x0D, 0x0C, 0x02, 0x00, 0x00, 0x10, 0x00, 0x00, // w0
        0xC8, 0x02, 0x00, 0x23, 0x01, 0xEF, 0xCD, 0xAB, // w1
        0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, // w2
        0x42, 0x00, 0xEF, 0xBE, 0x00, 0x00, 0x00, 0x00, // w3
    ];

    fn strs_repr() -> Repr {
        Repr {
            vc: 0,
            eob: false,
            eov: false,
            seq_num: 0x0102,
            dst_epid: 0x0A0B,
            body: Body::StreamStatus(StrsRepr {
                src_epid: 0x0C0D,
                status: StrsStatus::SeqErr,
                capacity_bytes: 1 << 20,
                capacity_pkts: 712,
                xfer_count_pkts: 0xAB_CDEF_0123,
                xfer_count_bytes: 0x1122_3344_5566_7788,
                buff_info: 0x42,
                status_info: 0xBEEF,
            }),
        }
    }

    /// STRC RESYNC with EOB set and op_data 5:
    /// header = EOB 1 << 57 | type 2 << 53 | seq 7 << 32 | len 24 << 16 | dst 1
    ///        = 0x0240_0007_0018_0001
    /// w0 = num_pkts 100 << 24 | op_data 5 << 20 | RESYNC 2 << 16 | src 3 = 0x0000_0000_6452_0003
    /// w1 = num_bytes 147_200 = 0x0000_0000_0002_3F00
    static STRC_FIXTURE: [u8; 24] = [
        0x01, 0x00, 0x18, 0x00, 0x07, 0x00, 0x40, 0x02, // header
        0x03, 0x00, 0x52, 0x64, 0x00, 0x00, 0x00, 0x00, // w0
        0x00, 0x3F, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, // w1
    ];

    fn strc_repr() -> Repr {
        Repr {
            vc: 0,
            eob: true,
            eov: false,
            seq_num: 7,
            dst_epid: 1,
            body: Body::StreamCommand(StrcRepr {
                src_epid: 3,
                opcode: StrcOpcode::Resync,
                op_data: 5,
                num_pkts: 100,
                num_bytes: 147_200,
            }),
        }
    }

    #[test]
    fn parse_fixtures() {
        let p = Packet::new_checked(&STRS_FIXTURE[..]).unwrap();
        assert_eq!(p.pkt_type(), PktType::StreamStatus);
        assert_eq!(p.length(), 40);
        assert_eq!(Repr::parse(&p).unwrap(), strs_repr());
        let p = Packet::new_checked(&STRC_FIXTURE[..]).unwrap();
        assert_eq!(Repr::parse(&p).unwrap(), strc_repr());
    }

    #[test]
    fn emit_fixtures() {
        let mut buf = [0u8; 64];
        let n = strs_repr().emit_into(&mut buf);
        assert_eq!(&buf[..n], &STRS_FIXTURE[..]);
        let n = strc_repr().emit_into(&mut buf);
        assert_eq!(&buf[..n], &STRC_FIXTURE[..]);
    }

    #[test]
    fn metadata_is_skipped() {
        // The STRS fixture with one metadata word inserted: NumMData 1, length 48.
        let mut b = Vec::new();
        b.extend_from_slice(&[0x0B, 0x0A, 0x30, 0x00, 0x02, 0x01, 0x21, 0x00]);
        b.extend_from_slice(&[0xEE; 8]);
        b.extend_from_slice(&STRS_FIXTURE[8..]);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.num_mdata(), 1);
        assert_eq!(p.metadata(), &[0xEE; 8]);
        assert_eq!(Repr::parse(&p).unwrap(), strs_repr());
    }

    #[test]
    fn data_with_timestamp() {
        // Type 7, length 24: header, timestamp 0x1234, one payload word.
        let mut b = [0u8; 24];
        b[..8].copy_from_slice(&(7u64 << 53 | 24 << 16).to_le_bytes());
        b[8..16].copy_from_slice(&0x1234u64.to_le_bytes());
        b[16..].copy_from_slice(b"payload!");
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.timestamp(), Some(0x1234));
        assert_eq!(p.payload(), b"payload!");
        assert_eq!(Repr::parse(&p), Err(WireError::Unexpected));
    }

    #[test]
    fn rejects_bad_input() {
        let parse = |b: &[u8]| Repr::parse(&Packet::new_unchecked(b));
        assert_eq!(parse(&STRS_FIXTURE[..7]), Err(WireError::Truncated));
        assert_eq!(parse(&STRS_FIXTURE[..39]), Err(WireError::Truncated));
        // Length smaller than the header.
        let mut b = STRS_FIXTURE;
        b[2] = 4;
        assert_eq!(parse(&b), Err(WireError::BadField));
        // Length that leaves the STRS body short.
        let mut b = STRS_FIXTURE;
        b[2] = 32;
        assert_eq!(parse(&b), Err(WireError::Truncated));
        // Unknown status code 9.
        let mut b = STRS_FIXTURE;
        b[10] = 0x09;
        assert_eq!(parse(&b), Err(WireError::BadField));
        // Reserved packet type 3.
        let mut b = STRS_FIXTURE;
        b[6] = 0x60;
        assert_eq!(parse(&b), Err(WireError::BadField));
        // Unknown STRC opcode 3.
        let mut b = STRC_FIXTURE;
        b[10] = 0x53;
        assert_eq!(parse(&b), Err(WireError::BadField));
    }

    /// Data with timestamp, written by hand: type 7, EOB, seq 0x0304, length 20, dst 0x0506,
    /// timestamp 0x1122334455667788, four payload bytes.
    static DATA_FIXTURE: [u8; 20] = [
        0x06, 0x05, 0x14, 0x00, 0x04, 0x03, 0xE0, 0x02, // header 0x02E0_0304_0014_0506
        0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, // timestamp
        b'a', b'b', b'c', b'd',
    ];

    #[test]
    fn data_fixture() {
        let r = DataRepr::parse(&Packet::new_checked(&DATA_FIXTURE[..]).unwrap()).unwrap();
        let want = DataRepr {
            vc: 0,
            eob: true,
            eov: false,
            seq_num: 0x0304,
            dst_epid: 0x0506,
            timestamp: Some(0x1122_3344_5566_7788),
            payload_len: 4,
        };
        assert_eq!(r, want);
        let mut buf = [0u8; 20];
        want.emit(&mut Packet::new_unchecked(&mut buf[..]));
        buf[16..].copy_from_slice(b"abcd");
        assert_eq!(buf, DATA_FIXTURE);
        // An STRS is not data.
        let strs = Packet::new_unchecked(&STRS_FIXTURE[..]);
        assert_eq!(DataRepr::parse(&strs), Err(WireError::Unexpected));
    }

    fn arb_repr() -> impl Strategy<Value = Repr> {
        let status = (0u8..5).prop_map(|s| StrsStatus::from_raw(s).unwrap());
        let strs = (
            any::<u16>(),
            status,
            0..=MASK_40,
            0..=MASK_24 as u32,
            0..=MASK_40,
            any::<u64>(),
            any::<u16>(),
            0..=MASK_48,
        )
            .prop_map(|(src, st, cb, cp, xp, xb, bi, si)| {
                Body::StreamStatus(StrsRepr {
                    src_epid: src,
                    status: st,
                    capacity_bytes: cb,
                    capacity_pkts: cp,
                    xfer_count_pkts: xp,
                    xfer_count_bytes: xb,
                    buff_info: bi,
                    status_info: si,
                })
            });
        let op = (0u8..3).prop_map(|o| StrcOpcode::from_raw(o).unwrap());
        let strc = (any::<u16>(), op, 0u8..16, 0..=MASK_40, any::<u64>()).prop_map(
            |(src, opcode, op_data, num_pkts, num_bytes)| {
                Body::StreamCommand(StrcRepr {
                    src_epid: src,
                    opcode,
                    op_data,
                    num_pkts,
                    num_bytes,
                })
            },
        );
        (
            0u8..64,
            any::<bool>(),
            any::<bool>(),
            any::<u16>(),
            any::<u16>(),
            prop_oneof![strs, strc],
        )
            .prop_map(|(vc, eob, eov, seq_num, dst_epid, body)| Repr {
                vc,
                eob,
                eov,
                seq_num,
                dst_epid,
                body,
            })
    }

    proptest! {
        #[test]
        fn round_trip(r in arb_repr()) {
            let mut buf = [0u8; 64];
            let n = r.emit_into(&mut buf);
            prop_assert_eq!(n, r.buffer_len());
            prop_assert_eq!(Repr::parse(&Packet::new_unchecked(&buf[..n])), Ok(r));
        }

        #[test]
        fn data_round_trip(
            vc in 0u8..64, eob in any::<bool>(), eov in any::<bool>(), seq_num in any::<u16>(),
            dst_epid in any::<u16>(), timestamp in proptest::option::of(any::<u64>()),
            payload_len in 0usize..64,
        ) {
            let r = DataRepr { vc, eob, eov, seq_num, dst_epid, timestamp, payload_len };
            let mut buf = [0u8; 96];
            r.emit(&mut Packet::new_unchecked(&mut buf[..]));
            let n = r.buffer_len();
            prop_assert_eq!(DataRepr::parse(&Packet::new_unchecked(&buf[..n])), Ok(r));
        }

        #[test]
        fn data_arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
            let _ = DataRepr::parse(&Packet::new_unchecked(&bytes[..]));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
            let p = Packet::new_unchecked(&bytes[..]);
            let _ = Repr::parse(&p);
            if p.check_len().is_ok() {
                let _ = (p.payload(), p.metadata(), p.timestamp(), p.vc(), p.eob());
            }
        }
    }
}
