//! The ACK socket's receive path (the flow-control core's): the same receive code as the data
//! receiver ([`super::rx::MmsgRx`]: recvmmsg where the OS has it, a recvmsg loop elsewhere, and
//! ppoll/poll for the wait), shaped for ACKs: 64 buffers of 2 KiB.
//!
//! It never changes the socket's O_NONBLOCK flag: the socket may be a clone of the data socket,
//! which shares that flag with the TX core. Every receive asks for MSG_DONTWAIT.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use super::data_rx::{MmsgRx, Readiness};
use crate::sys::rx::{ErrorReport, UNKNOWN_SRC};

/// Datagrams per receive call.
pub const ACK_BATCH: usize = 64;
/// Bytes kept of each datagram; every ACK format is far shorter.
pub const ACK_SLOT: usize = 2048;

/// What a wait for the socket ended with.
pub(crate) type AckWake = Readiness;

/// A receiver that hands each datagram of a batch to a callback.
#[derive(Debug)]
pub(crate) struct AckRx {
    rx: MmsgRx,
}

impl AckRx {
    /// Readies `sock` for [`AckRx::new`]; fallible work happens here, before the thread.
    /// `rcvbuf` is the SO_RCVBUF to ask for, if any.
    pub(crate) fn prepare(sock: &UdpSocket, rcvbuf: Option<usize>) -> io::Result<()> {
        if let Some(size) = rcvbuf {
            nix::sys::socket::setsockopt(sock, nix::sys::socket::sockopt::RcvBuf, &size)?;
        }
        Ok(())
    }

    /// The receiver, on a socket [`AckRx::prepare`] has readied. Built on the thread that uses
    /// it (its buffers are allocated here, once).
    pub(crate) fn new(sock: UdpSocket) -> AckRx {
        AckRx::with_mode(sock, false)
    }

    /// `single`: one recvmsg per datagram (what targets without recvmmsg always do).
    fn with_mode(sock: UdpSocket, single: bool) -> AckRx {
        AckRx {
            rx: MmsgRx::with_shape(sock, false, ACK_BATCH, ACK_SLOT, single),
        }
    }

    /// Waits up to `timeout` for the socket to become readable or to have an error queued.
    pub(crate) fn wait(&mut self, timeout: Duration) -> io::Result<AckWake> {
        self.rx.wait_ready(timeout)
    }

    /// Reads the socket's error queue (see [`super::cmsg::drain_error_queue`]).
    pub(crate) fn drain_errors(&mut self, on: &mut dyn FnMut(ErrorReport)) -> usize {
        super::cmsg::drain_error_queue(&self.rx.sock, on)
    }

    /// Receives up to [`ACK_BATCH`] datagrams without blocking and calls `f` with each one's
    /// bytes (at most [`ACK_SLOT`]) and source. Returns how many; an empty queue is
    /// `Err(WouldBlock)`.
    pub(crate) fn recv_batch(
        &mut self,
        f: &mut dyn FnMut(&[u8], Option<SocketAddr>),
    ) -> io::Result<usize> {
        use crate::sys::rx::RxBackend;
        let n = self.rx.recv_batch(&mut |d| {
            f(d.data, (d.src != UNKNOWN_SRC).then_some(d.src));
        })?;
        if n == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
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
        AckRx::prepare(&a, None).unwrap();
        check(AckRx::new(a), &b, to);
    }

    #[test]
    fn one_datagram_per_call_receiver_drains_in_order() {
        let (a, b) = pair();
        let to = a.local_addr().unwrap();
        AckRx::prepare(&a, None).unwrap();
        check(AckRx::with_mode(a, true), &b, to);
    }

    #[test]
    fn long_datagrams_are_cut_to_the_slot() {
        let (a, b) = pair();
        let to = a.local_addr().unwrap();
        let mut rx = AckRx::new(a);
        b.send_to(&[7u8; ACK_SLOT + 100], to).unwrap();
        assert_eq!(rx.wait(Duration::from_secs(2)).unwrap(), AckWake::Readable);
        let got = drain(&mut rx);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, vec![7u8; ACK_SLOT]);
    }
}
