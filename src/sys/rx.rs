//! The contract between the portable receiver ([`crate::recv`]) and the OS receive backends, plus
//! the socket set-up and control-message parsing they share.
//!
//! A backend receives batches of datagrams into buffers it allocated once, and hands each one to
//! the receiver as an [`RxDatagram`]: the bytes, the source address, the kernel receive timestamp
//! and, when UDP GRO coalesced several datagrams into one buffer, their segment size. It never
//! blocks in [`RxBackend::recv_batch`]; [`RxBackend::wait`] blocks for readability with a timeout.
//!
//! Two backends exist on Linux: `mmsg` ([`super::unix::rx::MmsgRx`], recvmmsg in batches of 64)
//! and `uring` ([`super::linux::uring_rx::UringRx`], io_uring multishot RECVMSG with a provided buffer
//! ring). [`open_rx`] sets the socket up and picks one.
// Opening a receive backend is the receiver's (`recv` feature), and the control-message and
// address helpers serve the Unix receive paths only; the ACK path uses the rest.
#![cfg_attr(any(windows, not(feature = "recv")), allow(dead_code))]

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

/// Datagrams per recvmmsg call.
pub const RX_BATCH: usize = 64;
/// Bytes of one receive buffer: any UDP datagram, and any GRO-coalesced one, fits.
pub const RX_BUF_LEN: usize = 65_536;
/// Space for a source address in every receive slot (`sockaddr_storage`).
pub const NAME_LEN: usize = 128;
/// Space for the control messages of one datagram (GRO segment size, drop counter, timestamp).
pub const CONTROL_LEN: usize = 128;

/// One datagram as a backend received it.
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

/// A receive backend. See the module documentation.
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

/// Which receive backend to open.
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
    open_mmsg(sock, setup.gro).map(|b| (b, notices))
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

#[cfg(unix)]
fn open_mmsg(sock: UdpSocket, gro: bool) -> Result<Box<dyn RxBackend>, OpenRxError> {
    Ok(Box::new(super::unix::rx::MmsgRx::new(sock, gro)))
}

/// Windows: overlapped WSARecvFrom kept posted (there is no recvmmsg).
#[cfg(windows)]
fn open_mmsg(sock: UdpSocket, _gro: bool) -> Result<Box<dyn RxBackend>, OpenRxError> {
    super::windows::ack_rx::OverlappedDataRx::new(sock)
        .map(|b| Box::new(b) as Box<dyn RxBackend>)
        .map_err(|error| OpenRxError {
            backend: "overlapped",
            error,
        })
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

/// Sets the receive buffer; Windows has no GRO, drop counter or receive timestamps to switch on.
#[cfg(windows)]
pub fn prepare_socket(sock: &UdpSocket, opts: &RxOptions) -> io::Result<RxSetup> {
    // The receive path polls before every read; the blocking mode is left alone.
    let rcvbuf = if opts.rcvbuf > 0 {
        super::windows::socket::set_recv_buffer(sock, opts.rcvbuf)
    } else {
        0
    };
    Ok(RxSetup {
        rcvbuf,
        ..RxSetup::default()
    })
}

/// Makes `sock` non-blocking and switches on what the receiver uses: a large receive buffer,
/// UDP GRO (if `opts.gro`), the SO_RXQ_OVFL drop counter and SO_TIMESTAMPNS receive timestamps.
/// Each option the kernel refuses is reported off, not as an error.
#[cfg(unix)]
pub fn prepare_socket(sock: &UdpSocket, opts: &RxOptions) -> io::Result<RxSetup> {
    use std::os::fd::AsRawFd;
    sock.set_nonblocking(true)?;
    let fd = sock.as_raw_fd();
    let rcvbuf = if opts.rcvbuf > 0 {
        super::unix::socket::set_recv_buffer(fd, opts.rcvbuf)
    } else {
        0
    };
    #[cfg(ringshot_gso)]
    {
        let gro = opts.gro && setsockopt_on(fd, libc::SOL_UDP, libc::UDP_GRO).is_ok();
        let drop_counter = setsockopt_on(fd, libc::SOL_SOCKET, libc::SO_RXQ_OVFL).is_ok();
        let timestamps = setsockopt_on(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS).is_ok();
        Ok(RxSetup {
            gro,
            rcvbuf,
            drop_counter,
            timestamps,
        })
    }
    #[cfg(not(ringshot_gso))]
    Ok(RxSetup {
        rcvbuf,
        ..RxSetup::default()
    })
}

/// Whether the kernel takes UDP GRO on a receive socket.
pub(crate) fn gro_supported(sock: &UdpSocket) -> bool {
    #[cfg(ringshot_gso)]
    {
        use std::os::fd::AsRawFd;
        setsockopt_on(sock.as_raw_fd(), libc::SOL_UDP, libc::UDP_GRO).is_ok()
    }
    #[cfg(not(ringshot_gso))]
    {
        let _ = sock;
        false
    }
}

#[cfg(ringshot_gso)]
fn setsockopt_on(fd: std::os::fd::RawFd, level: libc::c_int, name: libc::c_int) -> io::Result<()> {
    let one: libc::c_int = 1;
    syscall!(setsockopt(
        fd,
        level,
        name,
        &one as *const libc::c_int as *const libc::c_void,
        std::mem::size_of::<libc::c_int>() as libc::socklen_t,
    ))
    .map(drop)
}

/// Control-message space for one datagram, aligned for `cmsghdr`.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(8))]
pub struct ControlBuf(pub [u8; CONTROL_LEN]);

/// Space for one source address, aligned for `sockaddr_storage`.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(8))]
pub struct NameBuf(pub [u8; NAME_LEN]);

/// What the control messages of one datagram said.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CmsgInfo {
    /// UDP_GRO segment size; 0 when absent.
    pub segment: usize,
    /// SO_RXQ_OVFL: drops at this socket so far, when the kernel attached it.
    pub drops: Option<u32>,
    /// SO_TIMESTAMPNS in ns since the epoch; 0 when absent.
    pub at_ns: u64,
}

