//! Sender configuration: a builder whose `build()` validates everything up front, so a bad value is
//! a clear [`ConfigError`] before any thread, socket or buffer exists.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use crate::flow::AckFormat;
use crate::framing::Framing;
use crate::pacing::{Rate, Spacing};

mod builder;
mod error;
mod groups;
#[cfg(test)]
mod tests;

pub use crate::sys::{BackendChoice, TxFaults, XdpMode, MAX_BATCH};
pub use builder::SenderConfigBuilder;
pub use error::{ConfigError, FieldError};
pub(crate) use groups::{
    FlowOptions, PacingOptions, SocketOptions, StreamOptions, ThreadOptions, UringOptions,
};

/// Largest UDP payload over IPv4 (65,535 − 20 − 8).
pub const MAX_UDP_PAYLOAD: usize = 65_507;
/// Default batch: packets taken from the ready queue per submit (with GSO, see
/// [`default_batch`]).
pub const DEFAULT_BATCH: usize = 64;
/// Default batch of the `xdp` backend: in copy mode one wake-up sends up to this many frames
/// (the budget the backend asks the kernel for), so a batch this size goes out in one system
/// call and the engine's per-batch work is spread over four times the packets of
/// [`DEFAULT_BATCH`]. Used where the slab and the packet window hold it (see
/// [`SenderConfigBuilder::build`]).
///
/// ```
/// # #[cfg(target_os = "linux")] {
/// use ringshot::{BackendChoice, SenderConfig};
///
/// let cfg = SenderConfig::builder("10.0.0.2:9".parse().unwrap())
///     .backend(BackendChoice::Xdp)
///     .build()
///     .unwrap();
/// assert_eq!(cfg.batch(), ringshot::config::XDP_DEFAULT_BATCH);
/// # }
/// ```
pub const XDP_DEFAULT_BATCH: usize = 256;
/// Default slab size in slots.
pub const DEFAULT_SLOTS: u32 = 4096;
/// Default size at or above which io_uring uses SEND_ZC (per datagram).
pub const DEFAULT_ZC_THRESHOLD: usize = 4096;
/// Largest slab accepted: io_uring's completion queue must hold two CQEs per slot.
pub const MAX_SLOTS: u32 = 32_768;
/// Default catch-up burst of a paced stream, packets.
pub const DEFAULT_BURST: u64 = 16;
/// Default time the window may stay closed before the stream ends as stalled.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(2);
/// Slowest paced rate accepted, packets per second (at the configured payload).
pub const MIN_RATE_PPS: f64 = 1.0;
/// Fastest paced rate accepted, packets per second (at the configured payload): far above any
/// NIC, and low enough that the schedule's arithmetic stays exact.
pub const MAX_RATE_PPS: f64 = 1e9;
/// Longest duration accepted anywhere in the configuration (stream length, timeouts): one year.
/// Longer values would overflow deadline arithmetic and mean nothing in practice.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);
/// Largest first sequence number of a stream bounded by time rather than a count: the stream
/// then has 2^62 sequence numbers left, more than any run can use, so sequences never wrap.
pub const MAX_TIMED_START_SEQ: u64 = u64::MAX - (1 << 62);

/// Whether packets must leave in sequence order even around a send that fails.
///
/// A datagram's send can fail after the ones before it left: the socket buffer is full, or the
/// kernel reports an ICMP error on that send. Every backend re-sends such a packet; the order
/// says whether later packets of its batch may leave first.
///
/// ```
/// use ringshot::{SendOrder, SenderConfig};
///
/// let order: SendOrder = "relaxed".parse().unwrap();
/// let cfg = SenderConfig::builder("127.0.0.1:9000".parse().unwrap())
///     .send_order(order)
///     .build()
///     .unwrap();
/// assert_eq!(cfg.send_order().name(), "relaxed");
/// assert_eq!(SendOrder::default(), SendOrder::Strict);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SendOrder {
    /// Every packet leaves after the one before it, re-sends included. io_uring links the SQEs
    /// of a batch for this (the kernel then issues each one after the previous has completed);
    /// sendmmsg and single sends stop at the failed datagram by nature.
    #[default]
    Strict,
    /// io_uring only: a batch's SQEs go unlinked, and a datagram whose send fails is re-sent
    /// after the later datagrams of its batch that did leave. Every packet still leaves exactly
    /// once or counts as failed; `reordered_packets` counts those that left after a later one.
    /// This saves the kernel's hop from one linked SQE to the next: about 5 % of the CPU per
    /// datagram without GSO. The other backends never reorder and ignore it. Refused with
    /// framings whose sequence numbers a device checks (USRP2, VRT, CHDR).
    Relaxed,
}

