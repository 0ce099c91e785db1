//! The ACK socket's receive path (the flow-control core's): batch receive: recvmmsg where the OS has it, a `recv_from` loop elsewhere.
//!
//! Neither path changes the socket's O_NONBLOCK flag: the socket may be a clone of the data
//! socket, which shares that flag with the TX core. recvmmsg asks for non-blocking behaviour per
//! call (MSG_DONTWAIT) and waits with poll; the fallback blocks with a receive timeout instead.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use crate::sys::rx::ErrorReport;

/// Datagrams per receive call.
pub const ACK_BATCH: usize = 64;
/// Bytes kept of each datagram; every ACK format is far shorter.
pub const ACK_SLOT: usize = 2048;

/// What a wait for the socket ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(ringshot_mmsg), allow(dead_code))] // the fallback's wait is in its receive call
pub(crate) enum AckWake {
    /// The timeout passed (or a signal came) with nothing to do.
    Idle,
    /// Datagrams are queued.
    Readable,
    /// A report is queued on the error queue (an ICMP error, with IP_RECVERR): it must be read
    /// with [`AckRx::drain_errors`], or poll keeps saying so and the wait never sleeps.
    ErrorQueued,
}

/// A receiver that hands each datagram of a batch to a callback.
#[derive(Debug)]
pub(crate) enum AckRx {
    #[cfg(ringshot_mmsg)]
    Mmsg(mmsg::MmsgRx),
    // Where recvmmsg exists only the tests build this; they keep it from rotting.
    #[cfg_attr(ringshot_mmsg, allow(dead_code))]
    Std(StdRx),
}

impl AckRx {
    /// Readies `sock` for [`AckRx::new`]; fallible work happens here, before the thread.
    /// `wait` is the longest a blocked wait lasts (so the caller can check its stop flag).
    /// `rcvbuf` is the SO_RCVBUF to ask for, if any.
    pub(crate) fn prepare(
        sock: &UdpSocket,
        rcvbuf: Option<usize>,
        wait: Duration,
    ) -> io::Result<()> {
        if let Some(size) = rcvbuf {
            nix::sys::socket::setsockopt(sock, nix::sys::socket::sockopt::RcvBuf, &size)?;
        }
        if cfg!(ringshot_mmsg) {
            Ok(())
        } else {
            StdRx::prepare(sock, wait)
        }
    }

    /// The best receiver for this OS, on a socket [`AckRx::prepare`] has readied. Built on the
    /// thread that uses it: the recvmmsg headers hold raw pointers and are not `Send`.
    pub(crate) fn new(sock: UdpSocket) -> AckRx {
        #[cfg(ringshot_mmsg)]
        {
            AckRx::Mmsg(mmsg::MmsgRx::new(sock))
        }
        #[cfg(not(ringshot_mmsg))]
        {
            AckRx::Std(StdRx::new(sock))
        }
    }

    /// Waits up to `timeout` for the socket to become readable or to have an error queued.
    pub(crate) fn wait(&mut self, timeout: Duration) -> io::Result<AckWake> {
        match self {
            #[cfg(ringshot_mmsg)]
            AckRx::Mmsg(m) => m.wait(timeout),
            // The fallback's receive call does the waiting.
            AckRx::Std(_) => {
                let _ = timeout;
                Ok(AckWake::Readable)
            }
        }
    }

    /// Reads the socket's error queue (see [`crate::sys::rx::drain_error_queue`]).
    pub(crate) fn drain_errors(&mut self, on: &mut dyn FnMut(ErrorReport)) -> usize {
        let sock = match self {
            #[cfg(ringshot_mmsg)]
            AckRx::Mmsg(m) => &m.sock,
            AckRx::Std(s) => &s.sock,
        };
        crate::sys::rx::drain_error_queue(sock, on)
    }

    /// Receives up to [`ACK_BATCH`] datagrams without blocking (the fallback blocks up to its
    /// timeout) and calls `f` with each one's bytes and source. Returns how many; an empty
    /// queue is `Err(WouldBlock)`.
    pub(crate) fn recv_batch(
        &mut self,
        f: &mut dyn FnMut(&[u8], Option<SocketAddr>),
    ) -> io::Result<usize> {
        match self {
            #[cfg(ringshot_mmsg)]
            AckRx::Mmsg(m) => m.recv_batch(f),
            AckRx::Std(s) => s.recv_batch(f),
        }
    }
}

/// Portable fallback: a blocking socket with a receive timeout.
#[derive(Debug)]
pub(crate) struct StdRx {
    pub(super) sock: UdpSocket,
    buf: Vec<u8>,
}

impl StdRx {
    pub(crate) fn prepare(sock: &UdpSocket, wait: Duration) -> io::Result<()> {
        sock.set_read_timeout(Some(wait.max(Duration::from_micros(1))))
    }

    #[cfg_attr(ringshot_mmsg, allow(dead_code))]
    pub(crate) fn new(sock: UdpSocket) -> StdRx {
        StdRx {
            sock,
            buf: vec![0; ACK_SLOT],
        }
    }

    /// One datagram per call: a second read on a blocking socket would wait out the timeout.
    fn recv_batch(&mut self, f: &mut dyn FnMut(&[u8], Option<SocketAddr>)) -> io::Result<usize> {
        let (len, src) = self.sock.recv_from(&mut self.buf)?;
        f(&self.buf[..len.min(ACK_SLOT)], Some(src));
        Ok(1)
    }
}

