//! Test kit for the readiness backends: a scripted syscall seam that fails chosen calls, a real
//! loopback receiver, and a driver that calls `submit` the way the engine does.

use std::collections::VecDeque;
use std::io;
use std::net::UdpSocket;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use super::sendsys::{RealSys, SendSys};
use super::socket::{connected_udp, set_recv_buffer};
use crate::stats::TxMetrics;
use crate::sys::{Slab, TxBackend, TxDesc};

/// What the scripted seam does with one send call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Make the real call.
    Pass,
    /// Fail with this errno without sending.
    Fail(i32),
    /// `sendmmsg` takes only this many messages (other calls: pass).
    Prefix(usize),
}

/// Real syscalls, except that the next calls follow `steps` (then pass).
#[derive(Debug, Default)]
pub struct Scripted {
    pub steps: VecDeque<Step>,
    /// Send calls made (failed ones included).
    pub calls: usize,
}

impl Scripted {
    pub fn new(steps: &[Step]) -> Scripted {
        Scripted {
            steps: steps.iter().copied().collect(),
            calls: 0,
        }
    }

    fn next(&mut self) -> Result<Option<usize>, io::Error> {
        self.calls += 1;
        match self.steps.pop_front() {
            Some(Step::Fail(errno)) => Err(io::Error::from_raw_os_error(errno)),
            Some(Step::Prefix(k)) => Ok(Some(k)),
            Some(Step::Pass) | None => Ok(None),
        }
    }
}

impl SendSys for Scripted {
    unsafe fn send(
        &mut self,
        fd: RawFd,
        buf: *const u8,
        len: usize,
        m: &mut TxMetrics,
    ) -> io::Result<usize> {
        self.next()?;
        // SAFETY: the caller's guarantee, passed on.
        unsafe { RealSys.send(fd, buf, len, m) }
    }

    unsafe fn sendmsg(
        &mut self,
        fd: RawFd,
        hdr: &libc::msghdr,
        gso: bool,
        m: &mut TxMetrics,
    ) -> io::Result<usize> {
        self.next()?;
        // SAFETY: the caller's guarantee, passed on.
        unsafe { RealSys.sendmsg(fd, hdr, gso, m) }
    }

    unsafe fn sendmmsg(
        &mut self,
        fd: RawFd,
        hdrs: &mut [libc::mmsghdr],
        first_gso: bool,
        m: &mut TxMetrics,
    ) -> io::Result<usize> {
        let k = self.next()?.unwrap_or(hdrs.len()).min(hdrs.len());
        // SAFETY: a prefix of the caller's headers, valid by the caller's guarantee.
        unsafe { RealSys.sendmmsg(fd, &mut hdrs[..k], first_gso, m) }
    }

    fn wait_writable(&mut self, fd: RawFd, timeout_ms: i32) -> io::Result<bool> {
        RealSys.wait_writable(fd, timeout_ms)
    }
}

/// A loopback receiver and a sender socket connected to it.
pub fn loopback_pair() -> (UdpSocket, UdpSocket) {
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    set_recv_buffer(rx.as_raw_fd(), 32 << 20);
    let tx = connected_udp(rx.local_addr().unwrap(), None, 4 << 20).unwrap();
    (rx, tx)
}

/// A slab of `n` packets of `len` bytes each; packet `i` sits in slot `i` and carries `i` (u32,
/// little-endian) in its first bytes and `i as u8` in the rest.
pub fn numbered_packets(n: u32, len: u32) -> (Slab, Vec<TxDesc>) {
    assert!(len >= 4);
    let (slab, mut tokens) = Slab::new(n, len as usize);
    let mut pkts = Vec::new();
    for (i, token) in tokens.iter_mut().enumerate() {
        let bytes = slab.bytes_mut(token);
        bytes.fill(i as u8);
        bytes[..4].copy_from_slice(&(i as u32).to_le_bytes());
        pkts.push(TxDesc {
            slot: i as u32,
            len,
        });
    }
    (slab, pkts)
}

/// Reads every datagram that arrives (until 300 ms pass with none; the first may take up to
/// 5 s) and returns their numbers in arrival order, checking each one's length and contents.
pub fn received_numbers(rx: &UdpSocket, len: u32) -> Vec<u32> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65_536];
    rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    while let Ok(n) = rx.recv(&mut buf) {
        assert_eq!(n, len as usize, "datagram length");
        let num = u32::from_le_bytes(buf[..4].try_into().unwrap());
        assert!(
            buf[4..n].iter().all(|&b| b == num as u8),
            "packet {num} corrupt"
        );
        got.push(num);
        rx.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
    }
    got
}

