//! The Unix data receive path: the socket set-up every receive backend starts from
//! ([`prepare_socket`]), and the `mmsg` receive backend: recvmmsg with MSG_DONTWAIT into 64 pre-allocated 64 KiB buffers,
//! drained until EAGAIN by the receiver, ppoll(2) (poll(2) where there is none) for readability
//! in between. Where the OS has no recvmmsg (macOS) one call is a loop of recvmsg over the same
//! buffers, stopping at the first EAGAIN.
// Opening a receive backend is the receiver's (`recv` feature); the ACK path uses the rest.
#![cfg_attr(not(feature = "recv"), allow(dead_code))]

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

use super::cmsg::{parse_control, parse_sockaddr, ControlBuf, NameBuf};
use crate::sys::rx::{
    DropCounter, RxBackend, RxDatagram, RxOptions, RxSetup, CONTROL_LEN, NAME_LEN, RX_BATCH,
    RX_BUF_LEN, UNKNOWN_SRC,
};

/// One receive slot's header: the OS's `mmsghdr` where it has recvmmsg, the same shape elsewhere.
#[cfg(ringshot_mmsg)]
type Hdr = libc::mmsghdr;
#[cfg(not(ringshot_mmsg))]
#[derive(Clone, Copy)]
struct Hdr {
    msg_hdr: libc::msghdr,
    msg_len: usize,
}

/// What a wait for the socket ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Readiness {
    /// The timeout passed (or a signal came) with nothing to do.
    Idle,
    /// Datagrams are queued.
    Readable,
    /// A report is queued on the error queue (an ICMP error, with IP_RECVERR): it must be read,
    /// or poll keeps saying so and a wait never sleeps.
    ErrorQueued,
}

/// recvmmsg into fixed buffers. All memory is allocated in [`MmsgRx::new`] /
/// [`MmsgRx::with_shape`]: the data receiver's 64 × 64 KiB, the ACK socket's 64 × 2 KiB.
pub struct MmsgRx {
    pub(crate) sock: UdpSocket,
    gro: bool,
    /// One recvmsg per datagram instead of recvmmsg (where the OS has no recvmmsg; tests).
    #[cfg_attr(not(ringshot_mmsg), allow(dead_code))] // always so there
    single: bool,
    /// Bytes of one buffer.
    buf_len: usize,
    /// One buffer of `buf_len` bytes per slot, back to back.
    bufs: Box<[u8]>,
    names: Box<[NameBuf]>,
    controls: Box<[ControlBuf]>,
    iovs: Box<[libc::iovec]>,
    msgs: Box<[Hdr]>,
    drops: DropCounter,
}

impl std::fmt::Debug for MmsgRx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MmsgRx")
            .field("sock", &self.sock)
            .field("gro", &self.gro)
            .finish_non_exhaustive()
    }
}

// SAFETY: the raw pointers inside `iovs` and `msgs` only ever point into the heap allocations
// owned by this same struct (rebuilt before every call), so moving the struct to another thread
// moves everything they point to with it; nothing is shared.
unsafe impl Send for MmsgRx {}

impl MmsgRx {
    /// Wraps a socket already set up by [`prepare_socket`].
    pub fn new(sock: UdpSocket, gro: bool) -> MmsgRx {
        MmsgRx::with_shape(sock, gro, RX_BATCH, RX_BUF_LEN, !cfg!(ringshot_mmsg))
    }

    /// `batch` buffers of `buf_len` bytes each; `single` receives one datagram per recvmsg
    /// (forced where the OS has no recvmmsg). Never changes the socket's O_NONBLOCK flag: every
    /// call asks for MSG_DONTWAIT.
    pub(crate) fn with_shape(
        sock: UdpSocket,
        gro: bool,
        batch: usize,
        buf_len: usize,
        single: bool,
    ) -> MmsgRx {
        let batch = batch.clamp(1, RX_BATCH);
        MmsgRx {
            sock,
            gro,
            single: single || !cfg!(ringshot_mmsg),
            buf_len,
            bufs: vec![0u8; batch * buf_len].into_boxed_slice(),
            names: vec![NameBuf([0; NAME_LEN]); batch].into_boxed_slice(),
            controls: vec![ControlBuf([0; CONTROL_LEN]); batch].into_boxed_slice(),
            iovs: vec![crate::sys::unix::msg::empty_iovec(); batch].into_boxed_slice(),
            msgs: (0..batch)
                .map(|_| Hdr {
                    msg_hdr: crate::sys::unix::msg::empty_msghdr(),
                    msg_len: 0,
                })
                .collect(),
            drops: DropCounter::default(),
        }
    }

    /// Points every mmsghdr at its buffer, name and control space, with full lengths (the kernel
    /// shrinks them on return).
    fn arm(&mut self) {
        let bufs = self.bufs.as_mut_ptr();
        for i in 0..self.msgs.len() {
            let iov = &mut self.iovs[i];
            // `i * buf_len + buf_len <= bufs.len()`: the pointer stays inside `bufs`.
            iov.iov_base = bufs.wrapping_add(i * self.buf_len).cast();
            iov.iov_len = self.buf_len;
            let h = &mut self.msgs[i].msg_hdr;
            h.msg_name = self.names[i].0.as_mut_ptr().cast();
            h.msg_namelen = NAME_LEN as libc::socklen_t;
            h.msg_iov = iov;
            h.msg_iovlen = 1;
            h.msg_control = self.controls[i].0.as_mut_ptr().cast();
            h.msg_controllen = CONTROL_LEN as _;
            h.msg_flags = 0;
            self.msgs[i].msg_len = 0;
        }
    }
}

