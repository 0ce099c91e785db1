//! A real-kernel fault matrix: backend {uring, mmsg, send} × GSO {on, off} × ten faults, plus xdp
//! (GSO off) × the same ten, each cell in its own pair of network namespaces joined by a veth
//! pair, with `ringshot send` in the near one and `ringshot recv` in the far one (`ip netns
//! exec`), so real MTUs, a real `tbf` qdisc, a link going down, nftables `reject` / `drop` and a
//! receiver killed outright meet the engine. xdp's frames skip the qdisc and the UDP socket, so a
//! tbf shaper does not hold them back (and drops none) and no ICMP error reaches the sender; its
//! payloads over the MTU are refused at start (exit 2, the reason in one line).
//!
//! Every cell checks the sender's books (`committed == packets + failed_packets`) against what
//! crossed the wire (an nftables counter at the far end's earliest prerouting hook, one count per
//! datagram: the near end's UDP segmentation offload is off, so a GSO super-packet is cut into
//! datagrams before it crosses) and what the far receiver got (packets, lost, duplicates,
//! reordered). Where the path loses nothing (MTU, tbf), everything must arrive exactly once, in
//! order, with exit 0; where the fault ends or empties the stream, the books still balance, no
//! packet crosses twice and the receiver gets nothing twice and nothing out of order.
//!
//! Root only, and `ip`, `nft`, `tc`, `ethtool` on PATH; otherwise every cell is skipped with the
//! reason printed. A cell that cannot run here (the sender exits 2 naming its backend: io_uring
//! unavailable) is skipped, not passed; so is a cell the machine was too slow for (the stream
//! ended before its fault could strike mid-stream: inconclusive), and more than
//! `INCONCLUSIVE_BUDGET` of those fail the test. The summary line `netns faults: N cells,
//! P passed, F failed, S skipped` is written straight to stderr (libtest captures `eprintln!` of a
//! passing test), and the test fails listing every failing cell. `NETNS_FILTER` (a substring of the
//! cell's label) runs a subset and fails when it matches nothing; `NETNS_JOBS` cells run at once
//! (default 2).
// Network namespaces, veth, tc and nftables are Linux's.
#![cfg(ringshot_netns)]

#[path = "common/netns.rs"]
mod netns;
#[path = "common/process.rs"]
mod process;
#[path = "netns_faults/report.rs"]
mod report;

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use netns::{remove_stale, unavailable_reason, Net, FAR_ADDR, PORT};
use process::{Exit, Proc};
use report::{check_completed_sender, check_receiver, check_sender, num, one_line, show, Outcome};
use serde_json::Value;

/// Streams that must arrive whole.
const EXACT_COUNT: u64 = 10_000;
const BIG_PAYLOAD_COUNT: u64 = 3_000;
/// tbf streams: 2 000 × 1500 B on the wire is about 0.5 s at 50 Mbit/s.
const TBF_COUNT: u64 = 2_000;
const TBF_RATE: &str = "50mbit";
/// Streams that a fault meets mid-way: paced, 2 s long; the fault strikes once `STRIKE_AFTER`
/// packets have crossed.
const PACED_COUNT: u64 = 10_000;
const PACED_RATE: &str = "5000pps";
const STRIKE_AFTER: u64 = 1_000;
const LINK_DOWN_FOR: Duration = Duration::from_millis(300);
/// Streams that meet a firewall.
const FIREWALL_COUNT: u64 = 2_000;
const SLOTS: &str = "1024";
const STALL_TIMEOUT: &str = "1s";
const FIREWALL_STALL_TIMEOUT: &str = "500ms";
/// Receivers stop this long after their last packet (also before the first).
const IDLE_EXIT_MS: u64 = 1_500;
const RCVBUF: u64 = 256 << 20;
const SENDER_WATCHDOG: Duration = Duration::from_secs(30);
const RECEIVER_GRACE: Duration = Duration::from_secs(8);
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);
const STRIKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Cells that may show nothing (a fault that could not strike mid-stream on a slow machine)
/// before the test fails.
const INCONCLUSIVE_BUDGET: usize = 2;
/// How long a receiver restarted on a port may wait for it to be free.
const REBIND_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Uring,
    Mmsg,
    Send,
    Xdp,
}

