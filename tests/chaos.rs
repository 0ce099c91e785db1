//! The chaos matrix: backend {uring, mmsg, send} × GSO {on, off} × payload {1472, 4096, 8000,
//! 65507} × fault {late receiver, receiver restarted mid-stream, no receiver, device restart},
//! 96 cells (and xdp's below), each run as separate `ringshot send` / `ringshot recv` processes over loopback so that
//! exit statuses are part of what is checked.
//!
//! Every cell: no process hangs (a watchdog kills it and fails the cell), every receiver sees no
//! duplicate and no reordered packet, the sender's count is exact, and every exit status is the
//! documented one (0: the stream completed, nobody listening included; 1: the engine stopped with
//! an error, the JSON report still printed with an `"error"` key). All cells run; the test fails at
//! the end listing every failing cell with its reasons.
//!
//! The matrix cannot pass vacuously: a cell the machine was too slow for (inconclusive) is
//! counted, and more than `INCONCLUSIVE_BUDGET` of them fail the fault's test; a cell that cannot
//! run here (io_uring unavailable) is counted as skipped, with its reason, in the summary line,
//! which is written straight to stderr so that a passing run shows it too.
//!
//! The `xdp` backend (Linux, root) joins the matrix with GSO off: AF_XDP sends out of a network
//! device, never to this host, so its cells run across a veth wire between two network
//! namespaces (sender in the near one, receivers in the far one, `ip netns exec`), one wire
//! shared by the cells running at a time. Its frames bypass the kernel's UDP socket, so nothing
//! reports ECONNREFUSED back: a late or restarted receiver simply misses what was sent before it
//! bound (never a duplicate or a hole after it), and the sender completes with the exact count.
//! Its cells above the wire's MTU (4096, 8000, 65507 B) must be refused at start: exit 2 with
//! the reason in one line. Without root or the wire's tools they are skipped with the reason.
//!
//! `CHAOS_FILTER=uring` (a substring of the cell's label) runs a subset, and a filter that
//! matches no cell of any fault fails; `CHAOS_JOBS=N` sets how many cells run at once across the
//! four tests (default 3); `CHAOS_SEND_ARGS="--zc-threshold off"` adds flags to every sender.
//! `--nocapture` shows the lines live.

#[path = "chaos/checks.rs"]
mod checks;
mod common;
#[path = "common/process.rs"]
mod process;
#[cfg(ringshot_netns)]
#[path = "common/wire.rs"]
mod wire;

use std::io::Write;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use checks::{
    check_completed_sender, check_failed_sender, check_receiver, check_refused, check_suffix, num,
    seq_span, show, Outcome,
};
use process::Proc;
use serde_json::Value;

const PAYLOADS: [usize; 4] = [1472, 4096, 8000, 65507];
/// Pace of the streams that need a receiver to come and go while they run.
const RATE_PPS: u64 = 2_000;
/// Paced submits gather what falls due within this window, so a submit often carries several
/// packets and a refused send can land in the middle of a batch.
const PACE_QUANTUM_US: u64 = 2_000;
/// Late receiver: 1.5 s of stream; the receiver binds 0.5 s in.
const LATE_COUNT: u64 = 3_000;
const LATE_START: Duration = Duration::from_millis(500);
/// Receiver restart: 2 s of stream; receiver A stops after `FIRST_PART` packets, B binds
/// `RESTART_GAP` after A has gone.
const RESTART_COUNT: u64 = 4_000;
const FIRST_PART: u64 = 1_000;
const RESTART_GAP: Duration = Duration::from_millis(150);
/// No receiver: unpaced, so refusals hit full batches.
const NOBODY_COUNT: u64 = 3_000;
/// Device restart: the emulator restarts after `DEVICE_RESTART_AFTER` packets of a stream of
/// `DEVICE_COUNT`, with a window of `DEVICE_WINDOW` packets (one default batch) in a buffer of
/// twice that, acknowledged every `DEVICE_ACK_EVERY` packets.
const DEVICE_COUNT: u64 = 2_000;
const DEVICE_RESTART_AFTER: u64 = 500;
const DEVICE_WINDOW: u64 = 64;
const DEVICE_BUFFER_PACKETS: usize = 128;
const DEVICE_ACK_EVERY: u64 = 16;
/// Slab of the senders: big enough for several batches in flight, small enough that a debug
/// build sets it up (65507-byte slots) well within the late receiver's 0.5 s, and slots are reused
/// many times per stream.
const SLOTS: usize = 512;
/// Receivers stop this long after their last packet.
const IDLE_EXIT_MS: u64 = 500;
/// Big enough that a receiver slowed down by a loaded machine drops nothing.
const RCVBUF: u64 = 256 << 20;
/// Watchdogs: a sender must end this long after it started (every stream here lasts ≤ 2 s); a
/// receiver this long after its sender ended; a receiver must announce its port within
/// `LISTEN_TIMEOUT`.
const SENDER_WATCHDOG: Duration = Duration::from_secs(15);
const RECEIVER_GRACE: Duration = Duration::from_millis(IDLE_EXIT_MS + 5_000);
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);
/// Inconclusive cells one fault's test may have (of its 28) before it fails: beyond that the
/// machine was too slow for the matrix to show anything, which must not read as a pass.
const INCONCLUSIVE_BUDGET: usize = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Uring,
    Mmsg,
    Send,
    Xdp,
}

