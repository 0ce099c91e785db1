//! Pacing: departures on an absolute schedule `t0 + n / rate`, so rounding never accumulates into
//! drift. Under a normal scheduling policy short waits spin on the monotonic clock and long ones
//! sleep first ([`WaitMode::SleepThenSpin`]); under a real-time policy every wait is an absolute
//! sleep ([`WaitMode::SleepOnly`]), because a spinning real-time thread is stopped by the kernel's
//! RT throttling for tens of milliseconds every second. After a stall the sender may catch up by
//! at most `burst` packets at once; any larger backlog is dropped from the schedule (counted as
//! slipped) instead of being sent back to back into the device.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// A send rate: packets per second, or bits per second of UDP payload (converted to packets with
/// the configured payload size).
///
/// ```
/// use ringshot::Rate;
///
/// let r: Rate = "850Mbps".parse().unwrap();
/// assert_eq!(r, Rate::Bps(850e6));
/// assert!((r.pps(1250) - 85_000.0).abs() < 1e-9); // 1250-byte payloads: 85 kpps
/// assert_eq!("1.2Mpps".parse::<Rate>().unwrap(), Rate::Pps(1.2e6));
/// assert!("fast".parse::<Rate>().is_err());
/// assert_eq!(Rate::Pps(500.0).to_string(), "500 pps");
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    Pps(f64),
    /// Bits of UDP payload per second (ringshot header included, IP/UDP headers not).
    Bps(f64),
}

impl Rate {
    /// Packets per second for packets of `payload` bytes.
    ///
    /// ```
    /// use ringshot::Rate;
    ///
    /// assert_eq!(Rate::Bps(8e6).pps(1000), 1000.0);
    /// assert_eq!(Rate::Pps(42.0).pps(1000), 42.0);
    /// ```
    pub fn pps(self, payload: usize) -> f64 {
        match self {
            Rate::Pps(p) => p,
            Rate::Bps(b) => b / (payload as f64 * 8.0),
        }
    }
}

impl FromStr for Rate {
    type Err = String;
    /// Accepts `68870pps`, `1.2Mpps`, `500kpps`, `850Mbps`, `10Gbps`, `64kbps`, `1000bps`.
    fn from_str(s: &str) -> Result<Rate, String> {
        let t = s.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e' || c == 'E' || c == '_'))
            .ok_or_else(|| {
                format!("'{s}' needs a unit: pps, kpps, Mpps, bps, kbps, Mbps or Gbps")
            })?;
        let (num, unit) = t.split_at(split);
        let v: f64 = num
            .replace('_', "")
            .parse()
            .map_err(|_| format!("'{s}' does not start with a number"))?;
        let rate = match unit {
            "pps" => Rate::Pps(v),
            "kpps" | "Kpps" => Rate::Pps(v * 1e3),
            "Mpps" | "mpps" => Rate::Pps(v * 1e6),
            "bps" => Rate::Bps(v),
            "kbps" | "Kbps" => Rate::Bps(v * 1e3),
            "Mbps" => Rate::Bps(v * 1e6),
            "Gbps" => Rate::Bps(v * 1e9),
            _ => {
                return Err(format!(
                    "unknown unit '{unit}' in '{s}' (pps, kpps, Mpps, bps, kbps, Mbps, Gbps)"
                ))
            }
        };
        match rate {
            Rate::Pps(x) | Rate::Bps(x) if !(x.is_finite() && x > 0.0) => {
                Err(format!("'{s}' must be a positive rate"))
            }
            r => Ok(r),
        }
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rate::Pps(p) => write!(f, "{p} pps"),
            Rate::Bps(b) => write!(f, "{b} bit/s"),
        }
    }
}

