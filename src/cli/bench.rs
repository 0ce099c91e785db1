//! `ringshot bench`: the whole suite in one run, with a progress display.

use std::time::Duration;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use anyhow::Context;

use super::output::fmt_ns;
use super::signals::{StopSignal, StopSignals};
use crate::bench::load::{with_warning, LoadWatch, MachineLoad};
use crate::bench::report::{self, ReportWriter};
use crate::bench::{default_cases, fill_ratios, run_case, BenchError, CaseResult, Placement, Stop};
use ringshot::engine::EngineError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Suite {
    /// Every send backend × GSO × payload, unpaced, delivered rates (about a minute).
    Throughput,
    /// Receive capacity per receive backend and payload, found by search.
    Capacity,
    /// iperf3, sockperf and spead2 (each with its own receiver) beside ringshot, same run.
    Peers,
    /// The SDR workload through the device emulator (60 s by default) against its goals.
    Sdr,
    /// Highest zero-loss rate of the sender → device path with flow control, found by search.
    ZeroLoss,
    /// Every backend × GSO × payload across a veth pair between two network namespaces
    /// (sender-side and end-to-end), beside raw syscall loops and the peers (root; not in `all`).
    Wire,
    /// Every suite above except `wire`.
    All,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Which suite to run.
    #[arg(long, value_enum, default_value = "throughput")]
    suite: Suite,
    /// Seconds per case (12 cases by default).
    #[arg(long, default_value = "4", value_name = "SECS", value_parser = super::parse::secs)]
    case_secs: Duration,
    /// Payload sizes to run, comma separated.
    #[arg(long, value_delimiter = ',', default_values_t = [64usize, 1472], value_name = "BYTES")]
    payloads: Vec<usize>,
    /// Wire suite: the ringshot backends to run, comma separated [default: send, mmsg, uring,
    /// and xdp on Linux].
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    wire_backends: Vec<ringshot::BackendChoice>,
    /// Seconds of the SDR workload.
    #[arg(long, default_value = "60", value_name = "SECS", value_parser = super::parse::secs)]
    sdr_secs: Duration,
    /// SDR suite: also run the workload with the engine under SCHED_FIFO at this priority, in a
    /// row beside SCHED_OTHER.
    #[arg(long, value_name = "PRIO", value_parser = clap::value_parser!(i32).range(1..=99))]
    sched_fifo: Option<i32>,
    /// SDR suite: seconds of the jitter probe on the TX core (and of cyclictest, when installed).
    #[arg(long, default_value = "5", value_name = "SECS", value_parser = super::parse::secs)]
    jitter_secs: Duration,
    /// ACK format of the SDR workload's device.
    #[arg(long, default_value = "native", value_name = "native|usrp2|chdr")]
    sdr_ack: ringshot::flow::AckFormat,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub(super) json: bool,
    /// Wire suite: record the TX core with `perf record -g -e cpu-clock` during each ringshot
    /// sender-side case and write folded stacks and a flame graph (SVG) into the report folder.
    #[arg(long)]
    profile: bool,
    /// Wire suite: the pps-vs-N table of engine groups (mmsg, 64 B) goes up to N engines, at
    /// most the cores available; 0 leaves it out.
    #[arg(long, default_value_t = 8, value_name = "N")]
    wire_engines: usize,
    /// Wire suite: measure only the pps-vs-N table of engine groups.
    #[arg(long)]
    wire_engines_only: bool,
    /// Report folder: report.json, summary.md, HdrHistogram logs (*.hlog) and SVG plots
    /// (created, and checked to take files, before the first case: otherwise exit 2).
    #[arg(long, default_value = "bench-report", value_name = "DIR")]
    out: std::path::PathBuf,
}

/// What a suite does: runs, prints its table, writes its files and returns its JSON object.
type SuiteFn =
    fn(&BenchArgs, &Placement, &mut ReportWriter, &mut String) -> anyhow::Result<serde_json::Value>;

