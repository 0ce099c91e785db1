//! The send engine: a thread pinned to its own core that takes ready packets in batches, stamps
//! each with its sequence number, submits the batch through a [`TxBackend`] and returns each
//! buffer to the app only after the kernel is done with it.
//!
//! Two ways to feed it:
//! - push: [`Sender::reserve`] a slot, write into it, [`Reserved::commit`]; or the copying
//!   [`Sender::send`]. Slot indices travel through two lock-free SPSC rings (app → engine: ready,
//!   engine → app: free), so the hand-off costs no allocation, lock or syscall per packet.
//! - pull: [`SourceSender::spawn`] with a [`PacketSource`] that the engine calls on its own thread.
//!
//! However the stream ends (the source runs dry, `stop()`, a stall, a device restart, a fatal
//! send error), the engine cancels what is still in flight, gets every slot back before it
//! returns, and accounts for every packet it took: `packets + failed_packets == committed`.

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::config::SenderConfig;
use crate::flow::{AckCore, AckCoreConfig, AckWait, AckWatch, FlowState};
use crate::framing::Stamper;
use crate::pacing::WaitMode;
use crate::stats::{latency_histogram, record_clamped, record_interval, TxMetrics};
use crate::sys::{self, Slab, SlotToken, TxBackend, TxDesc};

mod error;
mod group;
mod group_report;
mod handles;
mod live;
#[cfg(test)]
mod model_tests;
mod pattern;
mod report;
mod run;
#[cfg(test)]
mod tests;
mod timeline;
mod wait;

pub use error::EngineError;
pub use group::{GroupBuilder, GroupEngine, SenderGroup};
pub use group_report::{EngineRow, GroupError, GroupReport, GroupTotals, SharedWindowReport};
pub use handles::{ReserveFuture, Reserved, Sender, SourceSender};
pub use live::LiveSnapshot;
pub use pattern::PatternSource;
pub use report::{AckCounts, TxReport};
pub use timeline::{IntervalHists, TimelineInterval};

/// Supplies packets to the engine on the engine's own thread (pull mode).
///
/// ```
/// use ringshot::{PacketSource, SenderConfig, SourceSender};
///
/// /// Counts up in the first 8 bytes of each packet, 500 packets.
/// struct Counter;
///
/// impl PacketSource for Counter {
///     fn fill(&mut self, seq: u64, buf: &mut [u8]) -> Option<usize> {
///         if seq >= 500 {
///             return None; // the stream is over
///         }
///         buf[..8].copy_from_slice(&seq.to_be_bytes());
///         Some(8)
///     }
/// }
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let receiver = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// let cfg = SenderConfig::builder(receiver.local_addr()?).build()?;
/// let report = SourceSender::spawn(cfg, Counter)?.finish()?;
/// assert_eq!(report.committed, 500);
/// assert_eq!(report.bytes, report.packets * (ringshot::HEADER_LEN as u64 + 8));
/// # Ok(())
/// # }
/// ```
pub trait PacketSource: Send + 'static {
    /// Writes the application bytes of packet `seq` into `buf` (the space after the framing's
    /// header room, [`SenderConfig::max_app_payload`] bytes long: `payload − 16` with the ringshot
    /// header) and returns how many bytes it wrote, or `None` when the stream is over.
    fn fill(&mut self, seq: u64, buf: &mut [u8]) -> Option<usize>;

    /// Header flags to stamp on every packet (for example [`crate::wire::header::FLAG_PATTERN`]).
    fn flags(&self) -> u8 {
        0
    }

    /// Where the bytes [`fill`](Self::fill) writes repeat, if they do: `Some(p)` promises that
    /// `fill(seq, buf)` and `fill(seq + p, buf)` write the same bytes, and only the first `n`
    /// they return, into buffers of the same length (a check pattern that depends on the
    /// sequence number modulo `p`). The engine then remembers which bytes each slot holds, and
    /// for a slot that holds packet `seq`'s already it calls [`fill_again`](Self::fill_again)
    /// instead of `fill`: the slot is not written again (nothing else writes a slot's app
    /// bytes). `None`, the default: every packet is written.
    ///
    /// ```
    /// use ringshot::{PacketSource, PatternSource};
    ///
    /// // Byte i of packet seq is (seq + i) mod 256: the pattern repeats every 256 packets.
    /// assert_eq!(PatternSource::new(64, None, None).period(), Some(256));
    /// // Without the fill nothing is written, so nothing repeats that could be skipped.
    /// assert_eq!(PatternSource::new(64, None, None).without_fill().period(), None);
    /// ```
    fn period(&self) -> Option<u64> {
        None
    }

    /// Packet `seq`, for a `buf` that holds what [`fill`](Self::fill) would write already (see
    /// [`period`](Self::period)): returns what `fill` would and counts the packet as `fill`
    /// does, but need not write. The default calls `fill`.
    ///
    /// ```
    /// use ringshot::wire::header::check_pattern;
    /// use ringshot::{PacketSource, PatternSource};
    ///
    /// let mut src = PatternSource::new(64, Some(2), None);
    /// let mut buf = [0u8; 48];
    /// assert_eq!(src.fill(5, &mut buf), Some(48));
    /// // Packet 5 + 256 has the same bytes: counted, not written, still right.
    /// assert_eq!(src.fill_again(5 + 256, &mut buf), Some(48));
    /// assert!(check_pattern(5 + 256, &buf));
    /// assert_eq!(src.fill_again(6, &mut buf), None); // two packets: over
    /// ```
    fn fill_again(&mut self, seq: u64, buf: &mut [u8]) -> Option<usize> {
        self.fill(seq, buf)
    }
}

