//! Seeded, counted fault injection, in the style of smoltcp's `FaultInjector`: middleware that
//! wraps what it disturbs.
//!
//! - [`FaultInjector`] wraps a [`DatagramSink`] (the device model, or a bare
//!   [`StreamChecker`]) on the *data* path, between the socket and
//!   everything that looks at the packets: it drops, duplicates and reorders ringshot data packets
//!   and restarts the device it wraps every `restart_after` packets.
//! - [`AckFaults`] wraps an [`AckLink`] on the *ACK* path, between the device model and the
//!   socket: it drops, duplicates, reorders, delays and corrupts ACK datagrams.
//!
//! Both draw from [`SplitMix64`] streams derived from one seed, a separate stream per path, so the
//! data faults depend only on the order of the data packets and not on when ACKs happen to be
//! sent. Each packet (each ACK) gets at most one of drop / duplicate / reorder (/ corrupt),
//! chosen with one draw; the delay applies to every ACK. Every fault is counted in
//! [`FaultCounts`], and the counts are defined so that the receiver's report can be checked
//! against them exactly (see `docs/device.md`): a reordered packet is counted when it is
//! delivered after at least one later packet, a held packet that nothing overtook is delivered
//! in order and not counted.

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

use super::link::{AckLink, MAX_ACK_LEN};
use crate::recv::{DatagramSink, RxMeta, StreamChecker};
use crate::wire::header;

/// Largest `--reorder-depth`: well inside the receiver's default reorder window (4096), so a
/// reordered packet is always classified as reordered, never as late.
pub const MAX_REORDER_DEPTH: usize = 1024;
/// Longest `--delay-acks-us`.
pub const MAX_ACK_DELAY: Duration = Duration::from_secs(10);
/// A packet held back for reordering is delivered after this long even if fewer than `depth`
/// packets followed it (so the end of a stream is not held until the receiver stops).
pub const REORDER_MAX_HOLD: Duration = Duration::from_millis(2);

/// The tiny, well-known SplitMix64 generator (Steele, Lea & Flood 2014; the seeding generator of
/// the xoshiro family). Written out here rather than taken from a crate so that a seed gives the
/// same faults forever, whatever crate versions a build resolves.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub const fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`, 53 bits.
    #[inline]
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `0..n` (`n > 0`; multiply-shift, bias below 2^-32 for the small `n` used here).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// Every fault injected, by kind: the `injected` object of `ringshot recv --device --json`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
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

/// A validated fault configuration. Build it with [`FaultConfig::builder`]; the default injects
/// nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultConfig {
    pub(crate) seed: u64,
    pub(crate) drop_data: f64,
    pub(crate) dup_data: f64,
    pub(crate) reorder_data: f64,
    pub(crate) reorder_depth: usize,
    pub(crate) drop_acks: f64,
    pub(crate) dup_acks: f64,
    pub(crate) reorder_acks: f64,
    pub(crate) corrupt_acks: f64,
    pub(crate) delay_acks: Duration,
    pub(crate) restart_after: Option<u64>,
}

impl Default for FaultConfig {
    fn default() -> FaultConfig {
        FaultConfig {
            seed: 0,
            drop_data: 0.0,
            dup_data: 0.0,
            reorder_data: 0.0,
            reorder_depth: 8,
            drop_acks: 0.0,
            dup_acks: 0.0,
            reorder_acks: 0.0,
            corrupt_acks: 0.0,
            delay_acks: Duration::ZERO,
            restart_after: None,
        }
    }
}

impl FaultConfig {
    /// No faults (seed 0, reorder depth 8).
    pub fn none() -> FaultConfig {
        FaultConfig::default()
    }

    pub fn builder() -> FaultConfigBuilder {
        FaultConfigBuilder {
            cfg: FaultConfig::default(),
        }
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }
    pub fn reorder_depth(&self) -> usize {
        self.reorder_depth
    }
    pub fn restart_after(&self) -> Option<u64> {
        self.restart_after
    }

