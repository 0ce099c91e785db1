//! USRP2/N2x0 framing on top of VRT.
//!
//! Data: every TX datagram is `[u32 BE sequence][VRT IF data packet]`, the sequence counting from 0
//! and +1 per datagram. Flow control: the device answers with VRT extension-context packets on its
//! TX async stream id (default 2). Payload word 0, low byte, is the event code; code 0 is a flow
//! control update whose payload word 1 is the last consumed sequence. Other codes are UHD async
//! events (0x1 burst ack, 0x2 underflow, 0x4 seq error, 0x8 time error, ...).

use super::vrt::{self, ClassId, PacketType, Tsf, Tsi};
use super::WireError;

/// The USRP2 TX async message stream id.
pub const DEFAULT_ASYNC_SID: u32 = 2;
/// The event code of a flow-control update.
pub const CODE_FLOW_CONTROL: u8 = 0;
/// Event code for a device restart. UHD leaves 0x80 unused; ringshot's device emulator sends it.
pub const CODE_RESTART: u8 = 0x80;
/// Bytes of sequence number in front of the VRT packet in a data datagram.
pub const DATA_PREFIX_LEN: usize = 4;

/// High-level form of a USRP2 flow-control/async packet.
///
/// ```
/// use ringshot::wire::usrp2::{AckRepr, DEFAULT_ASYNC_SID};
///
/// // A flow-control update as a USRP2 sends it: VRT extension context (header 0x5000_0004),
/// // stream id 2, event code 0, last consumed sequence 99.
/// let bytes = [0x50, 0, 0, 4, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 99];
/// let ack = AckRepr::parse(&bytes, DEFAULT_ASYNC_SID).unwrap();
/// assert_eq!(ack, AckRepr::flow_control(DEFAULT_ASYNC_SID, 0, 99));
/// assert_eq!(ack.consumed_count(), Some(100));
///
/// let mut buf = [0u8; 64];
/// let n = ack.emit(&mut buf);
/// assert_eq!((n, &buf[..n]), (ack.buffer_len(), &bytes[..]));
/// // Another stream's async packet is not ours.
/// assert!(AckRepr::parse(&bytes, 3).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckRepr {
    pub stream_id: u32,
    /// VRT packet count, modulo 16.
    pub packet_count: u8,
    pub class_id: Option<ClassId>,
    pub integer_timestamp: Option<(Tsi, u32)>,
    pub fractional_timestamp: Option<(Tsf, u64)>,
    /// Payload word 0, low byte.
    pub event_code: u8,
    /// Payload word 1 when present; for code 0 the last consumed data sequence (required).
    pub seq: Option<u32>,
}

impl AckRepr {
    /// A flow-control update: "consumed up to and including `last_consumed`".
    pub fn flow_control(stream_id: u32, packet_count: u8, last_consumed: u32) -> AckRepr {
        AckRepr {
            stream_id,
            packet_count,
            class_id: None,
            integer_timestamp: None,
            fractional_timestamp: None,
            event_code: CODE_FLOW_CONTROL,
            seq: Some(last_consumed),
        }
    }

    /// The number of data packets consumed (last consumed + 1, modulo 2^32), for code 0 only.
    pub fn consumed_count(&self) -> Option<u32> {
        match (self.event_code, self.seq) {
            (CODE_FLOW_CONTROL, Some(s)) => Some(s.wrapping_add(1)),
            _ => None,
        }
    }

    /// Parses a datagram as a USRP2 async packet for `stream_id`. Other VRT types or stream ids
    /// are [`WireError::Unexpected`]; a code-0 packet without its sequence word is truncated.
    pub fn parse(datagram: &[u8], stream_id: u32) -> Result<AckRepr, WireError> {
        let packet = vrt::Packet::new_checked(datagram)?;
        let vrt = vrt::Repr::parse(&packet)?;
        if vrt.packet_type != PacketType::ExtContext || vrt.stream_id != Some(stream_id) {
            return Err(WireError::Unexpected);
        }
        let word0 = packet.payload_word(0).ok_or(WireError::Truncated)?;
        let event_code = word0 as u8;
        let seq = packet.payload_word(1);
        if event_code == CODE_FLOW_CONTROL && seq.is_none() {
            return Err(WireError::Truncated);
        }
        Ok(AckRepr {
            stream_id,
            packet_count: vrt.packet_count,
            class_id: vrt.class_id,
            integer_timestamp: vrt.integer_timestamp,
            fractional_timestamp: vrt.fractional_timestamp,
            event_code,
            seq,
        })
    }

