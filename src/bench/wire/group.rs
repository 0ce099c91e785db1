//! The wire suite's pps-vs-N table: a [`SenderGroup`] of N engines (mmsg, no GSO, 64 B by
//! default), each pinned to a core of its own, measured sender-side (what crossed the far
//! interface ÷ the longest engine's time) for N = 1, 2, … up to the cores available (at most
//! [`MAX_ENGINES`]). N engines run on the first N cores; "one engine" is the mean of one engine
//! run on each of those cores in turn, since on a small machine one core is often busier than
//! another (it takes the interrupts), and one engine pinned there alone would flatter the ratio. Rounds alternate the order of the N (ascending, then descending), as the
//! other pairs of the suite do, so that drift on this machine cannot decide the ratio; the
//! table gives each N's median over the rounds, and the goal is the median over the rounds of
//! two engines ÷ one.
//!
//! Beside the engines, in the same rounds and measured the same way, the table has a baseline:
//! N bare `sendmmsg` loops (`rawloop::raw_send_loop`, the engines' batch and payload), one
//! thread pinned per core, each with its own connected socket. Their two ÷ one is what this
//! machine allows two senders at all, so a reader can judge the engines' ratio against it; it
//! is shown beside the goal, not a goal itself.

use std::io;
use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::time::Duration;

use serde::Serialize;

use super::ratio::{median_ratio, ROUND_SECS};
use super::table::WireGoal;
use super::{check, Wire, WireError, WireOptions};
use crate::bench::BenchError;
use ringshot::config::BackendChoice;
use ringshot::engine::{GroupError, PatternSource, SenderGroup};
use ringshot::rawloop::{raw_send_loop, RawSyscall};
use ringshot::SenderConfig;

/// Most engines the table goes to.
pub const MAX_ENGINES: usize = 8;
/// What two engines ÷ one should reach (the target).
pub const TWO_OVER_ONE_TARGET: f64 = 1.8;
/// The payload and backend of the table.
const PAYLOAD: usize = 64;
const BACKEND: BackendChoice = BackendChoice::Mmsg;

/// The pps-vs-N table.
#[derive(Debug, Clone, Serialize)]
pub struct EnginesTable {
    pub payload: usize,
    pub backend: String,
    pub gso: bool,
    /// The N measured, ascending.
    pub engines: Vec<usize>,
    /// Per round, the sender-side pps of each N (in the order of `engines`); for N = 1 the
    /// mean of one engine on each core of `cores` in turn (`single_rounds`).
    pub rounds: Vec<Vec<f64>>,
    /// Per round, one engine's pps on each core of `cores`, in order.
    pub single_rounds: Vec<Vec<f64>>,
    /// Per N, the median over the rounds.
    pub median_pps: Vec<f64>,
    /// Median over the rounds of two engines ÷ one, and the rounds' lowest and highest.
    pub two_over_one: Option<f64>,
    pub two_over_one_range: Option<[f64; 2]>,
    /// The cores the engines ran on (engine i on the i-th).
    pub cores: Vec<usize>,
    /// The baseline: N bare `sendmmsg` loops (`rawloop::raw_send_loop`), each in its own
    /// thread pinned to core i with its own connected socket, `raw_batch` datagrams a call,
    /// measured in the same rounds and the same way as the engines. Per round, the pps of
    /// each N, as `rounds`.
    pub raw_rounds: Vec<Vec<f64>>,
    /// Per round, one bare loop's pps on each core of `cores`, as `single_rounds`.
    pub raw_single_rounds: Vec<Vec<f64>>,
    /// Per N, the bare loops' median over the rounds.
    pub raw_median_pps: Vec<f64>,
    /// Median over the rounds of two bare loops ÷ one (the machine's own ceiling for the
    /// goal's ratio), and the rounds' lowest and highest.
    pub raw_two_over_one: Option<f64>,
    pub raw_two_over_one_range: Option<[f64; 2]>,
    /// Datagrams per `sendmmsg` call of the bare loops (the engines' default batch).
    pub raw_batch: usize,
    /// Per N, the median over the rounds of the engines' pps ÷ the bare loops'.
    pub engines_over_raw: Vec<Option<f64>>,
}

