//! The receiver's configuration: [`RecvConfig`], its builder and its validation.

use std::net::SocketAddr;
use std::time::Duration;

use super::{
    seq, RecvBackend, StreamChecker, DEFAULT_MAX_SEQ_JUMP, DEFAULT_STREAM_IDLE, DEFAULT_WINDOW,
};
use crate::sys::rx::RxOptions;

/// Default receive buffer asked for: 32 MiB.
pub const DEFAULT_RCVBUF: usize = 32 << 20;
/// Default number of io_uring provided buffers (64 KiB each).
pub const DEFAULT_URING_BUFFERS: u16 = 256;

/// A validated receiver configuration. Build it with [`RecvConfig::builder`].
///
/// ```
/// use ringshot::recv::{RecvBackend, RecvConfig, DEFAULT_WINDOW};
///
/// let cfg = RecvConfig::builder("0.0.0.0:5000".parse().unwrap()).build().unwrap();
/// assert_eq!((cfg.count(), cfg.idle_exit(), cfg.window()), (None, None, DEFAULT_WINDOW));
/// assert!(cfg.gro() && cfg.verify());
/// assert_eq!(cfg.backend(), RecvBackend::Auto);
/// ```
#[derive(Debug, Clone)]
pub struct RecvConfig {
    pub(crate) bind: SocketAddr,
    pub(crate) count: Option<u64>,
    pub(crate) idle_exit: Option<Duration>,
    pub(crate) rx_core: Option<usize>,
    pub(crate) backend: RecvBackend,
    pub(crate) rcvbuf: usize,
    pub(crate) window: usize,
    pub(crate) verify: bool,
    pub(crate) gro: bool,
    pub(crate) uring_buffers: u16,
    pub(crate) uring_unavailable: bool,
    pub(crate) start_seq: u64,
    pub(crate) from: Option<SocketAddr>,
    pub(crate) max_seq_jump: u64,
    pub(crate) streams: bool,
    pub(crate) senders: usize,
    pub(crate) stream_idle: Duration,
    pub(crate) idle_from_start: bool,
    pub(crate) timeline: Option<Duration>,
}

impl RecvConfig {
    /// Starts a builder for a receiver bound to `bind` (port 0 picks a free port), with the
    /// defaults: auto backend, GRO on, 32 MiB receive buffer, a 4096-packet reorder window,
    /// payload verification on, no count limit, no idle exit, no pinning.
    pub fn builder(bind: SocketAddr) -> RecvConfigBuilder {
        RecvConfigBuilder {
            cfg: RecvConfig {
                bind,
                count: None,
                idle_exit: None,
                rx_core: None,
                backend: RecvBackend::Auto,
                rcvbuf: DEFAULT_RCVBUF,
                window: DEFAULT_WINDOW,
                verify: true,
                gro: true,
                uring_buffers: DEFAULT_URING_BUFFERS,
                uring_unavailable: false,
                start_seq: 0,
                from: None,
                max_seq_jump: DEFAULT_MAX_SEQ_JUMP,
                streams: false,
                senders: 1,
                stream_idle: DEFAULT_STREAM_IDLE,
                idle_from_start: false,
                timeline: None,
            },
        }
    }

