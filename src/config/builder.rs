//! [`SenderConfigBuilder`]: every option of a sender, each checked by `build()`.

use std::net::SocketAddr;
use std::time::Duration;

use super::{
    default_batch, BackendChoice, ConfigError, FlowOptions, IdlePolicy, OnRefused, PacingOptions,
    SendOrder, SenderConfig, SocketOptions, StreamOptions, ThreadOptions, TxFaults, UringOptions,
    XdpMode, XDP_DEFAULT_BATCH,
};
use crate::flow::AckFormat;
use crate::framing::Framing;
use crate::pacing::{Rate, Spacing};

/// Builder for [`SenderConfig`]; every setter is checked in [`build`](Self::build).
///
/// ```
/// use std::time::Duration;
/// use ringshot::{AckFormat, Rate, SenderConfig};
///
/// // A paced stream to a device that answers with native ACKs: at most 512 packets in flight,
/// // the engine pinned to core 0, the stream ended if the device goes quiet for 2 s.
/// let cfg = SenderConfig::builder("127.0.0.1:9000".parse().unwrap())
///     .payload(1472)
///     .rate(Rate::Pps(100_000.0))
///     .ack(AckFormat::Native)
///     .window_packets(512)
///     .stall_timeout(Duration::from_secs(2))
///     .tx_core(ringshot::available_cores()[0])
///     .build()?;
/// assert!(cfg.flow_controlled());
/// assert_eq!(cfg.window_packets(), Some(512));
///
/// // Every option is checked at build: the error names the option at fault.
/// let err = SenderConfig::builder("127.0.0.1:9000".parse().unwrap())
///     .window_packets(512) // a window needs ACKs to open it
///     .build()
///     .unwrap_err();
/// assert_eq!(err, ringshot::ConfigError::WindowWithoutAck);
/// assert_eq!(err.field(), "ack");
/// # Ok::<(), ringshot::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct SenderConfigBuilder {
    pub(super) stream: StreamOptions,
    pub(super) socket: SocketOptions,
    pub(super) uring: UringOptions,
    pub(super) pacing: PacingOptions,
    pub(super) flow: FlowOptions,
    pub(super) thread: ThreadOptions,
    pub(super) faults: TxFaults,
}

