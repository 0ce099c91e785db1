//! The send engine: a thread pinned to its own core that takes ready packets in batches, stamps
//! each with its sequence number, submits the batch through a [`TxBackend`] and returns each
//! buffer to the app only after the kernel is done with it.
//!
//! Two ways to feed it:
//! - push: [`Sender::reserve`] a slot, write into it, [`Reserved::commit`]; or the copying
//!   [`Sender::send`]. Slot indices travel through two lock-free SPSC rings (app → engine: ready,
//!   engine → app: free), so the hand-off costs no allocation, lock or syscall per packet.
//! - pull: [`SourceSender::spawn`] with a [`PacketSource`] that the engine calls on its own thread.

use std::io;
use std::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::{IdlePolicy, SenderConfig};
use crate::flow::{AckCore, AckCoreConfig, AckStats, AckWait, AckWatch, FlowState};
use crate::pacing::Pacer;
use crate::stats::{latency_histogram, record_clamped, Percentiles, TxMetrics};
use crate::sys::{self, Slab, SlotToken, TxBackend, TxDesc};
use crate::wire::header::{self, HEADER_LEN};

/// Supplies packets to the engine on the engine's own thread (pull mode).
pub trait PacketSource: Send + 'static {
    /// Writes the application bytes of packet `seq` into `buf` (the space after the 16-byte
    /// ringshot header, `payload − 16` bytes long) and returns how many bytes it wrote, or `None`
    /// when the stream is over.
    fn fill(&mut self, seq: u64, buf: &mut [u8]) -> Option<usize>;

    /// Header flags to stamp on every packet (for example [`header::FLAG_PATTERN`]).
    fn flags(&self) -> u8 {
        0
    }
}

/// Why the engine stopped with an error.
pub enum EngineError {
    /// Creating or configuring the socket failed.
    Socket(io::Error),
    /// The chosen backend cannot run here.
    BackendUnavailable {
        backend: &'static str,
        reason: String,
    },
    /// A send or completion syscall failed with an error that cannot be retried.
    Send(io::Error),
    /// The engine thread panicked.
    Panicked,
    /// The engine is gone (it stopped with an error reported by `finish`).
    Closed,
    /// The flow-control window stayed closed for the whole stall timeout.
    Stalled {
        sent: u64,
        acked: u64,
        waited: Duration,
        report: Box<TxReport>,
    },
    /// The device announced a restart: whatever it had buffered is gone, so the stream stops
    /// rather than losing packets silently.
    DeviceRestarted {
        sent: u64,
        acked: u64,
        report: Box<TxReport>,
    },
    /// The ACK core could not be started.
    AckCore(io::Error),
}

impl std::fmt::Debug for EngineError {
    // By hand: the reports inside carry whole histograms, too long for a panic message.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineError::Socket(e) => f.debug_tuple("Socket").field(e).finish(),
            EngineError::BackendUnavailable { backend, reason } => f
                .debug_struct("BackendUnavailable")
                .field("backend", backend)
                .field("reason", reason)
                .finish(),
            EngineError::Send(e) => f.debug_tuple("Send").field(e).finish(),
            EngineError::Panicked => f.write_str("Panicked"),
            EngineError::Closed => f.write_str("Closed"),
            EngineError::Stalled { .. } | EngineError::DeviceRestarted { .. } => {
                write!(f, "{self}")
            }
            EngineError::AckCore(e) => f.debug_tuple("AckCore").field(e).finish(),
        }
    }
}

impl EngineError {
    /// The report of a stream that ended early (stall, device restart), if there is one.
    pub fn report(&self) -> Option<&TxReport> {
        match self {
            EngineError::Stalled { report, .. } | EngineError::DeviceRestarted { report, .. } => {
                Some(report)
            }
            _ => None,
        }
    }

    fn report_mut(&mut self) -> Option<&mut TxReport> {
        match self {
            EngineError::Stalled { report, .. } | EngineError::DeviceRestarted { report, .. } => {
                Some(report)
            }
            _ => None,
        }
    }
}

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineError::Socket(e) => write!(f, "socket set-up failed: {e}"),
            EngineError::BackendUnavailable { backend, reason } => {
                write!(f, "backend {backend} is unavailable: {reason}")
            }
            EngineError::Send(e) => write!(f, "send failed: {e}"),
            EngineError::Panicked => write!(f, "the engine thread panicked"),
            EngineError::Closed => write!(f, "the engine has stopped"),
            EngineError::Stalled {
                sent,
                acked,
                waited,
                ..
            } => write!(
                f,
                "stalled: the device opened no window for {:.1} ms (sent {sent}, acknowledged \
                 {acked}, {} outstanding)",
                waited.as_secs_f64() * 1e3,
                sent.saturating_sub(*acked)
            ),
            EngineError::DeviceRestarted { sent, acked, .. } => write!(
                f,
                "the device restarted (sent {sent}, acknowledged {acked}); the {} packets it \
                 had not consumed are lost, so the stream stops",
                sent.saturating_sub(*acked)
            ),
            EngineError::AckCore(e) => write!(f, "starting the ACK core failed: {e}"),
        }
    }
}