impl SendOrder {
    pub fn name(self) -> &'static str {
        match self {
            SendOrder::Strict => "strict",
            SendOrder::Relaxed => "relaxed",
        }
    }
}

impl FromStr for SendOrder {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "strict" => Ok(SendOrder::Strict),
            "relaxed" => Ok(SendOrder::Relaxed),
            _ => Err(format!("unknown order '{s}' (expected strict or relaxed)")),
        }
    }
}

impl fmt::Display for SendOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the engine does when the destination refuses sends (ECONNREFUSED: an ICMP port
/// unreachable came back for an earlier datagram, so nothing listens there).
///
/// ```
/// use ringshot::{OnRefused, SenderConfig};
///
/// let cfg = SenderConfig::builder("127.0.0.1:9000".parse().unwrap()).build().unwrap();
/// assert_eq!(cfg.on_refused(), OnRefused::Count); // the default: count and go on
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OnRefused {
    /// Send the refused packet again and go on, counting each refusal in the report's
    /// `errors` (the default; over UDP a receiver may start late). The first refusal is
    /// logged with `log::warn!`.
    #[default]
    Count,
    /// End the stream at the first refusal with [`EngineError::Send`](crate::EngineError)
    /// (ECONNREFUSED), the report attached: for apps that must not stream into nothing.
    Fail,
}

/// What the engine does while it has nothing to send.
///
/// ```
/// use ringshot::config::IdlePolicy;
/// use ringshot::SenderConfig;
///
/// // A latency-critical stream that keeps its pinned core hot between commits.
/// let cfg = SenderConfig::builder("127.0.0.1:9000".parse().unwrap())
///     .idle(IdlePolicy::Spin)
///     .window_wait(IdlePolicy::Adaptive)
///     .build();
/// assert!(cfg.is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdlePolicy {
    /// Busy-poll: lowest latency, burns the pinned core.
    Spin,
    /// Spin briefly, then yield, then park (woken by the app's commit).
    #[default]
    Adaptive,
}

/// A validated sender configuration. Build it with [`SenderConfig::builder`].
///
/// ```
/// use ringshot::{BackendChoice, SenderConfig, HEADER_LEN};
///
/// let dest = "127.0.0.1:9000".parse().unwrap();
/// let cfg = SenderConfig::builder(dest).payload(1200).stream_id(7).build()?;
/// assert_eq!((cfg.dest(), cfg.payload(), cfg.stream_id()), (dest, 1200, 7));
/// assert_eq!(cfg.max_app_payload(), 1200 - HEADER_LEN); // the ringshot header takes 16 bytes
/// assert_eq!(cfg.backend(), BackendChoice::Auto);
/// assert_eq!((cfg.rate(), cfg.ack(), cfg.start_seq()), (None, None, 0));
/// assert!(!cfg.flow_controlled());
/// assert_eq!(cfg.ack_source(), dest); // ACKs, if any, are accepted from the destination
/// # Ok::<(), ringshot::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct SenderConfig {
    // Each option lives in exactly one group, as the builder set and `build` validated it.
    pub(crate) stream: StreamOptions,
    pub(crate) socket: SocketOptions,
    pub(crate) uring: UringOptions,
    pub(crate) pacing: PacingOptions,
    pub(crate) flow: FlowOptions,
    pub(crate) thread: ThreadOptions,
    pub(crate) faults: TxFaults,
    // Derived once, at build.
    /// Packets per submit: as set, or the [`default_batch`] chosen for a stream that set none.
    pub(crate) batch: usize,
    /// Largest application payload per packet: the payload less the framing's header room.
    pub(crate) app_room: usize,
}

impl SenderConfig {
    /// Starts a builder for a stream to `dest` with the defaults: auto backend, GSO when the
    /// kernel has it, 1472-byte payloads, batches of 64 (88 with GSO at 1472 B: see
    /// [`default_batch`]), 4096 slots.
    ///
    /// ```
    /// use ringshot::{Rate, SenderConfig};
    ///
    /// let cfg = SenderConfig::builder("127.0.0.1:9000".parse().unwrap())
    ///     .gso(false)
    ///     .rate(Rate::Pps(10_000.0))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!((cfg.gso(), cfg.batch(), cfg.slots()), (false, 64, 4096));
    /// assert_eq!(cfg.rate(), Some(Rate::Pps(10_000.0)));
    /// ```
    pub fn builder(dest: SocketAddr) -> SenderConfigBuilder {
        SenderConfigBuilder {
            stream: StreamOptions::default(),
            socket: SocketOptions::new(dest),
            uring: UringOptions::default(),
            pacing: PacingOptions::default(),
            flow: FlowOptions::default(),
            thread: ThreadOptions::default(),
            faults: TxFaults::default(),
        }
    }

