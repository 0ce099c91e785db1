//! The report files and markdown of the loopback suites: throughput, capacity, peers and zero
//! loss. Each writes its interval logs (where ringshot measured histograms) and plots into the
//! folder and returns its tables as markdown for `summary.md`.

use std::io;

use hdrhistogram::Histogram;
use serde_json::{json, Value};

use super::{plot, write_hlogs, ReportWriter};
use crate::bench::peers::PeersReport;
use crate::bench::sdr::ZeroLossResult;
use crate::bench::{CapacityResult, CaseResult, Series};

fn on(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

fn opt(v: Option<f64>, prec: usize) -> String {
    v.map_or("–".into(), |x| format!("{x:.prec$}"))
}

fn case_label(r: &CaseResult) -> String {
    format!("{} GSO {}", r.backend, on(r.gso_requested))
}

/// The throughput suite's files: per case its interval logs (`throughput-BACKEND-GSO-PAYLOAD-*`),
/// and per payload the delivered pps per backend (`throughput-pps-P.svg`) and nines plots of
/// submit and reap latency per backend (`throughput-submit-nines-P.svg`,
/// `throughput-reap-nines-P.svg`).
pub fn write_throughput(
    w: &mut ReportWriter,
    results: &[CaseResult],
    payloads: &[usize],
) -> io::Result<()> {
    for r in results {
        write_hlogs(
            w,
            &format!("throughput-{}-{}", case_label(r), r.payload),
            &r.series,
        )?;
    }
    for &p in payloads {
        let rows: Vec<&CaseResult> = results.iter().filter(|r| r.payload == p).collect();
        if rows.is_empty() {
            continue;
        }
        let bars: Vec<(String, f64)> = rows.iter().map(|r| (case_label(r), r.pps)).collect();
        let path = w.path(&format!("throughput-pps-{p}.svg"));
        plot::bars_svg(
            &path,
            &format!("pps delivered on loopback, {p} B"),
            "packets/s",
            &bars,
        )?;
        for (what, pick) in [
            (
                "submit",
                (|t: &ringshot::TxReport| &t.submit_hist) as fn(&_) -> &_,
            ),
            ("reap", |t| &t.reap_hist),
        ] {
            let series: Vec<(String, &Histogram<u64>)> = rows
                .iter()
                .filter_map(|r| r.series.tx.as_ref().map(|t| (case_label(r), pick(t))))
                .collect();
            let path = w.path(&format!("throughput-{what}-nines-{p}.svg"));
            plot::nines_svg(&path, &format!("{what} latency, loopback, {p} B"), &series)?;
        }
    }
    Ok(())
}

/// The throughput suite's object in `report.json`.
pub fn throughput_json(case_secs: f64, results: &[CaseResult], skipped: &[String]) -> Value {
    json!({ "case_seconds": case_secs, "results": results, "skipped": skipped })
}

/// The capacity suite's object in `report.json`.
pub fn capacity_json(rows: &[CapacityResult]) -> Value {
    json!({ "rows": rows })
}

/// The throughput table as markdown.
pub fn throughput_markdown(case_secs: f64, results: &[CaseResult], skipped: &[String]) -> String {
    let mut s = format!(
        "## throughput (loopback)\n\n{case_secs:.1} s per case; delivered pps is what ringshot's \
         receiver delivered over its own first-to-last-packet time (Gbit/s and × send are \
         from it); sent pps is what the sender sent over its own time, higher when the receiver \
         dropped packets; CPU % of a core is ringshot-tx's CPU time over the sender's time.\n\n"
    );
    s += "| backend | GSO | bytes | delivered pps | sent pps | Gbit/s | delivered % | CPU ns/pkt | CPU % of a core | submit p50 ns | submit p99 ns | submit p99.99 ns | submit max ns | reap p99 ns | × send |\n";
    s += "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for r in results {
        let gso = match (r.gso_requested, r.gso) {
            (true, true) => "on",
            (true, false) => "on→off",
            _ => "off",
        };
        s += &format!(
            "| {} | {gso} | {} | {:.0} | {:.0} | {:.2} | {:.2} | {:.0} | {:.0} | {} | {} | {} | {} | {} | {} |\n",
            r.backend,
            r.payload,
            r.pps,
            r.sent_pps,
            r.gbps,
            r.delivered_pct,
            r.cpu_ns_per_packet,
            r.cpu_pct,
            r.submit_ns.p50,
            r.submit_ns.p99,
            r.submit_ns.p9999,
            r.submit_ns.max,
            r.reap_ns.p99,
            opt(r.ratio_to_send, 2),
        );
    }
    for k in skipped {
        s += &format!("\nskipped: {k}\n");
    }
    s + "\n"
}

