//! `SenderGroup`: N engines as one sender, over real sockets on loopback.
//!
//! - exact delivery per stream: two engines into one socket, told apart by source port, every
//!   packet exactly once and in order per stream; and two engines into two ringshot receivers;
//! - flow control against the device emulator, both ways: a device per engine (each engine its
//!   own window and ACK stream) and one window shared by the engines;
//! - a fault: one engine's destination refuses; its error comes back with its index, the
//!   others' books still balance, `finish` returns;
//! - dropping a group whose engines wait on a closed window returns promptly;
//! - bad group settings and bad CLI values.

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ringshot::device::{DeviceConfig, Emulator, FaultConfig};
use ringshot::engine::{GroupError, PatternSource};
use ringshot::flow::AckFormat;
use ringshot::recv::{Receiver, RecvConfig};
use ringshot::wire::header::Packet;
use ringshot::{OnRefused, Rate, SenderConfig, SenderGroup};

#[path = "common/binary.rs"]
mod binary;

/// Runs `f` on a thread and fails the test if it takes longer than `limit` (a hang guard).
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("did not return within {limit:?}"))
}

/// Reads datagrams until `expect` have arrived (or the socket is quiet for a second) and
/// returns, per source address, the (stream id, sequence, first four app bytes) of each.
fn collect(sock: UdpSocket, expect: usize) -> BTreeMap<SocketAddr, Vec<(u32, u64, u32)>> {
    sock.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut by_src: BTreeMap<SocketAddr, Vec<(u32, u64, u32)>> = BTreeMap::new();
    let mut buf = [0u8; 2048];
    let mut got = 0;
    while got < expect {
        let Ok((n, src)) = sock.recv_from(&mut buf) else {
            break;
        };
        let p = Packet::new_checked(&buf[..n]).expect("a ringshot packet");
        let app = u32::from_be_bytes(p.payload()[..4].try_into().unwrap());
        by_src
            .entry(src)
            .or_default()
            .push((p.stream_id(), p.seq(), app));
        got += 1;
    }
    by_src
}

#[test]
fn two_engines_into_one_socket_arrive_exactly_once_in_order_per_stream() {
    const N: u64 = 5_000;
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    ringshot::os::set_recv_buffer(&sock, 16 << 20);
    let dest = sock.local_addr().unwrap();
    let reader = std::thread::spawn(move || collect(sock, 2 * N as usize));
    // Paced so the one reading thread keeps up on a 2-core machine.
    let cfg = SenderConfig::builder(dest)
        .payload(64)
        .stream_id(7)
        .rate(Rate::Pps(100_000.0))
        .build()
        .unwrap();
    let mut group = SenderGroup::builder(cfg)
        .engines(2)
        .allow_shared_cores()
        .spawn()
        .unwrap();
    assert_eq!(group.len(), 2);
    std::thread::scope(|s| {
        for tx in group.engines_mut() {
            s.spawn(move || {
                for i in 0..N as u32 {
                    tx.send(&i.to_be_bytes()).unwrap();
                }
            });
        }
    });
    let report = group.finish().unwrap();
    let got = reader.join().unwrap();

    assert!(report.books_balance());
    assert_eq!(report.engines.len(), 2);
    assert_eq!(report.total.committed, 2 * N);
    assert_eq!(report.total.packets, 2 * N);
    for row in &report.engines {
        let r = row.report.as_ref().unwrap();
        assert_eq!((r.committed, r.packets, r.failed_packets), (N, N, 0));
        assert_eq!(row.stream_id, 7 + row.index as u32);
        assert!(row.error.is_none());
        // The rate is split: each engine paced at half of it.
        assert_eq!(r.rate_target_pps, Some(50_000.0));
    }
    // Two sockets: two source ports, one stream each.
    assert_eq!(
        got.len(),
        2,
        "sources: {:?}",
        got.keys().collect::<Vec<_>>()
    );
    // The source ports the report names are the ones that arrived.
    let named: std::collections::BTreeSet<SocketAddr> =
        report.engines.iter().map(|e| e.source.unwrap()).collect();
    assert_eq!(named, got.keys().copied().collect());
    let mut ids: Vec<u32> = Vec::new();
    for (src, pkts) in &got {
        assert_eq!(pkts.len() as u64, N, "{src}: every packet exactly once");
        let id = pkts[0].0;
        ids.push(id);
        for (k, &(sid, seq, app)) in pkts.iter().enumerate() {
            assert_eq!(sid, id, "{src}: one stream id per source");
            assert_eq!(seq, k as u64, "{src}: in order, none missing or repeated");
            assert_eq!(app, k as u32, "{src}: the producer's packet {k}");
        }
    }
    ids.sort();
    assert_eq!(ids, vec![7, 8]);
}