    pub fn dest(&self) -> SocketAddr {
        self.socket.dest
    }
    pub fn backend(&self) -> BackendChoice {
        self.socket.backend
    }
    pub fn gso(&self) -> bool {
        self.socket.gso
    }
    /// Largest UDP payload a packet may have (header included).
    pub fn payload(&self) -> usize {
        self.stream.payload
    }
    pub fn batch(&self) -> usize {
        self.batch
    }
    pub fn slots(&self) -> u32 {
        self.stream.slots
    }
    pub fn tx_core(&self) -> Option<usize> {
        self.thread.tx_core
    }
    pub fn window_packets(&self) -> Option<u64> {
        self.flow.window_packets
    }
    pub fn zc_threshold(&self) -> Option<usize> {
        self.socket.zc_threshold
    }
    pub fn send_order(&self) -> SendOrder {
        self.uring.send_order
    }
    pub fn stream_id(&self) -> u32 {
        self.stream.stream_id
    }
    pub fn on_refused(&self) -> OnRefused {
        self.socket.on_refused
    }
    pub fn spacing(&self) -> Spacing {
        self.pacing.spacing
    }
    pub fn rate(&self) -> Option<Rate> {
        self.pacing.rate
    }
    pub fn ack(&self) -> Option<AckFormat> {
        self.flow.ack
    }
    pub fn window_bytes(&self) -> Option<u64> {
        self.flow.window_bytes
    }
    pub fn start_seq(&self) -> u64 {
        self.stream.start_seq
    }
    /// How each packet's header is written (default: the ringshot header).
    pub fn framing(&self) -> Framing {
        self.stream.framing
    }
    /// Largest application payload per packet: the payload less the framing's header room.
    pub fn max_app_payload(&self) -> usize {
        self.app_room
    }
    /// The only address ACKs are accepted from, when set explicitly; `None` means the
    /// destination ([`dest`](Self::dest)) itself.
    pub fn ack_from(&self) -> Option<SocketAddr> {
        self.flow.ack_from
    }
    /// The exact address (IP and port) ACKs are accepted from: [`ack_from`](Self::ack_from) when
    /// set, else the destination.
    pub fn ack_source(&self) -> SocketAddr {
        self.flow.ack_from.unwrap_or(self.socket.dest)
    }
    /// Whether the engine keeps a flow-control window.
    pub fn flow_controlled(&self) -> bool {
        self.flow.ack.is_some()
    }
}

/// The batch of a stream that sets none: [`DEFAULT_BATCH`] packets; with GSO, the smallest whole
/// number of full super-packets holding at least that many (88 = 2 × 44 at 1472 B, 86 at
/// 1500 B), so that no batch ends in a short super-packet (64 at 1472 B goes as 44 + 20, which
/// measured about 6 % more CPU per packet). The aligned batch is used only where the slab and
/// the packet window hold it; otherwise the plain default stands.
///
/// ```
/// use ringshot::config::default_batch;
///
/// assert_eq!(default_batch(1472, false, 4096, None), 64);
/// // With GSO a batch is whole super-packets; a window too small for that keeps the plain 64.
/// let gso = default_batch(1472, true, 4096, None);
/// assert!(gso >= 64);
/// assert_eq!(default_batch(1472, true, 4096, Some(64)), 64);
/// ```
pub fn default_batch(payload: usize, gso: bool, slots: u32, window_packets: Option<u64>) -> usize {
    if !gso {
        return DEFAULT_BATCH;
    }
    let per_send = crate::sys::gso_segments_max(payload);
    let aligned = DEFAULT_BATCH.div_ceil(per_send) * per_send;
    let fits = aligned <= MAX_BATCH
        && aligned <= slots as usize
        && window_packets.is_none_or(|w| aligned as u64 <= w);
    if fits {
        aligned
    } else {
        DEFAULT_BATCH
    }
}

/// Checks a stream's sequence numbers against wrapping: a stream of `count` packets from
/// `start_seq` must end at or below `u64::MAX`; a stream bounded by time (`count` `None`) must
/// start at or below [`MAX_TIMED_START_SEQ`].
///
/// ```
/// use ringshot::config::check_stream_length;
///
/// assert!(check_stream_length(0, Some(1_000_000)).is_ok());
/// assert!(check_stream_length(u64::MAX - 10, Some(100)).is_err()); // would wrap
/// assert!(check_stream_length(u64::MAX - 10, None).is_err()); // a timed stream needs headroom
/// ```
pub fn check_stream_length(start_seq: u64, count: Option<u64>) -> Result<(), ConfigError> {
    let fits = match count {
        Some(n) => start_seq.checked_add(n).is_some(),
        None => start_seq <= MAX_TIMED_START_SEQ,
    };
    if fits {
        Ok(())
    } else {
        Err(ConfigError::SequenceOverflow { start_seq, count })
    }
}