impl std::error::Error for EngineError {}

/// What the engine measured, returned when the stream ends. Serialises to the `--json` keys.
#[derive(Debug, Clone, Serialize)]
pub struct TxReport {
    pub backend: &'static str,
    pub gso: bool,
    pub packets: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub pps: f64,
    pub gbps: f64,
    pub submits: u64,
    pub syscalls: u64,
    pub submit_ns: Percentiles,
    pub submits_over_100us: u64,
    pub submits_over_1ms: u64,
    pub errors: std::collections::BTreeMap<String, u64>,
    pub gso_downgrades: u64,
    pub resent_packets: u64,
    /// Packets committed by the app that never left (fatal error, early end); `packets +
    /// failed_packets` equals the packets committed.
    pub failed_packets: u64,
    /// Completions that matched no op (stale generation, duplicate notification): ignored.
    pub stray_completions: u64,
    /// Faults injected by a test's fault plan (all 0 in production).
    pub injected_faults: crate::fault::InjectedFaults,
    pub zero_copy_sends: u64,
    pub zero_copy_notifications: u64,
    pub batch_packets: Percentiles,
    /// CPU time of the engine thread, ns.
    pub cpu_ns: u64,
    /// Paced streams: the target rate, how far the achieved rate was from it, and how late each
    /// batch left against its schedule (JSON null when unpaced).
    pub rate_target_pps: Option<f64>,
    pub rate_error_pct: Option<f64>,
    pub lateness_ns: Option<Percentiles>,
    /// Schedule slots given up after stalls longer than the burst allowance.
    pub schedule_slips: u64,
    /// Flow control: how often the window was closed when a batch was due, and for how long;
    /// and the time from the ACK core receiving an ACK to this engine first seeing its credit
    /// (JSON null without flow control).
    pub window_waits: u64,
    pub window_wait_ns: Option<Percentiles>,
    pub ack_visibility_ns: Option<Percentiles>,
    pub acks: Option<AckCounts>,
    /// Device events seen by the ACK core, by name.
    pub events: std::collections::BTreeMap<String, u64>,
    /// The stream ended because the window stayed closed for the stall timeout.
    pub stalled: bool,
    /// One-time messages: fallbacks, refused tuning.
    pub notices: Vec<String>,
    #[serde(skip)]
    pub submit_hist: hdrhistogram::Histogram<u64>,
    #[serde(skip)]
    pub started: std::time::SystemTime,
}

impl TxReport {
    fn new(metrics: &TxMetrics, backend: &dyn TxBackend, elapsed: Duration, cpu_ns: u64) -> Self {
        let seconds = elapsed.as_secs_f64().max(1e-9);
        TxReport {
            backend: backend.name(),
            gso: backend.gso_active(),
            packets: metrics.packets,
            bytes: metrics.bytes,
            seconds,
            pps: metrics.packets as f64 / seconds,
            gbps: metrics.bytes as f64 * 8.0 / seconds / 1e9,
            submits: metrics.submits,
            syscalls: metrics.syscalls,
            submit_ns: Percentiles::of(&metrics.submit_ns),
            submits_over_100us: metrics.submits_over_100us,
            submits_over_1ms: metrics.submits_over_1ms,
            errors: metrics.errors_by_name(),
            gso_downgrades: metrics.gso_downgrades,
            resent_packets: metrics.resent_packets,
            failed_packets: metrics.failed_packets,
            stray_completions: metrics.stray_completions,
            injected_faults: metrics.injected,
            zero_copy_sends: metrics.zero_copy_sends,
            zero_copy_notifications: metrics.zero_copy_notifications,
            batch_packets: Percentiles::of(&metrics.batch_packets),
            cpu_ns,
            rate_target_pps: None,
            rate_error_pct: None,
            lateness_ns: None,
            schedule_slips: 0,
            window_waits: 0,
            window_wait_ns: None,
            ack_visibility_ns: None,
            acks: None,
            events: Default::default(),
            stalled: false,
            notices: Vec::new(),
            submit_hist: metrics.submit_ns.clone(),
            started: std::time::SystemTime::now() - elapsed,
        }
    }
}

