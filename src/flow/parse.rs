//! ACK parsers: one datagram in, one [`AckUpdate`] (or the reason it was dropped) out.

use std::fmt;
use std::str::FromStr;

use crate::wire::ack::EventSet;
use crate::wire::chdr::{self, StrsStatus};
use crate::wire::{ack, seq, usrp2, WireError};

/// Which flow-control format the device speaks.
///
/// ```
/// use ringshot::AckFormat;
///
/// assert_eq!("usrp2:5".parse::<AckFormat>().unwrap(), AckFormat::Usrp2 { stream_id: 5 });
/// assert_eq!(AckFormat::Usrp2 { stream_id: 2 }.to_string(), "usrp2"); // the default async stream
/// assert_eq!("chdr".parse::<AckFormat>().unwrap(), AckFormat::Chdr);
/// assert!("tcp".parse::<AckFormat>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AckFormat {
    /// ringshot's own ACK (`wire::ack`).
    Native,
    /// USRP2 VRT extension-context packets on `stream_id` (default 2).
    Usrp2 { stream_id: u32 },
    /// RFNoC CHDR stream status (STRS).
    Chdr,
}

impl AckFormat {
    /// The parser for this format. `start_seq` is the sequence number of the stream's first
    /// packet ([`super::FlowState::start_seq`]); formats that count from the device's own zero
    /// (CHDR) are offset by it.
    ///
    /// ```
    /// use ringshot::wire::ack::{EventSet, Repr};
    /// use ringshot::AckFormat;
    ///
    /// let mut parser = AckFormat::Native.parser(0);
    /// let ack = Repr { stream_id: 1, ack_number: 0, consumed: 64, consumed_bytes: None, credit: Some(1 << 20), events: EventSet::NONE };
    /// let update = parser.parse(&ack.to_bytes(), 0).unwrap();
    /// assert_eq!((update.acked_packets, update.capacity_bytes), (Some(64), Some(1 << 20)));
    /// assert_eq!(parser.format(), AckFormat::Native);
    /// ```
    pub fn parser(self, start_seq: u64) -> Box<dyn AckParser> {
        match self {
            AckFormat::Native => Box::new(NativeParser),
            AckFormat::Usrp2 { stream_id } => Box::new(Usrp2Parser { stream_id }),
            AckFormat::Chdr => Box::new(ChdrParser {
                base_packets: start_seq,
            }),
        }
    }
}

impl FromStr for AckFormat {
    type Err = String;

    /// `native`, `chdr`, `usrp2` (stream id 2) or `usrp2:SID`.
    fn from_str(s: &str) -> Result<AckFormat, String> {
        match s {
            "native" => Ok(AckFormat::Native),
            "chdr" => Ok(AckFormat::Chdr),
            "usrp2" => Ok(AckFormat::Usrp2 {
                stream_id: usrp2::DEFAULT_ASYNC_SID,
            }),
            _ => match s.strip_prefix("usrp2:").map(str::parse::<u32>) {
                Some(Ok(stream_id)) => Ok(AckFormat::Usrp2 { stream_id }),
                _ => Err(format!(
                    "unknown ACK format '{s}' (expected native, usrp2, usrp2:SID or chdr)"
                )),
            },
        }
    }
}

impl fmt::Display for AckFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AckFormat::Native => f.write_str("native"),
            AckFormat::Usrp2 { stream_id } if *stream_id == usrp2::DEFAULT_ASYNC_SID => {
                f.write_str("usrp2")
            }
            AckFormat::Usrp2 { stream_id } => write!(f, "usrp2:{stream_id}"),
            AckFormat::Chdr => f.write_str("chdr"),
        }
    }
}

/// What one ACK says, with counts already extended to 64 bits in the sender's sequence space.
///
/// ```
/// use ringshot::flow::{AckParser, Usrp2Parser};
/// use ringshot::wire::usrp2::AckRepr;
///
/// // USRP2 counts are 32 bits: the parser extends them against the count known so far.
/// let mut parser = Usrp2Parser { stream_id: 2 };
/// let mut buf = [0u8; 64];
/// let n = AckRepr::flow_control(2, 0, 9).emit(&mut buf); // "consumed up to sequence 9"
/// let update = parser.parse(&buf[..n], 1 << 32).unwrap();
/// assert_eq!(update.acked_packets, Some((1 << 32) + 10));
/// assert_eq!(update.capacity_packets, None); // a USRP2 does not say its buffer size
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AckUpdate {
    /// Stream id (native), VRT stream id (usrp2) or source endpoint (chdr).
    pub stream_id: u32,
    /// Cumulative packets acknowledged: the next sequence number the device expects.
    pub acked_packets: Option<u64>,
    /// Cumulative bytes acknowledged, where the format counts them.
    pub acked_bytes: Option<u64>,
    /// Device buffer size in bytes, where reported.
    pub capacity_bytes: Option<u64>,
    /// Device buffer size in packets, where reported.
    pub capacity_packets: Option<u64>,
    /// Non-flow-control events carried by this ACK.
    pub events: EventSet,
}

