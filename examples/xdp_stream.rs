//! A stream through the AF_XDP backend: 100,000 datagrams of 1,000 bytes to the address given,
//! sent past the kernel's UDP stack (the engine writes Ethernet, IP and UDP headers in front of
//! each payload, in the slab the socket shares with the kernel). The destination must be reached
//! through a network device (not this host); the next hop's MAC comes from the neighbour table.
//! Needs CAP_NET_RAW (root): without it, or on a kernel without AF_XDP, it prints why and exits 2.
//!
//! Run: `sudo cargo run --release --example xdp_stream -- 192.0.2.10:5000 [queue]`, with
//! `ringshot recv --bind :5000` on the far host to count what arrives.

use ringshot::prelude::*;
use ringshot::XdpMode;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let to = args
        .next()
        .ok_or("usage: xdp_stream HOST:PORT [QUEUE]")?
        .parse()?;
    let queue = args.next().map(|q| q.parse()).transpose()?.unwrap_or(0);
    let cfg = SenderConfig::builder(to)
        .backend(BackendChoice::Xdp)
        .xdp_mode(XdpMode::Auto) // zero copy where the driver has it, copy mode otherwise
        .xdp_queue(queue)
        .payload(1000)
        .build()?;
    let mut tx = match Sender::spawn(cfg) {
        Ok(tx) => tx,
        Err(EngineError::BackendUnavailable { reason, .. }) => {
            eprintln!("xdp_stream: AF_XDP cannot send here: {reason}");
            std::process::exit(2);
        }
        Err(e) => return Err(e.into()),
    };
    let room = tx.max_app_payload();
    for i in 0..100_000u64 {
        let mut slot = loop {
            match tx.reserve()? {
                Some(slot) => break slot,
                None => std::thread::yield_now(), // every slot in flight
            }
        };
        slot.payload_mut()[..8].copy_from_slice(&i.to_be_bytes());
        slot.commit(room)?;
    }
    let report = tx.finish()?;
    for n in &report.notices {
        println!("note: {n}"); // the mode used, the device, the queue and the next hop
    }
    println!(
        "{} packets ({} failed) at {:.0} pps, CPU {:.0} % of a core",
        report.packets,
        report.failed_packets,
        report.pps,
        report.cpu_ns as f64 / (report.seconds * 1e7)
    );
    Ok(())
}
