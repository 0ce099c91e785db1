//! Receiving on Windows: the data receiver's backend and the ACK core's receive path, both on
//! [`OverlappedRx`]: several overlapped WSARecvFrom kept posted, drained in bulk, reposted as
//! soon as each datagram has been handed on.
//!
//! Windows has no error queue: an ICMP port unreachable about something the socket sent ends a
//! posted receive with WSAECONNRESET. The ACK path hands that on as a (transient) receive error,
//! which the ACK core counts; the data receiver skips it, as it skips any report that is not a
//! datagram.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use windows_sys::Win32::Networking::WinSock::WSAECONNRESET;

use super::overlapped_rx::OverlappedRx;
use crate::sys::rx::{ErrorReport, RxBackend, RxDatagram, RX_BATCH, RX_BUF_LEN};

/// Datagrams per ACK receive call.
pub const ACK_BATCH: usize = 64;
/// Bytes kept of each ACK datagram; every ACK format is far shorter.
pub const ACK_SLOT: usize = 2048;
/// Receives kept posted by the data receiver.
pub const RX_POSTED: usize = 64;
/// Receives kept posted by the ACK path.
pub const ACK_POSTED: usize = 32;

/// What a wait for the socket ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AckWake {
    /// The timeout passed with nothing to do.
    Idle,
    /// Datagrams are queued.
    Readable,
    /// A report is on the error queue (never on Windows, which has none).
    #[allow(dead_code)]
    ErrorQueued,
}

/// The data receiver's backend: [`RX_POSTED`] receives of [`RX_BUF_LEN`] bytes (any datagram
/// whole), handed on in batches of up to [`RX_BATCH`].
#[derive(Debug)]
pub struct OverlappedDataRx {
    rx: OverlappedRx,
}

impl OverlappedDataRx {
    pub fn new(sock: UdpSocket) -> io::Result<OverlappedDataRx> {
        Ok(OverlappedDataRx {
            rx: OverlappedRx::new(sock, RX_POSTED, RX_BUF_LEN)?,
        })
    }
}

impl RxBackend for OverlappedDataRx {
    fn name(&self) -> &'static str {
        "overlapped"
    }

    fn gro(&self) -> bool {
        false
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.rx.sock.local_addr()
    }

    fn recv_batch(&mut self, on: &mut dyn FnMut(&RxDatagram<'_>)) -> io::Result<usize> {
        // Reports about earlier sends are not datagrams: skip them (a bounded number per call).
        for _ in 0..RX_BATCH {
            let r = self.rx.receive(RX_BATCH, &mut |data, src, truncated| {
                on(&RxDatagram {
                    data,
                    segment: 0,
                    src,
                    at_ns: 0,
                    truncated,
                })
            });
            match r {
                Err(e) if e.raw_os_error() == Some(WSAECONNRESET) => continue,
                r => return r,
            }
        }
        Ok(0)
    }

    fn wait(&mut self, timeout: Duration) -> io::Result<bool> {
        Ok(self.rx.wait(timeout))
    }

    fn kernel_drops(&self) -> u64 {
        0
    }
}

/// The ACK socket's receive path: [`OverlappedRx`] shaped for ACKs.
#[derive(Debug)]
pub(crate) struct AckRx {
    /// The receiver, or why it could not be set up (reported by every call).
    rx: Result<OverlappedRx, io::Error>,
}

impl AckRx {
    /// Readies `sock` for [`AckRx::new`]. `rcvbuf` is the SO_RCVBUF to ask for, if any.
    pub(crate) fn prepare(sock: &UdpSocket, rcvbuf: Option<usize>) -> io::Result<()> {
        if let Some(size) = rcvbuf {
            super::socket::set_recv_buffer(sock, size);
        }
        Ok(())
    }

    /// The receiver, with its receives posted. The socket may be a second handle on the data
    /// socket, already tied to the send backend's completion port: the receiver then keeps its
    /// completions off that port (see [`OverlappedRx`]). If the receives cannot be set up,
    /// every call reports why.
    pub(crate) fn new(sock: UdpSocket) -> AckRx {
        AckRx {
            rx: OverlappedRx::new(sock, ACK_POSTED, RX_BUF_LEN),
        }
    }

    fn rx(&mut self) -> io::Result<&mut OverlappedRx> {
        self.rx
            .as_mut()
            .map_err(|e| io::Error::new(e.kind(), format!("overlapped receives: {e}")))
    }

    pub(crate) fn wait(&mut self, timeout: Duration) -> io::Result<AckWake> {
        Ok(if self.rx()?.wait(timeout) {
            AckWake::Readable
        } else {
            AckWake::Idle
        })
    }

    /// Windows has no error queue: ICMP reports arrive as receive errors instead.
    pub(crate) fn drain_errors(&mut self, _on: &mut dyn FnMut(ErrorReport)) -> usize {
        0
    }

    /// Receives up to [`ACK_BATCH`] datagrams without blocking and calls `f` with each one's
    /// bytes (at most [`ACK_SLOT`]) and source. An empty queue is `Err(WouldBlock)`.
    pub(crate) fn recv_batch(
        &mut self,
        f: &mut dyn FnMut(&[u8], Option<SocketAddr>),
    ) -> io::Result<usize> {
        let n = self.rx()?.receive(ACK_BATCH, &mut |d, src, _| {
            f(&d[..d.len().min(ACK_SLOT)], Some(src))
        })?;
        if n == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    #[cfg(test)]
    pub(crate) fn inner(&self) -> &OverlappedRx {
        self.rx.as_ref().expect("receiver set up")
    }
}

#[cfg(test)]
#[path = "rx_tests.rs"]
mod tests;