fn receiver() -> Receiver {
    let cfg = RecvConfig::builder("127.0.0.1:0".parse().unwrap())
        .rcvbuf(16 << 20)
        .idle_exit(Duration::from_millis(500))
        .build()
        .unwrap();
    Receiver::spawn(cfg).unwrap()
}

#[test]
fn pattern_sources_into_a_receiver_each_are_checked_whole() {
    const N: u64 = 20_000;
    let rx = [receiver(), receiver()];
    let dests = rx.iter().map(|r| r.local_addr()).collect();
    let cfg = SenderConfig::builder(rx[0].local_addr())
        .payload(256)
        .rate(Rate::Pps(200_000.0))
        .build()
        .unwrap();
    let group = SenderGroup::builder(cfg)
        .engines(2)
        .allow_shared_cores()
        .dests(dests)
        .spawn_sources(|_, _| PatternSource::new(256, Some(N), None))
        .unwrap();
    let report = group.finish().unwrap();
    assert!(report.books_balance());
    assert_eq!(report.total.packets, 2 * N);
    for r in rx {
        let got = r.join().unwrap();
        assert_eq!(got.packets, N);
        assert_eq!(
            (
                got.lost,
                got.duplicates,
                got.reordered,
                got.corrupt,
                got.foreign
            ),
            (0, 0, 0, 0, 0)
        );
    }
}

const PAYLOAD: usize = 1472;
const WINDOW: u64 = 64;

fn device(buffer_packets: u64) -> Emulator {
    let dev = DeviceConfig::builder()
        .buffer_bytes(buffer_packets * PAYLOAD as u64)
        .drain_pps(100_000.0)
        .ack(AckFormat::Native)
        .ack_every(8)
        .ack_interval(Duration::from_millis(1))
        .build()
        .unwrap();
    let recv = RecvConfig::builder("127.0.0.1:0".parse().unwrap())
        .rcvbuf(8 << 20)
        .idle_exit(Duration::from_millis(300))
        .build()
        .unwrap();
    Emulator::spawn(recv, dev, FaultConfig::none()).unwrap()
}

/// Two engines, each against a device of its own whose buffer holds `buffer_packets`; returns
/// the group report and each device's report.
fn against_devices(
    buffer_packets: u64,
    shape: impl FnOnce(ringshot::engine::GroupBuilder) -> ringshot::engine::GroupBuilder,
    window: Option<u64>,
    n: u64,
) -> (ringshot::GroupReport, Vec<ringshot::device::EmulatorReport>) {
    let devs = [device(buffer_packets), device(buffer_packets)];
    let dests = devs.iter().map(|d| d.local_addr()).collect();
    let mut b = SenderConfig::builder(devs[0].local_addr())
        .payload(PAYLOAD)
        .batch(16)
        .ack(AckFormat::Native)
        .stall_timeout(Duration::from_secs(3));
    if let Some(w) = window {
        b = b.window_packets(w);
    }
    let group = shape(
        SenderGroup::builder(b.build().unwrap())
            .engines(2)
            .allow_shared_cores()
            .dests(dests),
    )
    .spawn_sources(|_, _| PatternSource::new(PAYLOAD, Some(n), None))
    .unwrap();
    let report = group.finish().unwrap();
    let runs = devs.into_iter().map(|d| d.join().unwrap()).collect();
    (report, runs)
}