impl<P: PacketSource + ?Sized> PacketSource for Box<P> {
    fn fill(&mut self, seq: u64, buf: &mut [u8]) -> Option<usize> {
        (**self).fill(seq, buf)
    }

    fn flags(&self) -> u8 {
        (**self).flags()
    }

    fn period(&self) -> Option<u64> {
        (**self).period()
    }

    fn fill_again(&mut self, seq: u64, buf: &mut [u8]) -> Option<usize> {
        (**self).fill_again(seq, buf)
    }
}

/// A packet the app committed: its slot and length, the framing's header room included.
#[derive(Debug)]
struct ReadyPacket {
    token: SlotToken,
    len: u32,
    flags: u8,
}

/// State shared by the app handle and the engine thread (nothing on the per-packet path but the
/// `parked` flag, read only after a push).
#[derive(Debug, Default)]
struct Shared {
    parked: AtomicBool,
    stop: AtomicBool,
    /// Packets handed to the kernel so far, stored once per batch (for progress displays).
    sent: AtomicU64,
    /// Other running totals and interval figures for progress displays (see `live.rs`).
    live: live::LiveShared,
    /// The app's async task waiting for a free slot (or for the end), woken by the engine
    /// once per reap that handed slots back, and when it ends.
    waker: atomic_waker::AtomicWaker,
    /// Set (then `waker` woken) as the engine thread's last act.
    ended: AtomicBool,
}

/// Where the engine gets packets from.
enum Supply {
    Rings {
        ready: rtrb::Consumer<ReadyPacket>,
        free: rtrb::Producer<SlotToken>,
    },
    Source {
        source: Box<dyn PacketSource>,
        free: Vec<SlotToken>,
        flags: u8,
        ended: bool,
        /// For a source whose bytes repeat ([`PacketSource::period`]): what each slot holds.
        held: Option<Held>,
    },
}

/// Which of a repeating source's packets each slot holds (see [`PacketSource::period`]), so
/// that a slot holding the bytes of the packet about to go into it is not written again.
#[derive(Debug)]
struct Held {
    period: u64,
    /// Per slot: the phase (`seq % period`) and the buffer length of its last fill, packed as
    /// `phase << 32 | len`; [`Held::UNKNOWN`] where anything else wrote the slot, or nothing.
    slots: Vec<u64>,
}

impl Held {
    const UNKNOWN: u64 = u64::MAX;

    /// Tracking for `slots` slots, where the source's bytes repeat with a period small enough
    /// to pack (at most 2^32 − 1).
    fn new(period: Option<u64>, slots: usize) -> Option<Held> {
        let period = period.filter(|&p| p > 0 && p < u64::from(u32::MAX))?;
        Some(Held {
            period,
            slots: vec![Held::UNKNOWN; slots],
        })
    }

    /// The key of packet `seq` in a buffer of `len` bytes. A period that is a power of two
    /// (the check pattern's 256) takes a mask, not a division per packet.
    #[inline]
    fn key(&self, seq: u64, len: usize) -> u64 {
        let phase = if self.period.is_power_of_two() {
            seq & (self.period - 1)
        } else {
            seq % self.period
        };
        (phase << 32) | (len as u64 & 0xffff_ffff)
    }

