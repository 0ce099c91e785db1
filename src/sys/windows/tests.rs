//! The Windows backends against a real loopback receiver: exact count, order and contents, under
//! no faults and under a seeded fault plan, and a clean cancel with sends in flight.

use std::net::UdpSocket;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::iocp::IocpBackend;
use super::seam::{Faulty, RealSys, WinSys};
use crate::fault::FaultPlan;
use crate::stats::TxMetrics;
use crate::sys::{Slab, SlotToken, TxBackend, TxDesc};

const SLOTS: u32 = 256;
const LEN: usize = 1200;

fn fill(slab: &Slab, tokens: &mut [SlotToken], seq: u64, slot: u32) {
    let bytes = slab.bytes_mut(&mut tokens[slot as usize]);
    bytes[..8].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in bytes[8..LEN].iter_mut().enumerate() {
        *b = (seq as usize).wrapping_add(i) as u8;
    }
}

fn receiver() -> UdpSocket {
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    crate::sys::set_recv_buffer(&rx, 64 << 20);
    rx.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    rx
}

/// Sends `n` numbered datagrams through `b`, reusing a slot only after `reap` returned it, and
/// checks that `rx` got each exactly once, in order, intact.
fn stream<S: WinSys>(
    b: &mut IocpBackend<S>,
    slab: &Slab,
    mut tokens: Vec<SlotToken>,
    rx: &UdpSocket,
    n: u64,
) -> TxMetrics {
    let mut m = TxMetrics::new();
    let mut free: std::collections::VecDeque<u32> = (0..SLOTS).collect();
    let mut queue: Vec<(u64, TxDesc)> = Vec::new();
    let (mut next, mut got) = (0u64, Vec::new());
    let mut buf = vec![0u8; 65_536];
    let deadline = Instant::now() + Duration::from_secs(60);
    while (got.len() as u64) < n {
        assert!(
            Instant::now() < deadline,
            "stuck: {} of {n} arrived",
            got.len()
        );
        while next < n && queue.len() < 32 {
            let Some(slot) = free.pop_front() else { break };
            fill(slab, &mut tokens, next, slot);
            queue.push((
                next,
                TxDesc {
                    slot,
                    len: LEN as u32,
                },
            ));
            next += 1;
        }
        let descs: Vec<TxDesc> = queue.iter().map(|q| q.1).collect();
        let k = b.submit(slab, &descs, &mut m).expect("submit");
        queue.drain(..k);
        b.reap(true, &mut |slot| free.push_back(slot), &mut m)
            .unwrap();
        // Drain what arrived so the receive buffer never overflows.
        while (got.len() as u64) < n {
            rx.set_nonblocking(true).unwrap();
            let Ok(len) = rx.recv(&mut buf) else { break };
            assert_eq!(len, LEN);
            let seq = u64::from_be_bytes(buf[..8].try_into().unwrap());
            for (i, &x) in buf[8..LEN].iter().enumerate() {
                assert_eq!(x, (seq as usize).wrapping_add(i) as u8, "seq {seq} corrupt");
            }
            got.push(seq);
        }
    }
    let left = b.cancel(
        Duration::from_secs(5),
        &mut |slot| free.push_back(slot),
        &mut m,
    );
    assert_eq!(left, 0);
    assert_eq!(got, (0..n).collect::<Vec<_>>(), "not exactly once in order");
    assert_eq!(free.len(), SLOTS as usize, "a slot never came back");
    assert_eq!(m.packets, n);
    assert_eq!(m.stray_completions, 0);
    m
}

fn setup() -> (UdpSocket, UdpSocket, Arc<Slab>, Vec<SlotToken>) {
    let rx = receiver();
    let tx = super::socket::connected_udp(rx.local_addr().unwrap(), None, 1 << 20).unwrap();
    let (slab, tokens) = Slab::new(SLOTS, 2048);
    (rx, tx, Arc::new(slab), tokens)
}

#[test]
fn iocp_delivers_every_datagram_once_in_order() {
    let (rx, tx, slab, tokens) = setup();
    let mut b = IocpBackend::new(tx, slab.clone(), RealSys, false).unwrap();
    let m = stream(&mut b, &slab, tokens, &rx, 5000);
    assert!(m.submits > 0 && m.submit_ns.len() == m.submits);
}

#[test]
fn iocp_keeps_every_datagram_under_faults() {
    for seed in 1..=4u64 {
        let (rx, tx, slab, tokens) = setup();
        let plan = FaultPlan {
            seed,
            eagain: 50_000,
            enobufs: 50_000,
            econnrefused: 50_000,
            delay_cqe: 100_000,
            reorder_cqe: 200_000,
            ..FaultPlan::none()
        };
        let mut b = IocpBackend::new(tx, slab.clone(), Faulty::new(RealSys, plan), false).unwrap();
        let m = stream(&mut b, &slab, tokens, &rx, 3000);
        let inj = b.sys().injected();
        assert_eq!(m.injected, inj);
        assert!(
            inj.eagain + inj.enobufs + inj.econnrefused > 0,
            "nothing injected"
        );
        let errors = m.errors_by_name();
        assert_eq!(
            errors.get("WSAEWOULDBLOCK").copied().unwrap_or(0),
            inj.eagain,
            "{errors:?}"
        );
        assert_eq!(errors.get("WSAENOBUFS").copied().unwrap_or(0), inj.enobufs);
        assert_eq!(
            errors.get("WSAECONNRESET").copied().unwrap_or(0),
            inj.econnrefused
        );
    }
}

