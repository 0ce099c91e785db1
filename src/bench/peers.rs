//! The `peers` suite: iperf3, sockperf and spead2 measured in the same run as ringshot, on
//! loopback (127.0.0.1 only), 1472-byte UDP payloads.
//!
//! Every peer runs as its own external processes (its own sender *and its own receiver*), each
//! bounded in time and killed (with its whole process group) when it overstays. Throughput is
//! judged by the packets each peer's **own receiver** reports, never by what its sender claims:
//!
//! | peer | delivered count | sent count |
//! |---|---|---|
//! | iperf3 | server's received bytes ÷ 1472 (`end.sum_received` in the client's `--json`, which the server reports back) | client's `end.sum_sent.packets` |
//! | sockperf | `sockperf server`'s "Total N messages received and handled" (printed on SIGINT) | client's "Total of N messages sent" |
//! | spead2 | `spead2_recv.py`'s `packets` stream statistic | computed from the heap count (exact when every heap arrived) |
//!
//! For each sender (ringshot with GSO on and off, and each peer) the suite measures one unpaced
//! run and then its highest zero-loss rate, by the bisection on the offered rate that ringshot's
//! receive-capacity search uses ([`search_max_rate`]) over short paced trials, the way
//! `spead2_bench.py` searches. A trial passes when the sender's own receiver reports nothing lost
//! and counted every packet sent; like `spead2_bench.py`, the rate reported is the one the
//! passing trial achieved, not the one offered. A failed trial is repeated once (the machine is
//! shared and noisy); every sender gets the same rule. Ringshot's trials, GSO on and off, are
//! [`capacity_trial`]'s (judged by the rule above rather than its own, which also asks for 97 %
//! of the offered rate).
//!
//! A peer that is not installed, or whose output cannot be understood, is reported as skipped
//! with the reason; it never passes silently and never panics.

use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{
    capacity_trial, run_case, search_max_rate, BenchError, CapacityTrial, Case, Placement,
};
use crate::recv::RecvBackend;

/// UDP payload of every packet in this suite.
pub const PAYLOAD: usize = 1472;

/// What went wrong running or reading one peer.
#[derive(Debug)]
pub enum PeerError {
    /// A program of the peer is not on `PATH`.
    NotInstalled {
        program: &'static str,
        install: &'static str,
    },
    /// The program exists but could not be started.
    Spawn {
        program: String,
        error: std::io::Error,
    },
    /// No free loopback port could be found.
    Port(std::io::Error),
    /// The receiver did not bind its port in time (or exited first).
    NotReady {
        program: String,
        after: Duration,
        /// Its exit code if it exited (127: a wrapper such as a pyenv shim found no program).
        code: Option<i32>,
        output: String,
    },
    /// A process overstayed its time and was killed.
    Timeout { program: String, after: Duration },
    /// A process failed, with its exit status and the tail of its output.
    Failed {
        program: String,
        status: String,
        output: String,
    },
    /// The peer's output did not say what we need.
    Parse { peer: &'static str, what: String },
}

impl std::fmt::Display for PeerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerError::NotInstalled { program, install } => {
                write!(
                    f,
                    "`{program}` not found on PATH or not runnable (install: {install})"
                )
            }
            PeerError::Spawn { program, error } => write!(f, "cannot start {program}: {error}"),
            PeerError::Port(e) => write!(f, "no free loopback port: {e}"),
            PeerError::NotReady {
                program,
                after,
                output,
                ..
            } => write!(
                f,
                "{program} did not bind its port within {:.1} s{}",
                after.as_secs_f64(),
                tail_suffix(output)
            ),
            PeerError::Timeout { program, after } => write!(
                f,
                "{program} still running after {:.1} s; killed",
                after.as_secs_f64()
            ),
            PeerError::Failed {
                program,
                status,
                output,
            } => write!(f, "{program} failed ({status}){}", tail_suffix(output)),
            PeerError::Parse { peer, what } => write!(f, "cannot read {peer}'s output: {what}"),
        }
    }
}

impl std::error::Error for PeerError {}

fn tail_suffix(output: &str) -> String {
    let t = tail(output, 240);
    if t.is_empty() {
        String::new()
    } else {
        format!(": {t}")
    }
}

/// The last `max` characters of `s`, on one line.
fn tail(s: &str, max: usize) -> String {
    let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let n = one_line.chars().count();
    if n <= max {
        one_line
    } else {
        let skip = n - max;
        format!("…{}", one_line.chars().skip(skip).collect::<String>())
    }
}

/// The peers this suite knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Peer {
    Iperf3,
    Sockperf,
    Spead2,
}

impl Peer {
    /// Every peer, in the order the suite runs them.
    pub const ALL: [Peer; 3] = [Peer::Iperf3, Peer::Sockperf, Peer::Spead2];

    pub fn name(self) -> &'static str {
        match self {
            Peer::Iperf3 => "iperf3",
            Peer::Sockperf => "sockperf",
            Peer::Spead2 => "spead2",
        }
    }

    fn programs(self) -> &'static [&'static str] {
        match self {
            Peer::Iperf3 => &["iperf3"],
            Peer::Sockperf => &["sockperf"],
            Peer::Spead2 => &["spead2_send.py", "spead2_recv.py"],
        }
    }

    fn install_hint(self) -> &'static str {
        match self {
            Peer::Iperf3 => "apt-get install iperf3",
            Peer::Sockperf => "apt-get install sockperf",
            Peer::Spead2 => "pip install spead2",
        }
    }

    /// Where the peer's delivered count comes from, for the report.
    pub fn delivered_from(self) -> &'static str {
        match self {
            Peer::Iperf3 => "iperf3 server: received bytes / 1472",
            Peer::Sockperf => "sockperf server: messages received",
            Peer::Spead2 => "spead2_recv.py: `packets` stat",
        }
    }

    /// The peer's programs on `PATH`, or why they are missing.
    pub fn locate(self) -> Result<Vec<PathBuf>, PeerError> {
        self.programs()
            .iter()
            .map(|p| {
                find_program(p).ok_or(PeerError::NotInstalled {
                    program: p,
                    install: self.install_hint(),
                })
            })
            .collect()
    }

    /// One trial: unpaced (`offered = None`) or paced at `offered` packets per second, for about
    /// `secs`, sender and receiver both the peer's own.
    pub fn trial(
        self,
        offered: Option<f64>,
        secs: Duration,
        opts: &PeerOptions,
    ) -> Result<PeerTrial, PeerError> {
        let bins = self.locate()?;
        let r = match self {
            Peer::Iperf3 => iperf3_trial(&bins[0], offered, secs, opts),
            Peer::Sockperf => sockperf_trial(&bins[0], offered, secs, opts),
            Peer::Spead2 => spead2_trial(&bins[0], &bins[1], offered, secs, opts),
        };
        match r {
            // On PATH but not runnable: a shim (pyenv) whose interpreter lacks the package.
            Err(PeerError::NotReady {
                code: Some(127), ..
            }) => Err(PeerError::NotInstalled {
                program: self.programs()[self.programs().len() - 1],
                install: self.install_hint(),
            }),
            r => r,
        }
    }
}