/// The interval logs of a search: every trial in the order it ran (`STEM-trialN-*.hlog`, N from
/// 1, as in the JSON's `trials`), and the best trial's once more under `STEM-*.hlog`.
fn write_trial_hlogs<'a>(
    w: &mut ReportWriter,
    stem: &str,
    trials: impl Iterator<Item = &'a Series>,
    best: Option<&Series>,
) -> io::Result<()> {
    for (i, series) in trials.enumerate() {
        write_hlogs(w, &format!("{stem}-trial{}", i + 1), series)?;
    }
    if let Some(series) = best {
        write_hlogs(w, stem, series)?;
    }
    Ok(())
}

/// The capacity suite's files: per payload the capacity of each receive backend beside the
/// sender's best rate (`capacity-P.svg`), the interval logs of every trial of each search in the
/// order they ran (`capacity-RECEIVER-P-trialN-*.hlog`, N from 1, as in the JSON's `trials`),
/// and those of the highest passing trial once more under `capacity-RECEIVER-P-*.hlog`.
pub fn write_capacity(w: &mut ReportWriter, rows: &[CapacityResult]) -> io::Result<()> {
    let mut payloads: Vec<usize> = rows.iter().map(|r| r.payload).collect();
    payloads.dedup();
    for r in rows {
        let best = r
            .trials
            .iter()
            .filter(|t| t.pass)
            .max_by(|a, b| a.rate_pps.total_cmp(&b.rate_pps));
        write_trial_hlogs(
            w,
            &format!("capacity-{}-{}", r.receiver_backend, r.payload),
            r.trials.iter().map(|t| &t.series),
            best.map(|t| &t.series),
        )?;
    }
    for p in payloads {
        let mut bars: Vec<(String, f64)> = Vec::new();
        for r in rows.iter().filter(|r| r.payload == p) {
            if bars.is_empty() {
                bars.push(("sender's best, unpaced".into(), r.sender_best_pps));
            }
            bars.push((
                format!("{} receiver capacity", r.receiver_backend),
                r.capacity_pps.unwrap_or(0.0),
            ));
        }
        let path = w.path(&format!("capacity-{p}.svg"));
        plot::bars_svg(
            &path,
            &format!("receive capacity on loopback (0 lost, 0 kernel drops), {p} B"),
            "packets/s",
            &bars,
        )?;
    }
    Ok(())
}

/// The capacity table and every trial as markdown.
pub fn capacity_markdown(rows: &[CapacityResult]) -> String {
    let mut s = String::from(
        "## capacity (loopback)\n\nHighest paced rate each receive backend drains with 0 lost and \
         0 kernel drops (GSO sender, GRO receiver); the sender's best is its unpaced sent rate \
         (the search's upper bound). In the trials, sent pps is what the sender sent over its own \
         time and delivered pps what the receiver delivered over its own.\n\n\
         | receiver | bytes | capacity pps | sender best sent pps | trials |\n|---|---:|---:|---:|---:|\n",
    );
    for r in rows {
        s += &format!(
            "| {} | {} | {} | {:.0} | {} |\n",
            r.receiver_backend,
            r.payload,
            r.capacity_pps
                .map_or("< 10000".into(), |c| format!("{c:.0}")),
            r.sender_best_pps,
            r.trials.len()
        );
    }
    s += "\n| receiver | bytes | asked pps | sent pps | delivered pps | sent | received | lost | kernel drops | pass |\n";
    s += "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n";
    for r in rows {
        for t in &r.trials {
            s += &format!(
                "| {} | {} | {:.0} | {:.0} | {:.0} | {} | {} | {} | {} | {} |\n",
                r.receiver_backend,
                r.payload,
                t.rate_pps,
                t.achieved_pps,
                t.delivered_pps,
                t.sent,
                t.received,
                t.lost,
                t.kernel_drops,
                if t.pass { "yes" } else { "no" }
            );
        }
    }
    s + "\n"
}

