//! The wire suite's goals, judged on one run's rows, and its text table.

use std::fmt::Write as _;

use serde::Serialize;

use super::{BackendRounds, Mode, WireRow};

/// One goal and whether this run met it (`None`: a number it needs was not measured).
#[derive(Debug, Clone, Serialize)]
pub struct WireGoal {
    pub goal: String,
    pub target: f64,
    pub measured: Option<f64>,
    pub pass: Option<bool>,
    /// When `measured` is the median of alternating rounds: the lowest and highest single
    /// round's ratio, so a reader sees whether the verdict stands out of this machine's noise.
    pub rounds_range: Option<[f64; 2]>,
}

impl WireGoal {
    /// The target lies within the rounds' range: the verdict is inside the run's own noise.
    pub fn within_noise(&self) -> bool {
        self.rounds_range
            .is_some_and(|[lo, hi]| lo <= self.target && self.target <= hi)
    }

    /// What the result column adds when the verdict is inside the run's own noise.
    pub fn noise_note(&self) -> &'static str {
        if self.within_noise() {
            " (target within the rounds' range)"
        } else {
            ""
        }
    }
}

/// The lowest and highest of the rounds' first ÷ second (rounds with a zero second left out).
fn range(rounds: &[[f64; 2]]) -> Option<[f64; 2]> {
    super::ratio::round_ratios(rounds).fold(None, |r, x| match r {
        None => Some([x, x]),
        Some([lo, hi]) => Some([lo.min(x), hi.max(x)]),
    })
}

fn side(rows: &[WireRow], payload: usize) -> impl Iterator<Item = &WireRow> {
    rows.iter()
        .filter(move |r| r.mode == Mode::SenderSide && r.payload == payload)
}

fn best(it: impl Iterator<Item = f64>) -> Option<f64> {
    it.fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))))
}

fn goal(goal: String, target: f64, measured: Option<f64>) -> WireGoal {
    WireGoal {
        goal,
        target,
        measured,
        pass: measured.map(|m| m >= target),
        rounds_range: None,
    }
}

/// The suite's goals at every payload measured, from sender-side rows only; uring ÷ mmsg (with
/// uring's send order strict, and relaxed) comes from `pairs`' rounds where a payload has them,
/// else from the two rows.
pub fn goals(rows: &[WireRow], pairs: &[BackendRounds]) -> Vec<WireGoal> {
    let mut payloads: Vec<usize> = rows.iter().map(|r| r.payload).collect();
    payloads.sort_unstable();
    payloads.dedup();
    let mut out = Vec::new();
    for p in payloads {
        let ring = |gso: bool| {
            best(
                side(rows, p)
                    .filter(|r| r.sender == "ringshot" && r.gso == gso)
                    .map(|r| r.pps),
            )
        };
        let peer = best(
            side(rows, p)
                .filter(|r| r.sender != "ringshot" && r.sender != "raw")
                .map(|r| r.pps),
        );
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            _ => None,
        };
        out.push(goal(
            format!("{p} B: GSO sender-side ÷ best peer"),
            2.5,
            ratio(ring(true), peer),
        ));
        out.push(goal(
            format!("{p} B: best per-datagram backend ÷ best peer"),
            1.15,
            ratio(ring(false), peer),
        ));
        out.push(pair_goal(rows, pairs, p, "uring", "uring ÷ mmsg", 1.0));
        out.push(pair_goal(
            rows,
            pairs,
            p,
            "uring-relaxed",
            "uring (relaxed send order) ÷ mmsg",
            1.0,
        ));
        if side(rows, p).any(|r| r.sender == "ringshot" && r.backend == "xdp") {
            out.push(pair_goal(rows, pairs, p, "xdp", "xdp ÷ mmsg", 1.8));
            let xdp = side(rows, p).find(|r| r.sender == "ringshot" && r.backend == "xdp");
            out.push(WireGoal {
                rounds_range: xdp.and_then(|r| range(&r.raw_rounds)),
                ..goal(
                    format!("{p} B: xdp ÷ its raw AF_XDP loop"),
                    0.95,
                    xdp.and_then(|r| r.raw_ratio),
                )
            });
        }
        let worst_raw = side(rows, p)
            .filter(|r| r.raw_ratio.is_some())
            .min_by(|a, b| a.raw_ratio.unwrap().total_cmp(&b.raw_ratio.unwrap()));
        out.push(WireGoal {
            rounds_range: worst_raw.and_then(|r| range(&r.raw_rounds)),
            ..goal(
                format!("{p} B: every backend ÷ its raw loop (worst)"),
                0.95,
                worst_raw.and_then(|r| r.raw_ratio),
            )
        });
    }
    out
}

