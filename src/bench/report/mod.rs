//! The report folder of `ringshot bench --out DIR`: `report.json` (every number in the tables,
//! the machine, the command), `summary.md`, HdrHistogram interval logs (`*.hlog`) and SVG plots.
//!
//! `report.json`'s top-level fields: `command` (the argument vector), `created_unix` (seconds),
//! `machine` (see [`machine`]), `placement`, `files` (every file written, relative to the folder)
//! and one object per suite that ran (`throughput`, `capacity`, `peers`, `sdr`, `zero_loss`,
//! `wire`), each the suite's own serialized report.

pub mod plot;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use serde_json::{json, Value};

#[cfg(ringshot_netns)]
use super::wire::{Mode, WireReport, WireRow};

/// The fields `report.json` always has at its top level.
pub const REPORT_FIELDS: [&str; 5] = ["command", "created_unix", "machine", "placement", "files"];

/// A report folder being written; remembers every file it wrote.
#[derive(Debug)]
pub struct ReportWriter {
    dir: PathBuf,
    files: Vec<String>,
}

impl ReportWriter {
    /// Creates `dir` (and its parents) if needed.
    pub fn create(dir: &Path) -> io::Result<ReportWriter> {
        fs::create_dir_all(dir)?;
        Ok(ReportWriter {
            dir: dir.to_path_buf(),
            files: Vec::new(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Files written so far, relative to the folder.
    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// The path of `name` in the folder, recorded as written.
    pub fn path(&mut self, name: &str) -> PathBuf {
        self.files.push(name.to_string());
        self.dir.join(name)
    }

    /// Records `name` as written by someone else into the folder.
    pub fn record(&mut self, name: &str) {
        self.files.push(name.to_string());
    }

    pub fn text(&mut self, name: &str, text: &str) -> io::Result<()> {
        let p = self.path(name);
        fs::write(p, text)
    }

    /// An HdrHistogram V2 interval log of `h` (one interval covering `secs` from `start`).
    pub fn hlog(
        &mut self,
        name: &str,
        h: &Histogram<u64>,
        start: SystemTime,
        secs: f64,
        tag: &str,
    ) -> io::Result<()> {
        let p = self.path(name);
        let mut f = io::BufWriter::new(fs::File::create(p)?);
        let d = Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or_default();
        crate::stats::write_interval_log(&mut f, h, start, d, tag)?;
        io::Write::flush(&mut f)
    }

    /// Writes `report.json`: `suites` (an object) with the command, the machine, the placement
    /// and the file list added (report.json itself included).
    pub fn report_json(
        &mut self,
        command: &[String],
        placement: &str,
        suites: serde_json::Map<String, Value>,
    ) -> io::Result<()> {
        let p = self.path("report.json");
        let created = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut top = suites;
        top.insert("command".into(), json!(command));
        top.insert("created_unix".into(), json!(created));
        top.insert("machine".into(), machine());
        top.insert("placement".into(), json!(placement));
        top.insert("files".into(), json!(self.files));
        let text = serde_json::to_string_pretty(&Value::Object(top)).map_err(io::Error::other)?;
        fs::write(p, text)
    }
}

/// The kernel's name and release, and the machine's architecture.
#[cfg(unix)]
fn kernel_and_arch() -> (String, String) {
    match nix::sys::utsname::uname() {
        Ok(u) => (
            format!(
                "{} {}",
                u.sysname().to_string_lossy(),
                u.release().to_string_lossy()
            ),
            u.machine().to_string_lossy().into_owned(),
        ),
        Err(_) => (String::new(), String::new()),
    }
}

#[cfg(not(unix))]
fn kernel_and_arch() -> (String, String) {
    (std::env::consts::OS.into(), std::env::consts::ARCH.into())
}

/// The machine: kernel, CPU model, cores, memory, load average when the report was written.
pub fn machine() -> Value {
    let (kernel, arch) = kernel_and_arch();
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|m| m.trim().to_string());
    let mem_kib = fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
    });
    json!({
        "kernel": kernel,
        "arch": arch,
        "cpu_model": model,
        "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "memory_kib": mem_kib,
        "load_average": fs::read_to_string("/proc/loadavg").ok().map(|l| l.trim().to_string()),
    })
}

fn file_safe(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

#[cfg(ringshot_netns)]
fn label(r: &WireRow) -> String {
    format!(
        "{} {} GSO {}",
        r.sender,
        r.backend,
        if r.gso { "on" } else { "off" }
    )
}

/// The wire suite's files: one `.hlog` per ringshot row's submit histogram, and per payload a
/// nines plot of submit latency per backend and a bar plot of sender-side pps with the peers.
#[cfg(ringshot_netns)]
pub fn write_wire(w: &mut ReportWriter, r: &WireReport) -> io::Result<()> {
    let mut payloads: Vec<usize> = r.rows.iter().map(|r| r.payload).collect();
    payloads.sort_unstable();
    payloads.dedup();
    for row in &r.rows {
        if let Some(rh) = &row.hist {
            let mode = match row.mode {
                Mode::SenderSide => "sender-side",
                Mode::EndToEnd => "end-to-end",
            };
            let name = format!(
                "wire-submit-{}-{}-{mode}.hlog",
                file_safe(&label(row)),
                row.payload
            );
            w.hlog(&name, &rh.hist, rh.started, row.seconds, "submit_ns")?;
        }
    }
    for p in payloads {
        let series: Vec<(String, &Histogram<u64>)> = r
            .rows
            .iter()
            .filter(|x| x.payload == p && x.mode == Mode::SenderSide)
            .filter_map(|x| x.hist.as_ref().map(|h| (label(x), &h.hist)))
            .collect();
        let path = w.path(&format!("wire-submit-nines-{p}.svg"));
        plot::nines_svg(
            &path,
            &format!("submit latency, wire, sender-side, {p} B"),
            &series,
        )?;
        let bars: Vec<(String, f64)> = r
            .rows
            .iter()
            .filter(|x| x.payload == p && x.mode == Mode::SenderSide)
            .map(|x| (label(x), x.pps))
            .collect();
        let path = w.path(&format!("wire-pps-{p}.svg"));
        plot::bars_svg(
            &path,
            &format!("pps crossing the wire (sender-side), {p} B"),
            "packets/s",
            &bars,
        )?;
        let bars: Vec<(String, f64)> = r
            .rows
            .iter()
            .filter(|x| x.payload == p && x.mode == Mode::EndToEnd)
            .map(|x| (label(x), x.pps))
            .collect();
        if !bars.is_empty() {
            let path = w.path(&format!("wire-delivered-{p}.svg"));
            plot::bars_svg(
                &path,
                &format!("pps delivered end to end, {p} B"),
                "packets/s",
                &bars,
            )?;
        }
    }
    Ok(())
}

#[cfg(ringshot_netns)]
fn cell(v: Option<f64>, prec: usize) -> String {
    v.map_or("–".into(), |x| format!("{x:.prec$}"))
}

/// The wire suite as markdown: the rows, the goals and the skipped peers.
#[cfg(ringshot_netns)]
pub fn wire_markdown(r: &WireReport) -> String {
    let mut s = format!(
        "## wire\n\n{}\n\n{:.1} s per measurement, batch {}; {}.\n\n",
        r.topology, r.case_seconds, r.batch, r.placement
    );
    s += "| sender | backend | GSO | bytes | mode | pps | Gbit/s | lost % | CPU ns/pkt | × raw loop |\n";
    s += "|---|---|---|---:|---|---:|---:|---:|---:|---:|\n";
    for x in &r.rows {
        let lost = x.lost.map(|l| 100.0 * l as f64 / x.sent.max(1) as f64);
        s += &format!(
            "| {} | {} | {} | {} | {} | {:.0} | {:.2} | {} | {} | {} |\n",
            x.sender,
            x.backend,
            if x.gso { "on" } else { "off" },
            x.payload,
            match x.mode {
                Mode::SenderSide => "sender-side",
                Mode::EndToEnd => "end-to-end",
            },
            x.pps,
            x.gbps,
            cell(lost, 2),
            cell(x.cpu_ns_per_packet, 0),
            cell(x.raw_ratio, 2)
        );
    }
    s += "\n| goal | target | measured | result |\n|---|---:|---:|---|\n";
    for g in &r.goals {
        s += &format!(
            "| {} | {:.2} | {} | {} |\n",
            g.goal,
            g.target,
            cell(g.measured, 2),
            match g.pass {
                Some(true) => "met",
                Some(false) => "**missed**",
                None => "not measured",
            }
        );
    }
    for k in &r.skipped {
        s += &format!("\nskipped: {k}\n");
    }
    s
}

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
}

/// The excess-over-floor rows of `runs` (policy name, result).
pub fn sdr_rows(
    floor: &super::jitter::JitterFloor,
    runs: &[(String, super::sdr::SdrResult)],
) -> Vec<SdrFloorRow> {
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
            }
        })
        .collect()
}