impl Backend {
    const ALL: [Backend; 4] = [Backend::Uring, Backend::Mmsg, Backend::Send, Backend::Xdp];

    fn name(self) -> &'static str {
        match self {
            Backend::Uring => "uring",
            Backend::Mmsg => "mmsg",
            Backend::Send => "send",
            Backend::Xdp => "xdp",
        }
    }

    /// GSO on and off, or off only (xdp builds one frame per datagram).
    fn gso_modes(self) -> &'static [bool] {
        match self {
            Backend::Xdp => &[false],
            _ => &[true, false],
        }
    }
}

/// The largest payload the xdp cells' wire carries unfragmented (MTU 1500).
const XDP_MAX_PAYLOAD: usize = 1472;

/// Where a cell's processes run: on loopback, or across the veth wire (xdp).
#[cfg(ringshot_netns)]
type Wire = wire::Wire;
#[cfg(not(ringshot_netns))]
enum Wire {}

/// The veth wire the xdp cells share while any of them runs; the last to let go removes it.
#[cfg(ringshot_netns)]
static WIRE: Mutex<std::sync::Weak<Wire>> = Mutex::new(std::sync::Weak::new());

/// The shared wire, built when none is up; or why it cannot be built here.
#[cfg(ringshot_netns)]
fn shared_wire() -> Result<Arc<Wire>, String> {
    if let Some(r) = wire::unavailable_reason() {
        return Err(format!("the namespace wire {r}"));
    }
    let mut w = WIRE.lock().unwrap();
    if let Some(up) = w.upgrade() {
        return Ok(up);
    }
    let up = Arc::new(Wire::setup().map_err(|e| e.to_string())?);
    *w = Arc::downgrade(&up);
    Ok(up)
}

#[cfg(not(ringshot_netns))]
fn shared_wire() -> Result<Arc<Wire>, String> {
    Err("network namespaces are Linux-only".into())
}

/// The wire a running xdp cell holds.
#[cfg(ringshot_netns)]
fn wire() -> Arc<Wire> {
    WIRE.lock()
        .unwrap()
        .upgrade()
        .expect("the xdp cells hold the wire while they run")
}

/// The address of a cell's receivers: loopback, or the wire's far end.
fn host(cell: &Cell) -> String {
    match cell.backend {
        #[cfg(ringshot_netns)]
        Backend::Xdp => wire().far_addr.to_string(),
        _ => "127.0.0.1".into(),
    }
}

