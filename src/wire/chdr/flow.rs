//! CHDR flow control: stream status (STRS, device → host), stream command (STRC, host → device)
//! and [`Repr`], the high-level form of a whole STRS or STRC packet.

use super::{set_word, word, Packet, PktType, HEADER_LEN, STRC_LEN, STRS_LEN};
use super::{MASK_24, MASK_40, MASK_48};
use crate::wire::WireError;

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
