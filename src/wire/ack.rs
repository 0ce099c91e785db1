//! The native ringshot ACK: what a ringshot device (or the emulator) sends back to the sender.
//!
//! ```text
//!  0      2     3      4        6        8            12           16
//!  +------+-----+------+--------+--------+------------+------------+
//!  | 'RA' | ver |flags | events |  zero  | stream id  | ack number |
//!  +------+-----+------+--------+--------+------------+------------+
//!  16                       24                       32          36         40
//!  +------------------------+------------------------+-----------+----------+
//!  | consumed (u64)         | consumed bytes (u64)   | credit    | CRC-32C  |
//!  +------------------------+------------------------+-----------+----------+
//! ```
//! All fields big-endian, 40 bytes. `consumed` is cumulative and counted in the sender's own
//! sequence space: the data sequence number the device expects next (last consumed + 1), so a lost
//! ACK costs nothing and no extension is needed. `consumed bytes` (flag [`FLAG_BYTES`]) is the
//! cumulative UDP payload bytes consumed; `credit` (flag [`FLAG_CREDIT`]) is the device buffer
//! size in bytes, i.e. how many bytes may be outstanding beyond `consumed`. `ack number` counts the
//! device's ACKs (+1 each) so duplicated or reordered ACKs can be told apart in captures. `events`
//! is an [`EventSet`]. The CRC-32C covers bytes 0..36; a mismatch is [`WireError::BadChecksum`].
//! Bytes after the 40th are ignored (padding).

use super::{crc32c, WireError};

/// Size of a native ACK in bytes.
pub const ACK_LEN: usize = 40;
/// Magic bytes at offset 0 ("RA").
pub const MAGIC: [u8; 2] = *b"RA";
/// The only version this build emits and accepts.
pub const VERSION: u8 = 1;
/// `consumed bytes` is valid.
pub const FLAG_BYTES: u8 = 0x01;
/// `credit` is valid.
pub const FLAG_CREDIT: u8 = 0x02;
const FLAGS_KNOWN: u8 = FLAG_BYTES | FLAG_CREDIT;

mod field {
    use std::ops::Range;
    pub const MAGIC: Range<usize> = 0..2;
    pub const VERSION: usize = 2;
    pub const FLAGS: usize = 3;
    pub const EVENTS: Range<usize> = 4..6;
    pub const RESERVED: Range<usize> = 6..8;
    pub const STREAM: Range<usize> = 8..12;
    pub const ACK_NUM: Range<usize> = 12..16;
    pub const CONSUMED: Range<usize> = 16..24;
    pub const BYTES: Range<usize> = 24..32;
    pub const CREDIT: Range<usize> = 32..36;
    pub const CRC: Range<usize> = 36..40;
}

/// Device events, a bit set. The low seven bits are UHD's async event codes so a
/// USRP2 code maps onto the same bit; the rest are ringshot's and RFNoC's.
///
/// ```
/// use ringshot::wire::ack::EventSet;
///
/// let ev = EventSet::UNDERFLOW | EventSet::SEQ_ERROR;
/// assert!(ev.contains_any(EventSet::UNDERFLOW));
/// assert!(!ev.contains_any(EventSet::RESTART));
/// assert_eq!(ev.names().collect::<Vec<_>>(), ["underflow", "seq_error"]);
/// assert_eq!(ev.to_string(), "underflow|seq_error");
/// assert!(EventSet::NONE.is_empty());
/// assert_eq!(EventSet::NONE.union(EventSet::RESTART), EventSet::RESTART);
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct EventSet(pub u16);

