//! `ringshot bench`: the whole suite in one run, with a progress display.

use std::time::Duration;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::output::fmt_ns;
use ringshot::bench::{default_cases, fill_ratios, run_case, BenchError, CaseResult, Placement};
use ringshot::engine::EngineError;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Seconds per case (12 cases by default).
    #[arg(long, default_value = "4", value_name = "SECS", value_parser = super::send::parse_secs)]
    case_secs: Duration,
    /// Payload sizes to run, comma separated.
    #[arg(long, value_delimiter = ',', default_values_t = [64usize, 1472], value_name = "BYTES")]
    payloads: Vec<usize>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

pub fn run(a: BenchArgs) -> anyhow::Result<()> {
    for &p in &a.payloads {
        if !(ringshot::wire::header::HEADER_LEN..=ringshot::config::MAX_UDP_PAYLOAD).contains(&p) {
            return Err(super::usage(format!(
                "payloads: {p} is outside 16..={}",
                ringshot::config::MAX_UDP_PAYLOAD
            )));
        }
    }
    let place = Placement::auto();
    let cases: Vec<_> = default_cases()
        .into_iter()
        .filter(|c| a.payloads.contains(&c.payload))
        .collect();
    let cases: Vec<_> = a
        .payloads
        .iter()
        .flat_map(|p| cases.iter().filter(move |c| c.payload == *p).copied())
        .collect();
    if !a.json {
        println!("ringshot bench: loopback, {}", place.description);
        println!(
            "  {} cases × {:.1} s; throughput is packets delivered to ringshot's receiver",
            cases.len(),
            a.case_secs.as_secs_f64()
        );
    }
    let bar = ProgressBar::new(cases.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}").expect("static template"),
    );
    let mut results: Vec<CaseResult> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    for case in &cases {
        bar.set_message(format!(
            "{} GSO {} {} B",
            case.backend,
            if case.gso { "on" } else { "off" },
            case.payload
        ));
        match run_case(*case, a.case_secs, &place) {
            Ok(r) => results.push(r),
            Err(BenchError::Sender(EngineError::BackendUnavailable { backend, reason })) => {
                skipped.push(format!("{backend}: {reason}"));
            }
            Err(e) => return Err(e.into()),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    fill_ratios(&mut results);
    if a.json {
        let out = serde_json::json!({
            "placement": place,
            "case_seconds": a.case_secs.as_secs_f64(),
            "results": results,
            "skipped": skipped,
        });
        println!("{out}");
        return Ok(());
    }
    print_table(&results);
    for s in skipped {
        println!("  skipped: {s}");
    }
    Ok(())
}

fn print_table(rows: &[CaseResult]) {
    println!(
        "{:<7} {:<8} {:>6} {:>11} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8}",
        "backend",
        "gso",
        "bytes",
        "pps",
        "Gbit/s",
        "deliv %",
        "CPU ns/p",
        "sub p50",
        "sub p99",
        "p99.99",
        "max",
        "× send"
    );
    for r in rows {
        let gso = match (r.gso_requested, r.gso) {
            (true, true) => "on",
            (true, false) => "on→off",
            _ => "off",
        };
        println!(
            "{:<7} {:<8} {:>6} {:>11.0} {:>8.2} {:>9.2} {:>9.0} {:>9} {:>9} {:>9} {:>9} {:>8}",
            r.backend,
            gso,
            r.payload,
            r.pps,
            r.gbps,
            r.delivered_pct,
            r.cpu_ns_per_packet,
            fmt_ns(r.submit_ns.p50),
            fmt_ns(r.submit_ns.p99),
            fmt_ns(r.submit_ns.p9999),
            fmt_ns(r.submit_ns.max),
            r.ratio_to_send.map_or("-".into(), |x| format!("{x:.2}")),
        );
    }
}
