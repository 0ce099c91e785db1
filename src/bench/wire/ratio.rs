//! The "× raw loop" ratio, measured so that this machine's drift cannot decide it: after a
//! ringshot sender-side case, `ratio_rounds` short rounds each run the raw loop of the same
//! syscall and the same ringshot case back to back (which goes first alternates per round), and
//! the ratio is the median of the rounds' ringshot ÷ raw. A single raw row measured half a minute
//! away from its ringshot row moved the ratio between 0.66 and 1.5 on this VM.
//!
//! Two ringshot backends compared with each other (uring ÷ mmsg per datagram, with uring's send
//! order strict and relaxed), and two raw loops
//! (io_uring SEND linked ÷ unlinked: what the order guarantee costs), are measured the same way:
//! short rounds of the two back to back, the median of the rounds' ratios.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::{check, raw_name, raw_row, ringshot_sender_side, Collected, WireError, WireOptions};
use crate::bench::Placement;
use ringshot::rawloop::RawSyscall;
use ringshot::{BackendChoice, SendOrder};

/// How long each side of a round runs (at most the case's own time).
pub const ROUND_SECS: Duration = Duration::from_secs(1);

/// Each round's first ÷ second (rounds whose second rate is 0 are left out).
pub(super) fn round_ratios(rounds: &[[f64; 2]]) -> impl Iterator<Item = f64> + '_ {
    rounds
        .iter()
        .filter(|[_, second]| *second > 0.0)
        .map(|[first, second]| first / second)
}

/// The median of the rounds' first ÷ second (rounds whose second rate is 0 are left out).
pub fn median_ratio(rounds: &[[f64; 2]]) -> Option<f64> {
    let mut r: Vec<f64> = round_ratios(rounds).collect();
    if r.is_empty() {
        return None;
    }
    r.sort_by(f64::total_cmp);
    let n = r.len();
    Some(if n % 2 == 1 {
        r[n / 2]
    } else {
        (r[n / 2 - 1] + r[n / 2]) / 2.0
    })
}

/// One side of a round at the rounds' payload.
#[derive(Debug, Clone, Copy)]
pub(super) enum Side {
    /// A ringshot sender-side case: backend, GSO, send order.
    Ringshot(BackendChoice, bool, SendOrder),
    /// A raw loop.
    Raw(RawSyscall),
}

impl Side {
    /// The backend's name, or the raw loop's row name.
    pub(super) fn short_name(self) -> String {
        match self {
            Side::Ringshot(b, _, SendOrder::Strict) => b.name().to_string(),
            Side::Ringshot(b, _, order) => format!("{b}-{order}"),
            Side::Raw(sys) => raw_name(sys).to_string(),
        }
    }

    /// The short name with what the side is: "ringshot uring", "raw uring-send".
    fn name(self) -> String {
        let kind = match self {
            Side::Ringshot(..) => "ringshot",
            Side::Raw(_) => "raw",
        };
        format!("{kind} {}", self.short_name())
    }
}

/// Runs `ratio_rounds` rounds of `sides[0]` and `sides[1]` at `payload` back to back, which
/// goes first alternating per round: `[first pps, second pps]` per round. A measurement that
/// fails ends the rounds early, its error kept as a skip reason (a "× raw" ratio then falls back
/// to the raw row).
#[allow(clippy::too_many_arguments)]
pub(super) fn rounds(
    wire: &super::Wire,
    o: &WireOptions,
    payload: usize,
    sides: [Side; 2],
    dest: std::net::SocketAddr,
    place: &Placement,
    stop: &AtomicBool,
    progress: &mut impl FnMut(&str),
    c: &mut Collected,
) -> Result<Vec<[f64; 2]>, WireError> {
    let short = WireOptions {
        case_secs: o.case_secs.min(ROUND_SECS),
        ..o.clone()
    };
    let what = format!("{} beside {} {payload} B", sides[0].name(), sides[1].name());
    let mut out = Vec::with_capacity(o.ratio_rounds);
    for round in 0..o.ratio_rounds {
        check(stop)?;
        progress(&format!("{what}, round {}", round + 1));
        let mut pair = [0.0; 2];
        for i in [round % 2, 1 - round % 2] {
            let measured = match sides[i] {
                Side::Ringshot(b, gso, send_order) => {
                    let o = WireOptions {
                        send_order,
                        ..short.clone()
                    };
                    ringshot_sender_side(wire, &o, (b, gso, payload), dest, place, stop)
                        .map(|r| r.pps)
                }
                Side::Raw(sys) => raw_row(wire, &short, sys, payload, dest, place).map(|r| r.pps),
            };
            match measured {
                Ok(pps) => pair[i] = pps,
                Err(e) => {
                    c.skipped.push(format!("round of {what}: {e}"));
                    return Ok(out);
                }
            }
        }
        out.push(pair);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::median_ratio;

    #[test]
    fn median_of_the_rounds_ratios() {
        assert_eq!(median_ratio(&[]), None);
        assert_eq!(median_ratio(&[[5.0, 0.0]]), None);
        assert_eq!(median_ratio(&[[900.0, 1000.0]]), Some(0.9));
        // 0.9, 1.25, 0.95: the median is 0.95 whatever the order.
        let r = median_ratio(&[[900.0, 1000.0], [1000.0, 800.0], [950.0, 1000.0]]);
        assert!((r.unwrap() - 0.95).abs() < 1e-12);
        // Even count: the mean of the middle two (0.9 and 1.0).
        let r = median_ratio(&[[900.0, 1000.0], [1000.0, 1000.0], [2.0, 1.0], [1.0, 2.0]]);
        assert!((r.unwrap() - 0.95).abs() < 1e-12);
    }
}
