//! The ACK core's receive path on Windows, on [`OverlappedRx`] (as the data receiver's, in
//! `data_rx.rs`): several overlapped WSARecvFrom kept posted, drained in bulk, reposted as soon
//! as each datagram has been handed on.
//!
//! Windows has no error queue: an ICMP port unreachable about something the socket sent ends a
//! posted receive with WSAECONNRESET. The ACK path hands that on as a (transient) receive error,
//! which the ACK core counts; the data receiver skips it, as it skips any report that is not a
//! datagram.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use super::overlapped_rx::OverlappedRx;
use crate::sys::rx::{ErrorReport, RX_BUF_LEN};

/// Datagrams per ACK receive call.
pub const ACK_BATCH: usize = 64;
/// Bytes kept of each ACK datagram; every ACK format is far shorter.
pub const ACK_SLOT: usize = 2048;
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