/// What the ACK core did with the datagrams it received.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AckCounts {
    pub accepted: u64,
    pub stale: u64,
    pub beyond_sent: u64,
    pub foreign_source: u64,
    pub malformed: u64,
    /// Malformed datagrams by reason.
    pub malformed_by_reason: std::collections::BTreeMap<String, u64>,
}

impl AckCounts {
    fn from_stats(s: &AckStats) -> AckCounts {
        AckCounts {
            accepted: s.accepted,
            stale: s.stale,
            beyond_sent: s.beyond_sent,
            foreign_source: s.foreign_source,
            malformed: s.malformed_total(),
            malformed_by_reason: s
                .malformed
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
        }
    }
}

/// A packet the app committed: its slot and UDP payload length (header included).
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
    },
}

/// Everything the engine thread owns.
struct Engine {
    cfg: SenderConfig,
    slab: Arc<Slab>,
    backend: Box<dyn TxBackend>,
    supply: Supply,
    shared: Arc<Shared>,
    /// Tokens of slots the kernel may still be reading, indexed by slot.
    in_kernel: Vec<Option<SlotToken>>,
    pending: Vec<TxDesc>,
    next_seq: u64,
    metrics: TxMetrics,
    notices: Vec<String>,
    flow: Option<TxFlow>,
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
}

impl TxFlow {
    /// Records ACK-to-TX visibility when the acknowledged count has moved since the last look.
    #[inline]
    fn observe(&mut self) {
        if let Some(ns) = self.watch.poll(&self.state) {
            record_clamped(&mut self.visibility_ns, ns.max(1));
        }
    }

    fn new(cfg: &SenderConfig, state: Arc<FlowState>) -> TxFlow {
        TxFlow {
            watch: AckWatch::new(&state),
            generation: state.generation(),
            state,
            window_packets: cfg.window_packets,
            window_bytes: cfg.window_bytes,
            frame: cfg.payload as u64,
            sent_bytes: 0,
            waits: 0,
            wait_ns: latency_histogram(),
            visibility_ns: latency_histogram(),
        }
    }
}

/// The spin → yield → rest ladder every wait in the engine climbs: spin first (lowest latency),
/// then yield, then hand the core back. `Spin` never leaves the first rung.
#[derive(Debug)]
struct Backoff {
    spins: u32,
    policy: IdlePolicy,
}

impl Backoff {
    const SPINS: u32 = 2_000;
    const YIELDS: u32 = 100;

    fn new(policy: IdlePolicy) -> Backoff {
        Backoff { spins: 0, policy }
    }

    fn reset(&mut self) {
        self.spins = 0;
    }

    /// Takes one step; returns true when the caller should rest (sleep or park) now.
    fn step(&mut self) -> bool {
        self.spins = self.spins.saturating_add(1);
        if self.policy == IdlePolicy::Spin || self.spins < Self::SPINS {
            std::hint::spin_loop();
            false
        } else if self.spins < Self::SPINS + Self::YIELDS {
            std::thread::yield_now();
            false
        } else {
            true
        }
    }
}

/// Why the window wait ended without credit.
enum FlowStop {
    Stalled(Duration),
    Restarted,
    Stopped,
}

/// What `open` sets up before the engine thread starts.
struct Opened {
    slab: Arc<Slab>,
    tokens: Vec<SlotToken>,
    backend: Box<dyn TxBackend>,
    notices: Vec<String>,
    flow: Option<Arc<FlowState>>,
    ack: Option<AckCore>,
}

fn open(cfg: &SenderConfig) -> Result<Opened, EngineError> {
    let (slab, tokens) = Slab::new(cfg.slots, cfg.payload);
    let slab = Arc::new(slab);
    let (backend, notices, data_sock) = sys::open_tx(cfg, &slab)?;
    for n in &notices {
        eprintln!("ringshot: {n}");
    }
    let (flow, ack) = match cfg.ack {
        None => (None, None),
        Some(format) => {
            let state = Arc::new(FlowState::new(cfg.start_seq));
            let (sock, device) = match cfg.ack_bind {
                // The data socket is connected to the device, so the kernel filters sources.
                None => (data_sock, Some(cfg.dest)),
                // A separate socket: believe only the device's exact address and port.
                Some(addr) => (
                    std::net::UdpSocket::bind(addr).map_err(EngineError::AckCore)?,
                    Some(cfg.dest),
                ),
            };
            let ack_cfg = AckCoreConfig {
                format,
                device,
                core: cfg.ack_core,
                wait: if cfg.ack_busy_poll {
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
    })
}

/// The engine thread and the ACK core behind an app handle.
#[derive(Debug)]
struct EngineThread {
    thread: Option<JoinHandle<Result<TxReport, EngineError>>>,
    ack: Option<AckCore>,
    flow: Option<Arc<FlowState>>,
}

impl EngineThread {
    fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
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
            engine.run()
        })
        .map_err(EngineError::Socket)
}

