//! The push API's own endings, through the public API against real loopback sockets: `stop()`
//! with packets still queued, an engine that has died (a stalled window), `Drop` on a closed
//! window, an oversize `send`, and re-sends that a closed window must not hold back. Every
//! ending keeps the books: each packet the app committed is sent or counted failed.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ringshot::flow::AckFormat;
use ringshot::pacing::Rate;
use ringshot::{BackendChoice, EngineError, Sender, SenderConfig, SenderConfigBuilder, TxReport};

/// A socket that counts what arrives and never answers (a device that never acknowledges).
struct Sink {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    got: Arc<AtomicU64>,
    handle: JoinHandle<()>,
}

impl Sink {
    fn start() -> Sink {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        ringshot::os::set_recv_buffer(&sock, 16 << 20);
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let addr = sock.local_addr().unwrap();
        let (stop, got) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicU64::new(0)),
        );
        let (stopped, count) = (stop.clone(), got.clone());
        let handle = std::thread::spawn(move || {
            let mut buf = vec![0u8; 65_536];
            let mut idle_since = Instant::now();
            while !stopped.load(Ordering::Acquire)
                || idle_since.elapsed() < Duration::from_millis(200)
            {
                if sock.recv(&mut buf).is_ok() {
                    count.fetch_add(1, Ordering::Relaxed);
                    idle_since = Instant::now();
                }
            }
        });
        Sink {
            addr,
            stop,
            got,
            handle,
        }
    }

    /// Datagrams received, once the sender has been quiet for 200 ms.
    fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Release);
        self.handle.join().unwrap();
        self.got.load(Ordering::Relaxed)
    }
}

fn base(addr: SocketAddr) -> SenderConfigBuilder {
    SenderConfig::builder(addr)
        .payload(512)
        .slots(256)
        .batch(16)
}

fn assert_books(r: &TxReport, app_committed: u64, what: &str) {
    assert_eq!(
        r.committed, app_committed,
        "{what}: the report's committed is every commit the app made"
    );
    assert_eq!(
        r.packets + r.failed_packets,
        r.committed,
        "{what}: packets {} + failed {} != committed {}",
        r.packets,
        r.failed_packets,
        r.committed
    );
}

/// Commits one packet if a slot is free; `Err` once the engine has ended.
fn commit_one(tx: &mut Sender) -> Result<bool, EngineError> {
    match tx.reserve()? {
        Some(mut slot) => {
            slot.payload_mut()[..4].copy_from_slice(b"ring");
            slot.commit(4)?;
            Ok(true)
        }
        None => Ok(false),
    }
}

#[test]
fn stop_counts_packets_still_queued_as_failed() {
    let sink = Sink::start();
    // Paced far below what the app commits: most packets are still queued at stop().
    let cfg = base(sink.addr).rate(Rate::Pps(2_000.0)).build().unwrap();
    let mut tx = Sender::spawn(cfg).unwrap();
    let mut committed = 0u64;
    while committed < 200 {
        if commit_one(&mut tx).unwrap() {
            committed += 1;
        } else {
            std::thread::yield_now();
        }
    }
    std::thread::sleep(Duration::from_millis(20));
    tx.stop();
    let r = tx.finish().unwrap();
    let received = sink.finish();
    assert!(r.interrupted);
    assert_books(&r, committed, "stop");
    assert!(
        r.failed_packets > 0,
        "the pacer cannot have sent 200 packets in 20 ms: {} sent",
        r.packets
    );
    assert_eq!(
        received, r.packets,
        "what the report says left is what arrived"
    );
}

/// A window that never opens (nobody acknowledges), with a short stall timeout.
fn stalling(sink: &Sink, stall: Duration) -> SenderConfig {
    base(sink.addr)
        .ack(AckFormat::Native)
        .window_packets(16)
        .stall_timeout(stall)
        .build()
        .unwrap()
}

#[test]
fn a_dead_engine_is_an_error_from_reserve_and_send_not_a_full_slab() {
    let sink = Sink::start();
    let mut tx = Sender::spawn(stalling(&sink, Duration::from_millis(300))).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut committed = 0u64;
    let err = loop {
        assert!(
            Instant::now() < deadline,
            "reserve never reported the stalled engine ({committed} committed)"
        );
        match commit_one(&mut tx) {
            Ok(true) => committed += 1,
            Ok(false) => std::thread::yield_now(),
            Err(e) => break e,
        }
    };
    assert!(
        matches!(err, EngineError::Stalled { .. }),
        "expected the stall, got {err}"
    );
    assert!(tx.is_finished());
    // Asked again, the same answer: never `Ok(None)` as if the slab were only full.
    assert!(matches!(tx.reserve(), Err(EngineError::Stalled { .. })));
    assert!(matches!(tx.send(b"more"), Err(EngineError::Stalled { .. })));
    let err = tx.finish().unwrap_err();
    let EngineError::Stalled {
        sent, outstanding, ..
    } = &err
    else {
        panic!("finish: expected the stall, got {err}");
    };
    let r = err.report().expect("a stall carries its report");
    let received = sink.finish();
    assert_books(r, committed, "stall");
    assert_eq!(*sent, r.packets);
    assert_eq!(*outstanding, 16, "the whole window, unacknowledged");
    assert_eq!(received, r.packets);
}

