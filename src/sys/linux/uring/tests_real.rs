//! The backend over a real io_uring and real loopback sockets, plus a driver the simulated
//! kernel tests share. Any test that could hang runs under [`watchdog`].

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use io_uring::{opcode, squeue, types, IoUring};

use super::UringBackend;
use crate::fault::FaultPlan;
use crate::stats::TxMetrics;
use crate::sys::unix::socket::{connected_udp, set_recv_buffer};
use crate::sys::{Slab, SlotToken, TxBackend, TxDesc, TxFaults, TxOpts};

/// The send order a test asks the backend for (the engine's `SendOrder`, as the backend sees
/// it: `relaxed_order`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SendOrder {
    Strict,
    Relaxed,
}

/// The configuration's default zero-copy threshold, bytes.
const ZC_THRESHOLD: usize = 4096;

/// Runs `f` on its own thread; fails the test if it has not returned after `secs`.
pub(super) fn watchdog<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let h = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(v) => v,
        Err(mpsc::RecvTimeoutError::Disconnected) => match h.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the thread sent nothing and did not panic"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("hung: no result after {secs} s"),
    }
}

/// Drives a backend the way the engine does, writing each packet's sequence number into its
/// first 8 bytes through the slot's token, and checking that no slot comes back twice.
pub(super) struct Driver {
    pub backend: UringBackend,
    pub slab: Arc<Slab>,
    free: Vec<SlotToken>,
    parked: Vec<Option<SlotToken>>,
    pub m: TxMetrics,
    pub next_seq: u64,
    /// Packets no `submit` accepted because an error ended the stream (the engine counts these
    /// failed itself; the backend counts every other one).
    pub unsent: u64,
    /// Told each (slot, seq) before the backend sees it.
    pub on_assign: Box<dyn FnMut(u32, u64) + Send>,
    /// Told each slot the backend hands back, before the driver takes it.
    pub on_done: Box<dyn FnMut(u32) + Send>,
}

impl Driver {
    pub(super) fn new(backend: UringBackend, slab: Arc<Slab>, tokens: Vec<SlotToken>) -> Driver {
        let n = tokens.len();
        Driver {
            backend,
            slab,
            free: tokens.into_iter().rev().collect(),
            parked: (0..n).map(|_| None).collect(),
            m: TxMetrics::new(),
            next_seq: 0,
            unsent: 0,
            on_assign: Box::new(|_, _| {}),
            on_done: Box::new(|_| {}),
        }
    }

    /// Takes back what the backend finished; like the engine, hands slots out again in the
    /// order they came back, so batches go from consecutive slots (one iovec per GSO send).
    pub(super) fn reap(&mut self, wait: bool) -> std::io::Result<()> {
        let (parked, free, on_done) = (&mut self.parked, &mut self.free, &mut self.on_done);
        let free_before = free.len();
        let r = self.backend.reap(
            wait,
            &mut |slot| {
                on_done(slot);
                let t = parked[slot as usize]
                    .take()
                    .expect("slot handed back twice");
                free.push(t);
            },
            &mut self.m,
        );
        self.free[free_before..].reverse();
        r
    }

    /// Sends one batch with these payload lengths (each at least 8), as the engine's
    /// `gather` + `submit_pending` do. Gives up (returns Err) after `patience` without progress.
    pub(super) fn step(&mut self, lens: &[u32]) -> std::io::Result<()> {
        let mut tries = 0;
        while self.free.len() < lens.len() {
            self.reap(true)?;
            tries += 1;
            assert!(tries < 100_000, "no slot came back");
        }
        let mut pending = Vec::with_capacity(lens.len());
        for &len in lens {
            let mut token = self.free.pop().expect("checked above");
            let seq = self.next_seq;
            self.next_seq += 1;
            self.slab.bytes_mut(&mut token)[..8].copy_from_slice(&seq.to_le_bytes());
            let slot = token.index();
            (self.on_assign)(slot, seq);
            self.parked[slot as usize] = Some(token);
            pending.push(TxDesc { slot, len });
        }
        let mut off = 0;
        let mut tries = 0;
        while off < pending.len() {
            let r = self
                .backend
                .submit(&self.slab, &pending[off..], &mut self.m)
                .and_then(|k| {
                    if k == 0 {
                        self.reap(true)?;
                    }
                    Ok(k)
                });
            let k = match r {
                Ok(k) => k,
                Err(e) => {
                    // As the engine's wind-down: what no submit accepted goes back unsent.
                    for p in &pending[off..] {
                        let t = self.parked[p.slot as usize].take().expect("parked");
                        self.free.push(t);
                    }
                    self.unsent += (pending.len() - off) as u64;
                    return Err(e);
                }
            };
            off += k;
            if k == 0 {
                tries += 1;
                assert!(tries < 100_000, "submit made no progress");
            }
        }
        self.reap(false)
    }