/// Starts `ringshot args`: on this host, or for an xdp cell in the wire's near (sender) or far
/// (receiver) namespace.
fn spawn(cell: &Cell, name: &str, args: &[String], near: bool) -> Proc {
    if cell.backend != Backend::Xdp {
        return Proc::spawn(name, args);
    }
    #[cfg(ringshot_netns)]
    {
        let w = wire();
        let ns = if near { &w.near_ns } else { &w.far_ns };
        let mut cmd = std::process::Command::new("ip");
        cmd.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_ringshot")]);
        cmd.args(args);
        Proc::start(name, cmd)
    }
    #[cfg(not(ringshot_netns))]
    {
        let _ = (name, args, near);
        unreachable!("xdp cells are skipped where there is no wire")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// Nobody listens for the first 0.5 s of a paced stream.
    LateReceiver,
    /// Receiver A takes the first part and goes away; B binds the same port shortly after.
    ReceiverRestart,
    /// Nobody listens at all.
    NoReceiver,
    /// The device emulator restarts mid-stream under flow control.
    DeviceRestart,
}

impl Fault {
    const ALL: [Fault; 4] = [
        Fault::LateReceiver,
        Fault::ReceiverRestart,
        Fault::NoReceiver,
        Fault::DeviceRestart,
    ];

    fn name(self) -> &'static str {
        match self {
            Fault::LateReceiver => "late-receiver",
            Fault::ReceiverRestart => "receiver-restart",
            Fault::NoReceiver => "no-receiver",
            Fault::DeviceRestart => "device-restart",
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Cell {
    backend: Backend,
    gso: bool,
    payload: usize,
    fault: Fault,
}

impl Cell {
    fn label(&self) -> String {
        format!(
            "{:<5} gso={:<3} payload={:<5} {:<16}",
            self.backend.name(),
            if self.gso { "on" } else { "off" },
            self.payload,
            self.fault.name()
        )
    }

    /// `ringshot send` to `port` with this cell's backend, GSO and payload.
    fn send_args(&self, port: u16, count: u64) -> Vec<String> {
        let mut a = strings(&["send", "--to", &format!("{}:{port}", host(self))]);
        a.extend(strings(&["--backend", self.backend.name()]));
        if !self.gso {
            a.push("--no-gso".into());
        }
        a.extend(strings(&["--payload", &self.payload.to_string()]));
        a.extend(strings(&["--count", &count.to_string(), "--json"]));
        a.extend(strings(&["--slots", &SLOTS.to_string()]));
        a.extend(extra_send_args());
        a
    }

    /// The same, paced so the stream lasts `count / RATE_PPS` seconds.
    fn paced_send_args(&self, port: u16, count: u64) -> Vec<String> {
        let mut a = self.send_args(port, count);
        a.extend(strings(&["--rate", &format!("{RATE_PPS}pps")]));
        a.extend(strings(&[
            "--pace-quantum-us",
            &PACE_QUANTUM_US.to_string(),
        ]));
        a
    }
}

/// `CHAOS_SEND_ARGS`, split at whitespace: flags added to every sender (to tell which mechanism
/// a failing cell depends on, e.g. `--zc-threshold off`).
fn extra_send_args() -> Vec<String> {
    let extra = std::env::var("CHAOS_SEND_ARGS").unwrap_or_default();
    extra.split_whitespace().map(String::from).collect()
}

fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| s.to_string()).collect()
}

/// `ringshot recv` on `port` for `cell`, stopping `IDLE_EXIT_MS` after its last packet.
fn recv_args(cell: &Cell, port: u16) -> Vec<String> {
    strings(&[
        "recv",
        "--bind",
        &format!("{}:{port}", host(cell)),
        "--json",
        "--idle-exit-ms",
        &IDLE_EXIT_MS.to_string(),
        "--rcvbuf",
        &RCVBUF.to_string(),
    ])
}

/// A port nobody listens on right now, outside the kernel's ephemeral range: the cells leave
/// their port unbound for a while (before the late receiver, between receivers A and B), and a
/// port from the ephemeral range could meanwhile be handed to any new socket, another cell's
/// sender included. Ports are taken in turn from an offset that depends on the process id (so
/// two runs at once rarely meet), each checked by binding it.
fn free_port() -> u16 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<usize>().ok())
        .unwrap_or(32_768);
    const LOW: usize = 10_000;
    if ephemeral_low < LOW + 1_000 {
        // No room below the ephemeral range: take what the kernel gives.
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        return s.local_addr().unwrap().port();
    }
    let span = ephemeral_low - LOW;
    let offset = std::process::id() as usize * 7_919;
    for _ in 0..1_000 {
        let port = (LOW + (offset + NEXT.fetch_add(1, Ordering::Relaxed)) % span) as u16;
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free UDP port in {LOW}..{ephemeral_low}");
}