#[test]
fn drop_on_a_closed_window_returns_promptly() {
    let sink = Sink::start();
    // The stall timeout is long: a Drop that waited for it would take a minute.
    let mut tx = Sender::spawn(stalling(&sink, Duration::from_secs(60))).unwrap();
    let mut committed = 0u64;
    while committed < 64 {
        if commit_one(&mut tx).unwrap() {
            committed += 1;
        }
    }
    // Let the engine fill the window and start waiting on it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while tx.progress() < 16 {
        assert!(Instant::now() < deadline, "the window's packets never left");
        std::thread::sleep(Duration::from_millis(1));
    }
    let t0 = Instant::now();
    drop(tx);
    let took = t0.elapsed();
    eprintln!("drop on a closed window took {took:?}");
    // Generous against this machine's scheduling gaps; the point is "not the stall timeout".
    assert!(took < Duration::from_millis(500), "drop took {took:?}");
    assert_eq!(sink.finish(), 16, "only the window's packets left");
}

#[test]
fn an_oversize_send_is_an_error_and_queues_nothing() {
    let sink = Sink::start();
    let mut tx = Sender::spawn(base(sink.addr).build().unwrap()).unwrap();
    let max = tx.max_app_payload();
    let err = tx.send(&vec![0u8; max + 1]).unwrap_err();
    assert!(
        matches!(err, EngineError::PacketTooLarge { len, max: m } if len == max + 1 && m == max),
        "{err:?}"
    );
    tx.send(&vec![7u8; max]).unwrap();
    let r = tx.finish().unwrap();
    assert_books(&r, 1, "oversize");
    assert_eq!(r.packets, 1);
    assert_eq!(sink.finish(), 1);
}

#[test]
fn refused_packets_are_not_held_behind_a_closed_window() {
    if !ringshot::capabilities().io_uring {
        eprintln!("skipped: io_uring is not available here");
        return;
    }
    // Nothing listens: the kernel refuses every other send (ECONNREFUSED after the ICMP error
    // for the one before). io_uring queues the refused packets for a re-send inside the
    // backend; they are inside the window already and must leave while the engine waits for
    // it, not stay held until the stall.
    let closed = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let cfg = SenderConfig::builder(addr)
        .backend(BackendChoice::Uring)
        .payload(1472)
        .gso(false)
        .batch(16)
        .ack(AckFormat::Native)
        .window_packets(64)
        .stall_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let mut tx = Sender::spawn(cfg).unwrap();
    let mut committed = 0u64;
    let err = loop {
        match commit_one(&mut tx) {
            Ok(true) => committed += 1,
            Ok(false) => std::thread::yield_now(),
            Err(e) => break e,
        }
        if committed == 1_000 {
            break tx.finish().unwrap_err();
        }
    };
    let r = err.report().expect("a stall carries its report").clone();
    let EngineError::Stalled {
        sent, outstanding, ..
    } = err
    else {
        panic!("expected the stall, got {err}");
    };
    let refused = r
        .errors
        .get(&ringshot::SendErrno::ConnectionRefused)
        .copied()
        .unwrap_or(0);
    assert!(
        refused > 0,
        "the kernel refused nothing: errors {:?}",
        r.errors
    );
    assert_eq!(outstanding, 64);
    assert_eq!(
        (sent, r.packets),
        (64, 64),
        "every packet of the window left, refused ones re-sent"
    );
    assert_eq!(r.failed_packets, r.committed - 64);
}

/// A destination nobody listens on (the port of a socket just closed).
fn closed_port() -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.local_addr().unwrap()
}

#[test]
fn refused_sends_are_counted_by_default_and_end_the_stream_when_asked() {
    use ringshot::{OnRefused, SendErrno};
    let send_all = |policy: OnRefused| {
        let cfg = base(closed_port())
            .gso(false)
            .on_refused(policy)
            .build()
            .unwrap();
        let mut tx = Sender::spawn(cfg).unwrap();
        let mut committed = 0u64;
        for _ in 0..2_000 {
            if tx.send(b"anyone?").is_err() {
                break;
            }
            committed += 1;
        }
        (committed, tx.finish())
    };
    // Count: every packet leaves (the refused ones again), the refusals are counted by kind.
    let (committed, outcome) = send_all(OnRefused::Count);
    let r = outcome.expect("counting refusals does not end the stream");
    assert_books(&r, committed, "count");
    assert_eq!(r.packets, 2_000);
    assert!(r.refused_sends() > 0);
    assert_eq!(
        r.errors.get(&SendErrno::ConnectionRefused).copied(),
        Some(r.refused_sends())
    );
    // Fail: the first refusal ends the stream, with the report and the books.
    let (committed, outcome) = send_all(OnRefused::Fail);
    let err = outcome.expect_err("a refusal ends the stream");
    let EngineError::Send { error, report } = &err else {
        panic!("expected a send error, got {err}");
    };
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
    assert!(report.refused_sends() > 0);
    assert_books(report, committed, "fail");
    assert!(report.packets < 2_000);
}