#[test]
fn iocp_cancel_returns_every_slot() {
    let (_rx, tx, slab, mut tokens) = setup();
    let mut b = IocpBackend::new(tx, slab.clone(), RealSys, false).unwrap();
    let mut m = TxMetrics::new();
    let descs: Vec<TxDesc> = (0..SLOTS)
        .map(|slot| {
            fill(&slab, &mut tokens, u64::from(slot), slot);
            TxDesc {
                slot,
                len: LEN as u32,
            }
        })
        .collect();
    let k = b.submit(&slab, &descs, &mut m).unwrap();
    assert!(k > 0);
    let mut back = Vec::new();
    assert_eq!(
        b.cancel(Duration::from_secs(5), &mut |s| back.push(s), &mut m),
        0
    );
    assert_eq!(b.in_flight(), 0);
    back.sort_unstable();
    assert_eq!(
        back,
        (0..k as u32).collect::<Vec<_>>(),
        "each posted slot back exactly once"
    );
    // Every op was either sent or cancelled; none is left.
    assert!(m.packets + m.failed_packets <= k as u64);
}

#[test]
fn a_slot_posted_twice_is_refused() {
    let (_rx, tx, slab, _tokens) = setup();
    let mut b = IocpBackend::new(tx, slab.clone(), RealSys, false).unwrap();
    let mut m = TxMetrics::new();
    let d = TxDesc { slot: 3, len: 10 };
    // Skip-on-success may finish the first post at once; it is still the backend's until reaped.
    assert_eq!(b.submit(&slab, &[d], &mut m).unwrap(), 1);
    assert!(b.submit(&slab, &[d], &mut m).is_err());
    assert_eq!(b.in_flight(), 1);
    let mut back = Vec::new();
    b.cancel(Duration::from_secs(5), &mut |s| back.push(s), &mut m);
    assert_eq!(back, vec![3]);
}

#[test]
fn send_errors_map_to_kinds() {
    use crate::sys::SendErrorKind;
    use windows_sys::Win32::Networking::WinSock::{WSAECONNRESET, WSAENOBUFS, WSAEWOULDBLOCK};
    assert_eq!(
        super::errno::send_error_kind(WSAEWOULDBLOCK),
        SendErrorKind::WouldBlock
    );
    assert_eq!(
        super::errno::send_error_kind(WSAENOBUFS),
        SendErrorKind::NoBuffers
    );
    assert_eq!(
        super::errno::send_error_kind(WSAECONNRESET),
        SendErrorKind::Refused
    );
    assert_eq!(super::errno::send_error_kind(5), SendErrorKind::Other);
}

/// USO through the fault seam: the plan makes the seam report UDP_SEND_MSG_SIZE accepted and
/// refuse the super-packet, at the post (even seeds) or through its completion (odd seeds). Every
/// packet still arrives exactly once, in order; the refusal is counted once, the refused run's
/// packets as re-sent, and the rest goes one datagram each.
#[test]
fn iocp_uso_refusal_resends_every_packet_once_in_order() {
    use super::uso::UsoControl;
    for seed in 1..=4u64 {
        let (rx, tx, slab, tokens) = setup();
        let plan = FaultPlan {
            seed,
            gso_refuse: crate::fault::PPM,
            ..FaultPlan::none()
        };
        let mut b = IocpBackend::new(tx, slab.clone(), Faulty::new(RealSys, plan), true).unwrap();
        assert!(
            b.uso_active() && b.gso_active(),
            "seed {seed}: USO not taken"
        );
        let m = stream(&mut b, &slab, tokens, &rx, 3000);
        assert!(!b.uso_active(), "seed {seed}: USO still on after a refusal");
        assert_eq!(m.gso_downgrades, 1, "seed {seed}");
        // The first batch is 32 packets of one size: one run, refused, re-sent one by one.
        assert_eq!(m.resent_packets, 32, "seed {seed}");
        assert_eq!(b.sys().uso_posts, 1, "seed {seed}: one super-packet tried");
        assert_eq!(
            b.sys().last_uso,
            Some((32, UsoControl::new(LEN as u32))),
            "seed {seed}: the super-packet's gather and control message"
        );
        assert_eq!(b.sys().injected().gso_refuse, 1);
        assert_eq!(m.errors_by_name().get("WSAEINVAL").copied(), Some(1));
    }
}

/// USO with the other faults on top (refusals now and then, not always): still exactly once, in
/// order, and the counters agree with what was injected.
#[test]
fn iocp_uso_keeps_every_datagram_under_faults() {
    for seed in 5..=8u64 {
        let (rx, tx, slab, tokens) = setup();
        let plan = FaultPlan {
            seed,
            eagain: 50_000,
            enobufs: 50_000,
            gso_refuse: 300_000,
            delay_cqe: 100_000,
            reorder_cqe: 200_000,
            ..FaultPlan::none()
        };
        let mut b = IocpBackend::new(tx, slab.clone(), Faulty::new(RealSys, plan), true).unwrap();
        let m = stream(&mut b, &slab, tokens, &rx, 3000);
        let inj = b.sys().injected();
        assert_eq!(m.gso_downgrades, 1, "seed {seed}");
        assert_eq!(inj.gso_refuse, 1, "seed {seed}: refused once, then off");
        assert!(m.resent_packets >= inj.enobufs);
    }
}

#[test]
fn uso_probe_answers() {
    // Whatever the system says, asking must not fail or change the socket.
    let (_rx, tx, _slab, _tokens) = setup();
    let real = super::socket::uso_supported(&tx);
    eprintln!("this system takes UDP_SEND_MSG_SIZE: {real}");
    let mut sys = Faulty::new(
        RealSys,
        FaultPlan {
            gso_refuse: 1,
            ..FaultPlan::none()
        },
    );
    assert!(
        sys.uso_accepted(&tx),
        "a plan with USO refusals reports it accepted"
    );
    assert_eq!(RealSys.uso_accepted(&tx), real);
    tx.send(b"still works").unwrap();
}