/// Starts a receiver on `port` and waits until it has bound.
fn start_receiver(o: &mut Outcome, cell: &Cell, who: &str, args: &[String]) -> Proc {
    let mut p = spawn(cell, who, args, false);
    if !p.wait_for_stderr("listening on", LISTEN_TIMEOUT) {
        o.fail(format!("{who}: never announced that it listens"));
    }
    p
}

/// Ends a receiver whose sender ended at `sender_end`. One that came up only after the stream
/// had ended (`late`) and so never got a packet is killed and makes the cell inconclusive.
fn finish_receiver(o: &mut Outcome, rx: Proc, sender_end: Instant, late: bool) -> Option<Value> {
    let who = rx.name.clone();
    let exit = rx.finish_by(sender_end.max(Instant::now()) + RECEIVER_GRACE);
    o.exits = format!("{}/{}", o.exits, exit.status());
    if exit.killed && late {
        o.inconclusive = Some(format!("{who} bound after the stream had ended"));
        return None;
    }
    check_receiver(o, &who, &exit)
}

/// Nobody listens for the first 0.5 s of a paced 1.5 s stream. Sends refused meanwhile are
/// retried, so the sender counts every packet once and exits 0; the receiver gets the stream
/// from some point on, complete to the end: once it is bound, loopback with a big buffer loses
/// nothing, and a send refused for a packet dropped before it bound is retried, not skipped.
fn late_receiver(cell: &Cell, o: &mut Outcome) {
    o.count = LATE_COUNT;
    let port = free_port();
    let start = Instant::now();
    let mut tx = spawn(
        cell,
        "sender",
        &cell.paced_send_args(port, LATE_COUNT),
        true,
    );
    thread::sleep(LATE_START);
    let rx = start_receiver(o, cell, "receiver", &recv_args(cell, port));
    let late = !tx.running();
    let sent = tx.finish_by(start + SENDER_WATCHDOG);
    let sender = check_completed_sender(o, cell, &sent);
    let Some(v) = finish_receiver(o, rx, sent.at, late) else {
        return;
    };
    if num(&v, "packets") == Some(0) {
        return o.fail("receiver: got nothing although it listened before the stream ended");
    }
    if check_suffix(o, "receiver", &v, LATE_COUNT) == Some(0) {
        // The receiver has the whole stream: the sender started only after it had bound.
        o.inconclusive = Some("the stream started after the receiver had bound".into());
    } else {
        check_refused(o, cell, &sender);
    }
}

