//! Turns the device's state into ACK datagrams of the configured format, with the wire modules'
//! emitters. The sender's [`crate::flow::AckFormat::parser`] reads every one of them.

use super::link::MAX_ACK_LEN;
use super::report::AckState;
use crate::flow::{AckFormat, EventSet};
use crate::wire::{ack, chdr, usrp2};

/// USRP2 event code the emulator uses to announce a restart. UHD defines codes 0x1..0x40; 0x80 is
/// unused there, so this is a ringshot extension (the flow module reads it as event `other`).
pub const USRP2_CODE_RESTART: u8 = crate::wire::usrp2::CODE_RESTART;
/// CHDR STRS "capacity in packets" meaning no packet limit (the buffer is counted in bytes).
pub const CHDR_NO_PACKET_LIMIT: u32 = 0xFF_FFFF;

/// Encodes ACKs; counts them so each carries a running number (native ack number, VRT packet
/// count, CHDR sequence number).
///
/// ```
/// use ringshot::device::{AckEncoder, AckState};
/// use ringshot::flow::{AckParser, ChdrParser, Usrp2Parser};
/// use ringshot::wire::ack::EventSet;
/// use ringshot::AckFormat;
///
/// let st = AckState { position: 10, bytes: 14_720, capacity: 1 << 20, start_seq: 0, stream_id: 1 };
/// // USRP2: "consumed up to sequence 9".
/// let mut usrp2 = AckEncoder::new("usrp2".parse().unwrap());
/// let u = Usrp2Parser { stream_id: 2 }.parse(usrp2.flow(&st), 0).unwrap();
/// assert_eq!(u.acked_packets, Some(10));
/// // CHDR: an STRS with the transfer counts.
/// let mut chdr = AckEncoder::new(AckFormat::Chdr);
/// assert_eq!(chdr.format(), AckFormat::Chdr);
/// let u = ChdrParser { base_packets: 0 }.parse(chdr.flow(&st), 0).unwrap();
/// assert_eq!((u.acked_packets, u.capacity_bytes), (Some(10), Some(1 << 20)));
/// // Events: one STRS per event for CHDR.
/// let mut n = 0;
/// chdr.events(&st, EventSet::UNDERFLOW | EventSet::SEQ_ERROR, |_datagram| n += 1);
/// assert_eq!(n, 2);
/// ```
#[derive(Debug)]
pub struct AckEncoder {
    format: AckFormat,
    count: u32,
    buf: [u8; MAX_ACK_LEN],
}

impl AckEncoder {
    pub fn new(format: AckFormat) -> AckEncoder {
        AckEncoder {
            format,
            count: 0,
            buf: [0; MAX_ACK_LEN],
        }
    }

    pub fn format(&self) -> AckFormat {
        self.format
    }

    fn next_count(&mut self) -> u32 {
        let c = self.count;
        self.count = self.count.wrapping_add(1);
        c
    }

    /// A flow-control update: everything up to `st.position` is consumed.
    pub fn flow(&mut self, st: &AckState) -> &[u8] {
        let n = self.next_count();
        let len = match self.format {
            AckFormat::Native => native(st, n, EventSet::NONE, &mut self.buf),
            AckFormat::Usrp2 { stream_id } => usrp2::AckRepr::flow_control(
                stream_id,
                (n % 16) as u8,
                st.position.wrapping_sub(1) as u32,
            )
            .emit(&mut self.buf),
            AckFormat::Chdr => strs(st, n, chdr::StrsStatus::Okay, 0, &mut self.buf),
        };
        &self.buf[..len]
    }

    /// The datagrams announcing `events`, each handed to `out`. Native: one ACK with the flags
    /// and the current counts. USRP2: one async packet per UHD event code (underflow 0x2, sequence
    /// error 0x4, restart [`USRP2_CODE_RESTART`]; an overflow has no USRP2 code and is not sent).
    /// CHDR: one STRS per event with the current counts and the matching status (sequence error
    /// SEQERR, overflow DATAERR, restart CMDERR, underflow OK), the event's [`EventSet`] bits in
    /// `status_info`.
    pub fn events(&mut self, st: &AckState, events: EventSet, mut out: impl FnMut(&[u8])) {
        if events.is_empty() {
            return;
        }
        match self.format {
            AckFormat::Native => {
                let n = self.next_count();
                let len = native(st, n, events, &mut self.buf);
                out(&self.buf[..len]);
            }
            AckFormat::Usrp2 { stream_id } => {
                for (ev, code) in [
                    (EventSet::UNDERFLOW, 0x2u8),
                    (EventSet::SEQ_ERROR, 0x4),
                    (EventSet::RESTART, USRP2_CODE_RESTART),
                ] {
                    if events.contains_any(ev) {
                        let n = self.next_count();
                        let len = usrp2::AckRepr {
                            event_code: code,
                            seq: None,
                            ..usrp2::AckRepr::flow_control(stream_id, (n % 16) as u8, 0)
                        }
                        .emit(&mut self.buf);
                        out(&self.buf[..len]);
                    }
                }
            }
            AckFormat::Chdr => {
                for (ev, status) in [
                    (EventSet::UNDERFLOW, chdr::StrsStatus::Okay),
                    (EventSet::SEQ_ERROR, chdr::StrsStatus::SeqErr),
                    (EventSet::OVERFLOW, chdr::StrsStatus::DataErr),
                    (EventSet::RESTART, chdr::StrsStatus::CmdErr),
                ] {
                    if events.contains_any(ev) {
                        let n = self.next_count();
                        let len = strs(st, n, status, u64::from(ev.0), &mut self.buf);
                        out(&self.buf[..len]);
                    }
                }
            }
        }
    }
}

