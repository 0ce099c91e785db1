//! `ringshot send --engines N` / `--tx-cores LIST`: N engines as one sender
//! ([`ringshot::SenderGroup`]), with a row per engine and the total in the report.

use std::time::Duration;

use anyhow::Context;

use super::super::output::{fmt_ns, fmt_rate, report_json, Progress};
use super::super::signals::StopSignals;
use super::super::{checks, usage, Reported};
use super::{failed_check, SendArgs};
use ringshot::engine::{GroupError, GroupReport, PacketSource};
use ringshot::{SenderConfig, SenderGroup};

/// Most engines accepted (far above any core count this runs on).
const MAX_ENGINES: usize = 1024;

/// `--engines`: 1 to [`MAX_ENGINES`].
pub(super) fn engines(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("a sender needs at least one engine".into()),
        Ok(n) if n > MAX_ENGINES => Err(format!("at most {MAX_ENGINES} engines")),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{s}' is not a number of engines")),
    }
}

/// The cores of `--tx-cores`, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CoreList(pub Vec<usize>);

/// `--tx-cores`: core numbers and ranges separated by commas (`0,1`, `0-3`, `0-1,4`).
pub(super) fn core_list(s: &str) -> Result<CoreList, String> {
    let bad =
        |part: &str| format!("'{part}' is not a core or a range of cores (such as 0,1 or 0-3)");
    let mut cores = Vec::new();
    for part in s.split(',').map(str::trim) {
        let num = |x: &str| x.trim().parse::<usize>().map_err(|_| bad(part));
        match part.split_once('-') {
            Some((lo, hi)) => {
                let (lo, hi) = (num(lo)?, num(hi)?);
                if lo > hi || hi - lo >= MAX_ENGINES {
                    return Err(bad(part));
                }
                cores.extend(lo..=hi);
            }
            None => cores.push(num(part)?),
        }
    }
    if cores.len() > MAX_ENGINES {
        return Err(format!("at most {MAX_ENGINES} cores"));
    }
    Ok(CoreList(cores))
}

/// The engines' cores: `--tx-cores` (checked against `--engines` and the online CPUs), or the
/// first `--engines` available cores.
fn cores(a: &SendArgs) -> anyhow::Result<Vec<usize>> {
    if a.tx_core.is_some() {
        return Err(usage(
            "tx-core: pins one engine; with --engines name each engine's core with --tx-cores",
        ));
    }
    if let Some(list) = &a.tx_cores {
        if a.engines > 1 && a.engines != list.0.len() {
            return Err(usage(format!(
                "engines: {} engines but --tx-cores names {} cores",
                a.engines,
                list.0.len()
            )));
        }
        for &c in &list.0 {
            checks::online_cpu("tx-cores", Some(u32::try_from(c).unwrap_or(u32::MAX)))?;
        }
        return Ok(list.0.clone());
    }
    let avail = ringshot::available_cores();
    if a.engines > avail.len() {
        return Err(usage(format!(
            "engines: {} engines but only {} cores available to this process ({}); name the \
             cores to share with --tx-cores",
            a.engines,
            avail.len(),
            avail
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(",")
        )));
    }
    Ok(avail[..a.engines].to_vec())
}

/// Engine `i`'s share of a total of `count` packets among `n`: the remainder goes one each to
/// the first engines.
fn share(count: u64, n: usize, i: usize) -> u64 {
    let n = n as u64;
    count / n + u64::from((i as u64) < count % n)
}

/// Runs the group; the exit status as `send::run` returns it.
pub(super) fn run(a: &SendArgs, cfg: SenderConfig, count: Option<u64>) -> anyhow::Result<i32> {
    if a.hdr_log.is_some() {
        return Err(usage(
            "hdr-log: writes one engine's histogram; not with --engines (--json has each \
             engine's percentiles)",
        ));
    }
    let cores = cores(a)?;
    let n = cores.len();
    if a.interval.is_some_and(|d| !d.is_zero()) {
        eprintln!(
            "ringshot: note: --interval: no interval lines with --engines; the report has each \
             engine's totals"
        );
    }
    let app_len = a.framing.app_len(cfg.payload())?;
    let count = a.framing.count(app_len, count)?;
    let mut sources = (0..n)
        .map(|i| {
            a.framing
                .source(app_len, count.map(|c| share(c, n, i)), a.duration)
                .map(Some)
        })
        .collect::<anyhow::Result<Vec<Option<Box<dyn PacketSource>>>>>()?;
    let signals = StopSignals::install().context("installing the stop signal handlers")?;
    let mut b = SenderGroup::builder(cfg).tx_cores(&cores);
    if let (true, Some(w)) = (a.shared_window, a.window_packets) {
        b = b.shared_window(w);
    }
    let group = b
        .spawn_sources(|i, _| sources[i].take().expect("one source per engine"))
        .map_err(|e| match e {
            GroupError::Config(m) => usage(format!("engines: {m}")),
            other => anyhow::Error::new(other).context("starting the send engines"),
        })?;
    let mut progress = Progress::new("send");
    while !group.is_finished() {
        if signals.received().is_some() {
            group.stop();
        }
        std::thread::sleep(Duration::from_millis(50));
        progress.update(
            (0..n)
                .filter_map(|i| group.engine(i))
                .map(|e| e.progress())
                .sum(),
        );
    }
    progress.finish();
    let (report, errors) = match group.finish() {
        Ok(r) => (r, Vec::new()),
        Err(GroupError::Engines { errors, report }) => (*report, errors),
        Err(e) => return Err(anyhow::Error::new(e).context("sending")),
    };
    let interrupted = signals.received();
    let failure = (!errors.is_empty()).then(|| {
        errors
            .iter()
            .map(|(i, e)| format!("engine {i}: {e}"))
            .collect::<Vec<_>>()
            .join("; ")
    });
    // The --fail-on-* checks on every engine's report: the first one that fails is the run's.
    let failed = match (&failure, interrupted) {
        (None, None) => report.engines.iter().find_map(|row| {
            let r = row.report.as_ref()?;
            failed_check(a, r, row.dest).map(|why| format!("engine {}: {why}", row.index))
        }),
        _ => None,
    };
    let error = failure.clone().or(failed.clone());
    if a.json {
        println!(
            "{}",
            report_json(&report, interrupted.is_some(), error.as_deref(), vec![])?
        );
    } else {
        print_group_table(&report);
        if let Some(sig) = interrupted {
            println!("  interrupted by {}", sig.name());
        }
    }
    print_group_notes(&report);
    match (failure.or(failed), interrupted) {
        (Some(e), None) => Err(Reported(anyhow::anyhow!(e)).into()),
        (Some(e), Some(_)) if !errors.is_empty() => Err(Reported(anyhow::anyhow!(e)).into()),
        (_, Some(sig)) => Ok(sig.exit_status()),
        (None, None) => Ok(0),
    }
}