/// The peers suite's files: delivered pps per sender with the peers (`peers-delivered-P.svg`)
/// and the zero-loss rates (`peers-zero-loss-P.svg`). The peers run their own receivers, so
/// there are no interval logs here.
pub fn write_peers(w: &mut ReportWriter, r: &PeersReport) -> io::Result<()> {
    let p = r.payload;
    for row in r.rows.iter().filter(|x| !x.series.is_empty()) {
        write_hlogs(w, &format!("peers-{}-{p}", row.sender), &row.series)?;
    }
    let bars: Vec<(String, f64)> = r
        .rows
        .iter()
        .map(|x| (x.sender.clone(), x.delivered_pps))
        .collect();
    let path = w.path(&format!("peers-delivered-{p}.svg"));
    plot::bars_svg(
        &path,
        &format!("pps delivered per sender, each to its own receiver, loopback, {p} B"),
        "packets/s",
        &bars,
    )?;
    let bars: Vec<(String, f64)> = r
        .rows
        .iter()
        .map(|x| (x.sender.clone(), x.zero_loss_pps.unwrap_or(0.0)))
        .collect();
    let path = w.path(&format!("peers-zero-loss-{p}.svg"));
    plot::bars_svg(
        &path,
        &format!("highest zero-loss rate per sender, loopback, {p} B"),
        "packets/s",
        &bars,
    )
}

/// The peers table, ringshot's ratios and the skipped peers as markdown.
pub fn peers_markdown(r: &PeersReport) -> String {
    let mut s = format!(
        "## peers (loopback, {} B)\n\n| sender | unpaced sent pps | delivered pps | delivered % | zero-loss pps | delivered by |\n|---|---:|---:|---:|---:|---|\n",
        r.payload
    );
    for x in &r.rows {
        s += &format!(
            "| {} | {:.0} | {:.0} | {:.2} | {} | {} |\n",
            x.sender,
            x.unpaced_sent_pps,
            x.delivered_pps,
            x.delivered_pct,
            opt(x.zero_loss_pps, 0),
            x.delivered_from
        );
    }
    s += "\n| ringshot sender | delivered × best peer | zero loss × best peer |\n|---|---:|---:|\n";
    for x in &r.ratios {
        s += &format!(
            "| {} | {} | {} |\n",
            x.sender,
            opt(x.delivered_x, 2),
            opt(x.zero_loss_x, 2)
        );
    }
    for k in &r.skipped {
        s += &format!("\nskipped: {k}\n");
    }
    s + "\n"
}

/// The zero-loss suite's files: the interval logs of every trial in the order they ran
/// (`zero-loss-trialN-*.hlog`, N from 1, as in the JSON's `trials`), those of the fastest
/// zero-loss trial once more under `zero-loss-*.hlog`, and each trial's achieved rate
/// (`zero-loss-trials.svg`).
pub fn write_zero_loss(w: &mut ReportWriter, r: &ZeroLossResult) -> io::Result<()> {
    let best = r
        .trials
        .iter()
        .filter(|t| t.zero_loss)
        .max_by(|a, b| a.achieved_pps.total_cmp(&b.achieved_pps));
    write_trial_hlogs(
        w,
        "zero-loss",
        r.trials.iter().map(|t| &t.series),
        best.map(|t| &t.series),
    )?;
    let bars: Vec<(String, f64)> = r
        .trials
        .iter()
        .map(|t| {
            let verdict = if t.zero_loss { "zero loss" } else { "loss" };
            (
                format!("asked {:.0}: {verdict}", t.rate_pps),
                t.achieved_pps,
            )
        })
        .collect();
    let path = w.path("zero-loss-trials.svg");
    plot::bars_svg(
        &path,
        &format!(
            "sender → device emulator with flow control, {} B: achieved pps per trial",
            r.payload
        ),
        "packets/s",
        &bars,
    )
}

/// The zero-loss results and trials as markdown.
pub fn zero_loss_markdown(r: &ZeroLossResult) -> String {
    let mut s = format!(
        "## zero loss (loopback, device emulator, {} B)\n\n| measure | pps |\n|---|---:|\n\
         | upper bound (sender's best) | {:.0} |\n| zero-loss rate (achieved) | {} |\n\
         | rate also kept within 1 % | {} |\n\n",
        r.payload,
        r.upper_bound_pps,
        opt(r.zero_loss_pps, 0),
        opt(r.kept_rate_pps, 0)
    );
    s += "| asked pps | achieved pps | sent | lost | overflows | underflows | rate error % | stalled | zero loss | rate kept |\n";
    s += "|---:|---:|---:|---:|---:|---:|---:|---|---|---|\n";
    for t in &r.trials {
        s += &format!(
            "| {:.0} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            t.rate_pps,
            t.achieved_pps,
            t.sent,
            t.lost,
            t.overflows,
            t.underflows,
            opt(t.rate_error_pct, 3),
            t.stalled,
            t.zero_loss,
            t.kept_rate
        );
    }
    s + "\n"
}
