//! Test kit for the readiness backends: a scripted syscall seam that fails chosen calls, a real
//! loopback receiver, a driver that calls `submit` the way the engine does, and the checks both
//! backends must pass, written once over [`SeamBackend`].

use std::collections::VecDeque;
use std::io;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::time::Duration;

use super::seam::{Faulty, Gate, Gated, RealSys, SendSys};
use super::socket::{connected_udp, set_recv_buffer};
use crate::fault::FaultPlan;
use crate::stats::TxMetrics;
use crate::sys::errno_name;
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

/// What the scripted seam saw, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// A send call, refused with this errno (0: made).
    Call(i32),
    /// A rest the backend took through the seam.
    Rest(Duration),
}

/// A gate whose next calls follow `steps` (then pass); over [`RealSys`] (see [`scripted_sys`]).
#[derive(Debug, Default)]
pub struct Scripted {
    pub steps: VecDeque<Step>,
    /// Send calls made (failed ones included).
    pub calls: usize,
    /// Every call and rest, in order.
    pub trace: Vec<Seen>,
    /// The prefix the current `sendmmsg` takes, from its step.
    prefix: Option<usize>,
}

/// Real syscalls, except that the next calls follow `steps` (then pass).
pub fn scripted_sys(steps: &[Step]) -> Gated<RealSys, Scripted> {
    let gate = Scripted {
        steps: steps.iter().copied().collect(),
        calls: 0,
        trace: Vec::new(),
        prefix: None,
    };
    Gated::with_gate(RealSys, gate)
}

impl Gate for Scripted {
    fn refuse(&mut self, _gso: bool, _m: &mut TxMetrics) -> Option<io::Error> {
        self.calls += 1;
        self.prefix = None;
        let errno = match self.steps.pop_front() {
            Some(Step::Fail(errno)) => Some(errno),
            Some(Step::Prefix(k)) => {
                self.prefix = Some(k);
                None
            }
            Some(Step::Pass) | None => None,
        };
        self.trace.push(Seen::Call(errno.unwrap_or(0)));
        errno.map(io::Error::from_raw_os_error)
    }

    fn rested(&mut self, d: Duration) {
        self.trace.push(Seen::Rest(d));
    }