    /// Whether any data-path fault (restart included) is configured.
    pub fn data_faults(&self) -> bool {
        self.drop_data + self.dup_data + self.reorder_data > 0.0 || self.restart_after.is_some()
    }

    /// Whether any ACK-path fault is configured.
    pub fn ack_faults(&self) -> bool {
        self.drop_acks + self.dup_acks + self.reorder_acks + self.corrupt_acks > 0.0
            || !self.delay_acks.is_zero()
    }

    /// The independent generators of the two paths, derived from the seed.
    fn streams(&self) -> (SplitMix64, SplitMix64) {
        let mut root = SplitMix64::new(self.seed);
        (
            SplitMix64::new(root.next_u64()),
            SplitMix64::new(root.next_u64()),
        )
    }
}

/// Builder for [`FaultConfig`]; [`build`](Self::build) validates.
#[derive(Debug, Clone)]
pub struct FaultConfigBuilder {
    cfg: FaultConfig,
}

impl FaultConfigBuilder {
    pub fn seed(mut self, seed: u64) -> Self {
        self.cfg.seed = seed;
        self
    }
    /// Probability that a data packet is dropped.
    pub fn drop_data(mut self, p: f64) -> Self {
        self.cfg.drop_data = p;
        self
    }
    /// Probability that a data packet is delivered twice.
    pub fn dup_data(mut self, p: f64) -> Self {
        self.cfg.dup_data = p;
        self
    }
    /// Probability that a data packet is held back and delivered after
    /// [`reorder_depth`](Self::reorder_depth) later packets.
    pub fn reorder_data(mut self, p: f64) -> Self {
        self.cfg.reorder_data = p;
        self
    }
    /// How many later packets overtake a reordered one (1..=[`MAX_REORDER_DEPTH`]); at most this
    /// many packets are held at once.
    pub fn reorder_depth(mut self, n: usize) -> Self {
        self.cfg.reorder_depth = n;
        self
    }
    pub fn drop_acks(mut self, p: f64) -> Self {
        self.cfg.drop_acks = p;
        self
    }
    pub fn dup_acks(mut self, p: f64) -> Self {
        self.cfg.dup_acks = p;
        self
    }
    /// Probability that an ACK is held back and sent after the next one.
    pub fn reorder_acks(mut self, p: f64) -> Self {
        self.cfg.reorder_acks = p;
        self
    }
    /// Probability that an ACK is replaced by a damaged copy.
    pub fn corrupt_acks(mut self, p: f64) -> Self {
        self.cfg.corrupt_acks = p;
        self
    }
    /// Every ACK leaves this much later.
    pub fn delay_acks(mut self, d: Duration) -> Self {
        self.cfg.delay_acks = d;
        self
    }
    /// The device restarts after every `n` data packets it receives.
    pub fn restart_after(mut self, n: u64) -> Self {
        self.cfg.restart_after = Some(n);
        self
    }

    pub fn build(self) -> Result<FaultConfig, FaultConfigError> {
        let c = self.cfg;
        let err = |field, reason: String| Err(FaultConfigError { field, reason });
        for (field, p) in [
            ("drop-data", c.drop_data),
            ("dup-data", c.dup_data),
            ("reorder-data", c.reorder_data),
            ("drop-acks", c.drop_acks),
            ("dup-acks", c.dup_acks),
            ("reorder-acks", c.reorder_acks),
            ("corrupt-acks", c.corrupt_acks),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return err(field, format!("{p} is not a probability between 0 and 1"));
            }
        }
        if c.drop_data + c.dup_data + c.reorder_data > 1.0 {
            return err(
                "drop-data",
                "drop-data + dup-data + reorder-data exceed 1 (each packet gets at most one fault)"
                    .into(),
            );
        }
        if c.drop_acks + c.dup_acks + c.reorder_acks + c.corrupt_acks > 1.0 {
            return err(
                "drop-acks",
                "drop-acks + dup-acks + reorder-acks + corrupt-acks exceed 1 (each ACK gets at \
                 most one fault)"
                    .into(),
            );
        }
        if c.reorder_depth == 0 || c.reorder_depth > MAX_REORDER_DEPTH {
            return err(
                "reorder-depth",
                format!("must be between 1 and {MAX_REORDER_DEPTH} packets"),
            );
        }
        if c.delay_acks > MAX_ACK_DELAY {
            return err(
                "delay-acks-us",
                format!("must be at most {} µs", MAX_ACK_DELAY.as_micros()),
            );
        }
        if c.restart_after == Some(0) {
            return err("restart-after", "must be at least 1 packet".into());
        }
        Ok(c)
    }
}

