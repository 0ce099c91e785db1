//! `ringshot recv`.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::output::{fmt_ns, fmt_rate, print_kv, Progress};
use super::usage;
use ringshot::recv::{Receiver, RecvBackend, RecvConfig, RecvReport};

#[derive(Debug, Args)]
pub struct RecvArgs {
    /// Address to receive on, e.g. 127.0.0.1:5000.
    #[arg(long, value_name = "ADDR")]
    bind: SocketAddr,
    /// Receive backend.
    #[arg(long, default_value = "auto", value_name = "auto|uring|mmsg")]
    backend: RecvBackend,
    /// Stop after this many packets.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Stop after this long without a packet (once the first has arrived).
    #[arg(long, value_name = "MS")]
    idle_exit_ms: Option<u64>,
    /// Pin the receive thread to this core.
    #[arg(long, value_name = "N")]
    rx_core: Option<usize>,
    /// SO_RCVBUF in bytes (SO_RCVBUFFORCE when permitted).
    #[arg(long, default_value_t = ringshot::recv::DEFAULT_RCVBUF, value_name = "BYTES")]
    rcvbuf: usize,
    /// Turn UDP GRO off.
    #[arg(long = "no-gro")]
    no_gro: bool,
    /// Print one JSON object at the end instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(a: RecvArgs) -> anyhow::Result<()> {
    let mut b = RecvConfig::builder(a.bind)
        .backend(a.backend)
        .rcvbuf(a.rcvbuf)
        .gro(!a.no_gro);
    if let Some(n) = a.count {
        b = b.count(n);
    }
    if let Some(ms) = a.idle_exit_ms {
        b = b.idle_exit_ms(ms);
    }
    if let Some(c) = a.rx_core {
        b = b.rx_core(c);
    }
    let cfg = b.build().map_err(usage)?;
    let rx = Receiver::spawn(cfg).context("starting the receiver")?;
    if !a.json {
        eprintln!(
            "ringshot recv: listening on {} (backend {}, GRO {})",
            rx.local_addr(),
            rx.backend(),
            if rx.gro() { "on" } else { "off" }
        );
    }
    let mut progress = Progress::new("recv");
    while !rx.is_finished() {
        std::thread::sleep(Duration::from_millis(50));
        progress.update(rx.progress().0);
    }
    progress.finish();
    let report = rx.join().context("receiving")?;
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_recv_table(&report);
    }
    Ok(())
}

fn print_recv_table(r: &RecvReport) {
    print_kv(
        &format!(
            "ringshot recv: backend {}, GRO {}",
            r.backend,
            if r.gro { "on" } else { "off" }
        ),
        &[
            ("packets", format!("{} ({} bytes)", r.packets, r.bytes)),
            ("time", format!("{:.3} s (first to last packet)", r.seconds)),
            ("rate", fmt_rate(r.pps)),
            (
                "sequence",
                format!(
                    "{} lost, {} reordered, {} duplicates, {} late",
                    r.lost, r.reordered, r.duplicates, r.late
                ),
            ),
            ("kernel drops", r.kernel_drops.to_string()),
            ("corrupt", r.corrupt.to_string()),
            ("malformed", format!("{:?}", r.malformed)),
            (
                "gaps",
                format!(
                    "p50 {} p99 {} max {}",
                    fmt_ns(r.gaps_ns.p50),
                    fmt_ns(r.gaps_ns.p99),
                    fmt_ns(r.gaps_ns.max)
                ),
            ),
        ],
    );
}