    /// Waits until every slot is back (at most `limit` reaps).
    pub(super) fn finish(&mut self) -> std::io::Result<()> {
        let mut tries = 0;
        while self.backend.in_flight() > 0 {
            self.reap(true)?;
            tries += 1;
            assert!(tries < 200_000, "in flight never drained");
        }
        Ok(())
    }
}

/// A backend over a real ring sending to `dest`, or None (with the reason printed) when this
/// kernel or sandbox has no io_uring.
fn real_backend(
    dest: SocketAddr,
    payload: usize,
    slots: u32,
    gso: bool,
    plan: Option<FaultPlan>,
) -> Option<Driver> {
    real_backend_ordered(dest, payload, slots, gso, plan, SendOrder::Strict)
}

/// [`real_backend`] with a send order.
fn real_backend_ordered(
    dest: SocketAddr,
    payload: usize,
    slots: u32,
    gso: bool,
    plan: Option<FaultPlan>,
    order: SendOrder,
) -> Option<Driver> {
    let opts = TxOpts {
        batch: 32,
        gso,
        zc_threshold: Some(ZC_THRESHOLD),
        relaxed_order: order == SendOrder::Relaxed,
        faults: TxFaults {
            plan,
            ..TxFaults::default()
        },
        ..TxOpts::to(dest)
    };
    let sock = connected_udp(dest, None, 4 << 20).expect("socket");
    let gso = gso && crate::sys::unix::socket::gso_supported(sock.as_raw_fd());
    let (slab, tokens) = Slab::new(slots, payload);
    let slab = Arc::new(slab);
    match UringBackend::new(sock, gso, &opts, slab.clone()) {
        Ok(b) => Some(Driver::new(b, slab, tokens)),
        Err(e) => {
            println!("skipped: io_uring unavailable here ({e})");
            None
        }
    }
}

/// A loopback receiver recording every sequence number, with a large buffer so that the
/// window the tests keep never overflows it.
struct Receiver {
    got: Arc<AtomicU64>,
    handle: std::thread::JoinHandle<Vec<u64>>,
}

fn receiver(sock: UdpSocket, expect: u64) -> Receiver {
    set_recv_buffer(sock.as_raw_fd(), 32 << 20);
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let got = Arc::new(AtomicU64::new(0));
    let g = got.clone();
    let handle = std::thread::spawn(move || {
        let mut seqs = Vec::new();
        let mut buf = vec![0u8; 65_536];
        let mut last = Instant::now();
        while (seqs.len() as u64) < expect && last.elapsed() < Duration::from_secs(5) {
            if let Ok(n) = sock.recv(&mut buf) {
                assert!(n >= 8, "short datagram");
                seqs.push(u64::from_le_bytes(buf[..8].try_into().unwrap()));
                g.store(seqs.len() as u64, Ordering::Release);
                last = Instant::now();
            }
        }
        seqs
    });
    Receiver { got, handle }
}

/// Packets that arrived (or left) after a later one, in `seqs` order; an error for a
/// duplicate, or for a packet overtaken by one `batch` or more ahead of it (only its own batch
/// may).
pub(super) fn overtaken_within(seqs: &[u64], batch: u64) -> Result<u64, String> {
    /// A sender numbers its packets one by one: a jump this far ahead is corruption.
    const MAX_JUMP: u64 = 1 << 20;
    let mut seen = std::collections::HashSet::new();
    let mut highest: Option<u64> = None;
    let mut overtaken = 0;
    for &seq in seqs {
        if !seen.insert(seq) {
            return Err(format!("{seq} came twice"));
        }
        if highest.is_some_and(|h| seq > h && seq - h > MAX_JUMP) {
            return Err(format!("{seq} jumped implausibly far ahead of {highest:?}"));
        }
        match highest {
            Some(h) if seq < h => {
                if h - seq >= batch {
                    return Err(format!("{seq} overtaken by {h}, beyond its batch"));
                }
                overtaken += 1;
            }
            _ => highest = Some(seq),
        }
    }
    Ok(overtaken)
}