fn assert_devices_got_everything(runs: &[ringshot::device::EmulatorReport], n: u64) {
    for (i, r) in runs.iter().enumerate() {
        assert_eq!(r.device.overflows, 0, "device {i} overflowed");
        assert_eq!(r.device.consumed, n, "device {i}");
        assert_eq!((r.recv.lost, r.recv.packets), (0, n), "device {i}");
        assert_eq!(r.device.fill_bytes, 0, "device {i} drained");
    }
}

#[test]
fn a_device_per_engine_each_with_its_own_window() {
    const N: u64 = 4_000;
    let (report, runs) = against_devices(WINDOW, |b| b, Some(WINDOW), N);
    assert!(report.books_balance());
    assert!(report.shared_window.is_none());
    for row in &report.engines {
        let r = row.report.as_ref().unwrap();
        assert_eq!((r.packets, r.failed_packets), (N, 0));
        // Each engine heard its own device.
        assert!(
            r.acks.as_ref().unwrap().accepted > 0,
            "engine {}",
            row.index
        );
    }
    // Unpaced against a 100 k/s drain: the windows were what held the engines back.
    assert!(report.total.window_waits > 0);
    assert_devices_got_everything(&runs, N);
}

#[test]
fn one_window_shared_by_the_engines_bounds_the_sum() {
    const N: u64 = 4_000;
    const SHARED: u64 = WINDOW / 2;
    // Each engine's own window (and each device) would take 64 packets; the engines share 32.
    // Even an engine running alone fills what the shared window gives it, so it binds
    // whatever the scheduling.
    let (report, runs) = against_devices(WINDOW, |b| b.shared_window(SHARED), Some(WINDOW), N);
    assert!(report.books_balance());
    let w = report.shared_window.expect("a shared window report");
    assert_eq!(w.window_packets, SHARED);
    assert!(w.peak_outstanding <= SHARED, "{w:?}");
    assert!(w.peak_outstanding > 0, "{w:?}");
    // Claims found it full: the shared window, not the engines' own, held them back.
    assert!(w.refused_claims > 0, "{w:?}");
    for (i, r) in runs.iter().enumerate() {
        // What a device holds was sent and not yet acknowledged: within the shared window.
        assert!(
            r.device.max_fill_bytes <= SHARED * PAYLOAD as u64,
            "device {i}: {} bytes",
            r.device.max_fill_bytes
        );
    }
    for row in &report.engines {
        let r = row.report.as_ref().unwrap();
        assert_eq!((r.packets, r.failed_packets), (N, 0));
    }
    assert_devices_got_everything(&runs, N);
}

#[test]
fn a_shared_window_smaller_than_one_device_still_delivers_everything() {
    const N: u64 = 2_000;
    // A window of 8 across two engines: each engine often holds none of it.
    let (report, runs) = against_devices(WINDOW, |b| b.shared_window(8), None, N);
    assert!(report.books_balance());
    let w = report.shared_window.unwrap();
    assert!(w.peak_outstanding <= 8, "{w:?}");
    for r in &runs {
        assert!(r.device.max_fill_bytes <= 8 * PAYLOAD as u64);
    }
    assert_devices_got_everything(&runs, N);
}

