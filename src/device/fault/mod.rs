//! Seeded, counted fault injection, in the style of smoltcp's `FaultInjector`: middleware that
//! wraps what it disturbs.
//!
//! - [`DataFaults`] wraps a [`DatagramSink`](crate::recv::DatagramSink) (the device model, or a
//!   bare [`StreamChecker`]) on the *data* path, between the socket and everything that looks at
//!   the packets: it drops, duplicates and reorders ringshot data packets and restarts the device
//!   it wraps every `restart_after` packets.
//! - [`AckFaults`] wraps an [`AckLink`](super::AckLink) on the *ACK* path, between the device
//!   model and the socket: it drops, duplicates, reorders, delays and corrupts ACK datagrams.
//!
//! Both draw from [`SplitMix64`] streams derived from one seed, a separate stream per path, so the
//! data faults depend only on the order of the data packets and not on when ACKs happen to be
//! sent. Each packet (each ACK) gets at most one of drop / duplicate / reorder (/ corrupt),
//! chosen with one draw; the delay applies to every ACK. Every fault is counted in
//! [`FaultCounts`], and the counts are defined so that the receiver's report can be checked
//! against them exactly (see `docs/device.md`): a reordered packet is counted when it is
//! delivered after at least one later packet, a held packet that nothing overtook is delivered
//! in order and not counted.

mod ack;
mod config;
mod data;

use std::time::Duration;

#[cfg(feature = "serde")]
use serde::Serialize;

use crate::recv::StreamChecker;

pub use crate::fault::SplitMix64;
pub use ack::{AckFaults, Corruption};
pub use config::{FaultConfig, FaultConfigBuilder, FaultConfigError};
pub use data::DataFaults;

/// Largest `--reorder-depth`: well inside the receiver's default reorder window (4096), so a
/// reordered packet is always classified as reordered, never as late.
pub const MAX_REORDER_DEPTH: usize = 1024;
/// Longest `--delay-acks-us`.
pub const MAX_ACK_DELAY: Duration = Duration::from_secs(10);
/// A packet held back for reordering is delivered after this long even if fewer than `depth`
/// packets followed it (so the end of a stream is not held until the receiver stops).
pub const REORDER_MAX_HOLD: Duration = Duration::from_millis(2);

/// Every fault injected, by kind: the `injected` object of `ringshot recv --device --json`.
///
/// ```
/// use ringshot::device::FaultCounts;
///
/// let data = FaultCounts { drop_data: 3, restarts: 1, ..FaultCounts::default() };
/// let acks = FaultCounts { drop_acks: 2, ..FaultCounts::default() };
/// let all = data.merged(acks);
/// assert_eq!((all.drop_data, all.drop_acks, all.restarts), (3, 2, 1));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct FaultCounts {
    /// Data packets dropped before the device (and the checker) saw them.
    pub drop_data: u64,
    /// Data packets delivered twice.
    pub dup_data: u64,
    /// Data packets delivered after at least one packet that was sent after them.
    pub reorder_data: u64,
    /// ACKs dropped.
    pub drop_acks: u64,
    /// ACKs sent twice.
    pub dup_acks: u64,
    /// ACKs sent after the ACK that followed them.
    pub reorder_acks: u64,
    /// ACK datagrams (duplicates included) sent late by the configured delay.
    pub delay_acks: u64,
    /// ACKs replaced by a damaged copy the sender can tell is damaged.
    pub corrupt_acks: u64,
    /// Device restarts.
    pub restarts: u64,
}

impl FaultCounts {
    /// Field-wise sum (the data path's counts plus the ACK path's).
    pub fn merged(self, o: FaultCounts) -> FaultCounts {
        FaultCounts {
            drop_data: self.drop_data + o.drop_data,
            dup_data: self.dup_data + o.dup_data,
            reorder_data: self.reorder_data + o.reorder_data,
            drop_acks: self.drop_acks + o.drop_acks,
            dup_acks: self.dup_acks + o.dup_acks,
            reorder_acks: self.reorder_acks + o.reorder_acks,
            delay_acks: self.delay_acks + o.delay_acks,
            corrupt_acks: self.corrupt_acks + o.corrupt_acks,
            restarts: self.restarts + o.restarts,
        }
    }
}

/// Something that can lose its state as a device reboot does. The [`DataFaults`] calls it every
/// `restart_after` data packets.
///
/// ```
/// use ringshot::device::Restart;
/// use ringshot::recv::{DatagramSink, RxMeta, StreamChecker};
/// use ringshot::wire::header::pattern_packet;
///
/// // A bare checker "restarts" by forgetting its windows: sequence 0 again is no duplicate.
/// let mut c = StreamChecker::new(64, true);
/// let meta = RxMeta { src: "10.0.0.1:4000".parse().unwrap(), at_ns: 0 };
/// c.datagram(&pattern_packet(0, 0, 64), &meta);
/// Restart::restart(&mut c, 0);
/// c.datagram(&pattern_packet(0, 0, 64), &meta);
/// assert_eq!(c.totals().2, 0);
/// ```
pub trait Restart {
    fn restart(&mut self, now_ns: u64);
}

/// A bare checker "restarts" by forgetting its reorder windows ([`StreamChecker::restart`]).
impl Restart for StreamChecker {
    fn restart(&mut self, _now_ns: u64) {
        StreamChecker::restart(self);
    }
}

impl<S: Restart + ?Sized> Restart for Box<S> {
    fn restart(&mut self, now_ns: u64) {
        (**self).restart(now_ns)
    }
}

/// What one draw picks. Both fault layers share the rule: cumulative probabilities, one uniform
/// draw per datagram (none at all when every probability is 0), so a seed replays exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pick {
    Drop,
    Dup,
    Reorder,
    Corrupt,
    Pass,
}

/// Cumulative thresholds: u < drop → drop; < dup → duplicate; < reorder → hold; < corrupt →
/// damage.
#[derive(Debug, Clone, Copy)]
struct Odds {
    drop: f64,
    dup: f64,
    reorder: f64,
    corrupt: f64,
}

impl Odds {
    fn new(drop: f64, dup: f64, reorder: f64, corrupt: f64) -> Odds {
        let dup = drop + dup;
        let reorder = dup + reorder;
        Odds {
            drop,
            dup,
            reorder,
            corrupt: reorder + corrupt,
        }
    }

    fn pick(&self, rng: &mut SplitMix64) -> Pick {
        if self.corrupt <= 0.0 {
            return Pick::Pass;
        }
        let u = rng.unit();
        if u < self.drop {
            Pick::Drop
        } else if u < self.dup {
            Pick::Dup
        } else if u < self.reorder {
            Pick::Reorder
        } else if u < self.corrupt {
            Pick::Corrupt
        } else {
            Pick::Pass
        }
    }
}
