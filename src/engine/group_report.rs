//! What a [`SenderGroup`](super::SenderGroup) returns: a row per engine and the totals, and
//! the group's errors, each naming the engine it came from.

use std::net::SocketAddr;

#[cfg(feature = "serde")]
use serde::Serialize;

use super::{EngineError, TxReport};

/// One engine of a group: where it ran and what it reported.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct EngineRow {
    /// The engine's index in the group (0-based).
    pub index: usize,
    /// The core its thread was pinned to.
    pub core: Option<usize>,
    /// Its stream id (the group's base stream id + index).
    pub stream_id: u32,
    /// The address its socket sent from: its own source port (where the OS says).
    pub source: Option<SocketAddr>,
    /// Where it sent.
    pub dest: SocketAddr,
    /// Its report: the whole stream's, or up to the error that ended it (`None` only when the
    /// engine ended without one: a panicked thread).
    pub report: Option<TxReport>,
    /// Why it ended early, if it did.
    pub error: Option<String>,
}

/// The group's totals over every engine.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct GroupTotals {
    pub engines: usize,
    /// Engines that ended with an error.
    pub failed_engines: usize,
    /// Packets committed over every engine: `packets + failed_packets` exactly.
    pub committed: u64,
    pub packets: u64,
    pub failed_packets: u64,
    pub bytes: u64,
    /// The longest engine's stream, seconds.
    pub seconds: f64,
    /// `packets / seconds`: the group's aggregate rate.
    pub pps: f64,
    pub gbps: f64,
    pub resent_packets: u64,
    pub refused_sends: u64,
    pub window_waits: u64,
    /// CPU time of every engine thread together, ns.
    pub cpu_ns: u64,
    /// Some engine ended because nothing moved for the stall timeout.
    pub stalled: bool,
    /// Some engine was stopped (`stop()`, a signal).
    pub interrupted: bool,
}

/// A window shared by the group's engines, as it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct SharedWindowReport {
    pub window_packets: u64,
    /// The most packets outstanding at once over every engine (never above the window).
    pub peak_outstanding: u64,
    /// Claims that found the window full.
    pub refused_claims: u64,
}

/// The report of a [`SenderGroup`](super::SenderGroup): a row per engine, and the totals.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct GroupReport {
    pub engines: Vec<EngineRow>,
    pub total: GroupTotals,
    /// With a shared window: how full it got.
    pub shared_window: Option<SharedWindowReport>,
}

impl GroupReport {
    pub(super) fn new(rows: Vec<EngineRow>, shared: Option<SharedWindowReport>) -> GroupReport {
        let mut t = GroupTotals {
            engines: rows.len(),
            ..GroupTotals::default()
        };
        for row in &rows {
            t.failed_engines += usize::from(row.error.is_some());
            let Some(r) = &row.report else { continue };
            t.committed += r.committed;
            t.packets += r.packets;
            t.failed_packets += r.failed_packets;
            t.bytes += r.bytes;
            t.seconds = t.seconds.max(r.seconds);
            t.resent_packets += r.resent_packets;
            t.refused_sends += r.refused_sends();
            t.window_waits += r.window_waits;
            t.cpu_ns += r.cpu_ns;
            t.stalled |= r.stalled;
            t.interrupted |= r.interrupted;
        }
        if t.seconds > 0.0 {
            t.pps = t.packets as f64 / t.seconds;
            t.gbps = t.bytes as f64 * 8.0 / t.seconds / 1e9;
        }
        GroupReport {
            engines: rows,
            total: t,
            shared_window: shared,
        }
    }

    /// Whether every engine's books balance and add up to the totals: `packets +
    /// failed_packets == committed` per engine and over the group.
    pub fn books_balance(&self) -> bool {
        let t = &self.total;
        t.packets + t.failed_packets == t.committed
            && self
                .engines
                .iter()
                .filter_map(|e| e.report.as_ref())
                .all(|r| r.packets + r.failed_packets == r.committed)
    }
}

/// Why a group could not start, or which of its engines failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum GroupError {
    /// The group's settings do not work: no engines, a core list of the wrong length, more
    /// engines than cores, a per-engine rate too low, a fixed source or ACK port for several
    /// engines.
    Config(String),
    /// Engine `engine` could not start (the engines started before it were stopped).
    Spawn { engine: usize, error: EngineError },
    /// One or more engines ended with an error, each with its index; the report has every
    /// engine's row (the others' books balance too).
    Engines {
        errors: Vec<(usize, EngineError)>,
        report: Box<GroupReport>,
    },
}

impl GroupError {
    /// The group's report, when the engines ran.
    pub fn report(&self) -> Option<&GroupReport> {
        match self {
            GroupError::Engines { report, .. } => Some(report),
            _ => None,
        }
    }
}

impl std::fmt::Display for GroupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GroupError::Config(m) => f.write_str(m),
            GroupError::Spawn { engine, error } => {
                write!(f, "engine {engine} could not start: {error}")
            }
            GroupError::Engines { errors, .. } => {
                for (n, (i, e)) in errors.iter().enumerate() {
                    if n > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "engine {i}: {e}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for GroupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GroupError::Spawn { error, .. } => Some(error),
            GroupError::Engines { errors, .. } => errors
                .first()
                .map(|(_, e)| e as &(dyn std::error::Error + 'static)),
            GroupError::Config(_) => None,
        }
    }
}
