//! A paced stream of the app's own payload: 1472-byte datagrams at 68,870 packets a second (the
//! SDR workload) for one second, the engine pinned to a core, into ringshot's own receiver on
//! loopback, which checks every sequence number.
//!
//! Run: `cargo run --release --example paced_stream`. Exits 0 only when every packet arrived.

use std::time::Duration;

use ringshot::prelude::*;
use ringshot::recv::{Receiver, RecvConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const RATE: f64 = 68_870.0;
    const COUNT: u64 = 68_870;

    // The receiver: any free port on loopback; it ends 1 s after the last packet.
    let rx_cfg = RecvConfig::builder("127.0.0.1:0".parse()?)
        .rcvbuf(32 << 20)
        .idle_exit(Duration::from_secs(1))
        .build()?;
    let receiver = Receiver::spawn(rx_cfg)?;

    let mut builder = SenderConfig::builder(receiver.local_addr())
        .payload(1472)
        .rate(Rate::Pps(RATE));
    // Pin the engine thread to the last core the process may use (the receiver runs anywhere).
    if let Some(&core) = available_cores().last() {
        builder = builder.tx_core(core);
    }
    let mut tx = Sender::spawn(builder.build()?)?;

    // The app's payload: here a counter and a ramp, written straight into each slot.
    let room = tx.max_app_payload();
    for i in 0..COUNT {
        let buf = loop {
            match tx.reserve()? {
                Some(slot) => break slot,
                None => std::thread::sleep(Duration::from_micros(50)), // all slots in flight
            }
        };
        let mut slot = buf;
        let payload = slot.payload_mut();
        payload[..8].copy_from_slice(&i.to_be_bytes());
        for (k, b) in payload[8..room].iter_mut().enumerate() {
            *b = (k as u64).wrapping_add(i) as u8;
        }
        slot.commit(room)?;
    }
    let report = tx.finish()?;
    let got = receiver.join()?;

    println!(
        "sent {} of {} packets at {:.0} pps (target {RATE}), rate error {:+.3} %",
        report.packets,
        report.committed,
        report.pps,
        report.rate_error_pct.unwrap_or(0.0)
    );
    println!(
        "submit latency p50 {} ns, p99.99 {} ns, max {} ns; CPU {:.0} % of a core",
        report.submit_ns.p50,
        report.submit_ns.p9999,
        report.submit_ns.max,
        report.cpu_ns as f64 / (report.seconds * 1e7)
    );
    println!(
        "received {} packets, {} lost, {} reordered, {} duplicates",
        got.packets, got.lost, got.reordered, got.duplicates
    );
    let whole = report.failed_packets == 0
        && got.packets == COUNT
        && got.lost == 0
        && got.duplicates == 0
        && got.reordered == 0;
    if !whole {
        eprintln!("paced_stream: packets were lost");
        std::process::exit(1);
    }
    Ok(())
}
