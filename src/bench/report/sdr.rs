//! The SDR suite's report: the floor table, its markdown, interval logs and plots.

use std::io;

use hdrhistogram::Histogram;

use super::{plot, write_hlogs, ReportWriter};
use crate::bench::jitter::JitterFloor;
use crate::bench::sdr::SdrResult;

/// One SDR run's tails beside the machine's floor: the excess is the tail less the probe's largest
/// gap (what the sender added on top of what the core itself lost), never below zero.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SdrFloorRow {
    pub policy: String,
    pub submit_max_ns: u64,
    pub submit_p9999_ns: u64,
    pub lateness_max_ns: Option<u64>,
    pub lateness_p9999_ns: Option<u64>,
    pub floor_max_gap_ns: u64,
    pub submit_max_excess_ns: u64,
    pub lateness_max_excess_ns: Option<u64>,
    pub goals_met: usize,
    pub goals: usize,
    /// ringshot-tx's CPU time per packet sent, ns.
    pub cpu_ns_per_packet: f64,
    /// ringshot-tx's CPU time ÷ the sender's time, in % of one core: what pacing costs.
    pub cpu_pct: f64,
}

/// The excess-over-floor rows of `runs` (policy name, result).
pub fn sdr_rows(floor: &JitterFloor, runs: &[(String, SdrResult)]) -> Vec<SdrFloorRow> {
    runs.iter()
        .map(|(policy, r)| {
            let tx = &r.run.tx;
            let f = floor.max_gap_ns;
            SdrFloorRow {
                policy: policy.clone(),
                submit_max_ns: tx.submit_ns.max,
                submit_p9999_ns: tx.submit_ns.p9999,
                lateness_max_ns: tx.lateness_ns.map(|l| l.max),
                lateness_p9999_ns: tx.lateness_ns.map(|l| l.p9999),
                floor_max_gap_ns: f,
                submit_max_excess_ns: tx.submit_ns.max.saturating_sub(f),
                lateness_max_excess_ns: tx.lateness_ns.map(|l| l.max.saturating_sub(f)),
                goals_met: r.goals.iter().filter(|g| g.pass).count(),
                goals: r.goals.len(),
                cpu_ns_per_packet: tx.cpu_ns as f64 / tx.packets.max(1) as f64,
                cpu_pct: crate::bench::cpu_pct(tx.cpu_ns, tx.seconds),
            }
        })
        .collect()
}

fn us(ns: u64) -> String {
    format!("{:.1} µs", ns as f64 / 1e3)
}

fn floor_line(f: &JitterFloor) -> String {
    let ct = match &f.cyclictest {
        Ok(c) => format!("cyclictest -p 50: avg {} µs, max {} µs", c.avg_us, c.max_us),
        Err(e) => format!("cyclictest not run: {e}"),
    };
    format!(
        "machine floor on core {}: {:.0} s of clock reads, largest gap {}, p99.99 {}, {} gaps over 100 µs and {} over 1 ms ({:.2}/s); {ct}",
        f.core.map_or("(unpinned)".into(), |c| c.to_string()),
        f.seconds,
        us(f.max_gap_ns),
        us(f.gap_ns.p9999),
        f.gaps_over_100us,
        f.gaps_over_1ms,
        f.gaps_over_1ms as f64 / f.seconds.max(1e-9),
    )
}

/// The floor and each policy's tails with their excess and the engine thread's CPU, as text.
pub fn sdr_floor_table(f: &JitterFloor, rows: &[SdrFloorRow]) -> String {
    let mut s = format!("{}\n", floor_line(f));
    s += &format!(
        "  {:<14} {:>12} {:>14} {:>12} {:>14} {:>10} {:>6} {:>8}\n",
        "policy", "submit max", "excess", "late max", "excess", "CPU ns/p", "CPU %", "goals"
    );
    for r in rows {
        s += &format!(
            "  {:<14} {:>12} {:>14} {:>12} {:>14} {:>10.0} {:>6.1} {:>4}/{}\n",
            r.policy,
            us(r.submit_max_ns),
            us(r.submit_max_excess_ns),
            r.lateness_max_ns.map_or("-".into(), us),
            r.lateness_max_excess_ns.map_or("-".into(), us),
            r.cpu_ns_per_packet,
            r.cpu_pct,
            r.goals_met,
            r.goals
        );
    }
    s
}

