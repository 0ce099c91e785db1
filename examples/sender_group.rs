//! N engines as one sender: a `SenderGroup` of two engines, each pinned to a core of its own
//! with its own socket (source port), slab and sequence space, fed by a producer thread each,
//! into a ringshot receiver each on loopback. The rate is split between the engines; the report
//! has a row per engine and the total.
//!
//! Run: `cargo run --release --example sender_group`. Exits 0 only when each receiver got its
//! engine's every packet exactly once, in order, and the books balance.

use std::time::Duration;

use ringshot::prelude::*;
use ringshot::recv::{Receiver, RecvConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const ENGINES: usize = 2;
    const PER_ENGINE: u32 = 100_000;
    let receivers = (0..ENGINES)
        .map(|_| {
            // Room for an engine's whole stream (100,000 packets of 1 KiB, as the kernel counts
            // them), so a receiver slower than its sender (as under Wine) still loses nothing.
            let cfg = RecvConfig::builder("127.0.0.1:0".parse()?)
                .rcvbuf(256 << 20)
                .idle_exit(Duration::from_millis(500))
                .build()?;
            Ok(Receiver::spawn(cfg)?)
        })
        .collect::<Result<Vec<_>, Box<dyn std::error::Error>>>()?;

    let cfg = SenderConfig::builder(receivers[0].local_addr())
        .payload(1024)
        .rate(Rate::Pps(400_000.0)) // 200,000 packets/s per engine
        .build()?;
    let mut group = SenderGroup::builder(cfg)
        .engines(ENGINES)
        // This machine may have fewer cores than engines: share them rather than refuse.
        .allow_shared_cores()
        // A receiver per engine: a ringshot receiver follows one sender.
        .dests(receivers.iter().map(|r| r.local_addr()).collect())
        .spawn()?;

    // One producer per engine, each writing into its engine's slots.
    std::thread::scope(|s| {
        for tx in group.engines_mut() {
            s.spawn(move || -> Result<(), EngineError> {
                for i in 0..PER_ENGINE {
                    tx.send(&i.to_be_bytes())?;
                }
                Ok(())
            });
        }
    });
    let report = group.finish()?;

    let mut ok = report.books_balance();
    for (row, rx) in report.engines.iter().zip(receivers) {
        let r = row.report.as_ref().ok_or("an engine without a report")?;
        let got = rx.join()?;
        println!(
            "engine {} (core {:?}, stream {}): sent {} at {:.0} pps, {} failed; receiver got {}, \
             lost {}, duplicates {}, reordered {}",
            row.index,
            row.core,
            row.stream_id,
            r.packets,
            r.pps,
            r.failed_packets,
            got.packets,
            got.lost,
            got.duplicates,
            got.reordered
        );
        ok &= r.packets == u64::from(PER_ENGINE)
            && got.packets == r.packets
            && got.lost + got.duplicates + got.reordered == 0;
    }
    let t = &report.total;
    println!(
        "total: {} engines, committed {} = sent {} + failed {}, {:.0} pps",
        t.engines, t.committed, t.packets, t.failed_packets, t.pps
    );
    if !ok {
        eprintln!("sender_group: some engine's packets did not all arrive exactly once");
        std::process::exit(1);
    }
    Ok(())
}
