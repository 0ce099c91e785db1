//! Wire formats, in the smoltcp style: a zero-copy `Packet<T: AsRef<[u8]>>` view that checks
//! lengths once, plus a `Repr` with `parse`/`emit`. Byte-fixture tests live beside each format and
//! every parser has a fuzz target under `fuzz/`.

pub mod ack;
pub mod chdr;
mod crc32c;
pub mod ethip;
pub mod header;
pub mod seq;
pub mod spead;
pub mod usrp2;
pub mod vrt;

pub use crc32c::checksum as crc32c;

/// Why a packet was rejected by a parser. Each reason is counted separately by the receivers.
///
/// ```
/// use ringshot::wire::{header, WireError};
///
/// let short = [b'R', b'S', 1];
/// let err = header::Packet::new_checked(&short[..]).unwrap_err();
/// assert_eq!(err, WireError::Truncated);
/// assert_eq!(err.name(), "truncated");
/// assert_eq!(err.to_string(), "truncated");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WireError {
    /// Shorter than the fixed header, or than the length the header claims.
    Truncated,
    /// Magic number or protocol identifier does not match.
    BadMagic,
    /// A version this build does not understand.
    BadVersion,
    /// Checksum over the packet does not match.
    BadChecksum,
    /// A field holds a value the format forbids.
    BadField,
    /// Well-formed but of a kind the caller did not ask for (other packet type or stream).
    Unexpected,
}

impl WireError {
    /// Every reason, in declaration order (`reason as usize` indexes this array).
    pub const ALL: [WireError; 6] = [
        WireError::Truncated,
        WireError::BadMagic,
        WireError::BadVersion,
        WireError::BadChecksum,
        WireError::BadField,
        WireError::Unexpected,
    ];

    /// Stable snake_case name used as a JSON key when counting drops by reason.
    pub fn name(self) -> &'static str {
        match self {
            WireError::Truncated => "truncated",
            WireError::BadMagic => "bad_magic",
            WireError::BadVersion => "bad_version",
            WireError::BadChecksum => "bad_checksum",
            WireError::BadField => "bad_field",
            WireError::Unexpected => "unexpected",
        }
    }
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::error::Error for WireError {}

#[cfg(test)]
mod tests {
    use super::WireError;

    #[test]
    fn all_is_indexed_by_discriminant() {
        for (i, e) in WireError::ALL.iter().enumerate() {
            assert_eq!(*e as usize, i);
        }
        let mut names: Vec<_> = WireError::ALL.iter().map(|e| e.name()).collect();
        names.dedup();
        assert_eq!(names.len(), WireError::ALL.len());
    }
}
