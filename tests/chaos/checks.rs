//! What one cell of the chaos matrix saw ([`Outcome`]), and the checks of the processes' exits
//! and JSON reports: every receiver's (clean exit, no duplicate, reordered, late or corrupt
//! packet, no kernel drop), a completed sender's exact count, a refused or failed sender's error.

use serde_json::Value;

use super::process::{self, Exit};
use super::{Backend, Cell, SENDER_WATCHDOG};

/// What one cell saw, for its line and the summary.
#[derive(Default)]
pub struct Outcome {
    pub count: u64,
    pub sent: Option<u64>,
    /// Packets per receiver, "+"-joined.
    pub received: String,
    pub dups: u64,
    pub reordered: u64,
    /// Exit statuses: sender, then receivers.
    pub exits: String,
    pub seconds: f64,
    pub failures: Vec<String>,
    /// Set when the machine was too slow for the cell to show anything (a receiver came up
    /// after the stream had ended); such a cell neither passes nor fails, but more than
    /// `INCONCLUSIVE_BUDGET` of them fail the test.
    pub inconclusive: Option<String>,
    /// Set when the cell cannot run here (io_uring unavailable): not run, counted as skipped.
    pub skipped: Option<String>,
}

impl Outcome {
    pub fn fail(&mut self, msg: impl Into<String>) {
        self.failures.push(msg.into());
    }

    pub fn expect_eq(&mut self, what: &str, got: Option<u64>, want: u64) {
        if got != Some(want) {
            self.fail(format!("{what}: {} (expected {want})", show(got)));
        }
    }

    pub fn verdict(&self) -> &'static str {
        if !self.failures.is_empty() {
            "FAIL"
        } else if self.skipped.is_some() {
            "SKIP"
        } else if self.inconclusive.is_some() {
            "INCONCLUSIVE"
        } else {
            "ok"
        }
    }
}

pub fn show(v: Option<u64>) -> String {
    v.map_or("missing".into(), |v| v.to_string())
}

/// The unsigned number at `path` (dot-separated keys) of `v`.
pub fn num(v: &Value, path: &str) -> Option<u64> {
    path.split('.').try_fold(v, |v, k| v.get(k))?.as_u64()
}

/// A receiver's JSON: parsed, with the checks every receiver must pass (clean exit, no
/// duplicate, no reordered, no late, no corrupt or malformed packet, no kernel drop).
pub fn check_receiver(o: &mut Outcome, who: &str, exit: &Exit) -> Option<Value> {
    if exit.killed {
        o.fail(format!("{who}: hung, killed by the watchdog"));
        return None;
    }
    if exit.code != Some(0) {
        o.fail(format!("{who}: exit {} (expected 0)", exit.status()));
    }
    let v = match exit.json() {
        Ok(v) => v,
        Err(e) => {
            o.fail(format!("{who}: no JSON report: {e}"));
            return None;
        }
    };
    o.dups += num(&v, "duplicates").unwrap_or(0);
    o.reordered += num(&v, "reordered").unwrap_or(0);
    for key in ["duplicates", "reordered", "late", "corrupt"] {
        o.expect_eq(&format!("{who} {key}"), num(&v, key), 0);
    }
    let drops = num(&v, "kernel_drops");
    if drops != Some(0) {
        o.fail(format!(
            "{who} kernel_drops: {} (expected 0; stderr {:?})",
            show(drops),
            process::clip(&exit.stderr)
        ));
    }
    if v["malformed"].as_object().is_none_or(|m| !m.is_empty()) {
        o.fail(format!("{who} malformed: {}", v["malformed"]));
    }
    let sep = if o.received.is_empty() { "" } else { "+" };
    o.received = format!("{}{sep}{}", o.received, show(num(&v, "packets")));
    Some(v)
}

/// What a receiver's counts say about the sequence numbers it got, for a stream starting at 0:
/// `(distinct, highest)`. `lost` counts the numbers below the highest seen that never arrived,
/// so the highest is `lost + distinct - 1`.
pub fn seq_span(v: &Value) -> Option<(u64, Option<u64>)> {
    let distinct = num(v, "packets")? - num(v, "duplicates")? - num(v, "late")?;
    let highest = (distinct > 0).then(|| num(v, "lost").map(|l| l + distinct - 1));
    Some((distinct, highest.flatten()))
}

