//! The `wire` suite: senders measured across a veth pair between two network namespaces instead
//! of loopback (see [`netns`] for the topology).
//!
//! Two measurements per sender, in one run and one setup:
//! - **sender-side**: the far namespace drops the stream on arrival and the far interface's
//!   `rx_packets` counts what crossed; the rate is that count over the sender's own time. GSO
//!   super-packets are cut into wire-size datagrams on the near side, so a GSO row counts real
//!   datagrams. Nobody checks the contents here, so the app writes no payload: ringshot sends
//!   what its slots hold, as the raw loops and the peers send the same buffer again (the
//!   engine still stamps each packet's header).
//! - **end-to-end**: ringshot's receiver on a real socket in the far namespace; the rate is what
//!   it delivered over its first-to-last-packet time, and loss is counted. The app writes the
//!   check pattern into every packet and the receiver checks it.
//!
//! Every ringshot backend × GSO × payload runs both ways, and each sender-side row stands beside a
//! raw loop of the same syscall with the same batch (`src/sys/rawloop.rs`), so the table shows
//! the engine's overhead as a ratio. The peers (sockperf `tp`, spead2's sender; iperf3 end to end)
//! run in the same setup; one that is missing is skipped with the reason.
//!
//! This file holds the suite's options, rows and report and runs it; the ringshot cases are in
//! `cases.rs`, the raw loops in `raw.rs`.

mod cases;
mod group;
pub mod netns;
mod peers;
mod ratio;
mod raw;
mod table;