fn us(ns: u64) -> String {
    format!("{:.1} µs", ns as f64 / 1e3)
}

fn floor_line(f: &super::jitter::JitterFloor) -> String {
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

/// The floor and each policy's tails with their excess, as text.
pub fn sdr_floor_table(f: &super::jitter::JitterFloor, rows: &[SdrFloorRow]) -> String {
    let mut s = format!("{}\n", floor_line(f));
    s += &format!(
        "  {:<14} {:>12} {:>14} {:>12} {:>14} {:>8}\n",
        "policy", "submit max", "excess", "late max", "excess", "goals"
    );
    for r in rows {
        s += &format!(
            "  {:<14} {:>12} {:>14} {:>12} {:>14} {:>4}/{}\n",
            r.policy,
            us(r.submit_max_ns),
            us(r.submit_max_excess_ns),
            r.lateness_max_ns.map_or("-".into(), us),
            r.lateness_max_excess_ns.map_or("-".into(), us),
            r.goals_met,
            r.goals
        );
    }
    s
}

/// The same as markdown.
pub fn sdr_markdown(f: &super::jitter::JitterFloor, rows: &[SdrFloorRow]) -> String {
    let mut s = format!("## sdr\n\n{}\n\n", floor_line(f));
    s += "| policy | submit max | submit p99.99 | excess over floor | lateness max | lateness p99.99 | excess over floor | goals met |\n|---|---:|---:|---:|---:|---:|---:|---:|\n";
    for r in rows {
        s += &format!(
            "| {} | {} | {} | {} | {} | {} | {} | {}/{} |\n",
            r.policy,
            us(r.submit_max_ns),
            us(r.submit_p9999_ns),
            us(r.submit_max_excess_ns),
            r.lateness_max_ns.map_or("–".into(), us),
            r.lateness_p9999_ns.map_or("–".into(), us),
            r.lateness_max_excess_ns.map_or("–".into(), us),
            r.goals_met,
            r.goals
        );
    }
    s
}

/// The SDR suite's files: each run's submit histogram as `.hlog` and a nines plot of them, and
/// the floor's largest gap per second over time beside each run's lateness maximum.
pub fn write_sdr(
    w: &mut ReportWriter,
    f: &super::jitter::JitterFloor,
    runs: &[(String, super::sdr::SdrResult)],
) -> io::Result<()> {
    for (policy, r) in runs {
        let tx = &r.run.tx;
        w.hlog(
            &format!("sdr-submit-{}.hlog", file_safe(policy)),
            &tx.submit_hist,
            tx.started,
            tx.seconds,
            "submit_ns",
        )?;
    }
    let series: Vec<(String, &Histogram<u64>)> = runs
        .iter()
        .map(|(p, r)| (format!("submit, {p}"), &r.run.tx.submit_hist))
        .collect();
    let path = w.path("sdr-submit-nines.svg");
    plot::nines_svg(&path, "SDR workload: submit latency", &series)?;
    let mut lines = vec![(
        "machine floor: largest clock gap per second (µs)".to_string(),
        f.per_second
            .iter()
            .enumerate()
            .map(|(i, s)| (i as f64 + 1.0, s.max_gap_ns as f64 / 1e3))
            .collect::<Vec<_>>(),
    )];
    for (p, r) in runs {
        if let Some(l) = r.run.tx.lateness_ns {
            let secs = f.seconds.max(1.0);
            let y = l.max as f64 / 1e3;
            lines.push((format!("lateness max, {p} (µs)"), vec![(0.0, y), (secs, y)]));
        }
    }
    let path = w.path("sdr-floor.svg");
    plot::series_svg(
        &path,
        "jitter floor over time and the SDR run's lateness max",
        "µs",
        &lines,
    )
}
