//! The report folder of `ringshot bench --out DIR`: `report.json` (every number in the tables,
//! the machine, the command), `summary.md` (every suite's tables), HdrHistogram interval logs
//! (`*.hlog`, one interval per second) and SVG plots.
//!
//! `report.json`'s top-level fields: `command` (the argument vector), `created_unix` (seconds),
//! `machine` (see [`machine`]), `placement`, `files` (every file written, relative to the folder),
//! `interrupted` and, when a stop signal cut the run short, `interrupted_suite` (both added by
//! `ringshot bench`), and one object per suite that ran (`throughput`, `capacity`, `peers`,
//! `sdr`, `zero_loss`, `wire`), each the suite's own serialized report; `SUITE_FIELDS` lists
//! each one's fields (the tests hold every report to `REPORT_FIELDS` and `SUITE_FIELDS`). `ringshot bench` adds `machine_load` to each suite's object (see
//! [`crate::bench::load::MachineLoad`]): the load average at the suite's start and end, the cores
//! the run uses and, when the machine was busy, the warning line the tables carry.
//!
//! Every row that ran ringshot's sender gets one interval log per histogram it measured
//! (`STEM-submit.hlog`, `-reap`, `-lateness`, `-window-wait`, `-ack-visibility`) and, where
//! ringshot's receiver took the packets, `STEM-rx-gaps.hlog`: see [`write_hlogs`].

pub mod plot;
mod sdr;
mod suites;
#[cfg(test)]
mod tests;
#[cfg(ringshot_netns)]
mod wire;
// The wire tables and plots exist where the wire suite builds (Linux).
#[cfg(all(test, ringshot_netns))]
mod wire_tests;

#[cfg(test)]
pub use sdr::lateness_lines;
pub use sdr::{sdr_floor_table, sdr_json, sdr_markdown, sdr_rows, write_sdr};
pub use suites::{
    capacity_json, capacity_markdown, peers_markdown, throughput_json, throughput_markdown,
    write_capacity, write_peers, write_throughput, write_zero_loss, zero_loss_markdown,
};
#[cfg(ringshot_netns)]
pub use wire::{wire_markdown, write_wire};

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use serde_json::{json, Value};

use super::Series;

/// The fields `report.json` always has at its top level.
#[cfg(test)]
pub const REPORT_FIELDS: [&str; 5] = ["command", "created_unix", "machine", "placement", "files"];

/// Each suite's object in `report.json` and the fields it always has.
#[cfg(test)]
pub const SUITE_FIELDS: [(&str, &[&str]); 6] = [
    ("throughput", &["case_seconds", "results", "skipped"]),
    ("capacity", &["rows"]),
    (
        "peers",
        &[
            "payload",
            "options",
            "placement",
            "rows",
            "skipped",
            "best_peer_delivered",
            "best_peer_zero_loss",
            "ratios",
        ],
    ),
    ("sdr", &["jitter_floor", "runs", "excess_over_floor"]),
    (
        "zero_loss",
        &[
            "payload",
            "upper_bound_pps",
            "zero_loss_pps",
            "kept_rate_pps",
            "trials",
        ],
    ),
    (
        "wire",
        &[
            "case_seconds",
            "batch",
            "placement",
            "topology",
            "rows",
            "skipped",
            "backend_rounds",
            "goals",
            "engines",
        ],
    ),
];

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

    /// The folder (the wire suite writes its profiles there).
    #[cfg(ringshot_netns)]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Files written so far, relative to the folder.
    #[cfg(all(test, ringshot_netns))]
    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// The path of `name` in the folder, recorded as written.
    pub fn path(&mut self, name: &str) -> PathBuf {
        self.files.push(name.to_string());
        self.dir.join(name)
    }

    /// Records `name` as written by someone else into the folder (a wire run's profiles).
    #[cfg(ringshot_netns)]
    pub fn record(&mut self, name: &str) {
        self.files.push(name.to_string());
    }

    pub fn text(&mut self, name: &str, text: &str) -> io::Result<()> {
        let p = self.path(name);
        fs::write(p, text)
    }

    /// An HdrHistogram V2 interval log of `intervals` (offset from `start`, length, histogram).
    pub fn hlog_series(
        &mut self,
        name: &str,
        comment: &str,
        start: SystemTime,
        tag: &str,
        intervals: &[(Duration, Duration, &Histogram<u64>)],
    ) -> io::Result<()> {
        let p = self.path(name);
        let mut f = io::BufWriter::new(fs::File::create(p)?);
        ringshot::stats::write_interval_series(&mut f, comment, start, tag, intervals)?;
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

pub(crate) fn file_safe(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// One interval log per histogram of `s` (see the module documentation), named `STEM-WHAT.hlog`
/// with `stem` made file-safe; one interval per time-series interval, or the whole run as one
/// interval for a sender that kept no time series. Returns how many logs it wrote.
pub fn write_hlogs(w: &mut ReportWriter, stem: &str, s: &Series) -> io::Result<usize> {
    let stem = file_safe(stem);
    let mut n = 0;
    if let Some(tx) = &s.tx {
        let whole = Duration::try_from_secs_f64(tx.seconds.max(0.0)).unwrap_or_default();
        let tl = &tx.timeline;
        type Pick = fn(&ringshot::engine::IntervalHists) -> Option<&Histogram<u64>>;
        let logs: [(&str, &str, Option<&Histogram<u64>>, Pick); 5] = [
            ("submit", "submit", Some(&tx.submit_hist), |h| {
                Some(&h.submit)
            }),
            ("reap", "reap", Some(&tx.reap_hist), |h| Some(&h.reap)),
            ("lateness", "lateness", tx.lateness_hist.as_ref(), |h| {
                h.lateness.as_ref()
            }),
            (
                "window-wait",
                "window_wait",
                tx.window_wait_hist.as_ref(),
                |h| h.window_wait.as_ref(),
            ),
            (
                "ack-visibility",
                "ack_visibility",
                tx.ack_visibility_hist.as_ref(),
                |h| h.ack_visibility.as_ref(),
            ),
        ];
        for (file, tag, total, pick) in logs {
            let Some(total) = total else { continue };
            let intervals: Vec<_> = if tl.is_empty() {
                vec![(Duration::ZERO, whole, total)]
            } else {
                tl.iter()
                    .filter_map(|i| pick(&i.hists).map(|h| (i.start(), i.duration(), h)))
                    .collect()
            };
            let comment = format!("ringshot sender, {tag} ns, one interval per second");
            let name = format!("{stem}-{file}.hlog");
            w.hlog_series(
                &name,
                &comment,
                tx.started,
                &format!("{tag}_ns"),
                &intervals,
            )?;
            n += 1;
        }
    }
    if let (false, Some(start)) = (s.rx.is_empty(), s.rx_started) {
        let intervals: Vec<_> =
            s.rx.iter()
                .map(|g| (g.start(), g.duration(), &g.gaps))
                .collect();
        let comment = "ringshot receiver, inter-arrival gap ns, one interval per second";
        w.hlog_series(
            &format!("{stem}-rx-gaps.hlog"),
            comment,
            start,
            "rx_gap_ns",
            &intervals,
        )?;
        n += 1;
    }
    Ok(n)
}