/// Runs the suites; returns the exit status: 0, or 128 + the signal when a stop signal ended the
/// run early (what was measured before it is printed and written, marked partial).
pub fn run(a: BenchArgs) -> anyhow::Result<i32> {
    validate_payloads(&a.payloads)?;
    // Checked now, so a folder that takes no files stops the run before its first case.
    super::paths::prepare_output_dir("out", &a.out)?;
    let mut report = ReportWriter::create(&a.out)
        .map_err(|e| super::usage(format!("out: {}: {e}", a.out.display())))?;
    if a.suite == Suite::Wire {
        if let Some(r) = wire_unavailable() {
            return Err(super::usage(format!("suite wire: {r}")));
        }
    }
    let signals = StopSignals::install().context("installing the stop signal handlers")?;
    let place = Placement::auto().with_stop(Stop::from_flag(signals.flag()));
    let mut summary = String::from("# ringshot bench\n\n");
    let mut json = serde_json::Map::new();
    json.insert("placement".into(), serde_json::to_value(&place)?);
    if !a.json {
        let net = if a.suite == Suite::Wire {
            "veth wire between two network namespaces"
        } else {
            "loopback"
        };
        println!("ringshot bench: {net}, {}", place.description);
    }
    let all = a.suite == Suite::All;
    let suites: [(&str, SuiteFn, bool); 6] = [
        (
            "throughput",
            throughput,
            all || a.suite == Suite::Throughput,
        ),
        ("capacity", capacity, all || a.suite == Suite::Capacity),
        ("peers", peers, all || a.suite == Suite::Peers),
        ("sdr", sdr, all || a.suite == Suite::Sdr),
        ("zero_loss", zero_loss, all || a.suite == Suite::ZeroLoss),
        ("wire", wire, a.suite == Suite::Wire),
    ];
    // The suite a stop signal cut short: the suites after it do not run.
    let mut cut = None;
    for (key, suite, on) in suites {
        if !on {
            continue;
        }
        if signals.received().is_some() {
            cut = Some(key);
            break;
        }
        match suite(&a, &place, &mut report, &mut summary) {
            Ok(v) => {
                json.insert(key.into(), v);
            }
            // A suite that keeps no partial rows is left out of the report.
            Err(e) if interrupted(&e) => {}
            Err(e) => return Err(e),
        }
        if signals.received().is_some() {
            cut = Some(key);
            break;
        }
    }
    // A signal after the last suite ended leaves the report whole; it still sets the status.
    let stopped = cut.and_then(|key| signals.received().map(|sig| (sig, key)));
    finish(&a, &place, report, summary, json, stopped)?;
    Ok(signals.received().map_or(0, |sig| sig.exit_status()))
}

/// Writes summary.md and report.json (marked partial when `stopped` says which signal cut which
/// suite short) and prints the JSON object or where the report is.
fn finish(
    a: &BenchArgs,
    place: &Placement,
    mut report: ReportWriter,
    mut summary: String,
    mut json: serde_json::Map<String, serde_json::Value>,
    stopped: Option<(StopSignal, &str)>,
) -> anyhow::Result<()> {
    let command: Vec<String> = std::env::args().collect();
    let mut head = format!("`{}`\n\n{}\n\n", command.join(" "), place.description);
    if let Some((sig, key)) = stopped {
        head += &format!(
            "**Partial report: interrupted by {} during the `{key}` suite.** The tables hold what \
             was measured before the signal; the case or search it cut short is left out, and so \
             are the suites after it.\n\n",
            sig.name()
        );
    }
    summary.insert_str(summary.find('\n').map_or(0, |i| i + 2), &head);
    for key in json.keys().filter(|k| *k != "placement") {
        summary.push_str(&format!(
            "\nsuite `{key}`: every number is in report.json.\n"
        ));
    }
    json.insert("interrupted".into(), stopped.is_some().into());
    if let Some((_, key)) = stopped {
        json.insert("interrupted_suite".into(), key.into());
    }
    report.text("summary.md", &summary)?;
    let mut suites = json.clone();
    suites.remove("placement");
    report.report_json(&command, &place.description, suites)?;
    if a.json {
        println!("{}", serde_json::Value::Object(json));
    } else if let Some((sig, key)) = stopped {
        println!(
            "interrupted by {} during the {key} suite; partial report: {}",
            sig.name(),
            a.out.join("report.json").display()
        );
    } else {
        println!("report: {}", a.out.join("report.json").display());
    }
    Ok(())
}

/// Whether `e` is a measurement cut short by the stop request.
fn interrupted(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<BenchError>(),
        Some(BenchError::Interrupted)
    ) || wire_interrupted(e)
}

#[cfg(ringshot_netns)]
fn wire_interrupted(e: &anyhow::Error) -> bool {
    use crate::bench::wire::WireError;
    matches!(
        e.downcast_ref::<WireError>(),
        Some(WireError::Interrupted | WireError::Bench(BenchError::Interrupted))
    )
}