/// How a paced stream spaces its packets.
///
/// ```
/// use ringshot::{Rate, SenderConfig, Spacing};
///
/// let spacing: Spacing = "strict".parse().unwrap();
/// let cfg = SenderConfig::builder("127.0.0.1:9000".parse().unwrap())
///     .rate(Rate::Pps(1000.0))
///     .spacing(spacing)
///     .build()
///     .unwrap();
/// assert_eq!(cfg.spacing().to_string(), "strict");
/// assert_eq!(Spacing::default(), Spacing::Auto);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Spacing {
    /// Each packet at its own time where a sleep fits comfortably in the gap (the gap is at
    /// least eight times this thread's measured wake-up latency); where it does
    /// not, small groups that span about that long, each sent when its first packet is due (the
    /// rest early, never late), with a sleep between groups: iperf3's habit, and what keeps a
    /// paced stream at a modest rate from burning a core. A group never exceeds `burst`.
    #[default]
    Auto,
    /// Each packet leaves at its own time on the schedule (a wake-up per packet where the gap
    /// is longer than a wake-up takes, a spin where it is shorter): the most even stream, at
    /// the cost of a core at high rates.
    Strict,
    /// Up to `burst` packets leave together when the first of them is due (the rest early,
    /// never late) and the thread sleeps between groups: far less CPU at high rates, for
    /// receivers with a buffer (a device, a socket).
    Bursts,
}

impl FromStr for Spacing {
    type Err = String;
    fn from_str(s: &str) -> Result<Spacing, String> {
        match s {
            "auto" => Ok(Spacing::Auto),
            "strict" => Ok(Spacing::Strict),
            "bursts" => Ok(Spacing::Bursts),
            _ => Err(format!(
                "unknown spacing '{s}' (expected auto, strict or bursts)"
            )),
        }
    }
}

impl fmt::Display for Spacing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Spacing::Auto => "auto",
            Spacing::Strict => "strict",
            Spacing::Bursts => "bursts",
        })
    }
}

/// How the engine waits for a deadline.
///
/// ```
/// use std::time::{Duration, Instant};
/// use ringshot::pacing::{Pacer, WaitMode};
///
/// // A real-time thread: sleep to the deadline, never spin.
/// let deadline = Instant::now() + Duration::from_millis(1);
/// let mut spins = 0;
/// Pacer::wait_until_in(WaitMode::SleepOnly, deadline, || spins += 1);
/// assert!(Instant::now() >= deadline);
/// assert_eq!(spins, 2); // once before and once after the single sleep
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaitMode {
    /// Sleep while the deadline is far, spin for the last stretch: the most precise wake-up,
    /// for threads under the normal scheduling policy.
    #[default]
    SleepThenSpin,
    /// Sleep to the absolute deadline (1 ns timer slack) and never spin: for real-time threads,
    /// whose CPU use must stay far below the kernel's RT throttling budget.
    SleepOnly,
}

/// The departure schedule of a paced stream.
///
/// ```
/// use std::time::{Duration, Instant};
/// use ringshot::pacing::Pacer;
///
/// // 1000 packets per second, at most 4 at once after a stall.
/// let mut pacer = Pacer::new(1000.0, 4);
/// let t0 = Instant::now();
/// assert_eq!(pacer.allowance(t0), (1, Duration::ZERO)); // the schedule starts here
/// pacer.release(1);
/// assert_eq!(pacer.next_due(), Some(t0 + Duration::from_millis(1)));
///
/// // A 10 ms stall: 10 packets are due, but only `burst` may go; the rest slip.
/// let (n, late) = pacer.allowance(t0 + Duration::from_millis(10));
/// assert_eq!((n, late), (4, Duration::from_millis(9)));
/// assert_eq!(pacer.slipped(), 6);
/// pacer.release(n);
/// assert_eq!(pacer.next_due(), Some(t0 + Duration::from_millis(11)));
/// ```
#[derive(Debug, Clone)]
pub struct Pacer {
    t0: Option<Instant>,
    interval_ns: f64,
    burst: u64,
    /// Packets released so far (departure slots used).
    released: u64,
    /// Packets due at the very start, before the paced schedule (to fill a device buffer).
    prefill: u64,
    /// Schedule slots skipped after stalls.
    slipped: u64,
}

impl Pacer {
    /// A schedule of `pps` packets per second that releases at most `burst` packets at once.
    pub fn new(pps: f64, burst: u64) -> Pacer {
        Pacer {
            t0: None,
            interval_ns: 1e9 / pps,
            burst: burst.max(1),
            released: 0,
            prefill: 0,
            slipped: 0,
        }
    }

    /// Makes the first `n` packets due at once at the start, then paces the rest from there:
    /// how a streamer fills a device's buffer before playing out at the sample rate.
    ///
    /// ```
    /// use std::time::Instant;
    /// use ringshot::pacing::Pacer;
    ///
    /// // Fill a 100-packet device buffer at once, then play out at 1000 pps.
    /// let mut pacer = Pacer::new(1000.0, 8).with_prefill(100);
    /// let (n, _) = pacer.allowance(Instant::now());
    /// assert_eq!((n, pacer.prefill()), (101, 100)); // the prefill and the first paced slot
    /// ```
    pub fn with_prefill(mut self, n: u64) -> Pacer {
        self.prefill = n;
        self
    }

