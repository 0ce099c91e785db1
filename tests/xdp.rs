//! The `xdp` backend on a real kernel: two network namespaces joined by a veth pair, an AF_XDP
//! socket in copy mode on the near end, and a real UDP socket on the far end. Every datagram must
//! arrive exactly once, in order, with its payload intact, at 64 and 1472 bytes over IPv4 and at
//! 64 and 1452 bytes over IPv6 (whose UDP checksum the far kernel verifies); the frames' headers
//! come from the route and neighbour tables (the far end's MAC is not resolved before the stream
//! starts, so set-up resolves it). A payload above the path MTU, and a kernel refusing AF_XDP
//! (forced by the test fault flag, or for real by dropping CAP_NET_RAW), are refused at open with
//! the reason: `ringshot send` exits 2. The wire suite pairs xdp with mmsg and with the raw
//! AF_XDP loop. Needs root and `ip`/`ethtool`/`nft`; skips with the reason otherwise.
#![cfg(ringshot_netns)]

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::thread;
use std::time::Duration;

mod common;
#[path = "common/wire.rs"]
mod wire;
use ringshot::engine::{PatternSource, SourceSender};
use ringshot::{BackendChoice, EngineError, SenderConfig, TxReport, XdpMode};
use wire::{unavailable_reason, Wire};

const PORT: u16 = 9100;

/// One wire per process at a time (its names carry the pid): the tests take turns.
static ONE_WIRE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The wire, with this test's turn held; None (after printing why) where it cannot be built.
fn wire() -> Option<(std::sync::MutexGuard<'static, ()>, Wire)> {
    if let Some(reason) = unavailable_reason() {
        eprintln!("skipping: the namespace wire {reason}");
        return None;
    }
    let turn = ONE_WIRE.lock().unwrap_or_else(|p| p.into_inner());
    Some((turn, Wire::setup().expect("wire setup")))
}

/// Reads datagrams on a thread until 700 ms pass with nothing: each one's sequence number, in
/// arrival order, checked for its length, header and pattern.
fn receive_all(sock: UdpSocket, payload: usize) -> thread::JoinHandle<Vec<u64>> {
    thread::spawn(move || common::pattern_seqs(&sock, payload, Duration::from_millis(700)))
}

fn xdp_config(w: &Wire, payload: usize) -> ringshot::SenderConfigBuilder {
    SenderConfig::builder(SocketAddr::from((w.far_addr, PORT)))
        .backend(BackendChoice::Xdp)
        .xdp_mode(XdpMode::Copy)
        .payload(payload)
        .slots(1024)
}

/// One stream of `count` packets across the wire to the far end's IPv4 address: the report
/// and what the far socket got.
fn run(w: &Wire, payload: usize, count: u64) -> (TxReport, Vec<u64>) {
    run_to(w, SocketAddr::from((w.far_addr, PORT)), payload, count)
}

/// The same to `to` (an address of the far end).
fn run_to(w: &Wire, to: SocketAddr, payload: usize, count: u64) -> (TxReport, Vec<u64>) {
    let rx = w
        .in_far(|| {
            let sock = UdpSocket::bind(to).unwrap();
            ringshot::os::set_recv_buffer(&sock, 32 << 20);
            sock
        })
        .expect("far socket");
    let reader = receive_all(rx, payload);
    let cfg = SenderConfig::builder(to)
        .backend(BackendChoice::Xdp)
        .xdp_mode(XdpMode::Copy)
        .payload(payload)
        .slots(1024)
        .build()
        .unwrap();
    let report = w
        .in_near(move || {
            SourceSender::spawn(cfg, PatternSource::new(payload, Some(count), None))
                .and_then(|s| s.finish())
        })
        .expect("near namespace")
        .unwrap_or_else(|e| panic!("xdp {payload} B: the stream failed: {e}"));
    (report, reader.join().expect("reader"))
}

