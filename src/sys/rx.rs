//! The contract between the portable receiver (the `recv` module) and the OS receive backends:
//! what a backend hands on ([`RxDatagram`]), what it implements ([`RxBackend`]), and which one
//! [`open_rx`] opens. Each family's own receive path is its `data_rx` (socket set-up, the
//! batched receive); Unix control messages are parsed in `unix/cmsg.rs`.
//!
//! A backend receives batches of datagrams into buffers it allocated once, and hands each one to
//! the receiver as an [`RxDatagram`]: the bytes, the source address, the kernel receive timestamp
//! and, when UDP GRO coalesced several datagrams into one buffer, their segment size. It never
//! blocks in [`RxBackend::recv_batch`]; [`RxBackend::wait`] blocks for readability with a timeout.
//!
//! Two backends exist on Linux: `mmsg` ([`super::unix::data_rx::MmsgRx`], recvmmsg in batches of 64)
//! and `uring` ([`super::linux::uring_rx::UringRx`], io_uring multishot RECVMSG with a provided buffer
//! ring). [`open_rx`] sets the socket up and picks one.
// Opening a receive backend is the receiver's (`recv` feature); the ACK path uses the rest
// (Windows' ACK path none of the drop counter).
#![cfg_attr(any(windows, not(feature = "recv")), allow(dead_code))]

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

// The family's receive path: socket set-up and the batched (non-io_uring) backend.
#[cfg(all(test, unix, feature = "recv"))]
pub(crate) use super::unix::cmsg::send_gso;
#[cfg(unix)]
use super::unix::data_rx as family;
#[cfg(windows)]
use super::windows::data_rx as family;
#[cfg(all(test, windows, feature = "recv"))]
pub(crate) use family::send_gso;
pub(crate) use family::{gro_supported, prepare_socket};

/// Datagrams per recvmmsg call.
pub const RX_BATCH: usize = 64;
/// Bytes of one receive buffer: any UDP datagram, and any GRO-coalesced one, fits.
pub const RX_BUF_LEN: usize = 65_536;
/// Space for a source address in every receive slot (`sockaddr_storage`).
pub const NAME_LEN: usize = 128;
/// Space for the control messages of one datagram (GRO segment size, drop counter, timestamp).
pub const CONTROL_LEN: usize = 128;

/// One datagram as a backend received it.
///
/// ```
/// use ringshot::backend::RxDatagram;
///
/// // A GRO-coalesced buffer: three datagrams of 1000 bytes, the last one of 200.
/// let buf = vec![7u8; 2200];
/// let d = RxDatagram {
///     data: &buf,
///     segment: 1000,
///     src: "127.0.0.1:5000".parse().unwrap(),
///     at_ns: 0,
///     truncated: false,
/// };
/// // Split it as the receiver does (`segment` 0 would mean one datagram).
/// let size = if d.segment == 0 { d.data.len() } else { d.segment };
/// let lens: Vec<usize> = d.data.chunks(size).map(<[u8]>::len).collect();
/// assert_eq!(lens, [1000, 1000, 200]);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RxDatagram<'a> {
    /// The received bytes. With GRO this may hold several datagrams of `segment` bytes each, the
    /// last one possibly shorter.
    pub data: &'a [u8],
    /// GRO segment size from the UDP_GRO control message; 0 when `data` is one datagram.
    pub segment: usize,
    /// Where it came from (`0.0.0.0:0` if the kernel gave an address of another family).
    pub src: SocketAddr,
    /// Kernel receive timestamp (SO_TIMESTAMPNS, CLOCK_REALTIME) in ns since the epoch; 0 when
    /// the kernel gave none.
    pub at_ns: u64,
    /// The datagram did not fit the buffer and was cut (MSG_TRUNC).
    pub truncated: bool,
}

