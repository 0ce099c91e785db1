//! The draining receiver: it keeps up with the sender, checks every packet, and is the base the
//! device emulator builds on.
//!
//! # The receive path
//!
//! ```text
//!   socket ──► RxBackend (src/sys) ──► run loop (here) ──► DatagramSink stack ──► RecvReport
//!              recvmmsg ×64 | io_uring     cuts GRO buffers     e.g. FaultInjector
//!              multishot RECVMSG           into segments,        └► StreamChecker
//!                                          stop conditions,          (header, pattern,
//!                                          progress atomics           SeqTracker per stream)
//! ```
//!
//! 1. **Backend** ([`crate::backend::RxBackend`]). The OS-specific part: receive a batch of
//!    datagrams into buffers allocated once, without blocking, and report each one's bytes,
//!    source address, kernel receive timestamp and GRO segment size; wait for readability with a
//!    timeout. `mmsg` calls recvmmsg for 64 datagrams at a time; `uring` keeps one io_uring
//!    multishot RECVMSG armed over a ring of provided buffers and re-arms it whenever a completion
//!    arrives without `IORING_CQE_F_MORE` (for example when the buffers ran out: `ENOBUFS`).
//!    `auto` prefers `uring` and falls back to `mmsg` with a one-line notice. The socket gets a
//!    large receive buffer (SO_RCVBUFFORCE when permitted), UDP GRO, the SO_RXQ_OVFL kernel drop
//!    counter and SO_TIMESTAMPNS receive timestamps, each where the kernel allows it.
//! 2. **Run loop** ([`Receiver`]). Drains the socket until the backend reports nothing ready
//!    (EAGAIN), then waits for readability (at most 50 ms, so a stop request is seen promptly).
//!    With GRO one buffer may hold many datagrams: the loop cuts it into segments of the size
//!    the kernel reported (the last one possibly shorter) and hands each to the sink with its
//!    source address and receive time. Per batch, not per packet, it publishes progress
//!    ([`RecvControl::progress`]), checks the stop flag and the packet count, and calls
//!    [`DatagramSink::tick`]. It stops after `count` packets, after `idle_exit` without a packet
//!    (once the first has arrived), or when asked ([`Receiver::stop`]).
//! 3. **Sinks** ([`DatagramSink`]). Everything that looks at the datagrams. The
//!    [`StreamChecker`] at the bottom parses the ringshot header (malformed datagrams are counted
//!    by [`crate::wire::WireError::name`] and dropped), verifies the payload pattern, records the
//!    inter-arrival gap in a pre-allocated HDR histogram and feeds a [`SeqTracker`] per sender
//!    ([`RecvConfigBuilder::senders`]) and stream id, which classifies each sequence number
//!    exactly (lost, reordered, duplicate, late) with a bounded reorder window. Middleware such as the device emulator's seeded fault injector
//!    wraps the checker, as smoltcp's `FaultInjector` wraps a device, and forwards
//!    [`DatagramSink::checker`] so the report can still be built.
//!
//! Nothing on this path allocates, locks or makes a syscall per packet: buffers, histograms and
//! windows are allocated before the first packet (a new stream id allocates its window once).

pub mod check;
mod config;
pub mod formats;
pub mod framecheck;
mod gaps;
pub mod lanes;
mod report;
pub mod seq;
pub mod sink;
mod source;
pub mod spead;
pub mod streams;

use std::fmt;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::framing::Format;

pub use crate::sys::rx::RxChoice as RecvBackend;
use crate::sys::rx::{open_rx, RxBackend, RxDatagram};
pub use check::StreamChecker;
pub use config::{
    RecvConfig, RecvConfigBuilder, RecvConfigError, DEFAULT_RCVBUF, DEFAULT_URING_BUFFERS,
};
pub use gaps::GapInterval;
pub use lanes::MAX_SENDERS;
pub use report::{GapSummary, RecvReport};
pub use seq::{Arrival, SeqCounts, SeqTracker, DEFAULT_MAX_SEQ_JUMP, DEFAULT_WINDOW};
pub use sink::{now_ns, DatagramSink, RxMeta};
pub use source::MAX_FOREIGN_LISTED;
use source::{ForeignTally, SourceFilter};
pub use streams::{StreamSummary, Streams, DEFAULT_STREAM_IDLE};

