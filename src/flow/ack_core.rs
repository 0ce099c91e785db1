//! The ACK core: a thread that owns the ACK socket, drains it in batches, parses each datagram
//! and publishes the result into [`FlowState`].

use std::collections::BTreeMap;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

#[cfg(feature = "serde")]
use serde::Serialize;

use super::parse::{AckFormat, AckParser, AckUpdate};
use super::state::FlowState;
use crate::sys::rx::ErrorReport;
use crate::sys::{AckRx, AckWake, ACK_BATCH};
use crate::wire::ack::EventSet;
use crate::wire::WireError;

/// How the ACK core waits for the socket.
///
/// ```
/// use ringshot::flow::{AckCoreConfig, AckWait};
///
/// // Lowest ACK-to-TX latency, at the price of a core spinning on the socket.
/// let cfg = AckCoreConfig { wait: AckWait::BusyPoll, core: Some(1), ..AckCoreConfig::default() };
/// assert_ne!(cfg.wait, AckCoreConfig::default().wait); // the default blocks in poll(2)
/// assert_eq!(AckCoreConfig::default().wait, AckWait::Block);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AckWait {
    /// Sleep in ppoll(2) (poll(2) where there is none) until readable, waking at least every [`AckCoreConfig::poll_timeout`]
    /// to check the stop flag.
    #[default]
    Block,
    /// Never sleep: try a non-blocking receive in a loop (lowest latency, one core at 100 %).
    BusyPoll,
}

/// Configuration of [`AckCore::spawn`].
///
/// ```
/// use std::time::Duration;
/// use ringshot::flow::{AckCoreConfig, AckFormat};
///
/// let cfg = AckCoreConfig {
///     format: "usrp2".parse::<AckFormat>().unwrap(),
///     device: Some("192.168.10.2:49153".parse().unwrap()), // believe this source only
///     poll_timeout: Duration::from_millis(2),
///     ..AckCoreConfig::default()
/// };
/// assert_eq!(cfg.format, AckFormat::Usrp2 { stream_id: 2 });
/// ```
#[derive(Debug, Clone)]
pub struct AckCoreConfig {
    pub format: AckFormat,
    /// Only ACKs from exactly this address and port are believed; others are counted in
    /// `foreign_source` and ignored. There is no wildcard: [`AckCore::spawn`] refuses port 0.
    /// `None` accepts every source (a connected socket, such as a clone of the data socket, is
    /// already filtered by the kernel).
    pub device: Option<SocketAddr>,
    /// Pin the thread to this core.
    pub core: Option<usize>,
    pub wait: AckWait,
    /// Longest blocked wait before the stop flag is checked again.
    pub poll_timeout: Duration,
    /// Slots of the event queue read through [`AckCore::events`].
    pub event_capacity: usize,
    /// SO_RCVBUF to request, in bytes (Unix only).
    pub rcvbuf: Option<usize>,
}

impl Default for AckCoreConfig {
    fn default() -> AckCoreConfig {
        AckCoreConfig {
            format: AckFormat::Native,
            device: None,
            core: None,
            wait: AckWait::Block,
            poll_timeout: Duration::from_millis(5),
            event_capacity: 1024,
            rcvbuf: None,
        }
    }
}

/// A non-flow-control event reported by the device.
///
/// ```
/// use ringshot::flow::{AckCore, AckCoreConfig, FlowState};
/// use ringshot::wire::ack::{EventSet, Repr};
/// use std::sync::Arc;
/// # fn main() -> std::io::Result<()> {
/// let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// let device = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// let cfg = AckCoreConfig { device: Some(device.local_addr()?), ..AckCoreConfig::default() };
/// let mut core = AckCore::spawn(socket.try_clone()?, Arc::new(FlowState::new(0)), cfg)?;
/// // The device reports an underflow (and no progress).
/// let ack = Repr {
///     stream_id: 1,
///     ack_number: 0,
///     consumed: 0,
///     consumed_bytes: None,
///     credit: None,
///     events: EventSet::UNDERFLOW,
/// };
/// device.send_to(&ack.to_bytes(), socket.local_addr()?)?;
/// let event = loop {
///     if let Some(e) = core.events().next() {
///         break e;
///     }
///     std::thread::sleep(std::time::Duration::from_millis(1));
/// };
/// assert_eq!((event.events, event.stream_id, event.acked_packets), (EventSet::UNDERFLOW, 1, Some(0)));
/// let stats = core.stop();
/// assert_eq!(stats.events.get("underflow"), Some(&1));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckEvent {
    pub events: EventSet,
    pub stream_id: u32,
    /// The cumulative count the ACK carried, if it carried one.
    pub acked_packets: Option<u64>,
    /// [`FlowState::now_ns`] when the datagram was received.
    pub rx_ns: u64,
}