    /// Packet `seq` from `source` into `buf`, the app bytes of slot `slot`: written by
    /// [`PacketSource::fill`], or only counted by [`PacketSource::fill_again`] where `held`
    /// knows the slot holds those bytes already.
    #[inline]
    fn fill(
        held: Option<&mut Held>,
        source: &mut dyn PacketSource,
        seq: u64,
        slot: usize,
        buf: &mut [u8],
    ) -> Option<usize> {
        let Some(held) = held else {
            return source.fill(seq, buf);
        };
        let key = held.key(seq, buf.len());
        let at = &mut held.slots[slot];
        if *at == key {
            source.fill_again(seq, buf)
        } else {
            *at = key;
            source.fill(seq, buf)
        }
    }

    /// Slot `slot` holds bytes that did not come from the source (or none).
    fn forget(&mut self, slot: usize) {
        self.slots[slot] = Held::UNKNOWN;
    }
}

/// Where a slot is, as far as the engine knows.
#[derive(Debug)]
enum SlotState {
    /// With the app or in a free list: not the engine's.
    Away,
    /// Taken into the batch being submitted, not yet accepted by the backend.
    Gathered(SlotToken),
    /// Accepted by the backend: the kernel may read it until its completion.
    InKernel(SlotToken),
}

/// Everything the engine thread owns.
struct Engine {
    cfg: SenderConfig,
    slab: Arc<Slab>,
    backend: Box<dyn TxBackend>,
    supply: Supply,
    shared: Arc<Shared>,
    /// Where each slot is, indexed by slot; the engine holds the tokens of slots it has taken.
    slots: Vec<SlotState>,
    /// The batch being submitted; `accepted` of it the backend has taken so far.
    pending: Vec<TxDesc>,
    accepted: usize,
    next_seq: u64,
    /// Writes each packet's header from its sequence number (the configured framing).
    stamper: Stamper,
    metrics: TxMetrics,
    notices: Vec<String>,
    flow: Option<TxFlow>,
    /// How every wait sleeps: absolute sleeps only once the thread runs under SCHED_FIFO.
    wait: WaitMode,
    /// The histograms as they were at the last interval cut (see `live.rs`).
    live_cut: live::LiveCut,
    /// A wait mode chosen by the caller (tests), kept whatever the thread tuning grants.
    forced_wait: Option<WaitMode>,
    /// Whether a refused send has been seen (and logged) yet.
    refused_seen: bool,
    /// How long before a departure a pacing wait stops sleeping and spins: this thread's
    /// wake-up latency, measured when a paced stream starts.
    spin: std::time::Duration,
    /// The time series, when the configuration asks for one (see `timeline.rs`).
    timeline: Option<timeline::Timeline>,
    /// The kernel's drop counters below the socket, read at the start (none in tests that
    /// drive a simulated backend).
    egress: Option<sys::EgressWatch>,
}

/// Flow-control state kept on the engine thread. Only `state` is shared (with the ACK core).
struct TxFlow {
    state: Arc<FlowState>,
    window_packets: Option<u64>,
    window_bytes: Option<u64>,
    frame: u64,
    watch: AckWatch,
    generation: u64,
    sent_bytes: u64,
    waits: u64,
    wait_ns: hdrhistogram::Histogram<u64>,
    visibility_ns: hdrhistogram::Histogram<u64>,
    /// With a time series: the same values since the last interval cut.
    wait_interval: Option<hdrhistogram::Histogram<u64>>,
    visibility_interval: Option<hdrhistogram::Histogram<u64>>,
    /// With a window shared by a group of engines: the sequence number up to which this
    /// engine holds credit claimed from it (never below the next sequence to send).
    claimed_to: u64,
}

impl TxFlow {
    /// Records ACK-to-TX visibility when the acknowledged count has moved since the last look.
    #[inline]
    fn observe(&mut self) {
        if let Some(ns) = self.watch.poll(&self.state) {
            record_clamped(&mut self.visibility_ns, ns.max(1));
            record_interval(&mut self.visibility_interval, ns.max(1));
        }
    }

    /// With a shared window: tops this engine's claim up to `want` packets past `sent` and
    /// returns how many it may send now (all of `want` without one).
    fn claim_shared(&mut self, sent: u64, want: u64) -> u64 {
        let Some(w) = self.state.shared_window() else {
            return want;
        };
        let held = self.claimed_to.saturating_sub(sent);
        if held < want {
            self.claimed_to = sent + held + w.claim(want - held);
        }
        self.claimed_to.saturating_sub(sent).min(want)
    }