impl std::fmt::Display for EventSet {
    /// The names of the events set, `|`-separated (`underflow|seq_error`), or `none`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        for (i, name) in self.names().enumerate() {
            if i > 0 {
                f.write_str("|")?;
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for EventSet {
    /// `EventSet(underflow|seq_error)`: the names, not the bits.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EventSet({self})")
    }
}

impl EventSet {
    pub const NONE: EventSet = EventSet(0);
    pub const BURST_ACK: EventSet = EventSet(0x0001);
    pub const UNDERFLOW: EventSet = EventSet(0x0002);
    pub const SEQ_ERROR: EventSet = EventSet(0x0004);
    pub const TIME_ERROR: EventSet = EventSet(0x0008);
    pub const UNDERFLOW_IN_PACKET: EventSet = EventSet(0x0010);
    pub const SEQ_ERROR_IN_BURST: EventSet = EventSet(0x0020);
    pub const USER_PAYLOAD: EventSet = EventSet(0x0040);
    /// A packet arrived with no room in the device buffer.
    pub const OVERFLOW: EventSet = EventSet(0x0100);
    /// The device lost its state (reboot); in-flight packets are gone.
    pub const RESTART: EventSet = EventSet(0x0200);
    /// RFNoC stream status CMDERR.
    pub const CMD_ERROR: EventSet = EventSet(0x0400);
    /// RFNoC stream status DATAERR.
    pub const DATA_ERROR: EventSet = EventSet(0x0800);
    /// RFNoC stream status RTERR.
    pub const ROUTE_ERROR: EventSet = EventSet(0x1000);

    /// Every named event with its stable snake_case name (JSON keys), in bit order.
    pub const NAMED: [(EventSet, &'static str); 13] = [
        (EventSet::BURST_ACK, "burst_ack"),
        (EventSet::UNDERFLOW, "underflow"),
        (EventSet::SEQ_ERROR, "seq_error"),
        (EventSet::TIME_ERROR, "time_error"),
        (EventSet::UNDERFLOW_IN_PACKET, "underflow_in_packet"),
        (EventSet::SEQ_ERROR_IN_BURST, "seq_error_in_burst"),
        (EventSet::USER_PAYLOAD, "user_payload"),
        (EventSet::OVERFLOW, "overflow"),
        (EventSet::RESTART, "restart"),
        (EventSet::CMD_ERROR, "cmd_error"),
        (EventSet::DATA_ERROR, "data_error"),
        (EventSet::ROUTE_ERROR, "route_error"),
        // Bits without a name, kept so nothing a device says is silently lost.
        (EventSet(0xE080), "other"),
    ];

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// True when any bit of `other` is set in `self`.
    pub const fn contains_any(self, other: EventSet) -> bool {
        self.0 & other.0 != 0
    }

    pub const fn union(self, other: EventSet) -> EventSet {
        EventSet(self.0 | other.0)
    }

    /// Names of the events set, in bit order.
    ///
    /// ```
    /// use ringshot::wire::ack::EventSet;
    ///
    /// // Bits without a name of their own are reported as "other", never dropped.
    /// let names: Vec<_> = (EventSet::OVERFLOW | EventSet(0x8000)).names().collect();
    /// assert_eq!(names, ["overflow", "other"]);
    /// ```
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        EventSet::NAMED
            .into_iter()
            .filter(move |(e, _)| self.contains_any(*e))
            .map(|(_, n)| n)
    }
}

impl std::ops::BitOr for EventSet {
    type Output = EventSet;
    fn bitor(self, rhs: EventSet) -> EventSet {
        self.union(rhs)
    }
}

/// A zero-copy view of a native ACK.
///
/// ```
/// use ringshot::wire::ack::{Packet, Repr, EventSet, ACK_LEN};
///
/// let bytes = Repr {
///     stream_id: 9,
///     ack_number: 3,
///     consumed: 1000,
///     consumed_bytes: None,
///     credit: Some(65_536),
///     events: EventSet::NONE,
/// }
/// .to_bytes();
/// let p = Packet::new_checked(&bytes[..]).unwrap();
/// assert_eq!((p.stream_id(), p.ack_number(), p.consumed(), p.credit()), (9, 3, 1000, 65_536));
/// assert!(p.verify_checksum());
///
/// // Editing a field in place: refresh the checksum last.
/// let mut copy = bytes;
/// let mut p = Packet::new_unchecked(&mut copy[..]);
/// p.set_consumed(2000);
/// assert!(!p.verify_checksum());
/// p.fill_checksum();
/// assert!(p.verify_checksum());
/// assert!(Packet::new_checked(&bytes[..ACK_LEN - 1]).is_err());
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