#[test]
fn every_datagram_crosses_the_veth_wire_once_in_order_and_intact() {
    let Some((_turn, w)) = wire() else { return };
    // The wire's neighbour entries are permanent: without one, set-up must resolve the MAC.
    let st = Command::new("ip")
        .args([
            "-n",
            &w.near_ns,
            "neigh",
            "del",
            &w.far_addr.to_string(),
            "dev",
            &w.near_if,
        ])
        .status()
        .expect("ip neigh del");
    assert!(st.success(), "ip neigh del: {st}");
    for (payload, count) in [(64usize, 20_000u64), (1472, 5_000)] {
        let (report, seqs) = run(&w, payload, count);
        check_exact(&report, &seqs, payload, count);
        assert!(
            report
                .notices
                .iter()
                .any(|n| n.starts_with("xdp: copy mode on")),
            "{:?}",
            report.notices
        );
    }
}

/// The kernel lets go of a closed AF_XDP socket's queue a little after the close: a sender
/// opening the same queue right after another ended waits for it instead of failing with
/// EBUSY. Three streams back to back, each exact.
#[test]
fn senders_back_to_back_on_one_queue_each_open_and_deliver() {
    let Some((_turn, w)) = wire() else { return };
    let to = SocketAddr::from((w.far_addr, PORT));
    let rx = w
        .in_far(|| {
            let sock = UdpSocket::bind(to).unwrap();
            ringshot::os::set_recv_buffer(&sock, 32 << 20);
            sock
        })
        .expect("far socket");
    let reader = receive_all(rx, 64);
    let count = 2_000u64;
    let reports = w
        .in_near(|| {
            (0..3u64)
                .map(|i| {
                    let cfg = xdp_config(&w, 64).start_seq(i * count).build().unwrap();
                    SourceSender::spawn(cfg, PatternSource::new(64, Some(count), None))
                        .and_then(|s| s.finish())
                })
                .collect::<Vec<_>>()
        })
        .expect("near namespace");
    let seqs = reader.join().expect("reader");
    for (i, r) in reports.into_iter().enumerate() {
        let r = r.unwrap_or_else(|e| panic!("stream {i}: {e}"));
        assert_eq!((r.packets, r.failed_packets), (count, 0), "stream {i}");
    }
    assert!(
        seqs.iter().copied().eq(0..3 * count),
        "{} arrived: out of order, lost or duplicated",
        seqs.len()
    );
}

/// Checks one stream's report and arrivals: all `count` packets sent, none failed, each arrived
/// once and in order.
fn check_exact(report: &TxReport, seqs: &[u64], payload: usize, count: u64) {
    let ctx = format!(
        "{payload} B: packets {} failed {} errors {:?} notices {:?}; {} arrived",
        report.packets,
        report.failed_packets,
        report.errors,
        report.notices,
        seqs.len()
    );
    assert_eq!(report.backend, "xdp", "{ctx}");
    assert_eq!(
        (report.committed, report.packets, report.failed_packets),
        (count, count, 0),
        "{ctx}"
    );
    assert_eq!(report.bytes, count * payload as u64, "{ctx}");
    assert_eq!(seqs.len() as u64, count, "{ctx}");
    assert!(
        seqs.iter().copied().eq(0..count),
        "{ctx}: out of order or duplicated"
    );
}

