//! Per-source lanes of a [`StreamChecker`](super::StreamChecker): one set of sequence trackers
//! per sender, so that several senders streaming at the same time into one receiver (each with
//! its own sequence space, as the engines of `ringshot send --engines N` have) are each checked
//! exactly.
//!
//! A checker made for one sender (the default) has one lane and never looks at the source: the
//! receiver in front of it lets one sender through at a time. A checker made for `n` senders
//! ([`StreamChecker::with_senders`](super::StreamChecker::with_senders)) binds each new source
//! address to a lane, up to `n`. When the receiver closes a sender's stream
//! ([`DatagramSink::end_stream`](super::DatagramSink::end_stream)) its lane is marked ended: the
//! same source coming back carries on in it, and a new source may take it over, starting from
//! zero counts (what the lane counted before stays in the checker's run totals).
//!
//! Per datagram this costs a comparison with the lane matched last and, when the source differs,
//! a linear scan of at most `n` lanes; nothing allocates after the lanes are made.

use std::net::SocketAddr;

/// Most senders one checker tracks at the same time.
pub const MAX_SENDERS: usize = 256;

/// The counts of one stream or lane: packets, bytes and the sequence counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub packets: u64,
    pub bytes: u64,
    pub lost: u64,
    pub reordered: u64,
    pub duplicates: u64,
    pub late: u64,
}

impl Counts {
    /// `self - then`, each count on its own (never below zero).
    pub fn since(self, then: Counts) -> Counts {
        Counts {
            packets: self.packets.saturating_sub(then.packets),
            bytes: self.bytes.saturating_sub(then.bytes),
            lost: self.lost.saturating_sub(then.lost),
            reordered: self.reordered.saturating_sub(then.reordered),
            duplicates: self.duplicates.saturating_sub(then.duplicates),
            late: self.late.saturating_sub(then.late),
        }
    }
}

#[derive(Debug, Clone)]
struct Lane {
    /// The source bound to it (`None` for the one lane of a one-sender checker).
    src: Option<SocketAddr>,
    /// Its stream was closed: a new source may take the lane over.
    ended: bool,
    /// Packets and bytes since the lane was bound.
    packets: u64,
    bytes: u64,
    /// Datagrams of a format without sequence numbers in the current stream (the pattern of the
    /// n-th is that of sequence `start + n`).
    arrivals: u64,
    /// The lane's trackers' sequence counts when it was bound to its source.
    base: Counts,
}

impl Lane {
    fn new(src: Option<SocketAddr>) -> Lane {
        Lane {
            src,
            ended: false,
            packets: 0,
            bytes: 0,
            arrivals: 0,
            base: Counts::default(),
        }
    }
}

/// How a datagram's source was placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placed {
    /// In this lane, bound before.
    In(usize),
    /// In this lane, just bound to the source: its trackers' counts are the new base
    /// ([`Lanes::rebase`]).
    Bound(usize),
}

/// The lanes (see the module documentation).
#[derive(Debug, Clone)]
pub(crate) struct Lanes {
    lanes: Vec<Lane>,
    cap: usize,
    last: usize,
}

impl Lanes {
    /// Lanes for up to `senders` sources at a time (1 to [`MAX_SENDERS`]).
    pub fn new(senders: usize) -> Lanes {
        let cap = senders.clamp(1, MAX_SENDERS);
        let mut lanes = Vec::with_capacity(cap);
        if cap == 1 {
            lanes.push(Lane::new(None));
        }
        Lanes {
            lanes,
            cap,
            last: 0,
        }
    }

    /// How many sources may be tracked at a time.
    pub fn senders(&self) -> usize {
        self.cap
    }

    /// The lane of `src`, binding it to a free or ended lane if it has none; `None` when every
    /// lane is taken by a source still streaming.
    #[inline]
    pub fn place(&mut self, src: SocketAddr) -> Option<Placed> {
        if self.cap == 1 {
            return Some(Placed::In(0));
        }
        let src = canonical(src);
        let i = match self.lanes.get(self.last) {
            Some(l) if l.src == Some(src) => self.last,
            _ => match self.lanes.iter().position(|l| l.src == Some(src)) {
                Some(i) => i,
                None => return self.bind(src),
            },
        };
        self.last = i;
        self.lanes[i].ended = false;
        Some(Placed::In(i))
    }

