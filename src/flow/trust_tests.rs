//! Whom the ACK core believes, and how it lives with ICMP errors on its socket.

use std::net::UdpSocket;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::wire::ack;

fn native(consumed: u64) -> [u8; ack::ACK_LEN] {
    ack::Repr {
        stream_id: 1,
        ack_number: consumed as u32,
        consumed,
        consumed_bytes: None,
        credit: None,
        events: EventSet::NONE,
    }
    .to_bytes()
}

/// CPU time the kernel has charged to thread `tid` of this process.
fn thread_cpu(tid: u32) -> Duration {
    // schedstat: nanoseconds on the CPU first (Linux with scheduler statistics).
    if let Ok(s) = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")) {
        if let Some(ns) = s.split_whitespace().next().and_then(|v| v.parse().ok()) {
            return Duration::from_nanos(ns);
        }
    }
    // Else utime + stime in clock ticks (fields 14 and 15, after the parenthesised name).
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    Duration::from_millis((f[11] + f[12]) * 10)
}

#[test]
fn an_icmp_error_is_counted_and_does_not_spin_the_ack_core() {
    // A port nothing listens on: the first datagram sent there comes back as ICMP port
    // unreachable, queued on the socket because IP_RECVERR is set.
    let dest = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let data = crate::sys::connected_udp(dest, None, 1 << 16).unwrap();
    let state = Arc::new(FlowState::new(0));
    let core = AckCore::spawn(
        data.try_clone().unwrap(),
        state.clone(),
        AckCoreConfig {
            device: Some(dest),
            poll_timeout: Duration::from_millis(20),
            ..AckCoreConfig::default()
        },
    )
    .unwrap();
    let Some(tid) = core.thread_id() else {
        eprintln!("skipping: no /proc/thread-self to find the ACK thread");
        return;
    };
    data.send(b"is anyone there?").unwrap();
    // Let the ICMP error arrive and the core see it.
    std::thread::sleep(Duration::from_millis(50));
    let (cpu0, t0) = (thread_cpu(tid), Instant::now());
    std::thread::sleep(Duration::from_millis(300));
    let (cpu, wall) = (thread_cpu(tid) - cpu0, t0.elapsed());
    let s = core.stop();
    // Spinning costs the whole wall time (or whatever share the loaded machine gives it);
    // sleeping in poll costs next to nothing.
    assert!(
        cpu * 5 < wall,
        "the ACK thread used {cpu:?} of CPU in {wall:?}: it spins on the queued error"
    );
    assert_eq!(s.icmp_errors.port_unreachable, 1, "{s:?}");
    assert_eq!(s.icmp_errors.total(), 1, "{s:?}");
    assert_eq!((s.datagrams, s.accepted), (0, 0));
    assert!(s.error.is_none(), "{s:?}");
}

#[test]
fn a_forged_ack_from_another_port_of_the_device_ip_is_foreign() {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = sock.local_addr().unwrap();
    let device = UdpSocket::bind("127.0.0.1:0").unwrap();
    let forger = UdpSocket::bind("127.0.0.1:0").unwrap();
    let state = Arc::new(FlowState::new(0));
    let core = AckCore::spawn(
        sock,
        state.clone(),
        AckCoreConfig {
            device: Some(device.local_addr().unwrap()),
            poll_timeout: Duration::from_millis(5),
            ..AckCoreConfig::default()
        },
    )
    .unwrap();
    state.publish_sent(1000, 0);
    device.send_to(&native(100), to).unwrap();
    // Same IP, another port: a claim that would reopen the window by 800 packets.
    forger.send_to(&native(900), to).unwrap();
    // The device's last word, queued after the forgery.
    device.send_to(&native(200), to).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while state.acked_packets() != 200 {
        assert!(
            state.acked_packets() < 900,
            "the forged ACK moved the window"
        );
        assert!(Instant::now() < deadline, "timed out");
        std::thread::yield_now();
    }
    let s = core.stop();
    assert_eq!((s.accepted, s.foreign_source, s.datagrams), (2, 1, 3));
    assert_eq!(s.advances, 2);
}

#[test]
fn port_zero_is_no_wildcard() {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let err = AckCore::spawn(
        sock,
        Arc::new(FlowState::new(0)),
        AckCoreConfig {
            device: Some("127.0.0.1:0".parse().unwrap()),
            ..AckCoreConfig::default()
        },
    )
    .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}