    fn accepted_prefix(&mut self, n: usize, _m: &mut TxMetrics) -> usize {
        self.prefix.take().unwrap_or(n)
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
/// until every packet is accepted or an error ends it, reaping after each call; records into `m`.
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

/// A readiness backend that can be built over any syscall seam, so that one check serves both.
pub trait SeamBackend {
    /// The backend over the seam `S`.
    type With<S: SendSys>: TxBackend;
    /// Builds the backend on `tx` (GSO on when `gso`) over `sys`.
    fn build<S: SendSys>(tx: UdpSocket, gso: bool, sys: S) -> Self::With<S>;
    /// The backend's seam.
    fn sys<S: SendSys>(b: &Self::With<S>) -> &S;
    /// Script steps that let the first `pos` messages of one batch go (without GSO a message is
    /// one packet), then follow `then`.
    fn after(pos: usize, then: &[Step]) -> Vec<Step>;
}

/// Packets `0..n`, in order.
pub fn in_order(n: u32) -> Vec<u32> {
    (0..n).collect()
}

/// What each `submit` returned, errors as `None`.
pub fn returns(d: &Driven) -> Vec<Option<usize>> {
    d.returns.iter().map(|r| r.as_ref().ok().copied()).collect()
}

/// A loopback receiver and a `K` backend sending to it over a seam scripted with `steps`.
pub fn scripted<K: SeamBackend>(
    gso: bool,
    steps: &[Step],
) -> (UdpSocket, K::With<Gated<RealSys, Scripted>>) {
    let (rx, tx) = loopback_pair();
    (rx, K::build(tx, gso, scripted_sys(steps)))
}

/// A retryable errno at any position: the failed call returns the packets sent before it, the
/// next call sends the rest, and nothing is lost. `extra` checks what only one backend promises.
pub fn check_retryable_errno_at_any_position<K: SeamBackend>(extra: impl Fn(&TxMetrics, &str)) {
    for errno in [libc::ENOBUFS, libc::ECONNREFUSED, libc::EINTR] {
        for pos in [0, 1, 17, 63] {
            let ctx = format!("{} at packet {pos}", errno_name(errno));
            let (slab, pkts) = numbered_packets(64, 200);
            let (rx, mut b) = scripted::<K>(false, &K::after(pos, &[Step::Fail(errno)]));
            let mut m = TxMetrics::new();
            let d = drive_with(&mut b, &slab, &pkts, 64, &mut m);
            assert_eq!(received_numbers(&rx, 200), in_order(64), "{ctx}");
            assert_eq!(d.done, in_order(64), "{ctx}");
            assert_eq!(returns(&d), vec![Some(pos), Some(64 - pos)], "{ctx}");
            assert_eq!(m.packets, 64, "{ctx}");
            assert_eq!(m.bytes, 64 * 200, "{ctx}");
            assert_eq!(m.resent_packets, 1, "{ctx}");
            let errors = m.errors_by_name();
            assert_eq!(errors.get(&errno_name(errno)), Some(&1), "{ctx}");
            assert_eq!(errors.values().sum::<u64>(), 1, "{ctx}");
            extra(&m, &ctx);
        }
    }
}

/// One EAGAIN: the bounded wait finds the socket writable and the same call goes on. A second
/// EAGAIN in the same call: it returns what was sent and the engine calls again.
pub fn check_eagain_waits_once_then_returns<K: SeamBackend>() {
    let (slab, pkts) = numbered_packets(64, 200);
    let eagain = Step::Fail(libc::EAGAIN);
    let (rx, mut b) = scripted::<K>(false, &K::after(5, &[eagain]));
    let mut m = TxMetrics::new();
    let d = drive_with(&mut b, &slab, &pkts, 64, &mut m);
    assert_eq!(returns(&d), vec![Some(64)]);
    assert_eq!(received_numbers(&rx, 200), in_order(64));
    assert_eq!(m.resent_packets, 0);
    assert_eq!(m.syscalls, m.submits + 1, "the wait is a syscall");

    let (rx, mut b) = scripted::<K>(false, &K::after(5, &[eagain, eagain]));
    let mut m = TxMetrics::new();
    let d = drive_with(&mut b, &slab, &pkts, 64, &mut m);
    assert_eq!(returns(&d), vec![Some(5), Some(59)]);
    assert_eq!(received_numbers(&rx, 200), in_order(64));
    assert_eq!(d.done, in_order(64));
    assert_eq!(m.packets, 64);
    assert_eq!(m.resent_packets, 0);
    assert_eq!(m.errors_by_name()["EAGAIN"], 2);
}

/// 200 packets of 1000 bytes go as GSO sends of 64, 64, 64 and 8 packets; the second is
/// refused (EIO and EINVAL: the path cannot segment; EMSGSIZE: a segment is larger than the
/// path MTU, which the kernel fragments only for datagrams sent one by one): GSO goes off for
/// good and its packets go again in the same call. `extra` checks what only one backend
/// promises.
pub fn check_gso_refusal_mid_batch<K: SeamBackend>(extra: impl Fn(&TxMetrics)) {
    for errno in [libc::EIO, libc::EINVAL, libc::EMSGSIZE] {
        let ctx = errno_name(errno);
        let (slab, pkts) = numbered_packets(200, 1000);
        let (rx, mut b) = scripted::<K>(true, &K::after(1, &[Step::Fail(errno)]));
        let mut m = TxMetrics::new();
        let d = drive_with(&mut b, &slab, &pkts, 200, &mut m);
        assert_eq!(returns(&d), vec![Some(200)], "{ctx}");
        assert_eq!(received_numbers(&rx, 1000), in_order(200), "{ctx}");
        assert_eq!(d.done, in_order(200), "{ctx}");
        assert!(!b.gso_active(), "{ctx}: GSO stays off after a refusal");
        assert_eq!(m.gso_downgrades, 1, "{ctx}");
        assert_eq!(m.resent_packets, 64, "{ctx}: the refused send's packets");
        assert_eq!(m.packets, 200, "{ctx}");
        assert_eq!(m.errors_by_name()[&ctx], 1, "{ctx}");
        extra(&m);
    }
}

/// Packets of 64 and 1472 bytes fill their slots, so each GSO super-packet of consecutive
/// slots goes to the kernel as one iovec (`Slab::spans`): every datagram still arrives once, in
/// order and intact, cut at the packet boundaries; and again with the second super-packet
/// refused, so GSO goes off and its packets go again one datagram each.
pub fn check_gso_from_consecutive_full_slots<K: SeamBackend>() {
    for len in [64u32, 1472] {
        for refuse in [false, true] {
            let ctx = format!("{len} B, refused {refuse}");
            let (slab, pkts) = numbered_packets(200, len);
            assert_eq!(
                slab.slot_size(),
                len as usize,
                "the packets fill their slots"
            );
            let steps = match refuse {
                true => K::after(1, &[Step::Fail(libc::EIO)]),
                false => vec![],
            };
            let (rx, mut b) = scripted::<K>(true, &steps);
            let mut m = TxMetrics::new();
            let d = drive_with(&mut b, &slab, &pkts, 200, &mut m);
            assert_eq!(returns(&d), vec![Some(200)], "{ctx}");
            assert_eq!(received_numbers(&rx, len), in_order(200), "{ctx}");
            assert_eq!(d.done, in_order(200), "{ctx}");
            assert_eq!(m.packets, 200, "{ctx}");
            assert_eq!(m.bytes, 200 * u64::from(len), "{ctx}");
            assert_eq!(m.gso_downgrades, u64::from(refuse), "{ctx}");
            assert_eq!(b.gso_active(), !refuse, "{ctx}");
        }
    }
}

/// A fatal `errno` after 10 packets: the call returns them, the next call fails. EIO without
/// GSO is not a GSO refusal: fatal, nothing sent.
pub fn check_fatal_errno_after_a_prefix<K: SeamBackend>(errno: i32) {
    let (slab, pkts) = numbered_packets(64, 200);
    let fatal = Step::Fail(errno);
    let (rx, mut b) = scripted::<K>(false, &K::after(10, &[fatal, fatal]));
    let mut m = TxMetrics::new();
    let d = drive_with(&mut b, &slab, &pkts, 64, &mut m);
    assert_eq!(d.returns.len(), 2);
    assert_eq!(*d.returns[0].as_ref().unwrap(), 10);
    let err = d.returns[1].as_ref().unwrap_err();
    assert_eq!(err.raw_os_error(), Some(errno));
    assert_eq!(received_numbers(&rx, 200), in_order(10));
    assert_eq!(d.done, in_order(10));
    assert_eq!(m.packets, 10);
    assert_eq!(m.errors_by_name()[&errno_name(errno)], 2);

    let (rx, mut b) = scripted::<K>(false, &[Step::Fail(libc::EIO)]);
    let d = drive_with(&mut b, &slab, &pkts, 64, &mut TxMetrics::new());
    assert_eq!(d.returns.len(), 1);
    assert!(d.returns[0].is_err());
    assert!(received_numbers(&rx, 200).is_empty());
}

/// The fault plan both backends' seeded runs use (EAGAIN, ENOBUFS, ECONNREFUSED and GSO
/// refusals), stopping after `max_faults`.
pub fn send_error_plan(seed: u64, max_faults: u64) -> FaultPlan {
    FaultPlan {
        seed,
        eagain: 30_000,
        enobufs: 30_000,
        econnrefused: 30_000,
        gso_refuse: 20_000,
        max_faults: Some(max_faults),
        ..FaultPlan::none()
    }
}

/// `n` packets of 500 bytes through a real seam under `plan`: nothing is lost, and the error
/// counters, injected faults, downgrades and resends agree.
pub fn check_seeded_faults<K: SeamBackend>(gso: bool, plan: FaultPlan, n: u32) {
    let ctx = format!("gso {gso} seed {}", plan.seed);
    let (rx, tx) = loopback_pair();
    let mut b = K::build(tx, gso, Faulty::new(RealSys, Some(plan), None));
    let (slab, pkts) = numbered_packets(n, 500);
    let mut m = TxMetrics::new();
    let d = drive_with(&mut b, &slab, &pkts, 256, &mut m);
    assert!(d.returns.iter().all(|r| r.is_ok()), "{ctx}");
    assert_eq!(received_numbers(&rx, 500), in_order(n), "{ctx}");
    assert_eq!(d.done, in_order(n), "{ctx}");
    assert_eq!(m.packets, u64::from(n), "{ctx}");
    let inj = K::sys(&b).injected();
    assert_eq!(m.injected, inj, "{ctx}");
    assert!(inj.total() > 0, "{ctx}: nothing injected");
    let errors = m.errors_by_name();
    let count = |name: &str| errors.get(name).copied().unwrap_or(0);
    assert_eq!(count("EAGAIN"), inj.eagain, "{ctx}");
    assert_eq!(count("ENOBUFS"), inj.enobufs, "{ctx}");
    assert_eq!(count("ECONNREFUSED"), inj.econnrefused, "{ctx}");
    assert_eq!(count("EIO"), inj.gso_refuse, "{ctx}");
    assert_eq!(m.gso_downgrades, inj.gso_refuse, "{ctx}");
    if !gso {
        // One packet per message: every refused message is one packet sent again.
        assert_eq!(m.resent_packets, inj.enobufs + inj.econnrefused, "{ctx}");
    } else {
        assert!(m.resent_packets >= inj.enobufs + inj.econnrefused, "{ctx}");
    }
}

/// A qdisc that stays full for 40 calls (ENOBUFS), then takes 10 packets and refuses once more:
/// every refused call rests through the seam before anything else happens (no spinning on
/// refusals), each rest of a run at least as long as the one before, from the shortest up to the
/// longest, and the first refusal after a send rests the shortest time again; every packet
/// arrives once, in order.
pub fn check_enobufs_rests_between_refusals<K: SeamBackend>() {
    use super::NoBufsRest;
    let (slab, pkts) = numbered_packets(64, 200);
    let nobufs = Step::Fail(libc::ENOBUFS);
    let mut steps = vec![nobufs; 40];
    steps.extend(K::after(10, &[nobufs]));
    let (rx, mut b) = scripted::<K>(false, &steps);
    let mut m = TxMetrics::new();
    let d = drive_with(&mut b, &slab, &pkts, 64, &mut m);
    let mut expected = vec![Some(0); 40];
    expected.extend([Some(10), Some(54)]);
    assert_eq!(returns(&d), expected);
    assert_eq!(received_numbers(&rx, 200), in_order(64));
    assert_eq!(d.done, in_order(64));
    assert_eq!(m.packets, 64);
    assert_eq!(
        m.errors_by_name()["ENOBUFS"],
        41,
        "every refusal is counted"
    );
    let trace = &K::sys(&b).gate().trace;
    let mut rests = Vec::new();
    for (i, seen) in trace.iter().enumerate() {
        if *seen == Seen::Call(libc::ENOBUFS) {
            match trace.get(i + 1) {
                Some(Seen::Rest(d)) => rests.push(*d),
                other => panic!("refusal {} followed by {other:?}, not a rest", rests.len()),
            }
        }
    }
    assert_eq!(rests.len(), 41);
    assert!(rests[..40].windows(2).all(|w| w[0] <= w[1]), "{rests:?}");
    assert_eq!(rests[0], NoBufsRest::FIRST);
    assert_eq!(rests[39], NoBufsRest::LONGEST);
    assert_eq!(
        rests[40],
        NoBufsRest::FIRST,
        "a send starts the ladder again"
    );
    let rests_taken = trace.iter().filter(|s| matches!(s, Seen::Rest(_))).count();
    assert_eq!(rests_taken, 41, "no rest without a refusal");
}

/// An errno that persists ends `submit` after one call (two for EAGAIN: the call, the wait and
/// the call again) with nothing accepted, never a loop inside it.
pub fn check_persistent_errors_never_loop<K: SeamBackend>() {
    let (slab, pkts) = numbered_packets(64, 200);
    for (errno, calls) in [
        (libc::ENOBUFS, 1),
        (libc::ECONNREFUSED, 1),
        (libc::EAGAIN, 2),
    ] {
        let (rx, mut b) = scripted::<K>(false, &[Step::Fail(errno); 100]);
        let mut m = TxMetrics::new();
        assert_eq!(b.submit(&slab, &pkts, &mut m).unwrap(), 0);
        assert_eq!(K::sys(&b).gate().calls, calls, "{}", errno_name(errno));
        assert_eq!(b.in_flight(), 0);
        assert!(received_numbers(&rx, 200).is_empty());
    }
}
