//! The machine's own jitter floor on the TX core: a pinned thread reads the clock in a loop and
//! records every gap between two reads. A gap is time the thread did not run (preemption, the
//! hypervisor taking the vCPU, interrupts); no sender on that core can have a tail shorter than
//! this floor, so the `sdr` suite judges ringshot's submit and lateness tails as the excess over it.
//! `cyclictest` (package rt-tests) is run too when installed, for its wake-up latency.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::Stop;
use ringshot::stats::Percentiles;

/// One second of the probe.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct JitterSecond {
    pub max_gap_ns: u64,
    pub gaps_over_100us: u64,
    pub gaps_over_1ms: u64,
}

/// `cyclictest`'s summary for one thread, µs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Cyclictest {
    pub min_us: u64,
    pub avg_us: u64,
    pub max_us: u64,
    pub loops: u64,
}

/// What the probe saw.
#[derive(Debug, Clone, Serialize)]
pub struct JitterFloor {
    pub core: Option<usize>,
    pub seconds: f64,
    pub reads: u64,
    pub gap_ns: Percentiles,
    pub max_gap_ns: u64,
    pub gaps_over_100us: u64,
    pub gaps_over_1ms: u64,
    pub per_second: Vec<JitterSecond>,
    /// `cyclictest -p 50` on the same core, or why it was not run.
    pub cyclictest: Result<Cyclictest, String>,
}

/// [`probe_until`] with no stop request.
#[cfg(test)]
pub fn probe(core: Option<usize>, secs: Duration) -> JitterFloor {
    probe_until(core, secs, &Stop::default())
}

/// Spins on `core` for `secs`, reading the clock, then runs cyclictest for `secs` if installed;
/// ends early (and runs no cyclictest) once `stop` is requested, and the caller checks `stop` to
/// know the floor is cut short.
pub fn probe_until(core: Option<usize>, secs: Duration, stop: &Stop) -> JitterFloor {
    let stopper = stop.clone();
    let spin = std::thread::spawn(move || {
        if let Some(c) = core {
            core_affinity::set_for_current(core_affinity::CoreId { id: c });
        }
        spin(secs, &stopper)
    });
    let (reads, hist, per_second) = spin.join().unwrap_or_default();
    let max_gap_ns = per_second.iter().map(|s| s.max_gap_ns).max().unwrap_or(0);
    let over = |t: u64| per_second.iter().map(|s| count(s, t)).sum::<u64>();
    JitterFloor {
        core,
        seconds: secs.as_secs_f64(),
        reads,
        gap_ns: hist.as_ref().map(Percentiles::of).unwrap_or_default(),
        max_gap_ns,
        gaps_over_100us: over(100_000),
        gaps_over_1ms: over(1_000_000),
        per_second,
        cyclictest: if stop.requested() {
            Err("not run: the suite was stopped".into())
        } else {
            cyclictest(core, secs)
        },
    }
}

fn count(s: &JitterSecond, t: u64) -> u64 {
    if t >= 1_000_000 {
        s.gaps_over_1ms
    } else {
        s.gaps_over_100us
    }
}

type Spun = (u64, Option<hdrhistogram::Histogram<u64>>, Vec<JitterSecond>);

/// How many clock reads pass between two looks at the stop request.
const STOP_EVERY: u64 = 4096;

fn spin(secs: Duration, stop: &Stop) -> Spun {
    let mut h = ringshot::stats::latency_histogram();
    let mut per = Vec::new();
    let blank = JitterSecond {
        max_gap_ns: 0,
        gaps_over_100us: 0,
        gaps_over_1ms: 0,
    };
    let mut cur = blank;
    let t0 = Instant::now();
    let mut last = t0;
    let mut next_second = Duration::from_secs(1);
    let mut reads = 0u64;
    loop {
        let now = Instant::now();
        reads += 1;
        let gap = u64::try_from((now - last).as_nanos()).unwrap_or(u64::MAX);
        last = now;
        ringshot::stats::record_clamped(&mut h, gap);
        cur.max_gap_ns = cur.max_gap_ns.max(gap);
        cur.gaps_over_100us += u64::from(gap > 100_000);
        cur.gaps_over_1ms += u64::from(gap > 1_000_000);
        let el = now - t0;
        // A stopped probe ends its current second where it is.
        let stopped = reads.is_multiple_of(STOP_EVERY) && stop.requested();
        if el >= next_second || el >= secs || stopped {
            per.push(std::mem::replace(&mut cur, blank));
            next_second += Duration::from_secs(1);
        }
        if el >= secs || stopped {
            return (reads, Some(h), per);
        }
    }
}

/// Reads cyclictest's quiet summary line ("T: 0 (…) P:50 I:1000 C: N Min: a Act: b Avg: c Max: d").
pub fn parse_cyclictest(text: &str) -> Option<Cyclictest> {
    let line = text.lines().find(|l| l.trim_start().starts_with("T:"))?;
    let field = |name: &str| -> Option<u64> {
        let i = line.find(name)? + name.len();
        line[i..].split_whitespace().next()?.parse().ok()
    };
    Some(Cyclictest {
        min_us: field("Min:")?,
        avg_us: field("Avg:")?,
        max_us: field("Max:")?,
        loops: field("C:")?,
    })
}

fn cyclictest(core: Option<usize>, secs: Duration) -> Result<Cyclictest, String> {
    let bin = super::which("cyclictest")
        .ok_or_else(|| "cyclictest is not installed (Debian package rt-tests)".to_string())?;
    let mut args = vec![
        "-q".to_string(),
        "-m".into(),
        "-p".into(),
        "50".into(),
        "-t1".into(),
        "-i".into(),
        "1000".into(),
        "-D".into(),
        format!("{}", secs.as_secs().max(1)),
    ];
    if let Some(c) = core {
        args.extend(["-a".into(), c.to_string()]);
    }
    let p = super::peers::process::Proc::spawn(&bin, &args, None).map_err(|e| e.to_string())?;
    let fin = p
        .finish(secs + Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    parse_cyclictest(&fin.stdout)
        .ok_or_else(|| format!("cyclictest printed no summary: {}", fin.stderr.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cyclictest_summary_is_read() {
        let t = "# /dev/cpu_dma_latency set to 0us\nT: 0 (24778) P:50 I:1000 C:   1998 Min:      9 Act:   16 Avg:   15 Max:    1386\n";
        assert_eq!(
            parse_cyclictest(t),
            Some(Cyclictest {
                min_us: 9,
                avg_us: 15,
                max_us: 1386,
                loops: 1998
            })
        );
        assert_eq!(parse_cyclictest("garbage"), None);
        assert_eq!(parse_cyclictest("T: 0 Min: x"), None);
    }

    #[test]
    fn the_probe_counts_every_second_and_its_gaps_are_consistent() {
        let f = probe(None, Duration::from_millis(300));
        assert_eq!(f.per_second.len(), 1);
        assert!(f.reads > 0);
        assert_eq!(f.max_gap_ns, f.per_second[0].max_gap_ns);
        assert_eq!(f.gaps_over_100us, f.per_second[0].gaps_over_100us);
        assert!(f.gaps_over_1ms <= f.gaps_over_100us);
        assert!(f.gap_ns.max >= f.gap_ns.p50);
    }
}