    fn vrt(&self) -> vrt::Repr {
        vrt::Repr {
            packet_type: PacketType::ExtContext,
            stream_id: Some(self.stream_id),
            class_id: self.class_id,
            tsm: false,
            integer_timestamp: self.integer_timestamp,
            fractional_timestamp: self.fractional_timestamp,
            packet_count: self.packet_count,
            trailer: None,
            payload_words: 1 + usize::from(self.seq.is_some()),
        }
    }

    pub fn buffer_len(&self) -> usize {
        self.vrt().buffer_len()
    }

    /// Writes the packet into the front of `buf` and returns its length.
    ///
    /// # Panics
    /// If `buf` is shorter than [`AckRepr::buffer_len`].
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        let vrt = self.vrt();
        let len = vrt.buffer_len();
        let mut packet = vrt::Packet::new_unchecked(&mut buf[..len]);
        vrt.emit(&mut packet);
        let payload = packet.payload_mut();
        payload[..4].copy_from_slice(&u32::from(self.event_code).to_be_bytes());
        if let Some(s) = self.seq {
            payload[4..8].copy_from_slice(&s.to_be_bytes());
        }
        len
    }
}

/// Splits a USRP2 data datagram into its sequence prefix and checked VRT packet.
///
/// ```
/// use ringshot::wire::usrp2::{emit_data, parse_data};
/// use ringshot::wire::vrt::{PacketType, Repr};
///
/// let vrt = Repr {
///     packet_type: PacketType::IfDataWithStreamId,
///     stream_id: Some(0),
///     class_id: None,
///     tsm: false,
///     integer_timestamp: None,
///     fractional_timestamp: None,
///     packet_count: 0,
///     trailer: None,
///     payload_words: 2,
/// };
/// let mut buf = [0u8; 64];
/// let at = emit_data(&mut buf, 7, &vrt);
/// buf[at..at + 8].copy_from_slice(b"samples!");
/// let (seq, packet) = parse_data(&buf[..at + 8]).unwrap();
/// assert_eq!((seq, packet.payload()), (7, &b"samples!"[..]));
/// ```
pub fn parse_data(datagram: &[u8]) -> Result<(u32, vrt::Packet<&[u8]>), WireError> {
    let (prefix, rest) = datagram
        .split_first_chunk::<DATA_PREFIX_LEN>()
        .ok_or(WireError::Truncated)?;
    Ok((u32::from_be_bytes(*prefix), vrt::Packet::new_checked(rest)?))
}