/// What the ACK core counted, returned when it stops.
///
/// ```
/// use ringshot::flow::{AckCore, AckCoreConfig, FlowState};
/// use ringshot::wire::ack::{EventSet, Repr};
/// use std::sync::Arc;
/// # fn main() -> std::io::Result<()> {
/// let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// let to = socket.local_addr()?;
/// let device = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// let stranger = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// let cfg = AckCoreConfig { device: Some(device.local_addr()?), ..AckCoreConfig::default() };
/// let mut core = AckCore::spawn(socket.try_clone()?, Arc::new(FlowState::new(0)), cfg)?;
/// stranger.send_to(b"not an ACK", to)?; // wrong source: ignored
/// device.send_to(b"not an ACK", to)?; // right source, garbage: malformed
/// let mark = Repr { stream_id: 0, ack_number: 0, consumed: 0, consumed_bytes: None, credit: None, events: EventSet::BURST_ACK };
/// device.send_to(&mark.to_bytes(), to)?; // a valid ACK, read after the two above
/// while core.events().next().is_none() {
///     std::thread::sleep(std::time::Duration::from_millis(1));
/// }
/// let stats = core.stop();
/// assert_eq!((stats.foreign_source, stats.malformed_total(), stats.accepted), (1, 1, 1));
/// assert_eq!(stats.malformed.get("truncated"), Some(&1)); // 10 bytes: shorter than any ACK
/// assert_eq!(stats.icmp_errors.total(), 0);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
#[non_exhaustive]
pub struct AckStats {
    /// Valid ACKs from the device, applied.
    pub accepted: u64,
    /// Valid ACKs whose count was below the acknowledged count (reordered or duplicated late).
    pub stale: u64,
    /// ACKs for more packets or bytes than the TX core had published as sent; ignored.
    pub beyond_sent: u64,
    /// Datagrams from an address other than the device; ignored.
    pub foreign_source: u64,
    /// Datagrams a parser rejected, by [`WireError::name`].
    pub malformed: BTreeMap<&'static str, u64>,
    /// Events seen, by [`EventSet`] name (counted even when the queue was full).
    pub events: BTreeMap<&'static str, u64>,
    /// Events that did not fit in the queue.
    pub events_dropped: u64,
    /// ACKs that moved the acknowledged packet count.
    pub advances: u64,
    /// Device restarts seen (each bumps [`FlowState::generation`]).
    pub restarts: u64,
    pub datagrams: u64,
    /// Receive calls that returned at least one datagram.
    pub batches: u64,
    pub max_batch: u64,
    /// Receive errors survived (ECONNREFUSED after an ICMP error, EINTR, ENOMEM ...).
    pub recv_errors: u64,
    /// Reports read from the socket's error queue, by kind (see [`IcmpErrors`]).
    pub icmp_errors: IcmpErrors,
    /// Whether pinning to the requested core succeeded (`None`: not requested).
    pub pinned: Option<bool>,
    /// The error that ended the thread early, if any.
    pub error: Option<String>,
}

