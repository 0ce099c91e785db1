//! The device emulator: the receiver turned into a device with a finite buffer that drains at a
//! fixed rate and acknowledges what it consumed, with seeded fault injection, so flow control can
//! be tested end to end on one machine.
//!
//! # The stack
//!
//! ```text
//!   socket ─► Receiver run loop ─► DataFaults ───► DeviceModel ─► StreamChecker
//!                                  (data faults,     (buffer, drain,   (what reached the
//!                                   restarts)         events, ACKs)     device's port)
//!                                                        │
//!                                                        ▼
//!                                  sender ◄─ socket ◄─ AckFaults ◄─ AckEncoder
//!                                  (clone of the       (ACK faults)   (native | usrp2 | chdr)
//!                                   receive socket)
//! ```
//!
//! Data faults sit *above* both the device model and the checker: a dropped packet is never seen
//! by either, a duplicated one is seen twice by both, a reordered one reaches both late. So the
//! checker's report is the network's effect on the stream, exactly: `lost` = injected drops,
//! `duplicates` = injected duplicates, `reordered` = injected reorders (see
//! [`fault`] for the precise definitions). What the device then does with each packet
//! (consume, discard, overflow) is the device's own report, [`DeviceReport`]. ACK faults sit
//! between the device model and the socket, so the device's own count (`acks_sent`) is what it
//! meant to say, and the sender's ACK counters show what reached it.
//!
//! [`Emulator`] wires all of this onto a loopback or network socket; the pieces are public for
//! library tests that want a different stack (a [`DataFaults`] over a bare
//! [`StreamChecker`], a [`DeviceModel`] that records its ACKs, ...). See `docs/device.md`.

mod encode;
pub mod fault;
mod link;
mod model;
mod report;

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "serde")]
use serde::Serialize;

pub use encode::{AckEncoder, CHDR_NO_PACKET_LIMIT, USRP2_CODE_RESTART};
pub use fault::{
    AckFaults, Corruption, DataFaults, FaultConfig, FaultConfigBuilder, FaultConfigError,
    FaultCounts, Restart, SplitMix64,
};
pub use link::{AckLink, SocketLink, MAX_ACK_LEN};
pub use model::{DeviceModel, HEARTBEATS};
pub use report::{AckState, DeviceReport};

use crate::flow::AckFormat;
use crate::pacing::Rate;
use crate::recv::{Receiver, RecvConfig, RecvControl, RecvError, RecvReport, StreamChecker};

/// Highest drain rate in bits per second a device may be given (10 Tbit/s).
pub const MAX_DRAIN_BPS: f64 = 1e13;

/// Default device buffer: 1 MiB, the SDR workload's device.
pub const DEFAULT_BUFFER: u64 = 1 << 20;
/// Default drain: the SDR workload's 68,870 packets per second.
pub const DEFAULT_DRAIN: Rate = Rate::Pps(68_870.0);
/// Default longest time between ACKs while the device is active.
pub const DEFAULT_ACK_INTERVAL: Duration = Duration::from_millis(1);
/// Packet size the default `ack_every` assumes (a 1500-byte IP packet's UDP payload).
const NOMINAL_PACKET: u64 = 1472;
/// Smallest device buffer accepted, bytes.
pub const MIN_BUFFER: u64 = 64;
/// Largest device buffer accepted: the native ACK's credit field is 32 bits.
pub const MAX_BUFFER: u64 = u32::MAX as u64;
/// Longest ACK interval accepted.
pub const MAX_ACK_INTERVAL: Duration = Duration::from_secs(10);

