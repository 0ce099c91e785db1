//! The handler side of the receive path: what consumes each datagram.

use std::net::SocketAddr;
use std::time::Duration;

use super::check::StreamChecker;

/// Where and when one datagram arrived.
///
/// ```
/// use ringshot::recv::{now_ns, DatagramSink, RxMeta, StreamChecker};
/// use ringshot::wire::header::pattern_packet;
///
/// let mut checker = StreamChecker::new(64, true);
/// let meta = RxMeta { src: "127.0.0.1:5000".parse().unwrap(), at_ns: now_ns() };
/// checker.datagram(&pattern_packet(1, 0, 100), &meta);
/// assert_eq!(checker.packets(), 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxMeta {
    /// The sender's address (`0.0.0.0:0` if the kernel gave none).
    pub src: SocketAddr,
    /// Receive time in ns since the Unix epoch (CLOCK_REALTIME): the kernel's timestamp when the
    /// socket has one, else the time the batch was read. The segments of one GRO buffer share
    /// one timestamp.
    pub at_ns: u64,
}

/// Consumes the datagrams the receiver drains, one call per datagram (GRO buffers are already cut
/// into their segments). Called on the receive thread, between receive syscalls: it must not
/// block, and should not allocate per datagram.
///
/// Sinks stack like smoltcp's device middleware: a wrapper (a seeded fault injector, a device
/// model) owns an inner sink, does its work and passes datagrams on, or not, and forwards the
/// other calls. [`StreamChecker`] is the usual bottom of the stack; wrappers return it from
/// [`checker`](Self::checker) so the receiver can build its report.
///
/// ```
/// use ringshot::recv::{DatagramSink, Receiver, RecvConfig, RxMeta, StreamChecker};
/// use std::time::Duration;
///
/// /// Middleware: counts datagrams shorter than 100 bytes and passes everything on.
/// struct CountShort {
///     inner: StreamChecker,
///     short: u64,
/// }
///
/// impl DatagramSink for CountShort {
///     fn datagram(&mut self, payload: &[u8], meta: &RxMeta) {
///         if payload.len() < 100 {
///             self.short += 1;
///         }
///         self.inner.datagram(payload, meta);
///     }
///     fn checker(&self) -> Option<&StreamChecker> {
///         Some(&self.inner) // so the report still has the sequence counts
///     }
/// }
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cfg = RecvConfig::builder("127.0.0.1:0".parse()?).count(3).idle_exit(Duration::from_secs(5)).build()?;
/// let sink = CountShort { inner: cfg.checker(), short: 0 };
/// let rx = Receiver::spawn_with(cfg, sink)?;
/// let tx = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// for (seq, len) in [(0, 64), (1, 64), (2, 500)] {
///     tx.send_to(&ringshot::wire::header::pattern_packet(0, seq, len), rx.local_addr())?;
/// }
/// let (report, sink) = rx.join_with_sink()?;
/// assert_eq!((report.packets, sink.short), (3, 2));
/// # Ok(())
/// # }
/// ```
pub trait DatagramSink: Send {
    /// One datagram: its UDP payload, source and receive time.
    fn datagram(&mut self, payload: &[u8], meta: &RxMeta);

    /// Called after each received batch and before each wait for data, with the current time (ns
    /// since the epoch, CLOCK_REALTIME). Returns how long the receiver may sleep before calling
    /// again (for time-driven work such as periodic ACKs); `None` for no deadline.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ringshot::recv::{DatagramSink, RxMeta};
    ///
    /// /// Reports the datagram rate once a second: time-driven work without a thread of its own.
    /// struct Rate {
    ///     count: u64,
    ///     next_report_ns: u64,
    /// }
    ///
    /// impl DatagramSink for Rate {
    ///     fn datagram(&mut self, _payload: &[u8], _meta: &RxMeta) {
    ///         self.count += 1;
    ///     }
    ///     fn tick(&mut self, now_ns: u64) -> Option<Duration> {
    ///         if now_ns >= self.next_report_ns {
    ///             log::info!("{} datagrams/s", self.count);
    ///             self.count = 0;
    ///             self.next_report_ns = now_ns + 1_000_000_000;
    ///         }
    ///         Some(Duration::from_nanos(self.next_report_ns - now_ns)) // wake me then
    ///     }
    /// }
    ///
    /// let mut sink = Rate { count: 0, next_report_ns: 0 };
    /// assert_eq!(sink.tick(0), Some(Duration::from_secs(1)));
    /// assert_eq!(sink.tick(400_000_000), Some(Duration::from_millis(600)));
    /// ```
    fn tick(&mut self, now_ns: u64) -> Option<Duration> {
        let _ = now_ns;
        None
    }

    /// Called once when the receiver stops, before the report is built (e.g. to release
    /// datagrams held back for reordering).
    fn finish(&mut self, now_ns: u64) {
        let _ = now_ns;
    }

    /// The sequence checker at the bottom of this stack, if there is one.
    fn checker(&self) -> Option<&StreamChecker> {
        None
    }

    /// A new stream begins (a reusable receiver saw a new sender, or the start sequence again):
    /// forget per-stream state such as sequence windows. Counts carry on.
    fn new_stream(&mut self) {}

    /// The stream from `src` has ended (a receiver tracking several senders at once,
    /// [`RecvConfigBuilder::senders`](super::RecvConfigBuilder::senders), closed it: the sender
    /// started again, or went quiet and another took its place): forget that sender's
    /// per-stream state only. The default calls [`new_stream`](Self::new_stream), which is right
    /// for a stack that checks one sender at a time; a wrapper that keeps per-sender state, or
    /// wraps a [`StreamChecker`] made for several senders, forwards it.
    fn end_stream(&mut self, src: SocketAddr) {
        let _ = src;
        self.new_stream();
    }
}

impl<S: DatagramSink + ?Sized> DatagramSink for Box<S> {
    fn datagram(&mut self, payload: &[u8], meta: &RxMeta) {
        (**self).datagram(payload, meta)
    }
    fn tick(&mut self, now_ns: u64) -> Option<Duration> {
        (**self).tick(now_ns)
    }
    fn finish(&mut self, now_ns: u64) {
        (**self).finish(now_ns)
    }
    fn checker(&self) -> Option<&StreamChecker> {
        (**self).checker()
    }
    fn new_stream(&mut self) {
        (**self).new_stream()
    }
    fn end_stream(&mut self, src: SocketAddr) {
        (**self).end_stream(src)
    }
}

impl<S: DatagramSink + ?Sized> DatagramSink for &mut S {
    fn datagram(&mut self, payload: &[u8], meta: &RxMeta) {
        (**self).datagram(payload, meta)
    }
    fn tick(&mut self, now_ns: u64) -> Option<Duration> {
        (**self).tick(now_ns)
    }
    fn finish(&mut self, now_ns: u64) {
        (**self).finish(now_ns)
    }
    fn checker(&self) -> Option<&StreamChecker> {
        (**self).checker()
    }
    fn new_stream(&mut self) {
        (**self).new_stream()
    }
    fn end_stream(&mut self, src: SocketAddr) {
        (**self).end_stream(src)
    }
}

/// CLOCK_REALTIME now, in ns since the epoch (the clock of [`RxMeta::at_ns`]).
///
/// ```
/// let t = ringshot::recv::now_ns();
/// assert!(t > 1_600_000_000 * 1_000_000_000); // after September 2020
/// ```
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos().min(u128::from(u64::MAX)) as u64)
}