    pub fn bind(&self) -> SocketAddr {
        self.bind
    }
    pub fn count(&self) -> Option<u64> {
        self.count
    }
    pub fn idle_exit(&self) -> Option<Duration> {
        self.idle_exit
    }
    pub fn rx_core(&self) -> Option<usize> {
        self.rx_core
    }
    pub fn backend(&self) -> RecvBackend {
        self.backend
    }
    pub fn rcvbuf(&self) -> usize {
        self.rcvbuf
    }
    pub fn window(&self) -> usize {
        self.window
    }
    /// The sequence number streams start at.
    pub fn start_seq(&self) -> u64 {
        self.start_seq
    }
    pub fn verify(&self) -> bool {
        self.verify
    }
    pub fn gro(&self) -> bool {
        self.gro
    }
    /// The only sender believed, if configured (else the first datagram's source).
    pub fn from_addr(&self) -> Option<SocketAddr> {
        self.from
    }
    /// The bound on a believable sequence jump (see [`SeqTracker`](super::SeqTracker)).
    pub fn max_seq_jump(&self) -> u64 {
        self.max_seq_jump
    }
    /// How many senders are followed at the same time (see
    /// [`RecvConfigBuilder::senders`]).
    pub fn senders(&self) -> usize {
        self.senders
    }
    /// The [`StreamChecker`] this configuration asks for.
    ///
    /// ```
    /// use ringshot::recv::RecvConfig;
    ///
    /// let cfg = RecvConfig::builder("127.0.0.1:0".parse().unwrap()).start_seq(100).build().unwrap();
    /// let checker = cfg.checker(); // window, verification, start sequence and jump bound as configured
    /// assert_eq!(checker.packets(), 0);
    /// ```
    pub fn checker(&self) -> StreamChecker {
        StreamChecker::new(self.window, self.verify)
            .with_senders(self.senders)
            .with_start_seq(self.start_seq)
            .with_max_seq_jump(self.max_seq_jump)
            .with_timeline(self.timeline)
    }

    pub(super) fn rx_options(&self) -> RxOptions {
        RxOptions {
            choice: self.backend,
            gro: self.gro,
            rcvbuf: self.rcvbuf,
            uring_buffers: self.uring_buffers,
            uring_unavailable: self.uring_unavailable,
        }
    }
}

/// Builder for [`RecvConfig`]; [`build`](Self::build) validates.
///
/// ```
/// use std::time::Duration;
/// use ringshot::recv::RecvConfig;
///
/// let cfg = RecvConfig::builder("127.0.0.1:0".parse().unwrap())
///     .count(1_000_000)
///     .idle_exit(Duration::from_secs(2))
///     .window(1 << 16)
///     .from_addr(Some("192.168.1.10:40000".parse().unwrap())) // believe this sender only
///     .build()
///     .unwrap();
/// assert_eq!(cfg.from_addr().map(|a| a.port()), Some(40000));
///
/// // Options are checked at build: the error names the option.
/// let err = RecvConfig::builder("127.0.0.1:0".parse().unwrap()).count(0).build().unwrap_err();
/// assert_eq!(err.field, "count");
/// let err = RecvConfig::builder("127.0.0.1:0".parse().unwrap()).uring_buffers(100).build().unwrap_err();
/// assert_eq!(err.to_string(), "uring_buffers: 100 is not a power of two up to 32768");
/// ```
#[derive(Debug, Clone)]
pub struct RecvConfigBuilder {
    cfg: RecvConfig,
}