fn assert_in_order_once(seqs: &[u64]) {
    for w in seqs.windows(2) {
        assert!(
            w[0] < w[1],
            "duplicate or reordered: {} then {}",
            w[0],
            w[1]
        );
    }
}

/// Sends `n` packets of `payload` bytes in batches of 16, never more than `window` ahead of
/// what the receiver has (when `got` is given).
fn send_all(d: &mut Driver, n: u64, payload: u32, got: Option<&AtomicU64>, pause: Duration) {
    const WINDOW: u64 = 128;
    while d.next_seq < n {
        if let Some(got) = got {
            let t0 = Instant::now();
            while d.next_seq - got.load(Ordering::Acquire) > WINDOW {
                d.reap(false).expect("reap");
                std::thread::sleep(Duration::from_micros(100));
                assert!(t0.elapsed() < Duration::from_secs(20), "receiver stopped");
            }
        }
        let k = (n - d.next_seq).min(16) as usize;
        d.step(&vec![payload; k]).expect("send");
        if !pause.is_zero() {
            std::thread::sleep(pause);
        }
    }
    d.finish().expect("finish");
}

#[test]
fn closed_port_zero_copy_counts_every_packet_once() {
    for gso in [true, false] {
        let dest = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        // The socket above is closed again: nothing listens on `dest`.
        let Some(mut d) = real_backend(dest, 8000, 256, gso, None) else {
            return;
        };
        let d = watchdog(120, move || {
            send_all(&mut d, 5000, 8000, None, Duration::ZERO);
            d
        });
        let m = &d.m;
        assert_eq!(m.packets, 5000, "gso {gso}");
        assert_eq!(m.failed_packets, 0);
        assert_eq!(m.stray_completions, 0);
        assert_eq!(m.zero_copy_sends, m.zero_copy_notifications, "gso {gso}");
        assert!(m.bytes == 5000 * 8000);
        assert_eq!(d.backend.in_flight(), 0);
    }
}

/// Until the receiver binds, the kernel answers with ICMP port unreachable, and a later send
/// fails with ECONNREFUSED: the real kernel's mid-batch failure.
#[test]
fn late_receiver_sees_no_duplicate_and_no_reordering() {
    let seqs = late_receiver(SendOrder::Strict).0;
    assert_in_order_once(&seqs);
}

/// As above, relaxed: a refused send is overtaken by the rest of its batch, never duplicated.
#[test]
fn late_receiver_relaxed_sees_no_duplicate_and_reordering_only_within_a_batch() {
    let (seqs, m) = late_receiver(SendOrder::Relaxed);
    // 32: the backend's batch (`real_backend`).
    let overtaken = overtaken_within(&seqs, 32).unwrap();
    // The receiver saw only what came after it bound; the sender counted every overtaking.
    assert!(m.reordered_packets >= overtaken, "{overtaken} seen, {m:?}");
}

/// Sends 5000 packets to a port nobody listens on for the first 200 ms; returns what the
/// receiver then got and the sender's metrics.
fn late_receiver(order: SendOrder) -> (Vec<u64>, TxMetrics) {
    const N: u64 = 5000;
    let port_holder = UdpSocket::bind("127.0.0.1:0").unwrap();
    let dest = port_holder.local_addr().unwrap();
    drop(port_holder);
    let Some(mut d) = real_backend_ordered(dest, 4096, 256, false, None, order) else {
        return (Vec::new(), TxMetrics::new());
    };
    let sender = std::thread::spawn(move || {
        watchdog(120, move || {
            send_all(&mut d, N, 4096, None, Duration::from_millis(1));
            d
        })
    });
    std::thread::sleep(Duration::from_millis(200));
    let rx = receiver(UdpSocket::bind(dest).expect("rebind the port"), N);
    let d = sender.join().expect("sender");
    let seqs = rx.handle.join().expect("receiver");
    assert_eq!(d.m.packets, N);
    assert_eq!(d.m.failed_packets, 0);
    assert_eq!(d.m.stray_completions, 0);
    assert_eq!(d.backend.in_flight(), 0);
    assert!(
        !seqs.is_empty(),
        "the receiver came up while the sender still ran"
    );
    (seqs, d.m)
}

