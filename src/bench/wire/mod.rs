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

mod group;
pub mod netns;
mod peers;
mod ratio;
mod table;

use std::net::{SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Serialize;

use super::{which, BenchError, Placement};
use ringshot::config::BackendChoice;
use ringshot::engine::{EngineError, PatternSource, SourceSender};
use ringshot::rawloop::{raw_send_loop, RawSyscall};
use ringshot::recv::RecvConfig;
use ringshot::stats::Percentiles;
use ringshot::{SendOrder, SenderConfig};

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

/// The raw loop that matches a ringshot backend with or without GSO.
pub fn raw_syscall_for(backend: &str, gso: bool) -> Option<RawSyscall> {
    match (backend, gso) {
        ("send", false) => Some(RawSyscall::Sendmsg),
        ("mmsg", false) => Some(RawSyscall::Sendmmsg),
        ("uring", false) => Some(RawSyscall::UringSend),
        ("send", true) => Some(RawSyscall::GsoSendmsg),
        ("mmsg", true) => Some(RawSyscall::GsoSendmmsg),
        ("uring", true) => Some(RawSyscall::UringGsoSendmsg),
        ("xdp", false) => Some(RawSyscall::XdpTx),
        _ => None,
    }
}

/// Fills `raw_ratio` of every sender-side ringshot row: the median of its rounds beside the raw
/// loop where it has them, else its pps over the raw row of its syscall.
pub fn fill_raw_ratios(rows: &mut [WireRow]) {
    let raw: Vec<(String, bool, usize, f64)> = rows
        .iter()
        .filter(|r| r.sender == "raw" && r.mode == Mode::SenderSide)
        .map(|r| (r.backend.clone(), r.gso, r.payload, r.pps))
        .collect();
    for r in rows.iter_mut() {
        if r.sender != "ringshot" || r.mode != Mode::SenderSide {
            continue;
        }
        if !r.raw_rounds.is_empty() {
            r.raw_ratio = ratio::median_ratio(&r.raw_rounds);
            continue;
        }
        let Some(sys) = raw_syscall_for(&r.backend, r.gso) else {
            continue;
        };
        let name = raw_name(sys);
        r.raw_ratio = raw
            .iter()
            .find(|(b, g, p, _)| *b == name && *g == r.gso && *p == r.payload)
            .filter(|(.., pps)| *pps > 0.0)
            .map(|(.., pps)| r.pps / pps);
    }
}

/// The `backend` column of a raw loop's row.
pub fn raw_name(sys: RawSyscall) -> &'static str {
    match sys {
        RawSyscall::Sendmsg => "sendmsg",
        RawSyscall::Sendmmsg => "sendmmsg",
        RawSyscall::UringSend => "uring-send",
        RawSyscall::UringSendUnlinked => "uring-send-unlinked",
        RawSyscall::GsoSendmsg => "gso-sendmsg",
        RawSyscall::GsoSendmmsg => "gso-sendmmsg",
        RawSyscall::UringGsoSendmsg => "uring-gso-sendmsg",
        RawSyscall::XdpTx => "xdp-tx",
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
    Ok(WireReport {
        case_seconds: o.case_secs.as_secs_f64(),
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

/// One ringshot backend × GSO × payload: sender-side (profiled when asked), then end to end. A
/// backend that cannot open here is a skip reason.
fn ringshot_case(
    wire: &Wire,
    o: &WireOptions,
    case: (BackendChoice, bool, usize),
    place: &Placement,
    stop: &AtomicBool,
    progress: &mut impl FnMut(&str),
    c: &mut Collected,
) -> Result<(), WireError> {
    let (backend, gso, payload) = case;
    let drop_dest = SocketAddr::V4(SocketAddrV4::new(wire.far_addr, Wire::DROP_PORT));
    let label = format!("ringshot {backend} GSO {} {payload} B", on(gso));
    check(stop)?;
    progress(&format!("{label}, sender-side"));
    match sender_side_profiled(wire, o, case, drop_dest, place, stop, c) {
        Ok(mut row) => {
            if let Some(sys) = raw_syscall_for(backend.name(), gso).filter(|_| o.raw_loops) {
                row.raw_rounds = ratio::rounds(
                    wire,
                    o,
                    payload,
                    [
                        ratio::Side::Ringshot(backend, gso, o.send_order),
                        ratio::Side::Raw(sys),
                    ],
                    drop_dest,
                    place,
                    stop,
                    progress,
                    c,
                )?;
            }
            c.rows.push(row)
        }
        Err(WireError::Bench(BenchError::Sender(EngineError::BackendUnavailable {
            backend,
            reason,
        }))) => c.skipped.push(format!("{backend}: {reason}")),
        Err(e) => return Err(e),
    }
    if o.end_to_end {
        check(stop)?;
        progress(&format!("{label}, end-to-end"));
        match ringshot_end_to_end(wire, o, case, place, stop) {
            Ok(row) => c.rows.push(row),
            Err(WireError::Bench(BenchError::Sender(EngineError::BackendUnavailable {
                ..
            }))) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One sender-side case, recorded with perf when `o.profile_dir` is set (its files' names and
/// summary are collected; a failed recording is a skip reason, not an error).
fn sender_side_profiled(
    wire: &Wire,
    o: &WireOptions,
    case: (BackendChoice, bool, usize),
    dest: SocketAddr,
    place: &Placement,
    stop: &AtomicBool,
    c: &mut Collected,
) -> Result<WireRow, WireError> {
    let Some(dir) = o.profile_dir.as_deref() else {
        return ringshot_sender_side(wire, o, case, dest, place, stop);
    };
    let (backend, gso, payload) = case;
    let stem = format!("flame-wire-{backend}-gso-{}-{payload}", on(gso));
    let limit = o.case_secs * 2 + Duration::from_secs(5);
    let rec = super::profile::start(place.tx_core, &dir.join(format!("{stem}.perf.data")), limit);
    let measured = ringshot_sender_side(wire, o, case, dest, place, stop);
    let (folded, svg) = (format!("{stem}.folded"), format!("{stem}.svg"));
    let title = format!(
        "ringshot {backend}, GSO {}, {payload} B, wire, TX core",
        on(gso)
    );
    match rec.and_then(|r| r.finish(&dir.join(&folded), &dir.join(&svg), &title)) {
        Ok(sum) => {
            c.profile_summaries.push((svg.clone(), sum));
            c.profiles.extend([folded, svg]);
        }
        Err(e) => c.skipped.push(format!("profile of {stem}: {e}")),
    }
    measured
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

fn sender_config(
    o: &WireOptions,
    (backend, gso, payload): (BackendChoice, bool, usize),
    dest: SocketAddr,
    place: &Placement,
) -> Result<SenderConfig, WireError> {
    let mut b = SenderConfig::builder(dest)
        .backend(backend)
        .gso(gso)
        .payload(payload)
        .send_order(o.send_order)
        .timeline(super::SERIES_PERIOD);
    if let Some(n) = o.batch {
        b = b.batch(n);
    }
    if let Some(c) = place.tx_core {
        b = b.tx_core(c);
    }
    b.build()
        .map_err(|e| WireError::Bench(BenchError::Config(e.to_string())))
}

/// Runs the engine in the near namespace for the case's time, stopping early on `stop`. With
/// `fill` the app writes the check pattern into every packet (a receiver checks it); without,
/// it writes nothing, like the raw loops and the peers, which send the same bytes again.
fn run_sender(
    wire: &Wire,
    cfg: SenderConfig,
    o: &WireOptions,
    stop: &AtomicBool,
    fill: bool,
) -> Result<ringshot::TxReport, WireError> {
    let payload = cfg.payload();
    let secs = o.case_secs;
    let source = PatternSource::new(payload, None, Some(secs));
    let source = if fill { source } else { source.without_fill() };
    let tx = wire
        .in_near(move || SourceSender::spawn(cfg, source))?
        .map_err(BenchError::Sender)?;
    while !tx.is_finished() {
        if stop.load(Ordering::Relaxed) {
            tx.stop();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(tx.finish().map_err(BenchError::Sender)?)
}

fn ringshot_sender_side(
    wire: &Wire,
    o: &WireOptions,
    case: (BackendChoice, bool, usize),
    dest: SocketAddr,
    place: &Placement,
    stop: &AtomicBool,
) -> Result<WireRow, WireError> {
    let cfg = sender_config(o, case, dest, place)?;
    let batch = cfg.batch();
    let before = wire.far_rx_packets()?;
    let rep = run_sender(wire, cfg, o, stop, false)?;
    std::thread::sleep(Duration::from_millis(100));
    let crossed = wire.far_rx_packets()?.saturating_sub(before);
    let pps = crossed as f64 / rep.seconds.max(1e-9);
    Ok(WireRow {
        sender: "ringshot".into(),
        backend: rep.backend.into(),
        gso: case.1,
        payload: case.2,
        mode: Mode::SenderSide,
        batch: Some(batch),
        sent: rep.packets,
        crossed,
        delivered: None,
        lost: None,
        seconds: rep.seconds,
        pps,
        gbps: pps * case.2 as f64 * 8.0 / 1e9,
        sent_pps: rep.packets as f64 / rep.seconds.max(1e-9),
        cpu_ns_per_packet: Some(rep.cpu_ns as f64 / crossed.max(1) as f64),
        cpu_pct: Some(crate::bench::cpu_pct(rep.cpu_ns, rep.seconds)),
        submit_ns: Some(rep.submit_ns),
        raw_rounds: Vec::new(),
        raw_ratio: None,
        series: super::Series::new(Some(&rep), None),
    })
}

fn ringshot_end_to_end(
    wire: &Wire,
    o: &WireOptions,
    case: (BackendChoice, bool, usize),
    place: &Placement,
    stop: &AtomicBool,
) -> Result<WireRow, WireError> {
    let bind = SocketAddr::V4(SocketAddrV4::new(wire.far_addr, 0));
    let mut rb = RecvConfig::builder(bind)
        .rcvbuf(64 << 20)
        .timeline(super::SERIES_PERIOD);
    if let Some(c) = place.rx_core {
        rb = rb.rx_core(c);
    }
    let rcfg = rb.build().map_err(|e| BenchError::Config(e.to_string()))?;
    let rx = wire
        .in_far(move || ringshot::recv::Receiver::spawn(rcfg))?
        .map_err(BenchError::Receiver)?;
    let cfg = sender_config(o, case, rx.local_addr(), place)?;
    let batch = cfg.batch();
    let before = wire.far_rx_packets()?;
    let rep = run_sender(wire, cfg, o, stop, true);
    let got = super::drain_and_stop(rx, Duration::from_millis(150))?;
    let rep = rep?;
    let crossed = wire.far_rx_packets()?.saturating_sub(before);
    let delivered = got.packets - got.duplicates;
    Ok(WireRow {
        sender: "ringshot".into(),
        backend: rep.backend.into(),
        gso: case.1,
        payload: case.2,
        mode: Mode::EndToEnd,
        batch: Some(batch),
        sent: rep.packets,
        crossed,
        delivered: Some(delivered),
        lost: Some(rep.packets.saturating_sub(delivered)),
        seconds: rep.seconds,
        pps: got.pps,
        gbps: got.pps * case.2 as f64 * 8.0 / 1e9,
        sent_pps: rep.packets as f64 / rep.seconds.max(1e-9),
        cpu_ns_per_packet: Some(rep.cpu_ns as f64 / delivered.max(1) as f64),
        cpu_pct: Some(crate::bench::cpu_pct(rep.cpu_ns, rep.seconds)),
        submit_ns: Some(rep.submit_ns),
        raw_rounds: Vec::new(),
        raw_ratio: None,
        series: super::Series::new(Some(&rep), Some(&got)),
    })
}

/// Every raw loop at `payload`, appended to `rows` (a loop that fails is a skip reason).
#[allow(clippy::too_many_arguments)]
fn raw_rows(
    wire: &Wire,
    o: &WireOptions,
    payload: usize,
    drop_dest: SocketAddr,
    place: &Placement,
    stop: &AtomicBool,
    progress: &mut impl FnMut(&str),
    rows: &mut Vec<WireRow>,
    skipped: &mut Vec<String>,
) -> Result<(), WireError> {
    for sys in RawSyscall::ALL {
        check(stop)?;
        progress(&format!("raw {} loop {payload} B", raw_name(sys)));
        match raw_row(wire, o, sys, payload, drop_dest, place) {
            Ok(row) => rows.push(row),
            Err(e) => skipped.push(format!("raw {}: {e}", raw_name(sys))),
        }
    }
    Ok(())
}

/// A raw loop's batch: the one given, or the engine's default for its ringshot case (with GSO,
/// whole super-packets), so that ringshot and its raw loop always batch alike.
fn raw_batch(o: &WireOptions, sys: RawSyscall, payload: usize) -> usize {
    let gso = sys.gso();
    o.batch.unwrap_or_else(|| {
        ringshot::config::default_batch(payload, gso, ringshot::config::DEFAULT_SLOTS, None)
    })
}

fn raw_row(
    wire: &Wire,
    o: &WireOptions,
    sys: RawSyscall,
    payload: usize,
    dest: SocketAddr,
    place: &Placement,
) -> Result<WireRow, WireError> {
    let before = wire.far_rx_packets()?;
    let batch = raw_batch(o, sys, payload);
    let (secs, core) = (o.case_secs, place.tx_core);
    let r = wire
        .in_near(move || {
            if let Some(c) = core {
                core_affinity::set_for_current(core_affinity::CoreId { id: c });
            }
            let sock = std::net::UdpSocket::bind("0.0.0.0:0")?;
            sock.connect(dest)?;
            raw_send_loop(sys, &sock, payload, batch, secs)
        })?
        .map_err(|e| WireError::Setup(format!("raw {}: {e}", raw_name(sys))))?;
    std::thread::sleep(Duration::from_millis(100));
    let crossed = wire.far_rx_packets()?.saturating_sub(before);
    let pps = crossed as f64 / r.seconds.max(1e-9);
    Ok(WireRow {
        sender: "raw".into(),
        backend: raw_name(sys).into(),
        gso: sys.gso(),
        payload,
        mode: Mode::SenderSide,
        batch: Some(batch),
        sent: r.datagrams,
        crossed,
        delivered: None,
        lost: None,
        seconds: r.seconds,
        pps,
        gbps: pps * payload as f64 * 8.0 / 1e9,
        sent_pps: r.datagrams as f64 / r.seconds.max(1e-9),
        cpu_ns_per_packet: None,
        cpu_pct: None,
        submit_ns: None,
        raw_rounds: Vec::new(),
        raw_ratio: None,
        series: super::Series::default(),
    })
}