impl Backend {
    // xdp last, so the socket backends' cells keep their numbers (and namespace names).
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// Both veth ends at this MTU; packets of this payload must all arrive.
    Mtu { mtu: u32, payload: usize },
    /// A tbf shaper on the sending interface: its drops reach the sender as ENOBUFS and are
    /// re-sent, so everything arrives.
    Tbf { burst: &'static str },
    /// The sending interface goes down mid-stream and comes back `LINK_DOWN_FOR` later.
    LinkDown,
    /// nftables rejects the stream in the far namespace (ICMP port unreachable).
    Reject,
    /// nftables drops the stream in the far namespace.
    Drop,
    /// The receiver is SIGKILLed mid-stream and another binds the same port.
    ReceiverKilled,
}

impl Fault {
    const ALL: [Fault; 10] = [
        Fault::Mtu {
            mtu: 1280,
            payload: 1472,
        },
        Fault::Mtu {
            mtu: 1400,
            payload: 1472,
        },
        Fault::Mtu {
            mtu: 9000,
            payload: 1472,
        },
        Fault::Mtu {
            mtu: 1500,
            payload: 8000,
        },
        Fault::Tbf { burst: "32kb" },
        Fault::Tbf { burst: "256kb" },
        Fault::LinkDown,
        Fault::Reject,
        Fault::Drop,
        Fault::ReceiverKilled,
    ];