impl RecvConfigBuilder {
    /// Stop after this many valid packets (checked once per batch, so a batch may take it a
    /// little past). At least 1.
    pub fn count(mut self, n: u64) -> Self {
        self.cfg.count = Some(n);
        self
    }
    /// Stop when no datagram has arrived for this long, once the first one has.
    pub fn idle_exit(mut self, d: Duration) -> Self {
        self.cfg.idle_exit = Some(d);
        self
    }
    /// [`idle_exit`](Self::idle_exit) in milliseconds.
    pub fn idle_exit_ms(self, ms: u64) -> Self {
        self.idle_exit(Duration::from_millis(ms))
    }
    /// Pin the receive thread to this core.
    pub fn rx_core(mut self, core: usize) -> Self {
        self.cfg.rx_core = Some(core);
        self
    }
    pub fn backend(mut self, b: RecvBackend) -> Self {
        self.cfg.backend = b;
        self
    }
    /// SO_RCVBUF to ask for, in bytes (SO_RCVBUFFORCE first); 0 keeps the system default.
    pub fn rcvbuf(mut self, bytes: usize) -> Self {
        self.cfg.rcvbuf = bytes;
        self
    }
    /// Reorder window per stream, in sequence numbers (rounded up to a multiple of 64).
    pub fn window(mut self, n: usize) -> Self {
        self.cfg.window = n;
        self
    }
    /// Streams start at this sequence number (the sender's `--start-seq`), not 0.
    pub fn start_seq(mut self, seq: u64) -> Self {
        self.cfg.start_seq = seq;
        self
    }
    /// Check the payload pattern of packets that carry [`crate::wire::header::FLAG_PATTERN`].
    pub fn verify(mut self, on: bool) -> Self {
        self.cfg.verify = on;
        self
    }
    /// Ask for UDP GRO (used when the kernel has it).
    pub fn gro(mut self, on: bool) -> Self {
        self.cfg.gro = on;
        self
    }
    /// Provided buffers in the io_uring backend's ring (a power of two, up to 32768).
    pub fn uring_buffers(mut self, n: u16) -> Self {
        self.cfg.uring_buffers = n;
        self
    }
    /// Believe only datagrams from this address and port; `None` (the default) follows the
    /// source of the first datagram. Others are counted as `foreign` and dropped.
    pub fn from_addr(mut self, from: Option<SocketAddr>) -> Self {
        self.cfg.from = from;
        self
    }
    /// Largest believable jump of a stream's sequence number above the highest seen, in packets
    /// (default 2^20); farther ones are counted as `implausible` and ignored. At least 1.
    pub fn max_seq_jump(mut self, packets: u64) -> Self {
        self.cfg.max_seq_jump = packets;
        self
    }
    /// Be reusable: follow one sender at a time (or [`senders`](Self::senders) at a time) and
    /// split the run into streams (see [`streams`](super::streams)); without it (the default)
    /// the receiver follows its first sender (or first `senders`) for the whole run. Needs a sink stack that forwards [`DatagramSink::new_stream`](super::DatagramSink::new_stream) to its checker, and no
    /// [`from_addr`](Self::from_addr).
    pub fn streams(mut self, on: bool) -> Self {
        self.cfg.streams = on;
        self
    }
    /// Follow up to `n` senders at the same time, each by its source address with a stream and
    /// sequence checker of its own (default 1: one sender at a time). The first `n` distinct
    /// sources are followed; datagrams from a further one while all `n` stream are counted as
    /// `foreign` (reason `senders_busy`). With [`streams`](Self::streams) a followed sender that
    /// went quiet for the [`stream_idle`](Self::stream_idle) time gives its place to a new
    /// source, and each restarts on its own. 1 to [`MAX_SENDERS`](super::MAX_SENDERS); not with
    /// [`from_addr`](Self::from_addr). The sink stack's [`StreamChecker`] must be made for as many
    /// senders ([`RecvConfig::checker`] is); a stack that keeps per-sender state of its own
    /// forwards [`DatagramSink::end_stream`](super::DatagramSink::end_stream).
    ///
    /// ```
    /// use std::time::Duration;
    /// use ringshot::recv::{Receiver, RecvConfig};
    /// use ringshot::wire::header::pattern_packet;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // Two senders at once (as `ringshot send --engines 2`), each its own sequence space.
    /// let cfg = RecvConfig::builder("127.0.0.1:0".parse()?)
    ///     .senders(2)
    ///     .count(20)
    ///     .idle_exit(Duration::from_secs(5))
    ///     .build()?;
    /// let rx = Receiver::spawn(cfg)?;
    /// let (a, b) = (std::net::UdpSocket::bind("127.0.0.1:0")?, std::net::UdpSocket::bind("127.0.0.1:0")?);
    /// for seq in 0..10 {
    ///     a.send_to(&pattern_packet(0, seq, 64), rx.local_addr())?;
    ///     b.send_to(&pattern_packet(0, seq, 64), rx.local_addr())?;
    /// }
    /// let r = rx.join()?;
    /// assert_eq!((r.packets, r.lost, r.duplicates, r.foreign), (20, 0, 0, 0));
    /// assert_eq!(r.streams.len(), 2); // one summary per sender
    /// assert!(r.streams.iter().all(|s| s.packets == 10 && s.last_seq == Some(9)));
    /// # Ok(())
    /// # }
    /// ```
    pub fn senders(mut self, n: usize) -> Self {
        self.cfg.senders = n;
        self
    }
    /// How long a followed sender must be quiet before another source opens a new stream in its
    /// place (default 500 ms).
    pub fn stream_idle(mut self, d: Duration) -> Self {
        self.cfg.stream_idle = d;
        self
    }
    /// Let [`idle_exit`](Self::idle_exit) count from the start of the run too, so a receiver
    /// that never gets a packet ends (default: only once the first has arrived).
    pub fn idle_from_start(mut self, on: bool) -> Self {
        self.cfg.idle_from_start = on;
        self
    }
    /// Keep the inter-arrival gaps per interval of `period` too, counted from the first packet
    /// ([`RecvReport::timeline`](super::RecvReport::timeline)). Off by default.
    pub fn timeline(mut self, period: Duration) -> Self {
        self.cfg.timeline = Some(period);
        self
    }
    /// Test-only: behave as if io_uring were unavailable.
    #[doc(hidden)]
    pub fn force_uring_unavailable(mut self, on: bool) -> Self {
        self.cfg.uring_unavailable = on;
        self
    }