    /// Departure time of slot `n` (the prefill slots are all due at `t0`).
    fn due(&self, t0: Instant, n: u64) -> Instant {
        let paced = n.saturating_sub(self.prefill);
        t0 + Duration::from_nanos((paced as f64 * self.interval_ns) as u64)
    }

    /// How many packets may leave at `now` (0..=burst), and how late the first due packet is
    /// against its original schedule, measured before any slots are given up: a stall shows in
    /// the lateness in full even when most of its backlog slips. The schedule starts at the
    /// first call.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use ringshot::pacing::Pacer;
    ///
    /// let mut pacer = Pacer::new(100.0, 16); // one packet every 10 ms
    /// let t0 = Instant::now();
    /// let (first, _) = pacer.allowance(t0);
    /// pacer.release(first);
    /// assert_eq!(pacer.allowance(t0 + Duration::from_millis(5)).0, 0); // not yet due
    /// let (n, late) = pacer.allowance(t0 + Duration::from_millis(12));
    /// assert_eq!((n, late), (1, Duration::from_millis(2)));
    /// ```
    pub fn allowance(&mut self, now: Instant) -> (u64, Duration) {
        let t0 = *self.t0.get_or_insert(now);
        let elapsed = now.saturating_duration_since(t0).as_nanos() as f64;
        // Slots 0..=k are due when k * interval <= elapsed.
        let due_total = self.prefill + (elapsed / self.interval_ns).floor() as u64 + 1;
        let mut backlog = due_total.saturating_sub(self.released);
        if backlog == 0 {
            return (0, Duration::ZERO);
        }
        let late = now.saturating_duration_since(self.due(t0, self.released));
        if self.released < self.prefill {
            // Still filling: everything due may go, however much.
        } else if backlog > self.burst {
            // A stall: forget the slots we can no longer send on time rather than bursting.
            let skip = backlog - self.burst;
            self.slipped += skip;
            self.released += skip;
            backlog = self.burst;
        }
        (backlog, late)
    }

    /// Records that `n` packets left.
    pub fn release(&mut self, n: u64) {
        self.released += n;
    }

    /// When the next packet is due (None before the first call to `allowance`).
    pub fn next_due(&self) -> Option<Instant> {
        self.t0.map(|t0| self.due(t0, self.released))
    }

    /// When the packet `n` places after the next one is due.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use ringshot::pacing::Pacer;
    ///
    /// let mut pacer = Pacer::new(1000.0, 16);
    /// let t0 = Instant::now();
    /// pacer.allowance(t0);
    /// assert_eq!(pacer.due_after(3), t0 + Duration::from_millis(3));
    /// ```
    pub fn due_after(&self, n: u64) -> Instant {
        let t0 = self.t0.unwrap_or_else(Instant::now);
        self.due(t0, self.released + n)
    }

    /// Packets sent before the paced schedule began.
    pub fn prefill(&self) -> u64 {
        self.prefill
    }

    /// Schedule slots dropped after stalls.
    pub fn slipped(&self) -> u64 {
        self.slipped
    }

    /// Waits until `deadline`: sleeps while it is far, spins for the last stretch, so the wake-up
    /// error is the clock's, not the scheduler's.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use ringshot::pacing::Pacer;
    ///
    /// let deadline = Instant::now() + Duration::from_micros(200);
    /// Pacer::wait_until(deadline);
    /// assert!(Instant::now() >= deadline);
    /// ```
    pub fn wait_until(deadline: Instant) {
        Self::wait_until_with(deadline, || {});
    }

    /// As [`wait_until`](Self::wait_until), calling `on_spin` on every turn of the spin, so the
    /// engine can keep watching for ACKs while it waits for a departure.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use ringshot::pacing::Pacer;
    ///
    /// let deadline = Instant::now() + Duration::from_micros(100);
    /// let mut turns = 0u64;
    /// Pacer::wait_until_with(deadline, || turns += 1); // e.g. poll an ACK socket while waiting
    /// assert!(Instant::now() >= deadline);
    /// ```
    pub fn wait_until_with(deadline: Instant, on_spin: impl FnMut()) {
        Self::wait_until_in(WaitMode::SleepThenSpin, deadline, on_spin);
    }