/// Parses the control messages in `control` (as the kernel wrote them after a recvmsg). Unknown
/// messages are skipped; a malformed length ends the walk. Every read is bounds-checked against
/// `control`, which need not be aligned.
#[cfg(ringshot_gso)]
pub fn parse_control(control: &[u8]) -> CmsgInfo {
    use std::mem::size_of;
    let mut info = CmsgInfo::default();
    let hdr_len = size_of::<libc::cmsghdr>();
    // SAFETY: CMSG_LEN is a pure size computation.
    let data_start = unsafe { libc::CMSG_LEN(0) } as usize;
    let align = size_of::<usize>();
    let mut off = 0;
    while control.len() - off >= hdr_len {
        let at = control[off..].as_ptr().cast::<libc::cmsghdr>();
        // SAFETY: `off + hdr_len <= control.len()`, so the unaligned read of a plain-integer
        // cmsghdr (valid for any bit pattern) stays inside `control`.
        let h = unsafe { std::ptr::read_unaligned(at) };
        let len = h.cmsg_len as usize;
        if len < data_start || len > control.len() - off {
            break;
        }
        let data = &control[off + data_start..off + len];
        match (h.cmsg_level, h.cmsg_type) {
            (libc::SOL_UDP, libc::UDP_GRO) if data.len() >= 4 => {
                let seg = i32::from_ne_bytes([data[0], data[1], data[2], data[3]]);
                info.segment = usize::try_from(seg).unwrap_or(0);
            }
            (libc::SOL_SOCKET, libc::SO_RXQ_OVFL) if data.len() >= 4 => {
                info.drops = Some(u32::from_ne_bytes([data[0], data[1], data[2], data[3]]));
            }
            (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS)
                if data.len() >= size_of::<libc::timespec>() =>
            {
                // SAFETY: `data` holds at least a timespec's bytes; timespec is plain integers.
                let ts =
                    unsafe { std::ptr::read_unaligned(data.as_ptr().cast::<libc::timespec>()) };
                info.at_ns = (ts.tv_sec as u64)
                    .saturating_mul(1_000_000_000)
                    .saturating_add(ts.tv_nsec as u64);
            }
            _ => {}
        }
        // CMSG_NXTHDR: the next header starts at the aligned end of this one.
        off = match (off + len).checked_next_multiple_of(align) {
            Some(next) if next <= control.len() => next,
            _ => break,
        };
    }
    info
}