/// A fault configuration that cannot work. `field` is the CLI flag's name without dashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultConfigError {
    pub field: &'static str,
    pub reason: String,
}

impl fmt::Display for FaultConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "--{}: {}", self.field, self.reason)
    }
}

impl std::error::Error for FaultConfigError {}

/// Something that can lose its state as a device reboot does. The [`FaultInjector`] calls it every
/// `restart_after` data packets.
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

/// A data packet held back for reordering.
#[derive(Debug)]
struct Held {
    buf: Vec<u8>,
    meta: RxMeta,
    /// `fresh` when it was held: it was overtaken if `fresh` grew since.
    fresh_at_hold: u64,
    held_at_ns: u64,
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

/// Data-path fault middleware over a sink `S`. Only datagrams that parse as ringshot data packets
/// are disturbed (and counted); anything else passes through untouched.
///
/// Per packet it costs one header parse and one generator draw; held packets are copied into
/// buffers that are reused, so after the first few holds nothing allocates.
#[derive(Debug)]
pub struct FaultInjector<S> {
    inner: S,
    rng: SplitMix64,
    odds: Odds,
    depth: u64,
    held: VecDeque<Held>,
    spare: Vec<Vec<u8>>,
    /// Data packets delivered straight through (duplicate copies included), never held ones.
    fresh: u64,
    restart_after: Option<u64>,
    since_restart: u64,
    counts: FaultCounts,
}

impl<S: DatagramSink + Restart> FaultInjector<S> {
    /// Wraps `inner`; only the data-path part of `cfg` is used here (ACK faults live in
    /// [`AckFaults`]).
    pub fn new(inner: S, cfg: &FaultConfig) -> FaultInjector<S> {
        let (rng, _) = cfg.streams();
        FaultInjector {
            inner,
            rng,
            odds: Odds::new(cfg.drop_data, cfg.dup_data, cfg.reorder_data, 0.0),
            depth: cfg.reorder_depth as u64,
            held: VecDeque::with_capacity(cfg.reorder_depth),
            spare: Vec::new(),
            fresh: 0,
            restart_after: cfg.restart_after,
            since_restart: 0,
            counts: FaultCounts::default(),
        }
    }