/// Error reports the kernel queued on the ACK socket (IP_RECVERR), by kind. They come from ICMP
/// errors answering the sender's own datagrams, so on the data socket they say what the network
/// thinks of the stream: `port_unreachable` means nothing listens at the device's port (the
/// device is down or restarting), `host_unreachable` that the device or the route to it is
/// gone. They are counted and read off the queue, never believed as flow-control input.
///
/// ```
/// use ringshot::flow::IcmpErrors;
///
/// let e = IcmpErrors { port_unreachable: 3, ..IcmpErrors::default() };
/// assert_eq!(e.total(), 3); // the device's port was closed three times: down or restarting
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct IcmpErrors {
    /// ICMP / ICMPv6 port unreachable.
    pub port_unreachable: u64,
    /// ICMP / ICMPv6 host or network unreachable.
    pub host_unreachable: u64,
    /// Any other ICMP error.
    pub other: u64,
    /// Reports raised by this host rather than by an ICMP message.
    pub local: u64,
}

impl IcmpErrors {
    fn count(&mut self, report: ErrorReport) {
        *match report {
            ErrorReport::PortUnreachable => &mut self.port_unreachable,
            ErrorReport::HostUnreachable => &mut self.host_unreachable,
            ErrorReport::OtherIcmp => &mut self.other,
            ErrorReport::Local => &mut self.local,
        } += 1;
    }

    pub fn total(&self) -> u64 {
        self.port_unreachable + self.host_unreachable + self.other + self.local
    }
}

impl AckStats {
    pub fn malformed_total(&self) -> u64 {
        self.malformed.values().sum()
    }
}

/// The running ACK core. Dropping it stops the thread too.
///
/// ```
/// use ringshot::flow::{AckCore, AckCoreConfig, FlowState};
/// use std::sync::Arc;
/// # fn main() -> std::io::Result<()> {
/// let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// let state = Arc::new(FlowState::new(0));
/// let core = AckCore::spawn(socket, state.clone(), AckCoreConfig::default())?;
/// assert!(!core.is_finished());
/// let _tid = core.thread_id(); // for `taskset` or a scheduler policy, where the OS has one
/// let stats = core.stop(); // within one poll timeout
/// assert_eq!((stats.datagrams, state.acked_packets()), (0, 0));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct AckCore {
    stop: Arc<AtomicBool>,
    thread_id: Option<u32>,
    handle: Option<JoinHandle<AckStats>>,
    events: rtrb::Consumer<AckEvent>,
}

impl AckCore {
    /// Starts the `ringshot-ack` thread on `socket` (a clone of the data socket, or one bound
    /// for ACKs) with the parser for `cfg.format`.
    pub fn spawn(
        socket: UdpSocket,
        state: Arc<FlowState>,
        cfg: AckCoreConfig,
    ) -> io::Result<AckCore> {
        let parser = cfg.format.parser(state.start_seq());
        AckCore::spawn_with_parser(socket, state, cfg, parser)
    }