impl Engine {
    fn tune_thread(&mut self) {
        if let Some(core) = self.cfg.tx_core {
            if !sys::unix::thread::pin_current(core) {
                self.notice(format!(
                    "could not pin ringshot-tx to core {core}; running unpinned"
                ));
            }
        }
        if let Some(prio) = self.cfg.sched_fifo {
            if let Err(e) = sys::unix::thread::set_fifo(prio) {
                self.notice(format!(
                    "SCHED_FIFO priority {prio} refused ({e}); running SCHED_OTHER"
                ));
            }
        }
        if self.cfg.mlockall {
            if let Err(e) = sys::unix::thread::lock_memory() {
                self.notice(format!(
                    "mlockall refused ({e}); pages may fault in on the hot path"
                ));
            }
        }
    }

    fn notice(&mut self, msg: String) {
        eprintln!("ringshot: warning: {msg}");
        self.notices.push(msg);
    }

    /// Returns slots the kernel is done with to whoever hands them out next.
    fn reap(&mut self, wait: bool) -> Result<(), EngineError> {
        let in_kernel = &mut self.in_kernel;
        let supply = &mut self.supply;
        self.backend
            .reap(
                wait,
                &mut |slot| {
                    let token = in_kernel[slot as usize]
                        .take()
                        .expect("backend completed a slot it was not given");
                    match supply {
                        // Capacity equals the slot count, so the push cannot fail.
                        Supply::Rings { free, .. } => free.push(token).expect("free ring full"),
                        Supply::Source { free, .. } => free.push(token),
                    }
                },
                &mut self.metrics,
            )
            .map_err(EngineError::Send)
    }

    /// Takes up to one batch of packets, stamping headers. Returns false when the stream is over.
    fn gather(&mut self, budget: usize) -> bool {
        self.pending.clear();
        let mut open = true;
        while self.pending.len() < budget {
            let (mut token, len, flags) = match &mut self.supply {
                Supply::Rings { ready, .. } => match ready.pop() {
                    Ok(p) => (p.token, p.len, p.flags),
                    Err(_) => {
                        open = !ready.is_abandoned() || !ready.is_empty();
                        break;
                    }
                },
                Supply::Source {
                    source,
                    free,
                    flags,
                    ended,
                } => {
                    if *ended {
                        open = false;
                        break;
                    }
                    let Some(mut token) = free.pop() else { break };
                    let buf = &mut self.slab.bytes_mut(&mut token)[HEADER_LEN..self.cfg.payload];
                    let room = buf.len();
                    match source.fill(self.next_seq, buf) {
                        Some(n) => (token, (HEADER_LEN + n.min(room)) as u32, *flags),
                        None => {
                            *ended = true;
                            free.push(token);
                            open = false;
                            break;
                        }
                    }
                }
            };
            let bytes = self.slab.bytes_mut(&mut token);
            header::Repr {
                flags,
                stream_id: self.cfg.stream_id,
                seq: self.next_seq,
            }
            .emit(&mut header::Packet::new_unchecked(&mut bytes[..HEADER_LEN]));
            self.next_seq += 1;
            let slot = token.index();
            self.in_kernel[slot as usize] = Some(token);
            self.pending.push(TxDesc { slot, len });
        }
        open && !self.shared.stop.load(Ordering::Relaxed)
    }

    fn submit_pending(&mut self) -> Result<(), EngineError> {
        let mut off = 0;
        while off < self.pending.len() {
            let k = self
                .backend
                .submit(&self.slab, &self.pending[off..], &mut self.metrics)
                .map_err(EngineError::Send)?;
            off += k;
            if k == 0 {
                self.reap(true)?;
            }
        }
        Ok(())
    }