#[cfg(not(ringshot_netns))]
fn wire_interrupted(_: &anyhow::Error) -> bool {
    false
}

fn validate_payloads(payloads: &[usize]) -> anyhow::Result<()> {
    for &p in payloads {
        if !(ringshot::wire::header::HEADER_LEN..=ringshot::config::MAX_UDP_PAYLOAD).contains(&p) {
            return Err(super::usage(format!(
                "payloads: {p} is outside 16..={}",
                ringshot::config::MAX_UDP_PAYLOAD
            )));
        }
    }
    Ok(())
}

/// Prints the busy-machine warning (above the suite's table) unless the output is JSON.
fn warn_busy(a: &BenchArgs, load: &MachineLoad) {
    if let (Some(w), false) = (&load.busy, a.json) {
        println!("{w}");
    }
}

/// A suite's JSON object with the machine's load over the suite (`machine_load`) added.
fn with_load(mut v: serde_json::Value, load: &MachineLoad) -> anyhow::Result<serde_json::Value> {
    if let Some(o) = v.as_object_mut() {
        o.insert("machine_load".into(), serde_json::to_value(load)?);
    }
    Ok(v)
}

fn throughput(
    a: &BenchArgs,
    place: &Placement,
    out: &mut ReportWriter,
    summary: &mut String,
) -> anyhow::Result<serde_json::Value> {
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
        println!(
            "  {} cases × {:.1} s; throughput is packets delivered to ringshot's receiver",
            cases.len(),
            a.case_secs.as_secs_f64()
        );
    }
    let watch = LoadWatch::start(place);
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
        match run_case(*case, a.case_secs, place) {
            Ok(r) => results.push(r),
            Err(BenchError::Sender(EngineError::BackendUnavailable { backend, reason })) => {
                skipped.push(format!("{backend}: {reason}"));
            }
            // The rows measured so far are the (partial) suite.
            Err(BenchError::Interrupted) => break,
            Err(e) => return Err(e.into()),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let load = watch.finish(None);
    fill_ratios(&mut results);
    report::write_throughput(out, &results, &a.payloads)?;
    let secs = a.case_secs.as_secs_f64();
    summary.push_str(&with_warning(
        report::throughput_markdown(secs, &results, &skipped),
        load.busy.as_deref(),
    ));
    if !a.json {
        warn_busy(a, &load);
        print_table(&results);
        for s in &skipped {
            println!("  skipped: {s}");
        }
    }
    with_load(report::throughput_json(secs, &results, &skipped), &load)
}

/// iperf3, sockperf and spead2 beside ringshot.
fn peers(
    a: &BenchArgs,
    place: &Placement,
    report: &mut ReportWriter,
    summary: &mut String,
) -> anyhow::Result<serde_json::Value> {
    let watch = LoadWatch::start(place);
    let peers = crate::bench::peers::bench_peers(a.case_secs, place, |m| {
        if !a.json {
            eprintln!("  peers: {m}");
        }
    })?;
    let load = watch.finish(None);
    if !a.json {
        warn_busy(a, &load);
        print!("{}", peers.table());
    }
    report::write_peers(report, &peers)?;
    summary.push_str(&with_warning(
        report::peers_markdown(&peers),
        load.busy.as_deref(),
    ));
    with_load(serde_json::to_value(&peers)?, &load)
}

