//! What one cell of the netns fault matrix saw, and the checks every sender and receiver
//! report must pass: the sender's books (`committed == packets + failed_packets`), its exit status
//! and `"error"`; the receiver's duplicates, order, corruption and socket drops.

use serde_json::Value;

use super::netns::Net;
use super::process::{self, Exit};

/// What one cell saw, for its line and the summary.
#[derive(Default)]
pub struct Outcome {
    pub count: u64,
    pub committed: Option<u64>,
    pub sent: Option<u64>,
    pub failed: Option<u64>,
    /// Datagrams that reached the far namespace.
    pub wire: Option<u64>,
    /// Packets per receiver, "+"-joined.
    pub received: String,
    pub lost: u64,
    pub dups: u64,
    pub reordered: u64,
    /// Exit statuses: sender, then receivers.
    pub exits: String,
    /// Facts worth a look: the sender's errors by errno, its error, GSO downgrades, qdisc drops.
    pub notes: Vec<String>,
    pub seconds: f64,
    pub failures: Vec<String>,
    /// Why the cell could not run here (it neither passes nor fails).
    pub skipped: Option<String>,
    /// Why the cell showed nothing: the machine was too slow for the fault to strike mid-stream.
    /// Counted with the skipped cells; more than `INCONCLUSIVE_BUDGET` fail the test.
    pub inconclusive: Option<String>,
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

    /// `small ≤ big`, both known.
    pub fn expect_le(&mut self, small: (&str, Option<u64>), big: (&str, Option<u64>)) {
        match (small.1, big.1) {
            (Some(a), Some(b)) if a <= b => {}
            (a, b) => self.fail(format!("{} {} > {} {}", small.0, show(a), big.0, show(b))),
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

    pub fn record_wire(&mut self, net: &Net) {
        match net.wire_packets() {
            Ok(n) => self.wire = Some(n),
            Err(e) => self.fail(format!("wire counter: {e}")),
        }
    }
}

pub fn show(v: Option<u64>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

/// The unsigned number at `path` (dot-separated keys) of `v`.
pub fn num(v: &Value, path: &str) -> Option<u64> {
    path.split('.').try_fold(v, |v, k| v.get(k))?.as_u64()
}

/// The sender's report: an allowed exit status, its JSON, books that balance (`committed ==
/// packets + failed_packets`), and an `"error"` exactly when it exits 1. An exit 2 naming the
/// backend (io_uring unavailable here) skips the cell.
pub fn check_sender(o: &mut Outcome, backend: &str, exit: &Exit, allowed: &[i32]) -> Option<Value> {
    o.exits = exit.status();
    if exit.killed {
        o.fail("sender: hung, killed by the watchdog");
        return None;
    }
    if exit.code == Some(2) && exit.stderr.contains(backend) {
        let why = exit.stderr.lines().next().unwrap_or_default();
        o.skipped = Some(format!("the sender cannot run here: {why}"));
        return None;
    }
    if !exit.code.is_some_and(|c| allowed.contains(&c)) {
        o.fail(format!(
            "sender: exit {} (expected one of {allowed:?}): {}",
            exit.status(),
            one_line(&exit.stderr)
        ));
    }
    let v = match exit.json() {
        Ok(v) => v,
        Err(e) => {
            o.fail(format!("sender: no JSON report: {e}"));
            return None;
        }
    };
    o.committed = num(&v, "committed");
    o.sent = num(&v, "packets");
    o.failed = num(&v, "failed_packets");
    let balanced =
        matches!((o.committed, o.sent, o.failed), (Some(c), Some(p), Some(f)) if c == p + f);
    if !balanced {
        o.fail(format!(
            "sender books: committed {} != packets {} + failed_packets {}",
            show(o.committed),
            show(o.sent),
            show(o.failed)
        ));
    }
    let error = v.get("error");
    match (exit.code, error) {
        (Some(0), Some(e)) => o.fail(format!("sender: exit 0 with error {e} in its report")),
        (Some(1), None) => o.fail("sender: exit 1 without an \"error\" in its report"),
        _ => {}
    }
    if let Some(e) = error {
        o.notes.push(format!("sender error: {e}"));
    }
    if v["errors"].as_object().is_some_and(|m| !m.is_empty()) {
        o.notes.push(format!("sender errors: {}", v["errors"]));
    }
    if let Some(d) = num(&v, "gso_downgrades").filter(|&d| d > 0) {
        o.notes.push(format!("gso_downgrades: {d}"));
    }
    Some(v)
}

/// A stream that must arrive whole: exit 0, every committed packet sent, none failed.
pub fn check_completed_sender(o: &mut Outcome, v: &Value, count: u64) {
    o.expect_eq("sender committed", num(v, "committed"), count);
    o.expect_eq("sender packets", num(v, "packets"), count);
    o.expect_eq("sender failed_packets", num(v, "failed_packets"), 0);
}

/// A receiver's report: exit 0, its JSON, nothing twice, nothing out of order, nothing corrupt,
/// nothing dropped by its own socket.
pub fn check_receiver(o: &mut Outcome, who: &str, exit: &Exit) -> Option<Value> {
    o.exits = format!("{}/{}", o.exits, exit.status());
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
    o.lost += num(&v, "lost").unwrap_or(0);
    o.dups += num(&v, "duplicates").unwrap_or(0);
    o.reordered += num(&v, "reordered").unwrap_or(0);
    for key in ["duplicates", "reordered", "late", "corrupt", "kernel_drops"] {
        o.expect_eq(&format!("{who} {key}"), num(&v, key), 0);
    }
    if v["malformed"].as_object().is_none_or(|m| !m.is_empty()) {
        o.fail(format!("{who} malformed: {}", v["malformed"]));
    }
    let sep = if o.received.is_empty() { "" } else { "+" };
    o.received = format!("{}{sep}{}", o.received, show(num(&v, "packets")));
    Some(v)
}

/// A child's stderr, clipped, on one line.
pub fn one_line(s: &str) -> String {
    process::clip(s).replace('\n', " | ")
}
