//! Flow control against a device: ringshot's in-process device emulator (a 1 MiB buffer played out
//! at 68,870 packets a second, acknowledging what it consumed), and a sender that never has more
//! than the buffer's worth outstanding: a window of packets, opened by the device's native ACKs
//! that a second pinned thread (the ACK core) reads.
//!
//! Run: `cargo run --release --example device_flow`. Exits 0 only when the device consumed every
//! packet with no overflow and the sender lost none.

use std::time::Duration;

use ringshot::device::{DeviceConfig, Emulator, FaultConfig};
use ringshot::prelude::*;
use ringshot::recv::RecvConfig;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const PAYLOAD: usize = 1472;
    const BUFFER: u64 = 1 << 20;
    const COUNT: u64 = 50_000;
    let window = BUFFER / PAYLOAD as u64; // 712 packets of 1472 B fit the device's buffer

    let device = DeviceConfig::builder()
        .buffer_bytes(BUFFER)
        .drain(Rate::Pps(68_870.0))
        .ack(AckFormat::Native)
        .build()?;
    let rx_cfg = RecvConfig::builder("127.0.0.1:0".parse()?)
        .rcvbuf(16 << 20)
        .idle_exit(Duration::from_secs(1))
        .build()?;
    let emulator = Emulator::spawn(rx_cfg, device, FaultConfig::none())?;

    // Unpaced: the window alone keeps the device's buffer from overflowing.
    let cfg = SenderConfig::builder(emulator.local_addr())
        .payload(PAYLOAD)
        .ack(AckFormat::Native)
        .window_packets(window)
        .build()?;
    let mut tx = Sender::spawn(cfg)?;
    let data = vec![0x5a; tx.max_app_payload()];
    for _ in 0..COUNT {
        tx.send(&data)?; // waits for a slot; the engine waits for the window
    }
    let report = tx.finish()?;
    let run = emulator.join()?;

    let acks = report.acks.as_ref().map_or(0, |a| a.accepted);
    println!(
        "sent {} packets; {} ACKs accepted, {} window waits, ACK visibility p99 {} ns",
        report.packets,
        acks,
        report.window_waits,
        report.ack_visibility_ns.map_or(0, |p| p.p99)
    );
    println!(
        "device consumed {} packets, {} overflows, {} underflows, max fill {} of {BUFFER} bytes",
        run.device.consumed, run.device.overflows, run.device.underflows, run.device.max_fill_bytes
    );
    let ok = report.packets == COUNT
        && report.failed_packets == 0
        && run.device.consumed == COUNT
        && run.device.overflows == 0
        && run.recv.lost == 0;
    if !ok {
        eprintln!("device_flow: the device did not get every packet exactly once");
        std::process::exit(1);
    }
    Ok(())
}
