//! The device's way out: where its ACK datagrams go.

use std::io;
use std::net::{SocketAddr, UdpSocket};

use super::fault::FaultCounts;

/// Room for the longest ACK any format emits (native 40 B, CHDR STRS 40 B, USRP2 ≤ 28 B).
pub const MAX_ACK_LEN: usize = 64;

/// Carries the device model's ACKs. Implemented by [`SocketLink`] (the real socket) and by
/// [`AckFaults`](super::AckFaults), the middleware that disturbs them; tests may record them.
///
/// ```
/// use std::net::SocketAddr;
/// use ringshot::device::AckLink;
///
/// /// Sends every ACK twice, to test a sender's duplicate handling.
/// struct Twice<L>(L);
///
/// impl<L: AckLink> AckLink for Twice<L> {
///     fn send(&mut self, ack: &[u8], to: SocketAddr, now_ns: u64) {
///         self.0.send(ack, to, now_ns);
///         self.0.send(ack, to, now_ns);
///     }
///     fn sent(&self) -> u64 {
///         self.0.sent()
///     }
/// }
///
/// let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
/// let to = sock.local_addr().unwrap();
/// let mut link = Twice(ringshot::device::SocketLink::new(sock));
/// link.send(b"ack", to, 0);
/// assert_eq!(link.sent(), 2);
/// ```
pub trait AckLink: Send {
    /// Sends (or queues) one ACK datagram to `to`. `now_ns` is the device's clock
    /// (CLOCK_REALTIME ns, as [`crate::recv::RxMeta::at_ns`]).
    fn send(&mut self, ack: &[u8], to: SocketAddr, now_ns: u64);

    /// Sends whatever has come due and returns when something next will (ns, same clock).
    fn poll(&mut self, now_ns: u64) -> Option<u64> {
        let _ = now_ns;
        None
    }

    /// Sends everything still queued; the device is stopping.
    fn finish(&mut self, now_ns: u64) {
        let _ = now_ns;
    }

    /// Datagrams handed to the network so far.
    fn sent(&self) -> u64;

    /// Sends that failed (the ACK is lost, as on a real network).
    fn send_errors(&self) -> u64 {
        0
    }

    /// Faults injected on this path, if it has an injector.
    fn fault_counts(&self) -> FaultCounts {
        FaultCounts::default()
    }
}

impl<L: AckLink + ?Sized> AckLink for Box<L> {
    fn send(&mut self, ack: &[u8], to: SocketAddr, now_ns: u64) {
        (**self).send(ack, to, now_ns)
    }
    fn poll(&mut self, now_ns: u64) -> Option<u64> {
        (**self).poll(now_ns)
    }
    fn finish(&mut self, now_ns: u64) {
        (**self).finish(now_ns)
    }
    fn sent(&self) -> u64 {
        (**self).sent()
    }
    fn send_errors(&self) -> u64 {
        (**self).send_errors()
    }
    fn fault_counts(&self) -> FaultCounts {
        (**self).fault_counts()
    }
}

/// Sends ACKs with one `sendto` each on a UDP socket: normally a clone of the data socket, so ACKs
/// leave from the port the data arrives on, as an SDR's do. A failed send (the socket is shared
/// with a non-blocking receiver, so a full send buffer is `EAGAIN`) loses that ACK and is counted;
/// ACKs are cumulative, so the next one repairs it.
///
/// ```
/// use ringshot::device::{AckLink, SocketLink};
///
/// let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
/// let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
/// let mut link = SocketLink::new(sock);
/// link.send(b"ack bytes", sender.local_addr().unwrap(), 0);
/// let mut buf = [0u8; 64];
/// let (n, _) = sender.recv_from(&mut buf).unwrap();
/// assert_eq!((&buf[..n], link.sent(), link.send_errors()), (&b"ack bytes"[..], 1, 0));
/// assert_eq!(link.last_error(), None);
/// ```
#[derive(Debug)]
pub struct SocketLink {
    sock: UdpSocket,
    sent: u64,
    errors: u64,
    last_error: Option<io::ErrorKind>,
}

impl SocketLink {
    pub fn new(sock: UdpSocket) -> SocketLink {
        SocketLink {
            sock,
            sent: 0,
            errors: 0,
            last_error: None,
        }
    }

    /// The kind of the last failed send, if any.
    pub fn last_error(&self) -> Option<io::ErrorKind> {
        self.last_error
    }
}

impl AckLink for SocketLink {
    fn send(&mut self, ack: &[u8], to: SocketAddr, _now_ns: u64) {
        match self.sock.send_to(ack, to) {
            Ok(_) => self.sent += 1,
            Err(e) => {
                self.errors += 1;
                self.last_error = Some(e.kind());
            }
        }
    }

    fn sent(&self) -> u64 {
        self.sent
    }

    fn send_errors(&self) -> u64 {
        self.errors
    }
}
