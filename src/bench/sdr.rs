//! The SDR workload and the zero-loss search of the whole sender → device path with flow control.
//!
//! The device is ringshot's emulator (`ringshot::device`): a 1 MiB buffer played out at the stream
//! rate from the first packet on, acknowledging every eighth of its buffer. The sender paces at the
//! same rate after filling three quarters of the buffer (`prefill`: the window less two ACK
//! intervals), keeps a window of one buffer, and takes its ACKs on its own pinned core. Its
//! catch-up burst is the rest of the window: a device
//! that plays out at a fixed rate loses margin for good when a sender slips its schedule after a
//! stall, and the window already guarantees the catch-up cannot overrun it.

use std::time::Duration;

use serde::Serialize;

use super::{BenchError, Placement};
use ringshot::device::{DeviceConfig, DeviceReport, Emulator, EmulatorReport, FaultConfig};
use ringshot::engine::{PatternSource, SourceSender};
use ringshot::flow::AckFormat;
use ringshot::pacing::Rate;
use ringshot::recv::RecvBackend;
use ringshot::{SenderConfig, TxReport};

/// The SDR workload's parameters (1472 B at 68,870 pps into a 1 MiB buffer).
#[derive(Debug, Clone, Serialize)]
pub struct SdrConfig {
    pub seconds: f64,
    pub rate_pps: f64,
    pub payload: usize,
    pub device_buffer: u64,
    #[serde(serialize_with = "ser_display")]
    pub format: AckFormat,
    /// Run the engine thread under SCHED_FIFO at this priority (`None`: SCHED_OTHER).
    pub sched_fifo: Option<i32>,
}

fn ser_display<S: serde::Serializer>(v: &AckFormat, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

impl Default for SdrConfig {
    fn default() -> SdrConfig {
        SdrConfig {
            seconds: 60.0,
            rate_pps: 68_870.0,
            payload: 1472,
            device_buffer: 1 << 20,
            format: AckFormat::Native,
            sched_fifo: None,
        }
    }
}

impl SdrConfig {
    /// Packets the device buffer holds: the flow-control window.
    pub fn window_packets(&self) -> u64 {
        self.device_buffer / self.payload as u64
    }
}

/// One goal of the SDR workload and whether this run met it.
#[derive(Debug, Clone, Serialize)]
pub struct GoalCheck {
    pub goal: &'static str,
    pub target: String,
    pub measured: String,
    pub pass: bool,
}

/// What one run through the emulator measured.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceRun {
    pub rate_pps: f64,
    pub window_packets: u64,
    pub ack_every: u64,
    pub prefill: u64,
    pub burst: u64,
    pub tx: TxReport,
    pub device: DeviceReport,
    pub lost: u64,
    pub kernel_drops: u64,
    pub received: u64,
    /// Sent = consumed, no loss, no overflow, no stall.
    pub zero_loss: bool,
    /// The sender's histograms and the device's receive gaps (not in the JSON: `tx` has them).
    #[serde(skip)]
    pub series: super::Series,
}