/// Receive capacity of each receive backend at each payload, beside the sender's best rate.
fn capacity(
    a: &BenchArgs,
    place: &Placement,
    out: &mut ReportWriter,
    summary: &mut String,
) -> anyhow::Result<serde_json::Value> {
    use crate::bench::receiver_capacity;
    use ringshot::recv::RecvBackend;
    let backends = [RecvBackend::Mmsg, RecvBackend::Uring];
    let watch = LoadWatch::start(place);
    let bar = ProgressBar::new((a.payloads.len() * (1 + backends.len())) as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}").expect("static template"),
    );
    let mut rows = Vec::new();
    // A stop request keeps the rows whose search ended.
    'payloads: for &payload in &a.payloads {
        bar.set_message(format!("sender's best rate at {payload} B"));
        let best = match sender_best(payload, place) {
            Err(BenchError::Interrupted) => break,
            r => r?,
        };
        bar.inc(1);
        for b in backends {
            bar.set_message(format!("{b} receiver at {payload} B: searching"));
            let trial = Duration::from_millis(1000);
            match receiver_capacity(b, payload, best.sent_pps, trial, 6, place) {
                Err(BenchError::Interrupted) => break 'payloads,
                r => rows.push(r?),
            }
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    let load = watch.finish(None);
    if !a.json {
        warn_busy(a, &load);
        println!("receive capacity (highest paced rate with 0 lost and 0 kernel drops; GSO sender, GRO receiver)");
        println!(
            "{:<8} {:>6} {:>14} {:>14} {:>7}",
            "receiver", "bytes", "capacity pps", "best sent pps", "trials"
        );
        for r in &rows {
            println!(
                "{:<8} {:>6} {:>14} {:>14.0} {:>7}",
                r.receiver_backend,
                r.payload,
                r.capacity_pps
                    .map_or("< 10000".into(), |c| format!("{c:.0}")),
                r.sender_best_pps,
                r.trials.len()
            );
        }
    }
    report::write_capacity(out, &rows)?;
    summary.push_str(&with_warning(
        report::capacity_markdown(&rows),
        load.busy.as_deref(),
    ));
    with_load(report::capacity_json(&rows), &load)
}

fn print_table(rows: &[CaseResult]) {
    println!(
        "{:<7} {:<8} {:>6} {:>13} {:>11} {:>8} {:>9} {:>9} {:>6} {:>9} {:>9} {:>9} {:>9} {:>8}",
        "backend",
        "gso",
        "bytes",
        "delivered pps",
        "sent pps",
        "Gbit/s",
        "deliv %",
        "CPU ns/p",
        "CPU %",
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
            "{:<7} {:<8} {:>6} {:>13.0} {:>11.0} {:>8.2} {:>9.2} {:>9.0} {:>6.0} {:>9} {:>9} {:>9} {:>9} {:>8}",
            r.backend,
            gso,
            r.payload,
            r.pps,
            r.sent_pps,
            r.gbps,
            r.delivered_pct,
            r.cpu_ns_per_packet,
            r.cpu_pct,
            fmt_ns(r.submit_ns.p50),
            fmt_ns(r.submit_ns.p99),
            fmt_ns(r.submit_ns.p9999),
            fmt_ns(r.submit_ns.max),
            r.ratio_to_send.map_or("-".into(), |x| format!("{x:.2}")),
        );
    }
}

fn sdr(
    a: &BenchArgs,
    place: &Placement,
    report: &mut ReportWriter,
    summary: &mut String,
) -> anyhow::Result<serde_json::Value> {
    use crate::bench::sdr::SdrConfig;
    let watch = LoadWatch::start(place);
    let spinner = ProgressBar::new_spinner();
    spinner.set_message(format!(
        "jitter probe on the TX core for {:.0} s",
        a.jitter_secs.as_secs_f64()
    ));
    spinner.enable_steady_tick(Duration::from_millis(250));
    let floor = crate::bench::jitter::probe_until(place.tx_core, a.jitter_secs, &place.stop);
    spinner.finish_and_clear();
    place.stop.check()?;
    let cfg = SdrConfig {
        seconds: a.sdr_secs.as_secs_f64(),
        format: a.sdr_ack,
        ..SdrConfig::default()
    };
    let mut runs = vec![("SCHED_OTHER".to_string(), sdr_run(a, place, &cfg)?)];
    if let Some(p) = a.sched_fifo {
        let fifo = SdrConfig {
            sched_fifo: Some(p),
            ..cfg.clone()
        };
        runs.push((format!("SCHED_FIFO {p}"), sdr_run(a, place, &fifo)?));
    }
    let load = watch.finish(Some(&floor));
    let rows = report::sdr_rows(&floor, &runs);
    if !a.json {
        warn_busy(a, &load);
        print!("{}", report::sdr_floor_table(&floor, &rows));
    }
    report::write_sdr(report, &floor, &runs)?;
    summary.push_str(&with_warning(
        report::sdr_markdown(&floor, &rows),
        load.busy.as_deref(),
    ));
    with_load(report::sdr_json(&floor, &runs, &rows), &load)
}