    /// As [`AckCore::spawn`], with a parser of the caller's (`cfg.format` is not used).
    ///
    /// ```
    /// use ringshot::flow::{AckCore, AckCoreConfig, FlowState, Usrp2Parser};
    /// use std::sync::Arc;
    /// # fn main() -> std::io::Result<()> {
    /// let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// let parser = Box::new(Usrp2Parser { stream_id: 5 });
    /// let core = AckCore::spawn_with_parser(socket, Arc::new(FlowState::new(0)), AckCoreConfig::default(), parser)?;
    /// core.stop();
    /// // A device filter must name an exact port.
    /// let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// let cfg = AckCoreConfig { device: Some("127.0.0.1:0".parse().unwrap()), ..AckCoreConfig::default() };
    /// assert!(AckCore::spawn(socket, Arc::new(FlowState::new(0)), cfg).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn spawn_with_parser(
        socket: UdpSocket,
        state: Arc<FlowState>,
        cfg: AckCoreConfig,
        parser: Box<dyn AckParser>,
    ) -> io::Result<AckCore> {
        if cfg.device.is_some_and(|d| d.port() == 0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the ACK source must be an exact address and port (port 0 matches nothing)",
            ));
        }
        AckRx::prepare(&socket, cfg.rcvbuf)?;
        let (producer, events) = rtrb::RingBuffer::new(cfg.event_capacity.max(1));
        let stop = Arc::new(AtomicBool::new(false));
        let worker = Worker {
            state,
            parser,
            device: cfg.device,
            events: producer,
            stats: Counters::default(),
        };
        let stop2 = stop.clone();
        let (tid_tx, tid_rx) = std::sync::mpsc::sync_channel(1);
        let handle = std::thread::Builder::new()
            .name("ringshot-ack".into())
            .spawn(move || {
                let _ = tid_tx.send(current_thread_id());
                worker.run(AckRx::new(socket), &cfg, &stop2)
            })?;
        Ok(AckCore {
            stop,
            thread_id: tid_rx.recv().ok().flatten(),
            handle: Some(handle),
            events,
        })
    }

    /// Pops every queued device event (underflow, sequence error, ...). Never blocks.
    pub fn events(&mut self) -> impl Iterator<Item = AckEvent> + '_ {
        std::iter::from_fn(move || self.events.pop().ok())
    }

    /// The kernel's id of the ACK thread (Linux), for tools that watch or place it
    /// (`/proc/<pid>/task/<tid>`, `taskset -p`).
    pub fn thread_id(&self) -> Option<u32> {
        self.thread_id
    }

    /// True once the thread has ended (only early on a fatal socket error).
    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Stops the thread (within one poll timeout) and returns its counters.
    pub fn stop(mut self) -> AckStats {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> AckStats {
        self.stop.store(true, Ordering::Relaxed);
        match self.handle.take().map(JoinHandle::join) {
            Some(Ok(stats)) => stats,
            Some(Err(_)) => AckStats {
                error: Some("the ACK thread panicked".into()),
                ..AckStats::default()
            },
            None => AckStats::default(),
        }
    }
}

impl Drop for AckCore {
    fn drop(&mut self) {
        if self.handle.is_some() {
            self.stop_and_join();
        }
    }
}

/// Hot-path counters: arrays, no allocation; turned into maps when the thread ends.
#[derive(Debug, Default)]
struct Counters {
    malformed: [u64; WireError::ALL.len()],
    events: [u64; EventSet::NAMED.len()],
    s: AckStats,
}

struct Worker {
    state: Arc<FlowState>,
    parser: Box<dyn AckParser>,
    device: Option<SocketAddr>,
    events: rtrb::Producer<AckEvent>,
    stats: Counters,
}

/// Transient receive errors: an ICMP error queued on the socket (the device port was closed for
/// a moment, a route flapped), a signal, memory pressure.
fn transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::OutOfMemory
    ) || transient_errno(e.raw_os_error())
}

fn transient_errno(code: Option<i32>) -> bool {
    code.is_some_and(crate::sys::is_transient_recv_errno)
}