/// Turns a datagram into an [`AckUpdate`]. Must never panic, whatever the bytes.
///
/// ```
/// use ringshot::flow::{AckFormat, AckParser, AckUpdate};
/// use ringshot::wire::WireError;
///
/// /// A device that reports its consumed count as 8 ASCII digits.
/// #[derive(Debug)]
/// struct Digits;
///
/// impl AckParser for Digits {
///     fn format(&self) -> AckFormat {
///         AckFormat::Native // the closest built-in, for reports
///     }
///     fn parse(&mut self, datagram: &[u8], _acked: u64) -> Result<AckUpdate, WireError> {
///         let text = std::str::from_utf8(datagram).map_err(|_| WireError::BadField)?;
///         let consumed = text.trim().parse().map_err(|_| WireError::BadField)?;
///         Ok(AckUpdate { acked_packets: Some(consumed), ..AckUpdate::default() })
///     }
/// }
///
/// assert_eq!(Digits.parse(b"00000042", 0).unwrap().acked_packets, Some(42));
/// assert_eq!(Digits.parse(b"\xff", 0), Err(WireError::BadField));
/// ```
pub trait AckParser: Send + fmt::Debug {
    fn format(&self) -> AckFormat;

    /// `acked_packets` is the highest acknowledged count known so far, the reference against
    /// which short wire counters are extended.
    fn parse(&mut self, datagram: &[u8], acked_packets: u64) -> Result<AckUpdate, WireError>;
}

/// Parses [`crate::wire::ack`] packets (any stream id).
///
/// ```
/// use ringshot::flow::{AckParser, NativeParser};
/// use ringshot::wire::ack::{EventSet, Repr};
///
/// let ack = Repr { stream_id: 3, ack_number: 1, consumed: 100, consumed_bytes: Some(147_200), credit: None, events: EventSet::RESTART };
/// let u = NativeParser.parse(&ack.to_bytes(), 0).unwrap();
/// assert_eq!((u.stream_id, u.acked_packets, u.acked_bytes), (3, Some(100), Some(147_200)));
/// assert_eq!(u.events, EventSet::RESTART);
/// assert!(NativeParser.parse(&[0; 10], 0).is_err());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NativeParser;

impl AckParser for NativeParser {
    fn format(&self) -> AckFormat {
        AckFormat::Native
    }

    fn parse(&mut self, datagram: &[u8], _acked: u64) -> Result<AckUpdate, WireError> {
        let r = ack::Repr::parse(&ack::Packet::new_checked(datagram)?)?;
        Ok(AckUpdate {
            stream_id: r.stream_id,
            acked_packets: Some(r.consumed),
            acked_bytes: r.consumed_bytes,
            capacity_bytes: r.credit.map(u64::from),
            capacity_packets: None,
            events: r.events,
        })
    }
}

/// Parses USRP2 async packets on one stream id. Code 0 carries the last consumed 32-bit
/// sequence `s`, i.e. `s + 1` packets consumed, extended against the reference; any other code
/// is an event (UHD's codes are the low bits of [`EventSet`]).
///
/// ```
/// use ringshot::flow::{AckParser, Usrp2Parser};
/// use ringshot::wire::ack::EventSet;
/// use ringshot::wire::usrp2::AckRepr;
///
/// let mut parser = Usrp2Parser { stream_id: 2 };
/// let underflow = AckRepr { event_code: 0x2, seq: None, ..AckRepr::flow_control(2, 0, 0) };
/// let mut buf = [0u8; 64];
/// let n = underflow.emit(&mut buf);
/// let u = parser.parse(&buf[..n], 0).unwrap();
/// assert_eq!((u.events, u.acked_packets), (EventSet::UNDERFLOW, None));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Usrp2Parser {
    pub stream_id: u32,
}

impl AckParser for Usrp2Parser {
    fn format(&self) -> AckFormat {
        AckFormat::Usrp2 {
            stream_id: self.stream_id,
        }
    }