/// A receiver that got packets holds a run of sequence numbers ending at the stream's last,
/// `count - 1`, with nothing missing inside it. The JSON gives the highest number exactly (from
/// `lost`); the run's first number needs the receiver's `first_seq`, checked when reported.
pub fn check_suffix(o: &mut Outcome, who: &str, v: &Value, count: u64) -> Option<u64> {
    let (distinct, highest) = seq_span(v)?;
    o.expect_eq(&format!("{who} highest sequence"), highest, count - 1);
    let first = count - distinct.min(count);
    if let Some(reported) = num(v, "first_seq") {
        if reported != first {
            o.fail(format!(
                "{who}: first_seq {reported} but {distinct} distinct packets end at {}: a hole",
                count - 1
            ));
        }
    }
    Some(first)
}

/// The sender of a stream that must complete: exit 0, the exact count, nothing failed.
pub fn check_completed_sender(o: &mut Outcome, cell: &Cell, exit: &Exit) -> Option<Value> {
    o.exits = exit.status();
    if exit.killed {
        o.fail(format!(
            "sender: hung, killed by the watchdog after {SENDER_WATCHDOG:?}"
        ));
        return None;
    }
    if exit.code != Some(0) {
        o.fail(format!(
            "sender: exit {} (expected 0): {}",
            exit.status(),
            process::clip(&exit.stderr)
        ));
    }
    let v = match exit.json() {
        Ok(v) => v,
        Err(e) => {
            o.fail(format!("sender: no JSON report: {e}"));
            return None;
        }
    };
    o.sent = num(&v, "packets");
    o.expect_eq("sender packets", o.sent, o.count);
    o.expect_eq(
        "sender bytes",
        num(&v, "bytes"),
        o.count * cell.payload as u64,
    );
    o.expect_eq("sender failed_packets", num(&v, "failed_packets"), 0);
    o.expect_eq("sender stray_completions", num(&v, "stray_completions"), 0);
    if let Some(e) = v.get("error") {
        o.fail(format!("sender: error {e} in a completed stream"));
    }
    if v.get("interrupted").and_then(Value::as_bool) == Some(true) {
        o.fail("sender: reported interrupted");
    }
    Some(v)
}

/// Nobody listened for a while during the stream: the sender saw ECONNREFUSED (a socket
/// backend; xdp's frames bypass the socket that would hear it).
pub fn check_refused(o: &mut Outcome, cell: &Cell, sender: &Option<Value>) {
    if cell.backend == Backend::Xdp {
        return;
    }
    if let Some(v) = sender {
        if num(v, "errors.ECONNREFUSED").unwrap_or(0) == 0 {
            o.fail(format!(
                "sender: no ECONNREFUSED among errors {}",
                v["errors"]
            ));
        }
    }
}

/// The sender of a stream the device's restart stops: exit 1 and the JSON report with an
/// `"error"` naming the restart.
pub fn check_failed_sender(o: &mut Outcome, exit: &Exit) -> Option<Value> {
    if exit.killed {
        o.fail(format!(
            "sender: hung, killed by the watchdog after {SENDER_WATCHDOG:?}"
        ));
        return None;
    }
    if exit.code != Some(1) {
        o.fail(format!("sender: exit {} (expected 1)", exit.status()));
    }
    let v = match exit.json() {
        Ok(v) => v,
        Err(e) => {
            o.fail(format!("sender: no JSON report: {e}"));
            return None;
        }
    };
    match v.get("error").and_then(Value::as_str) {
        Some(e) if e.to_lowercase().contains("restart") => {}
        Some(e) => o.fail(format!(
            "sender: error {e:?} does not name the device restart"
        )),
        None => o.fail(format!(
            "sender: JSON report lacks \"error\" (stderr: {})",
            process::clip(&exit.stderr)
        )),
    }
    Some(v)
}