/// One SDR workload run with its printed summary.
fn sdr_run(
    a: &BenchArgs,
    place: &Placement,
    cfg: &crate::bench::sdr::SdrConfig,
) -> anyhow::Result<crate::bench::sdr::SdrResult> {
    use crate::bench::sdr::run_sdr;
    let spinner = ProgressBar::new_spinner();
    spinner.set_message(format!(
        "SDR workload: {:.0} pps × {} B for {:.0} s into a {} KiB device ({} ACKs)",
        cfg.rate_pps,
        cfg.payload,
        cfg.seconds,
        cfg.device_buffer / 1024,
        cfg.format
    ));
    spinner.enable_steady_tick(Duration::from_millis(250));
    let r = run_sdr(cfg, place);
    spinner.finish_and_clear();
    let r = r?;
    if !a.json {
        let tx = &r.run.tx;
        println!(
            "SDR workload ({}): {:.0} pps × {} B, {:.0} s, window {} packets, ACK every {}, prefill {}, burst {}, {} ACKs",
            cfg.sched_fifo.map_or("SCHED_OTHER".into(), |p| format!("SCHED_FIFO {p}")),
            cfg.rate_pps,
            cfg.payload,
            cfg.seconds,
            r.run.window_packets,
            r.run.ack_every,
            r.run.prefill,
            r.run.burst,
            cfg.format
        );
        println!(
            "  sent {} consumed {} lost {}; max fill {} B; {} schedule slips; {} window waits; {} ACKs accepted",
            tx.packets,
            r.run.device.consumed,
            r.run.lost,
            r.run.device.max_fill_bytes,
            tx.schedule_slips,
            tx.window_waits,
            tx.acks.as_ref().map_or(0, |a| a.accepted)
        );
        println!(
            "  CPU of ringshot-tx: {:.0} ns per packet, {:.1} % of a core",
            tx.cpu_ns as f64 / tx.packets.max(1) as f64,
            crate::bench::cpu_pct(tx.cpu_ns, tx.seconds)
        );
        let s = &tx.submit_ns;
        println!(
            "  submit p50 {} p99 {} p99.99 {} max {}",
            fmt_ns(s.p50),
            fmt_ns(s.p99),
            fmt_ns(s.p9999),
            fmt_ns(s.max)
        );
        if let (Some(l), Some(v)) = (tx.lateness_ns, tx.ack_visibility_ns) {
            println!(
                "  lateness p50 {} p99 {} p99.99 {} max {}; ACK visibility p50 {} p99 {} max {}",
                fmt_ns(l.p50),
                fmt_ns(l.p99),
                fmt_ns(l.p9999),
                fmt_ns(l.max),
                fmt_ns(v.p50),
                fmt_ns(v.p99),
                fmt_ns(v.max)
            );
        }
        println!(
            "  {:<28} {:>10} {:>32}  result",
            "goal", "target", "measured"
        );
        for g in &r.goals {
            println!(
                "  {:<28} {:>10} {:>32}  {}",
                g.goal,
                g.target,
                g.measured,
                if g.pass { "met" } else { "MISSED" }
            );
        }
    }
    Ok(r)
}

fn zero_loss(
    a: &BenchArgs,
    place: &Placement,
    out: &mut ReportWriter,
    summary: &mut String,
) -> anyhow::Result<serde_json::Value> {
    use crate::bench::sdr::{zero_loss_search, SdrConfig};
    let watch = LoadWatch::start(place);
    let bar = ProgressBar::new_spinner();
    bar.set_message("zero-loss search: the sender's best rate first");
    bar.enable_steady_tick(Duration::from_millis(250));
    let cfg = SdrConfig {
        format: a.sdr_ack,
        ..SdrConfig::default()
    };
    let r = sender_best(1472, place).and_then(|best| {
        bar.set_message("zero-loss search through the device emulator with flow control");
        zero_loss_search(&cfg, best.sent_pps, 1.0, 7, place)
    });
    bar.finish_and_clear();
    let r = r?;
    let load = watch.finish(None);
    if !a.json {
        warn_busy(a, &load);
        let fmt = |p: Option<f64>| {
            p.map_or("below 10000 pps".into(), |p| {
                format!("{p:.0} pps ({:.2} Gbit/s)", p * 1472.0 * 8.0 / 1e9)
            })
        };
        println!(
            "sender → device emulator with flow control (1472 B, 1 MiB buffer, {} ACKs)",
            cfg.format
        );
        println!(
            "  zero-loss rate (achieved, 0 lost, peers' rule): {}",
            fmt(r.zero_loss_pps)
        );
        println!(
            "  highest rate also kept within 1 % (device rule): {}",
            fmt(r.kept_rate_pps)
        );
        for t in &r.trials {
            println!(
                "  {:>10.0} pps → {:>10.0}: sent {:>9} rate error {:>+8.3} % lost {:>4} overflow {:>3} underflow {:>5}{} {}",
                t.rate_pps,
                t.achieved_pps,
                t.sent,
                t.rate_error_pct.unwrap_or(f64::NAN),
                t.lost,
                t.overflows,
                t.underflows,
                if t.stalled { " stalled" } else { "" },
                match (t.zero_loss, t.kept_rate) {
                    (true, true) => "zero loss, rate kept",
                    (true, false) => "zero loss",
                    _ => "LOSS",
                }
            );
        }
    }
    report::write_zero_loss(out, &r)?;
    summary.push_str(&with_warning(
        report::zero_loss_markdown(&r),
        load.busy.as_deref(),
    ));
    with_load(serde_json::to_value(&r)?, &load)
}

