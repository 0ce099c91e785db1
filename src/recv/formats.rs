//! The data formats the receiver understands besides ringshot's own header: each format's own
//! sequence counter, read from the wire and widened to the 64-bit sequence the trackers keep.
//!
//! | format  | sequence on the wire                    | stream key      |
//! |---------|-----------------------------------------|-----------------|
//! | `usrp2` | 32-bit word (VRT count must agree)      | VRT stream id   |
//! | `vrt`   | VRT packet count, 4 bits                | VRT stream id   |
//! | `chdr`  | SeqNum, 16 bits                         | DstEPID         |
//! | `raw`   | none                                    | 0               |
//! | `spead` | none (heaps: `recv::spead`)             | 0               |
//!
//! A format without a sequence number gets no sequence accounting in the receiver: nothing is
//! lost, reordered, duplicate or late there, and no stream restarts on a sequence value
//! ([`has_sequence`]). Only the device emulator, which must acknowledge what it consumed,
//! numbers such datagrams in order of arrival ([`SeqReader`]).
//!
//! A narrow counter is widened against the highest sequence seen on its stream: the nearest
//! value with the same low bits. A run of lost packets as long as half the counter's range or
//! longer (8 packets for VRT's 4-bit count) cannot be told from a shorter one.

use crate::framing::Format;
use crate::wire::{chdr, header, spead, usrp2, vrt, WireError};

/// What a data packet says about itself.
///
/// ```
/// use ringshot::framing::{Format, Framing, Stamper};
/// use ringshot::recv::formats::decode;
///
/// let mut st = Stamper::new(Framing { dst_epid: 9, ..Framing::of(Format::Chdr) }, 0);
/// let mut buf = [0u8; 64];
/// let len = st.stamp(&mut buf, 70_000, 0, 8);
/// let d = decode(Format::Chdr, &buf[..len]).unwrap();
/// assert_eq!((d.stream_id, d.wire_seq, d.seq_bits), (9, 70_000 % 65_536, 16));
/// assert_eq!((d.payload.len(), d.tsi, d.heap), (8, None, None));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// The stream it belongs to (VRT stream id, CHDR DstEPID, ringshot stream id).
    pub stream_id: u32,
    /// The sequence counter as on the wire.
    pub wire_seq: u64,
    /// Width of that counter in bits (64 for ringshot, 0 for raw: no counter).
    pub seq_bits: u32,
    /// ringshot header flags (0 for other formats).
    pub flags: u8,
    /// The bytes after the header (VRT: the words between header and trailer).
    pub payload: &'a [u8],
    /// VRT / USRP2: the integer-seconds timestamp, when the packet carries one.
    pub tsi: Option<u32>,
    /// SPEAD: where the packet sits in its heap.
    pub heap: Option<HeapPos>,
}

/// A SPEAD packet's place in the stream.
///
/// ```
/// use ringshot::framing::{Format, Framing, Stamper};
/// use ringshot::recv::formats::decode;
///
/// let mut st = Stamper::new(Framing::of(Format::Spead), 0);
/// let mut buf = [0u8; 1500];
/// let len = st.stamp(&mut buf, 0, 0, 1000);
/// let heap = decode(Format::Spead, &buf[..len]).unwrap().heap.unwrap();
/// assert_eq!((heap.cnt, heap.offset, heap.stop), (1, 0, false)); // spead2 counts heaps from 1
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeapPos {
    pub cnt: u64,
    pub offset: u64,
    /// The heap size item, when the packet carries one.
    pub size: Option<u64>,
    /// The stop item (stream control 2): it ends the stream and is in no data heap.
    pub stop: bool,
}

/// Whether `format`'s data packets carry a sequence number (ringshot, usrp2, vrt, chdr); raw
/// datagrams and SPEAD packets do not (a SPEAD packet's place is in its heap, not in a sequence).
///
/// ```
/// use ringshot::framing::Format;
/// use ringshot::recv::formats::has_sequence;
///
/// assert!(has_sequence(Format::Vrt));
/// assert!(!has_sequence(Format::Raw) && !has_sequence(Format::Spead));
/// ```
pub const fn has_sequence(format: Format) -> bool {
    !matches!(format, Format::Raw | Format::Spead)
}

