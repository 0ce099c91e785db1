//! A tokio task producing into the engine: it waits for free slots with `reserve_async`, woken
//! by the engine when slots come back (no busy polling), and ends with `finish_async`. The
//! engine is paced far below what the task could produce, so the task waits for nearly every
//! slot; it counts how often its futures were polled per slot.
//!
//! Run: `cargo run --example async_tokio`. Prints `polls per slot N` and exits 0 only when every
//! packet arrived.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use ringshot::prelude::*;

/// Counts the polls of the future it wraps.
struct Counted<'c, F> {
    inner: F,
    polls: &'c Cell<u64>,
}

impl<F: Future + Unpin> Future for Counted<'_, F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.polls.set(self.polls.get() + 1);
        Pin::new(&mut self.inner).poll(cx)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const COUNT: u64 = 20_000;
    let receiver = std::net::UdpSocket::bind("127.0.0.1:0")?;
    ringshot::os::set_recv_buffer(&receiver, 16 << 20);
    receiver.set_read_timeout(Some(Duration::from_millis(300)))?;
    let cfg = SenderConfig::builder(receiver.local_addr()?)
        .payload(512)
        .slots(64)
        .rate(Rate::Pps(50_000.0))
        .build()?;
    let mut tx = Sender::spawn(cfg)?;

    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let polls = Cell::new(0u64);
    let report = runtime.block_on(async {
        for i in 0..COUNT {
            let slot = Counted {
                inner: tx.reserve_async(),
                polls: &polls,
            };
            let mut slot = slot.await?;
            slot.payload_mut()[..8].copy_from_slice(&i.to_be_bytes());
            slot.commit(8)?;
        }
        tx.finish_async().await
    })?;

    let mut buf = [0u8; 2048];
    let mut received = 0u64;
    while receiver.recv(&mut buf).is_ok() {
        received += 1;
    }
    println!("polls per slot {:.2}", polls.get() as f64 / COUNT as f64);
    println!(
        "sent {} of {} packets, {} received",
        report.packets, report.committed, received
    );
    if received != COUNT || report.failed_packets != 0 {
        eprintln!("async_tokio: packets were lost");
        std::process::exit(1);
    }
    Ok(())
}