    fn idle(&mut self, backoff: &mut Backoff) {
        if !backoff.step() {
            return;
        }
        self.shared.parked.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let empty = match &self.supply {
            Supply::Rings { ready, .. } => ready.is_empty() && !ready.is_abandoned(),
            Supply::Source { .. } => true,
        };
        if empty && !self.shared.stop.load(Ordering::Relaxed) {
            // Bounded, so a wake-up lost to a race costs at most this long.
            std::thread::park_timeout(Duration::from_micros(200));
        }
        self.shared.parked.store(false, Ordering::Relaxed);
    }

    /// Packets the window allows now. While it is closed, waits (spin, then yield, then short
    /// sleeps, per `window_wait`) until an ACK opens it, the device restarts, the stall timeout
    /// passes or the stream is stopped.
    fn credit(&mut self) -> Result<u64, FlowStop> {
        let sent = self.next_seq;
        let policy = self.cfg.window_wait;
        let timeout = self.cfg.stall_timeout;
        let shared = &self.shared;
        let Some(f) = &mut self.flow else {
            return Ok(u64::MAX);
        };
        let mut closed_since: Option<Instant> = None;
        let mut backoff = Backoff::new(policy);
        loop {
            f.observe();
            if f.state.generation() != f.generation {
                return Err(FlowStop::Restarted);
            }
            let credit = f.state.credit(
                sent,
                f.sent_bytes,
                f.window_packets,
                f.window_bytes,
                f.frame,
            );
            if credit > 0 {
                if let Some(t) = closed_since {
                    record_clamped(&mut f.wait_ns, t.elapsed().as_nanos() as u64);
                }
                return Ok(credit);
            }
            let now = Instant::now();
            let since = *closed_since.get_or_insert_with(|| {
                f.waits += 1;
                now
            });
            if now.duration_since(since) >= timeout {
                return Err(FlowStop::Stalled(now.duration_since(since)));
            }
            if shared.stop.load(Ordering::Relaxed) {
                return Err(FlowStop::Stopped);
            }
            if backoff.step() {
                std::thread::sleep(Duration::from_micros(20));
            }
        }
    }

