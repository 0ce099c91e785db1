//! A stream through the AF_XDP backend: 100,000 datagrams of 1,000 bytes sent past the kernel's
//! UDP stack (the engine writes Ethernet, IP and UDP headers in front of each payload, in the slab
//! the socket shares with the kernel). The next hop's MAC comes from the neighbour table.
//!
//! Run with no argument (Linux, root, `ip` from iproute2): it builds its own wire, two network
//! namespaces joined by a veth pair, sends from the near one in copy mode to a UDP socket in the
//! far one, and exits 0 only when every datagram arrived exactly once with its payload intact.
//! The wire is removed at the end, also on error. Not root, no `ip`, or AF_XDP refused: it says
//! why and exits 2.
//!
//! On real hardware: `sudo cargo run --release --example xdp_stream -- 192.0.2.10:5000 [queue]`
//! (zero copy where the driver has it), with `ringshot recv --bind :5000` on the far host.

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("xdp_stream: AF_XDP is Linux only");
    std::process::exit(2);
}

#[cfg(target_os = "linux")]
fn main() -> Result<std::process::ExitCode, Box<dyn std::error::Error>> {
    linux::main()
}

#[cfg(target_os = "linux")]
mod linux {
    use std::net::{SocketAddr, UdpSocket};
    use std::process::{Command, ExitCode};
    use std::time::Duration;

    use ringshot::engine::PatternSource;
    use ringshot::prelude::*;
    use ringshot::wire::header::{check_pattern, Packet, Repr};
    use ringshot::XdpMode;

    type Error = Box<dyn std::error::Error>;
    const COUNT: u64 = 100_000;
    const PAYLOAD: usize = 1000;

    pub fn main() -> Result<ExitCode, Error> {
        let mut args = std::env::args().skip(1);
        let Some(to) = args.next() else {
            return self_contained();
        };
        let queue = args.next().map(|q| q.parse::<u32>()).transpose();
        let (Ok(to), Ok(queue)) = (to.parse::<SocketAddr>(), queue) else {
            eprintln!("usage: xdp_stream [HOST:PORT [QUEUE]] (no argument: its own veth wire)");
            return Ok(ExitCode::from(2));
        };
        let cfg = SenderConfig::builder(to)
            .backend(BackendChoice::Xdp)
            .xdp_mode(XdpMode::Auto) // zero copy where the driver has it, copy mode otherwise
            .xdp_queue(queue.unwrap_or(0))
            .payload(PAYLOAD)
            .build()?;
        let Some(report) = stream(cfg)? else {
            return Ok(ExitCode::from(2));
        };
        print_report(&report);
        Ok(ExitCode::SUCCESS)
    }