    /// Gives back to the shared window what this engine claimed and never sent (`sent`: the
    /// count published to the ACK core); what it sent goes back as the device acknowledges it.
    fn release_unsent(&mut self, sent: u64) {
        if let Some(w) = self.state.shared_window() {
            w.release(self.claimed_to.saturating_sub(sent));
            self.claimed_to = self.claimed_to.min(sent);
        }
    }

    fn new(cfg: &SenderConfig, state: Arc<FlowState>) -> TxFlow {
        TxFlow {
            claimed_to: cfg.stream.start_seq,
            watch: AckWatch::new(&state),
            generation: state.generation(),
            state,
            window_packets: cfg.flow.window_packets,
            window_bytes: cfg.flow.window_bytes,
            frame: cfg.stream.payload as u64,
            sent_bytes: 0,
            waits: 0,
            wait_ns: latency_histogram(),
            visibility_ns: latency_histogram(),
            wait_interval: None,
            visibility_interval: None,
        }
    }
}

/// What `open` sets up before the engine thread starts.
pub(crate) struct Opened {
    slab: Arc<Slab>,
    tokens: Vec<SlotToken>,
    backend: Box<dyn TxBackend>,
    notices: Vec<String>,
    flow: Option<Arc<FlowState>>,
    ack: Option<AckCore>,
    wait: Option<WaitMode>,
    /// The kernel's drop counters below the socket, read at the start.
    egress: Option<sys::EgressWatch>,
    /// The data socket's own address (its source port).
    local: Option<std::net::SocketAddr>,
}

impl Opened {
    /// An engine set-up around a backend built elsewhere, without flow control (tests), with
    /// `wait` forced when given.
    #[cfg(test)]
    pub(crate) fn with_backend(
        slab: Arc<Slab>,
        tokens: Vec<SlotToken>,
        backend: Box<dyn TxBackend>,
        wait: Option<WaitMode>,
    ) -> Opened {
        Opened {
            slab,
            tokens,
            backend,
            notices: Vec::new(),
            flow: None,
            ack: None,
            wait,
            egress: None,
            local: None,
        }
    }
}

/// What the send backend is opened with: the one place the validated configuration becomes
/// the OS layer's plain values.
pub(crate) fn tx_opts(cfg: &SenderConfig) -> sys::TxOpts {
    sys::TxOpts {
        dest: cfg.socket.dest,
        bind: cfg.socket.bind,
        sndbuf: cfg.socket.sndbuf,
        backend: cfg.socket.backend,
        gso: cfg.socket.gso,
        batch: cfg.batch,
        zc_threshold: cfg.socket.zc_threshold,
        sqpoll_idle: cfg.uring.sqpoll_idle,
        sqpoll_cpu: cfg.uring.sqpoll_cpu,
        relaxed_order: cfg.uring.send_order == crate::SendOrder::Relaxed,
        xdp_queue: cfg.socket.xdp_queue,
        xdp_zero_copy: cfg.socket.xdp_mode.zero_copy(),
        payload: cfg.stream.payload,
        faults: cfg.faults,
    }
}

fn open(cfg: &SenderConfig) -> Result<Opened, EngineError> {
    open_shared(cfg, None)
}

