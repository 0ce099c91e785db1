//! The Windows data receive path: the socket set-up ([`prepare_socket`]) and the data
//! receiver's backend, [`OverlappedDataRx`], on [`OverlappedRx`] (several overlapped
//! WSARecvFrom kept posted, drained in bulk). Windows has no recvmmsg, GRO, drop counter or
//! receive timestamps.
//!
//! An ICMP port unreachable about something the socket sent ends a posted receive with
//! WSAECONNRESET: the data receiver skips it, as it skips any report that is not a datagram.
// Opening a receive backend is the receiver's (`recv` feature).
#![cfg_attr(not(feature = "recv"), allow(dead_code))]

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use windows_sys::Win32::Networking::WinSock::WSAECONNRESET;

use super::overlapped_rx::OverlappedRx;
use crate::sys::rx::{RxBackend, RxDatagram, RxOptions, RxSetup, RX_BATCH, RX_BUF_LEN};

/// Receives kept posted by the data receiver.
pub const RX_POSTED: usize = 64;

/// Sets the receive buffer; Windows has no GRO, drop counter or receive timestamps to switch on.
pub fn prepare_socket(sock: &UdpSocket, opts: &RxOptions) -> io::Result<RxSetup> {
    // The receive path polls before every read; the blocking mode is left alone.
    let rcvbuf = if opts.rcvbuf > 0 {
        super::socket::set_recv_buffer(sock, opts.rcvbuf)
    } else {
        0
    };
    Ok(RxSetup {
        rcvbuf,
        ..RxSetup::default()
    })
}

/// Windows has no UDP GRO.
pub(crate) fn gro_supported(_sock: &UdpSocket) -> bool {
    false
}

/// The batched backend: overlapped WSARecvFrom kept posted (there is no recvmmsg).
pub(crate) fn open_batched(
    sock: UdpSocket,
    _gro: bool,
) -> Result<Box<dyn RxBackend>, (&'static str, io::Error)> {
    OverlappedDataRx::new(sock)
        .map(|b| Box::new(b) as Box<dyn RxBackend>)
        .map_err(|error| ("overlapped", error))
}

/// Where the OS has no UDP GSO there is nothing to send this way.
#[cfg(test)]
pub fn send_gso(_: &UdpSocket, _: SocketAddr, _: &[u8], _: u16) -> io::Result<usize> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// The data receiver's backend: [`RX_POSTED`] receives of [`RX_BUF_LEN`] bytes (any datagram
/// whole), handed on in batches of up to [`RX_BATCH`].
#[derive(Debug)]
pub struct OverlappedDataRx {
    pub(super) rx: OverlappedRx,
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