/// Each engine's notices once (the same fallback on every engine is one line), then refusals.
fn print_group_notes(report: &GroupReport) {
    let mut seen = std::collections::BTreeSet::new();
    for row in &report.engines {
        let Some(r) = &row.report else { continue };
        for n in &r.notices {
            if seen.insert(n.clone()) {
                eprintln!("ringshot: note: {n}");
            }
        }
        let refused = r.refused_sends();
        if refused > 0 {
            eprintln!(
                "ringshot: warning: engine {}: {refused} sends refused (ECONNREFUSED): is \
                 anything listening on {}?",
                row.index, row.dest
            );
        }
    }
}

/// One row per engine and the total.
fn print_group_table(report: &GroupReport) {
    let backend = report
        .engines
        .iter()
        .find_map(|e| e.report.as_ref())
        .map_or("-", |r| r.backend);
    println!(
        "send: {} engines ({backend}), one socket and sequence space each",
        report.engines.len()
    );
    println!(
        "  {:>6}  {:>4}  {:>5}  {:>6}  {:>12}  {:>8}  {:>11}  {:>9}  {:>8}  {:>8}  {:>10}  {:>5}",
        "engine",
        "core",
        "port",
        "stream",
        "packets",
        "failed",
        "rate",
        "Gbit/s",
        "resent",
        "win wait",
        "submit p99",
        "cpu %"
    );
    for row in &report.engines {
        let core = row.core.map_or("-".into(), |c| c.to_string());
        let port = row.source.map_or("-".into(), |a| a.port().to_string());
        match &row.report {
            Some(r) => println!(
                "  {:>6}  {:>4}  {:>5}  {:>6}  {:>12}  {:>8}  {:>11}  {:>9.3}  {:>8}  {:>8}  {:>10}  {:>5.0}{}",
                row.index,
                core,
                port,
                row.stream_id,
                r.packets,
                r.failed_packets,
                fmt_rate(r.pps),
                r.gbps,
                r.resent_packets,
                r.window_waits,
                fmt_ns(r.submit_ns.p99),
                r.cpu_ns as f64 / 1e9 / r.seconds.max(1e-9) * 100.0,
                row.error.as_ref().map_or(String::new(), |e| format!("  error: {e}")),
            ),
            None => println!(
                "  {:>6}  {:>4}  {:>5}  {:>6}  error: {}",
                row.index,
                core,
                port,
                row.stream_id,
                row.error.as_deref().unwrap_or("no report")
            ),
        }
    }
    let t = &report.total;
    println!(
        "  {:>6}  {:>4}  {:>5}  {:>6}  {:>12}  {:>8}  {:>11}  {:>9.3}  {:>8}  {:>8}  {:>10}  {:>5.0}",
        "total",
        "",
        "",
        "",
        t.packets,
        t.failed_packets,
        fmt_rate(t.pps),
        t.gbps,
        t.resent_packets,
        t.window_waits,
        "",
        t.cpu_ns as f64 / 1e9 / t.seconds.max(1e-9) * 100.0,
    );
    println!(
        "  committed {} = sent {} + failed {}{}",
        t.committed,
        t.packets,
        t.failed_packets,
        if report.books_balance() {
            ""
        } else {
            " (does NOT balance)"
        }
    );
    if let Some(w) = &report.shared_window {
        println!(
            "  shared window {} packets: at most {} outstanding over all engines, {} claims \
             found it full",
            w.window_packets, w.peak_outstanding, w.refused_claims
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_lists() {
        assert_eq!(core_list("0,1").unwrap().0, vec![0, 1]);
        assert_eq!(core_list("0-3").unwrap().0, vec![0, 1, 2, 3]);
        assert_eq!(core_list("2, 0-1").unwrap().0, vec![2, 0, 1]);
        for bad in ["x", "", "1,", "3-1", "-1", "0-", "1.5"] {
            assert!(core_list(bad).is_err(), "{bad}");
        }
        assert!(engines("0").is_err());
        assert_eq!(engines("4").unwrap(), 4);
    }

    #[test]
    fn count_shares_add_up() {
        for (count, n) in [(10, 3), (1, 2), (1_000_001, 4), (0, 2)] {
            let shares: Vec<u64> = (0..n).map(|i| share(count, n, i)).collect();
            assert_eq!(shares.iter().sum::<u64>(), count);
            assert!(shares.iter().max().unwrap() - shares.iter().min().unwrap() <= 1);
        }
    }
}