    fn run(mut self) -> Result<TxReport, EngineError> {
        let cpu0 = sys::unix::thread::thread_cpu_ns();
        let mut started: Option<Instant> = None;
        let mut last_submit = Instant::now();
        let mut backoff = Backoff::new(self.cfg.idle);
        let batch = self.cfg.batch;
        let mut pacer = self.cfg.rate.map(|r| {
            Pacer::new(r.pps(self.cfg.payload), self.cfg.burst).with_prefill(self.cfg.prefill)
        });
        let mut lateness = latency_histogram();
        let mut flow_end: Option<FlowStop> = None;
        loop {
            self.reap(false)?;
            let mut budget = batch;
            if let Some(p) = &mut pacer {
                let quantum = self.cfg.pace_quantum;
                // More than a burst never becomes due at once (the rest slips), so a full
                // gathering is whichever is smaller.
                let full = (batch as u64).min(self.cfg.burst);
                let allow = loop {
                    let (a, late) = p.allowance(Instant::now());
                    // With a quantum, gather what falls due within it into one submit (fewer
                    // syscalls and receiver wake-ups) unless a full gathering is due already.
                    if a > 0 && (late >= quantum || a >= full) {
                        break a;
                    }
                    let first = p.next_due().expect("schedule started");
                    let due = if a == 0 {
                        first
                    } else {
                        (first + quantum).min(p.due_after(full - 1))
                    };
                    // Keep noticing ACKs while waiting, so visibility is not one interval late.
                    match &mut self.flow {
                        Some(f) => Pacer::wait_until_with(due, || f.observe()),
                        None => Pacer::wait_until(due),
                    }
                };
                budget = budget.min(allow as usize);
            }
            match self.credit() {
                Ok(c) => budget = budget.min(c.min(batch as u64) as usize),
                Err(FlowStop::Stopped) => break,
                Err(FlowStop::Stalled(w)) => {
                    flow_end = Some(FlowStop::Stalled(w));
                    break;
                }
                Err(FlowStop::Restarted) => {
                    flow_end = Some(FlowStop::Restarted);
                    break;
                }
            }
            let open = self.gather(budget);
            if self.pending.is_empty() {
                if !open {
                    break;
                }
                if self.backend.in_flight() > 0 && matches!(self.supply, Supply::Source { .. }) {
                    // All slots are with the kernel: wait for one back.
                    self.reap(true)?;
                } else {
                    self.idle(&mut backoff);
                }
                continue;
            }
            backoff.reset();
            started.get_or_insert_with(Instant::now);
            if let Some(due) = pacer.as_ref().and_then(Pacer::next_due) {
                let late = Instant::now().saturating_duration_since(due);
                record_clamped(&mut lateness, late.as_nanos() as u64);
            }
            if let Some(f) = &mut self.flow {
                f.sent_bytes += self.pending.iter().map(|p| p.len as u64).sum::<u64>();
                // Before the kernel sees them: a loopback device can answer before send returns.
                f.state.publish_sent(self.next_seq, f.sent_bytes);
            }
            self.submit_pending()?;
            last_submit = Instant::now();
            if let Some(p) = &mut pacer {
                p.release(self.pending.len() as u64);
            }
            self.shared
                .sent
                .store(self.metrics.packets, Ordering::Relaxed);
            if !open {
                break;
            }
        }
        while self.backend.in_flight() > 0 {
            self.reap(true)?;
        }
        let elapsed = started.map_or(Duration::ZERO, |t| t.elapsed());
        let cpu = sys::unix::thread::thread_cpu_ns().saturating_sub(cpu0);
        let mut report = TxReport::new(&self.metrics, self.backend.as_ref(), elapsed, cpu);
        report.notices = std::mem::take(&mut self.notices);
        if let (Some(p), Some(t0)) = (&pacer, started) {
            let target = self.cfg.rate.expect("paced").pps(self.cfg.payload);
            // Packets sent on schedule span (n − 1) intervals from the first departure to the
            // last; adding one interval makes an exact schedule measure exactly `target`.
            let span = last_submit.duration_since(t0).as_secs_f64() + 1.0 / target;
            // The prefill leaves at once by design; the rate is that of the paced part.
            let achieved = self.metrics.packets.saturating_sub(p.prefill()) as f64 / span;
            report.rate_target_pps = Some(target);
            report.rate_error_pct = Some((achieved - target) / target * 100.0);
            report.lateness_ns = Some(Percentiles::of(&lateness));
            report.schedule_slips = p.slipped();
        }
        if let Some(f) = &self.flow {
            report.window_waits = f.waits;
            report.window_wait_ns = Some(Percentiles::of(&f.wait_ns));
            report.ack_visibility_ns = Some(Percentiles::of(&f.visibility_ns));
            let (sent, acked) = (self.next_seq, f.state.acked_packets());
            match flow_end {
                Some(FlowStop::Stalled(waited)) => {
                    report.stalled = true;
                    return Err(EngineError::Stalled {
                        sent,
                        acked,
                        waited,
                        report: Box::new(report),
                    });
                }
                Some(FlowStop::Restarted) => {
                    return Err(EngineError::DeviceRestarted {
                        sent,
                        acked,
                        report: Box::new(report),
                    })
                }
                Some(FlowStop::Stopped) | None => {}
            }
        }
        Ok(report)
    }
}

/// Builds the engine for `supply` and starts its thread.
fn start(
    cfg: SenderConfig,
    opened: Opened,
    supply: Supply,
) -> Result<(EngineThread, Arc<Shared>, Vec<String>), EngineError> {
    let slots = opened.slab.slots() as usize;
    let shared = Arc::new(Shared::default());
    let flow = opened.flow.clone().map(|s| TxFlow::new(&cfg, s));
    let notices = opened.notices.clone();
    let engine = Engine {
        in_kernel: (0..slots).map(|_| None).collect(),
        pending: Vec::with_capacity(cfg.batch),
        next_seq: cfg.start_seq,
        cfg,
        slab: opened.slab,
        backend: opened.backend,
        supply,
        shared: shared.clone(),
        metrics: TxMetrics::new(),
        notices: opened.notices,
        flow,
    };
    let thread = spawn_engine(engine)?;
    Ok((
        EngineThread {
            thread: Some(thread),
            ack: opened.ack,
            flow: opened.flow,
        },
        shared,
        notices,
    ))
}

/// The app's handle on an engine fed in push mode.
#[derive(Debug)]
pub struct Sender {
    slab: Arc<Slab>,
    ready: rtrb::Producer<ReadyPacket>,
    free: rtrb::Consumer<SlotToken>,
    spare: Option<SlotToken>,
    shared: Arc<Shared>,
    engine: EngineThread,
    payload: usize,
    window: (Option<u64>, Option<u64>),
}