#[test]
fn one_engine_refused_reports_its_index_and_the_other_balances() {
    const N: u64 = 20_000;
    let good = receiver();
    // Nothing listens at this port: the first datagram draws a port unreachable.
    let dead = {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap()
    };
    let cfg = SenderConfig::builder(good.local_addr())
        .payload(256)
        .rate(Rate::Pps(100_000.0))
        .on_refused(OnRefused::Fail)
        .build()
        .unwrap();
    let dests = vec![good.local_addr(), dead];
    let err = within(Duration::from_secs(30), move || {
        SenderGroup::builder(cfg)
            .engines(2)
            .allow_shared_cores()
            .dests(dests)
            .spawn_sources(|_, _| PatternSource::new(256, Some(N), None))
            .unwrap()
            .finish()
    })
    .expect_err("engine 1's destination refused");
    let GroupError::Engines { errors, report } = &err else {
        panic!("{err}");
    };
    assert_eq!(errors.len(), 1, "{err}");
    assert_eq!(errors[0].0, 1);
    assert!(err.to_string().starts_with("engine 1: "), "{err}");
    assert!(report.books_balance());
    assert_eq!(report.total.failed_engines, 1);
    let ok = report.engines[0].report.as_ref().unwrap();
    assert_eq!((ok.packets, ok.failed_packets), (N, 0));
    assert!(report.engines[0].error.is_none());
    let bad = report.engines[1].report.as_ref().unwrap();
    assert!(bad.refused_sends() > 0);
    assert!(bad.packets < N);
    assert!(report.engines[1].error.is_some());
    assert_eq!(good.join().unwrap().packets, N);
}

#[test]
fn dropping_a_group_waiting_on_a_closed_window_is_prompt() {
    // A "device" that never acknowledges: both engines' window closes after 4 packets.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let cfg = SenderConfig::builder(silent.local_addr().unwrap())
        .payload(64)
        .ack(AckFormat::Native)
        .stall_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut group = SenderGroup::builder(cfg)
        .engines(2)
        .allow_shared_cores()
        .shared_window(4)
        .spawn()
        .unwrap();
    for tx in group.engines_mut() {
        for i in 0..16u32 {
            tx.send(&i.to_be_bytes()).unwrap();
        }
    }
    let t = Instant::now();
    within(Duration::from_secs(20), move || drop(group));
    // Far below the 60 s stall timeout the engines would otherwise wait for.
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
}

#[test]
fn bad_group_settings_are_refused_before_anything_starts() {
    let cfg = SenderConfig::builder("127.0.0.1:9".parse().unwrap())
        .build()
        .unwrap();
    let config = |r: Result<_, GroupError>| match r {
        Err(GroupError::Config(m)) => m,
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("accepted"),
    };
    assert!(config(SenderGroup::spawn(cfg.clone(), 0)).contains("at least one engine"));
    let many = ringshot::available_cores().len() + 1;
    assert!(config(SenderGroup::spawn(cfg.clone(), many)).contains("cores available"));
    let m = config(
        SenderGroup::builder(cfg.clone())
            .engines(3)
            .tx_cores(&[0, 0])
            .spawn(),
    );
    assert!(m.contains("3 engines but 2 cores"), "{m}");
    let m = config(SenderGroup::builder(cfg.clone()).shared_window(8).spawn());
    assert!(m.contains("needs flow control"), "{m}");
    let slow = SenderConfig::builder("127.0.0.1:9".parse().unwrap())
        .rate(Rate::Pps(1.0))
        .build()
        .unwrap();
    let m = config(SenderGroup::builder(slow).tx_cores(&[0, 0]).spawn());
    assert!(m.contains("below"), "{m}");
}

// ---------------------------------------------------------------------------------------------
// The CLI: `ringshot send --engines N` / `--tx-cores LIST`.

use binary::RunExt;

#[test]
fn cli_bad_engine_values_exit_2_with_one_line() {
    for (args, says) in [
        (&["--engines", "0"][..], "--engines"),
        (&["--tx-cores", "x"][..], "--tx-cores"),
        (&["--tx-cores", "1-0"][..], "--tx-cores"),
        (&["--tx-cores", "0,100000"][..], "--tx-cores"),
        (&["--engines", "3", "--tx-cores", "0,1"][..], "--engines"),
        (&["--engines", "100000"][..], "--engines"),
    ] {
        let out = binary::ringshot()
            .args(["send", "--to", "127.0.0.1:9", "--count", "10"])
            .args(args)
            .run();
        let err = binary::text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    // More engines than cores, without naming cores to share: refused by name.
    let many = (ringshot::available_cores().len() + 1).to_string();
    let out = binary::ringshot()
        .args(["send", "--to", "127.0.0.1:9", "--engines", &many])
        .run();
    let err = binary::text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("cores available"), "{err}");
}