    /// Wraps a buffer after checking that it holds a whole ACK.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Ensures accessors will not panic.
    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < ACK_LEN {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn be<const N: usize>(&self, r: std::ops::Range<usize>) -> [u8; N] {
        let mut out = [0u8; N];
        out.copy_from_slice(&self.buffer.as_ref()[r]);
        out
    }

    pub fn magic(&self) -> [u8; 2] {
        self.be(field::MAGIC)
    }
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION]
    }
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }
    pub fn events(&self) -> EventSet {
        EventSet(u16::from_be_bytes(self.be(field::EVENTS)))
    }
    pub fn reserved(&self) -> u16 {
        u16::from_be_bytes(self.be(field::RESERVED))
    }
    pub fn stream_id(&self) -> u32 {
        u32::from_be_bytes(self.be(field::STREAM))
    }
    pub fn ack_number(&self) -> u32 {
        u32::from_be_bytes(self.be(field::ACK_NUM))
    }
    pub fn consumed(&self) -> u64 {
        u64::from_be_bytes(self.be(field::CONSUMED))
    }
    pub fn consumed_bytes(&self) -> u64 {
        u64::from_be_bytes(self.be(field::BYTES))
    }
    pub fn credit(&self) -> u32 {
        u32::from_be_bytes(self.be(field::CREDIT))
    }
    pub fn checksum(&self) -> u32 {
        u32::from_be_bytes(self.be(field::CRC))
    }

    /// True when the stored CRC-32C matches the covered bytes.
    pub fn verify_checksum(&self) -> bool {
        crc32c::checksum(&self.buffer.as_ref()[..field::CRC.start]) == self.checksum()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn put(&mut self, r: std::ops::Range<usize>, bytes: &[u8]) {
        self.buffer.as_mut()[r].copy_from_slice(bytes);
    }

    pub fn set_magic(&mut self) {
        self.put(field::MAGIC, &MAGIC);
    }
    pub fn set_version(&mut self, v: u8) {
        self.buffer.as_mut()[field::VERSION] = v;
    }
    pub fn set_flags(&mut self, v: u8) {
        self.buffer.as_mut()[field::FLAGS] = v;
    }
    pub fn set_events(&mut self, v: EventSet) {
        self.put(field::EVENTS, &v.0.to_be_bytes());
    }
    pub fn set_reserved(&mut self, v: u16) {
        self.put(field::RESERVED, &v.to_be_bytes());
    }
    pub fn set_stream_id(&mut self, v: u32) {
        self.put(field::STREAM, &v.to_be_bytes());
    }
    pub fn set_ack_number(&mut self, v: u32) {
        self.put(field::ACK_NUM, &v.to_be_bytes());
    }
    pub fn set_consumed(&mut self, v: u64) {
        self.put(field::CONSUMED, &v.to_be_bytes());
    }
    pub fn set_consumed_bytes(&mut self, v: u64) {
        self.put(field::BYTES, &v.to_be_bytes());
    }
    pub fn set_credit(&mut self, v: u32) {
        self.put(field::CREDIT, &v.to_be_bytes());
    }

    /// Computes the CRC-32C over bytes 0..36 and stores it; call after every other setter.
    pub fn fill_checksum(&mut self) {
        let crc = crc32c::checksum(&self.buffer.as_ref()[..field::CRC.start]);
        self.put(field::CRC, &crc.to_be_bytes());
    }
}

/// High-level form of a native ACK.
///
/// ```
/// use ringshot::wire::ack::{Packet, Repr, EventSet, ACK_LEN};
/// use ringshot::wire::WireError;
///
/// let ack = Repr {
///     stream_id: 1,
///     ack_number: 17,
///     consumed: 4096,
///     consumed_bytes: Some(4096 * 1472),
///     credit: None,
///     events: EventSet::UNDERFLOW,
/// };
/// let mut buf = [0u8; ACK_LEN];
/// ack.emit(&mut Packet::new_unchecked(&mut buf[..]));
/// assert_eq!(Repr::parse(&Packet::new_checked(&buf[..]).unwrap()), Ok(ack));
///
/// buf[20] ^= 0x01; // one bit flipped in transit
/// let err = Repr::parse(&Packet::new_unchecked(&buf[..])).unwrap_err();
/// assert_eq!(err, WireError::BadChecksum);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub stream_id: u32,
    pub ack_number: u32,
    /// Cumulative packets consumed, in the sender's sequence space (next expected sequence).
    pub consumed: u64,
    /// Cumulative payload bytes consumed, if the device counts them.
    pub consumed_bytes: Option<u64>,
    /// Device buffer size in bytes, if the device reports it.
    pub credit: Option<u32>,
    pub events: EventSet,
}

