//! Which senders a receiver follows, and what it counts of the others.
//!
//! A receiver that is told to check one sender for the whole run believes one sender: the
//! address given in the configuration ([`super::RecvConfigBuilder::from_addr`]) or, without one,
//! the source of the first datagram. Datagrams from anywhere else are counted as `foreign` and
//! dropped before anything looks at them, so a stray or forged packet from another address or
//! port cannot touch the sequence accounting or the device emulator's state. A receiver that
//! follows several senders at once ([`super::RecvConfigBuilder::senders`]) or one after another
//! ([`super::RecvConfigBuilder::streams`]) decides in [`super::streams`] instead, and counts its
//! foreign datagrams the same way ([`ForeignTally`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::lanes::canonical;

/// Foreign sources listed by address in the report; more are counted, not listed.
pub const MAX_FOREIGN_LISTED: usize = 8;

/// Why a datagram was counted as foreign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Why {
    /// Not from the address the configuration named ([`super::RecvConfigBuilder::from_addr`]).
    NotFrom,
    /// Every sender the receiver may follow at a time was taken by one still streaming.
    SendersBusy,
}

impl Why {
    /// The reason's name in the report (`foreign_reasons`).
    pub fn name(self) -> &'static str {
        match self {
            Why::NotFrom => "not_from_addr",
            Why::SendersBusy => "senders_busy",
        }
    }
}

/// The foreign datagrams: how many, why, and from which sources (the first
/// [`MAX_FOREIGN_LISTED`] distinct ones). Counting one allocates nothing.
#[derive(Debug, Clone)]
pub(crate) struct ForeignTally {
    datagrams: u64,
    not_from: u64,
    busy: u64,
    sources: Vec<SocketAddr>,
    /// Distinct sources beyond the listed ones are not told apart: whether there were any.
    more: bool,
}

impl Default for ForeignTally {
    fn default() -> Self {
        ForeignTally {
            datagrams: 0,
            not_from: 0,
            busy: 0,
            sources: Vec::with_capacity(MAX_FOREIGN_LISTED),
            more: false,
        }
    }
}

impl ForeignTally {
    /// Counts `datagrams` foreign datagrams from `src` (canonical).
    #[inline]
    pub fn count(&mut self, src: SocketAddr, datagrams: u64, why: Why) {
        self.datagrams += datagrams;
        match why {
            Why::NotFrom => self.not_from += datagrams,
            Why::SendersBusy => self.busy += datagrams,
        }
        if !self.sources.contains(&src) {
            if self.sources.len() < MAX_FOREIGN_LISTED {
                self.sources.push(src);
            } else {
                self.more = true;
            }
        }
    }

    /// Foreign datagrams in all.
    pub fn datagrams(&self) -> u64 {
        self.datagrams
    }

    /// The distinct sources counted (the first [`MAX_FOREIGN_LISTED`]).
    pub fn sources(&self) -> &[SocketAddr] {
        &self.sources
    }

    /// Adds `other`'s counts and sources to these.
    pub fn merge(&mut self, other: &ForeignTally) {
        self.datagrams += other.datagrams;
        self.not_from += other.not_from;
        self.busy += other.busy;
        for s in &other.sources {
            if !self.sources.contains(s) {
                if self.sources.len() < MAX_FOREIGN_LISTED {
                    self.sources.push(*s);
                } else {
                    self.more = true;
                }
            }
        }
        self.more |= other.more;
    }

    /// The counts by reason ([`Why::name`]), non-zero ones only.
    pub fn reasons(&self) -> BTreeMap<String, u64> {
        [(Why::NotFrom, self.not_from), (Why::SendersBusy, self.busy)]
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(w, n)| (w.name().to_string(), n))
            .collect()
    }
}

/// Follows one source address. See the module documentation.
#[derive(Debug, Clone, Default)]
pub(crate) struct SourceFilter {
    followed: Option<SocketAddr>,
    /// The address was configured (so others are `not_from_addr`, not `senders_busy`).
    configured: bool,
    foreign: ForeignTally,
}

impl SourceFilter {
    /// Follows `from` if given, else the first source seen.
    pub fn new(from: Option<SocketAddr>) -> SourceFilter {
        SourceFilter {
            followed: from.map(canonical),
            configured: from.is_some(),
            foreign: ForeignTally::default(),
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
                let why = if self.configured {
                    Why::NotFrom
                } else {
                    Why::SendersBusy
                };
                self.foreign.count(src, datagrams, why);
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
    #[cfg(test)]
    pub fn foreign(&self) -> u64 {
        self.foreign.datagrams()
    }

    /// The foreign datagrams, by reason and source.
    pub fn tally(&self) -> &ForeignTally {
        &self.foreign
    }
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
        assert_eq!(f.tally().sources(), &[a]);
        let reasons = f.tally().reasons();
        assert_eq!(reasons.get("not_from_addr"), Some(&45));
    }

    #[test]
    fn the_tally_lists_a_bounded_number_of_sources_and_merges() {
        let mut t = ForeignTally::default();
        for port in 0..20u16 {
            t.count(SocketAddr::from(([10, 0, 0, 1], port)), 2, Why::SendersBusy);
        }
        assert_eq!(
            (t.datagrams(), t.sources().len(), t.more),
            (40, MAX_FOREIGN_LISTED, true)
        );
        let mut u = ForeignTally::default();
        u.count(SocketAddr::from(([10, 0, 0, 2], 1)), 1, Why::NotFrom);
        u.merge(&t);
        assert_eq!(u.datagrams(), 41);
        assert_eq!(u.sources()[0], SocketAddr::from(([10, 0, 0, 2], 1)));
        assert_eq!(u.reasons().len(), 2);
        assert_eq!(u.reasons()["senders_busy"], 40);
    }
}