/// A validated device configuration. Build it with [`DeviceConfig::builder`].
///
/// ```
/// use std::time::Duration;
/// use ringshot::device::DeviceConfig;
/// use ringshot::{AckFormat, Rate};
///
/// let cfg = DeviceConfig::builder()
///     .buffer_bytes(1 << 20)
///     .drain(Rate::Pps(68_870.0)) // a USRP2's play-out rate at 1472-byte packets
///     .ack("usrp2".parse::<AckFormat>().unwrap())
///     .ack_every(64)
///     .ack_interval(Duration::from_millis(1))
///     .build()
///     .unwrap();
/// assert_eq!((cfg.buffer_bytes(), cfg.ack_every(), cfg.start_seq()), (1 << 20, 64, 0));
/// assert_eq!(cfg.drain(), Rate::Pps(68_870.0));
/// assert_eq!(cfg.ack(), AckFormat::Usrp2 { stream_id: 2 });
/// assert_eq!(cfg.ack_interval(), Duration::from_millis(1));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceConfig {
    pub(crate) buffer_bytes: u64,
    pub(crate) drain: Rate,
    pub(crate) ack: AckFormat,
    pub(crate) ack_every: u64,
    pub(crate) ack_interval: Duration,
    pub(crate) start_seq: u64,
    pub(crate) max_seq_jump: u64,
    pub(crate) format: crate::framing::Format,
    pub(crate) heap_cnt_step: u64,
}

impl DeviceConfig {
    /// Starts a builder with the defaults: a 1 MiB buffer drained at 68,870 pps, native ACKs
    /// every 1/8 of the buffer in 1472-byte packets (89) and at least every millisecond, a stream
    /// starting at sequence 0.
    pub fn builder() -> DeviceConfigBuilder {
        DeviceConfigBuilder {
            cfg: DeviceConfig {
                buffer_bytes: DEFAULT_BUFFER,
                drain: DEFAULT_DRAIN,
                ack: AckFormat::Native,
                ack_every: 0,
                ack_interval: DEFAULT_ACK_INTERVAL,
                start_seq: 0,
                max_seq_jump: crate::recv::DEFAULT_MAX_SEQ_JUMP,
                format: crate::framing::Format::Ringshot,
                heap_cnt_step: 1,
            },
            ack_every: None,
        }
    }

    pub fn buffer_bytes(&self) -> u64 {
        self.buffer_bytes
    }
    pub fn drain(&self) -> Rate {
        self.drain
    }
    pub fn ack(&self) -> AckFormat {
        self.ack
    }
    pub fn ack_every(&self) -> u64 {
        self.ack_every
    }
    pub fn ack_interval(&self) -> Duration {
        self.ack_interval
    }
    pub fn start_seq(&self) -> u64 {
        self.start_seq
    }
}

/// Builder for [`DeviceConfig`]; [`build`](Self::build) validates.
///
/// ```
/// use ringshot::device::DeviceConfig;
/// use ringshot::framing::Format;
///
/// // A CHDR device whose stream starts at sequence 1000, draining 10,000 packets a second.
/// let cfg = DeviceConfig::builder()
///     .format(Format::Chdr)
///     .ack("chdr".parse().unwrap())
///     .drain_pps(10_000.0)
///     .start_seq(1000)
///     .build()
///     .unwrap();
/// assert_eq!(cfg.start_seq(), 1000);
/// // Options are checked at build; the error names the option.
/// let err = DeviceConfig::builder().buffer_bytes(u64::MAX).build().unwrap_err();
/// assert_eq!(err.field, "buffer_bytes");
/// ```
#[derive(Debug, Clone)]
pub struct DeviceConfigBuilder {
    cfg: DeviceConfig,
    ack_every: Option<u64>,
}