/// [`open`], for an engine whose flow control also claims from a window shared with other
/// engines (ignored without flow control).
pub(crate) fn open_shared(
    cfg: &SenderConfig,
    shared: Option<Arc<crate::flow::SharedWindow>>,
) -> Result<Opened, EngineError> {
    let xdp = cfg.socket.backend == crate::BackendChoice::Xdp;
    let headroom = if xdp { sys::XDP_HEADROOM } else { 0 };
    let (slab, tokens) = Slab::with_headroom(cfg.stream.slots, cfg.stream.payload, headroom);
    let slab = Arc::new(slab);
    let egress = sys::EgressWatch::start(cfg.socket.dest);
    let mut early = Vec::new();
    let mut opts = tx_opts(cfg);
    // The socket is connected on the core that will send from it (see `sys::on_core`).
    let open_tx = |opts: &sys::TxOpts| match cfg.thread.tx_core {
        Some(core) => sys::on_core(core, || sys::open_tx(opts, &slab)),
        None => sys::open_tx(opts, &slab),
    };
    let (backend, mut notices, data_sock) = match egress.gso_segmenting_qdisc() {
        // AF_XDP frames pass no qdisc.
        _ if xdp => open_tx(&opts)?,
        // Such a qdisc reports a GSO super-packet queued as soon as one of its segments is,
        // and drops the rest without a word: one datagram per send keeps every drop reported.
        Some(qdisc) if cfg.socket.gso => {
            early.push(format!(
                "the {qdisc} cuts GSO super-packets into segments and would drop some of them \
                 unreported; sending one datagram per packet"
            ));
            opts.gso = false;
            open_tx(&opts)?
        }
        _ => open_tx(&opts)?,
    };
    notices.splice(0..0, early);
    let local = data_sock.local_addr().ok();
    if backend.gso_active() {
        notices.extend(cfg.stream.framing.heap_gso_notice(cfg.stream.payload));
    }
    if cfg.uring.send_order == crate::SendOrder::Relaxed && backend.name() != "uring" {
        notices.push(format!(
            "relaxed send order asked for, but the {} backend keeps packets in order anyway",
            backend.name()
        ));
    }
    for n in &notices {
        log::info!("{n}");
    }
    let (flow, ack) = match cfg.flow.ack {
        None => (None, None),
        Some(format) => {
            let state = Arc::new(FlowState::with_shared(cfg.stream.start_seq, shared));
            let (sock, device) = match cfg.flow.ack_bind {
                // The data socket is connected to the device, so the kernel filters sources.
                None => (data_sock, Some(cfg.socket.dest)),
                // A separate socket: believe only the device's exact address and port.
                Some(addr) => (
                    sys::open_ack_socket(addr).map_err(EngineError::AckCore)?,
                    Some(cfg.ack_source()),
                ),
            };
            let ack_cfg = AckCoreConfig {
                format,
                device,
                core: cfg.flow.ack_core,
                wait: if cfg.flow.ack_busy_poll {
                    AckWait::BusyPoll
                } else {
                    AckWait::Block
                },
                ..AckCoreConfig::default()
            };
            let core =
                AckCore::spawn(sock, state.clone(), ack_cfg).map_err(EngineError::AckCore)?;
            (Some(state), Some(core))
        }
    };
    Ok(Opened {
        slab,
        tokens,
        backend,
        notices,
        flow,
        ack,
        wait: None,
        egress: Some(egress),
        local,
    })
}

/// The engine thread and the ACK core behind an app handle.
#[derive(Debug)]
struct EngineThread {
    thread: Option<JoinHandle<Result<TxReport, EngineError>>>,
    ack: Option<AckCore>,
    flow: Option<Arc<FlowState>>,
    /// The outcome, once collected before `finish` asked for it (a `reserve` that found the
    /// engine gone): `finish` returns it then.
    ended: Option<Result<TxReport, EngineError>>,
    /// The data socket's own address.
    local: Option<std::net::SocketAddr>,
}

