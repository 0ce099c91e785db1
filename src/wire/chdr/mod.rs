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
//!
//! This file holds the constants, [`PktType`] and the zero-copy [`Packet`] view; the
//! flow-control packets (STRS, STRC and their [`Repr`]) and the data packets ([`DataRepr`]) are
//! in the files beside it, re-exported here.

mod data;
mod flow;
#[cfg(test)]
mod tests;

pub use data::DataRepr;
pub use flow::{Body, Repr, StrcOpcode, StrcRepr, StrsRepr, StrsStatus};

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
