//! Whom the receivers believe: one sender (the first source, or the configured one), and no
//! sequence number implausibly far ahead. Real sockets on loopback; the device emulator end to
//! end with the engine.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringshot::device::{DeviceConfig, Emulator, FaultConfig};
use ringshot::engine::{PatternSource, SourceSender};
use ringshot::flow::AckFormat;
use ringshot::recv::{Receiver, RecvConfig};
use ringshot::wire::header::pattern_packet;
use ringshot::SenderConfig;

const LEN: usize = 256;
const FORGED_HUGE: u64 = u64::MAX - 1;
const FORGED_FAR: u64 = 1_000_000_000_000;

fn recv_cfg() -> RecvConfig {
    RecvConfig::builder("127.0.0.1:0".parse().unwrap())
        .idle_exit(Duration::from_millis(500))
        .build()
        .unwrap()
}

/// Waits until the receiver has taken `n` packets (generous: the machine may be loaded).
fn wait_packets(progress: impl Fn() -> (u64, u64), n: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while progress().0 < n {
        assert!(
            Instant::now() < deadline,
            "receiver stuck at {:?}",
            progress()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn send_range(sock: &UdpSocket, to: SocketAddr, seqs: std::ops::Range<u64>) {
    for s in seqs {
        sock.send_to(&pattern_packet(1, s, LEN), to).unwrap();
        if s % 64 == 63 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Two forged packets: a huge sequence from `forger`, another port of the same host (not the
/// sender being followed), and a far one from `sender` itself (a believable source with an
/// unbelievable sequence).
fn send_forgeries(sender: &UdpSocket, forger: &UdpSocket, to: SocketAddr) {
    forger
        .send_to(&pattern_packet(1, FORGED_HUGE, LEN), to)
        .unwrap();
    sender
        .send_to(&pattern_packet(1, FORGED_FAR, LEN), to)
        .unwrap();
}

#[test]
fn recv_follows_one_sender_and_does_not_believe_a_huge_jump() {
    let rx = Receiver::spawn(recv_cfg()).unwrap();
    let to = rx.local_addr();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let forger = UdpSocket::bind("127.0.0.1:0").unwrap();
    send_range(&sender, to, 0..500);
    wait_packets(|| rx.progress(), 500);
    send_forgeries(&sender, &forger, to);
    send_range(&sender, to, 500..1000);
    wait_packets(|| rx.progress(), 1001);
    rx.stop();
    let r = rx.join().unwrap();
    assert_eq!(r.foreign, 1, "{r:?}");
    assert_eq!(r.implausible, 1, "{r:?}");
    assert_eq!(r.lost, 0, "{r:?}");
    assert_eq!((r.reordered, r.duplicates, r.late), (0, 0, 0), "{r:?}");
    assert_eq!(r.packets, 1001, "{r:?}");
    assert_eq!(r.corrupt, 0);
}

#[test]
fn recv_with_a_configured_sender_drops_everyone_else() {
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let cfg = RecvConfig::builder("127.0.0.1:0".parse().unwrap())
        .from_addr(Some(sender.local_addr().unwrap()))
        .build()
        .unwrap();
    let rx = Receiver::spawn(cfg).unwrap();
    let to = rx.local_addr();
    // The stranger comes first, and still is not followed.
    let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
    send_range(&stranger, to, 0..10);
    send_range(&sender, to, 0..100);
    wait_packets(|| rx.progress(), 100);
    rx.stop();
    let r = rx.join().unwrap();
    assert_eq!((r.packets, r.foreign, r.lost), (100, 10, 0), "{r:?}");
}

#[test]
fn recv_config_refuses_a_zero_jump_bound_and_a_wildcard_sender() {
    let b = || RecvConfig::builder("127.0.0.1:0".parse().unwrap());
    assert_eq!(
        b().max_seq_jump(0).build().unwrap_err().field,
        "max_seq_jump"
    );
    let any_port = Some("127.0.0.1:0".parse().unwrap());
    assert_eq!(b().from_addr(any_port).build().unwrap_err().field, "from");
}

fn device(buffer_packets: u64, drain_pps: f64) -> DeviceConfig {
    DeviceConfig::builder()
        .buffer_bytes(buffer_packets * LEN as u64)
        .drain_pps(drain_pps)
        .ack(AckFormat::Native)
        .ack_every(8)
        .ack_interval(Duration::from_millis(1))
        .build()
        .unwrap()
}

/// The test is the sender: the device's buffer holds the whole stream, so no flow control is
/// needed, and the ACKs coming back to the sender's socket are read until the last one.
#[test]
fn the_emulator_ignores_a_forged_jump_and_keeps_acking_the_real_stream() {
    const N: u64 = 2000;
    let emu = Emulator::spawn(recv_cfg(), device(N + 16, 200_000.0), FaultConfig::none()).unwrap();
    let to = emu.local_addr();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let forger = UdpSocket::bind("127.0.0.1:0").unwrap();
    send_range(&sender, to, 0..N / 2);
    wait_packets(|| emu.progress(), N / 2);
    send_forgeries(&sender, &forger, to);
    send_range(&sender, to, N / 2..N);
    // The ACKs keep coming until the device says it consumed the whole real stream.
    let mut parser = AckFormat::Native.parser(0);
    sender
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut acked = 0;
    let mut buf = [0u8; 2048];
    while acked < N {
        assert!(Instant::now() < deadline, "the ACKs stopped at {acked}");
        let Ok(n) = sender.recv(&mut buf) else {
            continue;
        };
        if let Ok(u) = parser.parse(&buf[..n], acked) {
            let p = u.acked_packets.unwrap_or(acked);
            assert!(p <= N, "the device acknowledged {p} of {N} sent");
            acked = acked.max(p);
        }
    }
    let r = emu.join().unwrap();
    assert_eq!(r.device.implausible, 1, "{:?}", r.device);
    assert_eq!(r.device.discarded, 0, "{:?}", r.device);
    assert_eq!(r.device.seq_errors, 0, "{:?}", r.device);
    assert_eq!(r.device.consumed, N, "{:?}", r.device);
    assert_eq!(r.recv.foreign, 1, "{:?}", r.recv);
    assert_eq!(r.recv.implausible, 1, "{:?}", r.recv);
    assert_eq!(r.recv.lost, 0, "{:?}", r.recv);
}

/// The engine with flow control through the emulator while a forger on another port of the
/// same host sprays data packets with huge sequence numbers at the device: the stream completes,
/// nothing real is discarded.
#[test]
fn the_engine_does_not_stall_when_forged_data_reaches_the_emulator() {
    const N: u64 = 3000;
    let emu = Emulator::spawn(recv_cfg(), device(64, 20_000.0), FaultConfig::none()).unwrap();
    let to = emu.local_addr();
    let cfg = SenderConfig::builder(to)
        .payload(LEN)
        .batch(16)
        .window_packets(64)
        .ack(AckFormat::Native)
        .stall_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let sender = SourceSender::spawn(cfg, PatternSource::new(LEN, Some(N), None)).unwrap();
    // The emulator follows the engine once its first packet arrived; then the forger starts.
    wait_packets(|| emu.progress(), 1);
    let stop = Arc::new(AtomicBool::new(false));
    let spray = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let forger = UdpSocket::bind("127.0.0.1:0").unwrap();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for seq in [FORGED_FAR, FORGED_HUGE] {
                    let _ = forger.send_to(&pattern_packet(1, seq, LEN), to);
                    n += 1;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            n
        })
    };
    let tx = sender.finish();
    stop.store(true, Ordering::Relaxed);
    let sprayed = spray.join().unwrap();
    let r = emu.join().unwrap();
    let tx = tx.unwrap_or_else(|e| panic!("the sender failed: {e}; device {:?}", r.device));
    assert_eq!(tx.packets, N);
    assert!(!tx.stalled);
    assert!(sprayed > 0 && r.recv.foreign > 0, "{:?}", r.recv);
    assert_eq!(r.device.discarded, 0, "{:?}", r.device);
    assert_eq!(r.device.consumed, N, "{:?}", r.device);
    assert_eq!(r.device.overflows, 0, "{:?}", r.device);
    assert_eq!(r.recv.lost, 0, "{:?}", r.recv);
}