/// Streams `seconds` at `rate_pps` into an emulated device that plays out at the same rate; a
/// stop request (`place.stop`) cuts it short: [`BenchError::Interrupted`].
pub fn device_run(
    cfg: &SdrConfig,
    rate_pps: f64,
    seconds: f64,
    place: &Placement,
) -> Result<DeviceRun, BenchError> {
    let window = cfg.window_packets();
    let ack_every = (window / 8).max(1);
    // Fill the buffer as far as ACK granularity allows: the window must still hold the packets
    // consumed since the last ACK (up to `ack_every`) plus those in flight, or the sender would
    // wait on ACKs in steady state. The fuller the buffer, the longer a stall it rides out.
    let prefill = window.saturating_sub(2 * ack_every).max(1);
    let recv_cfg = super::loopback_recv_config(place.rx_core, RecvBackend::Auto, 16 << 20)?;
    let device = DeviceConfig::builder()
        .buffer_bytes(cfg.device_buffer)
        .drain(Rate::Pps(rate_pps))
        .ack(cfg.format)
        .ack_every(ack_every)
        .ack_interval(Duration::from_millis(1))
        .build()
        .map_err(|e| BenchError::Config(e.to_string()))?;
    let emu =
        Emulator::spawn(recv_cfg, device, FaultConfig::none()).map_err(BenchError::Receiver)?;
    let mut t = SenderConfig::builder(emu.local_addr())
        .payload(cfg.payload)
        .rate(Rate::Pps(rate_pps))
        .prefill(prefill)
        .burst(window - prefill)
        // The workload's lateness is measured against a strictly spaced schedule.
        .spacing(ringshot::pacing::Spacing::Strict)
        .window_packets(window)
        .ack(cfg.format)
        .stall_timeout(Duration::from_secs(2))
        .timeline(super::SERIES_PERIOD);
    if let Some(c) = place.tx_core {
        t = t.tx_core(c);
    }
    if let Some(p) = cfg.sched_fifo {
        t = t.sched_fifo(p);
    }
    // The ACK core shares the receive side's core: the TX core spins while pacing.
    if let Some(c) = place.rx_core {
        t = t.ack_core(c);
    }
    let sender_cfg = t.build().map_err(|e| BenchError::Config(e.to_string()))?;
    let source = PatternSource::new(cfg.payload, None, Some(Duration::from_secs_f64(seconds)));
    let tx = SourceSender::spawn(sender_cfg, source).map_err(BenchError::Sender)?;
    let result = super::finish_sender(tx, &place.stop);
    // Let the device play out what it holds (half a buffer is a few ms at these rates).
    std::thread::sleep(Duration::from_millis(100));
    let got = drain(emu)?;
    place.stop.check()?;
    let (tx, stalled) = match result {
        Ok(r) => (r, false),
        Err(e) => match e.report() {
            Some(r) => (r.clone(), true),
            None => return Err(BenchError::Sender(e)),
        },
    };
    let d = got.device;
    // Zero loss: every packet sent was consumed, none lost or dropped for lack of room. Whether
    // the sender kept the asked rate, and underflows, are reported beside it.
    let zero_loss = !stalled && got.recv.lost == 0 && d.overflows == 0 && d.consumed == tx.packets;
    Ok(DeviceRun {
        rate_pps,
        window_packets: window,
        ack_every,
        prefill,
        burst: window - prefill,
        lost: got.recv.lost,
        kernel_drops: got.recv.kernel_drops,
        received: got.recv.packets,
        series: super::Series::new(Some(&tx), Some(&got.recv)),
        device: d,
        tx,
        zero_loss,
    })
}

/// The SDR workload and its goals.
#[derive(Debug, Clone, Serialize)]
pub struct SdrResult {
    pub config: SdrConfig,
    pub run: DeviceRun,
    pub goals: Vec<GoalCheck>,
}

/// Runs the SDR workload and checks it against the workload's goals.
pub fn run_sdr(cfg: &SdrConfig, place: &Placement) -> Result<SdrResult, BenchError> {
    let run = device_run(cfg, cfg.rate_pps, cfg.seconds, place)?;
    let tx = &run.tx;
    let d = &run.device;
    let mut goals = Vec::new();
    let mut goal = |goal, target: &str, measured: String, pass| {
        goals.push(GoalCheck {
            goal,
            target: target.into(),
            measured,
            pass,
        })
    };
    goal(
        "loss",
        "0",
        format!(
            "{} lost, {} sent, {} consumed",
            run.lost, tx.packets, d.consumed
        ),
        run.lost == 0 && d.consumed == tx.packets,
    );
    goal(
        "device overflow / underflow",
        "0 / 0",
        format!("{} / {}", d.overflows, d.underflows),
        d.overflows == 0 && d.underflows == 0,
    );
    let err = tx.rate_error_pct.unwrap_or(f64::NAN);
    goal(
        "rate error",
        "< 0.1 %",
        format!("{err:+.4} %"),
        err.abs() < 0.1,
    );
    goal(
        "submit p99.99",
        "< 50 µs",
        format!("{:.1} µs", tx.submit_ns.p9999 as f64 / 1e3),
        tx.submit_ns.p9999 < 50_000,
    );
    goal(
        "submits over 1 ms",
        "0",
        format!(
            "{} (max {:.1} µs)",
            tx.submits_over_1ms,
            tx.submit_ns.max as f64 / 1e3
        ),
        tx.submits_over_1ms == 0,
    );
    let late = tx.lateness_ns.map_or(u64::MAX, |l| l.max);
    goal(
        "lateness max",
        "< 500 µs",
        format!("{:.1} µs", late as f64 / 1e3),
        late < 500_000,
    );
    let vis = tx.ack_visibility_ns.map_or(u64::MAX, |v| v.p99);
    goal(
        "ACK visibility p99",
        "< 10 µs",
        format!("{:.2} µs", vis as f64 / 1e3),
        vis < 10_000,
    );
    Ok(SdrResult {
        config: cfg.clone(),
        run,
        goals,
    })
}