/// Writes the sequence prefix and the VRT header of a data datagram; returns the offset of the
/// VRT payload within `buf`.
///
/// # Panics
/// If `buf` is shorter than `DATA_PREFIX_LEN + vrt.buffer_len()`.
///
/// ```
/// use ringshot::wire::usrp2::{emit_data, DATA_PREFIX_LEN};
/// use ringshot::wire::vrt::{PacketType, Repr};
///
/// let vrt = Repr {
///     packet_type: PacketType::IfData,
///     stream_id: None,
///     class_id: None,
///     tsm: false,
///     integer_timestamp: None,
///     fractional_timestamp: None,
///     packet_count: 0,
///     trailer: None,
///     payload_words: 1,
/// };
/// let mut buf = [0u8; 16];
/// assert_eq!(emit_data(&mut buf, 1, &vrt), DATA_PREFIX_LEN + 4);
/// assert_eq!(&buf[..4], &[0, 0, 0, 1]);
/// ```
pub fn emit_data(buf: &mut [u8], seq: u32, vrt: &vrt::Repr) -> usize {
    buf[..DATA_PREFIX_LEN].copy_from_slice(&seq.to_be_bytes());
    let mut packet =
        vrt::Packet::new_unchecked(&mut buf[DATA_PREFIX_LEN..DATA_PREFIX_LEN + vrt.buffer_len()]);
    vrt.emit(&mut packet);
    DATA_PREFIX_LEN + vrt.header_len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Flow-control update from the device: extension context on SID 2, packet count 7, a GPS
    /// integer and a sample-count fractional timestamp before the payload; last consumed seq
    /// 0xFFFF_FFFE. Written by hand.
    static ACK_FIXTURE: [u8; 28] = [
        0x50, 0x97, 0x00, 0x07, // type 5; TSI 2, TSF 1, count 7; size 7 words
        0x00, 0x00, 0x00, 0x02, // stream id 2
        0x00, 0x00, 0x00, 0x2A, // integer timestamp 42
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, // fractional 4096
        0x00, 0x00, 0x00, 0x00, // event code 0
        0xFF, 0xFF, 0xFF, 0xFE, // last consumed
    ];

    fn fixture_repr() -> AckRepr {
        AckRepr {
            integer_timestamp: Some((Tsi::Gps, 42)),
            fractional_timestamp: Some((Tsf::SampleCount, 4096)),
            ..AckRepr::flow_control(2, 7, 0xFFFF_FFFE)
        }
    }

    #[test]
    fn parse_fixture() {
        let r = AckRepr::parse(&ACK_FIXTURE, 2).unwrap();
        assert_eq!(r, fixture_repr());
        assert_eq!(r.consumed_count(), Some(0xFFFF_FFFF));
        assert_eq!(AckRepr::parse(&ACK_FIXTURE, 3), Err(WireError::Unexpected));
    }

    #[test]
    fn emit_fixture() {
        let mut buf = [0u8; 64];
        let n = fixture_repr().emit(&mut buf);
        assert_eq!(&buf[..n], &ACK_FIXTURE[..]);
    }

    #[test]
    fn class_id_moves_the_payload() {
        // Same update with a class id: the payload starts two words later.
        let b = [
            0x58, 0x00, 0x00, 0x06, // type 5, C; no timestamps; size 6
            0x00, 0x00, 0x00, 0x02, // stream id 2
            0x00, 0x00, 0x2D, 0x35, // OUI
            0x00, 0x01, 0x00, 0x02, // info/packet class
            0x00, 0x00, 0x00, 0x00, // code 0
            0x00, 0x00, 0x00, 0x00, // last consumed 0
        ];
        let r = AckRepr::parse(&b, 2).unwrap();
        assert_eq!(r.consumed_count(), Some(1));
        assert_eq!(r.class_id.map(|c| c.oui), Some(0x2D35));
    }

    #[test]
    fn events_and_rejections() {
        // Underflow (code 2) with no second word.
        let b = [0x50, 0x01, 0x00, 0x03, 0, 0, 0, 2, 0xAB, 0xCD, 0xEF, 0x02];
        let r = AckRepr::parse(&b, 2).unwrap();
        assert_eq!((r.event_code, r.seq, r.consumed_count()), (2, None, None));
        // Code 0 without its sequence word.
        let b = [0x50, 0x00, 0x00, 0x03, 0, 0, 0, 2, 0, 0, 0, 0];
        assert_eq!(AckRepr::parse(&b, 2), Err(WireError::Truncated));
        // No payload at all.
        let b = [0x50, 0x00, 0x00, 0x02, 0, 0, 0, 2];
        assert_eq!(AckRepr::parse(&b, 2), Err(WireError::Truncated));
        // IF data with stream id 2 is not an ACK.
        let b = [0x10, 0x00, 0x00, 0x04, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(AckRepr::parse(&b, 2), Err(WireError::Unexpected));
    }

    #[test]
    fn data_framing() {
        let vrt = vrt::Repr {
            packet_type: PacketType::IfDataWithStreamId,
            stream_id: Some(1),
            class_id: None,
            tsm: false,
            integer_timestamp: None,
            fractional_timestamp: None,
            packet_count: 9,
            trailer: None,
            payload_words: 1,
        };
        let mut buf = [0u8; 16];
        let at = emit_data(&mut buf, 0x0102_0304, &vrt);
        assert_eq!(at, 12);
        buf[at..].copy_from_slice(b"abcd");
        assert_eq!(
            buf,
            [1, 2, 3, 4, 0x10, 0x09, 0x00, 0x03, 0, 0, 0, 1, b'a', b'b', b'c', b'd']
        );
        let (seq, p) = parse_data(&buf).unwrap();
        assert_eq!((seq, p.payload()), (0x0102_0304, &b"abcd"[..]));
        assert_eq!(parse_data(&buf[..3]).map(|_| ()), Err(WireError::Truncated));
    }

    proptest! {
        #[test]
        fn round_trip(
            sid in any::<u32>(),
            count in 0u8..16,
            code in any::<u8>(),
            seq in any::<u32>(),
            with_seq in any::<bool>(),
            ts in proptest::option::of(any::<u32>()),
        ) {
            let r = AckRepr {
                stream_id: sid,
                packet_count: count,
                class_id: None,
                integer_timestamp: ts.map(|t| (Tsi::Utc, t)),
                fractional_timestamp: None,
                event_code: code,
                seq: (with_seq || code == 0).then_some(seq),
            };
            let mut buf = [0u8; 64];
            let n = r.emit(&mut buf);
            prop_assert_eq!(n, r.buffer_len());
            prop_assert_eq!(AckRepr::parse(&buf[..n], sid), Ok(r));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64), sid in 0u32..4) {
            let _ = AckRepr::parse(&bytes, sid);
            let _ = parse_data(&bytes);
        }
    }
}