/// `uring` (or `uring-relaxed`, or `xdp`) ÷ `mmsg` per datagram at payload `p`, against
/// `target`: from the pair's rounds where the run has them, else from the two rows (strict
/// order only: the rows run strict).
fn pair_goal(
    rows: &[WireRow],
    pairs: &[BackendRounds],
    p: usize,
    first: &str,
    what: &str,
    target: f64,
) -> WireGoal {
    let rounds = pairs
        .iter()
        .find(|r| r.payload == p && r.backends == [first, "mmsg"] && r.ratio.is_some());
    if let Some(r) = rounds {
        return WireGoal {
            rounds_range: range(&r.rounds),
            ..goal(
                format!("{p} B: {what} per datagram ({} rounds)", r.rounds.len()),
                target,
                r.ratio,
            )
        };
    }
    let backend = |b: &str| {
        side(rows, p)
            .find(|r| r.sender == "ringshot" && r.backend == b && !r.gso)
            .map(|r| r.pps)
    };
    let measured = match (first, backend(first), backend("mmsg")) {
        ("uring" | "xdp", Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    goal(format!("{p} B: {what} per datagram"), target, measured)
}

fn opt(v: Option<f64>, prec: usize) -> String {
    v.map_or("-".into(), |x| format!("{x:.prec$}"))
}

/// The wire table: one line per row, then the goals. `delivered pps` is what crossed the far
/// interface (sender-side rows) or what the receiver delivered (end-to-end rows); `sent pps` is
/// what the sender says it sent over its own time; `CPU %` is ringshot-tx's CPU time over the
/// sender's time, in % of one core.
pub fn wire_table(rows: &[WireRow], goals: &[WireGoal]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<9} {:<19} {:<4} {:>5} {:<12} {:>13} {:>11} {:>7} {:>8} {:>8} {:>6} {:>7}",
        "sender",
        "backend",
        "gso",
        "bytes",
        "mode",
        "delivered pps",
        "sent pps",
        "Gbit/s",
        "lost %",
        "CPU ns/p",
        "CPU %",
        "× raw"
    );
    for r in rows {
        let lost = r.lost.map(|l| 100.0 * l as f64 / r.sent.max(1) as f64);
        let _ = writeln!(
            s,
            "{:<9} {:<19} {:<4} {:>5} {:<12} {:>13.0} {:>11.0} {:>7.2} {:>8} {:>8} {:>6} {:>7}",
            r.sender,
            r.backend,
            if r.gso { "on" } else { "off" },
            r.payload,
            match r.mode {
                Mode::SenderSide => "sender-side",
                Mode::EndToEnd => "end-to-end",
            },
            r.pps,
            r.sent_pps,
            r.gbps,
            opt(lost, 2),
            opt(r.cpu_ns_per_packet, 0),
            opt(r.cpu_pct, 0),
            opt(r.raw_ratio, 2),
        );
    }
    // The goal column is as wide as its longest goal, so the numbers line up.
    let width = goals
        .iter()
        .map(|g| g.goal.chars().count())
        .max()
        .unwrap_or(0);
    let width = width.max("goal (this run)".len());
    let _ = writeln!(
        s,
        "{:<width$} {:>7} {:>9} {:>11}  result",
        "goal (this run)", "target", "measured", "rounds"
    );
    for g in goals {
        let _ = writeln!(
            s,
            "{:<width$} {:>7.2} {:>9} {:>11}  {}{}",
            g.goal,
            g.target,
            opt(g.measured, 2),
            rounds_cell(g, "-"),
            match g.pass {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "not measured",
            },
            g.noise_note()
        );
    }
    s
}

/// One line per pair measured in rounds: what it shows, the median and the rounds' range.
pub fn pair_lines(pairs: &[BackendRounds]) -> String {
    let mut s = String::new();
    for p in pairs {
        let _ = writeln!(
            s,
            "  {} at {} B: {} over {} rounds ({})",
            p.what,
            p.payload,
            opt(p.ratio, 3),
            p.rounds.len(),
            range_text(range(&p.rounds), "-")
        );
    }
    s
}

/// "lo–hi" of a goal's rounds, or `none`.
pub(crate) fn rounds_cell(g: &WireGoal, none: &str) -> String {
    range_text(g.rounds_range, none)
}

/// "lo–hi" of a range of round ratios, or `none`.
fn range_text(range: Option<[f64; 2]>, none: &str) -> String {
    range.map_or(none.into(), |[lo, hi]| format!("{lo:.2}–{hi:.2}"))
}