/// The 64-bit sequence number `datagram` carries as a data packet of `format`, a narrow counter
/// widened against `reference` (the highest sequence seen on its stream, or the start); `None`
/// for a format without sequence numbers or a datagram that is not a data packet of `format`.
///
/// ```
/// use ringshot::framing::{Format, Framing, Stamper};
/// use ringshot::recv::formats::sequence;
///
/// let mut st = Stamper::new(Framing::of(Format::Vrt), 0);
/// let mut buf = [0u8; 64];
/// let len = st.stamp(&mut buf, 21, 0, 4); // VRT carries 21 mod 16 = 5
/// assert_eq!(sequence(Format::Vrt, &buf[..len], 20), Some(21)); // widened near the reference
/// assert_eq!(sequence(Format::Raw, &buf[..len], 20), None);
/// ```
#[inline]
pub fn sequence(format: Format, datagram: &[u8], reference: u64) -> Option<u64> {
    let d = decode(format, datagram).ok()?;
    (d.seq_bits > 0).then(|| widen(d.wire_seq, d.seq_bits, reference))
}

/// Parses `datagram` as a data packet of `format`. Context, status and command packets are
/// [`WireError::Unexpected`]; a USRP2 packet whose VRT count disagrees with its sequence word is
/// [`WireError::BadField`].
///
/// ```
/// use ringshot::framing::Format;
/// use ringshot::recv::formats::decode;
/// use ringshot::wire::header::pattern_packet;
/// use ringshot::wire::WireError;
///
/// let packet = pattern_packet(3, 42, 64);
/// let d = decode(Format::Ringshot, &packet).unwrap();
/// assert_eq!((d.stream_id, d.wire_seq, d.seq_bits, d.payload.len()), (3, 42, 64, 48));
/// assert_eq!(decode(Format::Ringshot, b"short").unwrap_err(), WireError::Truncated);
/// ```
pub fn decode(format: Format, datagram: &[u8]) -> Result<Decoded<'_>, WireError> {
    match format {
        Format::Ringshot => {
            let p = header::Packet::new_checked(datagram)?;
            let r = header::Repr::parse(&p)?;
            Ok(Decoded {
                stream_id: r.stream_id,
                wire_seq: r.seq,
                seq_bits: 64,
                flags: r.flags,
                payload: &datagram[header::HEADER_LEN..],
                tsi: None,
                heap: None,
            })
        }
        Format::Raw => Ok(Decoded {
            stream_id: 0,
            wire_seq: 0,
            seq_bits: 0,
            flags: 0,
            payload: datagram,
            tsi: None,
            heap: None,
        }),
        Format::Vrt => {
            let p = vrt::Packet::new_checked(datagram)?;
            let (stream_id, count, payload) = vrt_data(&p)?;
            Ok(Decoded {
                stream_id,
                wire_seq: u64::from(count),
                seq_bits: 4,
                flags: 0,
                payload,
                tsi: p.integer_timestamp().map(|(_, s)| s),
                heap: None,
            })
        }
        Format::Usrp2 => {
            let (word, p) = usrp2::parse_data(datagram)?;
            let (stream_id, count, payload) = vrt_data(&p)?;
            if u32::from(count) != word & 0xF {
                return Err(WireError::BadField);
            }
            Ok(Decoded {
                stream_id,
                wire_seq: u64::from(word),
                seq_bits: 32,
                flags: 0,
                payload,
                tsi: p.integer_timestamp().map(|(_, s)| s),
                heap: None,
            })
        }
        Format::Spead => {
            let p = spead::Packet::new_checked(datagram)?;
            let r = spead::Repr::parse(&p)?;
            let at = p.payload_at();
            // Parse checked that the payload fits, so the length fits in usize.
            let len = r.payload_len as usize;
            Ok(Decoded {
                stream_id: 0,
                wire_seq: 0,
                seq_bits: 0,
                flags: 0,
                payload: &datagram[at..at + len],
                tsi: None,
                heap: Some(HeapPos {
                    cnt: r.heap_cnt,
                    offset: r.heap_offset,
                    size: r.heap_size,
                    stop: r.stream_ctrl == Some(spead::CTRL_STOP),
                }),
            })
        }
        Format::Chdr => {
            let p = chdr::Packet::new_checked(datagram)?;
            let r = chdr::DataRepr::parse(&p)?;
            let start = datagram.len().min(usize::from(p.length())) - r.payload_len;
            Ok(Decoded {
                stream_id: u32::from(r.dst_epid),
                wire_seq: u64::from(r.seq_num),
                seq_bits: 16,
                flags: 0,
                payload: &datagram[start..start + r.payload_len],
                tsi: None,
                heap: None,
            })
        }
    }
}