    /// Waits until `deadline` in `mode`, calling `on_spin` on every turn of a spin (in
    /// [`WaitMode::SleepOnly`]: before and after the one sleep).
    pub fn wait_until_in(mode: WaitMode, deadline: Instant, on_spin: impl FnMut()) {
        Self::wait_until_spinning(mode, deadline, DEFAULT_SPIN, on_spin);
    }

    /// As [`wait_until_in`](Self::wait_until_in), spinning only the last `spin` before the
    /// deadline: a sleep that would wake later than `spin` after it is asked to is not taken
    /// (see [`wake_up_latency`] for the measured value a caller passes).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use ringshot::pacing::{wake_up_latency, Pacer, WaitMode};
    ///
    /// let spin = wake_up_latency(8); // how late this thread wakes from a short sleep
    /// let deadline = Instant::now() + Duration::from_millis(2);
    /// Pacer::wait_until_spinning(WaitMode::SleepThenSpin, deadline, spin, || {});
    /// assert!(Instant::now() >= deadline);
    /// ```
    pub fn wait_until_spinning(
        mode: WaitMode,
        deadline: Instant,
        spin: Duration,
        mut on_spin: impl FnMut(),
    ) {
        if mode == WaitMode::SleepOnly {
            on_spin();
            crate::sys::sleep_until(deadline);
            on_spin();
            return;
        }
        loop {
            on_spin();
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            let left = deadline - now;
            if left > spin {
                std::thread::sleep(left - spin);
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

/// [`Spacing::Auto`] sends packets one by one where the gap between them is at least this many
/// wake-up latencies, and otherwise groups that span about that long.
pub(crate) const AUTO_SPAN_WAKES: u32 = 8;

/// How many packets [`Spacing::Auto`] sends together: 1 where a sleep fits comfortably in the
/// gap `interval` (see [`AUTO_SPAN_WAKES`]), else enough that a group spans about
/// `AUTO_SPAN_WAKES × wake`, at most `max`.
pub(crate) fn auto_group(interval: Duration, wake: Duration, max: u64) -> u64 {
    let span = wake * AUTO_SPAN_WAKES;
    if interval >= span || interval.is_zero() {
        return 1;
    }
    let n = span.as_nanos().div_ceil(interval.as_nanos().max(1));
    (n.min(u128::from(u64::MAX)) as u64).clamp(1, max.max(1))
}

/// The spin before a deadline when nothing was measured: generous enough for a default timer
/// slack (50 µs on Linux) plus a scheduler's wake-up.
pub const DEFAULT_SPIN: Duration = Duration::from_micros(150);

/// How late this thread wakes from a short sleep, as measured now: a high quantile of the
/// overshoot of `samples` sleeps of 20 µs, plus a small margin, within 5 µs ..= 1 ms. A paced
/// sender sleeps only when its next departure is further away than this and spins the rest,
/// so at modest rates it sleeps through most of each gap instead of spinning (call it after
/// the thread's timer slack and priority are set: both change the answer).
///
/// ```
/// use std::time::Duration;
/// use ringshot::pacing::wake_up_latency;
///
/// let w = wake_up_latency(16);
/// assert!(w >= Duration::from_micros(5) && w <= Duration::from_millis(1));
/// ```
pub fn wake_up_latency(samples: usize) -> Duration {
    let samples = samples.clamp(4, 1000);
    let mut late: Vec<Duration> = (0..samples)
        .map(|_| {
            let ask = Duration::from_micros(20);
            let t0 = Instant::now();
            std::thread::sleep(ask);
            t0.elapsed().saturating_sub(ask)
        })
        .collect();
    late.sort_unstable();
    // The 90th percentile: a rare scheduling gap (this VM has one about every second) should
    // not make every wait spin, and one that lands in a wait only makes that packet late.
    let q = late[(samples * 9 / 10).min(samples - 1)];
    (q + Duration::from_micros(3)).clamp(Duration::from_micros(5), Duration::from_millis(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rates() {
        assert_eq!("68870pps".parse::<Rate>().unwrap(), Rate::Pps(68870.0));
        assert_eq!("1.2Mpps".parse::<Rate>().unwrap(), Rate::Pps(1.2e6));
        assert_eq!("850Mbps".parse::<Rate>().unwrap(), Rate::Bps(850e6));
        assert_eq!("10Gbps".parse::<Rate>().unwrap(), Rate::Bps(10e9));
        assert!((Rate::Bps(10e9).pps(1250) - 1e6).abs() < 1e-6);
        for bad in ["", "fast", "10", "10 furlongs", "-5pps", "0pps", "1e400pps"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn schedule_is_absolute_and_caps_bursts() {
        let t0 = Instant::now();
        let mut p = Pacer::new(1000.0, 4); // one packet per ms
        assert_eq!(p.allowance(t0).0, 1);
        p.release(1);
        assert_eq!(p.allowance(t0 + Duration::from_micros(999)).0, 0);
        assert_eq!(p.next_due(), Some(t0 + Duration::from_millis(1)));
        let (n, late) = p.allowance(t0 + Duration::from_micros(2500));
        assert_eq!(n, 2, "slots 1 and 2 are due at 2.5 ms");
        assert_eq!(late, Duration::from_micros(1500));
        p.release(2);
        // A 100 ms stall: at most `burst` go out; the rest of the backlog is slipped.
        let (n, late) = p.allowance(t0 + Duration::from_millis(103));
        assert_eq!(n, 4);
        assert_eq!(p.slipped(), 104 - 3 - 4);
        // The lateness is that of slot 3 (due at 3 ms) before the slip, not of slot 100.
        assert_eq!(late, Duration::from_millis(100));
        p.release(4);
        assert_eq!(p.allowance(t0 + Duration::from_millis(103)).0, 0);
        // No drift: 1000 slots later the schedule is still anchored to t0.
        assert_eq!(p.next_due(), Some(t0 + Duration::from_millis(104)));
    }

    #[test]
    fn prefill_goes_at_once_then_paces() {
        let t0 = Instant::now();
        let mut p = Pacer::new(1000.0, 4).with_prefill(100);
        let (n, late) = p.allowance(t0);
        assert_eq!(
            n, 101,
            "the prefill and slot 0 are due at the start, burst or not"
        );
        assert_eq!(late, Duration::ZERO);
        p.release(64);
        assert_eq!(p.allowance(t0).0, 37);
        p.release(37);
        assert_eq!(p.slipped(), 0);
        assert_eq!(p.allowance(t0 + Duration::from_micros(500)).0, 0);
        assert_eq!(p.next_due(), Some(t0 + Duration::from_millis(1)));
        assert_eq!(p.allowance(t0 + Duration::from_millis(1)).0, 1);
    }

    #[test]
    fn the_measured_wake_up_latency_is_within_its_bounds() {
        let l = wake_up_latency(8);
        assert!(
            l >= Duration::from_micros(5) && l <= Duration::from_millis(1),
            "{l:?}"
        );
    }

    #[test]
    fn auto_groups_only_where_a_sleep_does_not_fit_the_gap() {
        let us = Duration::from_micros;
        // A 30 µs wake-up: gaps of 240 µs and more go one by one.
        assert_eq!(auto_group(us(1000), us(30), 16), 1);
        assert_eq!(auto_group(us(240), us(30), 16), 1);
        // 59 µs (200 Mbit/s at 1472 B): groups of 5 span 236 µs.
        assert_eq!(auto_group(us(59), us(30), 16), 5);
        // 14.5 µs (68,870 pps): 17 would span 240 µs; the burst caps it.
        assert_eq!(auto_group(Duration::from_nanos(14_520), us(30), 16), 16);
        assert_eq!(auto_group(Duration::ZERO, us(30), 16), 1);
        assert_eq!(auto_group(us(1), us(1000), 0), 1);
    }

    #[test]
    fn spacing_parses_and_prints() {
        for s in [Spacing::Auto, Spacing::Strict, Spacing::Bursts] {
            assert_eq!(s.to_string().parse::<Spacing>().unwrap(), s);
        }
        assert!("loose".parse::<Spacing>().is_err());
    }

    #[test]
    fn wait_until_is_not_early() {
        for mode in [WaitMode::SleepThenSpin, WaitMode::SleepOnly] {
            let d = Instant::now() + Duration::from_micros(700);
            let mut calls = 0;
            Pacer::wait_until_in(mode, d, || calls += 1);
            assert!(Instant::now() >= d, "{mode:?} woke early");
            assert!(calls >= 1, "{mode:?} never called on_spin");
        }
    }
}