/// Longest single wait for data, so stop requests and idle exits are noticed promptly.
const MAX_WAIT: Duration = Duration::from_millis(50);

/// Why a receiver could not start or stopped with an error.
///
/// ```
/// use ringshot::recv::{Receiver, RecvConfig, RecvError};
///
/// // A port another socket holds: the receiver cannot bind it.
/// let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
/// let cfg = RecvConfig::builder(taken.local_addr().unwrap()).build().unwrap();
/// match Receiver::spawn(cfg) {
///     Err(e @ RecvError::Socket(_)) => assert!(e.to_string().starts_with("receive socket: ")),
///     other => panic!("expected a socket error, got {other:?}"),
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum RecvError {
    /// Binding or setting up the socket failed.
    Socket(io::Error),
    /// The backend asked for cannot run here.
    BackendUnavailable {
        backend: &'static str,
        reason: String,
    },
    /// A receive call failed while running.
    Io(io::Error),
    /// The receive thread could not be started or panicked.
    Thread(String),
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Socket(e) => write!(f, "receive socket: {e}"),
            RecvError::BackendUnavailable { backend, reason } => {
                write!(f, "receive backend {backend} is unavailable: {reason}")
            }
            RecvError::Io(e) => write!(f, "receive failed: {e}"),
            RecvError::Thread(e) => write!(f, "receive thread: {e}"),
        }
    }
}

impl std::error::Error for RecvError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RecvError::Socket(e) | RecvError::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// Shared between the receive thread and its owner: the stop flag and the live progress counters
/// (updated once per batch, relaxed).
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use ringshot::recv::{Receiver, RecvConfig, RecvControl, StopReason};
///
/// let cfg = RecvConfig::builder("127.0.0.1:0".parse().unwrap()).build().unwrap();
/// let control = Arc::new(RecvControl::new());
/// let stopper = {
///     let control = control.clone();
///     std::thread::spawn(move || {
///         std::thread::sleep(Duration::from_millis(20));
///         control.stop(); // the receiver notices within about 50 ms
///     })
/// };
/// let report = Receiver::run(&cfg, &control).unwrap(); // on this thread
/// stopper.join().unwrap();
/// assert!(control.is_stopped());
/// assert_eq!((report.stop, control.progress(), control.lost()), (StopReason::Stopped, (0, 0), 0));
/// ```
#[derive(Debug, Default)]
pub struct RecvControl {
    stop: AtomicBool,
    packets: AtomicU64,
    bytes: AtomicU64,
    lost: AtomicU64,
}

impl RecvControl {
    pub fn new() -> RecvControl {
        RecvControl::default()
    }
    /// Asks the receiver to stop; it does within about 50 ms.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
    pub fn is_stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
    /// Packets counted lost so far (0 without a [`StreamChecker`]), updated once per batch.
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }
    /// (packets, bytes) received so far: valid packets when a [`StreamChecker`] is in the sink
    /// stack, else datagrams.
    pub fn progress(&self) -> (u64, u64) {
        (
            self.packets.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }
}

/// Why the run loop ended.
///
/// ```
/// use std::time::Duration;
/// use ringshot::recv::{Receiver, RecvConfig, StopReason};
///
/// // Nothing arrives: with the idle time counted from the start, the run ends by itself.
/// let cfg = RecvConfig::builder("127.0.0.1:0".parse().unwrap())
///     .idle_exit(Duration::from_millis(30))
///     .idle_from_start(true)
///     .build()
///     .unwrap();
/// let report = Receiver::spawn(cfg).unwrap().join().unwrap();
/// assert_eq!((report.stop, report.packets), (StopReason::Idle, 0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StopReason {
    /// The configured packet count was reached.
    Count,
    /// No datagram arrived for the idle-exit time.
    Idle,
    /// [`Receiver::stop`] or [`RecvControl::stop`].
    #[default]
    Stopped,
}