/// The N the table measures with `max` engines at most on `cores`.
fn engine_counts(max: usize, cores: usize) -> Vec<usize> {
    (1..=max.min(cores).min(MAX_ENGINES)).collect()
}

/// Measurements the table makes (for the progress bar): engines and bare loops alike.
pub fn planned_steps(o: &WireOptions) -> usize {
    match engine_counts(o.engines_max, ringshot::available_cores().len()).len() {
        n if n < 2 => 0,
        // N = 2.. once each, N = 1 once per core of the largest group; twice (engines, loops).
        n => 2 * (n - 1 + n) * o.ratio_rounds.max(1),
    }
}

/// The two senders a round measures on the same cores.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Sender {
    /// A [`SenderGroup`] of engines.
    Engines,
    /// Bare `sendmmsg` loops, one thread each.
    RawLoops,
}

/// One round's rates: per N (in the order of the counts) and per core for N = 1.
#[derive(Default)]
struct Round {
    pps: Vec<f64>,
    singles: Vec<f64>,
}

/// What every measurement of the table shares.
struct Setup<'a> {
    wire: &'a Wire,
    dest: SocketAddr,
    secs: Duration,
    batch: usize,
    stop: &'a AtomicBool,
}

impl Setup<'_> {
    /// One measurement of `sender` on `cores`, sender-side pps.
    fn pps(&self, sender: Sender, cores: &[usize]) -> Result<f64, WireError> {
        match sender {
            Sender::Engines => group_pps(self.wire, self.dest, cores, self.secs, self.stop),
            Sender::RawLoops => raw_loops_pps(self.wire, self.dest, cores, self.secs, self.batch),
        }
    }
}

/// Measures the table; `None` when it is turned off or this machine has one core (a skip
/// reason is given then).
pub(super) fn measure(
    wire: &Wire,
    o: &WireOptions,
    stop: &AtomicBool,
    progress: &mut impl FnMut(&str),
    skipped: &mut Vec<String>,
) -> Result<Option<EnginesTable>, WireError> {
    if o.engines_max == 0 {
        return Ok(None);
    }
    let cores = ringshot::available_cores();
    let counts = engine_counts(o.engines_max, cores.len());
    if counts.len() < 2 {
        skipped.push(format!(
            "engines table: needs two cores, this process has {}",
            cores.len()
        ));
        return Ok(None);
    }
    let setup = Setup {
        wire,
        dest: SocketAddr::V4(SocketAddrV4::new(wire.far_addr, Wire::DROP_PORT)),
        secs: o.case_secs.min(ROUND_SECS),
        batch: ringshot::config::default_batch(
            PAYLOAD,
            false,
            ringshot::config::DEFAULT_SLOTS,
            None,
        ),
        stop,
    };
    let used = &cores[..*counts.last().expect("two or more")];
    let (mut eng, mut raw) = (Vec::new(), Vec::new());
    for round in 0..o.ratio_rounds.max(1) {
        let [e, r] = measure_round(&setup, &counts, &cores, used, round, progress)?;
        eng.push(e);
        raw.push(r);
    }
    let (rounds, single_rounds): (Vec<_>, Vec<_>) =
        eng.into_iter().map(|r| (r.pps, r.singles)).unzip();
    let (raw_rounds, raw_single_rounds): (Vec<_>, Vec<_>) =
        raw.into_iter().map(|r| (r.pps, r.singles)).unzip();
    let (two_over_one, two_over_one_range) = ratio_of_two(&rounds);
    let (raw_two_over_one, raw_two_over_one_range) = ratio_of_two(&raw_rounds);
    let engines_over_raw = (0..counts.len())
        .map(|i| {
            let pairs: Vec<[f64; 2]> = rounds
                .iter()
                .zip(&raw_rounds)
                .map(|(e, r)| [e[i], r[i]])
                .collect();
            median_ratio(&pairs)
        })
        .collect();
    Ok(Some(EnginesTable {
        payload: PAYLOAD,
        backend: BACKEND.name().into(),
        gso: false,
        engines: counts.clone(),
        median_pps: medians(&rounds, counts.len()),
        raw_median_pps: medians(&raw_rounds, counts.len()),
        rounds,
        two_over_one,
        two_over_one_range,
        cores: used.to_vec(),
        single_rounds,
        raw_rounds,
        raw_single_rounds,
        raw_two_over_one,
        raw_two_over_one_range,
        raw_batch: setup.batch,
        engines_over_raw,
    }))
}

