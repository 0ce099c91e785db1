//! The benchmark suite behind `ringshot bench` and the criterion benchmarks under `bench/`.
//!
//! Each case runs the send engine and ringshot's receiver in one process over loopback, on
//! distinct cores when there are enough, and judges throughput by packets *delivered* to the
//! receiver over the receiver's own first-to-last-packet time: on loopback a sender facing a lossy
//! receiver looks faster, so sent rates are reported but never ranked.

pub mod jitter;
pub mod load;
pub mod peers;
// `--profile` (perf) profiles the wire suite's runs.
#[cfg(ringshot_netns)]
pub mod profile;
pub mod report;
pub mod sdr;
pub mod series;
#[cfg(test)]
mod slow;
#[cfg(ringshot_netns)]
pub mod wire;

/// The first file called `prog` on PATH.
pub fn which(prog: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(prog))
        .find(|p| p.is_file())
}

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use ringshot::config::BackendChoice;
use ringshot::engine::{EngineError, PatternSource, SourceSender};
use ringshot::recv::{Receiver, RecvConfig, RecvError, RecvReport};
use ringshot::stats::Percentiles;
use ringshot::SenderConfig;
pub use series::{Series, SERIES_PERIOD};

/// A request to end a suite early, shared by everything that measures (a signal handler sets
/// its flag): the measurement in progress is cut short and returns
/// [`BenchError::Interrupted`], so the caller keeps what was measured before it.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    /// A request that is set when `flag` is.
    pub fn from_flag(flag: Arc<AtomicBool>) -> Stop {
        Stop(flag)
    }

    pub fn requested(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// The flag itself, for code that polls an `AtomicBool` (the wire suite).
    #[cfg(ringshot_netns)]
    pub fn flag(&self) -> &AtomicBool {
        &self.0
    }

    /// `Err(BenchError::Interrupted)` once the stop is requested.
    pub fn check(&self) -> Result<(), BenchError> {
        if self.requested() {
            Err(BenchError::Interrupted)
        } else {
            Ok(())
        }
    }
}

/// Where the sender and receiver threads run, and the suite's [`Stop`] request (which every
/// measurement handed a placement obeys).
#[derive(Debug, Clone, Serialize)]
pub struct Placement {
    pub tx_core: Option<usize>,
    pub rx_core: Option<usize>,
    pub description: String,
    #[serde(skip)]
    pub stop: Stop,
}

impl Placement {
    /// This placement, its measurements ending early once `stop` is requested.
    pub fn with_stop(self, stop: Stop) -> Placement {
        Placement { stop, ..self }
    }

    /// TX on the first core, RX on the second when there are two or more; unpinned otherwise.
    pub fn auto() -> Placement {
        let cores = ringshot::os::available_cores();
        match cores.as_slice() {
            [a, b, ..] => Placement {
                tx_core: Some(*a),
                rx_core: Some(*b),
                description: format!(
                    "ringshot-tx pinned to core {a}, ringshot-rx pinned to core {b} ({} cores)",
                    cores.len()
                ),
                stop: Stop::default(),
            },
            _ => Placement {
                tx_core: None,
                rx_core: None,
                description: format!(
                    "{} core(s): sender and receiver share the CPU unpinned",
                    cores.len()
                ),
                stop: Stop::default(),
            },
        }
    }
}

/// One case of the suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Case {
    #[serde(serialize_with = "ser_backend")]
    pub backend: BackendChoice,
    pub gso: bool,
    pub payload: usize,
}

fn ser_backend<S: serde::Serializer>(b: &BackendChoice, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(b.name())
}

/// What one case measured.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub backend: &'static str,
    /// GSO as requested, and as in effect at the end (a downgrade turns it off).
    pub gso_requested: bool,
    pub gso: bool,
    pub payload: usize,
    pub sent: u64,
    pub delivered: u64,
    pub delivered_pct: f64,
    /// Delivered packets per second, over the receiver's first-to-last-packet time.
    pub pps: f64,
    /// Delivered UDP payload, Gbit/s.
    pub gbps: f64,
    /// Sent packets per second over the sender's own time (not ranked; see module docs).
    pub sent_pps: f64,
    /// CPU time of ringshot-tx per delivered packet, ns.
    pub cpu_ns_per_packet: f64,
    /// CPU time of ringshot-tx ÷ the sender's own time, in % of one core.
    pub cpu_pct: f64,
    pub submit_ns: Percentiles,
    pub submits: u64,
    pub submits_over_1ms: u64,
    /// Reap calls that waited or handed slots back, and their duration, ns.
    pub reaps: u64,
    pub reap_ns: Percentiles,
    pub kernel_drops: u64,
    pub lost: u64,
    pub corrupt: u64,
    pub receiver_backend: &'static str,
    pub receiver_gro: bool,
    /// Delivered pps ÷ the `send` backend without GSO at the same payload, this run.
    pub ratio_to_send: Option<f64>,
    /// The sender's and receiver's histograms (interval logs and plots; not in the JSON).
    #[serde(skip)]
    pub series: Series,
}