/// Receiver A takes the first `FIRST_PART` packets and stops; B binds the same port
/// `RESTART_GAP` later. A holds exactly 0..n from the start (it listened before the sender
/// started); B holds a run ending at the last packet and starting after A's last: no number in
/// both, and the sender, which saw refusals in between, exits 0 with the exact count.
fn receiver_restart(cell: &Cell, o: &mut Outcome) {
    o.count = RESTART_COUNT;
    let port = free_port();
    let mut a_args = recv_args(cell, port);
    a_args.extend(strings(&["--count", &FIRST_PART.to_string()]));
    let rx_a = start_receiver(o, cell, "receiver A", &a_args);
    let start = Instant::now();
    let mut tx = spawn(
        cell,
        "sender",
        &cell.paced_send_args(port, RESTART_COUNT),
        true,
    );
    let a = rx_a.finish_by(start + SENDER_WATCHDOG);
    let a_json = check_receiver(o, "receiver A", &a);
    thread::sleep(RESTART_GAP);
    let rx_b = start_receiver(o, cell, "receiver B", &recv_args(cell, port));
    let late = !tx.running();
    let sent = tx.finish_by(start + SENDER_WATCHDOG);
    let exit_a = a.status();
    let sender = check_completed_sender(o, cell, &sent);
    check_refused(o, cell, &sender);
    o.exits = format!("{}/{exit_a}", o.exits);
    let b_json = finish_receiver(o, rx_b, sent.at, late);
    let mut a_end = None;
    if let Some(v) = &a_json {
        o.expect_eq("receiver A lost", num(v, "lost"), 0);
        a_end = seq_span(v).map(|(distinct, _)| distinct);
        if a_end.unwrap_or(0) < FIRST_PART {
            o.fail(format!(
                "receiver A: {} packets before stopping",
                show(a_end)
            ));
        }
    }
    let Some(v) = b_json else { return };
    if num(&v, "packets") == Some(0) {
        return o.fail("receiver B: got nothing although it listened before the stream ended");
    }
    let b_first = check_suffix(o, "receiver B", &v, RESTART_COUNT);
    if let (Some(a_end), Some(b_first)) = (a_end, b_first) {
        if b_first < a_end {
            o.fail(format!(
                "receivers overlap: A holds 0..{a_end}, B's run starts at {b_first}"
            ));
        }
    }
}

/// Nobody listens at all: every packet is sent once (refusals retried), exit 0, bounded time.
fn no_receiver(cell: &Cell, o: &mut Outcome) {
    o.count = NOBODY_COUNT;
    let start = Instant::now();
    let tx = spawn(
        cell,
        "sender",
        &cell.send_args(free_port(), NOBODY_COUNT),
        true,
    );
    let sent = tx.finish_by(start + SENDER_WATCHDOG);
    let sender = check_completed_sender(o, cell, &sent);
    check_refused(o, cell, &sender);
    o.received = "-".into();
}

/// The device emulator restarts after `DEVICE_RESTART_AFTER` packets under flow control. The
/// sender stops with an error: exit 1, its JSON report still printed with an `"error"` naming
/// the restart, and every packet it counts reached the device; the device sees no duplicate and
/// no reordered packet.
fn device_restart(cell: &Cell, o: &mut Outcome) {
    o.count = DEVICE_COUNT;
    let port = free_port();
    let mut args = recv_args(cell, port);
    let buffer = (DEVICE_BUFFER_PACKETS * cell.payload).to_string();
    let ack_every = DEVICE_ACK_EVERY.to_string();
    let restart_after = DEVICE_RESTART_AFTER.to_string();
    args.extend(strings(&[
        "--device",
        "--device-buffer",
        &buffer,
        "--drain-pps",
        "20000",
    ]));
    args.extend(strings(&["--ack", "native", "--ack-every", &ack_every]));
    args.extend(strings(&["--restart-after", &restart_after]));
    let rx = start_receiver(o, cell, "device", &args);
    let start = Instant::now();
    let mut tx_args = cell.send_args(port, DEVICE_COUNT);
    tx_args.extend(strings(&["--ack", "native", "--window-packets"]));
    tx_args.push(DEVICE_WINDOW.to_string());
    let sent = spawn(cell, "sender", &tx_args, true).finish_by(start + SENDER_WATCHDOG);
    o.exits = sent.status();
    let sender_json = check_failed_sender(o, &sent);
    let Some(dev) = finish_receiver(o, rx, sent.at, false) else {
        return;
    };
    o.expect_eq("device lost", num(&dev, "lost"), 0);
    o.expect_eq("device overflows", num(&dev, "device.overflows"), 0);
    let restarts = num(&dev, "device.restarts").unwrap_or(0);
    if restarts == 0 {
        o.fail("device: no restart happened");
    }
    o.expect_eq(
        "device injected restarts",
        num(&dev, "injected.restarts"),
        restarts,
    );
    if let Some(v) = sender_json {
        o.sent = num(&v, "packets");
        o.expect_eq(
            "sender packets (= device packets)",
            o.sent,
            num(&dev, "packets").unwrap_or(0),
        );
        if num(&v, "events.restart").unwrap_or(0) == 0 {
            o.fail(format!("sender: no restart event in {}", v["events"]));
        }
    }
}