/// One round: each N in turn (ascending in even rounds, descending in odd ones), the engines
/// and the bare loops back to back on the same cores (which goes first alternating per round).
/// N = 1 is one sender on each core of `used` in turn, their mean: so that a core busier than
/// the others (interrupts, other work) weighs on both sides of the ratio alike.
fn measure_round(
    setup: &Setup,
    counts: &[usize],
    cores: &[usize],
    used: &[usize],
    round: usize,
    progress: &mut impl FnMut(&str),
) -> Result<[Round; 2], WireError> {
    let senders = if round.is_multiple_of(2) {
        [Sender::Engines, Sender::RawLoops]
    } else {
        [Sender::RawLoops, Sender::Engines]
    };
    let order: Vec<usize> = if round.is_multiple_of(2) {
        (0..counts.len()).collect()
    } else {
        (0..counts.len()).rev().collect()
    };
    let mut out: [Round; 2] = Default::default();
    for r in &mut out {
        r.pps = vec![0.0; counts.len()];
    }
    let slot = |s: Sender| usize::from(s == Sender::RawLoops);
    let what = |s: Sender, n: usize| match (s, n) {
        (Sender::Engines, 1) => "1 engine".to_string(),
        (Sender::Engines, n) => format!("{n} engines"),
        (Sender::RawLoops, 1) => "1 raw sendmmsg loop".to_string(),
        (Sender::RawLoops, n) => format!("{n} raw sendmmsg loops"),
    };
    for i in order {
        let n = counts[i];
        let groups: Vec<&[usize]> = if n > 1 {
            vec![&cores[..n]]
        } else {
            used.chunks(1).collect()
        };
        for group in groups {
            for s in senders {
                check(setup.stop)?;
                let on = if n == 1 {
                    format!(" on core {}", group[0])
                } else {
                    String::new()
                };
                progress(&format!(
                    "{} {BACKEND} {PAYLOAD} B{on}, round {}",
                    what(s, n),
                    round + 1
                ));
                let pps = setup.pps(s, group)?;
                let r = &mut out[slot(s)];
                if n == 1 {
                    r.singles.push(pps);
                } else {
                    r.pps[i] = pps;
                }
            }
        }
        if n == 1 {
            for r in &mut out {
                r.pps[i] = r.singles.iter().sum::<f64>() / r.singles.len().max(1) as f64;
            }
        }
    }
    Ok(out)
}

/// Per N (`len` of them), the median over the rounds.
fn medians(rounds: &[Vec<f64>], len: usize) -> Vec<f64> {
    (0..len)
        .map(|i| {
            let mut v: Vec<f64> = rounds.iter().map(|r| r[i]).collect();
            v.sort_by(f64::total_cmp);
            let m = v.len();
            if m == 0 {
                0.0
            } else if m % 2 == 1 {
                v[m / 2]
            } else {
                (v[m / 2 - 1] + v[m / 2]) / 2.0
            }
        })
        .collect()
}

/// The median over the rounds of N = 2 ÷ N = 1, and the rounds' lowest and highest.
fn ratio_of_two(rounds: &[Vec<f64>]) -> (Option<f64>, Option<[f64; 2]>) {
    let pairs: Vec<[f64; 2]> = rounds.iter().map(|r| [r[1], r[0]]).collect();
    let range = super::ratio::round_ratios(&pairs).fold(None, |r: Option<[f64; 2]>, x| {
        Some(r.map_or([x, x], |[lo, hi]| [lo.min(x), hi.max(x)]))
    });
    (median_ratio(&pairs), range)
}