    fn name(self) -> String {
        match self {
            Fault::Mtu { mtu, payload } => format!("mtu{mtu}-payload{payload}"),
            Fault::Tbf { burst } => format!("tbf-burst{burst}"),
            Fault::LinkDown => "link-down".into(),
            Fault::Reject => "nft-reject".into(),
            Fault::Drop => "nft-drop".into(),
            Fault::ReceiverKilled => "receiver-killed".into(),
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Cell {
    backend: Backend,
    gso: bool,
    fault: Fault,
}

impl Cell {
    fn label(&self) -> String {
        format!(
            "{:<5} gso={:<3} {:<22}",
            self.backend.name(),
            if self.gso { "on" } else { "off" },
            self.fault.name()
        )
    }

    /// `ringshot send` to the far receiver with this cell's backend and GSO.
    fn send_args(&self, count: u64, payload: usize, stall: &str) -> Vec<String> {
        let mut a = strings(&["send", "--to", &format!("{FAR_ADDR}:{PORT}")]);
        a.extend(strings(&["--backend", self.backend.name()]));
        if !self.gso {
            a.push("--no-gso".into());
        }
        a.extend(strings(&["--payload", &payload.to_string()]));
        a.extend(strings(&["--count", &count.to_string(), "--json"]));
        a.extend(strings(&["--slots", SLOTS, "--stall-timeout", stall]));
        // Pinned: an unpinned sender that sleeps (ENOBUFS back-pressure) may wake on the other
        // core, and a qdisc (tbf) then dequeues on both, feeding veth's per-core receive queues:
        // the kernel delivers such a stream reordered, whatever order the sender kept.
        a.extend(strings(&["--tx-core", "0"]));
        a
    }

    /// The same, paced so the stream lasts about a second.
    fn paced_send_args(&self) -> Vec<String> {
        let mut a = self.send_args(PACED_COUNT, 1472, STALL_TIMEOUT);
        a.extend(strings(&["--rate", PACED_RATE]));
        a
    }
}

fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| s.to_string()).collect()
}

/// `ringshot recv` on the far address.
fn recv_args() -> Vec<String> {
    strings(&[
        "recv",
        "--bind",
        &format!("{FAR_ADDR}:{PORT}"),
        "--json",
        "--idle-exit-ms",
        &IDLE_EXIT_MS.to_string(),
        "--rcvbuf",
        &RCVBUF.to_string(),
    ])
}

/// A line on the process's own stderr, past libtest's capture: skips and the summary must show
/// in a passing run's log too.
fn visible(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// `ringshot args` in the near namespace.
fn sender(net: &Net, args: &[String]) -> Proc {
    Proc::start("sender", Net::ringshot(&net.near, args))
}

/// `ringshot args` in the far namespace.
fn receiver(net: &Net, who: &str, args: &[String]) -> Proc {
    Proc::start(who, Net::ringshot(&net.far, args))
}

/// Starts a receiver in the far namespace and waits until it has bound.
fn start_receiver(o: &mut Outcome, net: &Net, who: &str, args: &[String]) -> Option<Proc> {
    start_receiver_within(o, net, who, args, Duration::ZERO)
}

/// The same, trying again for up to `rebind` while the port is still taken: a SIGKILLed
/// receiver's socket can stay bound for a moment after the process is reaped (its io_uring
/// instance is torn down asynchronously), and a restarted service retries its bind.
fn start_receiver_within(
    o: &mut Outcome,
    net: &Net,
    who: &str,
    args: &[String],
    rebind: Duration,
) -> Option<Proc> {
    let deadline = Instant::now() + rebind;
    let mut refused = 0;
    loop {
        let mut p = receiver(net, who, args);
        if p.wait_for_stderr("listening on", LISTEN_TIMEOUT) {
            if refused > 0 {
                o.notes
                    .push(format!("{who}: bound after {refused} EADDRINUSE"));
            }
            return Some(p);
        }
        let exit = p.finish_by(Instant::now());
        if exit.stderr.contains("Address already in use") && Instant::now() < deadline {
            refused += 1;
            thread::sleep(Duration::from_millis(10));
            continue;
        }
        o.fail(format!(
            "{who}: never announced that it listens (exit {}): {}",
            exit.status(),
            one_line(&exit.stderr)
        ));
        return None;
    }
}

/// Ends a receiver whose sender ended at `sender_end`, and checks its report.
fn finish_receiver(o: &mut Outcome, rx: Proc, sender_end: Instant) -> Option<Value> {
    let who = rx.name.clone();
    let deadline = sender_end.max(Instant::now()) + RECEIVER_GRACE;
    let exit = rx.finish_by(deadline + Duration::from_millis(IDLE_EXIT_MS));
    check_receiver(o, &who, &exit)
}

/// Waits until `n` datagrams have crossed: `Ok(true)` with the sender still running (a fault
/// now strikes mid-stream), `Ok(false)` when the sender has ended (a slow machine: the cell
/// shows nothing), `Err` when the counter cannot be read or too little crosses in time.
fn wait_strike(net: &Net, tx: &mut Proc, n: u64) -> Result<bool, String> {
    let deadline = Instant::now() + STRIKE_TIMEOUT;
    loop {
        let got = net.wire_packets()?;
        let running = tx.running();
        if got >= n || !running {
            return Ok(running);
        }
        if Instant::now() >= deadline {
            return Err(format!("{got} of {n} packets across in {STRIKE_TIMEOUT:?}"));
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// The sender ended before the fault struck: a completed stream on a machine too slow for the
/// cell shows nothing (inconclusive); one that ended otherwise failed on its own.
fn ended_before_the_fault(o: &mut Outcome, sent: &Exit, fault: &str) {
    if sent.code == Some(0) {
        o.inconclusive = Some(format!("the stream ended before {fault}"));
    } else {
        o.fail(format!(
            "the sender ended (exit {}) before {fault}",
            sent.status()
        ));
    }
}

/// A path that loses nothing: every committed packet arrives exactly once, in order; both exit 0.
/// Returns the sender's report.
fn exact(cell: &Cell, net: &Net, o: &mut Outcome, count: u64, payload: usize) -> Option<Value> {
    o.count = count;
    let mut rx_args = recv_args();
    rx_args.extend(strings(&["--count", &count.to_string()]));
    let rx = start_receiver(o, net, "receiver", &rx_args)?;
    let start = Instant::now();
    let args = cell.send_args(count, payload, STALL_TIMEOUT);
    let sent = sender(net, &args).finish_by(start + SENDER_WATCHDOG);
    let sender = check_sender(o, cell.backend.name(), &sent, &[0]);
    if o.skipped.is_some() {
        return None;
    }
    let received = finish_receiver(o, rx, sent.at);
    o.record_wire(net);
    if let Some(v) = &sender {
        check_completed_sender(o, v, count);
    }
    o.expect_eq("wire packets", o.wire, count);
    if let Some(v) = received {
        o.expect_eq("receiver packets", num(&v, "packets"), count);
        o.expect_eq("receiver lost", num(&v, "lost"), 0);
    }
    sender
}

/// Both veth ends at `mtu`: everything arrives (a datagram over the MTU is fragmented, or GSO
/// given up for the stream).
fn mtu(cell: &Cell, net: &Net, o: &mut Outcome, mtu: u32, payload: usize) {
    if let Err(e) = net.set_mtu(mtu) {
        return o.fail(format!("set mtu: {e}"));
    }
    // AF_XDP never fragments: a payload the MTU cannot carry (IPv4 + UDP: 28 bytes) is refused
    // at start, exit 2 with the reason in one line.
    if cell.backend == Backend::Xdp && payload + 28 > mtu as usize {
        let start = Instant::now();
        let sent = sender(net, &cell.send_args(10, payload, STALL_TIMEOUT));
        let sent = sent.finish_by(start + SENDER_WATCHDOG);
        o.exits = sent.status();
        let err = sent.stderr.trim();
        if sent.code != Some(2) || !err.contains("no fragments") || err.lines().count() != 1 {
            o.fail(format!(
                "sender: exit {} (expected 2 and a one-line MTU refusal): {err:?}",
                sent.status()
            ));
        }
        return;
    }
    exact(
        cell,
        net,
        o,
        if payload > 1472 {
            BIG_PAYLOAD_COUNT
        } else {
            EXACT_COUNT
        },
        payload,
    );
}

/// A tbf shaper on the sending interface: everything arrives, and when the qdisc dropped any
/// packet the sender saw ENOBUFS (IP_RECVERR) for it.
fn tbf(cell: &Cell, net: &Net, o: &mut Outcome, burst: &str) {
    if let Err(e) = net.shape(TBF_RATE, burst) {
        return o.fail(format!("tc tbf: {e}"));
    }
    let sender = exact(cell, net, o, TBF_COUNT, 1472);
    let drops = match net.qdisc_drops() {
        Ok(d) => d,
        Err(e) => return o.fail(format!("qdisc drops: {e}")),
    };
    o.notes.push(format!("qdisc drops: {drops}"));
    if let Some(v) = sender {
        let enobufs = num(&v, "errors.ENOBUFS").unwrap_or(0);
        if drops > 0 && enobufs == 0 {
            o.fail(format!(
                "the qdisc dropped {drops} packets but the sender saw no ENOBUFS"
            ));
        }
    }
}

/// The sending interface goes down once `STRIKE_AFTER` packets have crossed and up again
/// `LINK_DOWN_FOR` later. The sender completes or ends with an error; either way its books
/// balance, nothing crossed that it did not count as sent, and the receiver got a subset of the
/// stream with nothing twice and nothing out of order.
fn link_down(cell: &Cell, net: &Net, o: &mut Outcome) {
    o.count = PACED_COUNT;
    let Some(rx) = start_receiver(o, net, "receiver", &recv_args()) else {
        return;
    };
    let start = Instant::now();
    let mut tx = sender(net, &cell.paced_send_args());
    let struck = wait_strike(net, &mut tx, STRIKE_AFTER);
    let mut flapped = Ok(());
    if struck == Ok(true) {
        flapped = net.set_link(false).and_then(|()| {
            thread::sleep(LINK_DOWN_FOR);
            net.set_link(true)
        });
    }
    let sent = tx.finish_by(start + SENDER_WATCHDOG);
    let sender = check_sender(o, cell.backend.name(), &sent, &[0, 1]);
    if o.skipped.is_some() {
        return;
    }
    match struck {
        Ok(true) => {}
        Ok(false) => ended_before_the_fault(o, &sent, "the link went down"),
        Err(e) => o.fail(format!("link down: {e}")),
    }
    if let Err(e) = flapped {
        o.fail(format!("link down and up: {e}"));
    }
    let received = finish_receiver(o, rx, sent.at);
    o.record_wire(net);
    let got = received.as_ref().and_then(|v| num(v, "packets"));
    o.expect_le(("receiver packets", got), ("wire packets", o.wire));
    if sender.is_some() {
        o.expect_le(("wire packets", o.wire), ("sender packets", o.sent));
    }
}

/// nftables `verdict` (reject: ICMP port unreachable; drop) for the stream in the far
/// namespace. The sender ends in bounded time (completes or stalls); its books balance, every
/// packet it counts as sent crossed exactly once, and the receiver got nothing.
fn firewall(cell: &Cell, net: &Net, o: &mut Outcome, verdict: &str) {
    o.count = FIREWALL_COUNT;
    if let Err(e) = net.firewall(verdict) {
        return o.fail(format!("nft {verdict}: {e}"));
    }
    let Some(rx) = start_receiver(o, net, "receiver", &recv_args()) else {
        return;
    };
    let start = Instant::now();
    let args = cell.send_args(FIREWALL_COUNT, 1472, FIREWALL_STALL_TIMEOUT);
    let sent = sender(net, &args).finish_by(start + SENDER_WATCHDOG);
    let sender = check_sender(o, cell.backend.name(), &sent, &[0, 1]);
    if o.skipped.is_some() {
        return;
    }
    let received = finish_receiver(o, rx, sent.at);
    o.record_wire(net);
    if let Some(v) = received {
        o.expect_eq("receiver packets", num(&v, "packets"), 0);
    }
    if let (Some(_), Some(sent)) = (sender, o.sent) {
        o.expect_eq("wire packets (= sender packets)", o.wire, sent);
    }
}

/// Receiver A is SIGKILLed once `STRIKE_AFTER` packets have crossed; B binds the same port right
/// after. The books balance; every packet the sender counts as sent crossed exactly once (so A
/// and B cannot both hold one); B holds an unbroken run, at most the whole stream, with nothing
/// twice and nothing out of order, ending at the stream's last packet when the sender completed.
fn receiver_killed(cell: &Cell, net: &Net, o: &mut Outcome) {
    o.count = PACED_COUNT;
    let Some(rx_a) = start_receiver(o, net, "receiver A", &recv_args()) else {
        return;
    };
    let start = Instant::now();
    let mut tx = sender(net, &cell.paced_send_args());
    let struck = wait_strike(net, &mut tx, STRIKE_AFTER);
    let a = rx_a.finish_by(Instant::now());
    let (mut rx_b, mut b_mid_stream) = (None, false);
    if struck == Ok(true) {
        rx_b = start_receiver_within(o, net, "receiver B", &recv_args(), REBIND_TIMEOUT);
        b_mid_stream = tx.running();
    }
    let sent = tx.finish_by(start + SENDER_WATCHDOG);
    let sender = check_sender(o, cell.backend.name(), &sent, &[0, 1]);
    if o.skipped.is_some() {
        return;
    }
    o.exits = format!("{}/{}", o.exits, if a.killed { "killed" } else { "ended" });
    match struck {
        Ok(true) => {}
        Ok(false) => return ended_before_the_fault(o, &sent, "receiver A was killed"),
        Err(e) => return o.fail(format!("kill: {e}")),
    }
    if rx_b.is_some() && !b_mid_stream {
        o.inconclusive = Some("the stream ended before receiver B bound".into());
    }
    if !a.killed {
        o.fail(format!(
            "receiver A ended before the kill: exit {}",
            a.status()
        ));
    }
    let Some(rx_b) = rx_b else { return };
    let b = finish_receiver(o, rx_b, sent.at);
    o.record_wire(net);
    if sender.is_some() {
        o.expect_eq(
            "wire packets (= sender packets)",
            o.wire,
            o.sent.unwrap_or(0),
        );
    }
    let Some(b) = b else { return };
    let got = num(&b, "packets");
    o.expect_le(("receiver B packets", got), ("sender packets", o.sent));
    if got == Some(0) {
        if b_mid_stream && sent.code == Some(0) {
            o.fail(format!(
                "receiver B got nothing although it bound mid-stream: {}",
                process::clip(&b.to_string())
            ));
        }
        return;
    }
    let (first, last) = (num(&b, "first_seq"), num(&b, "last_seq"));
    let run = first.zip(last).map(|(f, l)| l + 1 - f);
    o.expect_eq("receiver B run first_seq..=last_seq", run, got.unwrap_or(0));
    if sent.code == Some(0) {
        o.expect_eq("receiver B last_seq", last, PACED_COUNT - 1);
    }
}

fn run_cell(cell: &Cell, index: usize) -> Outcome {
    let mut o = Outcome::default();
    let start = Instant::now();
    match Net::new(index) {
        Err(e) => o.fail(format!("namespaces: {e}")),
        Ok(net) => match cell.fault {
            Fault::Mtu { mtu: m, payload } => mtu(cell, &net, &mut o, m, payload),
            Fault::Tbf { burst } => tbf(cell, &net, &mut o, burst),
            Fault::LinkDown => link_down(cell, &net, &mut o),
            Fault::Reject => firewall(cell, &net, &mut o, "reject"),
            Fault::Drop => firewall(cell, &net, &mut o, "drop"),
            Fault::ReceiverKilled => receiver_killed(cell, &net, &mut o),
        },
    }
    o.seconds = start.elapsed().as_secs_f64();
    o
}

fn line(cell: &Cell, o: &Outcome) -> String {
    let mut s = format!(
        "{} count={:<5} committed={:<5} sent={:<5} failed={:<5} wire={:<5} recv={:<9} lost={} \
         dups={} reord={} exit={:<10} {:>5.2}s {}",
        cell.label(),
        o.count,
        show(o.committed),
        show(o.sent),
        show(o.failed),
        show(o.wire),
        if o.received.is_empty() {
            "-"
        } else {
            &o.received
        },
        o.lost,
        o.dups,
        o.reordered,
        o.exits,
        o.seconds,
        o.verdict()
    );
    for f in &o.failures {
        s.push_str(&format!("\n      - {f}"));
    }
    if let Some(why) = &o.skipped {
        s.push_str(&format!("\n      ~ skipped: {why}"));
    }
    if let Some(why) = &o.inconclusive {
        s.push_str(&format!("\n      ~ inconclusive: {why}"));
    }
    for n in &o.notes {
        s.push_str(&format!("\n      . {n}"));
    }
    s
}

fn jobs() -> usize {
    std::env::var("NETNS_JOBS")
        .ok()
        .and_then(|j| j.parse().ok())
        .filter(|&j| j > 0)
        .unwrap_or(2)
}

/// Every cell, numbered (the number names its namespaces).
fn all_cells() -> Vec<(usize, Cell)> {
    Backend::ALL
        .into_iter()
        .flat_map(|backend| backend.gso_modes().iter().map(move |&gso| (backend, gso)))
        .flat_map(|(backend, gso)| {
            Fault::ALL.map(|fault| Cell {
                backend,
                gso,
                fault,
            })
        })
        .enumerate()
        .collect()
}

#[test]
fn netns_fault_matrix() {
    let filter = std::env::var("NETNS_FILTER").unwrap_or_default();
    let cells: Vec<(usize, Cell)> = all_cells()
        .into_iter()
        .filter(|(_, c)| c.label().contains(filter.as_str()))
        .collect();
    assert!(
        !cells.is_empty(),
        "NETNS_FILTER={filter:?} matches no cell: nothing would be tested"
    );
    if let Some(why) = unavailable_reason() {
        visible(&format!("netns faults: skipped: {why}"));
        visible(&format!(
            "netns faults: {n} cells, 0 passed, 0 failed, {n} skipped",
            n = cells.len()
        ));
        return;
    }
    remove_stale();
    let next = AtomicUsize::new(0);
    let done = Mutex::new(Vec::new());
    let start = Instant::now();
    thread::scope(|s| {
        for _ in 0..jobs().min(cells.len()) {
            s.spawn(|| {
                while let Some((index, cell)) = cells.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let o = run_cell(cell, *index);
                    println!("{}", line(cell, &o));
                    done.lock().unwrap().push((*cell, o));
                }
            });
        }
    });
    summarize(&done.into_inner().unwrap(), start.elapsed());
}

fn summarize(done: &[(Cell, Outcome)], took: Duration) {
    let count = |v: &str| done.iter().filter(|(_, o)| o.verdict() == v).count();
    for (c, o) in done.iter() {
        if matches!(o.verdict(), "SKIP" | "INCONCLUSIVE") {
            visible(&format!("netns faults: skipped {}", line(c, o)));
        }
    }
    let inconclusive = count("INCONCLUSIVE");
    visible(&format!(
        "netns faults: {} cells, {} passed, {} failed, {} skipped ({inconclusive} of them \
         inconclusive, {:.1} s)",
        done.len(),
        count("ok"),
        count("FAIL"),
        count("SKIP") + inconclusive,
        took.as_secs_f64()
    ));
    let failed: Vec<String> = done
        .iter()
        .filter(|(_, o)| o.verdict() == "FAIL")
        .map(|(c, o)| line(c, o))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} netns fault cells failed:\n{}",
        failed.len(),
        done.len(),
        failed.join("\n")
    );
    assert!(
        inconclusive <= INCONCLUSIVE_BUDGET,
        "{inconclusive} netns fault cells were inconclusive (at most {INCONCLUSIVE_BUDGET} may \
         be): the machine is too slow for the faults to strike mid-stream"
    );
}
