//! A plain, independent test receiver: std sockets, one datagram per `recv`, every packet checked
//! (header, sequence, pattern). Deliberately not ringshot's own receiver, so the two check each
//! other.
#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ringshot::wire::header::{check_pattern, Packet, Repr, FLAG_PATTERN};

#[derive(Debug, Default)]
pub struct Received {
    pub packets: u64,
    pub unique: u64,
    pub duplicates: u64,
    pub corrupt: u64,
    pub bad_header: u64,
    pub max_seq: Option<u64>,
    pub lengths_ok: bool,
}

pub struct TestReceiver {
    pub addr: SocketAddr,
    handle: JoinHandle<Received>,
}

impl TestReceiver {
    /// Receives until `expect` unique packets arrived or `idle` passes with nothing.
    pub fn start(expect: u64, payload: usize, idle: Duration) -> TestReceiver {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        ringshot::os::set_recv_buffer(&sock, 256 << 20);
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let addr = sock.local_addr().unwrap();
        let handle = std::thread::spawn(move || {
            let mut r = Received {
                lengths_ok: true,
                ..Default::default()
            };
            let mut seen = vec![false; expect as usize];
            let mut buf = vec![0u8; 65_536];
            let mut last = Instant::now();
            while r.unique < expect && last.elapsed() < idle {
                let n = match sock.recv(&mut buf) {
                    Ok(n) => n,
                    Err(_) => continue,
                };
                last = Instant::now();
                r.packets += 1;
                let pkt = Packet::new_unchecked(&buf[..n]);
                let Ok(repr) = Repr::parse(&pkt) else {
                    r.bad_header += 1;
                    continue;
                };
                if n != payload {
                    r.lengths_ok = false;
                }
                if repr.flags & FLAG_PATTERN != 0 && !check_pattern(repr.seq, pkt.payload()) {
                    r.corrupt += 1;
                }
                r.max_seq = r.max_seq.max(Some(repr.seq));
                match seen.get_mut(repr.seq as usize) {
                    Some(s) if *s => r.duplicates += 1,
                    Some(s) => {
                        *s = true;
                        r.unique += 1
                    }
                    None => r.bad_header += 1,
                }
            }
            r
        });
        TestReceiver { addr, handle }
    }

    pub fn join(self) -> Received {
        self.handle.join().unwrap()
    }
}

/// Whether io_uring can be set up here (it may be disabled by sysctl or seccomp).
pub fn uring_available() -> bool {
    cfg!(ringshot_uring) && io_uring_probe().is_ok()
}

/// The target's batching send backend: sendmmsg where it exists, else the completion port.
pub fn batching_backend() -> ringshot::BackendChoice {
    if cfg!(ringshot_iocp) {
        ringshot::BackendChoice::Iocp
    } else {
        ringshot::BackendChoice::Mmsg
    }
}

fn io_uring_probe() -> std::io::Result<()> {
    let rx = UdpSocket::bind("127.0.0.1:0")?;
    let cfg = ringshot::SenderConfig::builder(rx.local_addr()?)
        .backend(ringshot::BackendChoice::Uring)
        .slots(64)
        .build()
        .unwrap();
    match ringshot::engine::SourceSender::spawn(
        cfg,
        ringshot::engine::PatternSource::new(1472, Some(0), None),
    ) {
        Ok(s) => s.finish().map(drop).map_err(std::io::Error::other),
        Err(e) => Err(std::io::Error::other(e.to_string())),
    }
}

/// Every datagram's sequence number from `sock`, in arrival order, each checked for its length
/// (`payload`), its ringshot header and its pattern; returns once `quiet` passes with nothing.
pub fn pattern_seqs(sock: &UdpSocket, payload: usize, quiet: Duration) -> Vec<u64> {
    let mut seqs = Vec::new();
    let mut buf = vec![0u8; 65_536];
    sock.set_read_timeout(Some(quiet)).unwrap();
    while let Ok(n) = sock.recv(&mut buf) {
        assert_eq!(n, payload, "datagram length");
        let pkt = Packet::new_unchecked(&buf[..n]);
        let repr = Repr::parse(&pkt).expect("a ringshot header");
        assert!(
            repr.flags & FLAG_PATTERN != 0 && check_pattern(repr.seq, pkt.payload()),
            "packet {} corrupt",
            repr.seq
        );
        seqs.push(repr.seq);
    }
    seqs
}