impl Sender {
    /// Opens the socket and backend (so set-up errors come back here), starts the ACK core when
    /// flow control is configured, and starts the engine thread, `ringshot-tx`.
    pub fn spawn(cfg: SenderConfig) -> Result<Sender, EngineError> {
        let mut opened = open(&cfg)?;
        let slab = opened.slab.clone();
        let slots = slab.slots() as usize;
        let (ready_tx, ready_rx) = rtrb::RingBuffer::new(slots);
        let (mut free_tx, free_rx) = rtrb::RingBuffer::new(slots);
        for t in std::mem::take(&mut opened.tokens) {
            free_tx.push(t).expect("free ring sized for every slot");
        }
        let payload = cfg.payload;
        let window = (cfg.window_packets, cfg.window_bytes);
        let supply = Supply::Rings {
            ready: ready_rx,
            free: free_tx,
        };
        let (engine, shared, _) = start(cfg, opened, supply)?;
        Ok(Sender {
            slab,
            ready: ready_tx,
            free: free_rx,
            spare: None,
            shared,
            engine,
            payload,
            window,
        })
    }

    /// Packets sent so far (updated once per batch).
    pub fn progress(&self) -> u64 {
        self.shared.sent.load(Ordering::Relaxed)
    }

    /// Packets the device has room for now, per the latest ACK, or `None` without flow control.
    /// Packets committed but not yet sent are not subtracted.
    pub fn credit(&self) -> Option<u64> {
        self.engine.credit(self.window, self.payload as u64)
    }

    /// Whether the device can take at least one more packet now (always true without flow
    /// control): the original streamer's `ready()`.
    pub fn ready(&self) -> bool {
        self.credit().is_none_or(|c| c > 0)
    }

    /// The flow-control state shared with the ACK core, for apps that want to watch it.
    pub fn flow(&self) -> Option<&Arc<FlowState>> {
        self.engine.flow.as_ref()
    }

    /// Device events (underflow, sequence error, ...) queued by the ACK core. Never blocks.
    pub fn events(&mut self) -> impl Iterator<Item = crate::flow::AckEvent> + '_ {
        self.engine.ack.iter_mut().flat_map(|a| a.events())
    }

    /// Largest application payload per packet (the configured payload minus the header).
    pub fn max_app_payload(&self) -> usize {
        self.payload - HEADER_LEN
    }

    /// Takes a free packet buffer, or `None` if every slot is queued or with the kernel.
    pub fn reserve(&mut self) -> Option<Reserved<'_>> {
        let token = match self.spare.take() {
            Some(t) => t,
            None => self.free.pop().ok()?,
        };
        Some(Reserved {
            sender: self,
            token: Some(token),
            flags: 0,
        })
    }

    /// Copies `data` into a slot and queues it, waiting for a free slot if needed.
    pub fn send(&mut self, data: &[u8]) -> Result<(), EngineError> {
        assert!(
            data.len() <= self.max_app_payload(),
            "packet larger than the configured payload"
        );
        let mut backoff = Backoff::new(IdlePolicy::Adaptive);
        loop {
            if let Some(mut r) = self.reserve() {
                r.payload_mut()[..data.len()].copy_from_slice(data);
                r.commit(data.len());
                return Ok(());
            }
            if self.engine.is_finished() {
                return Err(EngineError::Closed);
            }
            if backoff.step() {
                std::thread::yield_now();
            }
        }
    }

    fn push_ready(&mut self, token: SlotToken, len: u32, flags: u8) {
        // The ready ring holds every slot, and every slot is either here or free: never full.
        self.ready
            .push(ReadyPacket { token, len, flags })
            .expect("ready ring sized for every slot");
        fence(Ordering::SeqCst);
        if self.shared.parked.load(Ordering::Relaxed) {
            self.engine.unpark();
        }
    }

    /// Ends the stream after every queued packet is sent and returns the engine's report.
    pub fn finish(mut self) -> Result<TxReport, EngineError> {
        self.join()
    }

    fn join(&mut self) -> Result<TxReport, EngineError> {
        // Abandoning the ready ring tells the engine no more packets will come.
        let (dead, _) = rtrb::RingBuffer::new(1);
        drop(std::mem::replace(&mut self.ready, dead));
        self.engine.unpark();
        self.engine.join()
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        if self.engine.thread.is_some() {
            let _ = self.join();
        }
    }
}

/// A reserved packet buffer. Write the application bytes, then [`commit`](Self::commit); dropping
/// it uncommitted gives the slot back.
#[derive(Debug)]
pub struct Reserved<'a> {
    sender: &'a mut Sender,
    token: Option<SlotToken>,
    flags: u8,
}

