//! The ringshot data header: the first 16 bytes of every UDP payload the engine sends.
//!
//! ```text
//!  0      2    3     4            8                        16
//!  +------+----+-----+------------+------------------------+----------------
//!  | 'RS' | v1 |flags| stream id  | sequence (u64)         | app payload ...
//!  +------+----+-----+------------+------------------------+----------------
//! ```
//! All fields big-endian. The sequence number is assigned by the engine: 0 for the first packet of
//! a stream, +1 per packet. `flags` bit 0 ([`FLAG_PATTERN`]) says the rest of the payload holds the
//! check pattern of [`fill_pattern`], so a receiver can verify contents byte for byte.

use super::WireError;

/// Size of the header in bytes.
pub const HEADER_LEN: usize = 16;
/// Magic bytes at offset 0 ("RS").
pub const MAGIC: [u8; 2] = *b"RS";
/// The only version this build emits and accepts.
pub const VERSION: u8 = 1;
/// The payload after the header holds [`fill_pattern`] for this packet's sequence number.
pub const FLAG_PATTERN: u8 = 0x01;

mod field {
    use std::ops::Range;
    pub const MAGIC: Range<usize> = 0..2;
    pub const VERSION: usize = 2;
    pub const FLAGS: usize = 3;
    pub const STREAM: Range<usize> = 4..8;
    pub const SEQ: Range<usize> = 8..16;
}

/// A zero-copy view of a ringshot data packet.
///
/// ```
/// use ringshot::wire::header::{Packet, HEADER_LEN};
///
/// let bytes = [b'R', b'S', 1, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 42, 0xaa, 0xbb];
/// let p = Packet::new_checked(&bytes[..]).unwrap();
/// assert_eq!((p.stream_id(), p.seq(), p.flags()), (7, 42, 0));
/// assert_eq!(p.payload(), &[0xaa, 0xbb]);
/// // Fewer bytes than a header: rejected before any accessor can panic.
/// assert!(Packet::new_checked(&bytes[..HEADER_LEN - 1]).is_err());
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

    /// Wraps a buffer after checking that it holds at least a whole header.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Ensures accessors will not panic.
    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn magic(&self) -> [u8; 2] {
        let b = self.buffer.as_ref();
        [b[field::MAGIC.start], b[field::MAGIC.start + 1]]
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION]
    }

    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    pub fn stream_id(&self) -> u32 {
        u32::from_be_bytes(self.buffer.as_ref()[field::STREAM].try_into().unwrap())
    }

    pub fn seq(&self) -> u64 {
        u64::from_be_bytes(self.buffer.as_ref()[field::SEQ].try_into().unwrap())
    }

    /// The bytes after the header.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_magic(&mut self) {
        self.buffer.as_mut()[field::MAGIC].copy_from_slice(&MAGIC);
    }
    pub fn set_version(&mut self, v: u8) {
        self.buffer.as_mut()[field::VERSION] = v;
    }
    pub fn set_flags(&mut self, v: u8) {
        self.buffer.as_mut()[field::FLAGS] = v;
    }
    pub fn set_stream_id(&mut self, v: u32) {
        self.buffer.as_mut()[field::STREAM].copy_from_slice(&v.to_be_bytes());
    }
    pub fn set_seq(&mut self, v: u64) {
        self.buffer.as_mut()[field::SEQ].copy_from_slice(&v.to_be_bytes());
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }
}

/// High-level form of the header.
///
/// ```
/// use ringshot::wire::header::{Packet, Repr, HEADER_LEN};
///
/// let repr = Repr { flags: 0, stream_id: 7, seq: 42 };
/// let mut buf = [0u8; HEADER_LEN + 4];
/// repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
/// assert_eq!(&buf[..4], b"RS\x01\x00");
/// assert_eq!(Repr::parse(&Packet::new_checked(&buf[..]).unwrap()), Ok(repr));
///
/// buf[2] = 9; // a version this build does not speak
/// let err = Repr::parse(&Packet::new_unchecked(&buf[..])).unwrap_err();
/// assert_eq!(err, ringshot::wire::WireError::BadVersion);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub flags: u8,
    pub stream_id: u32,
    pub seq: u64,
}

impl Repr {
    /// Parses and validates a header (magic and version).
    ///
    /// ```
    /// use ringshot::wire::header::{pattern_packet, Packet, Repr};
    ///
    /// let bytes = pattern_packet(3, 1000, 64);
    /// let repr = Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()).unwrap();
    /// assert_eq!((repr.stream_id, repr.seq), (3, 1000));
    /// ```
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr, WireError> {
        packet.check_len()?;
        if packet.magic() != MAGIC {
            return Err(WireError::BadMagic);
        }
        if packet.version() != VERSION {
            return Err(WireError::BadVersion);
        }
        Ok(Repr {
            flags: packet.flags(),
            stream_id: packet.stream_id(),
            seq: packet.seq(),
        })
    }