use std::net::{SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Serialize;

use super::{which, BenchError, Placement};
use ringshot::config::BackendChoice;
use ringshot::rawloop::RawSyscall;
use ringshot::stats::Percentiles;
use ringshot::SendOrder;

use cases::{ringshot_case, ringshot_sender_side};
pub use raw::{fill_raw_ratios, raw_name, raw_syscall_for};
use raw::{raw_row, raw_rows};

pub use group::{engines_lines, engines_markdown, EnginesTable};
pub use netns::Wire;
#[cfg(test)]
pub use ratio::median_ratio;
pub(crate) use table::rounds_cell;
pub use table::{goals, pair_lines, wire_table, WireGoal};

/// Why the wire suite stopped.
#[derive(Debug)]
#[non_exhaustive]
pub enum WireError {
    /// Not root, or a tool missing: the suite cannot run here.
    Unavailable(String),
    /// Creating or reading the namespaces failed.
    Setup(String),
    /// A stop signal arrived; the wire was removed.
    Interrupted,
    Bench(BenchError),
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::Unavailable(r) => write!(f, "the wire suite {r}"),
            WireError::Setup(r) => write!(f, "wire setup: {r}"),
            WireError::Interrupted => write!(f, "interrupted; the wire was removed"),
            WireError::Bench(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for WireError {}

impl From<BenchError> for WireError {
    fn from(e: BenchError) -> WireError {
        WireError::Bench(e)
    }
}

/// How a row was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Far end drops on arrival; counted at the far interface.
    SenderSide,
    /// A real receiver socket in the far namespace.
    EndToEnd,
}

/// One measured row.
#[derive(Debug, Clone, Serialize)]
pub struct WireRow {
    /// `ringshot`, `raw`, `sockperf`, `spead2` or `iperf3`.
    pub sender: String,
    /// The ringshot backend, or the raw loop's syscall.
    pub backend: String,
    pub gso: bool,
    pub payload: usize,
    pub mode: Mode,
    /// Packets per submit (ringshot) or per round of the raw loop; `None` for the peers.
    pub batch: Option<usize>,
    /// What the sender says it sent.
    pub sent: u64,
    /// Packets that crossed the far interface.
    pub crossed: u64,
    /// End-to-end: packets the receiver delivered.
    pub delivered: Option<u64>,
    /// End-to-end: packets sent but not delivered.
    pub lost: Option<u64>,
    /// The sender's own time, seconds.
    pub seconds: f64,
    /// Sender-side: crossed ÷ seconds. End-to-end: delivered over the receiver's time.
    pub pps: f64,
    pub gbps: f64,
    /// What the sender says it sent ÷ its own time: above `pps` when packets were dropped
    /// before they crossed (or before the receiver took them).
    pub sent_pps: f64,
    pub cpu_ns_per_packet: Option<f64>,
    /// Ringshot rows: the engine thread's CPU time ÷ the sender's time, in % of one core.
    pub cpu_pct: Option<f64>,
    pub submit_ns: Option<Percentiles>,
    /// Sender-side ringshot rows: `[ringshot pps, raw pps]` of each short round run back to
    /// back with the raw loop of the same syscall, payload and GSO (see `ratio.rs`); empty
    /// without raw loops.
    pub raw_rounds: Vec<[f64; 2]>,
    /// Sender-side ringshot rows: the median over `raw_rounds` of ringshot ÷ raw (without
    /// rounds, pps ÷ the raw loop's own row).
    pub raw_ratio: Option<f64>,
    /// Ringshot rows: the sender's histograms, and the receiver's gaps end to end.
    #[serde(skip)]
    pub series: super::Series,
}

/// What the wire suite runs.
#[derive(Debug, Clone)]
pub struct WireOptions {
    pub case_secs: Duration,
    pub payloads: Vec<usize>,
    pub backends: Vec<BackendChoice>,
    /// Batch of the engine and of the raw loops; `None`: the engine's default (64, or with GSO
    /// whole super-packets: 88 at 1472 B), and each raw loop the batch of its ringshot case.
    pub batch: Option<usize>,
    pub end_to_end: bool,
    pub raw_loops: bool,
    /// Rounds of ringshot beside its raw loop behind each "× raw" ratio (see `ratio.rs`).
    pub ratio_rounds: usize,
    pub peers: bool,
    /// Record each ringshot sender-side case with perf and write its flame graph here.
    pub profile_dir: Option<std::path::PathBuf>,
    /// The send order of every ringshot case (the pairs set their own).
    pub send_order: SendOrder,
    /// The pps-vs-N table of engine groups goes up to this many engines (at most the cores
    /// available, and 8); 0 leaves it out (see `group.rs`).
    pub engines_max: usize,
    /// Only the pps-vs-N table: no backend cases, raw loops or peers.
    pub engines_only: bool,
}

impl Default for WireOptions {
    fn default() -> WireOptions {
        WireOptions {
            case_secs: Duration::from_secs(3),
            payloads: vec![64, 1472],
            backends: vec![
                BackendChoice::Send,
                BackendChoice::Mmsg,
                BackendChoice::Uring,
                BackendChoice::Xdp,
            ],
            batch: None,
            end_to_end: true,
            raw_loops: true,
            ratio_rounds: 5,
            peers: true,
            profile_dir: None,
            send_order: SendOrder::Strict,
            engines_max: group::MAX_ENGINES,
            engines_only: false,
        }
    }
}

/// Two senders at one payload, per datagram, measured back to back in alternating short rounds
/// (see `ratio.rs`), so that their ratio is not decided by when each row ran: two ringshot
/// backends (uring ÷ mmsg, uring with relaxed order ÷ mmsg), or two raw loops (io_uring SEND
/// linked ÷ unlinked).
#[derive(Debug, Clone, Serialize)]
pub struct BackendRounds {
    pub payload: usize,
    /// `[a, b]`: the ratio is a ÷ b. Ringshot backends by name (`uring`, `mmsg`; `uring-relaxed`
    /// with a relaxed send order), raw loops by their rows' name (`uring-send`,
    /// `uring-send-unlinked`).
    pub backends: [String; 2],
    /// What the ratio shows, in words.
    pub what: String,
    /// `[a pps, b pps]` of each round.
    pub rounds: Vec<[f64; 2]>,
    /// The median over the rounds of a ÷ b.
    pub ratio: Option<f64>,
}

/// Everything the wire suite measured.
#[derive(Debug, Clone, Serialize)]
pub struct WireReport {
    pub case_seconds: f64,
    /// The batch every case was given, or `None` for the engine's default (each row's `batch`).
    pub batch: Option<usize>,
    pub placement: String,
    pub topology: String,
    pub rows: Vec<WireRow>,
    pub skipped: Vec<String>,
    /// uring ÷ mmsg per datagram at each payload (with raw loops and both backends run).
    pub backend_rounds: Vec<BackendRounds>,
    pub goals: Vec<WireGoal>,
    /// Flame graphs and folded stacks written (`--profile`), relative to the profile folder.
    pub profiles: Vec<String>,
    /// Per profiled case: its flame graph's name and what the TX thread's samples say.
    pub profile_summaries: Vec<(String, super::profile::ProfileSummary)>,
    /// The pps-vs-N table of engine groups, when measured.
    pub engines: Option<EnginesTable>,
}

impl WireReport {
    /// The batches the cases ran with, in words: "batch 64", or for the engine's default the
    /// per-datagram batch and each payload's GSO batch (from the ringshot rows).
    pub fn batch_description(&self) -> String {
        if let Some(b) = self.batch {
            return format!("batch {b}");
        }
        let mut plain = std::collections::BTreeSet::new();
        let mut gso = std::collections::BTreeMap::new();
        for r in self.rows.iter().filter(|r| r.sender == "ringshot") {
            match (r.gso, r.batch) {
                (false, Some(b)) => {
                    plain.insert(b);
                }
                (true, Some(b)) => {
                    gso.insert(r.payload, b);
                }
                _ => {}
            }
        }
        let list = |v: Vec<String>| v.join(", ");
        let plain = list(plain.iter().map(|b| b.to_string()).collect());
        let gso = list(gso.iter().map(|(p, b)| format!("{b} at {p} B")).collect());
        match (plain.is_empty(), gso.is_empty()) {
            (false, false) => {
                format!("batch {plain} per datagram, with GSO whole super-packets ({gso})")
            }
            (false, true) => format!("batch {plain}"),
            (true, false) => format!("with GSO whole super-packets ({gso})"),
            (true, true) => "the engine's default batch".into(),
        }
    }
}

/// Number of measurements `run_wire` makes with `o` (for a progress bar).
pub fn planned_steps(o: &WireOptions) -> u64 {
    let engines = group::planned_steps(o) as u64;
    if o.engines_only {
        return engines;
    }
    engines + cases_steps(o)
}

/// Measurements of the backend cases, raw loops, pairs and peers.
fn cases_steps(o: &WireOptions) -> u64 {
    // With raw loops, each sender-side case is followed by its rounds beside the raw loop.
    let per_case = 1 + usize::from(o.end_to_end) + if o.raw_loops { o.ratio_rounds } else { 0 };
    let cases: usize = o.backends.iter().map(|&b| gso_modes(b).len()).sum();
    let per_payload = cases * per_case
        + if o.raw_loops {
            RawSyscall::ALL.len()
        } else {
            0
        }
        + pairs(o).len() * o.ratio_rounds
        + if o.peers { 3 } else { 0 };
    (per_payload * o.payloads.len()) as u64
}

/// GSO off and on, or off only for a backend without GSO (`xdp` builds one frame per datagram).
fn gso_modes(backend: BackendChoice) -> &'static [bool] {
    if backend == BackendChoice::Xdp {
        &[false]
    } else {
        &[false, true]
    }
}

/// Two senders a run compares in rounds at every payload.
struct Pair {
    sides: [ratio::Side; 2],
    what: &'static str,
}

/// The pairs `o` asks for. Rounds come with the raw loops:
/// - xdp ÷ mmsg per datagram, when both backends run;
/// - with the uring backend: uring ÷ mmsg per datagram, and the same with uring's send order
///   relaxed, when mmsg runs too;
/// - with the uring backend: raw io_uring SEND linked ÷ unlinked, what keeping order costs
///   io_uring per datagram.
fn pairs(o: &WireOptions) -> Vec<Pair> {
    use ratio::Side;
    let has = |b: BackendChoice| o.backends.contains(&b);
    let mut out = Vec::new();
    if !(o.raw_loops && o.ratio_rounds > 0) {
        return out;
    }
    if has(BackendChoice::Xdp) && has(BackendChoice::Mmsg) {
        out.push(Pair {
            sides: [
                Side::Ringshot(BackendChoice::Xdp, false, SendOrder::Strict),
                Side::Ringshot(BackendChoice::Mmsg, false, SendOrder::Strict),
            ],
            what: "xdp ÷ mmsg per datagram",
        });
    }
    if !has(BackendChoice::Uring) {
        return out;
    }
    if has(BackendChoice::Mmsg) {
        let mmsg = Side::Ringshot(BackendChoice::Mmsg, false, SendOrder::Strict);
        out.push(Pair {
            sides: [
                Side::Ringshot(BackendChoice::Uring, false, SendOrder::Strict),
                mmsg,
            ],
            what: "uring ÷ mmsg per datagram",
        });
        out.push(Pair {
            sides: [
                Side::Ringshot(BackendChoice::Uring, false, SendOrder::Relaxed),
                mmsg,
            ],
            what: "uring with relaxed send order ÷ mmsg per datagram",
        });
    }
    out.push(Pair {
        sides: [
            Side::Raw(RawSyscall::UringSend),
            Side::Raw(RawSyscall::UringSendUnlinked),
        ],
        what: "raw io_uring SEND linked ÷ unlinked per datagram: what keeping order costs",
    });
    out
}

/// What the measurements so far gave: rows, skip reasons and profiles.
#[derive(Default)]
struct Collected {
    rows: Vec<WireRow>,
    backend_rounds: Vec<BackendRounds>,
    skipped: Vec<String>,
    profiles: Vec<String>,
    profile_summaries: Vec<(String, super::profile::ProfileSummary)>,
}

/// Sets the wire up, runs every measurement, and removes the wire (also on error or when `stop`
/// is raised, checked between measurements and every 50 ms during one).
pub fn run_wire(
    o: &WireOptions,
    place: &Placement,
    stop: &AtomicBool,
    mut progress: impl FnMut(&str),
) -> Result<WireReport, WireError> {
    let mut wire = Wire::setup()?;
    let mut c = Collected::default();
    let r = match o.engines_only {
        true => Ok(()),
        false => measure_all(&wire, o, place, stop, &mut progress, &mut c),
    };
    let engines = r.and_then(|()| group::measure(&wire, o, stop, &mut progress, &mut c.skipped));
    let torn = wire.teardown();
    let engines = engines?;
    torn?;
    fill_raw_ratios(&mut c.rows);
    let mut goals = goals(&c.rows, &c.backend_rounds);
    goals.extend(engines.as_ref().map(group::goal));
    // Alone, the engines table is every measurement, and it measures rounds of at most
    // ROUND_SECS each.
    let case_seconds = match o.engines_only {
        true => o.case_secs.min(ratio::ROUND_SECS),
        false => o.case_secs,
    };
    Ok(WireReport {
        case_seconds: case_seconds.as_secs_f64(),
        batch: o.batch,
        placement: place.description.clone(),
        topology: format!(
            "veth {} ({}, {}, tx-udp-segmentation off) → {} ({}, {}); UDP port {} dropped by nftables at prerouting",
            wire.near_if, wire.near_ns, wire.near_addr, wire.far_if, wire.far_ns, wire.far_addr,
            Wire::DROP_PORT
        ),
        rows: c.rows,
        skipped: c.skipped,
        backend_rounds: c.backend_rounds,
        goals,
        profiles: c.profiles,
        profile_summaries: c.profile_summaries,
        engines,
    })
}

/// Every measurement, payload by payload: the ringshot cases, the raw loops, the peers.
fn measure_all(
    wire: &Wire,
    o: &WireOptions,
    place: &Placement,
    stop: &AtomicBool,
    progress: &mut impl FnMut(&str),
    c: &mut Collected,
) -> Result<(), WireError> {
    let drop_dest = SocketAddr::V4(SocketAddrV4::new(wire.far_addr, Wire::DROP_PORT));
    for &payload in &o.payloads {
        for &backend in &o.backends {
            for &gso in gso_modes(backend) {
                ringshot_case(wire, o, (backend, gso, payload), place, stop, progress, c)?;
            }
        }
        for pair in pairs(o) {
            let rounds = ratio::rounds(
                wire, o, payload, pair.sides, drop_dest, place, stop, progress, c,
            )?;
            c.backend_rounds.push(BackendRounds {
                payload,
                backends: pair.sides.map(|s| s.short_name()),
                what: pair.what.into(),
                ratio: ratio::median_ratio(&rounds),
                rounds,
            });
        }
        if o.raw_loops {
            let (rows, skipped) = (&mut c.rows, &mut c.skipped);
            raw_rows(
                wire, o, payload, drop_dest, place, stop, progress, rows, skipped,
            )?;
        }
        if o.peers {
            let (rows, skipped) = (&mut c.rows, &mut c.skipped);
            peers::run_peers(wire, o, payload, place, stop, progress, rows, skipped)?;
        }
    }
    Ok(())
}

fn on(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

fn check(stop: &AtomicBool) -> Result<(), WireError> {
    if stop.load(Ordering::Relaxed) {
        Err(WireError::Interrupted)
    } else {
        Ok(())
    }
}