    fn parse(&mut self, datagram: &[u8], acked: u64) -> Result<AckUpdate, WireError> {
        let r = usrp2::AckRepr::parse(datagram, self.stream_id)?;
        Ok(AckUpdate {
            stream_id: r.stream_id,
            acked_packets: r.consumed_count().map(|c| seq::extend32(acked, c)),
            events: match r.event_code {
                usrp2::CODE_FLOW_CONTROL => EventSet::NONE,
                // UHD leaves 0x80 unused; ringshot devices use it to announce a restart.
                code if code & usrp2::CODE_RESTART != 0 => {
                    EventSet(u16::from(code & !usrp2::CODE_RESTART)).union(EventSet::RESTART)
                }
                code => EventSet(u16::from(code)),
            },
            ..AckUpdate::default()
        })
    }
}

/// Parses CHDR STRS packets. The 40-bit packet transfer count is extended against the reference
/// and offset by the stream's start sequence; the byte count is 64 bits as is. A packet capacity
/// of 0xFF_FFFF (the 24-bit maximum) means "no packet limit" and is not reported.
///
/// ```
/// use ringshot::flow::{AckParser, ChdrParser};
/// use ringshot::wire::chdr::{Body, Repr, StrsRepr, StrsStatus};
///
/// // A stream that started at sequence 1000: the device counts from its own zero.
/// let mut parser = ChdrParser { base_packets: 1000 };
/// let strs = Repr {
///     vc: 0, eob: false, eov: false, seq_num: 0, dst_epid: 1,
///     body: Body::StreamStatus(StrsRepr {
///         src_epid: 2, status: StrsStatus::Okay, capacity_bytes: 1 << 20, capacity_pkts: 0xFF_FFFF,
///         xfer_count_pkts: 64, xfer_count_bytes: 64 * 1472, buff_info: 0, status_info: 0,
///     }),
/// };
/// let mut buf = [0u8; 64];
/// let n = strs.emit_into(&mut buf);
/// let u = parser.parse(&buf[..n], 1000).unwrap();
/// assert_eq!((u.acked_packets, u.capacity_bytes), (Some(1064), Some(1 << 20)));
/// assert_eq!(u.capacity_packets, None); // 0xFF_FFFF: no packet limit
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ChdrParser {
    pub base_packets: u64,
}

/// Capacity-in-packets value that means "unlimited".
const CHDR_NO_PACKET_LIMIT: u32 = 0xFF_FFFF;

impl AckParser for ChdrParser {
    fn format(&self) -> AckFormat {
        AckFormat::Chdr
    }