/// Reads a `sockaddr_in`/`sockaddr_in6` the kernel wrote into `name` (its first `len` bytes).
/// Where addresses start with a length byte (the BSDs, macOS) the family is the second byte.
#[cfg(unix)]
pub fn parse_sockaddr(name: &[u8]) -> Option<SocketAddr> {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
    #[cfg(not(ringshot_sa_len))]
    let family = u16::from_ne_bytes(name.get(0..2)?.try_into().ok()?);
    #[cfg(ringshot_sa_len)]
    let family = u16::from(*name.get(1)?);
    let port = u16::from_be_bytes(name.get(2..4)?.try_into().ok()?);
    match i32::from(family) {
        libc::AF_INET => {
            let ip: [u8; 4] = name.get(4..8)?.try_into().ok()?;
            Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port)))
        }
        libc::AF_INET6 => {
            let flow = u32::from_ne_bytes(name.get(4..8)?.try_into().ok()?);
            let ip: [u8; 16] = name.get(8..24)?.try_into().ok()?;
            let scope = u32::from_ne_bytes(name.get(24..28)?.try_into().ok()?);
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(ip),
                port,
                flow,
                scope,
            )))
        }
        _ => None,
    }
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

/// Most error-queue reports read by one [`drain_error_queue`] call, so a flood cannot hold the
/// caller; what is left keeps the socket's POLLERR up for the next call.
#[cfg(ringshot_errqueue)]
pub const ERRQUEUE_BATCH: usize = 64;

/// Reads up to [`ERRQUEUE_BATCH`] reports from `sock`'s error queue without blocking and calls
/// `on` with each one's kind. Reading the queue also clears the pending socket error the kernel
/// raised with the report, which is what keeps poll(2) saying POLLERR. Returns how many were
/// read.
#[cfg(ringshot_errqueue)]
pub fn drain_error_queue(sock: &UdpSocket, on: &mut dyn FnMut(ErrorReport)) -> usize {
    use std::os::fd::AsRawFd;
    let mut data = [0u8; 64];
    let mut control = ControlBuf([0; CONTROL_LEN]);
    let mut n = 0;
    while n < ERRQUEUE_BATCH {
        let mut iov = libc::iovec {
            iov_base: data.as_mut_ptr().cast(),
            iov_len: data.len(),
        };
        let mut hdr = super::unix::msg::empty_msghdr();
        hdr.msg_iov = &mut iov;
        hdr.msg_iovlen = 1;
        hdr.msg_control = control.0.as_mut_ptr().cast();
        hdr.msg_controllen = CONTROL_LEN as _;
        let flags = libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT;
        if syscall!(recvmsg(sock.as_raw_fd(), &mut hdr, flags)).is_err() {
            break;
        }
        n += 1;
        #[allow(clippy::unnecessary_cast)] // socklen_t on some libcs, usize on glibc
        let len = (hdr.msg_controllen as usize).min(CONTROL_LEN);
        if let Some(report) = parse_error_report(&control.0[..len]) {
            on(report);
        }
    }
    n
}

#[cfg(not(ringshot_errqueue))]
pub fn drain_error_queue(_sock: &UdpSocket, _on: &mut dyn FnMut(ErrorReport)) -> usize {
    0
}