impl DeviceConfigBuilder {
    /// Buffer size in bytes of UDP payload ([`MIN_BUFFER`]..=[`MAX_BUFFER`]).
    pub fn buffer_bytes(mut self, n: u64) -> Self {
        self.cfg.buffer_bytes = n;
        self
    }
    /// Consumption rate: packets per second, or bits of UDP payload per second.
    pub fn drain(mut self, r: Rate) -> Self {
        self.cfg.drain = r;
        self
    }
    pub fn drain_pps(self, pps: f64) -> Self {
        self.drain(Rate::Pps(pps))
    }
    /// The ACK format (its parser on the sender side is [`AckFormat::parser`]).
    pub fn ack(mut self, f: AckFormat) -> Self {
        self.cfg.ack = f;
        self
    }
    /// Send a flow-control ACK after every `n` packets consumed.
    pub fn ack_every(mut self, n: u64) -> Self {
        self.ack_every = Some(n);
        self
    }
    /// Send an ACK at least this often while the device is active.
    pub fn ack_interval(mut self, d: Duration) -> Self {
        self.cfg.ack_interval = d;
        self
    }
    /// The data format the device expects: its sequence is read from the format's own counter
    /// (USRP2 word, VRT packet count, CHDR SeqNum; raw and SPEAD datagrams are numbered in
    /// order, and SPEAD's heap cnt and offsets are checked).
    pub fn format(mut self, format: crate::framing::Format) -> Self {
        self.cfg.format = format;
        self
    }
    /// SPEAD: the heap cnt step of the sender's heaps (default 1), for the heap sequence check.
    pub fn heap_cnt_step(mut self, step: u64) -> Self {
        self.cfg.heap_cnt_step = step;
        self
    }
    /// The sequence number the stream starts at (what a host sets up with a stream command).
    pub fn start_seq(mut self, seq: u64) -> Self {
        self.cfg.start_seq = seq;
        self
    }
    /// Largest believable jump of the sequence number past the one expected, in packets
    /// (default 2^20, as the receiver's); farther ones are counted as `implausible` and change
    /// nothing. At least 1.
    pub fn max_seq_jump(mut self, packets: u64) -> Self {
        self.cfg.max_seq_jump = packets;
        self
    }

    /// Validates the options; the error names the option at fault and says why.
    ///
    /// ```
    /// use ringshot::device::DeviceConfig;
    ///
    /// assert!(DeviceConfig::builder().build().is_ok()); // the defaults work
    /// assert_eq!(DeviceConfig::builder().ack_every(0).build().unwrap_err().field, "ack_every");
    /// ```
    pub fn build(self) -> Result<DeviceConfig, DeviceConfigError> {
        let mut c = self.cfg;
        let err = |field, reason: String| Err(DeviceConfigError::new(field, reason));
        if !(MIN_BUFFER..=MAX_BUFFER).contains(&c.buffer_bytes) {
            return err(
                "buffer_bytes",
                format!("must be between {MIN_BUFFER} and {MAX_BUFFER} bytes"),
            );
        }
        match c.drain {
            Rate::Pps(p) if !(p.is_finite() && p > 0.0) => {
                return err("drain", format!("{p} is not a positive rate"))
            }
            Rate::Bps(b) if !(b.is_finite() && b > 0.0) => {
                return err("drain", format!("{b} is not a positive rate"))
            }
            // The same ceiling as a sender's rate: beyond it the drain clock would not tick.
            Rate::Pps(p) if p > crate::config::MAX_RATE_PPS => {
                return err(
                    "drain",
                    format!(
                        "{p:e} packets per second is above {:e}",
                        crate::config::MAX_RATE_PPS
                    ),
                )
            }
            Rate::Bps(b) if b > MAX_DRAIN_BPS => {
                return err("drain", format!("{b:e} bit/s is above {MAX_DRAIN_BPS:e}"))
            }
            _ => {}
        }
        c.ack_every = match self.ack_every {
            Some(0) => return err("ack_every", "must be at least 1 packet".into()),
            Some(n) => n,
            None => (c.buffer_bytes / 8 / NOMINAL_PACKET).max(1),
        };
        if c.heap_cnt_step == 0 {
            return err("heap_cnt_step", "must be at least 1".into());
        }
        if c.max_seq_jump == 0 {
            return err("max_seq_jump", "must be at least 1".into());
        }
        if c.ack_interval.is_zero() || c.ack_interval > MAX_ACK_INTERVAL {
            return err(
                "ack_interval",
                format!("must be between 1 and {} µs", MAX_ACK_INTERVAL.as_micros()),
            );
        }
        Ok(c)
    }
}

