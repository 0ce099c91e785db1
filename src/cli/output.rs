//! Human-readable tables and the live progress line.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

/// A one-line progress display on stderr that appears only once a run has lasted 2 s (and only
/// on a terminal).
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    start: Instant,
    last: (Instant, u64),
    label: &'static str,
}

impl Progress {
    pub fn new(label: &'static str) -> Progress {
        let now = Instant::now();
        Progress {
            bar: None,
            start: now,
            last: (now, 0),
            label,
        }
    }

    /// Updates the display with the running total of packets.
    pub fn update(&mut self, packets: u64) {
        let now = Instant::now();
        if now.duration_since(self.start) < Duration::from_secs(2) {
            return;
        }
        let bar = self.bar.get_or_insert_with(|| {
            let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(4));
            b.set_style(ProgressStyle::with_template("{spinner} {msg}").expect("template"));
            b
        });
        let dt = now.duration_since(self.last.0).as_secs_f64();
        if dt >= 0.25 {
            let rate = (packets - self.last.1) as f64 / dt;
            // The run's own elapsed time: the bar itself only appears after 2 s.
            bar.set_message(format!(
                "{:>4}s {}: {packets} packets, {}",
                now.duration_since(self.start).as_secs(),
                self.label,
                fmt_rate(rate)
            ));
            bar.tick();
            self.last = (now, packets);
        }
    }

    pub fn finish(self) {
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}

pub fn fmt_rate(pps: f64) -> String {
    if pps >= 1e6 {
        format!("{:.2} Mpps", pps / 1e6)
    } else if pps >= 1e3 {
        format!("{:.1} kpps", pps / 1e3)
    } else {
        format!("{pps:.0} pps")
    }
}

pub fn fmt_ns(ns: u64) -> String {
    if ns >= 1_000_000 {
        format!("{:.2} ms", ns as f64 / 1e6)
    } else if ns >= 1_000 {
        format!("{:.1} µs", ns as f64 / 1e3)
    } else {
        format!("{ns} ns")
    }
}

/// A map as `name=count` pairs separated by spaces; `none` when empty.
pub fn fmt_map<K: std::fmt::Display, V: std::fmt::Display>(
    m: &std::collections::BTreeMap<K, V>,
) -> String {
    if m.is_empty() {
        return "none".into();
    }
    m.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Prints `rows` of (label, value) aligned.
pub fn print_kv(title: &str, rows: &[(&str, String)]) {
    println!("{title}");
    let w = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in rows {
        println!("  {k:<w$}  {v}");
    }
}

/// A report as one JSON object with the ending added: `"interrupted"` always, and `"error"` with
/// the message when the run stopped with one, and the `extra` keys (`intervals`, `streams`). Set on the object itself, so a report that already
/// has an `interrupted` key is overwritten rather than given a second one.
pub fn report_json(
    report: &impl Serialize,
    interrupted: bool,
    error: Option<&str>,
    extra: Vec<(&str, serde_json::Value)>,
) -> serde_json::Result<String> {
    let mut v = serde_json::to_value(report)?;
    if let Some(obj) = v.as_object_mut() {
        obj.insert("interrupted".into(), interrupted.into());
        for (k, x) in extra {
            obj.insert(k.into(), x);
        }
        if let Some(e) = error {
            obj.insert("error".into(), e.into());
        }
    }
    serde_json::to_string(&v)
}