    /// Length of the emitted header.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header into the first [`HEADER_LEN`] bytes of `packet`.
    ///
    /// ```
    /// use ringshot::wire::header::{Packet, Repr, HEADER_LEN};
    ///
    /// let mut buf = [0u8; HEADER_LEN];
    /// Repr { flags: 0, stream_id: 1, seq: 2 }.emit(&mut Packet::new_unchecked(&mut buf[..]));
    /// assert_eq!(buf, *b"RS\x01\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x02");
    /// ```
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_magic();
        packet.set_version(VERSION);
        packet.set_flags(self.flags);
        packet.set_stream_id(self.stream_id);
        packet.set_seq(self.seq);
    }
}

/// 256 + 64 KiB of the repeating byte ramp 0, 1, .., 255, so any pattern is one slice copy.
fn ramp() -> &'static [u8] {
    static RAMP: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    RAMP.get_or_init(|| (0..256 + 65_536).map(|i| i as u8).collect())
}

/// Fills `payload` (the bytes after the header) with the check pattern for `seq`:
/// byte `i` is `(seq + i) mod 256`. One memcpy, no per-byte loop.
///
/// ```
/// use ringshot::wire::header::{check_pattern, fill_pattern};
///
/// let mut payload = [0u8; 4];
/// fill_pattern(254, &mut payload);
/// assert_eq!(payload, [254, 255, 0, 1]);
/// assert!(check_pattern(254, &payload));
/// assert!(!check_pattern(255, &payload));
/// ```
pub fn fill_pattern(seq: u64, payload: &mut [u8]) {
    let start = (seq & 0xff) as usize;
    let n = payload.len().min(65_536);
    payload[..n].copy_from_slice(&ramp()[start..start + n]);
}

/// A whole data packet of `len` bytes (header included, `len >= HEADER_LEN`) carrying the check
/// pattern: what a test or a tool sends when ringshot's receiver should verify every byte.
/// Allocates; not for the hot path.
///
/// ```
/// use ringshot::wire::header::{check_pattern, pattern_packet, Packet, FLAG_PATTERN};
///
/// let bytes = pattern_packet(1, 5, 100);
/// let p = Packet::new_checked(&bytes[..]).unwrap();
/// assert_eq!(p.flags() & FLAG_PATTERN, FLAG_PATTERN);
/// assert!(check_pattern(p.seq(), p.payload()));
/// ```
pub fn pattern_packet(stream_id: u32, seq: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    let mut p = Packet::new_unchecked(&mut buf[..]);
    Repr {
        flags: FLAG_PATTERN,
        stream_id,
        seq,
    }
    .emit(&mut p);
    fill_pattern(seq, p.payload_mut());
    buf
}

/// True when `payload` holds exactly the check pattern for `seq`.
///
/// ```
/// use ringshot::wire::header::{check_pattern, pattern_packet, HEADER_LEN};
///
/// let mut bytes = pattern_packet(1, 5, 100);
/// assert!(check_pattern(5, &bytes[HEADER_LEN..]));
/// bytes[50] ^= 1; // one flipped bit anywhere in the payload is caught
/// assert!(!check_pattern(5, &bytes[HEADER_LEN..]));
/// ```
pub fn check_pattern(seq: u64, payload: &[u8]) -> bool {
    let start = (seq & 0xff) as usize;
    payload.len() <= 65_536 && payload == &ramp()[start..start + payload.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let p = Packet::new_unchecked(&bytes[..]);
            if Repr::parse(&p).is_ok() {
                let _ = check_pattern(p.seq(), p.payload());
            }
        }
    }

    static FIXTURE: [u8; 20] = [
        b'R', b'S', 0x01, 0x01, // magic, version, flags
        0x00, 0x00, 0x00, 0x07, // stream id 7
        0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, // seq 2^32 + 2
        0x02, 0x03, 0x04, 0x05, // pattern for seq ..02
    ];

    #[test]
    fn parse_fixture() {
        let p = Packet::new_checked(&FIXTURE[..]).unwrap();
        let r = Repr::parse(&p).unwrap();
        assert_eq!(
            r,
            Repr {
                flags: FLAG_PATTERN,
                stream_id: 7,
                seq: (1 << 32) + 2
            }
        );
        assert!(check_pattern(r.seq, p.payload()));
        assert!(!check_pattern(r.seq + 1, p.payload()));
    }

    #[test]
    fn emit_matches_fixture() {
        let mut buf = [0u8; 20];
        let repr = Repr {
            flags: FLAG_PATTERN,
            stream_id: 7,
            seq: (1 << 32) + 2,
        };
        let mut p = Packet::new_unchecked(&mut buf[..]);
        repr.emit(&mut p);
        fill_pattern(repr.seq, p.payload_mut());
        assert_eq!(buf, FIXTURE);
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(
            Packet::new_checked(&FIXTURE[..15]).unwrap_err(),
            WireError::Truncated
        );
        let mut bad = FIXTURE;
        bad[0] = b'X';
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&bad[..])),
            Err(WireError::BadMagic)
        );
        let mut bad = FIXTURE;
        bad[2] = 9;
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&bad[..])),
            Err(WireError::BadVersion)
        );
    }
}