/// A configuration value that cannot work: the builder option (`field`) and why.
///
/// ```
/// use ringshot::device::{DeviceConfig, DeviceConfigError};
///
/// let err: DeviceConfigError = DeviceConfig::builder().max_seq_jump(0).build().unwrap_err();
/// assert_eq!(err.field, "max_seq_jump");
/// ```
pub type DeviceConfigError = crate::config::FieldError;

/// How [`AckFaults`] damages ACKs of `format` so that the sender can tell (see [`Corruption`]).
///
/// ```
/// use ringshot::device::{corruption_for, Corruption};
/// use ringshot::AckFormat;
///
/// assert_eq!(corruption_for(AckFormat::Native), Corruption::FlipBit); // the CRC catches it
/// assert_eq!(corruption_for(AckFormat::Chdr), Corruption::Truncate); // no checksum: cut it short
/// ```
pub fn corruption_for(format: AckFormat) -> Corruption {
    match format {
        AckFormat::Native => Corruption::FlipBit,
        AckFormat::Usrp2 { .. } | AckFormat::Chdr => Corruption::Truncate,
    }
}

/// The emulator's sink stack: data faults over the device over the checker, ACKs through the
/// ACK-fault layer to the socket.
///
/// ```
/// use ringshot::device::{stack, DeviceConfig, EmulatorReport, EmulatorStack, FaultConfig};
/// use ringshot::recv::{Receiver, RecvConfig};
/// use std::time::Duration;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // The emulator's stack on a socket of your own, run by a plain receiver.
/// let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// let recv = RecvConfig::builder(socket.local_addr()?)
///     .idle_exit(Duration::from_millis(20))
///     .idle_from_start(true)
///     .build()?;
/// let sink: EmulatorStack = stack(&recv, &DeviceConfig::builder().build()?, &FaultConfig::none(), socket.try_clone()?);
/// let (report, sink) = Receiver::spawn_on(recv, socket, sink)?.join_with_sink()?;
/// let run = EmulatorReport::new(report, &sink);
/// assert_eq!((run.recv.packets, run.device.consumed, run.injected.drop_data), (0, 0, 0));
/// # Ok(())
/// # }
/// ```
pub type EmulatorStack = DataFaults<DeviceModel<StreamChecker, AckFaults<SocketLink>>>;

/// Builds the emulator's sink stack over `ack_socket` (a clone of the receive socket).
///
/// ```
/// use ringshot::device::{stack, DeviceConfig, FaultConfig};
/// use ringshot::recv::{DatagramSink, RecvConfig, RxMeta};
/// use ringshot::wire::header::pattern_packet;
///
/// let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
/// let recv = RecvConfig::builder(socket.local_addr().unwrap()).build().unwrap();
/// let faults = FaultConfig::builder().seed(1).dup_data(1.0).build().unwrap(); // every packet twice
/// let mut sink = stack(&recv, &DeviceConfig::builder().build().unwrap(), &faults, socket);
/// let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
/// let meta = RxMeta { src: peer.local_addr().unwrap(), at_ns: 0 };
/// sink.datagram(&pattern_packet(0, 0, 100), &meta);
/// assert_eq!(sink.counts().dup_data, 1);
/// assert_eq!(sink.inner().report().discarded, 1); // the device throws the copy away
/// ```
pub fn stack(
    recv: &RecvConfig,
    device: &DeviceConfig,
    faults: &FaultConfig,
    ack_socket: UdpSocket,
) -> EmulatorStack {
    let link = AckFaults::new(
        SocketLink::new(ack_socket),
        faults,
        corruption_for(device.ack),
        // A reordered ACK waits for the next one at most two intervals (heartbeats come at
        // least once an interval while the device is active).
        device.ack_interval * 2,
    );
    let checker = recv
        .checker()
        .with_start_seq(device.start_seq)
        .with_format(device.format)
        .with_heap_cnt_step(device.heap_cnt_step);
    DataFaults::new(DeviceModel::new(device, checker, link), faults).with_format(device.format)
}