impl Repr {
    /// Parses and validates an ACK: length, magic, version, checksum, then reserved bits.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr, WireError> {
        packet.check_len()?;
        if packet.magic() != MAGIC {
            return Err(WireError::BadMagic);
        }
        if packet.version() != VERSION {
            return Err(WireError::BadVersion);
        }
        if !packet.verify_checksum() {
            return Err(WireError::BadChecksum);
        }
        let flags = packet.flags();
        if flags & !FLAGS_KNOWN != 0 || packet.reserved() != 0 {
            return Err(WireError::BadField);
        }
        Ok(Repr {
            stream_id: packet.stream_id(),
            ack_number: packet.ack_number(),
            consumed: packet.consumed(),
            consumed_bytes: (flags & FLAG_BYTES != 0).then(|| packet.consumed_bytes()),
            credit: (flags & FLAG_CREDIT != 0).then(|| packet.credit()),
            events: packet.events(),
        })
    }

    /// Length of the emitted ACK.
    pub const fn buffer_len(&self) -> usize {
        ACK_LEN
    }

    /// Writes the whole ACK, checksum included, into the first [`ACK_LEN`] bytes of `packet`.
    ///
    /// # Panics
    /// If the buffer is shorter than [`ACK_LEN`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        let mut flags = 0;
        if self.consumed_bytes.is_some() {
            flags |= FLAG_BYTES;
        }
        if self.credit.is_some() {
            flags |= FLAG_CREDIT;
        }
        packet.set_magic();
        packet.set_version(VERSION);
        packet.set_flags(flags);
        packet.set_events(self.events);
        packet.set_reserved(0);
        packet.set_stream_id(self.stream_id);
        packet.set_ack_number(self.ack_number);
        packet.set_consumed(self.consumed);
        packet.set_consumed_bytes(self.consumed_bytes.unwrap_or(0));
        packet.set_credit(self.credit.unwrap_or(0));
        packet.fill_checksum();
    }

    /// Emits into a fresh array, for senders that build one ACK at a time.
    ///
    /// ```
    /// use ringshot::wire::ack::{Repr, EventSet};
    ///
    /// let ack = Repr {
    ///     stream_id: 1,
    ///     ack_number: 0,
    ///     consumed: 10,
    ///     consumed_bytes: None,
    ///     credit: None,
    ///     events: EventSet::NONE,
    /// };
    /// let bytes = ack.to_bytes();
    /// assert_eq!(&bytes[..2], b"RA");
    /// assert_eq!(bytes.len(), ack.buffer_len());
    /// ```
    pub fn to_bytes(&self) -> [u8; ACK_LEN] {
        let mut buf = [0u8; ACK_LEN];
        self.emit(&mut Packet::new_unchecked(&mut buf[..]));
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Written by hand from the layout above; the CRC was computed with an independent bitwise
    /// CRC-32C (Python) over bytes 0..36.
    static FIXTURE: [u8; 40] = [
        b'R', b'A', 0x01, 0x03, // magic, version, flags = bytes | credit
        0x02, 0x02, 0x00, 0x00, // events = restart | underflow, reserved
        0x00, 0x00, 0x00, 0x07, // stream id 7
        0x00, 0x00, 0x01, 0x00, // ack number 256
        0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x05, // consumed 2^32 + 5
        0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, // consumed bytes 1 MiB
        0x00, 0x10, 0x00, 0x00, // credit 1 MiB
        0xD7, 0x1C, 0xD3, 0x97, // CRC-32C
    ];

    fn fixture_repr() -> Repr {
        Repr {
            stream_id: 7,
            ack_number: 256,
            consumed: (1 << 32) + 5,
            consumed_bytes: Some(1 << 20),
            credit: Some(1 << 20),
            events: EventSet::RESTART | EventSet::UNDERFLOW,
        }
    }

    #[test]
    fn parse_fixture() {
        let p = Packet::new_checked(&FIXTURE[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(Repr::parse(&p).unwrap(), fixture_repr());
    }

    #[test]
    fn emit_matches_fixture() {
        assert_eq!(fixture_repr().to_bytes(), FIXTURE);
    }

    #[test]
    fn optional_fields_absent() {
        let r = Repr {
            consumed_bytes: None,
            credit: None,
            events: EventSet::NONE,
            ..fixture_repr()
        };
        let bytes = r.to_bytes();
        assert_eq!(bytes[3], 0);
        assert_eq!(&bytes[24..36], &[0u8; 12]);
        assert_eq!(Repr::parse(&Packet::new_unchecked(&bytes[..])).unwrap(), r);
    }

    #[test]
    fn trailing_padding_ignored() {
        let mut long = FIXTURE.to_vec();
        long.extend_from_slice(&[0xAA; 24]);
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&long[..])).unwrap(),
            fixture_repr()
        );
    }

    #[test]
    fn rejects_bad_input() {
        let parse = |b: &[u8]| Repr::parse(&Packet::new_unchecked(b));
        assert_eq!(parse(&FIXTURE[..39]), Err(WireError::Truncated));
        assert_eq!(parse(&[]), Err(WireError::Truncated));
        let mut bad = FIXTURE;
        bad[1] = b'X';
        assert_eq!(parse(&bad), Err(WireError::BadMagic));
        let mut bad = FIXTURE;
        bad[2] = 2;
        assert_eq!(parse(&bad), Err(WireError::BadVersion));
        // A reserved flag bit with a valid checksum is a field error, not a checksum error.
        let mut bad = FIXTURE;
        bad[3] |= 0x80;
        Packet::new_unchecked(&mut bad[..]).fill_checksum();
        assert_eq!(parse(&bad), Err(WireError::BadField));
        let mut bad = FIXTURE;
        bad[7] = 1;
        Packet::new_unchecked(&mut bad[..]).fill_checksum();
        assert_eq!(parse(&bad), Err(WireError::BadField));
    }

    #[test]
    fn every_single_bit_flip_is_caught() {
        // Flipping any bit after the version byte must not yield a believable ACK.
        for byte in 3..ACK_LEN {
            for bit in 0..8 {
                let mut bad = FIXTURE;
                bad[byte] ^= 1 << bit;
                assert_eq!(
                    Repr::parse(&Packet::new_unchecked(&bad[..])),
                    Err(WireError::BadChecksum),
                    "byte {byte} bit {bit}"
                );
            }
        }
    }

    #[test]
    fn event_names() {
        let e = EventSet::UNDERFLOW | EventSet::RESTART | EventSet(0x8000);
        assert_eq!(
            e.names().collect::<Vec<_>>(),
            ["underflow", "restart", "other"]
        );
        assert_eq!(EventSet::NONE.names().count(), 0);
        // Every bit has exactly one name.
        let mut all = 0u16;
        for (e, _) in EventSet::NAMED {
            assert_eq!(all & e.0, 0);
            all |= e.0;
        }
        assert_eq!(all, u16::MAX);
    }

    fn arb_repr() -> impl Strategy<Value = Repr> {
        (
            any::<u32>(),
            any::<u32>(),
            any::<u64>(),
            any::<Option<u64>>(),
            any::<Option<u32>>(),
            any::<u16>(),
        )
            .prop_map(
                |(stream_id, ack_number, consumed, consumed_bytes, credit, ev)| Repr {
                    stream_id,
                    ack_number,
                    consumed,
                    consumed_bytes,
                    credit,
                    events: EventSet(ev),
                },
            )
    }

    proptest! {
        #[test]
        fn round_trip(r in arb_repr()) {
            let bytes = r.to_bytes();
            prop_assert_eq!(Repr::parse(&Packet::new_unchecked(&bytes[..])), Ok(r));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let p = Packet::new_unchecked(&bytes[..]);
            let _ = Repr::parse(&p);
            if p.check_len().is_ok() {
                let _ = (p.events(), p.consumed(), p.credit(), p.verify_checksum());
            }
        }

        #[test]
        fn valid_ack_with_random_corruption_is_rejected(r in arb_repr(), at in 0usize..ACK_LEN, x in 1u8..=255) {
            let mut bytes = r.to_bytes();
            bytes[at] ^= x;
            prop_assert!(Repr::parse(&Packet::new_unchecked(&bytes[..])).is_err());
        }
    }
}
