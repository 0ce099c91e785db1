//! The push API from async code: a task that waits for slots with `reserve_async` is woken by
//! the engine when slots come back (no busy polling), `finish_async` waits for the end without
//! blocking the runtime's thread, and a commit beyond a slot's room is refused.

use std::cell::Cell;
use std::future::Future;
use std::net::UdpSocket;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use ringshot::pacing::Rate;
use ringshot::{EngineError, Sender, SenderConfig};

/// Counts how often the wrapped future is polled.
struct CountPolls<'c, F> {
    inner: F,
    polls: &'c Cell<u64>,
}

impl<F: Future + Unpin> Future for CountPolls<'_, F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.polls.set(self.polls.get() + 1);
        Pin::new(&mut self.inner).poll(cx)
    }
}

fn sink() -> (UdpSocket, std::net::SocketAddr) {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    ringshot::os::set_recv_buffer(&s, 16 << 20);
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let a = s.local_addr().unwrap();
    (s, a)
}

fn received(s: &UdpSocket) -> u64 {
    let mut buf = [0u8; 2048];
    let mut n = 0;
    while s.recv(&mut buf).is_ok() {
        n += 1;
    }
    n
}

#[test]
fn a_task_waiting_on_a_slow_engine_is_woken_not_polled_in_a_loop() {
    const N: u64 = 3_000;
    let (rx, addr) = sink();
    // 20 kpps into 32 slots: the producer is far faster, so it waits for nearly every slot.
    let cfg = SenderConfig::builder(addr)
        .payload(256)
        .slots(32)
        .batch(8)
        .rate(Rate::Pps(20_000.0))
        .build()
        .unwrap();
    let mut tx = Sender::spawn(cfg).unwrap();
    let polls = Cell::new(0u64);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let report = rt.block_on(async {
        for i in 0..N {
            let fut = CountPolls {
                inner: tx.reserve_async(),
                polls: &polls,
            };
            let mut slot = fut.await.expect("engine running");
            slot.payload_mut()[..8].copy_from_slice(&i.to_be_bytes());
            slot.commit(8).unwrap();
        }
        tx.finish_async().await
    });
    let r = report.unwrap();
    let per_slot = polls.get() as f64 / N as f64;
    eprintln!("polls per slot {per_slot:.2}");
    assert!(per_slot <= 2.0, "{} polls for {N} slots", polls.get());
    assert_eq!((r.committed, r.packets, r.failed_packets), (N, N, 0));
    assert_eq!(received(&rx), N);
}

#[test]
fn a_waiting_task_learns_that_the_engine_died() {
    let (_rx, addr) = sink();
    // A window nobody opens: the engine stalls after 200 ms with every slot committed.
    let cfg = SenderConfig::builder(addr)
        .payload(256)
        .slots(16)
        .batch(8)
        .ack(ringshot::flow::AckFormat::Native)
        .window_packets(8)
        .stall_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let mut tx = Sender::spawn(cfg).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let (committed, err) = rt.block_on(async {
        let mut committed = 0u64;
        let err = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                match tx.reserve_async().await {
                    Ok(slot) => {
                        slot.commit(0).unwrap();
                        committed += 1;
                    }
                    Err(e) => break e,
                }
            }
        })
        .await
        .expect("the waiting task was never told the engine died");
        (committed, err)
    });
    assert!(matches!(err, EngineError::Stalled { .. }), "{err}");
    assert!(tx.is_finished());
    let err = tx.finish().unwrap_err();
    let r = err.report().unwrap();
    assert_eq!(r.committed, committed);
    assert_eq!(r.packets + r.failed_packets, r.committed);
}

#[test]
fn a_commit_beyond_the_room_is_refused_and_the_slot_comes_back() {
    let (rx, addr) = sink();
    let cfg = SenderConfig::builder(addr)
        .payload(256)
        .slots(2)
        .batch(1)
        .build()
        .unwrap();
    let mut tx = Sender::spawn(cfg).unwrap();
    let room = tx.max_app_payload();
    for _ in 0..10 {
        let slot = loop {
            if let Some(s) = tx.reserve().unwrap() {
                break s;
            }
        };
        let err = slot.commit(room + 1).unwrap_err();
        assert!(
            matches!(err, EngineError::PacketTooLarge { len, max } if len == room + 1 && max == room)
        );
    }
    // Ten refusals with two slots: each refused slot came back.
    tx.reserve()
        .unwrap()
        .expect("a free slot")
        .commit(room)
        .unwrap();
    let r = tx.finish().unwrap();
    assert_eq!((r.committed, r.packets), (1, 1));
    assert_eq!(received(&rx), 1);
}