/// An xdp cell whose payload the wire's MTU cannot carry: the sender refuses to start, exit 2
/// with the reason in one line, whatever the fault would have been.
fn refused_at_start(cell: &Cell, o: &mut Outcome) {
    let start = Instant::now();
    let tx = spawn(cell, "sender", &cell.send_args(free_port(), 10), true);
    let sent = tx.finish_by(start + SENDER_WATCHDOG);
    o.exits = sent.status();
    o.received = "-".into();
    if sent.code != Some(2) {
        o.fail(format!("sender: exit {} (expected 2)", sent.status()));
    }
    let err = sent.stderr.trim();
    if !err.contains("no fragments") || err.lines().count() != 1 {
        o.fail(format!("sender: not the one-line MTU refusal: {err:?}"));
    }
}

fn run_cell(cell: &Cell) -> Outcome {
    let mut o = Outcome::default();
    let start = Instant::now();
    if cell.backend == Backend::Xdp && cell.payload > XDP_MAX_PAYLOAD {
        refused_at_start(cell, &mut o);
        o.seconds = start.elapsed().as_secs_f64();
        return o;
    }
    // One AF_XDP socket per device queue (a second one's bind is refused, EBUSY): the xdp
    // streams on the shared wire take turns.
    static XDP_TURN: Mutex<()> = Mutex::new(());
    let _turn =
        (cell.backend == Backend::Xdp).then(|| XDP_TURN.lock().unwrap_or_else(|p| p.into_inner()));
    match cell.fault {
        Fault::LateReceiver => late_receiver(cell, &mut o),
        Fault::ReceiverRestart => receiver_restart(cell, &mut o),
        Fault::NoReceiver => no_receiver(cell, &mut o),
        Fault::DeviceRestart => device_restart(cell, &mut o),
    }
    o.seconds = start.elapsed().as_secs_f64();
    o
}

/// Cells running at once across all the tests of this file.
static RUNNING: Mutex<usize> = Mutex::new(0);
static FREED: Condvar = Condvar::new();

fn jobs() -> usize {
    std::env::var("CHAOS_JOBS")
        .ok()
        .and_then(|j| j.parse().ok())
        .filter(|&j| j > 0)
        .unwrap_or(3)
}

/// Runs `cell` once a slot is free.
fn run_cell_in_slot(cell: &Cell) -> Outcome {
    let mut running = RUNNING.lock().unwrap();
    while *running >= jobs() {
        running = FREED.wait(running).unwrap();
    }
    *running += 1;
    drop(running);
    let o = run_cell(cell);
    *RUNNING.lock().unwrap() -= 1;
    FREED.notify_one();
    o
}

fn line(cell: &Cell, o: &Outcome) -> String {
    let mut s = format!(
        "{} count={:<5} sent={:<5} recv={:<11} dups={} reord={} exit={:<8} {:>5.2}s {}",
        cell.label(),
        o.count,
        show(o.sent),
        o.received,
        o.dups,
        o.reordered,
        o.exits,
        o.seconds,
        o.verdict()
    );
    for f in &o.failures {
        s.push_str(&format!("\n      - {f}"));
    }
    if let Some(why) = &o.inconclusive {
        s.push_str(&format!("\n      ~ {why}"));
    }
    if let Some(why) = &o.skipped {
        s.push_str(&format!("\n      ~ skipped: {why}"));
    }
    s
}

/// The 28 cells of `fault`: 24 of the socket backends, 4 of xdp.
fn cells_of(fault: Fault) -> Vec<Cell> {
    Backend::ALL
        .into_iter()
        .flat_map(|backend| backend.gso_modes().iter().map(move |&gso| (backend, gso)))
        .flat_map(|(backend, gso)| {
            PAYLOADS.map(|payload| Cell {
                backend,
                gso,
                payload,
                fault,
            })
        })
        .collect()
}