/// Why a benchmark case failed.
#[derive(Debug)]
pub enum BenchError {
    Receiver(RecvError),
    Sender(EngineError),
    Config(String),
    /// The suite's [`Stop`] was requested: the measurement was cut short and has no result.
    Interrupted,
}

impl std::fmt::Display for BenchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BenchError::Receiver(e) => write!(f, "receiver: {e}"),
            BenchError::Sender(e) => write!(f, "sender: {e}"),
            BenchError::Config(e) => write!(f, "configuration: {e}"),
            BenchError::Interrupted => f.write_str("interrupted"),
        }
    }
}

impl std::error::Error for BenchError {}

/// The default suite: every backend this target builds × GSO off/on × 64 B and 1472 B.
pub fn default_cases() -> Vec<Case> {
    let mut v = Vec::new();
    for payload in [64, 1472] {
        // The backends this target builds (a backend that cannot open at run time is skipped).
        for backend in [
            BackendChoice::Send,
            #[cfg(ringshot_mmsg)]
            BackendChoice::Mmsg,
            #[cfg(ringshot_uring)]
            BackendChoice::Uring,
            #[cfg(ringshot_iocp)]
            BackendChoice::Iocp,
        ] {
            for gso in [false, true] {
                v.push(Case {
                    backend,
                    gso,
                    payload,
                });
            }
        }
    }
    v
}

/// A receiver configuration on a free loopback port, pinned to `rx_core`, for a benchmark.
pub fn loopback_recv_config(
    rx_core: Option<usize>,
    backend: ringshot::recv::RecvBackend,
    rcvbuf: usize,
) -> Result<RecvConfig, BenchError> {
    let mut b = RecvConfig::builder("127.0.0.1:0".parse::<SocketAddr>().expect("literal"))
        .rcvbuf(rcvbuf)
        .backend(backend)
        .timeline(SERIES_PERIOD);
    if let Some(c) = rx_core {
        b = b.rx_core(c);
    }
    b.build().map_err(|e| BenchError::Config(e.to_string()))
}

/// Starts ringshot's receiver on loopback for a benchmark.
pub fn start_receiver(rx_core: Option<usize>) -> Result<Receiver, BenchError> {
    start_receiver_with(rx_core, ringshot::recv::RecvBackend::Auto)
}

fn start_receiver_with(
    rx_core: Option<usize>,
    backend: ringshot::recv::RecvBackend,
) -> Result<Receiver, BenchError> {
    let cfg = loopback_recv_config(rx_core, backend, 64 << 20)?;
    Receiver::spawn(cfg).map_err(BenchError::Receiver)
}

/// Returns once `packets()` has stopped growing for `quiet`: the stream has drained.
pub fn wait_quiet(packets: impl Fn() -> u64, quiet: Duration) {
    let mut last = packets();
    loop {
        std::thread::sleep(quiet);
        let now = packets();
        if now == last {
            return;
        }
        last = now;
    }
}

/// Waits until the receiver has been quiet for `quiet`, then stops it and returns its report.
pub fn drain_and_stop(rx: Receiver, quiet: Duration) -> Result<RecvReport, BenchError> {
    wait_quiet(|| rx.progress().0, quiet);
    rx.stop();
    rx.join().map_err(BenchError::Receiver)
}