/// Sends 4000 packets of `payload` bytes to a loopback receiver with link failures, GSO
/// refusals and delayed and reordered completions injected (seed `seed`), and checks what both
/// orders keep: every packet sent, none failed or stray, every zero-copy send notified, faults
/// injected. Returns what the receiver got, in arrival order, and the sender's metrics; `None`
/// (the reason printed) without io_uring.
fn injected_run(
    payload: u32,
    gso: bool,
    seed: u64,
    order: SendOrder,
) -> Option<(Vec<u64>, TxMetrics)> {
    const N: u64 = 4000;
    let ctx = format!("{order:?}, payload {payload} gso {gso}");
    let rsock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let dest = rsock.local_addr().unwrap();
    // Unlinked (relaxed), a drawn "broken link" fails that SQE alone: the ones after it go.
    let plan = FaultPlan {
        seed,
        cancel_link: 30_000,
        gso_refuse: 100_000,
        delay_cqe: 50_000,
        reorder_cqe: 100_000,
        ..FaultPlan::none()
    };
    let mut d = real_backend_ordered(dest, payload as usize, 256, gso, Some(plan), order)?;
    let rx = receiver(rsock, N);
    let got = rx.got.clone();
    let d = watchdog(120, move || {
        send_all(&mut d, N, payload, Some(&got), Duration::ZERO);
        d
    });
    let seqs = rx.handle.join().expect("receiver");
    let m = d.m;
    assert_eq!(m.packets, N, "{ctx}");
    assert_eq!(m.failed_packets, 0, "{ctx}");
    assert_eq!(m.stray_completions, 0, "{ctx}");
    assert_eq!(m.zero_copy_sends, m.zero_copy_notifications, "{ctx}");
    assert!(m.injected.cancel_link > 0, "{ctx}: {:?}", m.injected);
    Some((seqs, m))
}

#[test]
fn injected_link_failures_delays_and_reordering_keep_every_packet_once_in_order() {
    // 64 and 1472 B fill their slots, so GSO sends go from consecutive slots as one iovec.
    for (payload, gso, seed) in [
        (1200u32, true, 1u64),
        (8000, true, 2),
        (8000, false, 3),
        (64, true, 4),
        (1472, true, 5),
    ] {
        let Some((seqs, m)) = injected_run(payload, gso, seed, SendOrder::Strict) else {
            return;
        };
        assert_eq!(
            seqs,
            (0..4000).collect::<Vec<_>>(),
            "payload {payload} gso {gso}"
        );
        assert!(m.resent_packets > 0);
        assert_eq!(m.reordered_packets, 0);
    }
}

#[test]
fn relaxed_order_with_injected_failures_delivers_every_packet_once() {
    for (payload, gso, seed) in [
        (1472u32, false, 11u64),
        (8000, false, 12),
        (1200, true, 13),
        (8000, true, 14),
    ] {
        let ctx = format!("payload {payload} gso {gso}");
        let Some((seqs, m)) = injected_run(payload, gso, seed, SendOrder::Relaxed) else {
            return;
        };
        let mut sorted = seqs.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            (0..4000).collect::<Vec<_>>(),
            "{ctx}: each packet once"
        );
        // Loopback keeps the order packets were sent in, so what arrived after a later packet
        // is what the backend counted, and only packets of the same batch (32) overtook it.
        let overtaken = overtaken_within(&seqs, 32).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        assert!(overtaken > 0, "{ctx}: the failures reordered nothing");
        assert_eq!(m.reordered_packets, overtaken, "{ctx}");
    }
}