/// What the run loop itself counted.
#[derive(Debug, Default)]
struct RunStats {
    streams: Vec<StreamSummary>,
    datagrams: u64,
    foreign: ForeignTally,
    bytes: u64,
    truncated: u64,
    batches: u64,
    stop: StopReason,
}

/// Binds (unless given a socket) and opens the backend.
fn open(
    cfg: &RecvConfig,
    sock: Option<UdpSocket>,
) -> Result<(Box<dyn RxBackend>, Vec<String>), RecvError> {
    let sock = match sock {
        Some(s) => s,
        None => crate::sys::open_recv_socket(cfg.bind, cfg.rx_options().rcvbuf)
            .map_err(RecvError::Socket)?,
    };
    open_rx(sock, &cfg.rx_options()).map_err(|e| RecvError::BackendUnavailable {
        backend: e.backend,
        reason: e.error.to_string(),
    })
}

/// Drains `backend` into `sink` until a stop condition. See the module documentation.
fn drive<S: DatagramSink + ?Sized>(
    backend: &mut dyn RxBackend,
    sink: &mut S,
    cfg: &RecvConfig,
    control: &RecvControl,
) -> Result<RunStats, RecvError> {
    let mut run = RunStats::default();
    let mut intake = Intake::new(cfg, sink.checker());
    let mut last_rx: Option<Instant> = cfg.idle_from_start.then(Instant::now);
    run.stop = loop {
        if control.is_stopped() {
            break StopReason::Stopped;
        }
        intake.batch_ns = 0;
        let n = backend
            .recv_batch(&mut |d| intake.take(d, sink))
            .map_err(RecvError::Io)?;
        if n > 0 {
            run.batches += 1;
            last_rx = Some(Instant::now());
            sink.tick(now_ns());
            let (packets, bytes) = match sink.checker() {
                Some(c) => {
                    control.lost.store(c.totals().0, Ordering::Relaxed);
                    (c.packets(), c.bytes())
                }
                None => (intake.datagrams, intake.bytes),
            };
            control.packets.store(packets, Ordering::Relaxed);
            control.bytes.store(bytes, Ordering::Relaxed);
            if cfg.count.is_some_and(|c| packets >= c) {
                break StopReason::Count;
            }
            continue; // drain until the backend has nothing (EAGAIN)
        }
        let mut timeout = MAX_WAIT;
        if let (Some(idle), Some(last)) = (cfg.idle_exit, last_rx) {
            let quiet = last.elapsed();
            if quiet >= idle {
                break StopReason::Idle;
            }
            timeout = timeout.min(idle - quiet);
        }
        if let Some(t) = sink.tick(now_ns()) {
            timeout = timeout.min(t);
        }
        backend.wait(timeout).map_err(RecvError::Io)?;
    };
    sink.finish(now_ns());
    intake.streams.close(sink.checker(), "end");
    run.streams = intake.streams.take();
    run.datagrams = intake.datagrams;
    run.foreign = intake.streams.tally().clone();
    if let Some(f) = &intake.sources {
        run.foreign.merge(f.tally());
    }
    run.bytes = intake.bytes;
    run.truncated = intake.truncated;
    Ok(run)
}

/// The run loop's intake: which senders it follows, which streams are open, and the running
/// counts of what it handed on.
struct Intake {
    /// Follows one sender for the whole run (one sender, not reusable); else everything goes
    /// to `streams`.
    sources: Option<SourceFilter>,
    streams: Streams,
    /// The current batch's read time, for buffers without a kernel timestamp (0: not read yet).
    batch_ns: u64,
    /// Datagrams handed to the sink (GRO segments one by one), and their bytes.
    datagrams: u64,
    bytes: u64,
    /// Buffers the kernel cut (MSG_TRUNC), dropped.
    truncated: u64,
}