/// Everything `ringshot recv --device --json` prints: the receiver's report, the device's and
/// the faults injected.
///
/// ```
/// use std::time::Duration;
/// use ringshot::device::{DeviceConfig, Emulator, FaultConfig};
/// use ringshot::recv::RecvConfig;
/// use ringshot::{AckFormat, PatternSource, SenderConfig, SourceSender};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // A 64 KiB device draining 100,000 packets a second, and a sender held to its window.
/// let device = DeviceConfig::builder().buffer_bytes(64 << 10).drain_pps(100_000.0).build()?;
/// let recv = RecvConfig::builder("127.0.0.1:0".parse()?).idle_exit(Duration::from_millis(300)).build()?;
/// let emulator = Emulator::spawn(recv, device, FaultConfig::none())?;
/// let cfg = SenderConfig::builder(emulator.local_addr())
///     .ack(AckFormat::Native)
///     .window_packets(44) // 64 KiB of 1472-byte packets
///     .batch(16) // a batch fits in the window
///     .build()?;
/// let sent = SourceSender::spawn(cfg, PatternSource::new(1472, Some(2000), None))?.finish()?;
/// let run = emulator.join()?;
/// assert_eq!(sent.packets, 2000);
/// assert!(sent.acks.as_ref().is_some_and(|a| a.accepted > 0));
/// assert_eq!((run.device.overflows, run.recv.lost, run.injected.drop_data), (0, 0, 0));
/// assert_eq!(run.device.consumed, 2000);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(Serialize))]
#[non_exhaustive]
pub struct EmulatorReport {
    #[cfg_attr(feature = "serde", serde(flatten))]
    pub recv: RecvReport,
    pub device: DeviceReport,
    pub injected: FaultCounts,
}

impl EmulatorReport {
    /// The report of a finished stack.
    pub fn new(recv: RecvReport, stack: &EmulatorStack) -> EmulatorReport {
        EmulatorReport {
            recv,
            device: stack.inner().report(),
            injected: stack.counts().merged(stack.inner().ack_faults()),
        }
    }
}

/// A device emulator running on the receiver's thread: binds the socket, sends its ACKs from a
/// clone of it (so they come from the data port), and stops like a receiver (count, idle exit,
/// [`stop`](Self::stop)).
///
/// ```
/// use std::time::Duration;
/// use ringshot::device::{DeviceConfig, Emulator, FaultConfig};
/// use ringshot::recv::RecvConfig;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let recv = RecvConfig::builder("127.0.0.1:0".parse()?).build()?;
/// let faults = FaultConfig::builder().seed(1).drop_data(0.01).build()?;
/// let emulator = Emulator::spawn(recv, DeviceConfig::builder().build()?, faults)?;
/// println!("device at {} ({}, GRO {})", emulator.local_addr(), emulator.backend(), emulator.gro());
/// for n in emulator.notices() {
///     println!("  {n}");
/// }
/// assert_eq!(emulator.progress(), (0, 0));
/// let control = emulator.control(); // e.g. for a Ctrl-C handler
/// control.stop();
/// while !emulator.is_finished() {
///     std::thread::sleep(Duration::from_millis(1));
/// }
/// let run = emulator.join()?;
/// assert_eq!(run.recv.packets, 0);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Emulator {
    rx: Receiver<EmulatorStack>,
}