#[test]
fn cli_two_engines_report_a_row_each_and_the_total() {
    const N: u64 = 10_001;
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    ringshot::os::set_recv_buffer(&sock, 16 << 20);
    let dest = sock.local_addr().unwrap().to_string();
    let reader = std::thread::spawn(move || collect(sock, N as usize));
    let out = binary::ringshot()
        .args([
            "send",
            "--to",
            &dest,
            "--payload",
            "64",
            "--rate",
            "100kpps",
        ])
        .args(["--count", &N.to_string(), "--tx-cores", "0,0", "--json"])
        .run();
    assert_eq!(out.status.code(), Some(0), "{}", binary::text(&out.stderr));
    let v = binary::json_of(&out);
    let engines = v["engines"].as_array().unwrap();
    assert_eq!(engines.len(), 2);
    // The count's remainder goes to the first engine.
    assert_eq!(engines[0]["report"]["packets"], 5_001);
    assert_eq!(engines[1]["report"]["packets"], 5_000);
    assert_eq!(engines[1]["core"], 0);
    assert_eq!(v["total"]["packets"], N);
    assert_eq!(v["total"]["committed"], N);
    assert_eq!(v["total"]["failed_packets"], 0);
    let got = reader.join().unwrap();
    let mut per_source: Vec<usize> = got.values().map(|p| p.len()).collect();
    per_source.sort();
    assert_eq!(per_source, vec![5_000, 5_001]);
}

#[test]
fn cli_fail_on_loss_goes_by_every_engine() {
    // Nothing listens: every engine's sends are refused; --fail-on-loss fails the run.
    let dead = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = binary::ringshot()
        .args(["send", "--to", &dead.to_string(), "--count", "2000"])
        .args([
            "--engines",
            "2",
            "--tx-cores",
            "0,0",
            "--fail-on-loss",
            "--json",
        ])
        .run();
    assert_eq!(out.status.code(), Some(1), "{}", binary::text(&out.stderr));
    let v = binary::json_of(&out);
    let e = v["error"].as_str().unwrap();
    assert!(e.starts_with("engine "), "{e}");
    assert!(e.contains("--fail-on-loss"), "{e}");
    assert_eq!(v["total"]["committed"], 2000);
}

/// SIGINT stops every engine: exit 130, the report says interrupted, and each engine's books
/// balance (what was queued or in flight counted failed).
#[cfg(unix)]
#[test]
fn cli_sigint_stops_every_engine_with_balanced_books() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let (sock, addr) = binary::held_socket(Duration::from_secs(10));
    let child = binary::ringshot()
        .args([
            "send",
            "--to",
            &addr,
            "--duration",
            "600",
            "--rate",
            "4kpps",
        ])
        .args(["--tx-cores", "0,0", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Both engines are sending once a datagram from each source has arrived.
    let mut sources = std::collections::BTreeSet::new();
    let mut buf = [0u8; 2048];
    let deadline = Instant::now() + Duration::from_secs(10);
    while sources.len() < 2 && Instant::now() < deadline {
        if let Ok((_, src)) = sock.recv_from(&mut buf) {
            sources.insert(src);
        }
    }
    assert_eq!(sources.len(), 2, "two engines, two source ports");
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let out = binary::output_within(child, Duration::from_secs(30));
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        binary::text(&out.stderr)
    );
    let v = binary::json_of(&out);
    assert_eq!(v["interrupted"], true, "{v}");
    assert_eq!(v["total"]["interrupted"], true, "{v}");
    for e in v["engines"].as_array().unwrap() {
        let r = &e["report"];
        assert_eq!(r["interrupted"], true, "{e}");
        let (p, f, c) = (
            r["packets"].as_u64(),
            r["failed_packets"].as_u64(),
            r["committed"].as_u64(),
        );
        assert_eq!(p.unwrap() + f.unwrap(), c.unwrap(), "{e}");
        assert!(p.unwrap() > 0, "{e}");
    }
}