impl Intake {
    fn new(cfg: &RecvConfig, checker: Option<&StreamChecker>) -> Intake {
        // Sequence numbers are read as the checker's format has them; a stack without a checker
        // reads none.
        let format = checker.map_or(Format::Raw, StreamChecker::format);
        // A checker with fewer lanes than senders would mix their sequence spaces: follow no
        // more senders than it checks apart.
        let senders = match checker {
            Some(c) if c.senders() < cfg.senders => {
                log::warn!(
                    "the sink stack's checker tells {} senders apart, not {}: following {}",
                    c.senders(),
                    cfg.senders,
                    c.senders()
                );
                c.senders()
            }
            _ => cfg.senders,
        };
        let one = senders == 1 && !cfg.streams;
        Intake {
            sources: one.then(|| SourceFilter::new(cfg.from)),
            streams: Streams::with_split(cfg.streams, cfg.start_seq, cfg.stream_idle)
                .with_format(format)
                .with_senders(senders),
            batch_ns: 0,
            datagrams: 0,
            bytes: 0,
            truncated: 0,
        }
    }

    /// Takes one received buffer: drops it if it comes from a sender not followed, opens a new
    /// stream if it starts one, and hands it to `sink` cut into its GRO segments.
    #[inline]
    fn take<S: DatagramSink + ?Sized>(&mut self, d: &RxDatagram<'_>, sink: &mut S) {
        // Foreign datagrams are counted one by one, however many one GRO buffer holds.
        let count = segments(d);
        if let Some(f) = &mut self.sources {
            if !f.admit(d.src, count) {
                return;
            }
        }
        let at_ns = if d.at_ns != 0 {
            d.at_ns
        } else {
            if self.batch_ns == 0 {
                self.batch_ns = now_ns();
            }
            self.batch_ns
        };
        match self
            .streams
            .admit(sink.checker(), d.src, d.data, count, at_ns)
        {
            streams::Admit::Yes => {}
            streams::Admit::Foreign => return,
            streams::Admit::NewStream(why) => {
                if let Some(src) = self.streams.closing() {
                    sink.end_stream(src);
                }
                self.streams.close(sink.checker(), why);
                self.streams
                    .admit(sink.checker(), d.src, d.data, count, at_ns);
            }
        }
        if d.truncated {
            self.truncated += 1;
            return;
        }
        let meta = RxMeta { src: d.src, at_ns };
        self.bytes += d.data.len() as u64;
        if d.segment > 0 && d.data.len() > d.segment {
            for seg in d.data.chunks(d.segment) {
                self.streams.saw(seg);
                sink.datagram(seg, &meta);
                self.datagrams += 1;
            }
        } else {
            self.streams.saw(d.data);
            sink.datagram(d.data, &meta);
            self.datagrams += 1;
        }
    }
}

/// How many datagrams a received buffer holds: with GRO, its length over the segment size,
/// rounded up (the last segment may be shorter); else one.
#[inline]
fn segments(d: &RxDatagram<'_>) -> u64 {
    if d.segment > 0 && d.data.len() > d.segment {
        d.data.len().div_ceil(d.segment) as u64
    } else {
        1
    }
}

/// What the receive thread tells `spawn` once it is ready.
struct Ready {
    local_addr: io::Result<SocketAddr>,
    backend: &'static str,
    gro: bool,
    notices: Vec<String>,
}

/// A receiver running on its own thread (`ringshot-rx`, pinned when configured), feeding a sink
/// stack `S` ([`StreamChecker`] by default). Dropping it stops the thread and waits for it.
///
/// ```
/// use std::time::Duration;
/// use ringshot::recv::{Receiver, RecvConfig, StopReason};
/// use ringshot::{PatternSource, SenderConfig, SourceSender};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cfg = RecvConfig::builder("127.0.0.1:0".parse()?)
///     .count(500)
///     .idle_exit(Duration::from_millis(500)) // in case some never arrive
///     .build()?;
/// let rx = Receiver::spawn(cfg)?; // bound and running: the address is known now
/// println!("receiving on {} with {} (GRO {})", rx.local_addr(), rx.backend(), rx.gro());
///
/// // A paced ringshot stream of 500 pattern-filled packets.
/// let tx = SenderConfig::builder(rx.local_addr()).rate(ringshot::Rate::Pps(50_000.0)).build()?;
/// SourceSender::spawn(tx, PatternSource::new(1472, Some(500), None))?.finish()?;
///
/// let report = rx.join()?;
/// assert!(report.sequenced());
/// assert_eq!((report.corrupt, report.malformed.len()), (0, 0));
/// assert!(report.packets <= 500);
/// if report.stop == StopReason::Count {
///     assert_eq!((report.packets, report.lost, report.first_seq, report.last_seq), (500, 0, Some(0), Some(499)));
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Receiver<S: DatagramSink + 'static = StreamChecker> {
    handle: Option<JoinHandle<Result<(RecvReport, S), RecvError>>>,
    control: Arc<RecvControl>,
    local_addr: SocketAddr,
    backend: &'static str,
    gro: bool,
    notices: Vec<String>,
}

