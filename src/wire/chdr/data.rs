//! CHDR data packets (PktType 6, or 7 with a timestamp): [`DataRepr`].

use super::{set_word, Packet, PktType, HEADER_LEN};
use crate::wire::WireError;

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
