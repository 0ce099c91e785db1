//! The handler side of the receive path: what consumes each datagram.

use std::net::SocketAddr;
use std::time::Duration;

use super::check::StreamChecker;

/// Where and when one datagram arrived.
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
pub trait DatagramSink: Send {
    /// One datagram: its UDP payload, source and receive time.
    fn datagram(&mut self, payload: &[u8], meta: &RxMeta);

    /// Called after each received batch and before each wait for data, with the current time (ns
    /// since the epoch, CLOCK_REALTIME). Returns how long the receiver may sleep before calling
    /// again (for time-driven work such as periodic ACKs); `None` for no deadline.
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
}

/// CLOCK_REALTIME now, in ns since the epoch (the clock of [`RxMeta::at_ns`]).
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos().min(u128::from(u64::MAX)) as u64)
}