impl SenderConfigBuilder {
    /// Local address to bind the sending socket to (default: unspecified, ephemeral port).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.socket.bind = Some(addr);
        self
    }
    pub fn backend(mut self, b: BackendChoice) -> Self {
        self.socket.backend = b;
        self
    }
    /// Use UDP GSO when the kernel supports it (default on).
    pub fn gso(mut self, on: bool) -> Self {
        self.socket.gso = on;
        self
    }
    /// UDP payload size in bytes, the framing's header included (up to 65,507; at least the
    /// header, 16 bytes for the ringshot header).
    pub fn payload(mut self, bytes: usize) -> Self {
        self.stream.payload = bytes;
        self
    }
    /// Packets per submit (1..=1024). Unset: [`default_batch`] (64, or with GSO whole
    /// super-packets).
    pub fn batch(mut self, n: usize) -> Self {
        self.stream.batch = Some(n);
        self
    }
    /// Packet buffers in the slab (at least one batch).
    pub fn slots(mut self, n: u32) -> Self {
        self.stream.slots = n;
        self
    }
    /// Pin the engine thread to this core id.
    pub fn tx_core(mut self, core: usize) -> Self {
        self.thread.tx_core = Some(core);
        self
    }
    /// Run the engine thread under SCHED_FIFO at this priority (1..=99); a warning if refused.
    pub fn sched_fifo(mut self, prio: i32) -> Self {
        self.thread.sched_fifo = Some(prio);
        self
    }
    /// Lock all current and future pages in memory; a warning if refused.
    pub fn mlockall(mut self, on: bool) -> Self {
        self.thread.mlockall = on;
        self
    }
    /// Datagram size at or above which io_uring uses SEND_ZC / SENDMSG_ZC (at least 1 byte);
    /// `None` disables zero copy.
    ///
    /// ```
    /// use ringshot::{ConfigError, SenderConfig};
    ///
    /// let dest = "127.0.0.1:9000".parse().unwrap();
    /// let cfg = SenderConfig::builder(dest).zc_threshold(Some(8192)).build().unwrap();
    /// assert_eq!(cfg.zc_threshold(), Some(8192)); // zero copy for datagrams of 8 KiB and more
    /// let err = SenderConfig::builder(dest).zc_threshold(Some(0)).build().unwrap_err();
    /// assert_eq!(err, ConfigError::ZeroZcThreshold);
    /// ```
    pub fn zc_threshold(mut self, bytes: Option<usize>) -> Self {
        self.socket.zc_threshold = bytes;
        self
    }
    /// Use an io_uring SQPOLL kernel thread that sleeps after `idle`.
    pub fn sqpoll(mut self, idle: Option<Duration>) -> Self {
        self.uring.sqpoll_idle = idle;
        self
    }
    /// Pin the SQPOLL kernel thread to this CPU (with [`sqpoll`](Self::sqpoll)).
    ///
    /// ```
    /// use std::time::Duration;
    /// use ringshot::{ConfigError, SenderConfig};
    ///
    /// let dest = "127.0.0.1:9000".parse().unwrap();
    /// let ok = SenderConfig::builder(dest).sqpoll(Some(Duration::from_millis(10))).sqpoll_cpu(1).build();
    /// assert!(ok.is_ok());
    /// let err = SenderConfig::builder(dest).sqpoll_cpu(1).build().unwrap_err();
    /// assert_eq!(err, ConfigError::SqpollCpuWithoutSqpoll);
    /// ```
    pub fn sqpoll_cpu(mut self, cpu: u32) -> Self {
        self.uring.sqpoll_cpu = Some(cpu);
        self
    }
    /// May later packets of a batch overtake one whose send failed (see [`SendOrder`]; default
    /// strict).
    pub fn send_order(mut self, order: SendOrder) -> Self {
        self.uring.send_order = order;
        self
    }
    /// What to do when the destination refuses sends (see [`OnRefused`]; default: count and
    /// go on).
    ///
    /// ```
    /// use ringshot::{OnRefused, SenderConfig};
    /// let cfg = SenderConfig::builder("127.0.0.1:9000".parse().unwrap())
    ///     .on_refused(OnRefused::Fail)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(cfg.on_refused(), OnRefused::Fail);
    /// ```
    pub fn on_refused(mut self, policy: OnRefused) -> Self {
        self.socket.on_refused = policy;
        self
    }
    /// The device queue the `xdp` backend binds to (default 0).
    pub fn xdp_queue(mut self, queue: u32) -> Self {
        self.socket.xdp_queue = queue;
        self
    }
    /// Zero copy, copy mode, or either for the `xdp` backend (default: either).
    pub fn xdp_mode(mut self, mode: XdpMode) -> Self {
        self.socket.xdp_mode = mode;
        self
    }
    /// SO_SNDBUF in bytes (SO_SNDBUFFORCE is tried first).
    pub fn sndbuf(mut self, bytes: usize) -> Self {
        self.socket.sndbuf = bytes;
        self
    }
    /// Stream id written into every packet header.
    pub fn stream_id(mut self, id: u32) -> Self {
        self.stream.stream_id = id;
        self
    }
    /// At most this many packets sent but not acknowledged.
    pub fn window_packets(mut self, n: u64) -> Self {
        self.flow.window_packets = Some(n);
        self
    }
    /// Pace departures at `rate` on an absolute schedule.
    ///
    /// ```
    /// use ringshot::{ConfigError, Rate, SenderConfig};
    ///
    /// let dest = "127.0.0.1:9000".parse().unwrap();
    /// // 1 Gbit/s of 1472-byte payloads: about 84,900 packets a second.
    /// let cfg = SenderConfig::builder(dest).rate("1Gbps".parse().unwrap()).build().unwrap();
    /// assert!((cfg.rate().unwrap().pps(cfg.payload()) - 84_918.5).abs() < 0.1);
    /// let err = SenderConfig::builder(dest).rate(Rate::Pps(0.5)).build().unwrap_err();
    /// assert!(matches!(err, ConfigError::RateOutOfRange { .. }));
    /// ```
    pub fn rate(mut self, rate: Rate) -> Self {
        self.pacing.rate = Some(rate);
        self
    }
    /// Most packets sent back to back when catching up with the schedule (default 16).
    pub fn burst(mut self, packets: u64) -> Self {
        self.pacing.burst = packets;
        self
    }
    /// Send this many packets at once at the start of a paced stream (to fill the device's
    /// buffer), then pace the rest.
    ///
    /// ```
    /// use ringshot::{ConfigError, Rate, SenderConfig};
    ///
    /// let dest = "127.0.0.1:9000".parse().unwrap();
    /// let ok = SenderConfig::builder(dest).rate(Rate::Pps(68_870.0)).prefill(700).build();
    /// assert!(ok.is_ok());
    /// let err = SenderConfig::builder(dest).prefill(700).build().unwrap_err();
    /// assert_eq!(err, ConfigError::PrefillWithoutRate); // a prefill is the start of a paced stream
    /// ```
    pub fn prefill(mut self, packets: u64) -> Self {
        self.pacing.prefill = packets;
        self
    }
    /// Paced streams: hold due packets until the first is this late (or a batch is due) and send
    /// them in one submit. Trades up to this much lateness for fewer syscalls and wake-ups.
    pub fn pace_quantum(mut self, d: Duration) -> Self {
        self.pacing.quantum = d;
        self
    }
    /// Paced streams: how packets are spaced (see [`Spacing`]). [`Spacing::Auto`] (the default)
    /// sends each packet at its own time where a sleep fits the gap and small groups where it
    /// does not; [`Spacing::Strict`] never groups (it spins where a sleep does not fit);
    /// [`Spacing::Bursts`] sends groups of `burst` packets, each when its first is due, and
    /// sleeps between them.
    ///
    /// ```
    /// use ringshot::{pacing::{Rate, Spacing}, SenderConfig};
    /// let cfg = SenderConfig::builder("127.0.0.1:9000".parse().unwrap())
    ///     .rate(Rate::Pps(68_870.0))
    ///     .burst(64)
    ///     .spacing(Spacing::Bursts)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(cfg.spacing(), Spacing::Bursts);
    /// ```
    pub fn spacing(mut self, spacing: Spacing) -> Self {
        self.pacing.spacing = spacing;
        self
    }
    /// At most this many bytes sent but not acknowledged.
    ///
    /// ```
    /// use ringshot::{AckFormat, ConfigError, SenderConfig};
    ///
    /// let dest = "127.0.0.1:9000".parse().unwrap();
    /// let cfg = SenderConfig::builder(dest).ack(AckFormat::Native).window_bytes(1 << 20).build().unwrap();
    /// assert_eq!(cfg.window_bytes(), Some(1 << 20));
    /// // A byte window smaller than one packet could never open.
    /// let err = SenderConfig::builder(dest).ack(AckFormat::Native).window_bytes(1000).build().unwrap_err();
    /// assert!(matches!(err, ConfigError::WindowBytesSmallerThanPacket { .. }));
    /// ```
    pub fn window_bytes(mut self, n: u64) -> Self {
        self.flow.window_bytes = Some(n);
        self
    }
    /// Run an ACK core that parses the device's flow-control packets in this format; they arrive
    /// on the data socket unless [`ack_bind`](Self::ack_bind) names another address.
    ///
    /// ```
    /// use ringshot::{AckFormat, SenderConfig};
    ///
    /// // A USRP2 reports no buffer size, so its window is given explicitly.
    /// let cfg = SenderConfig::builder("192.168.10.2:49153".parse().unwrap())
    ///     .ack("usrp2".parse::<AckFormat>().unwrap())
    ///     .window_packets(712)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(cfg.ack(), Some(AckFormat::Usrp2 { stream_id: 2 }));
    /// ```
    pub fn ack(mut self, format: AckFormat) -> Self {
        self.flow.ack = Some(format);
        self
    }
    /// Receive ACKs on a socket bound here instead of on the data socket.
    pub fn ack_bind(mut self, addr: SocketAddr) -> Self {
        self.flow.ack_bind = Some(addr);
        self
    }
    /// Accept ACKs only from this exact address and port, for a device that answers from
    /// somewhere other than the destination (default: the destination).
    ///
    /// ```
    /// use ringshot::{AckFormat, ConfigError, SenderConfig};
    ///
    /// let dest = "192.168.10.2:49153".parse().unwrap();
    /// let device_ctrl = "192.168.10.2:49154".parse().unwrap();
    /// // ACKs from another port need their own socket: the data socket hears only `dest`.
    /// let err = SenderConfig::builder(dest)
    ///     .ack(AckFormat::Native)
    ///     .ack_from(device_ctrl)
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err, ConfigError::AckFromNeedsAckBind(device_ctrl));
    /// let cfg = SenderConfig::builder(dest)
    ///     .ack(AckFormat::Native)
    ///     .ack_from(device_ctrl)
    ///     .ack_bind("0.0.0.0:0".parse().unwrap())
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(cfg.ack_source(), device_ctrl);
    /// ```
    pub fn ack_from(mut self, addr: SocketAddr) -> Self {
        self.flow.ack_from = Some(addr);
        self
    }
    /// Pin the ACK core (`ringshot-ack`) to this core.
    pub fn ack_core(mut self, core: usize) -> Self {
        self.flow.ack_core = Some(core);
        self
    }
    /// Busy-poll the ACK socket instead of sleeping in poll(2).
    pub fn ack_busy_poll(mut self, on: bool) -> Self {
        self.flow.ack_busy_poll = on;
        self
    }
    /// How the engine waits while the window is closed: spin, or spin, yield, then sleep briefly.
    pub fn window_wait(mut self, p: IdlePolicy) -> Self {
        self.flow.window_wait = p;
        self
    }
    /// End the stream with [`crate::EngineError::Stalled`] if the window stays closed this long.
    pub fn stall_timeout(mut self, d: Duration) -> Self {
        self.flow.stall_timeout = d;
        self
    }
    /// How the engine writes each packet's header: the ringshot header (the default), none, or a
    /// device's own data format (USRP2, VRT, CHDR). See [`crate::framing`].
    ///
    /// ```
    /// use ringshot::framing::{Format, Framing};
    /// use ringshot::SenderConfig;
    ///
    /// let cfg = SenderConfig::builder("127.0.0.1:9000".parse().unwrap())
    ///     .framing(Framing::of(Format::Raw))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(cfg.max_app_payload(), cfg.payload()); // raw: no header room taken
    /// ```
    pub fn framing(mut self, framing: Framing) -> Self {
        self.stream.framing = framing;
        self
    }
    /// Sequence number of the first packet (default 0).
    pub fn start_seq(mut self, seq: u64) -> Self {
        self.stream.start_seq = seq;
        self
    }
    pub fn idle(mut self, p: IdlePolicy) -> Self {
        self.thread.idle = p;
        self
    }
    /// Record a time series: every `period` (cut at the first batch boundary after it) the
    /// engine moves its interval histograms (submit, reap, lateness, window wait, ACK visibility)
    /// into [`TxReport::timeline`](crate::TxReport::timeline). Off by default (no cost); at most
    /// one allocation per histogram per interval, none per packet.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ringshot::SenderConfig;
    ///
    /// let cfg = SenderConfig::builder("127.0.0.1:9000".parse().unwrap())
    ///     .timeline(Duration::from_millis(100))
    ///     .build();
    /// assert!(cfg.is_ok());
    /// let zero = SenderConfig::builder("127.0.0.1:9000".parse().unwrap())
    ///     .timeline(Duration::ZERO)
    ///     .build();
    /// assert_eq!(zero.unwrap_err().field(), "timeline");
    /// ```
    pub fn timeline(mut self, period: Duration) -> Self {
        self.thread.timeline = Some(period);
        self
    }
    #[doc(hidden)]
    pub fn faults(mut self, f: TxFaults) -> Self {
        self.faults = f;
        self
    }

    /// Validates every group of options and returns the configuration.
    ///
    /// ```
    /// use ringshot::{ConfigError, SenderConfig};
    ///
    /// let err = SenderConfig::builder("127.0.0.1:9000".parse().unwrap())
    ///     .payload(70_000)
    ///     .build()
    ///     .unwrap_err();
    /// assert!(matches!(err, ConfigError::PayloadTooLarge { payload: 70_000, .. }));
    /// assert_eq!(err.field(), "payload");
    /// println!("{err}"); // "payload: ..." — the option, then why
    /// ```
    pub fn build(self) -> Result<SenderConfig, ConfigError> {
        let SenderConfigBuilder {
            stream,
            socket,
            uring,
            pacing,
            flow,
            thread,
            faults,
        } = self;
        // Frames built for AF_XDP are one datagram each: no GSO.
        let mut socket = socket;
        if socket.backend == BackendChoice::Xdp {
            socket.gso = false;
        }
        let batch = stream.batch.unwrap_or_else(|| {
            let xdp = XDP_DEFAULT_BATCH;
            let xdp_fits =
                xdp <= stream.slots as usize && flow.window_packets.is_none_or(|w| xdp as u64 <= w);
            if socket.backend == BackendChoice::Xdp && xdp_fits {
                return xdp;
            }
            default_batch(
                stream.payload,
                socket.gso,
                stream.slots,
                flow.window_packets,
            )
        });
        stream.validate(batch)?;
        socket.validate()?;
        flow.validate(&stream, batch, pacing.prefill)?;
        // The data socket is connected to the destination, so the kernel drops anything from
        // another source: ACKs from elsewhere need their own socket.
        if let Some(from) = flow.ack_from {
            if from != socket.dest && flow.ack_bind.is_none() {
                return Err(ConfigError::AckFromNeedsAckBind(from));
            }
        }
        pacing.validate(stream.payload)?;
        uring.validate(&stream.framing)?;
        thread.validate()?;
        let app_room = stream.framing.max_app_payload(stream.payload);
        Ok(SenderConfig {
            stream,
            socket,
            uring,
            pacing,
            flow,
            thread,
            faults,
            batch,
            app_room,
        })
    }
}