impl Emulator {
    /// Binds `recv.bind()` and starts the emulator. Returns once the socket is bound, so
    /// [`local_addr`](Self::local_addr) is known and a sender can start.
    pub fn spawn(
        recv: RecvConfig,
        device: DeviceConfig,
        faults: FaultConfig,
    ) -> Result<Emulator, RecvError> {
        let sock = UdpSocket::bind(recv.bind()).map_err(RecvError::Socket)?;
        let ack = sock.try_clone().map_err(RecvError::Socket)?;
        let sink = stack(&recv, &device, &faults, ack);
        let rx = Receiver::spawn_on(recv, sock, sink)?;
        Ok(Emulator { rx })
    }

    /// The bound address (the device's address, and where its ACKs come from).
    pub fn local_addr(&self) -> SocketAddr {
        self.rx.local_addr()
    }

    pub fn backend(&self) -> &'static str {
        self.rx.backend()
    }

    pub fn gro(&self) -> bool {
        self.rx.gro()
    }

    /// One-line notices from start-up.
    pub fn notices(&self) -> &[String] {
        self.rx.notices()
    }

    pub fn control(&self) -> Arc<RecvControl> {
        self.rx.control()
    }

    /// Asks the emulator to stop (within about 50 ms); then [`join`](Self::join).
    pub fn stop(&self) {
        self.rx.stop();
    }

    pub fn is_finished(&self) -> bool {
        self.rx.is_finished()
    }

    /// (packets, bytes) received so far.
    pub fn progress(&self) -> (u64, u64) {
        self.rx.progress()
    }

    /// Waits for the emulator to end and returns the whole report.
    pub fn join(self) -> Result<EmulatorReport, RecvError> {
        self.join_with_stack().map(|(r, _)| r)
    }

    /// Like [`join`](Self::join), and gives the sink stack back (the checker's per-stream
    /// trackers, the device model, the injectors).
    ///
    /// ```
    /// use ringshot::device::{DeviceConfig, Emulator, FaultConfig};
    /// use ringshot::recv::RecvConfig;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let recv = RecvConfig::builder("127.0.0.1:0".parse()?).build()?;
    /// let emulator = Emulator::spawn(recv, DeviceConfig::builder().build()?, FaultConfig::none())?;
    /// emulator.stop();
    /// let (run, stack) = emulator.join_with_stack()?;
    /// assert_eq!(stack.inner().fill_bytes(), 0); // the device model, for its own state
    /// assert_eq!(run.device.acks_sent, stack.inner().report().acks_sent);
    /// # Ok(())
    /// # }
    /// ```
    pub fn join_with_stack(self) -> Result<(EmulatorReport, EmulatorStack), RecvError> {
        let (recv, stack) = self.rx.join_with_sink()?;
        Ok((EmulatorReport::new(recv, &stack), stack))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_validation() {
        let c = DeviceConfig::builder().build().unwrap();
        assert_eq!(c.buffer_bytes(), 1 << 20);
        assert_eq!(c.ack_every(), 89);
        assert_eq!(c.ack(), AckFormat::Native);
        let small = DeviceConfig::builder().buffer_bytes(1000).build().unwrap();
        assert_eq!(small.ack_every(), 1);
        for (b, field) in [
            (DeviceConfig::builder().buffer_bytes(10), "buffer_bytes"),
            (
                DeviceConfig::builder().buffer_bytes(MAX_BUFFER + 1),
                "buffer_bytes",
            ),
            (DeviceConfig::builder().drain_pps(0.0), "drain"),
            (DeviceConfig::builder().drain_pps(f64::NAN), "drain"),
            (DeviceConfig::builder().drain(Rate::Bps(-1.0)), "drain"),
            (DeviceConfig::builder().drain_pps(1e30), "drain"),
            (DeviceConfig::builder().drain(Rate::Bps(1e30)), "drain"),
            (DeviceConfig::builder().ack_every(0), "ack_every"),
            (
                DeviceConfig::builder().ack_interval(Duration::ZERO),
                "ack_interval",
            ),
        ] {
            let e = b.build().unwrap_err();
            assert_eq!(e.field, field);
            assert!(e.to_string().starts_with(&format!("{field}: ")), "{e}");
        }
    }
}