impl EngineThread {
    fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Collects the outcome of an engine that has finished (`over`: its thread said so; it
    /// never blocks on a running one: `None` then) and returns why it ended, as an error for a
    /// caller that wanted to queue more: the engine's own error, or [`EngineError::Closed`]
    /// after a clean end.
    fn ended_error(&mut self, over: bool) -> Option<EngineError> {
        if self.ended.is_none() {
            if !over && !self.thread.as_ref().is_some_and(|t| t.is_finished()) {
                return None;
            }
            let outcome = self.join();
            self.ended = Some(outcome);
        }
        match self.ended.as_ref() {
            Some(Err(e)) => Some(e.duplicate()),
            _ => Some(EngineError::Closed),
        }
    }

    /// The outcome: the one collected earlier, or the engine's, once it has ended.
    fn outcome(&mut self) -> Result<TxReport, EngineError> {
        match self.ended.take() {
            Some(outcome) => outcome,
            None => self.join(),
        }
    }

    fn unpark(&self) {
        if let Some(t) = &self.thread {
            t.thread().unpark();
        }
    }

    /// Waits for the engine, then stops the ACK core and adds what it counted to the report.
    fn join(&mut self) -> Result<TxReport, EngineError> {
        let t = self.thread.take().ok_or(EngineError::Closed)?;
        let mut result = t.join().map_err(|_| EngineError::Panicked)?;
        if let Some(ack) = self.ack.take() {
            let stats = ack.stop();
            let report = match &mut result {
                Ok(r) => Some(r),
                Err(e) => e.report_mut(),
            };
            if let Some(r) = report {
                r.acks = Some(AckCounts::from_stats(&stats));
                r.events = stats
                    .events
                    .iter()
                    .map(|(k, v)| (k.to_string(), *v))
                    .collect();
                if let Some(e) = &stats.error {
                    r.notices.push(format!("the ACK core stopped early: {e}"));
                }
            }
        }
        result
    }

    /// Packets the device has room for now, per the latest ACK (`None` without flow control).
    fn credit(&self, cfg_window: (Option<u64>, Option<u64>), frame: u64) -> Option<u64> {
        self.flow.as_ref().map(|s| {
            s.credit(
                s.sent_packets(),
                s.sent_bytes(),
                cfg_window.0,
                cfg_window.1,
                frame,
            )
        })
    }
}

fn spawn_engine(
    mut engine: Engine,
) -> Result<JoinHandle<Result<TxReport, EngineError>>, EngineError> {
    std::thread::Builder::new()
        .name("ringshot-tx".into())
        .spawn(move || {
            engine.tune_thread();
            let shared = engine.shared.clone();
            let outcome = engine.run();
            shared
                .ended
                .store(true, std::sync::atomic::Ordering::Release);
            shared.waker.wake();
            outcome
        })
        .map_err(EngineError::Socket)
}

/// Builds the engine for `supply` and starts its thread.
fn start(
    cfg: SenderConfig,
    opened: Opened,
    supply: Supply,
) -> Result<(EngineThread, Arc<Shared>, Vec<String>), EngineError> {
    let slots = opened.slab.slots() as usize;
    let shared = Arc::new(Shared::default());
    let mut flow = opened.flow.clone().map(|s| TxFlow::new(&cfg, s));
    let notices = opened.notices.clone();
    let mut metrics = TxMetrics::new();
    let timeline = cfg.thread.timeline.map(|period| {
        timeline::Timeline::new(
            period,
            cfg.pacing.rate.is_some(),
            &mut metrics,
            flow.as_mut(),
        )
    });
    let engine = Engine {
        slots: (0..slots).map(|_| SlotState::Away).collect(),
        pending: Vec::with_capacity(cfg.batch),
        accepted: 0,
        next_seq: cfg.stream.start_seq,
        stamper: Stamper::new(cfg.stream.framing, cfg.stream.stream_id),
        cfg,
        slab: opened.slab,
        backend: opened.backend,
        supply,
        shared: shared.clone(),
        metrics,
        notices: opened.notices,
        flow,
        wait: opened.wait.unwrap_or_default(),
        forced_wait: opened.wait,
        spin: crate::pacing::DEFAULT_SPIN,
        refused_seen: false,
        live_cut: live::LiveCut::new(),
        timeline,
        egress: opened.egress,
    };
    let thread = spawn_engine(engine)?;
    Ok((
        EngineThread {
            thread: Some(thread),
            ack: opened.ack,
            flow: opened.flow,
            ended: None,
            local: opened.local,
        },
        shared,
        notices,
    ))
}

impl Engine {
    fn tune_thread(&mut self) {
        if let Some(core) = self.cfg.thread.tx_core {
            if !sys::pin_current(core) {
                self.notice(format!(
                    "could not pin ringshot-tx to core {core}; running unpinned"
                ));
            }
        }
        if let Some(prio) = self.cfg.thread.sched_fifo {
            match sys::set_rt_priority(prio) {
                // A spinning real-time thread is throttled by the kernel for tens of ms each
                // second: from here on every wait sleeps to an absolute deadline.
                Ok(()) => self.wait = WaitMode::SleepOnly,
                Err(e) => self.notice(format!(
                    "SCHED_FIFO priority {prio} refused ({e}); running SCHED_OTHER"
                )),
            }
        }
        if let Some(w) = self.forced_wait {
            self.wait = w;
        }
        // Precise wake-ups for every sleeping wait of a paced or real-time stream: a paced
        // stream sleeps through each gap longer than a wake-up takes and spins only the rest.
        if self.wait == WaitMode::SleepOnly || self.cfg.pacing.rate.is_some() {
            if let Err(e) = sys::set_timer_slack_ns(1) {
                self.notice(format!(
                    "timer slack refused ({e}); sleeps may wake up to 50 µs late"
                ));
            }
        }
        if self.cfg.pacing.rate.is_some() && self.wait == WaitMode::SleepThenSpin {
            self.spin = crate::pacing::wake_up_latency(32);
            log::debug!(
                "paced: wake-up latency {:?}; spinning only that long",
                self.spin
            );
        }
        if self.cfg.thread.mlockall {
            if let Err(e) = sys::lock_memory() {
                self.notice(format!(
                    "mlockall refused ({e}); pages may fault in on the hot path"
                ));
            }
        }
    }

    fn notice(&mut self, msg: String) {
        log::warn!("{msg}");
        self.notices.push(msg);
    }
}
