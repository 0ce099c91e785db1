//! The wire suite's pps-vs-N table: a [`SenderGroup`] of N engines (mmsg, no GSO, 64 B by
//! default), each pinned to a core of its own, measured sender-side (what crossed the far
//! interface ÷ the longest engine's time) for N = 1, 2, … up to the cores available (at most
//! [`MAX_ENGINES`]). N engines run on the first N cores; "one engine" is the mean of one engine
//! run on each of those cores in turn, since on a small machine one core is often busier than
//! another (it takes the interrupts), and one engine pinned there alone would flatter the ratio. Rounds alternate the order of the N (ascending, then descending), as the
//! other pairs of the suite do, so that drift on this machine cannot decide the ratio; the
//! table gives each N's median over the rounds, and the goal is the median over the rounds of
//! two engines ÷ one.

use std::net::{SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Serialize;

use super::ratio::{median_ratio, ROUND_SECS};
use super::table::WireGoal;
use super::{check, Wire, WireError, WireOptions};
use crate::bench::BenchError;
use ringshot::config::BackendChoice;
use ringshot::engine::{GroupError, PatternSource, SenderGroup};
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
}

/// The N the table measures with `max` engines at most on `cores`.
fn engine_counts(max: usize, cores: usize) -> Vec<usize> {
    (1..=max.min(cores).min(MAX_ENGINES)).collect()
}

/// Measurements the table makes (for the progress bar).
pub fn planned_steps(o: &WireOptions) -> usize {
    match engine_counts(o.engines_max, ringshot::available_cores().len()).len() {
        n if n < 2 => 0,
        // N = 2.. once each, N = 1 once per core of the largest group.
        n => (n - 1 + n) * o.ratio_rounds.max(1),
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
    let dest = SocketAddr::V4(SocketAddrV4::new(wire.far_addr, Wire::DROP_PORT));
    let secs = o.case_secs.min(ROUND_SECS);
    let used = &cores[..*counts.last().expect("two or more")];
    let (mut rounds, mut single_rounds) = (Vec::new(), Vec::new());
    for round in 0..o.ratio_rounds.max(1) {
        let mut pps = vec![0.0; counts.len()];
        let order: Vec<usize> = if round % 2 == 0 {
            (0..counts.len()).collect()
        } else {
            (0..counts.len()).rev().collect()
        };
        let mut singles = Vec::with_capacity(used.len());
        for i in order {
            let n = counts[i];
            if n > 1 {
                check(stop)?;
                progress(&format!(
                    "{n} engines {BACKEND} {PAYLOAD} B, round {}",
                    round + 1
                ));
                pps[i] = group_pps(wire, dest, &cores[..n], secs, stop)?;
                continue;
            }
            // One engine on each core the groups use, in turn: "one engine" is their mean, so
            // that a core busier than the others (interrupts, other work) weighs on both
            // sides of the ratio alike.
            for &core in used {
                check(stop)?;
                progress(&format!(
                    "1 engine {BACKEND} {PAYLOAD} B on core {core}, round {}",
                    round + 1
                ));
                singles.push(group_pps(wire, dest, &[core], secs, stop)?);
            }
            pps[i] = singles.iter().sum::<f64>() / singles.len() as f64;
        }
        rounds.push(pps);
        single_rounds.push(singles);
    }
    let median_pps = (0..counts.len())
        .map(|i| {
            let mut v: Vec<f64> = rounds.iter().map(|r| r[i]).collect();
            v.sort_by(f64::total_cmp);
            let m = v.len();
            if m % 2 == 1 {
                v[m / 2]
            } else {
                (v[m / 2 - 1] + v[m / 2]) / 2.0
            }
        })
        .collect();
    let pairs: Vec<[f64; 2]> = rounds.iter().map(|r| [r[1], r[0]]).collect();
    let range = super::ratio::round_ratios(&pairs).fold(None, |r: Option<[f64; 2]>, x| {
        Some(r.map_or([x, x], |[lo, hi]| [lo.min(x), hi.max(x)]))
    });
    Ok(Some(EnginesTable {
        payload: PAYLOAD,
        backend: BACKEND.name().into(),
        gso: false,
        engines: counts.clone(),
        rounds,
        median_pps,
        two_over_one: median_ratio(&pairs),
        two_over_one_range: range,
        cores: used.to_vec(),
        single_rounds,
    }))
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

/// The table as text: one line per N with its median pps and its ratio to one engine.
pub fn engines_lines(t: &EnginesTable) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "  engines ({} {} B, GSO off, sender-side, median of {} alternating rounds; cores {:?}):",
        t.backend,
        t.payload,
        t.rounds.len(),
        t.cores
    );
    let one = t.median_pps.first().copied().unwrap_or(0.0);
    for (n, pps) in t.engines.iter().zip(&t.median_pps) {
        let _ = writeln!(
            s,
            "    N = {n}: {pps:>12.0} pps  {:>5.2} × one",
            if one > 0.0 { pps / one } else { 0.0 }
        );
    }
    if !t.single_rounds.is_empty() {
        let per_core: Vec<String> = t
            .cores
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let v: Vec<f64> = t
                    .single_rounds
                    .iter()
                    .filter_map(|r| r.get(k))
                    .copied()
                    .collect();
                format!(
                    "core {c} {:.0}",
                    v.iter().sum::<f64>() / v.len().max(1) as f64
                )
            })
            .collect();
        let _ = writeln!(
            s,
            "    N = 1 is one engine on each core in turn, mean pps: {}",
            per_core.join(", ")
        );
    }
    if let Some(r) = t.two_over_one {
        let range = t.two_over_one_range.map_or(String::new(), |[lo, hi]| {
            format!(" (rounds {lo:.2}–{hi:.2})")
        });
        let _ = writeln!(s, "    two ÷ one: {r:.2}{range}");
    }
    s
}

/// The table in Markdown, for the report's summary.
pub fn engines_markdown(t: &EnginesTable) -> String {
    let mut s = format!(
        "\nEngine groups ({} {} B, GSO off, sender-side; engine i pinned to core i of {:?}), \
         N alternating ascending and descending over {} rounds:\n\n| engines | median pps | × one \
         engine | rounds (pps) |\n|---:|---:|---:|---|\n",
        t.backend,
        t.payload,
        t.cores,
        t.rounds.len()
    );
    let one = t.median_pps.first().copied().unwrap_or(0.0);
    for (i, (n, pps)) in t.engines.iter().zip(&t.median_pps).enumerate() {
        let rounds: Vec<String> = t.rounds.iter().map(|r| format!("{:.0}", r[i])).collect();
        s += &format!(
            "| {n} | {pps:.0} | {:.2} | {} |\n",
            if one > 0.0 { pps / one } else { 0.0 },
            rounds.join(", ")
        );
    }
    s += &format!(
        "\n(N = 1 is the mean of one engine on each core in turn; per round, core by core: {}.)\n\n",
        t.single_rounds
            .iter()
            .map(|r| r.iter().map(|p| format!("{p:.0}")).collect::<Vec<_>>().join(" / "))
            .collect::<Vec<_>>()
            .join(", ")
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
        };
        let s = engines_lines(&t);
        assert!(s.contains("N = 2:"), "{s}");
        assert!(s.contains("two ÷ one: 1.95 (rounds 1.90–2.00)"), "{s}");
        let g = goal(&t);
        assert_eq!(g.pass, Some(true));
        let md = engines_markdown(&t);
        assert!(md.contains("| 2 | 790 | 1.95 | 800, 780 |"), "{md}");
    }
}
