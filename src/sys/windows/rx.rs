//! Receiving on Windows: the data receiver's backend and the ACK core's receive path.
//!
//! This is the simple path, not the overlapped one: WSAPoll says whether a datagram is queued and
//! one `recvfrom` takes it, up to a batch per call, into one buffer allocated once. Neither path
//! changes the socket's blocking mode (the ACK socket is a second handle on the data socket), so
//! every read is preceded by a zero-timeout poll and never blocks. Windows has no error queue: an
//! ICMP port unreachable comes back as a WSAECONNRESET from the next read.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use windows_sys::Win32::Networking::WinSock::{WSAPoll, POLLRDNORM, WSAECONNRESET, WSAPOLLFD};

use super::socket::{last_wsa_error, raw};
use crate::sys::rx::{ErrorReport, RxBackend, RxDatagram, RX_BATCH, RX_BUF_LEN};

/// Datagrams per ACK receive call.
pub const ACK_BATCH: usize = 64;
/// Bytes kept of each ACK datagram; every ACK format is far shorter.
pub const ACK_SLOT: usize = 2048;

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

/// Whether a datagram (or an error) is waiting, after at most `timeout` (rounded up to a ms).
fn poll(sock: &UdpSocket, timeout: Duration) -> io::Result<bool> {
    let mut fd = WSAPOLLFD {
        fd: raw(sock),
        events: POLLRDNORM,
        revents: 0,
    };
    let ms = timeout.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32;
    // SAFETY: `fd` is one live WSAPOLLFD and the count says one.
    match unsafe { WSAPoll(&mut fd, 1, ms) } {
        n if n < 0 => Err(last_wsa_error()),
        0 => Ok(false),
        _ => Ok(true),
    }
}

/// WSAPoll + recvfrom into one buffer. See the module documentation.
pub struct PollRx {
    pub(crate) sock: UdpSocket,
    buf: Box<[u8]>,
    batch: usize,
    /// Bytes of each datagram handed on (longer ones are cut and flagged).
    keep: usize,
}

impl std::fmt::Debug for PollRx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PollRx")
            .field("sock", &self.sock)
            .field("batch", &self.batch)
            .finish()
    }
}

impl PollRx {
    /// The data receiver's shape: batches of [`RX_BATCH`], any datagram whole.
    pub fn new(sock: UdpSocket) -> PollRx {
        PollRx::with_shape(sock, RX_BATCH, RX_BUF_LEN)
    }

    pub(crate) fn with_shape(sock: UdpSocket, batch: usize, keep: usize) -> PollRx {
        PollRx {
            sock,
            // Any UDP datagram fits, so recvfrom never fails with WSAEMSGSIZE.
            buf: vec![0; RX_BUF_LEN].into_boxed_slice(),
            batch,
            keep,
        }
    }

    /// Up to a batch of datagrams, each handed to `on`; stops at the first error (returned only
    /// when nothing was received before it).
    fn receive(&mut self, on: &mut dyn FnMut(&RxDatagram<'_>)) -> io::Result<usize> {
        let mut n = 0;
        while n < self.batch && poll(&self.sock, Duration::ZERO)? {
            match self.sock.recv_from(&mut self.buf) {
                Ok((len, src)) => {
                    on(&RxDatagram {
                        data: &self.buf[..len.min(self.keep)],
                        segment: 0,
                        src,
                        at_ns: 0,
                        truncated: len > self.keep,
                    });
                    n += 1;
                }
                Err(e) if n == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(n)
    }
}

impl RxBackend for PollRx {
    fn name(&self) -> &'static str {
        "recvfrom"
    }

    fn gro(&self) -> bool {
        false
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.local_addr()
    }

    fn recv_batch(&mut self, on: &mut dyn FnMut(&RxDatagram<'_>)) -> io::Result<usize> {
        match self.receive(on) {
            // A late ICMP report about something this socket sent: not a datagram, not fatal.
            Err(e) if e.raw_os_error() == Some(WSAECONNRESET) => Ok(0),
            r => r,
        }
    }

    fn wait(&mut self, timeout: Duration) -> io::Result<bool> {
        poll(&self.sock, timeout)
    }

    fn kernel_drops(&self) -> u64 {
        0
    }
}

/// The ACK socket's receive path: [`PollRx`] shaped for ACKs.
#[derive(Debug)]
pub(crate) struct AckRx {
    rx: PollRx,
}

impl AckRx {
    /// Readies `sock` for [`AckRx::new`]. `rcvbuf` is the SO_RCVBUF to ask for, if any.
    pub(crate) fn prepare(sock: &UdpSocket, rcvbuf: Option<usize>) -> io::Result<()> {
        if let Some(size) = rcvbuf {
            super::socket::set_recv_buffer(sock, size);
        }
        Ok(())
    }

    pub(crate) fn new(sock: UdpSocket) -> AckRx {
        AckRx {
            rx: PollRx::with_shape(sock, ACK_BATCH, ACK_SLOT),
        }
    }

    pub(crate) fn wait(&mut self, timeout: Duration) -> io::Result<AckWake> {
        Ok(if poll(&self.rx.sock, timeout)? {
            AckWake::Readable
        } else {
            AckWake::Idle
        })
    }

    /// Windows has no error queue: ICMP reports arrive as read errors instead.
    pub(crate) fn drain_errors(&mut self, _on: &mut dyn FnMut(ErrorReport)) -> usize {
        0
    }

    /// Receives up to [`ACK_BATCH`] datagrams without blocking and calls `f` with each one's
    /// bytes (at most [`ACK_SLOT`]) and source. An empty queue is `Err(WouldBlock)`.
    pub(crate) fn recv_batch(
        &mut self,
        f: &mut dyn FnMut(&[u8], Option<SocketAddr>),
    ) -> io::Result<usize> {
        let n = self.rx.receive(&mut |d| f(d.data, Some(d.src)))?;
        if n == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(rx: &mut AckRx) -> Vec<(Vec<u8>, Option<SocketAddr>)> {
        let mut got = Vec::new();
        while rx.recv_batch(&mut |d, s| got.push((d.to_vec(), s))).is_ok() {}
        got
    }

    #[test]
    fn ack_receiver_drains_in_order_and_cuts_long_datagrams() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = a.local_addr().unwrap();
        AckRx::prepare(&a, Some(1 << 20)).unwrap();
        let mut rx = AckRx::new(a);
        assert_eq!(rx.wait(Duration::from_millis(1)).unwrap(), AckWake::Idle);
        for i in 0..150u32 {
            b.send_to(&i.to_be_bytes()[..(i % 5) as usize], to).unwrap();
        }
        b.send_to(&[7u8; ACK_SLOT + 100], to).unwrap();
        assert_eq!(rx.wait(Duration::from_secs(5)).unwrap(), AckWake::Readable);
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while got.len() < 151 && std::time::Instant::now() < deadline {
            got.extend(drain(&mut rx));
        }
        assert_eq!(got.len(), 151);
        for (i, (d, src)) in got[..150].iter().enumerate() {
            assert_eq!(&d[..], &(i as u32).to_be_bytes()[..i % 5]);
            assert_eq!(*src, Some(b.local_addr().unwrap()));
        }
        assert_eq!(got[150].0, vec![7u8; ACK_SLOT]);
    }
}
