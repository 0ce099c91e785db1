//! The overlapped receivers on loopback: exact count, order, contents and source; every slot
//! posted again after a bulk drain; drops with receives posted (and datagrams arriving); the
//! ACK path on a second handle of a socket that already belongs to the send backend's port.

use std::net::UdpSocket;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::super::data_rx::{OverlappedDataRx, RX_POSTED};
use super::super::overlapped_rx::{OverlappedRx, SlotState};
use super::*;
use crate::sys::rx::RxBackend;

const LONG: Duration = Duration::from_secs(30);

/// Datagram `i`: its number, then bytes derived from it; 8 to 1407 bytes long.
fn datagram(i: u32) -> Vec<u8> {
    let len = 8 + (i as usize * 37) % 1400;
    let mut d = vec![0u8; len];
    d[..4].copy_from_slice(&i.to_be_bytes());
    for (k, b) in d[4..].iter_mut().enumerate() {
        *b = (i as usize).wrapping_mul(31).wrapping_add(k) as u8;
    }
    d
}

fn bound() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    crate::sys::set_recv_buffer(&s, 16 << 20);
    s
}

/// Receives until `n` datagrams came or [`LONG`] passed.
fn collect(rx: &mut OverlappedDataRx, n: usize, got: &mut Vec<(Vec<u8>, SocketAddr)>) {
    let deadline = Instant::now() + LONG;
    while got.len() < n && Instant::now() < deadline {
        if !rx.wait(Duration::from_millis(50)).unwrap() {
            continue;
        }
        rx.recv_batch(&mut |d| {
            assert!(!d.truncated);
            got.push((d.data.to_vec(), d.src));
        })
        .unwrap();
    }
}

#[test]
fn overlapped_receiver_gets_every_datagram_once_in_order() {
    let sock = bound();
    let to = sock.local_addr().unwrap();
    let mut rx = OverlappedDataRx::new(sock).unwrap();
    assert_eq!(rx.name(), "overlapped");
    assert!(rx.rx.uses_port(), "a fresh socket gets a port of its own");
    assert_eq!(rx.rx.posted(), RX_POSTED);
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let n = 5000u32;
    let mut got = Vec::new();
    // In rounds the receive buffer holds, so nothing is lost before the receiver drains.
    for round in 0..n / 500 {
        for i in round * 500..(round + 1) * 500 {
            peer.send_to(&datagram(i), to).unwrap();
        }
        collect(&mut rx, ((round + 1) * 500) as usize, &mut got);
    }
    assert_eq!(got.len(), n as usize, "not every datagram arrived");
    for (i, (d, src)) in got.iter().enumerate() {
        assert_eq!(
            d,
            &datagram(i as u32),
            "datagram {i} out of order or corrupt"
        );
        assert_eq!(*src, peer.local_addr().unwrap());
    }
    assert_eq!(rx.rx.counts().impossible, 0);
    assert!(!rx.wait(Duration::from_millis(20)).unwrap(), "nothing more");
}

#[test]
fn every_slot_is_posted_again_after_a_bulk_drain() {
    let sock = bound();
    let to = sock.local_addr().unwrap();
    let slots = 8;
    let mut rx = OverlappedRx::new(sock, slots, 2048).unwrap();
    assert!(rx.states().iter().all(|s| *s == SlotState::Posted));
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let n = 5 * slots as u32;
    for i in 0..n {
        peer.send_to(&datagram(i % 40), to).unwrap();
    }
    let mut got = Vec::new();
    let mut biggest = 0;
    let deadline = Instant::now() + LONG;
    while got.len() < n as usize && Instant::now() < deadline {
        if rx.wait(Duration::from_millis(50)) {
            let k = rx
                .receive(usize::MAX, &mut |d, _, cut| {
                    assert!(!cut);
                    got.push(d.to_vec());
                })
                .unwrap();
            biggest = biggest.max(k);
            // Each handed-on slot went straight back to the system.
            assert_eq!(rx.posted() + rx_completed(&rx), slots);
        }
    }
    assert_eq!(got.len(), n as usize);
    for (i, d) in got.iter().enumerate() {
        assert_eq!(d, &datagram(i as u32 % 40));
    }
    assert!(
        biggest > 1,
        "completions were never drained more than one at a time"
    );
    // All drained: every slot is posted again.
    assert!(!rx.wait(Duration::from_millis(20)));
    assert!(rx.states().iter().all(|s| *s == SlotState::Posted));
    assert_eq!(rx.counts().impossible, 0);
}

fn rx_completed(rx: &OverlappedRx) -> usize {
    rx.states()
        .iter()
        .filter(|s| matches!(s, SlotState::Completed { .. }))
        .count()
}

#[test]
fn long_datagrams_are_cut_and_flagged() {
    let sock = bound();
    let to = sock.local_addr().unwrap();
    let mut rx = OverlappedRx::new(sock, 4, 100).unwrap();
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    peer.send_to(&[9u8; 300], to).unwrap();
    peer.send_to(&[5u8; 50], to).unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + LONG;
    while got.len() < 2 && Instant::now() < deadline {
        if rx.wait(Duration::from_millis(50)) {
            rx.receive(8, &mut |d, _, cut| got.push((d.to_vec(), cut)))
                .unwrap();
        }
    }
    assert_eq!(got, vec![(vec![9u8; 100], true), (vec![5u8; 50], false)]);
    assert_eq!(rx.counts().truncated, 1);
}

