//! A path MTU below the payload, on a real kernel: two network namespaces joined by a veth pair
//! of MTU 1400, and 2000 datagrams of 1472 bytes sent with GSO on through each backend. The
//! kernel refuses a GSO send whose segments do not fit the path (EMSGSIZE) but fragments the
//! same datagrams sent one by one: the backend must switch GSO off once (`gso_downgrades` 1),
//! re-send what was refused, and every datagram must reach a real socket in the far namespace
//! once, in order, intact. Needs root and `ip`/`ethtool`/`nft`/`tc` (the namespaces are
//! tests/common/netns.rs's); skips with the reason otherwise.
#![cfg(ringshot_netns)]

mod common;
#[path = "common/netns.rs"]
mod netns;

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use netns::{remove_stale, unavailable_reason, Net, FAR_ADDR};
use ringshot::engine::{PatternSource, SourceSender};
use ringshot::{BackendChoice, SenderConfig, TxReport};

const MTU: u32 = 1400;
const PAYLOAD: usize = 1472;
const COUNT: u64 = 2000;
const PORT: u16 = 9000;

/// Runs `f` on a thread that has entered network namespace `ns` first; threads it starts (the
/// engine's) inherit the namespace, and a socket it opens stays in it.
fn in_namespace<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    let file = File::open(format!("/run/netns/{ns}")).unwrap_or_else(|e| panic!("{ns}: {e}"));
    std::thread::scope(|s| {
        s.spawn(move || {
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                .unwrap_or_else(|e| panic!("setns {ns}: {e}"));
            f()
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

fn far_addr() -> SocketAddr {
    SocketAddr::from((FAR_ADDR.parse::<Ipv4Addr>().expect("literal"), PORT))
}

/// One backend's run across the wire: its report and what the far socket got.
fn run(net: &Net, backend: BackendChoice) -> (TxReport, Vec<u64>) {
    // A socket made in the far namespace stays there; it is read from this thread.
    let rx = in_namespace(&net.far, || {
        let sock = UdpSocket::bind(far_addr()).unwrap();
        ringshot::os::set_recv_buffer(&sock, 32 << 20);
        sock
    });
    let cfg = SenderConfig::builder(far_addr())
        .backend(backend)
        .gso(true)
        .payload(PAYLOAD)
        .build()
        .unwrap();
    let report = in_namespace(&net.near, move || {
        SourceSender::spawn(cfg, PatternSource::new(PAYLOAD, Some(COUNT), None))
            .and_then(|s| s.finish())
    })
    .unwrap_or_else(|e| panic!("{backend}: the stream failed: {e}"));
    (
        report,
        common::pattern_seqs(&rx, PAYLOAD, Duration::from_millis(500)),
    )
}

#[test]
fn gso_above_the_path_mtu_downgrades_and_delivers_everything() {
    if let Some(reason) = unavailable_reason() {
        eprintln!("skipping: the namespace wire {reason}");
        return;
    }
    remove_stale();
    let net = Net::new(0).expect("namespaces and veth pair");
    net.set_mtu(MTU).expect("ip link set mtu");
    let mut backends = vec![BackendChoice::Send];
    if cfg!(ringshot_mmsg) {
        backends.push(BackendChoice::Mmsg);
    }
    if cfg!(ringshot_uring) && common::uring_available() {
        backends.push(BackendChoice::Uring);
    } else {
        eprintln!("not testing uring: io_uring is unavailable here");
    }
    for backend in backends {
        let (report, seqs) = run(&net, backend);
        let ctx = format!(
            "{backend}: packets {} failed {} downgrades {} errors {:?}; {} arrived",
            report.packets,
            report.failed_packets,
            report.gso_downgrades,
            report.errors,
            seqs.len()
        );
        assert_eq!(report.backend, backend.to_string(), "{ctx}");
        assert_eq!(
            (report.committed, report.packets, report.failed_packets),
            (COUNT, COUNT, 0),
            "{ctx}"
        );
        assert_eq!(seqs, (0..COUNT).collect::<Vec<_>>(), "{ctx}");
        assert_eq!(report.gso_downgrades, 1, "{ctx}");
        assert!(!report.gso, "{ctx}: GSO stays off after the refusal");
        assert_eq!(
            report.errors.get(&ringshot::SendErrno::MessageTooLong),
            Some(&1),
            "{ctx}"
        );
    }
}