#[cfg(ringshot_mmsg)]
mod mmsg {
    use super::{AckWake, ACK_BATCH, ACK_SLOT};
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::socket::{recvmmsg, MsgFlags, MultiHeaders, SockaddrStorage};
    use std::io::{self, IoSliceMut};
    use std::net::{SocketAddr, UdpSocket};
    use std::os::fd::{AsFd, AsRawFd};
    use std::time::Duration;

    pub(crate) struct MmsgRx {
        pub(super) sock: UdpSocket,
        bufs: Vec<u8>,
        headers: MultiHeaders<SockaddrStorage>,
    }

    impl std::fmt::Debug for MmsgRx {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("MmsgRx").field("sock", &self.sock).finish()
        }
    }

    fn to_std(a: &SockaddrStorage) -> Option<SocketAddr> {
        use nix::sys::socket::SockaddrLike;
        let len = (a.len() as usize).min(std::mem::size_of::<SockaddrStorage>());
        // SAFETY: `as_ptr` points at the storage `a` borrows, which is at least
        // `size_of::<SockaddrStorage>()` bytes and lives as long as the borrow; bytes are
        // valid for any bit pattern.
        let bytes = unsafe { std::slice::from_raw_parts(a.as_ptr().cast::<u8>(), len) };
        crate::sys::rx::parse_sockaddr(bytes)
    }

    impl MmsgRx {
        pub(crate) fn new(sock: UdpSocket) -> MmsgRx {
            MmsgRx {
                sock,
                bufs: vec![0; ACK_BATCH * ACK_SLOT],
                headers: MultiHeaders::preallocate(ACK_BATCH, None),
            }
        }

        pub(crate) fn wait(&mut self, timeout: Duration) -> io::Result<AckWake> {
            let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
            let mut fds = [PollFd::new(self.sock.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(ms)) {
                Ok(0) | Err(nix::errno::Errno::EINTR) => Ok(AckWake::Idle),
                Ok(_) => {
                    let revents = fds[0].revents().unwrap_or(PollFlags::empty());
                    // POLLERR is reported whether asked for or not; it wins so the queue is read.
                    if revents.contains(PollFlags::POLLERR) {
                        Ok(AckWake::ErrorQueued)
                    } else {
                        Ok(AckWake::Readable)
                    }
                }
                Err(e) => Err(e.into()),
            }
        }

        pub(crate) fn recv_batch(
            &mut self,
            f: &mut dyn FnMut(&[u8], Option<SocketAddr>),
        ) -> io::Result<usize> {
            let mut meta = [(0usize, None::<SocketAddr>); ACK_BATCH];
            let fd = self.sock.as_raw_fd();
            let n = {
                let mut chunks = self.bufs.chunks_exact_mut(ACK_SLOT);
                let mut iovs: [[IoSliceMut<'_>; 1]; ACK_BATCH] =
                    std::array::from_fn(|_| [IoSliceMut::new(chunks.next().unwrap_or(&mut []))]);
                let results = recvmmsg(
                    fd,
                    &mut self.headers,
                    iovs.iter_mut(),
                    MsgFlags::MSG_DONTWAIT,
                    None,
                )
                .map_err(io::Error::from)?;
                let mut n = 0;
                for (slot, msg) in meta.iter_mut().zip(results) {
                    *slot = (msg.bytes, msg.address.as_ref().and_then(to_std));
                    n += 1;
                }
                n
            };
            for (i, &(len, src)) in meta[..n].iter().enumerate() {
                let start = i * ACK_SLOT;
                f(&self.bufs[start..start + len.min(ACK_SLOT)], src);
            }
            Ok(n)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (UdpSocket, UdpSocket) {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        (a, b)
    }

    fn drain(rx: &mut AckRx) -> Vec<(Vec<u8>, Option<SocketAddr>)> {
        let mut got = Vec::new();
        loop {
            match rx.recv_batch(&mut |d, s| got.push((d.to_vec(), s))) {
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break
                }
                Err(e) => panic!("{e}"),
            }
        }
        got
    }

    fn check(mut rx: AckRx, tx: &UdpSocket, to: SocketAddr) {
        // More than one batch, of varying sizes, including an empty datagram.
        for i in 0..150u32 {
            tx.send_to(&i.to_be_bytes()[..(i % 5) as usize], to)
                .unwrap();
        }
        assert_eq!(rx.wait(Duration::from_secs(2)).unwrap(), AckWake::Readable);
        let got = drain(&mut rx);
        assert_eq!(got.len(), 150);
        for (i, (d, src)) in got.iter().enumerate() {
            assert_eq!(&d[..], &(i as u32).to_be_bytes()[..i % 5]);
            assert_eq!(*src, Some(tx.local_addr().unwrap()));
        }
        assert!(
            rx.wait(Duration::from_millis(1)).unwrap() == AckWake::Idle
                || drain(&mut rx).is_empty()
        );
    }

    #[test]
    fn best_receiver_drains_in_order() {
        let (a, b) = pair();
        let to = a.local_addr().unwrap();
        AckRx::prepare(&a, None, Duration::from_millis(5)).unwrap();
        check(AckRx::new(a), &b, to);
    }

    #[test]
    fn fallback_receiver_drains_in_order() {
        let (a, b) = pair();
        let to = a.local_addr().unwrap();
        StdRx::prepare(&a, Duration::from_millis(5)).unwrap();
        let rx = AckRx::Std(StdRx::new(a));
        check(rx, &b, to);
    }
}