/// A receive backend: the OS-specific part of the receiver, which receives batches of datagrams
/// without blocking and waits for more with a timeout. The receiver's own backends (recvmmsg,
/// io_uring multishot) are private and chosen with `ringshot::recv::RecvBackend`; the trait is
/// public so the contract can be read and mocked. An in-memory backend that hands out queued
/// datagrams, driven as the receiver drives one (drain until nothing is ready, then wait):
///
/// ```
/// use ringshot::backend::{RxBackend, RxDatagram};
/// use std::collections::VecDeque;
/// use std::net::SocketAddr;
/// use std::time::Duration;
///
/// struct Queued {
///     from: SocketAddr,
///     queue: VecDeque<Vec<u8>>,
/// }
///
/// impl RxBackend for Queued {
///     fn name(&self) -> &'static str {
///         "queued"
///     }
///     fn gro(&self) -> bool {
///         false
///     }
///     fn local_addr(&self) -> std::io::Result<SocketAddr> {
///         Ok("127.0.0.1:9000".parse().unwrap())
///     }
///     fn recv_batch(&mut self, on: &mut dyn FnMut(&RxDatagram<'_>)) -> std::io::Result<usize> {
///         let n = self.queue.len().min(2); // batches of two
///         for data in self.queue.drain(..n) {
///             on(&RxDatagram { data: &data, segment: 0, src: self.from, at_ns: 0, truncated: false });
///         }
///         Ok(n)
///     }
///     fn wait(&mut self, _timeout: Duration) -> std::io::Result<bool> {
///         Ok(!self.queue.is_empty())
///     }
///     fn kernel_drops(&self) -> u64 {
///         0
///     }
/// }
///
/// let from = "127.0.0.1:5000".parse().unwrap();
/// let mut rx = Queued { from, queue: (0u8..5).map(|i| vec![i; 10]).collect() };
/// let mut got = Vec::new();
/// loop {
///     let n = rx.recv_batch(&mut |d| got.push((d.data[0], d.data.len(), d.src))).unwrap();
///     if n == 0 && !rx.wait(Duration::from_millis(1)).unwrap() {
///         break;
///     }
/// }
/// assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
/// assert!(got.iter().all(|&(_, len, src)| len == 10 && src == from));
/// assert_eq!(rx.rearms(), 0); // the provided default
/// ```
pub trait RxBackend: Send {
    /// Short name used in reports: `uring` or `mmsg`.
    fn name(&self) -> &'static str;

    /// Whether UDP GRO is on for this socket.
    fn gro(&self) -> bool;

    /// The address the socket is bound to.
    fn local_addr(&self) -> io::Result<SocketAddr>;

