//! The suite: ringshot and every peer unpaced, then each one's zero-loss search.

use std::time::Duration;

use serde::Serialize;

use super::report::{PeersReport, PeersRow};
use super::{Peer, PeerOptions, PeerTrial, PAYLOAD};
use crate::bench::{
    capacity_trial, run_case, search_max_rate, BenchError, CapacityTrial, Case, CaseResult,
    Placement, Stop,
};
use ringshot::recv::RecvBackend;

/// Settings of the whole suite.
#[derive(Debug, Clone, Serialize)]
pub struct PeersOptions {
    /// Length of each unpaced run (ringshot's and each peer's).
    pub unpaced: Duration,
    /// Length of each trial of the zero-loss search.
    pub trial: Duration,
    /// Bisection steps after the two bracketing trials.
    pub steps: u32,
    /// Lowest rate the search tries, pps.
    pub lo_pps: f64,
    /// Run a failed search trial once more before calling the rate failed.
    pub retry_failures: bool,
    /// Which peers to run.
    pub peers: Vec<Peer>,
    pub peer: PeerOptions,
}

impl PeersOptions {
    /// Every peer, unpaced runs of `unpaced`, 1 s search trials, 6 bisection steps from 10 k pps.
    pub fn new(unpaced: Duration, place: &Placement) -> PeersOptions {
        PeersOptions {
            unpaced,
            trial: Duration::from_secs(1),
            steps: 6,
            lo_pps: 10_000.0,
            retry_failures: true,
            peers: Peer::ALL.to_vec(),
            peer: PeerOptions::new(place),
        }
    }
}

/// One trial of a zero-loss search, whoever sent.
#[derive(Debug, Clone, Serialize)]
pub struct SearchTrial {
    pub offered_pps: f64,
    pub sent: u64,
    pub delivered: u64,
    pub lost: u64,
    pub sent_pps: f64,
    pub pass: bool,
}

impl From<&CapacityTrial> for SearchTrial {
    fn from(t: &CapacityTrial) -> SearchTrial {
        SearchTrial {
            offered_pps: t.rate_pps,
            sent: t.sent,
            delivered: t.received,
            lost: t.sent.saturating_sub(t.received).max(t.lost),
            sent_pps: t.achieved_pps,
            // The same rule as the peers' (loss alone), not `capacity_trial`'s, which also asks
            // for 97 % of the offered rate.
            pass: t.lost == 0 && t.kernel_drops == 0 && t.received >= t.sent,
        }
    }
}

impl From<&PeerTrial> for SearchTrial {
    fn from(t: &PeerTrial) -> SearchTrial {
        SearchTrial {
            offered_pps: t.offered_pps.unwrap_or(0.0),
            sent: t.sent,
            delivered: t.delivered,
            lost: t.lost,
            sent_pps: t.sent_pps,
            pass: t.passes(),
        }
    }
}

/// The zero-loss search every sender gets: [`search_max_rate`] from `opts.lo_pps` to `hi` over
/// trials of `run`; a failed trial is run once more and the rate passes if either run did (the
/// machine is shared and noisy; the same for every sender). The answer is the highest rate a
/// passing trial *achieved* (what `spead2_bench.py` reports), `None` if the lowest rate failed.
fn zero_loss_search(
    opts: &PeersOptions,
    hi: f64,
    mut run: impl FnMut(f64) -> Result<SearchTrial, BenchError>,
) -> Result<(Option<f64>, Vec<SearchTrial>), BenchError> {
    let mut trials: Vec<SearchTrial> = Vec::new();
    let found = search_max_rate(opts.lo_pps, hi, opts.steps, |rate| {
        for _ in 0..if opts.retry_failures { 2 } else { 1 } {
            let t = run(rate)?;
            let pass = t.pass;
            trials.push(t);
            if pass {
                return Ok(true);
            }
        }
        Ok(false)
    })?;
    let best = trials
        .iter()
        .filter(|t| t.pass)
        .map(|t| t.sent_pps)
        .max_by(f64::total_cmp);
    Ok((found.and(best), trials))
}

/// Runs the suite: ringshot (GSO on and off) and every peer unpaced, then each one's zero-loss
/// search. `progress` gets a line before each step (and each goes to the log). Ringshot failing
/// is an error; a peer failing is a `skipped` line.
pub fn run_peers(
    opts: &PeersOptions,
    place: &Placement,
    mut progress: impl FnMut(&str),
) -> Result<PeersReport, BenchError> {
    let mut progress = |m: &str| {
        log::info!("peers: {m}");
        progress(m);
    };
    let mut skipped = Vec::new();
    // Unpaced runs first, all of them close together in time.
    let ringshot_cases = ringshot_unpaced(opts, place, &mut progress)?;
    let peer_unpaced = peers_unpaced(opts, &place.stop, &mut progress, &mut skipped)?;

    // Zero-loss searches.
    let mut rows = Vec::new();
    for r in &ringshot_cases {
        rows.push(ringshot_row(opts, place, r, &mut progress)?);
    }
    for (peer, u) in &peer_unpaced {
        place.stop.check()?;
        rows.push(peer_row(
            opts,
            *peer,
            u,
            &place.stop,
            &mut progress,
            &mut skipped,
        )?);
    }
    // Peers first in the table, ringshot after them.
    rows.sort_by_key(|r| r.is_ringshot);
    Ok(PeersReport::new(opts, place, rows, skipped))
}