/// What driving a backend over all of `pkts` gave.
#[derive(Debug)]
pub struct Driven {
    /// What each `submit` returned, in order.
    pub returns: Vec<io::Result<usize>>,
    /// Packets the backend accepted before a fatal error (or all).
    pub accepted: usize,
    /// Slots reported done, in order.
    pub done: Vec<u32>,
}

/// Calls `submit` as the engine does (again after `Ok(0)` or a short count, up to 10,000 calls)
/// until every packet is accepted or an error ends it, reaping after each call.
pub fn drive<B: TxBackend>(b: &mut B, slab: &Slab, pkts: &[TxDesc], batch: usize) -> Driven {
    let mut m = TxMetrics::new();
    drive_with(b, slab, pkts, batch, &mut m)
}

/// [`drive`] recording into `m`.
pub fn drive_with<B: TxBackend>(
    b: &mut B,
    slab: &Slab,
    pkts: &[TxDesc],
    batch: usize,
    m: &mut TxMetrics,
) -> Driven {
    let mut out = Driven {
        returns: Vec::new(),
        accepted: 0,
        done: Vec::new(),
    };
    while out.accepted < pkts.len() && out.returns.len() < 10_000 {
        let end = (out.accepted + batch).min(pkts.len());
        let res = b.submit(slab, &pkts[out.accepted..end], m);
        let stop = match &res {
            Ok(k) => {
                assert!(*k <= end - out.accepted, "accepted more than offered");
                out.accepted += k;
                false
            }
            Err(_) => true,
        };
        out.returns.push(res);
        b.reap(true, &mut |slot| out.done.push(slot), m).unwrap();
        assert_eq!(b.in_flight(), 0, "readiness backends finish inside submit");
        if stop {
            break;
        }
    }
    out
}

/// A sender connected to a loopback port where nothing listens (yet), and that port.
pub fn sender_to_closed_port() -> (UdpSocket, std::net::SocketAddr) {
    let holder = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = holder.local_addr().unwrap();
    drop(holder);
    (connected_udp(addr, None, 4 << 20).unwrap(), addr)
}

/// Waits (up to 5 s) until the socket reports a pending error, as after an ICMP
/// port-unreachable; true if one came.
pub fn wait_for_socket_error(sock: &UdpSocket) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let mut fds = [PollFd::new(sock.as_fd(), PollFlags::empty())];
    poll(&mut fds, PollTimeout::from(5000u16)).is_ok_and(|n| {
        n > 0
            && fds[0]
                .revents()
                .is_some_and(|r| r.contains(PollFlags::POLLERR))
    })
}

/// The real kernel's ECONNREFUSED: packet 0 goes to a closed port, the ICMP error comes back,
/// a receiver then binds that port, and packets 1.. must all arrive: the first call after the
/// error is refused without sending, and its datagram goes again on the next call.
pub fn check_refused_datagram_is_sent_again<B: TxBackend>(make: impl FnOnce(UdpSocket) -> B) {
    let (tx, addr) = sender_to_closed_port();
    let probe = tx.try_clone().unwrap();
    let mut b = make(tx);
    let (slab, pkts) = numbered_packets(16, 100);
    let mut m = TxMetrics::new();
    assert_eq!(b.submit(&slab, &pkts[..1], &mut m).unwrap(), 1);
    assert!(wait_for_socket_error(&probe), "no ICMP error came back");
    let Ok(rx) = UdpSocket::bind(addr) else {
        eprintln!("skipping: port {addr} was taken before the receiver could bind it");
        return;
    };
    set_recv_buffer(rx.as_raw_fd(), 1 << 20);
    let d = drive_with(&mut b, &slab, &pkts[1..], 16, &mut m);
    let returns: Vec<_> = d.returns.iter().map(|r| *r.as_ref().unwrap()).collect();
    assert_eq!(returns, vec![0, 15]);
    assert_eq!(received_numbers(&rx, 100), (1..16).collect::<Vec<_>>());
    assert_eq!(m.errors_by_name()["ECONNREFUSED"], 1);
    assert_eq!(m.resent_packets, 1);
    assert_eq!(m.packets, 16);
}