    /// Receives what is ready without blocking and calls `on` once per received buffer, in
    /// arrival order. Returns how many buffers were delivered; 0 means nothing was ready (the
    /// socket said EAGAIN): call [`wait`](Self::wait) before trying again.
    fn recv_batch(&mut self, on: &mut dyn FnMut(&RxDatagram<'_>)) -> io::Result<usize>;

    /// Waits up to `timeout` for something to receive. Returns whether there is.
    fn wait(&mut self, timeout: Duration) -> io::Result<bool>;

    /// Datagrams the kernel dropped at this socket since it was created, as last reported by the
    /// SO_RXQ_OVFL control message (the kernel attaches the count to the datagrams queued after
    /// a drop, so drops after the last received datagram are not seen). The kernel counts
    /// buffers: a dropped GRO-coalesced buffer of 44 segments counts once.
    fn kernel_drops(&self) -> u64;

    /// Times a multishot receive had to be re-armed (io_uring only; 0 elsewhere).
    fn rearms(&self) -> u64 {
        0
    }
}

/// Which receive backend to open (`ringshot::recv::RecvBackend`, with the `recv` feature).
///
/// ```
/// # #[cfg(feature = "recv")]
/// # {
/// use ringshot::recv::{RecvBackend, RecvConfig};
///
/// let b: RecvBackend = "mmsg".parse().unwrap();
/// assert_eq!((b, b.name(), b.to_string()), (RecvBackend::Mmsg, "mmsg", "mmsg".to_string()));
/// assert_eq!(RecvBackend::default(), RecvBackend::Auto);
/// assert!("dpdk".parse::<RecvBackend>().is_err());
///
/// let cfg = RecvConfig::builder("127.0.0.1:0".parse().unwrap())
///     .backend(RecvBackend::Mmsg)
///     .build()
///     .unwrap();
/// assert_eq!(cfg.backend(), RecvBackend::Mmsg);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RxChoice {
    /// io_uring if it works, else recvmmsg, with a one-line notice.
    #[default]
    Auto,
    /// io_uring multishot RECVMSG. Linux 6.0+.
    Uring,
    /// recvmmsg batches.
    Mmsg,
}

impl RxChoice {
    /// The name used on the command line and in reports (`auto`, `uring`, `mmsg`); what
    /// `from_str` parses and `Display` writes.
    ///
    /// ```
    /// # #[cfg(feature = "recv")]
    /// # {
    /// use ringshot::recv::RecvBackend;
    ///
    /// for b in [RecvBackend::Auto, RecvBackend::Uring, RecvBackend::Mmsg] {
    ///     assert_eq!(b.name().parse::<RecvBackend>(), Ok(b));
    /// }
    /// # }
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            RxChoice::Auto => "auto",
            RxChoice::Uring => "uring",
            RxChoice::Mmsg => "mmsg",
        }
    }
}

impl std::str::FromStr for RxChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(RxChoice::Auto),
            "uring" => Ok(RxChoice::Uring),
            "mmsg" => Ok(RxChoice::Mmsg),
            _ => Err(format!(
                "unknown receive backend '{s}' (expected auto, uring or mmsg)"
            )),
        }
    }
}

impl std::fmt::Display for RxChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What [`open_rx`] needs to know.
#[derive(Debug, Clone, Copy)]
pub struct RxOptions {
    pub choice: RxChoice,
    /// Turn UDP GRO on when the kernel has it.
    pub gro: bool,
    /// SO_RCVBUF to ask for (SO_RCVBUFFORCE first); 0 leaves the default.
    pub rcvbuf: usize,
    /// Buffers in the io_uring provided-buffer ring (a power of two).
    #[cfg_attr(not(ringshot_uring), allow(dead_code))]
    pub uring_buffers: u16,
    /// Behave as if io_uring were unavailable (tests of the fallback).
    #[cfg_attr(not(ringshot_uring), allow(dead_code))]
    pub uring_unavailable: bool,
}

/// A backend that could not be opened.
#[derive(Debug)]
pub struct OpenRxError {
    pub backend: &'static str,
    pub error: io::Error,
}

/// Sets `sock` up for receiving (non-blocking, receive buffer, GRO, drop counter, timestamps) and
/// opens the backend `opts` asks for. `auto` tries io_uring first and falls back to recvmmsg;
/// the fallback and every refused option come back as one-line notices.
///
/// With io_uring the ring is tied to the calling thread: call this on the thread that receives.
pub fn open_rx(
    sock: UdpSocket,
    opts: &RxOptions,
) -> Result<(Box<dyn RxBackend>, Vec<String>), OpenRxError> {
    let mut notices = Vec::new();
    let setup = prepare_socket(&sock, opts).map_err(|error| OpenRxError {
        backend: opts.choice.name(),
        error,
    })?;
    if opts.rcvbuf > 0 && setup.rcvbuf < opts.rcvbuf {
        notices.push(format!(
            "the receive buffer is {} bytes, not the {} asked for (SO_RCVBUFFORCE needs \
             CAP_NET_ADMIN; raise net.core.rmem_max)",
            setup.rcvbuf, opts.rcvbuf
        ));
    }
    if opts.gro && !setup.gro {
        notices.push(
            "UDP GRO is not available on this socket; receiving one datagram per buffer".into(),
        );
    }
    // Where io_uring is not built in, `auto` goes straight to the batched path without a notice.
    let try_uring = match opts.choice {
        RxChoice::Uring => true,
        RxChoice::Auto => cfg!(ringshot_uring),
        RxChoice::Mmsg => false,
    };
    if try_uring {
        match open_uring(&sock, setup.gro, opts) {
            Ok(b) => return Ok((b, notices)),
            Err(error) if opts.choice == RxChoice::Uring => {
                return Err(OpenRxError {
                    backend: "uring",
                    error,
                })
            }
            Err(e) => notices.push(format!(
                "io_uring multishot receive is unavailable ({e}); auto falls back to recvmmsg"
            )),
        }
    }
    family::open_batched(sock, setup.gro)
        .map(|b| (b, notices))
        .map_err(|(backend, error)| OpenRxError { backend, error })
}