    /// The engine on its own thread, fed by the pattern source. AF_XDP refused: None, with why.
    fn stream(cfg: SenderConfig) -> Result<Option<TxReport>, EngineError> {
        match SourceSender::spawn(cfg, PatternSource::new(PAYLOAD, Some(COUNT), None)) {
            Ok(tx) => tx.finish().map(Some),
            Err(EngineError::BackendUnavailable { reason, .. }) => {
                eprintln!("xdp_stream: AF_XDP cannot send here: {reason}");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn print_report(r: &TxReport) {
        for n in &r.notices {
            println!("note: {n}"); // the mode used, the device, the queue and the next hop
        }
        println!(
            "{} packets ({} failed) at {:.0} pps, CPU {:.0} % of a core",
            r.packets,
            r.failed_packets,
            r.pps,
            r.cpu_ns as f64 / (r.seconds * 1e7)
        );
    }

    /// Every `return` drops `wire`, which removes it.
    fn self_contained() -> Result<ExitCode, Error> {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("xdp_stream: needs root to build its veth wire (or give HOST:PORT)");
            return Ok(ExitCode::from(2));
        }
        if Command::new("ip").arg("-V").output().is_err() {
            eprintln!("xdp_stream: needs `ip` (iproute2) on PATH to build its veth wire");
            return Ok(ExitCode::from(2));
        }
        let wire = Wire::setup()?;
        let to = SocketAddr::from(([10, 232, 0, 2], 9000));
        let sock = wire.in_ns(&wire.far, || -> std::io::Result<UdpSocket> {
            let sock = UdpSocket::bind(to)?;
            ringshot::os::set_recv_buffer(&sock, 64 << 20);
            sock.set_read_timeout(Some(Duration::from_secs(2)))?;
            Ok(sock)
        })??;
        let receiver = std::thread::spawn(move || receive(sock));
        let cfg = SenderConfig::builder(to)
            .backend(BackendChoice::Xdp)
            .xdp_mode(XdpMode::Copy) // a veth has no zero copy
            .payload(PAYLOAD)
            // Paced, so the receiving socket on this same machine keeps up even while other
            // work takes its CPU (unpaced, AF_XDP outruns it several times over).
            .rate(Rate::Pps(250_000.0))
            .build()?;
        // The engine's thread inherits the namespace of the thread that starts it.
        let Some(report) = wire.in_ns(&wire.near, || stream(cfg))?? else {
            return Ok(ExitCode::from(2));
        };
        print_report(&report);
        let (once, bad) = receiver.join().map_err(|_| "the receiver panicked")?;
        println!("received {once} of {COUNT} ({bad} duplicate or corrupt)");
        if report.packets != COUNT || once != COUNT || bad != 0 {
            eprintln!("xdp_stream: not every datagram arrived exactly once and intact");
            return Ok(ExitCode::FAILURE);
        }
        Ok(ExitCode::SUCCESS)
    }

    /// Reads until 2 s pass with nothing: how many sequence numbers arrived once, intact, and
    /// how many datagrams were duplicates or corrupt.
    fn receive(sock: UdpSocket) -> (u64, u64) {
        let mut seen = vec![false; COUNT as usize];
        let (mut once, mut bad) = (0, 0);
        let mut buf = [0u8; 2048];
        while let Ok(n) = sock.recv(&mut buf) {
            let pkt = Packet::new_unchecked(&buf[..n]);
            match Repr::parse(&pkt) {
                Ok(r) if n == PAYLOAD && r.seq < COUNT && check_pattern(r.seq, pkt.payload()) => {
                    if std::mem::replace(&mut seen[r.seq as usize], true) {
                        bad += 1;
                    } else {
                        once += 1;
                    }
                }
                _ => bad += 1,
            }
        }
        (once, bad)
    }

    /// Two network namespaces joined by a veth pair; dropped, both are deleted (and the pair
    /// with them).
    struct Wire {
        near: String,
        far: String,
    }

    const PREFIX: &str = "rsxdp-";

    fn ip(args: &[&str]) -> Result<(), Error> {
        let out = Command::new("ip").args(args).output()?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(format!("`ip {}`: {}", args.join(" "), err.trim()).into());
        }
        Ok(())
    }

    impl Wire {
        fn setup() -> Result<Wire, Error> {
            // Namespaces left by a run that was killed (its pid is gone).
            for entry in std::fs::read_dir("/run/netns").into_iter().flatten() {
                let name = entry?.file_name().to_string_lossy().into_owned();
                let pid = name.strip_prefix(PREFIX).and_then(|r| r.split('-').next());
                if pid.is_some_and(|p| !std::path::Path::new(&format!("/proc/{p}")).exists()) {
                    ip(&["netns", "del", &name])?;
                }
            }
            let pid = std::process::id();
            let (a, b) = (format!("rsx{pid}a"), format!("rsx{pid}b"));
            let w = Wire {
                near: format!("{PREFIX}{pid}-near"),
                far: format!("{PREFIX}{pid}-far"),
            };
            // From here on, dropping `w` removes whatever was created.
            ip(&["netns", "add", &w.near])?;
            ip(&["netns", "add", &w.far])?;
            let (n, f) = (w.near.as_str(), w.far.as_str());
            ip(&[
                "link", "add", &a, "netns", n, "type", "veth", "peer", "name", &b, "netns", f,
            ])?;
            for (ns, dev, addr) in [(n, &a, "10.232.0.1/24"), (f, &b, "10.232.0.2/24")] {
                ip(&["-n", ns, "addr", "add", addr, "dev", dev])?;
                ip(&["-n", ns, "link", "set", dev, "up"])?;
            }
            Ok(w)
        }

        /// Runs `f` on a thread that has entered namespace `ns` first.
        fn in_ns<T: Send>(&self, ns: &str, f: impl FnOnce() -> T + Send) -> Result<T, Error> {
            let file = std::fs::File::open(format!("/run/netns/{ns}"))?;
            std::thread::scope(|s| {
                s.spawn(move || {
                    nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).map(|_| f())
                })
                .join()
                .map_err(|_| "a thread in the namespace panicked")?
                .map_err(|e| format!("setns {ns}: {e}").into())
            })
        }
    }

    impl Drop for Wire {
        fn drop(&mut self) {
            for ns in [&self.near, &self.far] {
                if !std::path::Path::new(&format!("/run/netns/{ns}")).exists() {
                    continue; // set-up failed before creating it
                }
                if let Err(e) = ip(&["netns", "del", ns]) {
                    eprintln!("xdp_stream: removing the wire: {e}");
                }
            }
        }
    }
}