    /// What was injected on the data path so far (drop, dup, reorder, restarts).
    pub fn counts(&self) -> FaultCounts {
        self.counts
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    pub fn inner_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Hands one data packet to the inner sink and runs the restart schedule.
    fn deliver(&mut self, payload: &[u8], meta: &RxMeta) {
        self.inner.datagram(payload, meta);
        if let Some(n) = self.restart_after {
            self.since_restart += 1;
            if self.since_restart >= n {
                self.since_restart = 0;
                self.counts.restarts += 1;
                self.inner.restart(meta.at_ns);
            }
        }
    }

    /// Delivers the oldest held packet; counts it as reordered if something overtook it.
    fn release_one(&mut self) {
        if let Some(h) = self.held.pop_front() {
            if self.fresh > h.fresh_at_hold {
                self.counts.reorder_data += 1;
            }
            self.deliver(&h.buf, &h.meta);
            self.spare.push(h.buf);
        }
    }

    fn release_due_by_count(&mut self) {
        while self
            .held
            .front()
            .is_some_and(|h| self.fresh >= h.fresh_at_hold + self.depth)
        {
            self.release_one();
        }
    }

    fn release_due_by_time(&mut self, now_ns: u64) {
        let limit = REORDER_MAX_HOLD.as_nanos() as u64;
        while self
            .held
            .front()
            .is_some_and(|h| now_ns.saturating_sub(h.held_at_ns) >= limit)
        {
            self.release_one();
        }
    }

    fn hold(&mut self, payload: &[u8], meta: &RxMeta) {
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(payload);
        self.held.push_back(Held {
            buf,
            meta: *meta,
            fresh_at_hold: self.fresh,
            held_at_ns: meta.at_ns,
        });
    }
}

impl<S: DatagramSink + Restart> DatagramSink for FaultInjector<S> {
    fn datagram(&mut self, payload: &[u8], meta: &RxMeta) {
        let is_data = header::Repr::parse(&header::Packet::new_unchecked(payload)).is_ok();
        if !is_data {
            self.inner.datagram(payload, meta);
            return;
        }
        match self.odds.pick(&mut self.rng) {
            Pick::Drop => {
                self.counts.drop_data += 1;
                return;
            }
            Pick::Dup => {
                self.counts.dup_data += 1;
                self.fresh += 2;
                self.deliver(payload, meta);
                self.deliver(payload, meta);
            }
            Pick::Reorder if (self.held.len() as u64) < self.depth => {
                self.hold(payload, meta);
                return;
            }
            _ => {
                self.fresh += 1;
                self.deliver(payload, meta);
            }
        }
        self.release_due_by_count();
    }

    fn tick(&mut self, now_ns: u64) -> Option<Duration> {
        self.release_due_by_time(now_ns);
        let inner = self.inner.tick(now_ns);
        let own = self.held.front().map(|h| {
            let due = h.held_at_ns + REORDER_MAX_HOLD.as_nanos() as u64;
            Duration::from_nanos(due.saturating_sub(now_ns))
        });
        match (inner, own) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn finish(&mut self, now_ns: u64) {
        while !self.held.is_empty() {
            self.release_one();
        }
        self.inner.finish(now_ns);
    }

    fn checker(&self) -> Option<&StreamChecker> {
        self.inner.checker()
    }
}

impl<S: Restart> Restart for FaultInjector<S> {
    fn restart(&mut self, now_ns: u64) {
        self.inner.restart(now_ns);
    }
}

/// How [`AckFaults`] damages an ACK so that the sender can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corruption {
    /// Flip one random bit (formats with a checksum: the native ACK's CRC-32C catches every
    /// single-bit error).
    FlipBit,
    /// Cut the datagram short at a random length (formats without a checksum, USRP2 VRT and CHDR,
    /// where a flipped bit could forge a believable count: their length fields catch a cut).
    Truncate,
}

/// An ACK datagram waiting in [`AckFaults`].
#[derive(Debug, Clone, Copy)]
struct AckSlot {
    buf: [u8; MAX_ACK_LEN],
    len: usize,
    to: SocketAddr,
    /// When it is due (delay) or was held (reorder), ns.
    at_ns: u64,
}

impl AckSlot {
    fn new(ack: &[u8], to: SocketAddr, at_ns: u64) -> AckSlot {
        let len = ack.len().min(MAX_ACK_LEN);
        let mut buf = [0u8; MAX_ACK_LEN];
        buf[..len].copy_from_slice(&ack[..len]);
        AckSlot {
            buf,
            len,
            to,
            at_ns,
        }
    }
}

/// ACK-path fault middleware over an [`AckLink`] `L` (normally the device's socket).
#[derive(Debug)]
pub struct AckFaults<L> {
    inner: L,
    rng: SplitMix64,
    odds: Odds,
    corruption: Corruption,
    delay_ns: u64,
    /// Longest a reordered ACK waits for the next one before it goes alone (not counted).
    hold_limit_ns: u64,
    held: Option<AckSlot>,
    delayed: VecDeque<AckSlot>,
    counts: FaultCounts,
}

impl<L: AckLink> AckFaults<L> {
    /// Wraps `inner` with the ACK-path part of `cfg`. `hold_limit` bounds how long a reordered ACK
    /// waits for a successor (the device's ACK interval is a good value).
    pub fn new(
        inner: L,
        cfg: &FaultConfig,
        corruption: Corruption,
        hold_limit: Duration,
    ) -> AckFaults<L> {
        let (_, rng) = cfg.streams();
        AckFaults {
            inner,
            rng,
            odds: Odds::new(
                cfg.drop_acks,
                cfg.dup_acks,
                cfg.reorder_acks,
                cfg.corrupt_acks,
            ),
            corruption,
            delay_ns: cfg.delay_acks.as_nanos() as u64,
            hold_limit_ns: hold_limit.as_nanos().max(1) as u64,
            held: None,
            delayed: VecDeque::with_capacity(if cfg.delay_acks.is_zero() { 0 } else { 1024 }),
            counts: FaultCounts::default(),
        }
    }

