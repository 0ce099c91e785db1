//! Whether the machine was busy while a suite measured: the 1-minute load average at the start
//! and at the end of the suite (from `/proc/loadavg`) against the cores the run uses, and the
//! jitter probe's stalls where the suite measures them. A busy machine makes every number noisier;
//! the tables say so in a line above them rather than leave a reader to guess.

use serde::Serialize;

use super::jitter::JitterFloor;
use super::Placement;

/// The 1-minute load average in the text of `/proc/loadavg` (its first field).
pub fn parse_loadavg(text: &str) -> Option<f64> {
    text.split_whitespace()
        .next()?
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && *x >= 0.0)
}

/// The 1-minute load average now, where the system has `/proc/loadavg`.
pub fn load_average() -> Option<f64> {
    parse_loadavg(&std::fs::read_to_string("/proc/loadavg").ok()?)
}

/// The cores a run with this placement uses: the distinct pinned cores, or every available core
/// when the threads run unpinned (they share whatever the machine has).
pub fn cores_used(place: &Placement) -> usize {
    let mut pinned: Vec<usize> = [place.tx_core, place.rx_core]
        .into_iter()
        .flatten()
        .collect();
    pinned.sort_unstable();
    pinned.dedup();
    if pinned.is_empty() {
        ringshot::os::available_cores().len().max(1)
    } else {
        pinned.len()
    }
}

/// The machine's load over one suite, and whether it was busy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MachineLoad {
    /// 1-minute load average at the suite's start and end (`None` without `/proc/loadavg`).
    pub start: Option<f64>,
    pub end: Option<f64>,
    /// The cores the run uses (see [`cores_used`]).
    pub cores: usize,
    /// Gaps over 1 ms the jitter probe saw on the TX core, where the suite ran it.
    pub jitter_stalls: Option<u64>,
    /// The warning line, when the machine was busy.
    pub busy: Option<String>,
}

impl MachineLoad {
    /// Judges the samples: busy when either load average is above `cores`, or the jitter probe
    /// saw a stall (a gap over 1 ms).
    pub fn judge(
        start: Option<f64>,
        end: Option<f64>,
        cores: usize,
        jitter_stalls: Option<u64>,
    ) -> MachineLoad {
        let high = [start, end]
            .into_iter()
            .flatten()
            .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
        let mut why = Vec::new();
        if let Some(l) = high.filter(|l| *l > cores as f64) {
            let noun = if cores == 1 { "core" } else { "cores" };
            why.push(format!("load average {l:.2} on {cores} {noun}"));
        }
        if let Some(n) = jitter_stalls.filter(|n| *n > 0) {
            why.push(format!("the jitter probe saw {n} stalls over 1 ms"));
        }
        let busy = (!why.is_empty()).then(|| {
            format!(
                "machine busy: {}; numbers are noisier than usual",
                why.join(", ")
            )
        });
        MachineLoad {
            start,
            end,
            cores,
            jitter_stalls,
            busy,
        }
    }
}

/// The load average sampled at a suite's start, to be judged at its end.
#[derive(Debug, Clone, Copy)]
pub struct LoadWatch {
    start: Option<f64>,
    cores: usize,
}

impl LoadWatch {
    /// Samples the load average now, for a run with this placement.
    pub fn start(place: &Placement) -> LoadWatch {
        LoadWatch {
            start: load_average(),
            cores: cores_used(place),
        }
    }

    /// Samples the load average again and judges the two, with the jitter probe's stalls where
    /// the suite ran it.
    pub fn finish(self, floor: Option<&JitterFloor>) -> MachineLoad {
        MachineLoad::judge(
            self.start,
            load_average(),
            self.cores,
            floor.map(|f| f.gaps_over_1ms),
        )
    }
}

/// `md` (a suite's markdown, `## heading` then a blank line) with `warning` as a line of its own
/// right under the heading, above the text and tables; `md` unchanged without a warning.
pub fn with_warning(md: String, warning: Option<&str>) -> String {
    let Some(w) = warning else { return md };
    let at = md.find("\n\n").map_or(0, |i| i + 2);
    let mut out = md;
    out.insert_str(at, &format!("**{w}**\n\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_field_of_loadavg_is_the_one_minute_load() {
        assert_eq!(parse_loadavg("2.93 5.02 4.46 1/153 8027\n"), Some(2.93));
        assert_eq!(parse_loadavg(""), None);
        assert_eq!(parse_loadavg("x 1 2"), None);
        assert_eq!(parse_loadavg("-1 1 2"), None);
    }

    #[test]
    fn busy_when_either_sample_is_above_the_cores_or_the_probe_stalled() {
        let quiet = MachineLoad::judge(Some(0.5), Some(1.9), 2, Some(0));
        assert_eq!(quiet.busy, None);
        // Exactly the cores in use is not above them.
        assert_eq!(MachineLoad::judge(Some(2.0), Some(2.0), 2, None).busy, None);
        let end = MachineLoad::judge(Some(0.5), Some(3.25), 2, None);
        assert_eq!(
            end.busy.as_deref(),
            Some("machine busy: load average 3.25 on 2 cores; numbers are noisier than usual")
        );
        let start = MachineLoad::judge(Some(4.0), Some(1.0), 2, None);
        assert!(start.busy.unwrap().contains("load average 4.00 on 2 cores"));
        let stalls = MachineLoad::judge(Some(0.1), Some(0.1), 2, Some(3));
        assert_eq!(
            stalls.busy.as_deref(),
            Some(
                "machine busy: the jitter probe saw 3 stalls over 1 ms; numbers are noisier \
                 than usual"
            )
        );
        let both = MachineLoad::judge(Some(5.0), None, 1, Some(1));
        assert!(both
            .busy
            .unwrap()
            .contains("load average 5.00 on 1 core, the jitter probe"));
        // No samples at all (no /proc/loadavg): nothing to warn about.
        assert_eq!(MachineLoad::judge(None, None, 2, None).busy, None);
    }

    #[test]
    fn the_warning_goes_under_the_heading_above_the_table() {
        let md = "## throughput (loopback)\n\nnote.\n\n| a |\n|---|\n".to_string();
        assert_eq!(with_warning(md.clone(), None), md);
        let w = with_warning(md, Some("machine busy: x"));
        assert_eq!(
            w,
            "## throughput (loopback)\n\n**machine busy: x**\n\nnote.\n\n| a |\n|---|\n"
        );
    }

    #[test]
    fn a_pinned_placement_uses_its_distinct_cores() {
        let mut p = Placement::auto();
        p.tx_core = Some(0);
        p.rx_core = Some(1);
        assert_eq!(cores_used(&p), 2);
        p.rx_core = Some(0);
        assert_eq!(cores_used(&p), 1);
        p.tx_core = None;
        p.rx_core = None;
        assert!(cores_used(&p) >= 1);
    }
}