/// An executable called `name` in one of `PATH`'s directories.
pub fn find_program(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// How the peers run.
#[derive(Debug, Clone, Serialize)]
pub struct PeerOptions {
    /// Core for the peer's sender (its own affinity flag, and the process's first thread).
    pub tx_core: Option<usize>,
    /// Core for the peer's receiver.
    pub rx_core: Option<usize>,
    /// Socket buffer asked of every peer, both ends (the kernel caps it at `net.core.rmem_max`
    /// / `wmem_max`, as the peers do not use SO_*BUFFORCE).
    pub socket_buffer: usize,
    /// spead2 heap payload, bytes (spead2's own default is 4 MiB).
    pub spead2_heap_size: usize,
    /// Time a process gets beyond its trial (start-up, drain) before it is killed.
    pub slack: Duration,
}

impl PeerOptions {
    /// Sender and receiver on the placement's cores; socket buffers as large as the kernel lets
    /// an unprivileged `SO_RCVBUF` go.
    pub fn new(place: &Placement) -> PeerOptions {
        PeerOptions {
            tx_core: place.tx_core,
            rx_core: place.rx_core,
            socket_buffer: rmem_max().unwrap_or(4 << 20).clamp(256 << 10, 64 << 20),
            spead2_heap_size: 4 << 20,
            slack: Duration::from_secs(10),
        }
    }
}

fn rmem_max() -> Option<usize> {
    std::fs::read_to_string("/proc/sys/net/core/rmem_max")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// What one peer trial measured, by the peer's own receiver.
#[derive(Debug, Clone, Serialize)]
pub struct PeerTrial {
    pub peer: &'static str,
    /// Offered rate, packets per second; `None` for unpaced.
    pub offered_pps: Option<f64>,
    /// Packets the sender sent.
    pub sent: u64,
    /// Whether `sent` is the sender's own count (spead2's is computed from heaps).
    pub sent_exact: bool,
    /// Packets the peer's own receiver counted.
    pub delivered: u64,
    /// `sent − delivered − uncounted_tail`, or what the receiver itself says it lost when that
    /// is more.
    pub lost: u64,
    /// Packets sent after the last one the receiver counted that the peer's own test protocol
    /// stops counting (iperf3's server ends the test when the client says so, and the last pacing
    /// burst can still be in flight). Excused only up to two pacing intervals' worth (2 ms of the
    /// offered rate, at least 16); a longer tail is `lost`.
    pub uncounted_tail: u64,
    /// Whether the receiver itself reports nothing lost.
    pub receiver_zero_loss: bool,
    /// Time base of `delivered_pps`, seconds.
    pub seconds: f64,
    pub sent_pps: f64,
    pub delivered_pps: f64,
    pub delivered_pct: f64,
    /// Peer-specific counters, as the peer printed them.
    pub detail: String,
}

impl PeerTrial {
    /// Zero loss: the receiver reports nothing lost and counted every packet sent (but an
    /// excused tail). Like `spead2_bench.py`, a trial is judged by loss alone; the rate it
    /// stands for is what the sender achieved (`sent_pps`), not what was offered.
    pub fn passes(&self) -> bool {
        self.receiver_zero_loss
            && self.lost == 0
            && self.delivered + self.uncounted_tail >= self.sent
    }

    #[allow(clippy::too_many_arguments)]
    fn new(
        peer: Peer,
        offered_pps: Option<f64>,
        sent: u64,
        sent_exact: bool,
        delivered: u64,
        receiver_lost: u64,
        uncounted_tail: u64,
        receiver_zero_loss: bool,
        sent_seconds: f64,
        delivered_seconds: f64,
        detail: String,
    ) -> PeerTrial {
        PeerTrial {
            peer: peer.name(),
            offered_pps,
            sent,
            sent_exact,
            delivered,
            lost: sent
                .saturating_sub(delivered)
                .saturating_sub(uncounted_tail)
                .max(receiver_lost),
            uncounted_tail,
            receiver_zero_loss,
            seconds: delivered_seconds,
            sent_pps: sent as f64 / sent_seconds.max(1e-9),
            delivered_pps: delivered as f64 / delivered_seconds.max(1e-9),
            delivered_pct: 100.0 * delivered as f64 / sent.max(1) as f64,
            detail,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Processes

/// A child process in its own process group, its output collected by two threads.
#[derive(Debug)]
struct Proc {
    program: String,
    child: Child,
    out: Option<JoinHandle<Vec<u8>>>,
    err: Option<JoinHandle<Vec<u8>>>,
    status: Option<ExitStatus>,
}

/// A finished process's status and output.
#[derive(Debug)]
struct Finished {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Finished {
    fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    fn fail(&self, program: &str) -> PeerError {
        PeerError::Failed {
            program: program.to_string(),
            status: self.status.to_string(),
            output: self.all_output(),
        }
    }
}

fn collect<R: Read + Send + 'static>(r: Option<R>) -> Option<JoinHandle<Vec<u8>>> {
    r.map(|mut r| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    })
}

impl Proc {
    fn spawn(program: &Path, args: &[String], core: Option<usize>) -> Result<Proc, PeerError> {
        use std::os::unix::process::CommandExt;
        let name = program
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| program.display().to_string());
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|error| PeerError::Spawn {
                program: name.clone(),
                error,
            })?;
        if let Some(c) = core {
            pin(child.id(), c);
        }
        let out = collect(child.stdout.take());
        let err = collect(child.stderr.take());
        Ok(Proc {
            program: name,
            child,
            out,
            err,
            status: None,
        })
    }

    fn signal(&self, sig: nix::sys::signal::Signal) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), sig);
        }
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Waits up to `limit` for the process to exit by itself.
    fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + limit;
        loop {
            if let Some(s) = self.exited() {
                return Some(s);
            }
            if Instant::now() >= until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn kill(&mut self) {
        if self.exited().is_none() {
            self.signal(nix::sys::signal::Signal::SIGKILL);
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }

    fn output(&mut self) -> (String, String) {
        let join = |h: Option<JoinHandle<Vec<u8>>>| {
            h.and_then(|h| h.join().ok())
                .map(|v| String::from_utf8_lossy(&v).into_owned())
                .unwrap_or_default()
        };
        (join(self.out.take()), join(self.err.take()))
    }

    /// Waits up to `limit` for the process to exit; kills it (and its group) otherwise.
    fn finish(mut self, limit: Duration) -> Result<Finished, PeerError> {
        match self.wait_exit(limit) {
            Some(status) => {
                let (stdout, stderr) = self.output();
                Ok(Finished {
                    status,
                    stdout,
                    stderr,
                })
            }
            None => {
                self.kill();
                Err(PeerError::Timeout {
                    program: self.program.clone(),
                    after: limit,
                })
            }
        }
    }

    /// SIGINT to the process group, then [`Proc::finish`] with `grace`.
    fn interrupt(self, grace: Duration) -> Result<Finished, PeerError> {
        self.signal(nix::sys::signal::Signal::SIGINT);
        self.finish(grace)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Pins the process's first thread (threads it starts later inherit it). Best effort.
fn pin(pid: u32, core: usize) {
    let mut set = nix::sched::CpuSet::new();
    if set.set(core).is_ok() {
        if let Ok(pid) = i32::try_from(pid) {
            let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(pid), &set);
        }
    }
}

/// A port free on 127.0.0.1 for both TCP and UDP at the time of asking.
fn free_port() -> Result<u16, PeerError> {
    let mut last = None;
    for _ in 0..32 {
        let udp = UdpSocket::bind("127.0.0.1:0").map_err(PeerError::Port)?;
        let port = udp.local_addr().map_err(PeerError::Port)?.port();
        match TcpListener::bind(("127.0.0.1", port)) {
            Ok(_) => return Ok(port),
            Err(e) => last = Some(e),
        }
    }
    Err(PeerError::Port(last.unwrap_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::AddrInUse, "no port")
    })))
}