impl Reserved<'_> {
    /// The application part of the packet (after the ringshot header).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let payload = self.sender.payload;
        let token = self.token.as_mut().expect("reserved slot");
        &mut self.sender.slab.bytes_mut(token)[HEADER_LEN..payload]
    }

    /// Sets header flags (for example [`header::FLAG_PATTERN`]).
    pub fn set_flags(&mut self, flags: u8) {
        self.flags = flags;
    }

    /// Queues the packet with `len` application bytes.
    pub fn commit(mut self, len: usize) {
        let len = len.min(self.sender.payload - HEADER_LEN);
        let token = self.token.take().expect("reserved slot");
        self.sender
            .push_ready(token, (HEADER_LEN + len) as u32, self.flags);
    }
}

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        if let Some(t) = self.token.take() {
            self.sender.spare = Some(t);
        }
    }
}

/// An engine fed in pull mode by a [`PacketSource`] on its own thread.
#[derive(Debug)]
pub struct SourceSender {
    shared: Arc<Shared>,
    engine: EngineThread,
    notices: Vec<String>,
}

impl SourceSender {
    /// Opens the socket and backend, starts the ACK core when flow control is configured, and
    /// starts `ringshot-tx` pulling from `source`.
    pub fn spawn<S: PacketSource>(
        cfg: SenderConfig,
        source: S,
    ) -> Result<SourceSender, EngineError> {
        let mut opened = open(&cfg)?;
        let flags = source.flags();
        let supply = Supply::Source {
            source: Box::new(source),
            free: std::mem::take(&mut opened.tokens)
                .into_iter()
                .rev()
                .collect(),
            flags,
            ended: false,
        };
        let (engine, shared, notices) = start(cfg, opened, supply)?;
        Ok(SourceSender {
            shared,
            engine,
            notices,
        })
    }

    /// One-line messages from set-up: backend fallbacks, features the kernel lacks.
    pub fn notices(&self) -> &[String] {
        &self.notices
    }

    /// The flow-control state shared with the ACK core.
    pub fn flow(&self) -> Option<&Arc<FlowState>> {
        self.engine.flow.as_ref()
    }

    /// Device events queued by the ACK core. Never blocks.
    pub fn events(&mut self) -> impl Iterator<Item = crate::flow::AckEvent> + '_ {
        self.engine.ack.iter_mut().flat_map(|a| a.events())
    }

    /// Ends the stream at the next batch (for Ctrl-C handlers).
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }

    /// Packets sent so far (updated once per batch).
    pub fn progress(&self) -> u64 {
        self.shared.sent.load(Ordering::Relaxed)
    }

    /// Whether the engine has finished.
    pub fn is_finished(&self) -> bool {
        self.engine.is_finished()
    }

    /// Waits for the stream to end and returns the report.
    pub fn join(mut self) -> Result<TxReport, EngineError> {
        self.engine.join()
    }
}

impl Drop for SourceSender {
    fn drop(&mut self) {
        if self.engine.thread.is_some() {
            self.stop();
            let _ = self.engine.join();
        }
    }
}

/// A [`PacketSource`] that sends `count` packets (or until `duration` passes) of `payload` bytes,
/// each filled with the check pattern so receivers can verify contents.
#[derive(Debug, Clone)]
pub struct PatternSource {
    count: Option<u64>,
    deadline: Option<Instant>,
    duration: Option<Duration>,
    app_len: usize,
    sent: u64,
}

impl PatternSource {
    /// `payload` is the whole UDP payload (header included).
    pub fn new(payload: usize, count: Option<u64>, duration: Option<Duration>) -> PatternSource {
        PatternSource {
            count,
            deadline: None,
            duration,
            app_len: payload.saturating_sub(HEADER_LEN),
            sent: 0,
        }
    }
}

impl PacketSource for PatternSource {
    fn fill(&mut self, seq: u64, buf: &mut [u8]) -> Option<usize> {
        if self.count.is_some_and(|c| self.sent >= c) {
            return None;
        }
        if let Some(d) = self.duration {
            // Check the clock once per 64 packets: a vDSO call per packet is wasted work.
            if self.sent.is_multiple_of(64) {
                let now = Instant::now();
                let deadline = *self.deadline.get_or_insert(now + d);
                if now >= deadline {
                    return None;
                }
            }
        }
        let n = self.app_len.min(buf.len());
        header::fill_pattern(seq, &mut buf[..n]);
        self.sent += 1;
        Some(n)
    }

    fn flags(&self) -> u8 {
        header::FLAG_PATTERN
    }
}