    /// Binds `src` to a new lane or, when all are made, to an ended one.
    fn bind(&mut self, src: SocketAddr) -> Option<Placed> {
        let i = if self.lanes.len() < self.cap {
            self.lanes.push(Lane::new(Some(src)));
            self.lanes.len() - 1
        } else {
            let i = self.lanes.iter().position(|l| l.ended)?;
            self.lanes[i] = Lane::new(Some(src));
            i
        };
        self.last = i;
        Some(Placed::Bound(i))
    }

    /// Sets lane `i`'s base (its trackers' counts when its source was bound).
    pub fn rebase(&mut self, i: usize, seq: Counts) {
        if let Some(l) = self.lanes.get_mut(i) {
            l.base = seq;
        }
    }

    /// The lane of `src`, if it has one (the one lane of a one-sender checker whatever `src`).
    pub fn find(&self, src: SocketAddr) -> Option<usize> {
        if self.cap == 1 {
            return Some(0);
        }
        let src = canonical(src);
        self.lanes.iter().position(|l| l.src == Some(src))
    }

    /// Marks `src`'s lane ended and returns it.
    pub fn end(&mut self, src: SocketAddr) -> Option<usize> {
        let i = self.find(src)?;
        let l = &mut self.lanes[i];
        l.ended = true;
        l.arrivals = 0;
        Some(i)
    }

    /// Starts every lane's count of unsequenced arrivals again.
    pub fn restart_arrivals(&mut self) {
        for l in &mut self.lanes {
            l.arrivals = 0;
        }
    }

    /// One packet of `len` bytes in lane `i`.
    #[inline]
    pub fn arrived(&mut self, i: usize, len: usize) {
        if let Some(l) = self.lanes.get_mut(i) {
            l.packets += 1;
            l.bytes += len as u64;
        }
    }

    /// The next unsequenced arrival's number in lane `i` (0 for the stream's first).
    #[inline]
    pub fn next_arrival(&mut self, i: usize) -> u64 {
        match self.lanes.get_mut(i) {
            Some(l) => {
                l.arrivals += 1;
                l.arrivals - 1
            }
            None => 0,
        }
    }

    /// Lane `i`'s counts since it was bound, given its trackers' sequence counts now.
    pub fn counts(&self, i: usize, seq: Counts) -> Counts {
        let Some(l) = self.lanes.get(i) else {
            return Counts::default();
        };
        let s = seq.since(l.base);
        Counts {
            packets: l.packets,
            bytes: l.bytes,
            ..s
        }
    }
}

/// One spelling per endpoint: IPv4-mapped IPv6 as IPv4, and no flow label or scope to differ on.
pub(crate) fn canonical(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(a.ip().to_canonical(), a.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn one_lane_ignores_the_source() {
        let mut l = Lanes::new(1);
        assert_eq!(l.place(addr(1)), Some(Placed::In(0)));
        assert_eq!(l.place(addr(2)), Some(Placed::In(0)));
        assert_eq!((l.find(addr(3)), l.senders()), (Some(0), 1));
        assert_eq!(Lanes::new(0).senders(), 1);
    }

    #[test]
    fn sources_bind_up_to_the_bound_and_ended_lanes_are_taken_over() {
        let mut l = Lanes::new(2);
        assert_eq!(l.place(addr(1)), Some(Placed::Bound(0)));
        assert_eq!(l.place(addr(2)), Some(Placed::Bound(1)));
        assert_eq!(l.place(addr(1)), Some(Placed::In(0)));
        // The mapped spelling of the same endpoint is the same source.
        assert_eq!(
            l.place("[::ffff:127.0.0.1]:2".parse().unwrap()),
            Some(Placed::In(1))
        );
        assert_eq!(l.place(addr(3)), None, "both lanes streaming");
        l.arrived(0, 100);
        assert_eq!(l.end(addr(1)), Some(0));
        // The ended source coming back carries on; a new one takes the lane over from zero.
        assert_eq!(l.place(addr(1)), Some(Placed::In(0)));
        assert_eq!(l.counts(0, Counts::default()).packets, 1);
        l.end(addr(1));
        assert_eq!(l.place(addr(3)), Some(Placed::Bound(0)));
        l.rebase(
            0,
            Counts {
                lost: 5,
                ..Counts::default()
            },
        );
        let now = Counts {
            lost: 7,
            ..Counts::default()
        };
        assert_eq!((l.counts(0, now).packets, l.counts(0, now).lost), (0, 2));
        assert_eq!((l.find(addr(1)), l.find(addr(3))), (None, Some(0)));
    }
}
