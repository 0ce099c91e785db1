//! Which sender a receiver follows.
//!
//! A receiver believes one sender: the address given in the configuration
//! ([`super::RecvConfigBuilder::from_addr`]) or, without one, the source of the first datagram.
//! Datagrams from anywhere else are counted as `foreign` and dropped before anything looks at
//! them, so a stray or forged packet from another address or port cannot touch the sequence
//! accounting or the device emulator's state.

use std::net::SocketAddr;

/// Follows one source address. See the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SourceFilter {
    followed: Option<SocketAddr>,
    foreign: u64,
}

impl SourceFilter {
    /// Follows `from` if given, else the first source seen.
    pub fn new(from: Option<SocketAddr>) -> SourceFilter {
        SourceFilter {
            followed: from.map(canonical),
            foreign: 0,
        }
    }

    /// Whether a receive buffer from `src` holding `datagrams` datagrams (more than one when
    /// GRO coalesced them) comes from the followed sender; counts its datagrams when not.
    #[inline]
    pub fn admit(&mut self, src: SocketAddr, datagrams: u64) -> bool {
        let src = canonical(src);
        match self.followed {
            Some(f) if f == src => true,
            Some(_) => {
                self.foreign += datagrams;
                false
            }
            None => {
                self.followed = Some(src);
                true
            }
        }
    }

    /// The sender followed, once known.
    #[cfg(test)]
    pub fn followed(&self) -> Option<SocketAddr> {
        self.followed
    }

    /// Datagrams dropped because they came from elsewhere.
    pub fn foreign(&self) -> u64 {
        self.foreign
    }
}

/// One spelling per endpoint: IPv4-mapped IPv6 as IPv4, and no flow label or scope to differ on.
fn canonical(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(a.ip().to_canonical(), a.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_first_source_or_the_configured_one() {
        let a: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:5001".parse().unwrap();
        let mut f = SourceFilter::new(None);
        assert!(f.admit(a, 1));
        assert!(!f.admit(b, 1));
        assert!(f.admit("[::ffff:127.0.0.1]:5000".parse().unwrap(), 1));
        assert_eq!((f.followed(), f.foreign()), (Some(a), 1));
        let mut f = SourceFilter::new(Some(b));
        assert!(!f.admit(a, 1));
        assert!(f.admit(b, 1));
        assert_eq!(f.foreign(), 1);
        // A GRO buffer of 44 datagrams from elsewhere is 44 foreign datagrams.
        assert!(!f.admit(a, 44));
        assert_eq!(f.foreign(), 45);
    }
}