/// One measurement: `cores.len()` engines for `secs`, what crossed the far interface ÷ the
/// longest engine's time.
fn group_pps(
    wire: &Wire,
    dest: SocketAddr,
    cores: &[usize],
    secs: Duration,
    stop: &AtomicBool,
) -> Result<f64, WireError> {
    let config = |e: String| WireError::Bench(BenchError::Config(e));
    let cfg = SenderConfig::builder(dest)
        .backend(BACKEND)
        .gso(false)
        .payload(PAYLOAD)
        .build()
        .map_err(|e| config(e.to_string()))?;
    let before = wire.far_rx_packets()?;
    let cores = cores.to_vec();
    let group = wire
        .in_near(move || {
            SenderGroup::builder(cfg)
                .tx_cores(&cores)
                .spawn_sources(|_, _| PatternSource::new(PAYLOAD, None, Some(secs)).without_fill())
        })?
        .map_err(|e| match e {
            GroupError::Spawn { error, .. } => WireError::Bench(BenchError::Sender(error)),
            other => config(other.to_string()),
        })?;
    while !group.is_finished() {
        if stop.load(Ordering::Relaxed) {
            group.stop();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let report = group
        .finish()
        .map_err(|e| WireError::Setup(format!("engines: {e}")))?;
    std::thread::sleep(Duration::from_millis(100));
    let crossed = wire.far_rx_packets()?.saturating_sub(before);
    Ok(crossed as f64 / report.total.seconds.max(1e-9))
}

/// One measurement of the baseline: `cores.len()` bare `sendmmsg` loops for `secs`, each in a
/// thread of its own pinned to its core, with its own UDP socket made and connected there (in
/// the near namespace, and on the core it sends from, as an engine's), started together; what
/// crossed the far interface ÷ the longest loop's time, as [`group_pps`].
fn raw_loops_pps(
    wire: &Wire,
    dest: SocketAddr,
    cores: &[usize],
    secs: Duration,
    batch: usize,
) -> Result<f64, WireError> {
    let before = wire.far_rx_packets()?;
    let cores = cores.to_vec();
    let results = wire.in_near(move || {
        let start = Barrier::new(cores.len());
        std::thread::scope(|s| {
            let loops: Vec<_> = cores
                .iter()
                .map(|&core| {
                    let start = &start;
                    s.spawn(move || {
                        core_affinity::set_for_current(core_affinity::CoreId { id: core });
                        let sock = UdpSocket::bind("0.0.0.0:0").and_then(|s| {
                            s.connect(dest)?;
                            Ok(s)
                        });
                        // Every loop waits here, a failed one too, so none is left waiting.
                        start.wait();
                        raw_send_loop(RawSyscall::Sendmmsg, &sock?, PAYLOAD, batch, secs)
                    })
                })
                .collect();
            loops
                .into_iter()
                .map(|l| {
                    l.join()
                        .unwrap_or_else(|_| Err(io::Error::other("the loop's thread panicked")))
                })
                .collect::<io::Result<Vec<_>>>()
        })
    })?;
    let results = results.map_err(|e| WireError::Setup(format!("raw sendmmsg loops: {e}")))?;
    std::thread::sleep(Duration::from_millis(100));
    let crossed = wire.far_rx_packets()?.saturating_sub(before);
    let longest = results.iter().map(|r| r.seconds).fold(0.0, f64::max);
    Ok(crossed as f64 / longest.max(1e-9))
}

/// The goal line of the table: two engines ÷ one ≥ [`TWO_OVER_ONE_TARGET`].
pub fn goal(t: &EnginesTable) -> WireGoal {
    WireGoal {
        goal: format!(
            "two engines ÷ one, {} {} B sender-side",
            t.backend, t.payload
        ),
        target: TWO_OVER_ONE_TARGET,
        measured: t.two_over_one,
        pass: t.two_over_one.map(|m| m >= TWO_OVER_ONE_TARGET),
        rounds_range: t.two_over_one_range,
    }
}

/// Per core of `cores`, the mean over the rounds of one sender on it: "core 0 1433203, …".
fn per_core_means(cores: &[usize], single_rounds: &[Vec<f64>]) -> String {
    cores
        .iter()
        .enumerate()
        .map(|(k, c)| {
            let v: Vec<f64> = single_rounds
                .iter()
                .filter_map(|r| r.get(k))
                .copied()
                .collect();
            format!(
                "core {c} {:.0}",
                v.iter().sum::<f64>() / v.len().max(1) as f64
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `pps ÷ one`, 0 where one is 0.
fn times(pps: f64, one: f64) -> f64 {
    if one > 0.0 {
        pps / one
    } else {
        0.0
    }
}

/// A ratio with its rounds' range: "1.78 (rounds 1.76–1.80)", "–" when not measured.
fn ratio_text(r: Option<f64>, range: Option<[f64; 2]>) -> String {
    r.map_or("–".into(), |r| {
        let range = range.map_or(String::new(), |[lo, hi]| {
            format!(" (rounds {lo:.2}–{hi:.2})")
        });
        format!("{r:.2}{range}")
    })
}

/// The line that sets the goal's ratio against the bare loops' (the machine's ceiling), and the
/// engines ÷ bare loops at N = 2 (informational, not a goal).
fn ceiling_line(t: &EnginesTable) -> String {
    let at_two = t
        .engines
        .iter()
        .position(|&n| n == 2)
        .and_then(|i| t.engines_over_raw.get(i).copied().flatten());
    format!(
        "engines two ÷ one {} against bare loops' {} (the machine's ceiling here); engines ÷ raw \
         loops at N = 2: {}",
        ratio_text(t.two_over_one, t.two_over_one_range),
        ratio_text(t.raw_two_over_one, t.raw_two_over_one_range),
        ratio_text(at_two, None)
    )
}

/// The table as text: one line per N with its median pps and its ratio to one engine, beside
/// the bare loops'.
pub fn engines_lines(t: &EnginesTable) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "  engines ({} {} B, GSO off, sender-side, median of {} alternating rounds; cores {:?}), \
         beside raw loops (bare sendmmsg, {} a call, one thread per core):",
        t.backend,
        t.payload,
        t.rounds.len(),
        t.cores,
        t.raw_batch
    );
    let one = t.median_pps.first().copied().unwrap_or(0.0);
    let raw_one = t.raw_median_pps.first().copied().unwrap_or(0.0);
    for (i, (n, pps)) in t.engines.iter().zip(&t.median_pps).enumerate() {
        let raw = t.raw_median_pps.get(i).copied().unwrap_or(0.0);
        let _ = writeln!(
            s,
            "    N = {n}: {pps:>12.0} pps  {:>5.2} × one   raw loops {raw:>12.0} pps  {:>5.2} × one",
            times(*pps, one),
            times(raw, raw_one)
        );
    }
    if !t.single_rounds.is_empty() {
        let _ = writeln!(
            s,
            "    N = 1 is one engine on each core in turn, mean pps: {}; one raw loop: {}",
            per_core_means(&t.cores, &t.single_rounds),
            per_core_means(&t.cores, &t.raw_single_rounds)
        );
    }
    if let Some(r) = t.two_over_one {
        let range = t.two_over_one_range.map_or(String::new(), |[lo, hi]| {
            format!(" (rounds {lo:.2}–{hi:.2})")
        });
        let _ = writeln!(s, "    two ÷ one: {r:.2}{range}");
    }
    let _ = writeln!(s, "    {}", ceiling_line(t));
    s
}

/// The pps of each round for the N at `i`, comma-separated.
fn rounds_cell(rounds: &[Vec<f64>], i: usize) -> String {
    rounds
        .iter()
        .filter_map(|r| r.get(i))
        .map(|p| format!("{p:.0}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Per round, one sender's pps on each core: "900 / 1100, 1000 / 1200".
fn singles_cell(single_rounds: &[Vec<f64>]) -> String {
    single_rounds
        .iter()
        .map(|r| {
            r.iter()
                .map(|p| format!("{p:.0}"))
                .collect::<Vec<_>>()
                .join(" / ")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The table in Markdown, for the report's summary.
pub fn engines_markdown(t: &EnginesTable) -> String {
    let mut s = format!(
        "\nEngine groups ({} {} B, GSO off, sender-side; engine i pinned to core i of {:?}), \
         N alternating ascending and descending over {} rounds, beside raw loops (N bare \
         sendmmsg loops, {} a call, one thread pinned per core, each its own socket) measured \
         in the same rounds:\n\n| engines | median pps | × one engine | rounds (pps) | raw \
         loops pps | raw × one loop | engines ÷ raw | raw rounds (pps) |\n\
         |---:|---:|---:|---|---:|---:|---:|---|\n",
        t.backend,
        t.payload,
        t.cores,
        t.rounds.len(),
        t.raw_batch
    );
    let one = t.median_pps.first().copied().unwrap_or(0.0);
    let raw_one = t.raw_median_pps.first().copied().unwrap_or(0.0);
    for (i, (n, pps)) in t.engines.iter().zip(&t.median_pps).enumerate() {
        let raw = t.raw_median_pps.get(i).copied().unwrap_or(0.0);
        s += &format!(
            "| {n} | {pps:.0} | {:.2} | {} | {raw:.0} | {:.2} | {} | {} |\n",
            times(*pps, one),
            rounds_cell(&t.rounds, i),
            times(raw, raw_one),
            ratio_text(t.engines_over_raw.get(i).copied().flatten(), None),
            rounds_cell(&t.raw_rounds, i)
        );
    }
    s += &format!(
        "\n(N = 1 is the mean of one engine on each core in turn; per round, core by core: {}; \
         one raw loop: {}.)\n\n{}.\n\n",
        singles_cell(&t.single_rounds),
        singles_cell(&t.raw_single_rounds),
        ceiling_line(t)
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_stop_at_the_cores_and_the_maximum() {
        assert_eq!(engine_counts(8, 2), vec![1, 2]);
        assert_eq!(engine_counts(2, 16), vec![1, 2]);
        assert_eq!(engine_counts(100, 100).len(), MAX_ENGINES);
        assert!(engine_counts(0, 4).is_empty());
    }

    #[test]
    fn lines_show_each_n_and_the_ratio() {
        let t = EnginesTable {
            payload: 64,
            backend: "mmsg".into(),
            gso: false,
            engines: vec![1, 2],
            rounds: vec![vec![400.0, 800.0], vec![410.0, 780.0]],
            median_pps: vec![405.0, 790.0],
            two_over_one: Some(1.95),
            two_over_one_range: Some([1.9, 2.0]),
            cores: vec![0, 1],
            single_rounds: vec![vec![390.0, 410.0], vec![400.0, 420.0]],
            raw_rounds: vec![vec![500.0, 900.0], vec![520.0, 940.0]],
            raw_single_rounds: vec![vec![490.0, 510.0], vec![500.0, 540.0]],
            raw_median_pps: vec![510.0, 920.0],
            raw_two_over_one: Some(1.805),
            raw_two_over_one_range: Some([1.8, 1.81]),
            raw_batch: 64,
            engines_over_raw: vec![Some(0.79), Some(0.86)],
        };
        let s = engines_lines(&t);
        assert!(s.contains("N = 2:"), "{s}");
        assert!(s.contains("two ÷ one: 1.95 (rounds 1.90–2.00)"), "{s}");
        assert!(
            s.contains(
                "N = 2:          790 pps   1.95 × one   raw loops          920 pps   1.80 × one"
            ),
            "{s}"
        );
        assert!(s.contains("one raw loop: core 0 495, core 1 525"), "{s}");
        let ceiling = "engines two ÷ one 1.95 (rounds 1.90–2.00) against bare loops' 1.80 \
                       (rounds 1.80–1.81) (the machine's ceiling here); engines ÷ raw loops at \
                       N = 2: 0.86";
        assert!(s.contains(ceiling), "{s}");
        let g = goal(&t);
        assert_eq!(g.pass, Some(true));
        let md = engines_markdown(&t);
        assert!(md.contains("| 2 | 790 | 1.95 | 800, 780 |"), "{md}");
        assert!(
            md.contains("| 2 | 790 | 1.95 | 800, 780 | 920 | 1.80 | 0.86 | 900, 940 |"),
            "{md}"
        );
        assert!(md.contains("one raw loop: 490 / 510, 500 / 540"), "{md}");
        assert!(md.contains(ceiling), "{md}");
    }

    /// Two rounds of three N: the medians per N, two ÷ one from N = 2 and N = 1 of each round.
    #[test]
    fn medians_and_two_over_one_come_from_the_rounds() {
        let rounds = vec![vec![100.0, 180.0, 250.0], vec![110.0, 220.0, 270.0]];
        assert_eq!(medians(&rounds, 3), vec![105.0, 200.0, 260.0]);
        let (r, range) = ratio_of_two(&rounds);
        assert!((r.unwrap() - 1.9).abs() < 1e-12, "{r:?}");
        assert_eq!(range, Some([1.8, 2.0]));
        assert_eq!(medians(&[], 2), vec![0.0, 0.0]);
    }
}