    pub fn inner(&self) -> &L {
        &self.inner
    }

    /// Sends now, or queues for the delay.
    fn emit(&mut self, slot: AckSlot, now_ns: u64) {
        if self.delay_ns == 0 {
            self.inner.send(&slot.buf[..slot.len], slot.to, now_ns);
        } else {
            self.counts.delay_acks += 1;
            self.delayed.push_back(AckSlot {
                at_ns: now_ns.saturating_add(self.delay_ns),
                ..slot
            });
        }
    }

    fn damage(&mut self, slot: &mut AckSlot) {
        if slot.len == 0 {
            return;
        }
        match self.corruption {
            Corruption::FlipBit => {
                let bit = self.rng.below(slot.len as u64 * 8) as usize;
                slot.buf[bit / 8] ^= 1 << (bit % 8);
            }
            Corruption::Truncate => slot.len = self.rng.below(slot.len as u64) as usize,
        }
    }
}

impl<L: AckLink> AckLink for AckFaults<L> {
    fn send(&mut self, ack: &[u8], to: SocketAddr, now_ns: u64) {
        let mut slot = AckSlot::new(ack, to, now_ns);
        match self.odds.pick(&mut self.rng) {
            Pick::Drop => {
                self.counts.drop_acks += 1;
                return;
            }
            Pick::Dup => {
                self.counts.dup_acks += 1;
                self.emit(slot, now_ns);
                self.emit(slot, now_ns);
            }
            Pick::Reorder if self.held.is_none() => {
                self.held = Some(slot);
                return;
            }
            Pick::Corrupt => {
                self.counts.corrupt_acks += 1;
                self.damage(&mut slot);
                self.emit(slot, now_ns);
            }
            _ => self.emit(slot, now_ns),
        }
        // Whatever was held goes out right behind the ACK that overtook it.
        if let Some(h) = self.held.take() {
            self.counts.reorder_acks += 1;
            self.emit(h, now_ns);
        }
    }