/// Two searches through the device emulator with flow control, trials of the same kind:
/// - `zero_loss_pps`: the peers' rule (spead2_bench's): a trial passes when no packet is lost (and,
///   here, none dropped for lack of room and every one consumed); the result is the rate the
///   passing trial *achieved*, comparable with the peers' zero-loss rates.
/// - `kept_rate_pps`: the stricter device rule: also within 1 % of the asked rate, so the device
///   is fed as fast as it plays out. Underflows are reported per trial beside both.
#[derive(Debug, Clone, Serialize)]
pub struct ZeroLossResult {
    pub payload: usize,
    pub upper_bound_pps: f64,
    pub zero_loss_pps: Option<f64>,
    pub kept_rate_pps: Option<f64>,
    pub trials: Vec<ZeroLossTrial>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ZeroLossTrial {
    pub rate_pps: f64,
    pub achieved_pps: f64,
    pub sent: u64,
    pub lost: u64,
    pub overflows: u64,
    pub underflows: u64,
    pub stalled: bool,
    pub rate_error_pct: Option<f64>,
    /// No loss, no overflow, everything consumed, no stall.
    pub zero_loss: bool,
    /// `zero_loss` and within 1 % of the asked rate.
    pub kept_rate: bool,
    /// The trial's histograms (not in the JSON).
    #[serde(skip)]
    pub series: super::Series,
}

/// Runs both searches up to `upper_pps` with trials of `trial_secs`.
pub fn zero_loss_search(
    cfg: &SdrConfig,
    upper_pps: f64,
    trial_secs: f64,
    steps: u32,
    place: &Placement,
) -> Result<ZeroLossResult, BenchError> {
    let mut trials: Vec<ZeroLossTrial> = Vec::new();
    let mut trial = |rate: f64| -> Result<ZeroLossTrial, BenchError> {
        let r = device_run(cfg, rate, trial_secs, place)?;
        let t = ZeroLossTrial {
            rate_pps: rate,
            achieved_pps: r
                .tx
                .rate_error_pct
                .map_or(0.0, |e| rate * (1.0 + e / 100.0)),
            sent: r.tx.packets,
            lost: r.lost,
            overflows: r.device.overflows,
            underflows: r.device.underflows,
            stalled: r.tx.stalled,
            rate_error_pct: r.tx.rate_error_pct,
            zero_loss: r.zero_loss,
            kept_rate: r.zero_loss && r.tx.rate_error_pct.is_some_and(|e| e > -1.0),
            series: r.series.clone(),
        };
        trials.push(t.clone());
        Ok(t)
    };
    let upper = upper_pps.max(20_000.0);
    let mut best_achieved: Option<f64> = None;
    super::search_max_rate(10_000.0, upper, steps, |rate| {
        let t = trial(rate)?;
        if t.zero_loss {
            best_achieved = Some(best_achieved.map_or(t.achieved_pps, |b| b.max(t.achieved_pps)));
        }
        Ok(t.zero_loss)
    })?;
    let kept = super::search_max_rate(10_000.0, upper, steps, |rate| Ok(trial(rate)?.kept_rate))?;
    Ok(ZeroLossResult {
        payload: cfg.payload,
        upper_bound_pps: upper_pps,
        zero_loss_pps: best_achieved,
        kept_rate_pps: kept,
        trials,
    })
}

/// Stops an emulator once it has been quiet briefly and returns its report.
pub fn drain(emu: Emulator) -> Result<EmulatorReport, BenchError> {
    super::wait_quiet(|| emu.progress().0, Duration::from_millis(50));
    emu.stop();
    emu.join().map_err(BenchError::Receiver)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::Placement;

    /// The SDR benchmark's plumbing, short and slow: whatever the timing, flow control must keep the
    /// device from overflowing and every packet sent must be consumed.
    #[test]
    fn sdr_device_run_plumbing() {
        let cfg = SdrConfig {
            seconds: 0.5,
            rate_pps: 20_000.0,
            ..SdrConfig::default()
        };
        let run = device_run(&cfg, cfg.rate_pps, cfg.seconds, &Placement::auto()).unwrap();
        assert_eq!(run.window_packets, 712);
        assert_eq!(run.ack_every, 89);
        assert!(run.tx.packets > 5_000, "{}", run.tx.packets);
        assert_eq!(run.device.overflows, 0);
        assert_eq!(run.lost, 0);
        assert_eq!(run.device.consumed, run.tx.packets);
        assert!(run.device.max_fill_bytes <= 1 << 20);
        assert!(run.tx.rate_target_pps == Some(20_000.0));
    }
}