    fn parse(&mut self, datagram: &[u8], acked: u64) -> Result<AckUpdate, WireError> {
        let r = chdr::Repr::parse(&chdr::Packet::new_checked(datagram)?)?;
        let s = match r.body {
            chdr::Body::StreamStatus(s) => s,
            chdr::Body::StreamCommand(_) => return Err(WireError::Unexpected),
        };
        // The device counts from zero at the stream's start: shift into sequence space modulo
        // 2^40, then extend against the reference there (no overflow at either end).
        let wire = self.base_packets.wrapping_add(s.xfer_count_pkts);
        Ok(AckUpdate {
            stream_id: u32::from(s.src_epid),
            acked_packets: Some(seq::extend(acked, wire, 40)),
            acked_bytes: Some(s.xfer_count_bytes),
            capacity_bytes: Some(s.capacity_bytes),
            capacity_packets: (s.capacity_pkts != CHDR_NO_PACKET_LIMIT)
                .then_some(u64::from(s.capacity_pkts)),
            events: match s.status {
                StrsStatus::Okay => EventSet::NONE,
                // ringshot devices put the event bits in status_info; a restart is a CMDERR
                // whose info carries the RESTART bit.
                StrsStatus::CmdErr if s.status_info & u64::from(EventSet::RESTART.0) != 0 => {
                    EventSet::CMD_ERROR.union(EventSet::RESTART)
                }
                StrsStatus::CmdErr => EventSet::CMD_ERROR,
                StrsStatus::SeqErr => EventSet::SEQ_ERROR,
                StrsStatus::DataErr => EventSet::DATA_ERROR,
                StrsStatus::RtErr => EventSet::ROUTE_ERROR,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn format_names() {
        for (s, f) in [
            ("native", AckFormat::Native),
            ("chdr", AckFormat::Chdr),
            ("usrp2", AckFormat::Usrp2 { stream_id: 2 }),
            ("usrp2:7", AckFormat::Usrp2 { stream_id: 7 }),
        ] {
            assert_eq!(s.parse::<AckFormat>().unwrap(), f);
            assert_eq!(f.to_string(), s);
            assert_eq!(f.parser(0).format(), f);
        }
        assert!("usrp2:x".parse::<AckFormat>().is_err());
        assert!("tcp".parse::<AckFormat>().is_err());
    }

    #[test]
    fn native_update() {
        let bytes = ack::Repr {
            stream_id: 9,
            ack_number: 1,
            consumed: 77,
            consumed_bytes: Some(7700),
            credit: Some(1 << 20),
            events: EventSet::UNDERFLOW,
        }
        .to_bytes();
        let u = NativeParser.parse(&bytes, 0).unwrap();
        assert_eq!(
            u,
            AckUpdate {
                stream_id: 9,
                acked_packets: Some(77),
                acked_bytes: Some(7700),
                capacity_bytes: Some(1 << 20),
                capacity_packets: None,
                events: EventSet::UNDERFLOW,
            }
        );
    }

    #[test]
    fn usrp2_update_wraps() {
        let mut p = Usrp2Parser { stream_id: 2 };
        // Hand-written: ext context, SID 2, code 0, last consumed 0xFFFF_FFFF → 2^32 consumed.
        let b = [
            0x50, 0x00, 0x00, 0x04, 0, 0, 0, 2, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
        ];
        let u = p.parse(&b, (1 << 32) - 100).unwrap();
        assert_eq!(u.acked_packets, Some(1 << 32));
        assert_eq!(u.events, EventSet::NONE);
        // Last consumed 4 after the wrap, seen from just before it.
        let b = [0x50, 0x00, 0x00, 0x04, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 4];
        assert_eq!(
            p.parse(&b, (1 << 32) - 3).unwrap().acked_packets,
            Some((1 << 32) + 5)
        );
        // Code 8: time error, no flow information.
        let b = [0x50, 0x00, 0x00, 0x03, 0, 0, 0, 2, 0, 0, 0, 8];
        let u = p.parse(&b, 0).unwrap();
        assert_eq!((u.acked_packets, u.events), (None, EventSet::TIME_ERROR));
    }

    #[test]
    fn chdr_update_offsets_and_extends() {
        let strs = |xfer_pkts: u64, status, cap_pkts| chdr::Repr {
            vc: 0,
            eob: false,
            eov: false,
            seq_num: 0,
            dst_epid: 1,
            body: chdr::Body::StreamStatus(chdr::StrsRepr {
                src_epid: 5,
                status,
                capacity_bytes: 1 << 20,
                capacity_pkts: cap_pkts,
                xfer_count_pkts: xfer_pkts,
                xfer_count_bytes: 1472 * 3,
                buff_info: 0,
                status_info: 0,
            }),
        };
        let mut buf = [0u8; 64];
        let mut p = ChdrParser { base_packets: 1000 };
        let n = strs(3, StrsStatus::Okay, 712).emit_into(&mut buf);
        let u = p.parse(&buf[..n], 1000).unwrap();
        assert_eq!(u.acked_packets, Some(1003));
        assert_eq!(u.acked_bytes, Some(4416));
        assert_eq!(
            (u.capacity_bytes, u.capacity_packets),
            (Some(1 << 20), Some(712))
        );
        assert_eq!(u.stream_id, 5);
        // Past the 40-bit wrap, and "no packet limit" with a sequence error.
        let n = strs(2, StrsStatus::SeqErr, 0xFF_FFFF).emit_into(&mut buf);
        let u = p.parse(&buf[..n], 1000 + (1 << 40) - 5).unwrap();
        assert_eq!(u.acked_packets, Some(1000 + (1 << 40) + 2));
        assert_eq!((u.capacity_packets, u.events), (None, EventSet::SEQ_ERROR));
        // A stream command is not an ACK.
        let strc = chdr::Repr {
            body: chdr::Body::StreamCommand(chdr::StrcRepr {
                src_epid: 1,
                opcode: chdr::StrcOpcode::Ping,
                op_data: 0,
                num_pkts: 0,
                num_bytes: 0,
            }),
            ..strs(0, StrsStatus::Okay, 0)
        };
        let n = strc.emit_into(&mut buf);
        assert_eq!(p.parse(&buf[..n], 0), Err(WireError::Unexpected));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..96),
            reference in any::<u64>(),
        ) {
            for f in [AckFormat::Native, AckFormat::Chdr, AckFormat::Usrp2 { stream_id: 2 }] {
                let _ = f.parser(reference / 3).parse(&bytes, reference);
            }
        }
    }
}
