//! The `mmsg` receive backend: recvmmsg with MSG_DONTWAIT into 64 pre-allocated 64 KiB buffers,
//! drained until EAGAIN by the receiver, ppoll(2) (poll(2) where there is none) for readability
//! in between. Where the OS has no recvmmsg (macOS) one call is a loop of recvmsg over the same
//! buffers, stopping at the first EAGAIN.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

use crate::sys::rx::{
    parse_control, parse_sockaddr, ControlBuf, DropCounter, NameBuf, RxBackend, RxDatagram,
    CONTROL_LEN, NAME_LEN, RX_BATCH, RX_BUF_LEN, UNKNOWN_SRC,
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

/// recvmmsg into fixed buffers. All memory is allocated in [`MmsgRx::new`].
pub struct MmsgRx {
    sock: UdpSocket,
    gro: bool,
    /// `RX_BATCH` buffers of `RX_BUF_LEN` bytes, back to back.
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
    /// Wraps a socket already set up by [`crate::sys::rx::prepare_socket`].
    pub fn new(sock: UdpSocket, gro: bool) -> MmsgRx {
        MmsgRx {
            sock,
            gro,
            bufs: vec![0u8; RX_BATCH * RX_BUF_LEN].into_boxed_slice(),
            names: vec![NameBuf([0; NAME_LEN]); RX_BATCH].into_boxed_slice(),
            controls: vec![ControlBuf([0; CONTROL_LEN]); RX_BATCH].into_boxed_slice(),
            iovs: vec![crate::sys::unix::msg::empty_iovec(); RX_BATCH].into_boxed_slice(),
            msgs: (0..RX_BATCH)
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
        for i in 0..RX_BATCH {
            let iov = &mut self.iovs[i];
            // `i * RX_BUF_LEN + RX_BUF_LEN <= bufs.len()`: the pointer stays inside `bufs`.
            iov.iov_base = bufs.wrapping_add(i * RX_BUF_LEN).cast();
            iov.iov_len = RX_BUF_LEN;
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
    #[cfg(ringshot_mmsg)]
    fn receive(&mut self) -> io::Result<usize> {
        // The count and flags are `c_uint`/`c_int` on Linux and NetBSD, `size_t` on FreeBSD:
        // RX_BATCH (64) fits every one of them.
        let n = syscall!(recvmmsg(
            self.sock.as_raw_fd(),
            self.msgs.as_mut_ptr(),
            RX_BATCH as _,
            libc::MSG_DONTWAIT as _,
            std::ptr::null_mut(),
        ))?;
        Ok(n as usize)
    }

    /// Fills the armed slots from the front; returns how many hold a datagram. One recvmsg per
    /// slot, up to the first error: an error after something came ends the batch (the datagrams
    /// already received are delivered; a lasting error comes back on the next call).
    #[cfg(not(ringshot_mmsg))]
    fn receive(&mut self) -> io::Result<usize> {
        let fd = self.sock.as_raw_fd();
        for i in 0..RX_BATCH {
            let hdr: *mut libc::msghdr = &mut self.msgs[i].msg_hdr;
            match syscall!(recvmsg(fd, hdr, libc::MSG_DONTWAIT)) {
                Ok(len) => self.msgs[i].msg_len = len as usize,
                Err(_) if i > 0 => return Ok(i),
                Err(e) => return Err(e),
            }
        }
        Ok(RX_BATCH)
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
            let len = (m.msg_len as usize).min(RX_BUF_LEN);
            let namelen = (m.msg_hdr.msg_namelen as usize).min(NAME_LEN);
            #[allow(clippy::unnecessary_cast)] // socklen_t on some libcs, usize on glibc
            let controllen = (m.msg_hdr.msg_controllen as usize).min(CONTROL_LEN);
            let truncated = m.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
            let info = parse_control(&self.controls[i].0[..controllen]);
            if let Some(d) = info.drops {
                self.drops.update(d);
            }
            let start = i * RX_BUF_LEN;
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
            Ok(n) => Ok(n > 0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn kernel_drops(&self) -> u64 {
        self.drops.total()
    }
}