/// The sender's best unpaced rate at `payload` (auto backend, GSO), measured for 2 s: the upper
/// bound of the capacity and zero-loss searches.
fn sender_best(payload: usize, place: &Placement) -> Result<CaseResult, BenchError> {
    let case = crate::bench::Case {
        backend: ringshot::BackendChoice::Auto,
        gso: true,
        payload,
    };
    run_case(case, Duration::from_secs(2), place)
}

/// Why the wire suite cannot run here, if it cannot.
#[cfg(ringshot_netns)]
fn wire_unavailable() -> Option<String> {
    crate::bench::wire::netns::unavailable_reason()
}

#[cfg(not(ringshot_netns))]
fn wire_unavailable() -> Option<String> {
    Some("needs Linux network namespaces, veth and nftables".into())
}

#[cfg(not(ringshot_netns))]
fn wire(
    _: &BenchArgs,
    _: &Placement,
    _: &mut ReportWriter,
    _: &mut String,
) -> anyhow::Result<serde_json::Value> {
    Err(super::usage(format!(
        "suite wire: {}",
        wire_unavailable().unwrap_or_default()
    )))
}

/// The wire suite. A stop signal ends it between measurements (or cuts the running one short);
/// the namespaces are removed, and the suite is left out of the (partial) report.
#[cfg(ringshot_netns)]
fn wire(
    a: &BenchArgs,
    place: &Placement,
    report: &mut ReportWriter,
    summary: &mut String,
) -> anyhow::Result<serde_json::Value> {
    use crate::bench::wire::{
        pair_lines, planned_steps, run_wire, wire_table, WireError, WireOptions,
    };
    let o = WireOptions {
        case_secs: a.case_secs,
        payloads: a.payloads.clone(),
        profile_dir: a.profile.then(|| report.dir().to_path_buf()),
        engines_max: a.wire_engines,
        engines_only: a.wire_engines_only,
        ..WireOptions::default()
    };
    let o = if a.wire_backends.is_empty() {
        o
    } else {
        WireOptions {
            backends: a.wire_backends.clone(),
            ..o
        }
    };
    let watch = LoadWatch::start(place);
    let bar = ProgressBar::new(planned_steps(&o));
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}").expect("static template"),
    );
    let mut first = true;
    let r = run_wire(&o, place, place.stop.flag(), |m| {
        if !std::mem::take(&mut first) {
            bar.inc(1);
        }
        bar.set_message(m.to_string());
    });
    bar.finish_and_clear();
    let r = match r {
        Ok(r) => r,
        Err(e @ WireError::Interrupted) => {
            eprintln!("ringshot bench: interrupted; the wire's namespaces were removed");
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };
    let load = watch.finish(None);
    if !a.json {
        warn_busy(a, &load);
        println!("  {}", r.topology);
        println!(
            "  {:.1} s per measurement, {}; sender-side = crossed the far interface ÷ the sender's time",
            r.case_seconds,
            r.batch_description()
        );
        print!("{}", wire_table(&r.rows, &r.goals));
        print!("{}", pair_lines(&r.backend_rounds));
        if let Some(t) = &r.engines {
            print!("{}", crate::bench::wire::engines_lines(t));
        }
        for s in &r.skipped {
            println!("  skipped: {s}");
        }
    }
    for f in &r.profiles {
        report.record(f);
    }
    report::write_wire(report, &r)?;
    summary.push_str(&with_warning(
        report::wire_markdown(&r),
        load.busy.as_deref(),
    ));
    with_load(serde_json::to_value(&r)?, &load)
}