impl Receiver<StreamChecker> {
    /// Starts a receiver with the standard checker. Returns once the socket is bound and the
    /// backend open, so [`local_addr`](Self::local_addr) is known and senders can start.
    pub fn spawn(cfg: RecvConfig) -> Result<Receiver<StreamChecker>, RecvError> {
        let sink = cfg.checker();
        Receiver::spawn_with(cfg, sink)
    }

    /// Runs a receiver with the standard checker on the calling thread until a stop condition
    /// (no pinning, no thread). `control` may be shared to stop it or watch its progress.
    pub fn run(cfg: &RecvConfig, control: &RecvControl) -> Result<RecvReport, RecvError> {
        let mut sink = cfg.checker();
        Receiver::run_with(cfg, &mut sink, control)
    }
}

impl<S: DatagramSink + 'static> Receiver<S> {
    /// Starts a receiver that feeds `sink` (a middleware stack, typically with a
    /// [`StreamChecker`] at the bottom).
    pub fn spawn_with(cfg: RecvConfig, sink: S) -> Result<Receiver<S>, RecvError> {
        Receiver::start(cfg, None, sink)
    }

    /// Like [`spawn_with`](Self::spawn_with) on a socket the caller bound (and may have cloned,
    /// e.g. to send ACKs from the same port). `cfg.bind` is ignored.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ringshot::recv::{Receiver, RecvConfig};
    /// use ringshot::wire::header::pattern_packet;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // Bind the socket yourself (and keep a clone, e.g. to answer from the same port).
    /// let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// let answer_from = socket.try_clone()?;
    /// let cfg = RecvConfig::builder(socket.local_addr()?).count(1).idle_exit(Duration::from_secs(5)).build()?;
    /// let checker = cfg.checker();
    /// let rx = Receiver::spawn_on(cfg, socket, checker)?;
    /// let peer = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// peer.send_to(&pattern_packet(0, 0, 64), rx.local_addr())?;
    /// assert_eq!(rx.join()?.packets, 1);
    /// answer_from.send_to(b"ack", peer.local_addr()?)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn spawn_on(cfg: RecvConfig, socket: UdpSocket, sink: S) -> Result<Receiver<S>, RecvError> {
        Receiver::start(cfg, Some(socket), sink)
    }

    /// Runs on the calling thread, feeding `sink`, until a stop condition.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ringshot::recv::{Receiver, RecvConfig, RecvControl, StopReason};
    ///
    /// let cfg = RecvConfig::builder("127.0.0.1:0".parse().unwrap())
    ///     .idle_exit(Duration::from_millis(20))
    ///     .idle_from_start(true)
    ///     .build()
    ///     .unwrap();
    /// let mut checker = cfg.checker();
    /// let report = Receiver::run_with(&cfg, &mut checker, &RecvControl::new()).unwrap();
    /// assert_eq!(report.stop, StopReason::Idle);
    /// assert_eq!(checker.packets(), 0); // the sink is still yours afterwards
    /// ```
    pub fn run_with(
        cfg: &RecvConfig,
        sink: &mut S,
        control: &RecvControl,
    ) -> Result<RecvReport, RecvError> {
        let (mut backend, notices) = open(cfg, None)?;
        let run = drive(backend.as_mut(), sink, cfg, control)?;
        Ok(RecvReport::new(
            sink.checker(),
            &run,
            backend.as_ref(),
            notices,
        ))
    }

    fn start(
        cfg: RecvConfig,
        sock: Option<UdpSocket>,
        mut sink: S,
    ) -> Result<Receiver<S>, RecvError> {
        let control = Arc::new(RecvControl::new());
        let ctl = control.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel::<Result<Ready, RecvError>>(1);
        let handle = std::thread::Builder::new()
            .name("ringshot-rx".into())
            .spawn(move || {
                let mut notices = Vec::new();
                if let Some(core) = cfg.rx_core {
                    if !crate::sys::pin_current(core) {
                        notices.push(format!(
                            "could not pin the receive thread to core {core}; it runs unpinned"
                        ));
                    }
                }
                // The backend is opened here: an io_uring ring belongs to the thread that made it.
                let (mut backend, more) = match open(&cfg, sock) {
                    Ok(b) => b,
                    Err(e) => {
                        let reason = e.to_string();
                        let _ = ready_tx.send(Err(e));
                        return Err(RecvError::Thread(reason));
                    }
                };
                notices.extend(more);
                let _ = ready_tx.send(Ok(Ready {
                    local_addr: backend.local_addr(),
                    backend: backend.name(),
                    gro: backend.gro(),
                    notices: notices.clone(),
                }));
                let run = drive(backend.as_mut(), &mut sink, &cfg, &ctl)?;
                let report = RecvReport::new(sink.checker(), &run, backend.as_ref(), notices);
                Ok((report, sink))
            })
            .map_err(|e| RecvError::Thread(e.to_string()))?;
        let ready = match ready_rx.recv() {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                let _ = handle.join();
                return Err(e);
            }
            Err(_) => {
                let _ = handle.join();
                return Err(RecvError::Thread(
                    "the receive thread died while starting".into(),
                ));
            }
        };
        let local_addr = match ready.local_addr {
            Ok(a) => a,
            Err(e) => {
                control.stop();
                let _ = handle.join();
                return Err(RecvError::Socket(e));
            }
        };
        Ok(Receiver {
            handle: Some(handle),
            control,
            local_addr,
            backend: ready.backend,
            gro: ready.gro,
            notices: ready.notices,
        })
    }

    /// The bound address (with the port the kernel picked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The backend in use: `uring` or `mmsg`.
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// Whether UDP GRO is on.
    pub fn gro(&self) -> bool {
        self.gro
    }

    /// One-line notices from start-up (backend fallback, refused options, pinning).
    pub fn notices(&self) -> &[String] {
        &self.notices
    }

    /// The shared stop flag and progress counters.
    pub fn control(&self) -> Arc<RecvControl> {
        self.control.clone()
    }

    /// Asks the receiver to stop (within about 50 ms); then [`join`](Self::join).
    pub fn stop(&self) {
        self.control.stop();
    }

    /// (packets, bytes) so far, updated once per batch.
    pub fn progress(&self) -> (u64, u64) {
        self.control.progress()
    }

    /// Whether the receive thread has ended (stop condition reached or failed).
    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(|h| h.is_finished())
    }

    /// Waits for the receiver to end (by count, idle exit or [`stop`](Self::stop)) and returns
    /// its report.
    pub fn join(self) -> Result<RecvReport, RecvError> {
        self.join_with_sink().map(|(r, _)| r)
    }

    /// Like [`join`](Self::join), and gives the sink stack back (e.g. for a device model's own
    /// counters).
    pub fn join_with_sink(mut self) -> Result<(RecvReport, S), RecvError> {
        let handle = self.handle.take().expect("joined once");
        match handle.join() {
            Ok(r) => r,
            Err(_) => Err(RecvError::Thread("the receive thread panicked".into())),
        }
    }
}

impl<S: DatagramSink + 'static> Drop for Receiver<S> {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            self.control.stop();
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests;
#[cfg(all(test, ringshot_gso))]
mod unit_tests;