fn is_empty(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Exact match of address and port (an IPv4-mapped IPv6 source equals its IPv4 address).
fn same_source(device: SocketAddr, src: Option<SocketAddr>) -> bool {
    src.is_some_and(|s| {
        s.ip().to_canonical() == device.ip().to_canonical() && device.port() == s.port()
    })
}

/// The calling thread's kernel id, read from `/proc/thread-self` (Linux; `None` elsewhere).
fn current_thread_id() -> Option<u32> {
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    link.file_name()?.to_str()?.parse().ok()
}

impl Worker {
    fn run(mut self, mut rx: AckRx, cfg: &AckCoreConfig, stop: &AtomicBool) -> AckStats {
        if let Some(core) = cfg.core {
            self.stats.s.pinned = Some(crate::sys::pin_current(core));
        }
        'outer: while !stop.load(Ordering::Relaxed) {
            if cfg.wait == AckWait::Block {
                match rx.wait(cfg.poll_timeout) {
                    Ok(AckWake::Readable) => {}
                    Ok(AckWake::ErrorQueued) => self.drain_errors(&mut rx),
                    Ok(AckWake::Idle) => continue,
                    Err(e) => {
                        self.stats.s.error = Some(format!("poll on the ACK socket: {e}"));
                        break;
                    }
                }
            }
            // Drain: read batches until the queue is empty (a short batch means it was).
            loop {
                let state = &self.state;
                let rx_ns = state.now_ns();
                let mut batch_n = 0u64;
                let res = rx.recv_batch(&mut |d, src| {
                    batch_n += 1;
                    handle(
                        &mut self.stats,
                        &mut self.events,
                        &mut *self.parser,
                        state,
                        self.device,
                        d,
                        src,
                        rx_ns,
                    );
                });
                match res {
                    Ok(n) => {
                        self.stats.s.batches += 1;
                        self.stats.s.max_batch = self.stats.s.max_batch.max(batch_n);
                        if n < ACK_BATCH {
                            break;
                        }
                    }
                    Err(e) if is_empty(&e) => break,
                    Err(e) if transient(&e) => {
                        // Back to the wait, which also checks the stop flag. The report behind
                        // an ICMP error is read now: busy polling never waits to be told.
                        self.stats.s.recv_errors += 1;
                        self.drain_errors(&mut rx);
                        break;
                    }
                    Err(e) => {
                        self.stats.s.error = Some(format!("receive on the ACK socket: {e}"));
                        break 'outer;
                    }
                }
            }
            if cfg.wait == AckWait::BusyPoll {
                std::hint::spin_loop();
            }
        }
        self.finish()
    }

    fn drain_errors(&mut self, rx: &mut AckRx) {
        let icmp = &mut self.stats.s.icmp_errors;
        rx.drain_errors(&mut |r| icmp.count(r));
    }

    fn finish(self) -> AckStats {
        let Counters {
            malformed,
            events,
            mut s,
        } = self.stats;
        s.malformed = WireError::ALL
            .iter()
            .zip(malformed)
            .map(|(e, n)| (e.name(), n))
            .collect();
        s.events = EventSet::NAMED
            .iter()
            .zip(events)
            .filter(|(_, n)| *n > 0)
            .map(|((_, name), n)| (*name, n))
            .collect();
        s
    }
}

/// Handles one datagram. A free function so the receive callback can borrow the worker's
/// fields separately.
#[allow(clippy::too_many_arguments)]
fn handle(
    c: &mut Counters,
    events: &mut rtrb::Producer<AckEvent>,
    parser: &mut dyn AckParser,
    state: &FlowState,
    device: Option<SocketAddr>,
    datagram: &[u8],
    src: Option<SocketAddr>,
    rx_ns: u64,
) {
    c.s.datagrams += 1;
    if let Some(dev) = device {
        if !same_source(dev, src) {
            c.s.foreign_source += 1;
            return;
        }
    }
    // This thread is the only writer of the acknowledged count.
    let acked = state.acked_packets();
    let update: AckUpdate = match parser.parse(datagram, acked) {
        Ok(u) => u,
        Err(e) => {
            if let Some(n) = c.malformed.get_mut(e as usize) {
                *n += 1;
            }
            return;
        }
    };
    let beyond_pkts = update
        .acked_packets
        .is_some_and(|p| p > state.sent_packets());
    let beyond_bytes = update.acked_bytes.is_some_and(|b| b > state.sent_bytes());
    if beyond_pkts || beyond_bytes {
        c.s.beyond_sent += 1;
        return;
    }
    // Events are facts about the device whatever the age of the count beside them. They are
    // published before the count moves, so whoever sees the count (the TX core, an app) also
    // sees the restart or error that came with it.
    if !update.events.is_empty() {
        if update.events.contains_any(EventSet::RESTART) {
            c.s.restarts += 1;
            state.bump_generation();
        }
        for (i, (e, _)) in EventSet::NAMED.iter().enumerate() {
            if update.events.contains_any(*e) {
                c.events[i] += 1;
            }
        }
        let ev = AckEvent {
            events: update.events,
            stream_id: update.stream_id,
            acked_packets: update.acked_packets,
            rx_ns,
        };
        if events.push(ev).is_err() {
            c.s.events_dropped += 1;
        }
    }
    let stale = update.acked_packets.is_some_and(|p| p < acked);
    if stale {
        c.s.stale += 1;
    } else {
        c.s.accepted += 1;
        if let Some(p) = update.acked_packets {
            if state.advance(p, update.acked_bytes, rx_ns) {
                c.s.advances += 1;
            }
        }
        state.set_capacity(update.capacity_bytes, update.capacity_packets);
    }
}