    /// Validates the options; the error names the option at fault and says why.
    ///
    /// ```
    /// use ringshot::recv::RecvConfig;
    ///
    /// let both = RecvConfig::builder("127.0.0.1:0".parse().unwrap())
    ///     .streams(true)
    ///     .from_addr(Some("10.0.0.1:4000".parse().unwrap()))
    ///     .build();
    /// assert_eq!(both.unwrap_err().field, "from"); // a reusable receiver follows any sender
    /// ```
    pub fn build(self) -> Result<RecvConfig, RecvConfigError> {
        let c = self.cfg;
        let err = |field, reason: String| Err(RecvConfigError::new(field, reason));
        if c.count == Some(0) {
            return err("count", "must be at least 1".into());
        }
        if c.idle_exit == Some(Duration::ZERO) {
            return err("idle_exit", "must be at least 1 ms".into());
        }
        if c.timeline.is_some_and(|d| d < Duration::from_millis(1)) {
            return err("timeline", "the interval must be at least 1 ms".into());
        }
        if c.streams && c.from.is_some() {
            return err(
                "from",
                "follows one sender: it cannot be used with streams".into(),
            );
        }
        if c.senders == 0 || c.senders > super::MAX_SENDERS {
            return err(
                "senders",
                format!("must be between 1 and {}", super::MAX_SENDERS),
            );
        }
        if c.senders > 1 && c.from.is_some() {
            return err(
                "from",
                "follows one sender: it cannot be used with several senders".into(),
            );
        }
        if c.max_seq_jump == 0 {
            return err("max_seq_jump", "must be at least 1".into());
        }
        if c.from
            .is_some_and(|a| a.port() == 0 || a.ip().is_unspecified())
        {
            return err("from", "must be an exact address and port".into());
        }
        if c.window == 0 || c.window > seq::MAX_WINDOW {
            return err(
                "window",
                format!("must be between 1 and {} packets", seq::MAX_WINDOW),
            );
        }
        if !c.uring_buffers.is_power_of_two() || c.uring_buffers > 32_768 {
            return err(
                "uring_buffers",
                format!("{} is not a power of two up to 32768", c.uring_buffers),
            );
        }
        if let Some(core) = c.rx_core {
            let cores = crate::sys::available_cores();
            if !cores.contains(&core) {
                return err(
                    "rx_core",
                    format!("core {core} is not available to this process (cores: {cores:?})"),
                );
            }
        }
        Ok(c)
    }
}

/// A configuration value that cannot work: the builder option (`field`) and why.
///
/// ```
/// use ringshot::recv::{RecvConfig, RecvConfigError};
///
/// let err: RecvConfigError = RecvConfig::builder("127.0.0.1:0".parse().unwrap())
///     .max_seq_jump(0)
///     .build()
///     .unwrap_err();
/// assert_eq!((err.field, err.reason.as_str()), ("max_seq_jump", "must be at least 1"));
/// ```
pub type RecvConfigError = crate::config::FieldError;