#[cfg(ringshot_uring)]
fn open_uring(sock: &UdpSocket, gro: bool, opts: &RxOptions) -> io::Result<Box<dyn RxBackend>> {
    if opts.uring_unavailable {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "io_uring disabled (forced by test fault injection)",
        ));
    }
    Ok(Box::new(super::linux::uring_rx::UringRx::new(
        sock.try_clone()?,
        gro,
        opts.uring_buffers,
    )?))
}

#[cfg(not(ringshot_uring))]
fn open_uring(_: &UdpSocket, _: bool, _: &RxOptions) -> io::Result<Box<dyn RxBackend>> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "io_uring is Linux-only",
    ))
}

/// What [`prepare_socket`] managed to switch on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RxSetup {
    pub gro: bool,
    /// SO_RCVBUF as the kernel reports it afterwards (Linux doubles the request).
    pub rcvbuf: usize,
    pub drop_counter: bool,
    pub timestamps: bool,
}

/// The address reported when the kernel gave none we understand.
pub const UNKNOWN_SRC: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::UNSPECIFIED,
    0,
));

/// Keeps the largest SO_RXQ_OVFL count seen. The kernel's counter is a wrapping u32; this widens it
/// to u64 by accumulating forward steps.
#[derive(Debug, Clone, Copy, Default)]
pub struct DropCounter {
    last: u32,
    total: u64,
}

impl DropCounter {
    #[inline]
    pub fn update(&mut self, reported: u32) {
        let step = reported.wrapping_sub(self.last);
        // Datagrams dequeued out of order (or a stale count) show as a huge "step": ignore those.
        if step != 0 && step < u32::MAX / 2 {
            self.total += u64::from(step);
            self.last = reported;
        }
    }

    pub fn total(&self) -> u64 {
        self.total
    }
}

/// What one report on a socket's error queue (IP_RECVERR / IPV6_RECVERR) was about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(ringshot_errqueue), allow(dead_code))] // no error queue: nothing reports these
pub enum ErrorReport {
    /// ICMP / ICMPv6 port unreachable: nothing listens on the peer's port.
    PortUnreachable,
    /// ICMP / ICMPv6 host or network unreachable.
    HostUnreachable,
    /// Any other ICMP error (time exceeded, fragmentation needed, administratively prohibited ...).
    OtherIcmp,
    /// A report raised by this host, not by an ICMP message (for example EMSGSIZE).
    Local,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_counter_widens_and_ignores_stale_counts() {
        let mut d = DropCounter::default();
        d.update(5);
        d.update(3); // stale: an earlier count seen later
        assert_eq!(d.total(), 5);
        d.update(u32::MAX);
        assert_eq!(
            d.total(),
            5,
            "a jump of more than half the range is taken as stale"
        );
        d.update(1 << 30);
        d.update((1 << 31) + 100);
        d.update(7); // wrapped past 2^32
        assert_eq!(d.total(), (1 << 32) + 7);
    }
}