/// Finds the `sock_extended_err` in the control messages of an error-queue read and classifies
/// it. Bounds-checked like [`parse_control`].
#[cfg(ringshot_errqueue)]
fn parse_error_report(control: &[u8]) -> Option<ErrorReport> {
    use std::mem::size_of;
    let hdr_len = size_of::<libc::cmsghdr>();
    // SAFETY: CMSG_LEN is a pure size computation.
    let data_start = unsafe { libc::CMSG_LEN(0) } as usize;
    let mut off = 0;
    while control.len() - off >= hdr_len {
        // SAFETY: `off + hdr_len <= control.len()`; cmsghdr is plain integers, read unaligned.
        let h =
            unsafe { std::ptr::read_unaligned(control[off..].as_ptr().cast::<libc::cmsghdr>()) };
        let len = h.cmsg_len as usize;
        if len < data_start || len > control.len() - off {
            return None;
        }
        let data = &control[off + data_start..off + len];
        let is_recverr = matches!(
            (h.cmsg_level, h.cmsg_type),
            (libc::IPPROTO_IP, libc::IP_RECVERR) | (libc::IPPROTO_IPV6, libc::IPV6_RECVERR)
        );
        if is_recverr && data.len() >= size_of::<libc::sock_extended_err>() {
            // SAFETY: `data` holds at least a sock_extended_err's bytes; it is plain integers.
            let ee = unsafe {
                std::ptr::read_unaligned(data.as_ptr().cast::<libc::sock_extended_err>())
            };
            let icmp = matches!(
                ee.ee_origin,
                libc::SO_EE_ORIGIN_ICMP | libc::SO_EE_ORIGIN_ICMP6
            );
            // The kernel maps the ICMP type and code to an errno for both IP versions.
            return Some(match (icmp, ee.ee_errno as i32) {
                (false, _) => ErrorReport::Local,
                (true, libc::ECONNREFUSED) => ErrorReport::PortUnreachable,
                (true, libc::EHOSTUNREACH | libc::ENETUNREACH) => ErrorReport::HostUnreachable,
                (true, _) => ErrorReport::OtherIcmp,
            });
        }
        off = match (off + len).checked_next_multiple_of(size_of::<usize>()) {
            Some(next) if next <= control.len() => next,
            _ => return None,
        };
    }
    None
}

/// Sends `data` as one UDP GSO super-packet of `segment`-byte datagrams from `sock` to `dest`
/// (a test and benchmark helper: what a GSO sender puts on the wire).
#[cfg(all(test, ringshot_gso))]
pub fn send_gso(
    sock: &UdpSocket,
    dest: SocketAddr,
    data: &[u8],
    segment: u16,
) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let mut storage = NameBuf([0; NAME_LEN]);
    let namelen = write_sockaddr(dest, &mut storage.0);
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    let mut cmsg = super::unix::msg::CmsgBuf::default();
    let clen = super::unix::msg::write_gso_cmsg(&mut cmsg, segment);
    let mut hdr = super::unix::msg::empty_msghdr();
    hdr.msg_name = storage.0.as_mut_ptr().cast();
    hdr.msg_namelen = namelen as libc::socklen_t;
    hdr.msg_iov = &mut iov;
    hdr.msg_iovlen = 1;
    hdr.msg_control = (&mut cmsg as *mut super::unix::msg::CmsgBuf).cast();
    hdr.msg_controllen = clen as _;
    // The kernel only reads through `hdr` (name, one iovec over `data`, the cmsg), all alive here.
    syscall!(sendmsg(sock.as_raw_fd(), &hdr, 0)).map(|n| n as usize)
}

/// Where the OS has no UDP GSO there is nothing to send this way.
#[cfg(all(test, not(ringshot_gso)))]
pub fn send_gso(_: &UdpSocket, _: SocketAddr, _: &[u8], _: u16) -> io::Result<usize> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Without the Linux receive options there are no control messages to read.
#[cfg(not(ringshot_gso))]
pub fn parse_control(_control: &[u8]) -> CmsgInfo {
    CmsgInfo::default()
}

/// Writes `addr` as a `sockaddr_in`/`sockaddr_in6` into `out` and returns its length. Where
/// addresses start with a length byte (the BSDs, macOS) it is written with the family after it.
#[cfg(unix)]
pub fn write_sockaddr(addr: SocketAddr, out: &mut [u8; NAME_LEN]) -> usize {
    let (family, len) = match addr {
        SocketAddr::V4(_) => (libc::AF_INET, std::mem::size_of::<libc::sockaddr_in>()),
        SocketAddr::V6(_) => (libc::AF_INET6, std::mem::size_of::<libc::sockaddr_in6>()),
    };
    *out = [0; NAME_LEN];
    #[cfg(not(ringshot_sa_len))]
    out[0..2].copy_from_slice(&(family as u16).to_ne_bytes());
    #[cfg(ringshot_sa_len)]
    {
        out[0] = len as u8; // 16 or 28
        out[1] = family as u8;
    }
    match addr {
        SocketAddr::V4(a) => {
            out[2..4].copy_from_slice(&a.port().to_be_bytes());
            out[4..8].copy_from_slice(&a.ip().octets());
        }
        SocketAddr::V6(a) => {
            out[2..4].copy_from_slice(&a.port().to_be_bytes());
            out[4..8].copy_from_slice(&a.flowinfo().to_ne_bytes());
            out[8..24].copy_from_slice(&a.ip().octets());
            out[24..28].copy_from_slice(&a.scope_id().to_ne_bytes());
        }
    }
    len
}