/// A line on the process's own stderr, past libtest's capture: the summary (skips and
/// inconclusive cells included) must show in a passing run's log too.
fn visible(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Runs the 28 cells of `fault` (those matching `CHAOS_FILTER`), prints a line per cell and a
/// summary, and fails listing every failing cell. A filter that matches no cell of any fault
/// fails; cells that cannot run here are reported as skipped, not left out.
fn run_fault(fault: Fault) {
    let filter = std::env::var("CHAOS_FILTER").unwrap_or_default();
    let matches = |c: &Cell| c.label().contains(filter.as_str());
    assert!(
        Fault::ALL
            .into_iter()
            .any(|f| cells_of(f).iter().any(matches)),
        "CHAOS_FILTER={filter:?} matches no cell of any fault: nothing would be tested"
    );
    let uring = common::uring_available();
    let wanted: Vec<Cell> = cells_of(fault).into_iter().filter(matches).collect();
    // The xdp cells hold the wire (shared with the other faults' tests running now) until the
    // end of this function.
    let wire = match wanted.iter().any(|c| c.backend == Backend::Xdp) {
        true => Some(shared_wire()),
        false => None,
    };
    let skip_reason = |c: &Cell| match (c.backend, &wire) {
        (Backend::Uring, _) if !uring => Some("io_uring is unavailable here".to_string()),
        (Backend::Xdp, Some(Err(why))) => Some(why.clone()),
        _ => None,
    };
    let (cells, skipped): (Vec<Cell>, Vec<Cell>) =
        wanted.iter().partition(|c| skip_reason(c).is_none());
    let next = AtomicUsize::new(0);
    let done = Mutex::new(Vec::new());
    let start = Instant::now();
    thread::scope(|s| {
        for _ in 0..jobs().min(cells.len()) {
            s.spawn(|| {
                while let Some(cell) = cells.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let o = run_cell_in_slot(cell);
                    println!("{}", line(cell, &o));
                    done.lock().unwrap().push((*cell, o));
                }
            });
        }
    });
    let mut done = done.into_inner().unwrap();
    for cell in skipped {
        let o = Outcome {
            skipped: skip_reason(&cell),
            ..Outcome::default()
        };
        done.push((cell, o));
    }
    drop(wire);
    summarize(fault, &done, start.elapsed());
}

fn summarize(fault: Fault, done: &[(Cell, Outcome)], took: Duration) {
    let with = |v: &str| -> Vec<&(Cell, Outcome)> {
        done.iter().filter(|(_, o)| o.verdict() == v).collect()
    };
    let (failed, inconclusive, skipped) = (with("FAIL"), with("INCONCLUSIVE"), with("SKIP"));
    for (c, o) in skipped.iter().chain(&inconclusive) {
        visible(&format!("chaos {}: {}", fault.name(), line(c, o)));
    }
    visible(&format!(
        "chaos {}: {} cells, {} passed, {} failed, {} inconclusive, {} skipped, {:.1} s",
        fault.name(),
        done.len(),
        with("ok").len(),
        failed.len(),
        inconclusive.len(),
        skipped.len(),
        took.as_secs_f64()
    ));
    if !failed.is_empty() {
        let list: Vec<String> = failed.iter().map(|(c, o)| line(c, o)).collect();
        panic!(
            "{} of {} {} cells failed:\n{}",
            failed.len(),
            done.len(),
            fault.name(),
            list.join("\n")
        );
    }
    assert!(
        inconclusive.len() <= INCONCLUSIVE_BUDGET,
        "{} of {} {} cells were inconclusive (at most {INCONCLUSIVE_BUDGET} may be): the machine \
         was too slow for the matrix to show the fault",
        inconclusive.len(),
        done.len(),
        fault.name()
    );
}

#[test]
fn chaos_late_receiver() {
    run_fault(Fault::LateReceiver);
}

#[test]
fn chaos_receiver_restart() {
    run_fault(Fault::ReceiverRestart);
}

#[test]
fn chaos_no_receiver() {
    run_fault(Fault::NoReceiver);
}

#[test]
fn chaos_device_restart() {
    run_fault(Fault::DeviceRestart);
}