/// Waits for the sender to end, stopping it once `stop` is requested.
pub(crate) fn finish_sender(
    tx: SourceSender,
    stop: &Stop,
) -> Result<ringshot::TxReport, EngineError> {
    while !tx.is_finished() {
        if stop.requested() {
            tx.stop();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    tx.finish()
}

/// Runs one case for `duration`, sending unpaced as fast as the backend goes; a stop request
/// (`place.stop`) cuts it short: [`BenchError::Interrupted`].
pub fn run_case(
    case: Case,
    duration: Duration,
    place: &Placement,
) -> Result<CaseResult, BenchError> {
    let rx = start_receiver(place.rx_core)?;
    let mut b = SenderConfig::builder(rx.local_addr())
        .backend(case.backend)
        .gso(case.gso)
        .payload(case.payload)
        .timeline(SERIES_PERIOD);
    if let Some(c) = place.tx_core {
        b = b.tx_core(c);
    }
    let cfg = b.build().map_err(|e| BenchError::Config(e.to_string()))?;
    let tx = SourceSender::spawn(cfg, PatternSource::new(case.payload, None, Some(duration)))
        .map_err(BenchError::Sender)?;
    let report = finish_sender(tx, &place.stop).map_err(BenchError::Sender)?;
    let got = drain_and_stop(rx, Duration::from_millis(150))?;
    place.stop.check()?;
    let delivered = got.packets - got.duplicates;
    Ok(CaseResult {
        backend: report.backend,
        gso_requested: case.gso,
        gso: report.gso,
        payload: case.payload,
        sent: report.packets,
        delivered,
        delivered_pct: 100.0 * delivered as f64 / report.packets.max(1) as f64,
        pps: got.pps,
        gbps: got.pps * case.payload as f64 * 8.0 / 1e9,
        sent_pps: report.pps,
        cpu_ns_per_packet: report.cpu_ns as f64 / delivered.max(1) as f64,
        cpu_pct: cpu_pct(report.cpu_ns, report.seconds),
        submit_ns: report.submit_ns,
        submits: report.submits,
        submits_over_1ms: report.submits_over_1ms,
        reaps: report.reaps,
        reap_ns: report.reap_ns,
        kernel_drops: got.kernel_drops,
        lost: got.lost,
        corrupt: got.corrupt,
        receiver_backend: got.backend,
        receiver_gro: got.gro,
        ratio_to_send: None,
        series: Series::new(Some(&report), Some(&got)),
    })
}

/// CPU time `cpu_ns` over a wall time of `seconds`, in % of one core (0 for no time).
pub fn cpu_pct(cpu_ns: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        cpu_ns as f64 / (seconds * 1e9) * 100.0
    } else {
        0.0
    }
}

/// Fills in `ratio_to_send` for every result that has a `send`-without-GSO row at its payload.
pub fn fill_ratios(results: &mut [CaseResult]) {
    let base: Vec<(usize, f64)> = results
        .iter()
        .filter(|r| r.backend == "send" && !r.gso_requested)
        .map(|r| (r.payload, r.pps))
        .collect();
    for r in results.iter_mut() {
        r.ratio_to_send = base
            .iter()
            .find(|(p, _)| *p == r.payload)
            .filter(|(_, pps)| *pps > 0.0)
            .map(|(_, pps)| r.pps / pps);
    }
}

/// Finds the highest rate in `lo..=hi` (pps) for which `trial` passes, by bisection over
/// `steps` trials after checking `lo`, the way spead2_bench searches. `None` if even `lo` fails.
pub fn search_max_rate(
    lo: f64,
    hi: f64,
    steps: u32,
    mut trial: impl FnMut(f64) -> Result<bool, BenchError>,
) -> Result<Option<f64>, BenchError> {
    if !trial(lo)? {
        return Ok(None);
    }
    let (mut good, mut bad) = (lo, hi);
    if trial(hi)? {
        return Ok(Some(hi));
    }
    for _ in 0..steps {
        // Geometric midpoint: rates span decades.
        let mid = (good * bad).sqrt();
        if trial(mid)? {
            good = mid;
        } else {
            bad = mid;
        }
    }
    Ok(Some(good))
}

/// One trial of the receiver-capacity search.
#[derive(Debug, Clone, Serialize)]
pub struct CapacityTrial {
    pub rate_pps: f64,
    pub sent: u64,
    pub received: u64,
    pub lost: u64,
    pub kernel_drops: u64,
    /// Sent packets ÷ the sender's own time.
    pub achieved_pps: f64,
    /// Delivered packets per second, over the receiver's first-to-last-packet time.
    pub delivered_pps: f64,
    pub pass: bool,
    /// The trial's histograms (not in the JSON).
    #[serde(skip)]
    pub series: Series,
}

/// Receiver capacity at one payload and receive backend: the highest paced rate it drains
/// without a kernel drop or a lost packet.
#[derive(Debug, Clone, Serialize)]
pub struct CapacityResult {
    pub receiver_backend: String,
    pub payload: usize,
    /// The sender's best unpaced sent rate measured in this run (the search's upper bound).
    pub sender_best_pps: f64,
    pub capacity_pps: Option<f64>,
    pub trials: Vec<CapacityTrial>,
}

/// Runs the sender (GSO as `gso` says) paced at `rate` for `duration` into a receiver with
/// backend `rx_backend`, and says whether every packet arrived with no kernel drop, at (nearly)
/// the asked rate. A stop request cuts it short: [`BenchError::Interrupted`].
pub fn capacity_trial(
    rx_backend: ringshot::recv::RecvBackend,
    payload: usize,
    gso: bool,
    rate: f64,
    duration: Duration,
    place: &Placement,
) -> Result<CapacityTrial, BenchError> {
    let rx = start_receiver_with(place.rx_core, rx_backend)?;
    let mut t = SenderConfig::builder(rx.local_addr())
        .payload(payload)
        .gso(gso)
        .rate(ringshot::pacing::Rate::Pps(rate))
        .burst(64)
        .timeline(SERIES_PERIOD);
    if let Some(c) = place.tx_core {
        t = t.tx_core(c);
    }
    let cfg = t.build().map_err(|e| BenchError::Config(e.to_string()))?;
    let tx = SourceSender::spawn(cfg, PatternSource::new(payload, None, Some(duration)))
        .map_err(BenchError::Sender)?;
    let report = finish_sender(tx, &place.stop).map_err(BenchError::Sender)?;
    let got = drain_and_stop(rx, Duration::from_millis(100))?;
    place.stop.check()?;
    let achieved = report.packets as f64 / report.seconds.max(1e-9);
    let received = got.packets - got.duplicates;
    Ok(CapacityTrial {
        rate_pps: rate,
        sent: report.packets,
        received,
        lost: got.lost,
        kernel_drops: got.kernel_drops,
        achieved_pps: achieved,
        delivered_pps: got.pps,
        series: Series::new(Some(&report), Some(&got)),
        // A sender that cannot keep the asked rate does not prove the receiver can.
        pass: got.lost == 0
            && got.kernel_drops == 0
            && received == report.packets
            && achieved >= 0.97 * rate,
    })
}

/// Searches the receive capacity of `rx_backend` at `payload` up to `sender_best_pps`.
pub fn receiver_capacity(
    rx_backend: ringshot::recv::RecvBackend,
    payload: usize,
    sender_best_pps: f64,
    trial_len: Duration,
    steps: u32,
    place: &Placement,
) -> Result<CapacityResult, BenchError> {
    let mut trials = Vec::new();
    let capacity = search_max_rate(10_000.0, sender_best_pps.max(20_000.0), steps, |rate| {
        let t = capacity_trial(rx_backend, payload, true, rate, trial_len, place)?;
        let pass = t.pass;
        trials.push(t);
        Ok(pass)
    })?;
    Ok(CapacityResult {
        receiver_backend: rx_backend.to_string(),
        payload,
        sender_best_pps,
        capacity_pps: capacity,
        trials,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_finds_the_threshold_by_bisection() {
        let mut calls = 0;
        let r = search_max_rate(10_000.0, 1_000_000.0, 20, |rate| {
            calls += 1;
            Ok(rate <= 123_456.0)
        })
        .unwrap()
        .unwrap();
        assert!(r <= 123_456.0 && r > 123_456.0 * 0.999, "{r}");
        assert_eq!(calls, 22);
        assert_eq!(
            search_max_rate(10_000.0, 1e6, 5, |_| Ok(false)).unwrap(),
            None
        );
        assert_eq!(
            search_max_rate(10_000.0, 1e6, 5, |_| Ok(true)).unwrap(),
            Some(1e6)
        );
    }

    #[test]
    fn cpu_percent_is_cpu_time_over_wall_time() {
        assert_eq!(cpu_pct(500_000_000, 1.0), 50.0);
        assert_eq!(cpu_pct(3_000_000_000, 2.0), 150.0);
        assert_eq!(cpu_pct(1, 0.0), 0.0);
    }

    #[test]
    fn ratios_are_against_send_without_gso_at_the_same_payload() {
        let row = |backend, gso, payload, pps| CaseResult {
            backend,
            gso_requested: gso,
            gso,
            payload,
            sent: 0,
            delivered: 0,
            delivered_pct: 100.0,
            pps,
            gbps: 0.0,
            sent_pps: 0.0,
            cpu_ns_per_packet: 0.0,
            cpu_pct: 0.0,
            submit_ns: Percentiles::default(),
            submits: 0,
            submits_over_1ms: 0,
            reaps: 0,
            reap_ns: Percentiles::default(),
            kernel_drops: 0,
            lost: 0,
            corrupt: 0,
            receiver_backend: "mmsg",
            receiver_gro: true,
            ratio_to_send: None,
            series: Series::default(),
        };
        let mut v = vec![
            row("send", false, 64, 100.0),
            row("uring", true, 64, 250.0),
            row("send", true, 1472, 999.0),
            row("send", false, 1472, 50.0),
            row("mmsg", false, 1472, 75.0),
        ];
        fill_ratios(&mut v);
        let r: Vec<_> = v.iter().map(|r| r.ratio_to_send.unwrap()).collect();
        assert_eq!(r, vec![1.0, 2.5, 19.98, 1.0, 1.5]);
    }
}