impl MmsgRx {
    /// Fills the armed slots from the front; returns how many hold a datagram.
    fn receive(&mut self) -> io::Result<usize> {
        #[cfg(ringshot_mmsg)]
        if !self.single {
            // The count and flags are `c_uint`/`c_int` on Linux and NetBSD, `size_t` on
            // FreeBSD: the batch (at most RX_BATCH, 64) fits every one of them.
            let n = syscall!(recvmmsg(
                self.sock.as_raw_fd(),
                self.msgs.as_mut_ptr(),
                self.msgs.len() as _,
                libc::MSG_DONTWAIT as _,
                std::ptr::null_mut(),
            ))?;
            return Ok(n as usize);
        }
        self.receive_each()
    }

    /// Fills the armed slots from the front; returns how many hold a datagram. One recvmsg per
    /// slot, up to the first error: an error after something came ends the batch (the datagrams
    /// already received are delivered; a lasting error comes back on the next call).
    fn receive_each(&mut self) -> io::Result<usize> {
        let fd = self.sock.as_raw_fd();
        for i in 0..self.msgs.len() {
            let hdr: *mut libc::msghdr = &mut self.msgs[i].msg_hdr;
            // `hdr` was armed to point at this slot's buffer, name and control space.
            match syscall!(recvmsg(fd, hdr, libc::MSG_DONTWAIT)) {
                // At most `buf_len` bytes: fits the slot's length field on every OS.
                Ok(len) => self.msgs[i].msg_len = len as _,
                Err(_) if i > 0 => return Ok(i),
                Err(e) => return Err(e),
            }
        }
        Ok(self.msgs.len())
    }

    /// Waits up to `timeout` for datagrams or an error report.
    pub(crate) fn wait_ready(&mut self, timeout: Duration) -> io::Result<Readiness> {
        let mut pfd = libc::pollfd {
            fd: self.sock.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // ppoll takes a timespec, so short deadlines (the device emulator's ACK interval) are not
        // rounded up to a whole millisecond as poll's would be.
        #[cfg(ringshot_ppoll)]
        let res = {
            let ts = libc::timespec {
                tv_sec: timeout.as_secs().min(i32::MAX as u64) as libc::time_t,
                tv_nsec: timeout.subsec_nanos() as libc::c_long,
            };
            syscall!(ppoll(&mut pfd, 1, &ts, std::ptr::null()))
        };
        // Without ppoll the timeout is rounded up to whole milliseconds (never down to 0).
        #[cfg(not(ringshot_ppoll))]
        let res = {
            let ms = timeout.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as libc::c_int;
            syscall!(poll(&mut pfd, 1, ms))
        };
        match res {
            Ok(0) => Ok(Readiness::Idle),
            // POLLERR is reported whether asked for or not; it wins so the queue is read.
            Ok(_) if pfd.revents & libc::POLLERR != 0 => Ok(Readiness::ErrorQueued),
            Ok(_) => Ok(Readiness::Readable),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(Readiness::Idle),
            Err(e) => Err(e),
        }
    }
}

impl RxBackend for MmsgRx {
    fn name(&self) -> &'static str {
        "mmsg"
    }

    fn gro(&self) -> bool {
        self.gro
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.local_addr()
    }

    fn recv_batch(&mut self, on: &mut dyn FnMut(&RxDatagram<'_>)) -> io::Result<usize> {
        self.arm();
        let n = match self.receive() {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(0),
            Err(e) => return Err(e),
        };
        for i in 0..n {
            let m = &self.msgs[i];
            #[allow(clippy::unnecessary_cast)] // c_uint, ssize_t or usize by OS
            let len = (m.msg_len as usize).min(self.buf_len);
            let namelen = (m.msg_hdr.msg_namelen as usize).min(NAME_LEN);
            #[allow(clippy::unnecessary_cast)] // socklen_t on some libcs, usize on glibc
            let controllen = (m.msg_hdr.msg_controllen as usize).min(CONTROL_LEN);
            let truncated = m.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
            let info = parse_control(&self.controls[i].0[..controllen]);
            if let Some(d) = info.drops {
                self.drops.update(d);
            }
            let start = i * self.buf_len;
            on(&RxDatagram {
                data: &self.bufs[start..start + len],
                segment: if self.gro { info.segment } else { 0 },
                src: parse_sockaddr(&self.names[i].0[..namelen]).unwrap_or(UNKNOWN_SRC),
                at_ns: info.at_ns,
                truncated,
            });
        }
        Ok(n)
    }

    fn wait(&mut self, timeout: Duration) -> io::Result<bool> {
        Ok(self.wait_ready(timeout)? != Readiness::Idle)
    }

    fn kernel_drops(&self) -> u64 {
        self.drops.total()
    }
}

/// The batched backend, `mmsg`, over a socket [`prepare_socket`] set up.
pub(crate) fn open_batched(
    sock: UdpSocket,
    gro: bool,
) -> Result<Box<dyn RxBackend>, (&'static str, io::Error)> {
    Ok(Box::new(MmsgRx::new(sock, gro)))
}

/// Makes `sock` non-blocking and switches on what the receiver uses: a large receive buffer,
/// UDP GRO (if `opts.gro`), the SO_RXQ_OVFL drop counter and SO_TIMESTAMPNS receive timestamps.
/// Each option the kernel refuses is reported off, not as an error.
pub fn prepare_socket(sock: &UdpSocket, opts: &RxOptions) -> io::Result<RxSetup> {
    use std::os::fd::AsRawFd;
    sock.set_nonblocking(true)?;
    let fd = sock.as_raw_fd();
    let rcvbuf = if opts.rcvbuf > 0 {
        super::socket::set_recv_buffer(fd, opts.rcvbuf)
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