/// What relaxed order relies on: an io_uring send with MSG_DONTWAIT that finds no room in the
/// socket completes at once with EAGAIN, where the same send without it waits for room (and
/// would then leave behind the sends after it).
#[test]
fn kernel_dontwait_send_fails_on_a_full_socket_instead_of_waiting() {
    let Ok(mut ring) = IoUring::new(8) else {
        println!("skipped: io_uring unavailable here");
        return;
    };
    // A unix datagram pair whose reader never reads: its queue fills.
    let (tx, rx) = std::os::unix::net::UnixDatagram::pair().unwrap();
    tx.set_nonblocking(true).unwrap();
    let buf = [7u8; 100];
    let mut queued = 0;
    while tx.send(&buf).is_ok() {
        queued += 1;
        assert!(queued < 1_000_000, "the queue never filled");
    }
    tx.set_nonblocking(false).unwrap();
    let fd = types::Fd(tx.as_raw_fd());
    let dontwait = opcode::Send::new(fd, buf.as_ptr(), 100)
        .flags(libc::MSG_DONTWAIT)
        .build()
        .user_data(1);
    let waits = opcode::Send::new(fd, buf.as_ptr(), 100)
        .build()
        .user_data(2);
    // SAFETY: `buf` outlives both requests: we wait below for both results (or fail the test
    // while `buf` is still alive).
    unsafe {
        let mut sq = ring.submission();
        sq.push(&dontwait).unwrap();
        sq.push(&waits).unwrap();
    }
    let mut cqes = Vec::new();
    let wait_for = |ring: &mut IoUring, want: usize, cqes: &mut Vec<(u64, i32)>| {
        let t0 = Instant::now();
        while cqes.len() < want && t0.elapsed() < Duration::from_secs(5) {
            ring.submit().unwrap();
            cqes.extend(ring.completion().map(|c| (c.user_data(), c.result())));
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    wait_for(&mut ring, 1, &mut cqes);
    std::thread::sleep(Duration::from_millis(50));
    cqes.extend(ring.completion().map(|c| (c.user_data(), c.result())));
    assert_eq!(
        cqes,
        vec![(1, -libc::EAGAIN)],
        "after {queued} queued datagrams"
    );
    // Read the queue empty (a unix socket counts as writable again only once most of its
    // buffer is free): the waiting send goes.
    rx.set_nonblocking(true).unwrap();
    let mut sink = [0u8; 100];
    while rx.recv(&mut sink).is_ok() {}
    wait_for(&mut ring, 2, &mut cqes);
    assert_eq!(cqes, vec![(1, -libc::EAGAIN), (2, 100)]);
}

/// What this kernel posts for zero-copy requests that fail or are cancelled by a broken link:
/// the backend relies on "every zero-copy request gets exactly one notification", which holds
/// even for the cancelled follower, whose result lacks F_MORE.
#[test]
fn kernel_zero_copy_failure_completions() {
    let Ok(mut ring) = IoUring::new(16) else {
        println!("skipped: io_uring unavailable here");
        return;
    };
    // Unconnected, no destination: every send fails with EDESTADDRREQ.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let fd = types::Fd(sock.as_raw_fd());
    let buf = vec![7u8; 8000];
    let first = opcode::SendZc::new(fd, buf.as_ptr(), buf.len() as u32)
        .build()
        .user_data(1)
        .flags(squeue::Flags::IO_LINK);
    let follower = opcode::SendZc::new(fd, buf.as_ptr(), buf.len() as u32)
        .build()
        .user_data(2);
    // SAFETY: `buf` outlives the ring's use of it: we wait below for both requests' final
    // completions (or fail the test while `buf` is still alive).
    unsafe {
        let mut sq = ring.submission();
        sq.push(&first).unwrap();
        sq.push(&follower).unwrap();
    }
    let mut cqes = Vec::new();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(5) {
        ring.submit_and_wait(0).unwrap();
        cqes.extend(
            ring.completion()
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
        let finals = |ud| {
            let result = cqes
                .iter()
                .find(|c| c.0 == ud && !io_uring::cqueue::notif(c.2));
            let notifs = cqes
                .iter()
                .filter(|c| c.0 == ud && io_uring::cqueue::notif(c.2));
            result.is_some() && notifs.count() == 1
        };
        if finals(1) && finals(2) {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    println!("zero-copy failure completions on this kernel: {cqes:?}");
    for ud in [1u64, 2] {
        let results: Vec<_> = cqes
            .iter()
            .filter(|c| c.0 == ud && !io_uring::cqueue::notif(c.2))
            .collect();
        let notifs = cqes
            .iter()
            .filter(|c| c.0 == ud && io_uring::cqueue::notif(c.2))
            .count();
        assert_eq!(results.len(), 1, "one result for {ud}: {cqes:?}");
        assert!(results[0].1 < 0, "request {ud} failed: {cqes:?}");
        assert_eq!(notifs, 1, "one notification for {ud}: {cqes:?}");
    }
    let failed = cqes
        .iter()
        .find(|c| c.0 == 1 && !io_uring::cqueue::notif(c.2))
        .unwrap();
    assert!(
        io_uring::cqueue::more(failed.2),
        "a failed send's result carries F_MORE"
    );
    let cancelled = cqes
        .iter()
        .find(|c| c.0 == 2 && !io_uring::cqueue::notif(c.2))
        .unwrap();
    assert_eq!(cancelled.1, -libc::ECANCELED);
}

/// Cancel with requests parked in the kernel (the receiver never reads, so the sender's socket
/// fills): everything ends within the timeout and every slot comes back.
#[test]
fn cancel_returns_every_slot_and_drop_does_not_hang() {
    let rsock = UdpSocket::bind("127.0.0.1:0").unwrap();
    set_recv_buffer(rsock.as_raw_fd(), 4096);
    let dest = rsock.local_addr().unwrap();
    let Some(mut d) = real_backend(dest, 8000, 256, false, None) else {
        return;
    };
    watchdog(60, move || {
        for _ in 0..8 {
            d.step(&[8000; 16]).expect("send");
        }
        let mut back = 0;
        let held = d
            .backend
            .cancel(Duration::from_secs(5), &mut |_| back += 1, &mut d.m);
        assert_eq!(held, 0);
        assert_eq!(d.m.packets + d.m.failed_packets, d.next_seq);
        assert_eq!(d.m.zero_copy_sends, d.m.zero_copy_notifications);
        assert_eq!(back + d.free.len(), 256);
        drop(d);
        drop(rsock);
    });
}

/// Without SQPOLL a kernel of 6.1 or later gives the ring deferred task work (single issuer);
/// an older kernel must still get a working plain ring.
#[test]
fn without_sqpoll_the_ring_defers_task_work_where_the_kernel_can() {
    let dest: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let ring = super::ring::build(&TxOpts::to(dest), 256).unwrap();
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut parts = release.trim().split(['.', '-']);
    let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    if (major, minor) >= (6, 1) {
        assert!(ring.params().is_setup_single_issuer(), "kernel {release}");
    } else {
        println!("kernel {release} predates DEFER_TASKRUN; checking only that a ring was built");
        assert!(ring.params().sq_entries() > 0);
    }
}

/// A batch of single datagrams costs one enter, as one `sendmmsg` would: the enter that
/// submits the linked chain also runs it to the end (with deferred task work, the followers
/// advance only while the thread is in the kernel), so every slot is back without a second
/// syscall and no packet of the batch waits for the next one.
#[test]
fn one_enter_sends_a_whole_batch_linked_or_not() {
    for order in [SendOrder::Strict, SendOrder::Relaxed] {
        one_enter_per_batch(order);
    }
}

fn one_enter_per_batch(order: SendOrder) {
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let dest = sink.local_addr().unwrap();
    let Some(mut d) = real_backend_ordered(dest, 256, 256, false, None, order) else {
        return;
    };
    let d = watchdog(60, move || {
        for batch in 1..=20 {
            // 32 is the backend's batch (`real_backend`); the sink is never read, so the
            // socket never runs out of room and no send is parked.
            d.step(&[256; 32]).expect("send");
            assert_eq!(
                d.backend.in_flight(),
                0,
                "{order:?}: batch {batch} not settled by its enter"
            );
            assert_eq!(
                d.m.syscalls, batch,
                "{order:?}: syscalls after batch {batch}"
            );
        }
        d
    });
    assert_eq!(d.m.packets, 20 * 32);
    assert_eq!(d.m.submits, 20);
    assert_eq!(d.m.reordered_packets, 0, "{order:?}: nothing failed");
    drop(sink);
}