/// IPv6: the UDP checksum is required (the far kernel drops a datagram whose checksum is
/// wrong), the neighbour is found by neighbour discovery, and the MTU leaves 1452 bytes.
#[test]
fn ipv6_datagrams_cross_with_their_checksums_once_in_order() {
    let Some((_turn, w)) = wire() else { return };
    let (near, far): (std::net::Ipv6Addr, std::net::Ipv6Addr) = (
        "fd00:231::1".parse().unwrap(),
        "fd00:231::2".parse().unwrap(),
    );
    for (ns, dev, addr) in [(&w.near_ns, &w.near_if, near), (&w.far_ns, &w.far_if, far)] {
        let st = Command::new("ip")
            .args([
                "-n",
                ns,
                "addr",
                "add",
                &format!("{addr}/64"),
                "dev",
                dev,
                "nodad",
            ])
            .status()
            .expect("ip addr add");
        assert!(st.success(), "ip addr add {addr}: {st}");
    }
    let to = SocketAddr::from((far, PORT));
    for (payload, count) in [(64usize, 10_000u64), (1452, 3_000)] {
        let (report, seqs) = run_to(&w, to, payload, count);
        check_exact(&report, &seqs, payload, count);
        assert!(
            report.notices.iter().any(|n| n.contains("via fd00:231::2")),
            "{:?}",
            report.notices
        );
    }
    let e = open_error(
        &w,
        SenderConfig::builder(to)
            .backend(BackendChoice::Xdp)
            .payload(1453)
            .build()
            .unwrap(),
    );
    assert!(e.to_string().contains("needs an MTU of 1501"), "{e}");
}

/// The error the engine gives for `cfg` when it cannot open.
fn open_error(w: &Wire, cfg: SenderConfig) -> EngineError {
    let r = w
        .in_near(move || {
            SourceSender::spawn(cfg, PatternSource::new(64, Some(10), None))
                .and_then(|s| s.finish())
        })
        .expect("near namespace");
    match r {
        Ok(rep) => panic!("the stream ran: {} packets", rep.packets),
        Err(e) => e,
    }
}

#[test]
fn a_payload_above_the_mtu_or_a_refused_socket_is_refused_at_open_with_the_reason() {
    let Some((_turn, w)) = wire() else { return };
    let e = open_error(&w, xdp_config(&w, 1473).build().unwrap());
    let EngineError::BackendUnavailable { backend, reason } = e else {
        panic!("not BackendUnavailable: {e}")
    };
    assert_eq!(backend, "xdp");
    assert!(
        reason.contains("needs an MTU of 1501") && reason.contains("no fragments"),
        "{reason}"
    );
    let faults = ringshot::config::TxFaults {
        xdp_unavailable: true,
        ..Default::default()
    };
    let e = open_error(&w, xdp_config(&w, 64).faults(faults).build().unwrap());
    assert!(
        matches!(&e, EngineError::BackendUnavailable { backend: "xdp", reason } if reason.contains("AF_XDP disabled")),
        "{e}"
    );
}

/// `ringshot send --backend xdp` in the near namespace, with `pre` in front (a privilege drop).
fn send_in_near(w: &Wire, pre: &[&str], extra: &[&str]) -> std::process::Output {
    let to = format!("{}:{PORT}", w.far_addr);
    let bin = env!("CARGO_BIN_EXE_ringshot");
    let mut args: Vec<&str> = vec!["netns", "exec", &w.near_ns];
    args.extend_from_slice(pre);
    args.extend_from_slice(&[
        bin,
        "send",
        "--to",
        &to,
        "--backend",
        "xdp",
        "--count",
        "10",
    ]);
    args.extend_from_slice(extra);
    Command::new("ip")
        .args(&args)
        .output()
        .expect("ip netns exec")
}

#[test]
fn the_cli_exits_2_with_the_reason_when_af_xdp_is_refused() {
    let Some((_turn, w)) = wire() else { return };
    // Too large for the link's MTU.
    let out = send_in_near(&w, &[], &["--payload", "1500", "--xdp-mode", "copy"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no fragments"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    // Root without CAP_NET_RAW: the kernel refuses the AF_XDP socket.
    if wire::which("setpriv").is_none() {
        eprintln!("not testing the CAP_NET_RAW drop: setpriv is not on PATH");
        return;
    }
    let drop = [
        "setpriv",
        "--inh-caps=-net_raw",
        "--bounding-set=-net_raw",
        "--",
    ];
    let out = send_in_near(&w, &drop, &["--payload", "64", "--xdp-mode", "copy"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("CAP_NET_RAW"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}