#[test]
fn dropping_with_receives_posted_waits_for_their_completions() {
    // Idle receivers: every op is cancelled and completes before the memory goes.
    for _ in 0..20 {
        let mut rx = OverlappedRx::new(bound(), 16, 2048).unwrap();
        assert_eq!(rx.posted(), 16);
        assert_eq!(
            rx.cancel(Duration::from_secs(5)),
            0,
            "an op never completed"
        );
        drop(rx);
        drop(OverlappedRx::new(bound(), 16, 2048).unwrap());
    }
    // Datagrams arriving while the receiver is dropped: the stack must never write into freed
    // slots (Wine crashes, or the next receiver sees garbage, if it did).
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    for round in 0..10 {
        let sock = bound();
        let to = sock.local_addr().unwrap();
        let stop2 = stop.clone();
        let blaster = std::thread::spawn(move || {
            let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
            let mut i = 0u32;
            while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = peer.send_to(&datagram(i % 500), to);
                i += 1;
            }
        });
        let mut rx = OverlappedRx::new(sock, 32, 2048).unwrap();
        let mut seen = 0;
        let deadline = Instant::now() + LONG;
        while seen < 100 && Instant::now() < deadline {
            rx.wait(Duration::from_millis(10));
            seen += rx
                .receive(64, &mut |d, _, _| {
                    let i = u32::from_be_bytes(d[..4].try_into().unwrap());
                    assert_eq!(d, &datagram(i)[..], "round {round}: corrupt datagram");
                })
                .unwrap();
        }
        assert!(seen >= 100, "round {round}: only {seen} datagrams arrived");
        drop(rx);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        blaster.join().unwrap();
        stop.store(false, std::sync::atomic::Ordering::Relaxed);
    }
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
    let deadline = Instant::now() + LONG;
    while got.len() < 151 && Instant::now() < deadline {
        rx.wait(Duration::from_millis(20)).unwrap();
        while rx.recv_batch(&mut |d, s| got.push((d.to_vec(), s))).is_ok() {}
    }
    assert_eq!(got.len(), 151);
    for (i, (d, src)) in got[..150].iter().enumerate() {
        assert_eq!(&d[..], &(i as u32).to_be_bytes()[..i % 5]);
        assert_eq!(*src, Some(b.local_addr().unwrap()));
    }
    assert_eq!(got[150].0, vec![7u8; ACK_SLOT]);
}

/// The engine's case: the ACK core reads a second handle on the data socket, which the send
/// backend has already tied to its completion port. The receives' completions must stay off
/// that port, and sends and receives both keep working.
#[test]
fn ack_receiver_shares_the_send_backends_socket() {
    use crate::stats::TxMetrics;
    use crate::sys::{Slab, TxBackend, TxDesc};

    let device = UdpSocket::bind("127.0.0.1:0").unwrap();
    device
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let data =
        super::super::socket::connected_udp(device.local_addr().unwrap(), None, 1 << 20).unwrap();
    let clone = data.try_clone().unwrap();
    let me = data.local_addr().unwrap();
    let (slab, mut tokens) = Slab::new(16, 2048);
    let slab = Arc::new(slab);
    let mut tx = super::super::iocp::IocpBackend::new(
        data,
        slab.clone(),
        super::super::seam::RealSys,
        false,
    )
    .unwrap();
    let mut ack = AckRx::new(clone);
    let mut m = TxMetrics::new();
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    for round in 0..20u32 {
        // One packet out through the completion port...
        slab.bytes_mut(&mut tokens[0])[..4].copy_from_slice(&round.to_be_bytes());
        let d = TxDesc { slot: 0, len: 4 };
        let deadline = Instant::now() + LONG;
        while tx.submit(&slab, &[d], &mut m).unwrap() == 0 {
            assert!(Instant::now() < deadline);
        }
        let mut back = false;
        while !back {
            assert!(Instant::now() < deadline, "the send never completed");
            tx.reap(true, &mut |_| back = true, &mut m).unwrap();
        }
        let (n, _) = device.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], &round.to_be_bytes());
        // ...and its ACK back through the overlapped receives on the same socket.
        device.send_to(&round.to_be_bytes(), me).unwrap();
        let before = got.len();
        while got.len() == before {
            assert!(Instant::now() < deadline, "ACK {round} never arrived");
            if ack.wait(Duration::from_millis(20)).unwrap() == AckWake::Readable {
                let _ = ack.recv_batch(&mut |d, _| got.push(d.to_vec()));
            }
        }
    }
    let want: Vec<Vec<u8>> = (0..20u32).map(|r| r.to_be_bytes().to_vec()).collect();
    assert_eq!(got, want);
    assert_eq!(m.packets, 20);
    assert_eq!(
        m.stray_completions, 0,
        "a receive completion reached the send port"
    );
    assert_eq!(ack.inner().counts().impossible, 0);
    // The receiver goes first (as the ACK core stops after the sender, either order must hold).
    drop(ack);
    assert_eq!(tx.cancel(Duration::from_secs(5), &mut |_| {}, &mut m), 0);
}