/// Reads one stream's 64-bit sequence numbers out of datagrams of one format, widening narrow
/// counters against the highest sequence read so far (the device emulator's view of a stream).
///
/// ```
/// use ringshot::framing::{Format, Framing, Stamper};
/// use ringshot::recv::formats::SeqReader;
///
/// // CHDR's 16-bit SeqNum read as a 64-bit sequence across its wrap.
/// let mut reader = SeqReader::new(Format::Chdr, 65_530);
/// let mut st = Stamper::new(Framing { dst_epid: 4, ..Framing::of(Format::Chdr) }, 0);
/// let mut buf = [0u8; 64];
/// for seq in 65_530..65_540u64 {
///     let len = st.stamp(&mut buf, seq, 0, 8);
///     assert_eq!(reader.read(&buf[..len], false), Ok((4, seq)));
/// }
/// // Raw datagrams carry no number: they are numbered in order of arrival.
/// let mut raw = SeqReader::new(Format::Raw, 0);
/// assert_eq!((raw.read(b"a", false), raw.read(b"b", false)), (Ok((0, 0)), Ok((0, 1))));
/// ```
#[derive(Debug, Clone)]
pub struct SeqReader {
    format: Format,
    start: u64,
    reference: u64,
    arrivals: u64,
}

impl SeqReader {
    /// A reader for a stream of `format` starting at sequence `start`.
    pub fn new(format: Format, start: u64) -> SeqReader {
        SeqReader {
            format,
            start,
            reference: start,
            arrivals: 0,
        }
    }

    /// The stream id and sequence number of `datagram`. With `resync` (the sender may have
    /// started its stream again), a counter whose low bits are those of the start sequence is
    /// taken as the start, and widening starts over from there.
    ///
    /// ```
    /// use ringshot::framing::{Format, Framing, Stamper};
    /// use ringshot::recv::formats::SeqReader;
    ///
    /// let mut reader = SeqReader::new(Format::Vrt, 0);
    /// let mut st = Stamper::new(Framing::of(Format::Vrt), 1);
    /// let mut buf = [0u8; 64];
    /// for seq in 0..20 {
    ///     let len = st.stamp(&mut buf, seq, 0, 4);
    ///     reader.read(&buf[..len], false).unwrap();
    /// }
    /// // The sender starts over: with `resync`, count 0 is taken as the start again.
    /// let len = Stamper::new(Framing::of(Format::Vrt), 1).stamp(&mut buf, 0, 0, 4);
    /// assert_eq!(reader.read(&buf[..len], true), Ok((1, 0)));
    /// assert!(reader.read(b"junk", false).is_err());
    /// ```
    pub fn read(&mut self, datagram: &[u8], resync: bool) -> Result<(u32, u64), WireError> {
        let d = decode(self.format, datagram)?;
        let seq = match d.seq_bits {
            0 => {
                let s = self.start.saturating_add(self.arrivals);
                self.arrivals += 1;
                s
            }
            bits => {
                let mask = if bits >= 64 {
                    u64::MAX
                } else {
                    (1u64 << bits) - 1
                };
                if resync && d.wire_seq == self.start & mask {
                    self.reference = self.start;
                    self.start
                } else {
                    widen(d.wire_seq, bits, self.reference)
                }
            }
        };
        self.reference = self.reference.max(seq);
        Ok((d.stream_id, seq))
    }
}

/// Stream id, packet count and payload of a VRT IF data packet with a stream id.
fn vrt_data<'a>(p: &vrt::Packet<&'a [u8]>) -> Result<(u32, u8, &'a [u8]), WireError> {
    let r = vrt::Repr::parse(p)?;
    if r.packet_type != vrt::PacketType::IfDataWithStreamId {
        return Err(WireError::Unexpected);
    }
    let b: &'a [u8] = p.into_inner();
    let start = p.header_len();
    let end = start + r.payload_words * 4;
    Ok((r.stream_id.unwrap_or(0), r.packet_count, &b[start..end]))
}