    fn poll(&mut self, now_ns: u64) -> Option<u64> {
        if let Some(h) = self.held {
            if now_ns.saturating_sub(h.at_ns) >= self.hold_limit_ns {
                self.held = None;
                self.emit(h, now_ns);
            }
        }
        while let Some(s) = self.delayed.front().copied() {
            if s.at_ns > now_ns {
                break;
            }
            self.delayed.pop_front();
            self.inner.send(&s.buf[..s.len], s.to, now_ns);
        }
        let held_due = self
            .held
            .map(|h| h.at_ns.saturating_add(self.hold_limit_ns));
        let delayed_due = self.delayed.front().map(|s| s.at_ns);
        let own = match (held_due, delayed_due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match (own, self.inner.poll(now_ns)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn finish(&mut self, now_ns: u64) {
        if let Some(h) = self.held.take() {
            self.emit(h, now_ns);
        }
        while let Some(s) = self.delayed.pop_front() {
            self.inner.send(&s.buf[..s.len], s.to, now_ns);
        }
        self.inner.finish(now_ns);
    }

    fn sent(&self) -> u64 {
        self.inner.sent()
    }

    fn send_errors(&self) -> u64 {
        self.inner.send_errors()
    }

    fn fault_counts(&self) -> FaultCounts {
        self.counts.merged(self.inner.fault_counts())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::AckFormat;
    use crate::wire::header::{Packet, Repr};
    use proptest::prelude::*;

    #[test]
    fn splitmix_matches_the_reference_sequence() {
        // Outputs of the reference splitmix64.c for seed 1234567.
        let mut r = SplitMix64::new(1_234_567);
        let want = [
            6_457_827_717_110_365_317u64,
            3_203_168_211_198_807_973,
            9_817_491_932_198_370_423,
            4_593_380_528_125_082_431,
            16_408_922_859_458_223_821,
        ];
        for w in want {
            assert_eq!(r.next_u64(), w);
        }
        let mut r = SplitMix64::new(9);
        for _ in 0..1000 {
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
            assert!(r.below(7) < 7);
        }
    }

    #[test]
    fn config_validation_names_the_flag() {
        let e = FaultConfig::builder().drop_data(1.5).build().unwrap_err();
        assert_eq!(e.field, "drop-data");
        assert!(e.to_string().starts_with("--drop-data: "), "{e}");
        let e = FaultConfig::builder()
            .dup_acks(0.6)
            .corrupt_acks(0.6)
            .build()
            .unwrap_err();
        assert_eq!(e.field, "drop-acks");
        let e = FaultConfig::builder()
            .dup_data(f64::NAN)
            .build()
            .unwrap_err();
        assert_eq!(e.field, "dup-data");
        let e = FaultConfig::builder().reorder_depth(0).build().unwrap_err();
        assert_eq!(e.field, "reorder-depth");
        let e = FaultConfig::builder()
            .reorder_depth(MAX_REORDER_DEPTH + 1)
            .build()
            .unwrap_err();
        assert_eq!(e.field, "reorder-depth");
        let e = FaultConfig::builder().restart_after(0).build().unwrap_err();
        assert_eq!(e.field, "restart-after");
        let e = FaultConfig::builder()
            .delay_acks(Duration::from_secs(11))
            .build()
            .unwrap_err();
        assert_eq!(e.field, "delay-acks-us");
        let ok = FaultConfig::builder()
            .drop_data(0.5)
            .dup_data(0.25)
            .reorder_data(0.25)
            .build()
            .unwrap();
        assert!(ok.data_faults() && !ok.ack_faults());
        assert!(!FaultConfig::none().data_faults());
    }

    fn pkt(seq: u64, len: usize) -> Vec<u8> {
        crate::wire::header::pattern_packet(0, seq, len)
    }

    fn meta(at_ns: u64) -> RxMeta {
        RxMeta {
            src: "127.0.0.1:9".parse().unwrap(),
            at_ns,
        }
    }

    /// Records what reaches it, and how often it was restarted.
    #[derive(Debug, Default)]
    struct Tape {
        seqs: Vec<u64>,
        other: usize,
        restarts: Vec<usize>,
    }

    impl DatagramSink for Tape {
        fn datagram(&mut self, payload: &[u8], _meta: &RxMeta) {
            match Repr::parse(&Packet::new_unchecked(payload)) {
                Ok(r) => self.seqs.push(r.seq),
                Err(_) => self.other += 1,
            }
        }
    }

    impl Restart for Tape {
        fn restart(&mut self, _now_ns: u64) {
            self.restarts.push(self.seqs.len());
        }
    }

    fn run_tape(cfg: &FaultConfig, n: u64) -> (Tape, FaultCounts) {
        let mut f = FaultInjector::new(Tape::default(), cfg);
        for s in 0..n {
            f.datagram(&pkt(s, 64), &meta(s));
        }
        f.finish(n);
        let counts = f.counts();
        (f.into_inner(), counts)
    }

    #[test]
    fn same_seed_same_faults_other_seed_other_faults() {
        let cfg = |seed| {
            FaultConfig::builder()
                .seed(seed)
                .drop_data(0.1)
                .dup_data(0.1)
                .reorder_data(0.1)
                .build()
                .unwrap()
        };
        let (a, ca) = run_tape(&cfg(7), 2000);
        let (b, cb) = run_tape(&cfg(7), 2000);
        let (c, _) = run_tape(&cfg(8), 2000);
        assert_eq!(a.seqs, b.seqs);
        assert_eq!(ca, cb);
        assert_ne!(a.seqs, c.seqs);
        assert!(ca.drop_data > 100 && ca.dup_data > 100 && ca.reorder_data > 100);
    }

    #[test]
    fn no_faults_is_transparent_and_other_datagrams_pass() {
        let mut f = FaultInjector::new(Tape::default(), &FaultConfig::none());
        for s in 0..100 {
            f.datagram(&pkt(s, 32), &meta(s));
            f.datagram(b"not ringshot", &meta(s));
        }
        assert_eq!(f.inner().seqs, (0..100).collect::<Vec<_>>());
        assert_eq!(f.inner().other, 100);
        assert_eq!(f.counts(), FaultCounts::default());
    }

    #[test]
    fn reordered_packets_come_after_depth_later_ones() {
        let cfg = FaultConfig::builder()
            .reorder_data(1.0)
            .reorder_depth(3)
            .build()
            .unwrap();
        // Every packet wants to be held; at most 3 are, so the 4th passes and so on.
        let (t, c) = run_tape(&cfg, 8);
        assert_eq!(t.seqs, vec![3, 4, 5, 0, 1, 2, 6, 7]);
        // 6 and 7 were held at the end and released by finish with nothing after them.
        assert_eq!(c.reorder_data, 3);
    }

    #[test]
    fn held_packets_leave_after_the_time_limit() {
        let cfg = FaultConfig::builder()
            .reorder_data(1.0)
            .reorder_depth(4)
            .build()
            .unwrap();
        let mut f = FaultInjector::new(Tape::default(), &cfg);
        f.datagram(&pkt(0, 32), &meta(1_000));
        assert!(f.inner().seqs.is_empty());
        let wait = f.tick(1_000).unwrap();
        assert_eq!(wait, REORDER_MAX_HOLD);
        f.tick(1_000 + REORDER_MAX_HOLD.as_nanos() as u64);
        assert_eq!(f.inner().seqs, vec![0]);
        assert_eq!(f.counts().reorder_data, 0, "nothing overtook it");
    }

    #[test]
    fn restarts_follow_the_packet_count() {
        let cfg = FaultConfig::builder().restart_after(10).build().unwrap();
        let (t, c) = run_tape(&cfg, 35);
        assert_eq!(t.restarts, vec![10, 20, 30]);
        assert_eq!(c.restarts, 3);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// The checker below the injector reports exactly what was injected: lost = drops (those
        /// below the highest delivered number; a drop at the very end cannot be seen by anyone),
        /// duplicates = dup, reordered = reorder, nothing late.
        #[test]
        fn checker_counts_equal_injected_counts(
            seed in any::<u64>(),
            drop in 0.0f64..0.3,
            dup in 0.0f64..0.3,
            reorder in 0.0f64..0.3,
            depth in 1usize..64,
        ) {
            let cfg = FaultConfig::builder()
                .seed(seed)
                .drop_data(drop)
                .dup_data(dup)
                .reorder_data(reorder)
                .reorder_depth(depth)
                .build()
                .unwrap();
            let n = 3000u64;
            let mut f = FaultInjector::new(StreamChecker::new(4096, true), &cfg);
            for s in 0..n {
                f.datagram(&pkt(s, 48), &meta(s * 1000));
            }
            f.finish(n * 1000);
            let c = f.counts();
            let checker = f.inner();
            let (lost, reordered, duplicates, late) = checker.totals();
            let highest = checker.streams().next().and_then(|(_, t)| t.highest()).unwrap_or(0);
            let tail = n - 1 - highest;
            prop_assert_eq!(lost + tail, c.drop_data);
            prop_assert_eq!(duplicates, c.dup_data);
            prop_assert_eq!(reordered, c.reorder_data);
            prop_assert_eq!(late, 0);
            prop_assert_eq!(checker.packets(), n - c.drop_data + c.dup_data);
        }
    }

    #[derive(Debug, Default)]
    struct Wire {
        sent: Vec<Vec<u8>>,
    }

    impl AckLink for Wire {
        fn send(&mut self, ack: &[u8], _to: SocketAddr, _now_ns: u64) {
            self.sent.push(ack.to_vec());
        }
        fn sent(&self) -> u64 {
            self.sent.len() as u64
        }
    }

    fn to() -> SocketAddr {
        "127.0.0.1:7".parse().unwrap()
    }

    #[test]
    fn ack_faults_drop_dup_reorder_delay() {
        let cfg = FaultConfig::builder()
            .reorder_acks(1.0)
            .delay_acks(Duration::from_micros(5))
            .build()
            .unwrap();
        let mut a = AckFaults::new(
            Wire::default(),
            &cfg,
            Corruption::FlipBit,
            Duration::from_millis(1),
        );
        a.send(&[1], to(), 0); // held
        a.send(&[2], to(), 100); // wants holding too, but one is held: goes, then 1 behind it
        assert_eq!(a.poll(100), Some(5_100));
        assert!(a.inner().sent.is_empty());
        assert_eq!(a.poll(5_100), None);
        assert_eq!(a.inner().sent, vec![vec![2], vec![1]]);
        a.send(&[3], to(), 10_000); // held, then goes alone after the hold limit
        assert_eq!(a.poll(10_000), Some(10_000 + 1_000_000));
        a.poll(1_010_000);
        a.poll(1_015_000);
        assert_eq!(a.inner().sent.last().unwrap(), &vec![3]);
        let c = a.fault_counts();
        assert_eq!((c.reorder_acks, c.delay_acks), (1, 3));

        let cfg = FaultConfig::builder()
            .seed(3)
            .drop_acks(0.3)
            .dup_acks(0.3)
            .build()
            .unwrap();
        let mut a = AckFaults::new(
            Wire::default(),
            &cfg,
            Corruption::FlipBit,
            Duration::from_millis(1),
        );
        for i in 0..1000u32 {
            a.send(&i.to_be_bytes(), to(), u64::from(i));
        }
        a.finish(1000);
        let c = a.fault_counts();
        assert!(c.drop_acks > 200 && c.dup_acks > 200, "{c:?}");
        assert_eq!(a.sent(), 1000 - c.drop_acks + c.dup_acks);
    }

    /// A damaged ACK is always rejected by the sender's parser, for every format.
    #[test]
    fn corrupted_acks_are_always_detected() {
        use crate::device::encode::AckEncoder;
        use crate::device::model::AckState;
        use crate::flow::EventSet;
        for format in [
            AckFormat::Native,
            AckFormat::Usrp2 { stream_id: 2 },
            AckFormat::Chdr,
        ] {
            let mut enc = AckEncoder::new(format);
            let st = AckState {
                position: 1_000,
                bytes: 1_472_000,
                capacity: 1 << 20,
                start_seq: 0,
                stream_id: 0,
            };
            let mut acks = vec![enc.flow(&st).to_vec()];
            enc.events(&st, EventSet::SEQ_ERROR, |b| acks.push(b.to_vec()));
            let corruption = super::super::corruption_for(format);
            for good in acks {
                let mut parser = format.parser(0);
                assert!(parser.parse(&good, 900).is_ok());
                let damaged: Vec<Vec<u8>> = match corruption {
                    Corruption::FlipBit => (0..good.len() * 8)
                        .map(|bit| {
                            let mut b = good.clone();
                            b[bit / 8] ^= 1 << (bit % 8);
                            b
                        })
                        .collect(),
                    Corruption::Truncate => (0..good.len()).map(|n| good[..n].to_vec()).collect(),
                };
                for d in damaged {
                    assert!(
                        parser.parse(&d, 900).is_err(),
                        "{format}: damaged ACK {d:02x?} accepted"
                    );
                }
            }
        }
    }
}