fn native(st: &AckState, n: u32, events: EventSet, buf: &mut [u8]) -> usize {
    let repr = ack::Repr {
        stream_id: st.stream_id,
        ack_number: n,
        consumed: st.position,
        consumed_bytes: Some(st.bytes),
        credit: Some(u32::try_from(st.capacity).unwrap_or(u32::MAX)),
        events,
    };
    repr.emit(&mut ack::Packet::new_unchecked(&mut buf[..ack::ACK_LEN]));
    ack::ACK_LEN
}

fn strs(st: &AckState, n: u32, status: chdr::StrsStatus, info: u64, buf: &mut [u8]) -> usize {
    chdr::Repr {
        vc: 0,
        eob: false,
        eov: false,
        seq_num: n as u16,
        dst_epid: 0,
        body: chdr::Body::StreamStatus(chdr::StrsRepr {
            src_epid: st.stream_id as u16,
            status,
            capacity_bytes: st.capacity,
            capacity_pkts: CHDR_NO_PACKET_LIMIT,
            xfer_count_pkts: st.position.wrapping_sub(st.start_seq),
            xfer_count_bytes: st.bytes,
            buff_info: 0,
            status_info: info,
        }),
    }
    .emit_into(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(position: u64, start_seq: u64) -> AckState {
        AckState {
            position,
            bytes: (position - start_seq) * 1472,
            capacity: 1 << 20,
            start_seq,
            stream_id: 5,
        }
    }

    /// Every format's flow update reads back through the sender's parser as the same count,
    /// including across the 32-bit wrap of USRP2 sequence numbers.
    #[test]
    fn flow_updates_round_trip_through_the_senders_parsers() {
        for format in [
            AckFormat::Native,
            AckFormat::Usrp2 { stream_id: 2 },
            AckFormat::Usrp2 { stream_id: 9 },
            AckFormat::Chdr,
        ] {
            for (start, pos) in [
                (0u64, 1u64),
                (0, 712),
                (1000, 1089),
                ((1 << 32) - 3, (1 << 32) + 4),
            ] {
                let mut enc = AckEncoder::new(format);
                let st = state(pos, start);
                let mut parser = format.parser(start);
                let u = parser.parse(enc.flow(&st), pos - 1).unwrap();
                assert_eq!(u.acked_packets, Some(pos), "{format} start {start}");
                assert!(u.events.is_empty());
                match format {
                    AckFormat::Native => {
                        assert_eq!(u.acked_bytes, Some(st.bytes));
                        assert_eq!(u.capacity_bytes, Some(1 << 20));
                        assert_eq!(u.stream_id, 5);
                    }
                    AckFormat::Chdr => {
                        assert_eq!(u.acked_bytes, Some(st.bytes));
                        assert_eq!(u.capacity_bytes, Some(1 << 20));
                        assert_eq!(u.capacity_packets, None);
                    }
                    AckFormat::Usrp2 { stream_id } => assert_eq!(u.stream_id, stream_id),
                }
            }
        }
    }

    #[test]
    fn events_reach_the_sender_as_events() {
        let all =
            EventSet::UNDERFLOW | EventSet::SEQ_ERROR | EventSet::OVERFLOW | EventSet::RESTART;
        let st = state(100, 0);
        let collect = |format: AckFormat| {
            let mut enc = AckEncoder::new(format);
            let mut parser = format.parser(0);
            let mut seen = Vec::new();
            enc.events(&st, all, |b| seen.push(parser.parse(b, 100).unwrap()));
            seen
        };
        let native = collect(AckFormat::Native);
        assert_eq!(native.len(), 1);
        assert_eq!(native[0].events, all);
        assert_eq!(native[0].acked_packets, Some(100));

        let usrp2 = collect(AckFormat::Usrp2 { stream_id: 2 });
        let evs: Vec<EventSet> = usrp2.iter().map(|u| u.events).collect();
        // Code 0x80 (USRP2_CODE_RESTART) comes back as the RESTART event.
        assert_eq!(
            evs,
            vec![EventSet::UNDERFLOW, EventSet::SEQ_ERROR, EventSet::RESTART]
        );
        assert!(usrp2.iter().all(|u| u.acked_packets.is_none()));

        let chdr = collect(AckFormat::Chdr);
        let evs: Vec<EventSet> = chdr.iter().map(|u| u.events).collect();
        assert_eq!(
            evs,
            vec![
                EventSet::NONE,
                EventSet::SEQ_ERROR,
                EventSet::DATA_ERROR,
                EventSet::CMD_ERROR | EventSet::RESTART
            ]
        );
        assert!(chdr.iter().all(|u| u.acked_packets == Some(100)));

        let mut enc = AckEncoder::new(AckFormat::Native);
        enc.events(&st, EventSet::NONE, |_| panic!("nothing to announce"));
    }
}