/// The same as markdown.
pub fn sdr_markdown(f: &JitterFloor, rows: &[SdrFloorRow]) -> String {
    let mut s = format!("## sdr\n\n{}\n\n", floor_line(f));
    s += "CPU % of a core: ringshot-tx's CPU time (pacing included) ÷ the run's time.\n\n";
    s += "| policy | submit max | submit p99.99 | excess over floor | lateness max | lateness p99.99 | excess over floor | CPU ns/pkt | CPU % of a core | goals met |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for r in rows {
        s += &format!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.0} | {:.1} | {}/{} |\n",
            r.policy,
            us(r.submit_max_ns),
            us(r.submit_p9999_ns),
            us(r.submit_max_excess_ns),
            r.lateness_max_ns.map_or("–".into(), us),
            r.lateness_p9999_ns.map_or("–".into(), us),
            r.lateness_max_excess_ns.map_or("–".into(), us),
            r.cpu_ns_per_packet,
            r.cpu_pct,
            r.goals_met,
            r.goals
        );
    }
    s
}

/// The SDR suite's object in `report.json`: the floor, each run (its policy and result) and the
/// excess over the floor.
pub fn sdr_json(
    f: &JitterFloor,
    runs: &[(String, SdrResult)],
    rows: &[SdrFloorRow],
) -> serde_json::Value {
    let runs: Vec<_> = runs
        .iter()
        .map(|(policy, r)| serde_json::json!({"policy": policy, "result": r}))
        .collect();
    serde_json::json!({ "jitter_floor": f, "runs": runs, "excess_over_floor": rows })
}

/// The SDR suite's files: per run one interval log per histogram (`sdr-POLICY-*.hlog`: submit,
/// reap, lateness, window wait, ACK visibility, and the device's receive gaps), a nines plot of
/// submit latency per run (`sdr-submit-nines.svg`) and of the other latencies
/// (`sdr-latency-nines.svg`), and lateness over time (`sdr-floor.svg`): each run's per-second
/// lateness maximum and p99 beside the machine floor's largest gap per second.
pub fn write_sdr(
    w: &mut ReportWriter,
    f: &JitterFloor,
    runs: &[(String, SdrResult)],
) -> io::Result<()> {
    for (policy, r) in runs {
        write_hlogs(w, &format!("sdr-{policy}"), &r.run.series)?;
    }
    let series: Vec<(String, &Histogram<u64>)> = runs
        .iter()
        .map(|(p, r)| (format!("submit, {p}"), &r.run.tx.submit_hist))
        .collect();
    let path = w.path("sdr-submit-nines.svg");
    plot::nines_svg(&path, "SDR workload: submit latency", &series)?;
    let mut series: Vec<(String, &Histogram<u64>)> = Vec::new();
    for (p, r) in runs {
        let tx = &r.run.tx;
        let hists = [
            ("lateness", tx.lateness_hist.as_ref()),
            ("window wait", tx.window_wait_hist.as_ref()),
            ("ACK visibility", tx.ack_visibility_hist.as_ref()),
            ("reap", Some(&tx.reap_hist)),
        ];
        for (name, h) in hists {
            if let Some(h) = h {
                series.push((format!("{name}, {p}"), h));
            }
        }
    }
    let path = w.path("sdr-latency-nines.svg");
    plot::nines_svg(
        &path,
        "SDR workload: lateness, waits, ACK visibility, reap",
        &series,
    )?;
    let path = w.path("sdr-floor.svg");
    plot::series_svg(
        &path,
        "lateness over time beside the machine's jitter floor",
        "µs",
        &lateness_lines(f, runs),
    )
}

/// The lines of the lateness-over-time plot: the floor's largest gap per second, and per run its
/// lateness maximum and p99 per interval (at the interval's end), in µs.
pub fn lateness_lines(
    f: &JitterFloor,
    runs: &[(String, SdrResult)],
) -> Vec<(String, Vec<(f64, f64)>)> {
    let mut lines = vec![(
        "machine floor: largest clock gap per second".to_string(),
        f.per_second
            .iter()
            .enumerate()
            .map(|(i, s)| (i as f64 + 1.0, s.max_gap_ns as f64 / 1e3))
            .collect::<Vec<_>>(),
    )];
    for (p, r) in runs {
        let tl = &r.run.tx.timeline;
        let at = |i: &ringshot::engine::TimelineInterval| i.start_s + i.seconds;
        let pick = |q: fn(&ringshot::stats::Percentiles) -> u64| -> Vec<(f64, f64)> {
            // An interval in which no batch left (the wind-down) has no lateness to draw.
            tl.iter()
                .filter(|i| i.hists.lateness.as_ref().is_some_and(|h| !h.is_empty()))
                .filter_map(|i| i.lateness_ns.map(|l| (at(i), q(&l) as f64 / 1e3)))
                .collect()
        };
        lines.push((format!("lateness max per second, {p}"), pick(|l| l.max)));
        lines.push((format!("lateness p99 per second, {p}"), pick(|l| l.p99)));
    }
    lines
}