#[cfg(all(test, unix))]
mod sockaddr_tests {
    use super::*;

    #[test]
    fn sockaddr_round_trips() {
        for s in ["127.0.0.1:4991", "[::1]:9", "[fe80::1%3]:65535"] {
            let a: SocketAddr = s.parse().unwrap();
            let mut buf = [0u8; NAME_LEN];
            let n = write_sockaddr(a, &mut buf);
            assert_eq!(parse_sockaddr(&buf[..n]), Some(a));
        }
        assert_eq!(parse_sockaddr(&[0u8; 16]), None, "AF_UNSPEC");
        assert_eq!(parse_sockaddr(&[2, 0, 1]), None, "short");
    }
}

#[cfg(all(test, ringshot_gso))]
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

    /// Builds one control message the way the kernel lays it out.
    fn cmsg(level: i32, kind: i32, data: &[u8]) -> Vec<u8> {
        // SAFETY: cmsghdr is plain integers; all-zero is a valid value.
        let mut h: libc::cmsghdr = unsafe { std::mem::zeroed() };
        h.cmsg_level = level;
        h.cmsg_type = kind;
        // SAFETY: CMSG_LEN/CMSG_SPACE are pure size computations.
        let (len, space) = unsafe {
            (
                libc::CMSG_LEN(data.len() as u32) as usize,
                libc::CMSG_SPACE(data.len() as u32) as usize,
            )
        };
        h.cmsg_len = len as _;
        let mut out = vec![0u8; space];
        let hdr = std::mem::size_of::<libc::cmsghdr>();
        // SAFETY: cmsghdr is plain integers; viewing it as bytes is sound.
        let hb =
            unsafe { std::slice::from_raw_parts((&h as *const libc::cmsghdr).cast::<u8>(), hdr) };
        out[..hdr].copy_from_slice(hb);
        out[len - data.len()..len].copy_from_slice(data);
        out
    }

    #[test]
    fn control_parser_reads_all_three_and_skips_unknown() {
        let mut c = cmsg(libc::SOL_IP, libc::IP_TOS, &[7, 0, 0, 0]);
        c.extend(cmsg(libc::SOL_UDP, libc::UDP_GRO, &1472i32.to_ne_bytes()));
        c.extend(cmsg(
            libc::SOL_SOCKET,
            libc::SO_RXQ_OVFL,
            &9u32.to_ne_bytes(),
        ));
        let ts = libc::timespec {
            tv_sec: 3,
            tv_nsec: 5,
        };
        // SAFETY: timespec is plain integers; viewing it as bytes is sound.
        let tb = unsafe {
            std::slice::from_raw_parts(
                (&ts as *const libc::timespec).cast::<u8>(),
                std::mem::size_of::<libc::timespec>(),
            )
        };
        c.extend(cmsg(libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS, tb));
        let info = parse_control(&c);
        assert_eq!(
            info,
            CmsgInfo {
                segment: 1472,
                drops: Some(9),
                at_ns: 3_000_000_005
            }
        );
        // Unaligned input parses the same.
        let mut shifted = vec![0u8];
        shifted.extend(&c);
        assert_eq!(parse_control(&shifted[1..]), info);
        // Cut in the middle of the last message: the complete ones still parse.
        let cut = parse_control(&c[..c.len() - 4]);
        assert_eq!((cut.segment, cut.drops, cut.at_ns), (1472, Some(9), 0));
    }

    #[test]
    fn control_parser_survives_garbage() {
        assert_eq!(parse_control(&[0xff; CONTROL_LEN]), CmsgInfo::default());
        assert_eq!(parse_control(&[0; CONTROL_LEN]), CmsgInfo::default());
        assert_eq!(parse_control(&[]), CmsgInfo::default());
        assert_eq!(parse_control(&[1, 2, 3]), CmsgInfo::default());
    }
}