/// The 64-bit sequence nearest to `reference` whose low `bits` bits are `wire` (64 bits: `wire`
/// itself). Never wraps: below 0 or above `u64::MAX` the other side is taken.
///
/// ```
/// use ringshot::recv::formats::widen;
///
/// assert_eq!(widen(2, 4, 30), 34); // 4-bit count 2 nearest 30 is 34 (= 2 mod 16)
/// assert_eq!(widen(15, 4, 1), 15); // never below zero
/// assert_eq!(widen(7, 64, 0), 7);
/// ```
pub fn widen(wire: u64, bits: u32, reference: u64) -> u64 {
    if bits >= 64 {
        return wire;
    }
    let m = 1u64 << bits;
    let delta = wire.wrapping_sub(reference) & (m - 1);
    if delta < m / 2 {
        reference
            .checked_add(delta)
            .unwrap_or_else(|| reference - (m - delta))
    } else {
        reference
            .checked_sub(m - delta)
            .unwrap_or_else(|| reference + delta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framing::{Framing, Stamper};
    use proptest::prelude::*;

    #[test]
    fn widen_picks_the_nearest() {
        assert_eq!(widen(3, 4, 0), 3);
        assert_eq!(widen(0, 4, 15), 16);
        assert_eq!(widen(15, 4, 16), 15);
        assert_eq!(widen(0xFFFF, 16, 0), 0xFFFF);
        assert_eq!(widen(1, 32, 0xFFFF_FFFF), 0x1_0000_0001);
        assert_eq!(widen(7, 64, 99), 7);
        assert_eq!(widen(0xF, 4, u64::MAX - 1), u64::MAX);
        assert_eq!(widen(0, 4, u64::MAX), u64::MAX - 15);
    }

    #[test]
    fn decode_rejects_by_reason() {
        assert_eq!(decode(Format::Vrt, &[0x10]), Err(WireError::Truncated));
        // IF context is not data.
        let ctx = [0x40, 0x00, 0x00, 0x02, 0, 0, 0, 1];
        assert_eq!(decode(Format::Vrt, &ctx), Err(WireError::Unexpected));
        // USRP2 word 5 with VRT count 4.
        let b = [0, 0, 0, 5, 0x10, 0x04, 0x00, 0x02, 0, 0, 0, 1];
        assert_eq!(decode(Format::Usrp2, &b), Err(WireError::BadField));
        assert_eq!(decode(Format::Chdr, &[0; 7]), Err(WireError::Truncated));
    }

    proptest! {
        /// What the stamper writes decodes to the same stream, sequence and app bytes.
        #[test]
        fn stamped_packets_decode(fi in 0usize..6, ts in any::<bool>(), sid in any::<u32>(),
                                  seq in any::<u64>(), words in 0usize..16) {
            let framing = Framing { sample_count_ts: ts, ..Framing::of(Format::ALL[fi]) };
            let mut s = Stamper::new(framing, sid);
            let mut buf = [0u8; 128];
            let h = s.header_len();
            for (i, b) in buf[h..h + words * 4].iter_mut().enumerate() {
                *b = i as u8;
            }
            let n = s.stamp(&mut buf, seq, 0, words * 4);
            let d = decode(framing.format, &buf[..n]).unwrap();
            prop_assert_eq!(d.payload, &buf[h..h + words * 4]);
            let mask = if d.seq_bits >= 64 { u64::MAX } else { (1u64 << d.seq_bits) - 1 };
            prop_assert_eq!(d.wire_seq, seq & mask);
            prop_assert_eq!(d.seq_bits > 0, has_sequence(framing.format));
            let widened = sequence(framing.format, &buf[..n], seq);
            prop_assert_eq!(widened, has_sequence(framing.format).then_some(seq));
            match framing.format {
                Format::Raw | Format::Spead => {}
                Format::Chdr => prop_assert_eq!(d.stream_id, 0),
                _ => prop_assert_eq!(d.stream_id, sid),
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(fi in 0usize..6, bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
            let _ = decode(Format::ALL[fi], &bytes);
        }

        #[test]
        fn widen_round_trips(seq in any::<u64>(), back in 0u64..8, bits in prop_oneof![Just(4u32), Just(16), Just(32)]) {
            // Anything within half the counter's range of the reference widens back exactly.
            let reference = seq.saturating_add(back);
            let wire = seq & ((1u64 << bits) - 1);
            prop_assert_eq!(widen(wire, bits, reference), seq);
        }
    }
}