/// Which socket table to look a port up in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    TcpListen,
    Udp,
}

/// Whether `/proc/net/{tcp,udp}` text shows a socket on 127.0.0.1 (or any address) at `port`
/// (TCP: in LISTEN state).
fn proc_net_has(table: &str, port: u16, kind: Bound) -> bool {
    let want_port = format!("{port:04X}");
    table.lines().skip(1).any(|line| {
        let mut f = line.split_whitespace();
        let (Some(_sl), Some(local), Some(_remote), Some(state)) =
            (f.next(), f.next(), f.next(), f.next())
        else {
            return false;
        };
        let Some((addr, p)) = local.split_once(':') else {
            return false;
        };
        let addr_ok = matches!(addr, "0100007F" | "00000000");
        let state_ok = kind == Bound::Udp || state == "0A";
        addr_ok && state_ok && p.eq_ignore_ascii_case(&want_port)
    })
}

/// Waits until `proc` has bound `port`, or fails if it exits or `limit` passes.
fn wait_bound(proc: &mut Proc, port: u16, kind: Bound, limit: Duration) -> Result<(), PeerError> {
    let file = match kind {
        Bound::TcpListen => "/proc/net/tcp",
        Bound::Udp => "/proc/net/udp",
    };
    let start = Instant::now();
    loop {
        match std::fs::read_to_string(file) {
            Ok(t) if proc_net_has(&t, port, kind) => return Ok(()),
            Ok(_) => {}
            Err(_) => {
                // No /proc: give the program a fixed start-up time instead.
                std::thread::sleep(Duration::from_millis(1500));
                return Ok(());
            }
        }
        if proc.exited().is_some() || start.elapsed() >= limit {
            let status = proc.exited();
            if status.is_none() {
                proc.kill();
            }
            let (o, e) = proc.output();
            return Err(PeerError::NotReady {
                program: proc.program.clone(),
                after: start.elapsed(),
                code: status.and_then(|s| s.code()),
                output: format!("{o}\n{e}"),
            });
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn whole_secs(d: Duration) -> u64 {
    d.as_secs_f64().ceil().max(1.0) as u64
}

// ---------------------------------------------------------------------------------------------
// iperf3

/// The counts in an iperf3 UDP client's `--json` report.
#[derive(Debug, Clone, PartialEq)]
pub struct Iperf3Counts {
    pub blksize: u64,
    /// Packets the client sent, and over how long.
    pub sent_packets: u64,
    pub sent_seconds: f64,
    /// What the server (receiver) reported back: bytes received, its packet total (highest
    /// sequence number seen) and the packets it counts lost, over its own time.
    pub received_bytes: u64,
    pub receiver_packets: u64,
    pub receiver_lost: u64,
    pub receiver_seconds: f64,
}

impl Iperf3Counts {
    /// Packets the server received: its received bytes over the block size.
    pub fn delivered(&self) -> u64 {
        self.received_bytes / self.blksize.max(1)
    }
}

/// Reads an iperf3 UDP client's `--json` output.
pub fn parse_iperf3_json(text: &str) -> Result<Iperf3Counts, PeerError> {
    let bad = |what: String| PeerError::Parse {
        peer: "iperf3",
        what,
    };
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
    if let Some(err) = v.get("error").and_then(|e| e.as_str()) {
        return Err(bad(format!("iperf3 error: {err}")));
    }
    let num = |path: &[&str]| -> Result<f64, PeerError> {
        let mut cur = &v;
        for k in path {
            cur = cur
                .get(*k)
                .ok_or_else(|| bad(format!("no {}", path.join("."))))?;
        }
        cur.as_f64()
            .ok_or_else(|| bad(format!("{} is not a number", path.join("."))))
    };
    let count = |path: &[&str]| -> Result<u64, PeerError> {
        let x = num(path)?;
        if x >= 0.0 && x.is_finite() {
            Ok(x as u64)
        } else {
            Err(bad(format!("{} = {x}", path.join("."))))
        }
    };
    let protocol = v
        .get("start")
        .and_then(|s| s.get("test_start"))
        .and_then(|t| t.get("protocol"))
        .and_then(|p| p.as_str());
    if protocol != Some("UDP") {
        return Err(bad(format!("not a UDP test (protocol {protocol:?})")));
    }
    Ok(Iperf3Counts {
        blksize: count(&["start", "test_start", "blksize"])?,
        sent_packets: count(&["end", "sum_sent", "packets"])?,
        sent_seconds: num(&["end", "sum_sent", "seconds"])?,
        received_bytes: count(&["end", "sum_received", "bytes"])?,
        receiver_packets: count(&["end", "sum_received", "packets"])?,
        receiver_lost: count(&["end", "sum_received", "lost_packets"])?,
        receiver_seconds: num(&["end", "sum_received", "seconds"])?,
    })
}

/// How much of a paced iperf3 trial's tail (packets sent after the last one the server counted)
/// is the end-of-test race rather than loss: up to two 1 ms pacing intervals of the offered rate,
/// at least 16 packets. Unpaced runs excuse nothing.
pub fn iperf3_excused_tail(offered: Option<f64>, tail: u64) -> u64 {
    match offered {
        Some(r) if (tail as f64) <= (r / 500.0).ceil().max(16.0) => tail,
        _ => 0,
    }
}

fn iperf3_trial(
    bin: &Path,
    offered: Option<f64>,
    secs: Duration,
    o: &PeerOptions,
) -> Result<PeerTrial, PeerError> {
    let port = free_port()?.to_string();
    let mut srv: Vec<String> = ["-s", "-1", "-B", "127.0.0.1", "-p", &port]
        .map(String::from)
        .to_vec();
    if let Some(c) = o.rx_core {
        srv.extend(["-A".into(), c.to_string()]);
    }
    let mut server = Proc::spawn(bin, &srv, o.rx_core)?;
    wait_bound(
        &mut server,
        port.parse().unwrap_or(0),
        Bound::TcpListen,
        o.slack,
    )?;
    let mut cli: Vec<String> = [
        "-u",
        "-c",
        "127.0.0.1",
        "-p",
        &port,
        "-l",
        &PAYLOAD.to_string(),
        "-w",
        &o.socket_buffer.to_string(),
        "--json",
    ]
    .map(String::from)
    .to_vec();
    match offered {
        None => cli.extend(["-b", "0", "-t", &whole_secs(secs).to_string()].map(String::from)),
        Some(r) => {
            // -t takes whole seconds only; -k (blocks) bounds a paced trial exactly.
            let bits = (r * PAYLOAD as f64 * 8.0).round() as u64;
            let blocks = (r * secs.as_secs_f64()).round().max(1.0) as u64;
            cli.extend(["-b", &bits.to_string(), "-k", &blocks.to_string()].map(String::from));
        }
    }
    if let Some(c) = o.tx_core {
        cli.extend(["-A".into(), c.to_string()]);
    }
    let limit = Duration::from_secs(whole_secs(secs)) + o.slack;
    let client = Proc::spawn(bin, &cli, o.tx_core)?.finish(limit)?;
    // The server exits after one test; it has nothing we need beyond what the client relays.
    let _ = server.finish(Duration::from_secs(3));
    let c = match parse_iperf3_json(&client.stdout) {
        Ok(c) => c,
        Err(e) if client.status.success() => return Err(e),
        Err(_) => return Err(client.fail("iperf3 client")),
    };
    if c.blksize != PAYLOAD as u64 {
        return Err(PeerError::Parse {
            peer: "iperf3",
            what: format!("block size {} instead of {PAYLOAD}", c.blksize),
        });
    }
    let delivered = c.delivered();
    let tail = c.sent_packets.saturating_sub(c.receiver_packets);
    let excused = iperf3_excused_tail(offered, tail);
    Ok(PeerTrial::new(
        Peer::Iperf3,
        offered,
        c.sent_packets,
        true,
        delivered,
        c.receiver_lost,
        excused,
        c.receiver_lost == 0,
        c.sent_seconds,
        c.receiver_seconds,
        format!(
            "server: {} packets ({} lost) in {:.3} s; client sent {} in {:.3} s; {tail} sent after the server's last{}",
            c.receiver_packets,
            c.receiver_lost,
            c.receiver_seconds,
            c.sent_packets,
            c.sent_seconds,
            if excused > 0 { " (excused: end of test)" } else { "" }
        ),
    ))
}

// ---------------------------------------------------------------------------------------------
// sockperf

/// A number that follows `prefix` on some line of `text`.
fn number_after(text: &str, prefix: &str) -> Option<(u64, String)> {
    text.lines().find_map(|l| {
        let i = l.find(prefix)?;
        let rest = l[i + prefix.len()..].trim_start();
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        let n = digits.parse().ok()?;
        Some((n, rest[digits.len()..].to_string()))
    })
}

/// `sockperf throughput`'s sent count and duration: "Total of N messages sent in S sec".
pub fn parse_sockperf_client(text: &str) -> Result<(u64, f64), PeerError> {
    let bad = |what: &str| PeerError::Parse {
        peer: "sockperf",
        what: what.into(),
    };
    let (n, rest) =
        number_after(text, "Total of ").ok_or_else(|| bad("no \"Total of N messages sent\""))?;
    let secs = rest
        .trim_start()
        .strip_prefix("messages sent in")
        .and_then(|r| r.split_whitespace().next())
        .and_then(|s| s.parse::<f64>().ok())
        .ok_or_else(|| bad("no duration after \"messages sent in\""))?;
    Ok((n, secs))
}

/// `sockperf server`'s received count: "Total N messages received and handled".
pub fn parse_sockperf_server(text: &str) -> Result<u64, PeerError> {
    text.lines()
        .filter(|l| l.contains("messages received"))
        .find_map(|l| number_after(l, "Total ").map(|(n, _)| n))
        .ok_or(PeerError::Parse {
            peer: "sockperf",
            what: "server printed no \"Total N messages received\"".into(),
        })
}

fn sockperf_trial(
    bin: &Path,
    offered: Option<f64>,
    secs: Duration,
    o: &PeerOptions,
) -> Result<PeerTrial, PeerError> {
    let port = free_port()?;
    let buf = o.socket_buffer.to_string();
    let mut srv: Vec<String> = [
        "server",
        "-i",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "--buffer-size",
        &buf,
    ]
    .map(String::from)
    .to_vec();
    if let Some(c) = o.rx_core {
        srv.extend(["--cpu-affinity".into(), c.to_string()]);
    }
    let mut server = Proc::spawn(bin, &srv, o.rx_core)?;
    wait_bound(&mut server, port, Bound::Udp, o.slack)?;
    let mps = offered.map_or("max".to_string(), |r| {
        format!("{}", r.round().max(1.0) as u64)
    });
    let mut cli: Vec<String> = [
        "throughput",
        "-i",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-m",
        &PAYLOAD.to_string(),
        "-t",
        &whole_secs(secs).to_string(),
        "--mps",
        &mps,
        "--dontwarmup",
        "--buffer-size",
        &buf,
    ]
    .map(String::from)
    .to_vec();
    if let Some(c) = o.tx_core {
        cli.extend(["--sender-affinity".into(), c.to_string()]);
    }
    let limit = Duration::from_secs(whole_secs(secs)) + o.slack;
    let client = Proc::spawn(bin, &cli, o.tx_core)?.finish(limit)?;
    // Let the server drain its socket, then SIGINT makes it print its total.
    std::thread::sleep(Duration::from_millis(300));
    let server = server.interrupt(Duration::from_secs(3))?;
    let (sent, sent_secs) = match parse_sockperf_client(&client.stdout) {
        Ok(x) => x,
        Err(_) => return Err(client.fail("sockperf throughput")),
    };
    let delivered = match parse_sockperf_server(&server.stdout) {
        Ok(n) => n,
        Err(_) => return Err(server.fail("sockperf server")),
    };
    Ok(PeerTrial::new(
        Peer::Sockperf,
        offered,
        sent,
        true,
        delivered,
        0,
        0,
        // sockperf's server has no loss counter (without -g); it lost what it did not receive.
        delivered >= sent,
        sent_secs,
        // The server prints no time of its own: the client's duration is the time base.
        sent_secs,
        format!("server received {delivered}; client sent {sent} in {sent_secs:.3} s"),
    ))
}

// ---------------------------------------------------------------------------------------------
// spead2

/// What `spead2_recv.py` prints when its stream stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spead2RecvStats {
    /// Complete heaps handed to the application ("Shutting down stream … after N heaps").
    pub complete_heaps: Option<u64>,
    /// `heaps` stat: every heap seen, complete or not.
    pub heaps: u64,
    pub incomplete_heaps_evicted: u64,
    pub incomplete_heaps_flushed: u64,
    /// `packets` stat: packets the receiver took off its socket.
    pub packets: u64,
}

/// Reads `spead2_recv.py`'s shutdown statistics.
pub fn parse_spead2_recv(text: &str) -> Result<Spead2RecvStats, PeerError> {
    let stat = |key: &str| -> Option<u64> {
        let prefix = format!("{key}:");
        text.lines()
            .find_map(|l| l.trim().strip_prefix(&prefix)?.trim().parse().ok())
    };
    let need = |key: &str| {
        stat(key).ok_or_else(|| PeerError::Parse {
            peer: "spead2",
            what: format!("spead2_recv.py printed no `{key}:` statistic"),
        })
    };
    let complete_heaps = text.lines().find_map(|l| {
        let rest = l.strip_prefix("Shutting down stream ")?;
        let after = &rest[rest.rfind(" after ")? + " after ".len()..];
        after.split_whitespace().next()?.parse().ok()
    });
    Ok(Spead2RecvStats {
        complete_heaps,
        heaps: need("heaps")?,
        incomplete_heaps_evicted: need("incomplete_heaps_evicted")?,
        incomplete_heaps_flushed: need("incomplete_heaps_flushed")?,
        packets: need("packets")?,
    })
}

/// `spead2_send.py`'s "Sent B bytes in S s, R Gb/s": bytes and seconds.
pub fn parse_spead2_send(text: &str) -> Result<(u64, f64), PeerError> {
    text.lines()
        .find_map(|l| {
            let rest = l.trim().strip_prefix("Sent ")?;
            let mut w = rest.split_whitespace();
            let bytes = w.next()?.parse().ok()?;
            (w.next()? == "bytes" && w.next()? == "in").then_some(())?;
            let secs = w.next()?.trim_end_matches(',').trim_end_matches('s');
            Some((bytes, secs.parse().ok()?))
        })
        .ok_or(PeerError::Parse {
            peer: "spead2",
            what: "spead2_send.py printed no \"Sent N bytes in S s\"".into(),
        })
}

/// Packets spead2 cuts a data heap of `heap` payload bytes into, with `packet`-byte packets of
/// the default 64-40 flavour: 8 bytes of header, 4 item pointers of 8 bytes in every packet
/// (heap cnt, size, offset, payload length) and one more (the item) in the first. The first heap
/// also carries the descriptor, which can add one packet; the stop heap is one more packet.
pub fn spead2_packets_per_heap(heap: usize, packet: usize) -> u64 {
    let rest = packet.saturating_sub(8 + 4 * 8).max(1);
    let first = packet.saturating_sub(8 + 5 * 8);
    1 + heap.saturating_sub(first).div_ceil(rest) as u64
}

fn spead2_trial(
    send: &Path,
    recv: &Path,
    offered: Option<f64>,
    secs: Duration,
    o: &PeerOptions,
) -> Result<PeerTrial, PeerError> {
    let port = free_port()?;
    let endpoint = format!("127.0.0.1:{port}");
    let buf = o.socket_buffer.to_string();
    let mut ra: Vec<String> = ["--buffer", &buf, "--packet", &PAYLOAD.to_string()]
        .map(String::from)
        .to_vec();
    if let Some(c) = o.rx_core {
        ra.extend(["--affinity".into(), c.to_string()]);
    }
    ra.push(endpoint.clone());
    let mut receiver = Proc::spawn(recv, &ra, o.rx_core)?;
    wait_bound(&mut receiver, port, Bound::Udp, o.slack)?;

    let pph = spead2_packets_per_heap(o.spead2_heap_size, PAYLOAD);
    // Unpaced: size the run for a sender faster than spead2 has been seen to go here (~600 k pps).
    let rate_for_size = offered.unwrap_or(700_000.0);
    let heaps = ((rate_for_size * secs.as_secs_f64()) / pph as f64)
        .ceil()
        .max(2.0) as u64;
    let mut sa: Vec<String> = [
        "--heap-size",
        &o.spead2_heap_size.to_string(),
        "--heaps",
        &heaps.to_string(),
        "--packet",
        &PAYLOAD.to_string(),
        "--buffer",
        &buf,
    ]
    .map(String::from)
    .to_vec();
    if let Some(r) = offered {
        // spead2 rates count every byte of every SPEAD packet: r full packets per second.
        sa.extend(["--rate".into(), format!("{:.6}", r * PAYLOAD as f64 * 8e-9)]);
    }
    if let Some(c) = o.tx_core {
        sa.extend(["--affinity".into(), c.to_string()]);
    }
    sa.push(endpoint);
    let limit = secs * 4 + o.slack;
    let sender = Proc::spawn(send, &sa, o.tx_core)?.finish(limit)?;
    // The stop heap ends the receiver's stream; if that packet was lost, SIGINT stops it.
    let mut receiver = receiver;
    let stopped_by_stream = receiver.wait_exit(Duration::from_secs(2)).is_some();
    let receiver = if stopped_by_stream {
        receiver.finish(Duration::ZERO)?
    } else {
        receiver.interrupt(Duration::from_secs(5))?
    };
    let (bytes, sent_secs) = match parse_spead2_send(&sender.stdout) {
        Ok(x) => x,
        Err(_) => return Err(sender.fail("spead2_send.py")),
    };
    let st = match parse_spead2_recv(&receiver.stdout) {
        Ok(s) => s,
        Err(_) => return Err(receiver.fail("spead2_recv.py")),
    };
    let complete = st.complete_heaps.unwrap_or(0);
    let receiver_zero_loss = stopped_by_stream
        && complete == heaps
        && st.incomplete_heaps_evicted == 0
        && st.incomplete_heaps_flushed == 0;
    // Every heap whole: the receiver saw every packet, so its count is the sent count too.
    // Otherwise the sent count is computed (it can be one short: the first heap's descriptor).
    let computed = heaps * pph + 1;
    let sent = if receiver_zero_loss {
        st.packets
    } else {
        computed.max(st.packets)
    };
    let heaps_lost = heaps.saturating_sub(complete);
    Ok(PeerTrial::new(
        Peer::Spead2,
        offered,
        sent,
        receiver_zero_loss,
        st.packets,
        0,
        0,
        receiver_zero_loss,
        sent_secs,
        // The receiver prints no time of its own: the sender's duration is the time base.
        sent_secs,
        format!(
            "receiver: {complete}/{heaps} heaps complete ({heaps_lost} not; {} evicted, {} flushed), {} packets{}; sender: {bytes} bytes in {sent_secs:.3} s",
            st.incomplete_heaps_evicted,
            st.incomplete_heaps_flushed,
            st.packets,
            if stopped_by_stream { "" } else { ", stop heap lost (interrupted)" },
        ),
    ))
}

// ---------------------------------------------------------------------------------------------
// The suite

/// Settings of the whole suite.
#[derive(Debug, Clone, Serialize)]
pub struct PeersOptions {
    /// Length of each unpaced run (ringshot's and each peer's).
    pub unpaced: Duration,
    /// Length of each trial of the zero-loss search.
    pub trial: Duration,
    /// Bisection steps after the two bracketing trials.
    pub steps: u32,
    /// Lowest rate the search tries, pps.
    pub lo_pps: f64,
    /// Run a failed search trial once more before calling the rate failed.
    pub retry_failures: bool,
    /// Which peers to run.
    pub peers: Vec<Peer>,
    pub peer: PeerOptions,
}

impl PeersOptions {
    /// Every peer, unpaced runs of `unpaced`, 1 s search trials, 6 bisection steps from 10 k pps.
    pub fn new(unpaced: Duration, place: &Placement) -> PeersOptions {
        PeersOptions {
            unpaced,
            trial: Duration::from_secs(1),
            steps: 6,
            lo_pps: 10_000.0,
            retry_failures: true,
            peers: Peer::ALL.to_vec(),
            peer: PeerOptions::new(place),
        }
    }
}

/// One trial of a zero-loss search, whoever sent.
#[derive(Debug, Clone, Serialize)]
pub struct SearchTrial {
    pub offered_pps: f64,
    pub sent: u64,
    pub delivered: u64,
    pub lost: u64,
    pub sent_pps: f64,
    pub pass: bool,
}

impl From<&CapacityTrial> for SearchTrial {
    fn from(t: &CapacityTrial) -> SearchTrial {
        SearchTrial {
            offered_pps: t.rate_pps,
            sent: t.sent,
            delivered: t.received,
            lost: t.sent.saturating_sub(t.received).max(t.lost),
            sent_pps: t.achieved_pps,
            // The same rule as the peers' (loss alone), not `capacity_trial`'s, which also asks
            // for 97 % of the offered rate.
            pass: t.lost == 0 && t.kernel_drops == 0 && t.received >= t.sent,
        }
    }
}

impl From<&PeerTrial> for SearchTrial {
    fn from(t: &PeerTrial) -> SearchTrial {
        SearchTrial {
            offered_pps: t.offered_pps.unwrap_or(0.0),
            sent: t.sent,
            delivered: t.delivered,
            lost: t.lost,
            sent_pps: t.sent_pps,
            pass: t.passes(),
        }
    }
}

/// One sender's line of the table.
#[derive(Debug, Clone, Serialize)]
pub struct PeersRow {
    pub sender: String,
    pub is_ringshot: bool,
    pub unpaced_sent_pps: f64,
    /// Packets per second counted by the sender's own receiver.
    pub delivered_pps: f64,
    pub delivered_pct: f64,
    /// Highest offered rate with zero loss; `None` when even the lowest rate failed or the search
    /// could not run (see `search_error`).
    pub zero_loss_pps: Option<f64>,
    pub search_error: Option<String>,
    pub delivered_from: String,
    /// The unpaced run in full (a peer's [`PeerTrial`] or ringshot's case result).
    pub unpaced: serde_json::Value,
    pub search: Vec<SearchTrial>,
}

/// Ringshot's ratios to the best peer.
#[derive(Debug, Clone, Serialize)]
pub struct PeersRatio {
    pub sender: String,
    pub delivered_x: Option<f64>,
    pub zero_loss_x: Option<f64>,
}

/// Everything the suite measured.
#[derive(Debug, Clone, Serialize)]
pub struct PeersReport {
    pub payload: usize,
    pub options: PeersOptions,
    pub placement: String,
    pub rows: Vec<PeersRow>,
    /// `"peer: reason"` for every peer (or peer search) that could not run.
    pub skipped: Vec<String>,
    pub best_peer_delivered: Option<(String, f64)>,
    pub best_peer_zero_loss: Option<(String, f64)>,
    pub ratios: Vec<PeersRatio>,
}

/// The zero-loss search every sender gets: [`search_max_rate`] from `opts.lo_pps` to `hi` over
/// trials of `run`; a failed trial is run once more and the rate passes if either run did (the
/// machine is shared and noisy; the same for every sender). The answer is the highest rate a
/// passing trial *achieved* (what `spead2_bench.py` reports), `None` if the lowest rate failed.
fn zero_loss_search(
    opts: &PeersOptions,
    hi: f64,
    mut run: impl FnMut(f64) -> Result<SearchTrial, BenchError>,
) -> Result<(Option<f64>, Vec<SearchTrial>), BenchError> {
    let mut trials: Vec<SearchTrial> = Vec::new();
    let found = search_max_rate(opts.lo_pps, hi, opts.steps, |rate| {
        for _ in 0..if opts.retry_failures { 2 } else { 1 } {
            let t = run(rate)?;
            let pass = t.pass;
            trials.push(t);
            if pass {
                return Ok(true);
            }
        }
        Ok(false)
    })?;
    let best = trials
        .iter()
        .filter(|t| t.pass)
        .map(|t| t.sent_pps)
        .max_by(f64::total_cmp);
    Ok((found.and(best), trials))
}

/// Runs the suite: ringshot (GSO on and off) and every peer unpaced, then each one's zero-loss
/// search. `progress` gets a line before each step. Ringshot failing is an error; a peer failing
/// is a `skipped` line.
pub fn run_peers(
    opts: &PeersOptions,
    place: &Placement,
    mut progress: impl FnMut(&str),
) -> Result<PeersReport, BenchError> {
    let mut rows = Vec::new();
    let mut skipped = Vec::new();

    // Unpaced runs first, all of them close together in time.
    let mut ringshot_cases = Vec::new();
    for gso in [true, false] {
        progress(&format!(
            "ringshot GSO {} unpaced, {:.1} s",
            if gso { "on" } else { "off" },
            opts.unpaced.as_secs_f64()
        ));
        let case = Case {
            backend: crate::BackendChoice::Auto,
            gso,
            payload: PAYLOAD,
        };
        ringshot_cases.push(run_case(case, opts.unpaced, place)?);
    }
    let mut peer_unpaced = Vec::new();
    for &peer in &opts.peers {
        progress(&format!(
            "{} unpaced, {:.1} s",
            peer.name(),
            opts.unpaced.as_secs_f64()
        ));
        match peer.trial(None, opts.unpaced, &opts.peer) {
            Ok(t) => peer_unpaced.push((peer, t)),
            Err(e) => skipped.push(format!("{}: {e}", peer.name())),
        }
    }

    // Zero-loss searches.
    for r in &ringshot_cases {
        let label = ringshot_label(r);
        progress(&format!("{label}: zero-loss search"));
        let gso = r.gso_requested;
        let hi = r.sent_pps.max(opts.lo_pps * 2.0);
        let (zero, trials) = zero_loss_search(opts, hi, |rate| {
            let t = capacity_trial(RecvBackend::Auto, PAYLOAD, gso, rate, opts.trial, place)?;
            Ok(SearchTrial::from(&t))
        })?;
        rows.push(PeersRow {
            sender: label,
            is_ringshot: true,
            unpaced_sent_pps: r.sent_pps,
            delivered_pps: r.pps,
            delivered_pct: r.delivered_pct,
            zero_loss_pps: zero,
            search_error: None,
            delivered_from: format!("ringshot receiver ({})", r.receiver_backend),
            unpaced: serde_json::to_value(r).unwrap_or(serde_json::Value::Null),
            search: trials,
        });
    }
    for (peer, u) in &peer_unpaced {
        progress(&format!("{}: zero-loss search", peer.name()));
        let mut failure = None;
        let hi = u.sent_pps.max(opts.lo_pps * 2.0);
        let found = zero_loss_search(opts, hi, |rate| {
            match peer.trial(Some(rate), opts.trial, &opts.peer) {
                Ok(t) => Ok(SearchTrial::from(&t)),
                Err(e) => {
                    // Stop the search: a peer that cannot run a trial has no zero-loss rate.
                    failure = Some(e.to_string());
                    Err(BenchError::Config(e.to_string()))
                }
            }
        });
        let (zero, trials, search_error) = match (found, failure) {
            (Ok((z, t)), None) => (z, t, None),
            (_, Some(f)) => (None, Vec::new(), Some(f)),
            (Err(e), None) => (None, Vec::new(), Some(e.to_string())),
        };
        if let Some(e) = &search_error {
            skipped.push(format!("{} zero-loss search: {e}", peer.name()));
        }
        rows.push(PeersRow {
            sender: peer.name().to_string(),
            is_ringshot: false,
            unpaced_sent_pps: u.sent_pps,
            delivered_pps: u.delivered_pps,
            delivered_pct: u.delivered_pct,
            zero_loss_pps: zero,
            search_error,
            delivered_from: peer.delivered_from().to_string(),
            unpaced: serde_json::to_value(u).unwrap_or(serde_json::Value::Null),
            search: trials,
        });
    }
    // Peers first in the table, ringshot after them.
    rows.sort_by_key(|r| r.is_ringshot);

    let best = |f: &dyn Fn(&PeersRow) -> Option<f64>| {
        rows.iter()
            .filter(|r| !r.is_ringshot)
            .filter_map(|r| f(r).map(|v| (r.sender.clone(), v)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    };
    let best_peer_delivered = best(&|r| Some(r.delivered_pps));
    let best_peer_zero_loss = best(&|r| r.zero_loss_pps);
    let ratio = |num: Option<f64>, den: &Option<(String, f64)>| match (num, den) {
        (Some(n), Some((_, d))) if *d > 0.0 => Some(n / d),
        _ => None,
    };
    let ratios = rows
        .iter()
        .filter(|r| r.is_ringshot)
        .map(|r| PeersRatio {
            sender: r.sender.clone(),
            delivered_x: ratio(Some(r.delivered_pps), &best_peer_delivered),
            zero_loss_x: ratio(r.zero_loss_pps, &best_peer_zero_loss),
        })
        .collect();
    Ok(PeersReport {
        payload: PAYLOAD,
        options: opts.clone(),
        placement: place.description.clone(),
        rows,
        skipped,
        best_peer_delivered,
        best_peer_zero_loss,
        ratios,
    })
}

fn ringshot_label(r: &super::CaseResult) -> String {
    match (r.gso_requested, r.gso, r.receiver_gro) {
        (true, true, true) => "ringshot GSO, GRO rx*".to_string(),
        (true, true, false) => "ringshot GSO".to_string(),
        (true, false, _) => "ringshot GSO→off".to_string(),
        (false, _, _) => format!("ringshot {} no GSO", r.backend),
    }
}

impl PeersReport {
    /// The report as a table with its notes, ready to print.
    pub fn table(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let o = &self.options;
        let _ = writeln!(
            s,
            "peers: loopback 127.0.0.1, {} B UDP payload; unpaced {:.1} s each; zero-loss search {} trials of {:.1} s, bisection from {:.0} pps to the unpaced sent rate",
            self.payload,
            o.unpaced.as_secs_f64(),
            o.steps + 2,
            o.trial.as_secs_f64(),
            o.lo_pps
        );
        let _ = writeln!(
            s,
            "  delivered = packets counted by each sender's OWN receiver; peers' socket buffers {} KiB asked (kernel caps at rmem_max); {}",
            o.peer.socket_buffer >> 10,
            self.placement
        );
        let _ = writeln!(
            s,
            "{:<26} {:>12} {:>13} {:>8} {:>13}  delivered counted by",
            "sender", "sent pps", "delivered pps", "deliv %", "zero-loss pps"
        );
        for r in &self.rows {
            let zero = match (&r.zero_loss_pps, &r.search_error) {
                (Some(z), _) => format!("{z:.0}"),
                (None, Some(_)) => "error".to_string(),
                (None, None) => format!("< {:.0}", o.lo_pps),
            };
            let _ = writeln!(
                s,
                "{:<26} {:>12.0} {:>13.0} {:>8.2} {:>13}  {}",
                r.sender,
                r.unpaced_sent_pps,
                r.delivered_pps,
                r.delivered_pct,
                zero,
                r.delivered_from
            );
        }
        let fmt_best = |b: &Option<(String, f64)>| {
            b.as_ref()
                .map_or("none".to_string(), |(n, v)| format!("{v:.0} pps ({n})"))
        };
        let _ = writeln!(
            s,
            "zero-loss search trials (offered pps → achieved pps: ok | lost N):"
        );
        for r in &self.rows {
            let trials: Vec<String> = r
                .search
                .iter()
                .map(|t| {
                    let verdict = if t.pass {
                        "ok".to_string()
                    } else {
                        format!("lost {}", t.lost)
                    };
                    format!("{:.0}→{:.0} {verdict}", t.offered_pps, t.sent_pps)
                })
                .collect();
            let _ = writeln!(s, "  {}: {}", r.sender, trials.join(", "));
        }
        let _ = writeln!(
            s,
            "best peer: delivered {}; zero-loss {}",
            fmt_best(&self.best_peer_delivered),
            fmt_best(&self.best_peer_zero_loss)
        );
        let goal = |x: Option<f64>| match x {
            Some(x) => format!(
                "{x:.2}× best peer ({})",
                if x >= 2.0 {
                    "goal ≥ 2×: met"
                } else {
                    "goal ≥ 2×: NOT met"
                }
            ),
            None => "n/a (no peer or no result)".to_string(),
        };
        for q in &self.ratios {
            let _ = writeln!(
                s,
                "{}: delivered {}; zero-loss {}",
                q.sender,
                goal(q.delivered_x),
                goal(q.zero_loss_x)
            );
        }
        if self.rows.iter().any(|r| r.sender.ends_with('*')) {
            let _ = writeln!(
                s,
                "  * GSO super-packets cross loopback unsegmented into a GRO receiver: an upper bound, not a wire rate"
            );
        }
        let _ = writeln!(
            s,
            "  zero-loss = highest rate a passing trial achieved; pass = 0 lost at the sender's own receiver and every sent packet counted{}; ringshot's trials are paced, without flow control, like the peers'",
            if o.retry_failures { "; a failed trial is run once more" } else { "" }
        );
        let _ = writeln!(
            s,
            "  spead2: offered pps × 1472 B × 8 = its --rate (Gbit/s of SPEAD packets); its sent count is computed from heaps ({} B heaps), its delivered count is its receiver's",
            o.peer.spead2_heap_size
        );
        for k in &self.skipped {
            let _ = writeln!(s, "skipped: {k}");
        }
        s
    }
}

/// `ringshot bench --suite peers`: runs the suite, prints the table (and progress on stderr)
/// unless `quiet`, and returns the report as JSON.
pub fn bench_peers(
    unpaced: Duration,
    place: &Placement,
    quiet: bool,
) -> Result<serde_json::Value, BenchError> {
    let opts = PeersOptions::new(unpaced, place);
    let report = run_peers(&opts, place, |m| {
        if !quiet {
            eprintln!("  peers: {m}");
        }
    })?;
    if !quiet {
        print!("{}", report.table());
    }
    serde_json::to_value(&report).map_err(|e| BenchError::Config(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const IPERF3_20M: &str = include_str!("../../tests/fixtures/peers/iperf3_client_20m.json");
    const IPERF3_LOSSY: &str =
        include_str!("../../tests/fixtures/peers/iperf3_client_unpaced_lossy.json");
    const IPERF3_REFUSED: &str =
        include_str!("../../tests/fixtures/peers/iperf3_client_refused.json");
    const SOCKPERF_CLIENT: &str =
        include_str!("../../tests/fixtures/peers/sockperf_client_unpaced.txt");
    const SOCKPERF_SERVER: &str =
        include_str!("../../tests/fixtures/peers/sockperf_server_unpaced.txt");
    const SPEAD2_RECV_64K: &str = include_str!("../../tests/fixtures/peers/spead2_recv_64k_40.txt");
    const SPEAD2_SEND_64K: &str = include_str!("../../tests/fixtures/peers/spead2_send_64k_40.txt");
    const SPEAD2_RECV_4M: &str =
        include_str!("../../tests/fixtures/peers/spead2_recv_unpaced_4m_trimmed.txt");
    const SPEAD2_SEND_4M: &str =
        include_str!("../../tests/fixtures/peers/spead2_send_unpaced_4m.txt");
    const SPEAD2_RECV_LOSSY: &str =
        include_str!("../../tests/fixtures/peers/spead2_recv_lossy_trimmed.txt");
    const SPEAD2_SEND_LOSSY: &str =
        include_str!("../../tests/fixtures/peers/spead2_send_lossy.txt");

    #[test]
    fn iperf3_lossless() {
        let c = parse_iperf3_json(IPERF3_20M).unwrap();
        assert_eq!(c.blksize, 1472);
        assert_eq!(c.sent_packets, 1697);
        assert_eq!(c.receiver_packets, 1697);
        assert_eq!(c.receiver_lost, 0);
        assert_eq!(c.delivered(), 1697);
        assert!((c.receiver_seconds - 1.000552).abs() < 1e-9);
    }

    #[test]
    fn iperf3_lossy_counts_what_the_server_received() {
        let c = parse_iperf3_json(IPERF3_LOSSY).unwrap();
        assert_eq!(c.sent_packets, 613_970);
        assert_eq!(c.receiver_lost, 9939);
        assert_eq!(c.delivered(), 889_032_064 / 1472);
        assert_eq!(c.delivered(), c.receiver_packets - c.receiver_lost);
    }

    #[test]
    fn iperf3_errors_are_errors_not_panics() {
        let e = parse_iperf3_json(IPERF3_REFUSED).unwrap_err();
        assert!(e.to_string().contains("Connection refused"), "{e}");
        for bad in [
            "",
            "{",
            "[]",
            "{\"end\":{}}",
            "null",
            "{\"start\":{\"test_start\":{\"protocol\":\"TCP\"}}}",
        ] {
            assert!(parse_iperf3_json(bad).is_err(), "{bad}");
        }
        // Negative or non-numeric counts.
        let t = IPERF3_20M.replace("\"lost_packets\":\t0", "\"lost_packets\":\t-3");
        assert!(parse_iperf3_json(&t).is_err());
    }

    #[test]
    fn sockperf_counts() {
        assert_eq!(
            parse_sockperf_client(SOCKPERF_CLIENT).unwrap(),
            (624_356, 1.0)
        );
        assert_eq!(parse_sockperf_server(SOCKPERF_SERVER).unwrap(), 232_675);
        assert!(parse_sockperf_client("sockperf: Total of x messages").is_err());
        assert!(parse_sockperf_client("").is_err());
        assert!(parse_sockperf_server(SOCKPERF_CLIENT).is_err());
        assert!(parse_sockperf_server("sockperf: Total messages received").is_err());
    }

    #[test]
    fn spead2_lossless() {
        let r = parse_spead2_recv(SPEAD2_RECV_64K).unwrap();
        assert_eq!(r.complete_heaps, Some(40));
        assert_eq!(r.packets, 1841);
        assert_eq!(
            (r.incomplete_heaps_evicted, r.incomplete_heaps_flushed),
            (0, 0)
        );
        let (bytes, secs) = parse_spead2_send(SPEAD2_SEND_64K).unwrap();
        assert_eq!(bytes, 2_695_620);
        assert!((secs - 1.057673).abs() < 1e-9);
        // 40 data heaps and the stop heap.
        assert_eq!(40 * spead2_packets_per_heap(65536, 1472) + 1, 1841);

        let r = parse_spead2_recv(SPEAD2_RECV_4M).unwrap();
        assert_eq!(r.complete_heaps, Some(200));
        assert_eq!(r.packets, 585_802);
        assert_eq!(parse_spead2_send(SPEAD2_SEND_4M).unwrap().0, 862_294_702);
        // Here the first heap's descriptor took one more packet.
        assert_eq!(
            200 * spead2_packets_per_heap(4 << 20, 1472) + 1 + 1,
            585_802
        );
    }

    #[test]
    fn spead2_lossy() {
        let r = parse_spead2_recv(SPEAD2_RECV_LOSSY).unwrap();
        assert_eq!(r.complete_heaps, Some(17));
        assert_eq!(r.heaps, 97);
        assert_eq!(r.incomplete_heaps_evicted, 77);
        assert_eq!(r.incomplete_heaps_flushed, 3);
        assert_eq!(r.packets, 260_367);
        assert_eq!(parse_spead2_send(SPEAD2_SEND_LOSSY).unwrap().0, 431_147_502);
    }

    #[test]
    fn spead2_garbage_is_an_error() {
        assert!(parse_spead2_recv("").is_err());
        assert!(parse_spead2_recv("heaps: 3\npackets: x\n").is_err());
        assert!(parse_spead2_send("Sent lots of bytes").is_err());
        assert!(parse_spead2_send("Sent 12 bytes in ?s").is_err());
    }

    #[test]
    fn proc_net_lookup() {
        let udp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
          120: 0100007F:22B8 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 ffff 0\n";
        assert!(proc_net_has(udp, 8888, Bound::Udp));
        assert!(!proc_net_has(udp, 8889, Bound::Udp));
        let tcp = "  sl  local_address rem_address   st\n\
           0: 0100007F:14B5 00000000:0000 0A 0\n\
           1: 0100007F:14B6 0100007F:9C40 01 0\n";
        assert!(proc_net_has(tcp, 5301, Bound::TcpListen));
        assert!(!proc_net_has(tcp, 5302, Bound::TcpListen));
        assert!(!proc_net_has("garbage\nline", 1, Bound::Udp));
    }

    fn trial(
        offered: Option<f64>,
        sent: u64,
        delivered: u64,
        rx_lost: u64,
        tail: u64,
    ) -> PeerTrial {
        PeerTrial::new(
            Peer::Iperf3,
            offered,
            sent,
            true,
            delivered,
            rx_lost,
            tail,
            rx_lost == 0,
            1.0,
            1.0,
            String::new(),
        )
    }

    #[test]
    fn trial_pass_rule() {
        assert!(trial(Some(1e5), 100_000, 100_000, 0, 0).passes());
        // A sender slower than offered still passes: it is judged by what it achieved.
        let t = trial(Some(1e5), 90_000, 90_000, 0, 0);
        assert!(t.passes());
        assert_eq!(t.sent_pps, 90_000.0);
        // One packet short at the receiver.
        let t = trial(Some(1e5), 100_000, 99_999, 0, 0);
        assert!(!t.passes());
        assert_eq!(t.lost, 1);
        // The receiver's own loss count wins when it is larger.
        let t = trial(None, 10, 10, 2, 0);
        assert_eq!(t.lost, 2);
        assert!(!t.passes());
        // An excused tail is not loss, but is not delivered either.
        let t = trial(Some(1e4), 10_000, 9_992, 0, 8);
        assert!(t.passes());
        assert_eq!(t.lost, 0);
        assert!(t.delivered_pct < 100.0);
    }

    #[test]
    fn iperf3_tail_allowance() {
        // Captured: 10 000 packets at 10 k pps, the server counted 9 992 and lost none.
        assert_eq!(iperf3_excused_tail(Some(10_000.0), 8), 8);
        assert_eq!(iperf3_excused_tail(Some(10_000.0), 20), 20);
        assert_eq!(iperf3_excused_tail(Some(10_000.0), 21), 0);
        assert_eq!(iperf3_excused_tail(Some(1_000.0), 16), 16);
        assert_eq!(iperf3_excused_tail(Some(500_000.0), 1000), 1000);
        assert_eq!(iperf3_excused_tail(Some(500_000.0), 1001), 0);
        assert_eq!(iperf3_excused_tail(None, 1), 0);
    }

    #[test]
    fn missing_programs_are_not_found() {
        assert!(find_program("ringshot-no-such-peer-program").is_none());
    }

    #[test]
    fn tail_is_short_and_on_one_line() {
        assert_eq!(tail("a\nb  c", 10), "a b c");
        assert_eq!(tail("0123456789", 4), "…6789");
    }
}