/// Ringshot's unpaced runs, GSO on and off.
fn ringshot_unpaced(
    opts: &PeersOptions,
    place: &Placement,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<CaseResult>, BenchError> {
    let mut cases = Vec::new();
    for gso in [true, false] {
        progress(&format!(
            "ringshot GSO {} unpaced, {:.1} s",
            if gso { "on" } else { "off" },
            opts.unpaced.as_secs_f64()
        ));
        let case = Case {
            backend: ringshot::BackendChoice::Auto,
            gso,
            payload: PAYLOAD,
        };
        cases.push(run_case(case, opts.unpaced, place)?);
    }
    Ok(cases)
}

/// Every peer's unpaced run; a peer that cannot run one gets a `skipped` line. A stop request
/// ends it before the next peer.
fn peers_unpaced(
    opts: &PeersOptions,
    stop: &Stop,
    progress: &mut dyn FnMut(&str),
    skipped: &mut Vec<String>,
) -> Result<Vec<(Peer, PeerTrial)>, BenchError> {
    let mut runs = Vec::new();
    for &peer in &opts.peers {
        stop.check()?;
        progress(&format!(
            "{} unpaced, {:.1} s",
            peer.name(),
            opts.unpaced.as_secs_f64()
        ));
        match peer.trial(None, opts.unpaced, &opts.peer) {
            Ok(t) => runs.push((peer, t)),
            Err(e) => skipped.push(format!("{}: {e}", peer.name())),
        }
    }
    Ok(runs)
}

/// Ringshot's row: its unpaced run `r` and its zero-loss search.
fn ringshot_row(
    opts: &PeersOptions,
    place: &Placement,
    r: &CaseResult,
    progress: &mut dyn FnMut(&str),
) -> Result<PeersRow, BenchError> {
    let label = ringshot_label(r);
    progress(&format!("{label}: zero-loss search"));
    let gso = r.gso_requested;
    let hi = r.sent_pps.max(opts.lo_pps * 2.0);
    let (zero, trials) = zero_loss_search(opts, hi, |rate| {
        let t = capacity_trial(RecvBackend::Auto, PAYLOAD, gso, rate, opts.trial, place)?;
        Ok(SearchTrial::from(&t))
    })?;
    Ok(PeersRow {
        sender: label,
        is_ringshot: true,
        unpaced_sent_pps: r.sent_pps,
        delivered_pps: r.pps,
        delivered_pct: r.delivered_pct,
        zero_loss_pps: zero,
        search_error: None,
        delivered_from: format!("ringshot receiver ({})", r.receiver_backend),
        unpaced: serde_json::to_value(r).unwrap_or(serde_json::Value::Null),
        search: trials,
        series: r.series.clone(),
    })
}

/// A peer's row: its unpaced run `u` and its zero-loss search. A search that cannot run is the
/// row's `search_error` and a `skipped` line; a stop request ends it between trials.
fn peer_row(
    opts: &PeersOptions,
    peer: Peer,
    u: &PeerTrial,
    stop: &Stop,
    progress: &mut dyn FnMut(&str),
    skipped: &mut Vec<String>,
) -> Result<PeersRow, BenchError> {
    progress(&format!("{}: zero-loss search", peer.name()));
    let mut failure = None;
    let hi = u.sent_pps.max(opts.lo_pps * 2.0);
    let found = zero_loss_search(opts, hi, |rate| {
        stop.check()?;
        match peer.trial(Some(rate), opts.trial, &opts.peer) {
            Ok(t) => Ok(SearchTrial::from(&t)),
            Err(e) => {
                // Stop the search: a peer that cannot run a trial has no zero-loss rate.
                failure = Some(e.to_string());
                Err(BenchError::Config(e.to_string()))
            }
        }
    });
    let (zero, trials, search_error) = match (found, failure) {
        (Err(BenchError::Interrupted), None) => return Err(BenchError::Interrupted),
        (Ok((z, t)), None) => (z, t, None),
        (_, Some(f)) => (None, Vec::new(), Some(f)),
        (Err(e), None) => (None, Vec::new(), Some(e.to_string())),
    };
    if let Some(e) = &search_error {
        skipped.push(format!("{} zero-loss search: {e}", peer.name()));
    }
    Ok(PeersRow {
        sender: peer.name().to_string(),
        is_ringshot: false,
        unpaced_sent_pps: u.sent_pps,
        delivered_pps: u.delivered_pps,
        delivered_pct: u.delivered_pct,
        zero_loss_pps: zero,
        search_error,
        delivered_from: peer.delivered_from().to_string(),
        unpaced: serde_json::to_value(u).unwrap_or(serde_json::Value::Null),
        search: trials,
        series: crate::bench::Series::default(),
    })
}

fn ringshot_label(r: &CaseResult) -> String {
    match (r.gso_requested, r.gso, r.receiver_gro) {
        (true, true, true) => "ringshot GSO, GRO rx*".to_string(),
        (true, true, false) => "ringshot GSO".to_string(),
        (true, false, _) => "ringshot GSO→off".to_string(),
        (false, _, _) => format!("ringshot {} no GSO", r.backend),
    }
}

/// `ringshot bench --suite peers`: runs the suite with the default [`PeersOptions`], `progress`
/// getting a line before each step. The caller prints [`PeersReport::table`] if it wants to.
pub fn bench_peers(
    unpaced: Duration,
    place: &Placement,
    progress: impl FnMut(&str),
) -> Result<PeersReport, BenchError> {
    run_peers(&PeersOptions::new(unpaced, place), place, progress)
}
