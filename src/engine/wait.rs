//! Every wait of the engine thread: the backoff ladder, idling for packets, and waiting for the
//! flow-control window. Under [`WaitMode::SleepOnly`] (a real-time thread) no wait spins: each
//! one sleeps, so the thread's duty cycle stays far below the kernel's RT throttling budget.

use std::sync::atomic::{fence, Ordering};
use std::time::{Duration, Instant};

use super::{Engine, Supply};
use crate::config::IdlePolicy;
use crate::pacing::WaitMode;
use crate::stats::{record_clamped, record_interval};

/// How long one rest in a window wait or a refused submit lasts.
const REST: Duration = Duration::from_micros(20);

/// The spin → yield → rest ladder every wait in the engine climbs: spin first (lowest latency),
/// then yield, then hand the core back. `Spin` never leaves the first rung; under
/// [`WaitMode::SleepOnly`] the ladder starts on the last rung (a real-time thread that spins or
/// yields to nobody burns its RT budget).
#[derive(Debug)]
pub(super) struct Backoff {
    spins: u32,
    policy: IdlePolicy,
    mode: WaitMode,
}

impl Backoff {
    const SPINS: u32 = 2_000;
    const YIELDS: u32 = 100;

    pub(super) fn new(policy: IdlePolicy, mode: WaitMode) -> Backoff {
        Backoff {
            spins: 0,
            policy,
            mode,
        }
    }

    pub(super) fn reset(&mut self) {
        self.spins = 0;
    }

    /// Takes one step; returns true when the caller should rest (sleep or park) now.
    pub(super) fn step(&mut self) -> bool {
        if self.mode == WaitMode::SleepOnly {
            return true;
        }
        self.spins = self.spins.saturating_add(1);
        if self.policy == IdlePolicy::Spin || self.spins < Self::SPINS {
            std::hint::spin_loop();
            false
        } else if self.spins < Self::SPINS + Self::YIELDS {
            std::thread::yield_now();
            false
        } else {
            true
        }
    }
}

/// Sleeps for `d` in `mode`: an absolute-deadline sleep for real-time threads (no slack, no
/// spin), a plain sleep otherwise.
pub(super) fn rest(mode: WaitMode, d: Duration) {
    match mode {
        WaitMode::SleepOnly => crate::sys::sleep_until(Instant::now() + d),
        WaitMode::SleepThenSpin => std::thread::sleep(d),
    }
}

/// Why the window wait ended without credit.
pub(super) enum FlowStop {
    Stalled(Duration),
    Restarted,
    Stopped,
    /// Handing queued re-sends to the kernel failed with an error that cannot be retried.
    Fatal(std::io::Error),
}

impl Engine {
    pub(super) fn stop_requested(&self) -> bool {
        self.shared.stop.load(Ordering::Relaxed)
    }

    /// One step of waiting for packets: climbs the ladder, then parks until the app commits
    /// (or briefly, so a wake-up lost to a race costs little).
    pub(super) fn idle(&mut self, backoff: &mut Backoff) {
        if !backoff.step() {
            return;
        }
        self.shared.parked.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let empty = match &self.supply {
            Supply::Rings { ready, .. } => ready.is_empty() && !ready.is_abandoned(),
            Supply::Source { .. } => true,
        };
        if empty && !self.stop_requested() {
            // Bounded, so a wake-up lost to a race costs at most this long.
            std::thread::park_timeout(Duration::from_micros(200));
        }
        self.shared.parked.store(false, Ordering::Relaxed);
    }

    /// Packets the window allows now. While it is closed, waits (spin, then yield, then short
    /// sleeps, per `window_wait`) until an ACK opens it, the device restarts, the stall timeout
    /// passes or the stream is stopped.
    pub(super) fn credit(&mut self) -> Result<u64, FlowStop> {
        let sent = self.next_seq;
        let batch = self.cfg.batch as u64;
        let timeout = self.cfg.flow.stall_timeout;
        let mode = self.wait;
        let mut backoff = Backoff::new(self.cfg.flow.window_wait, mode);
        let shared = &self.shared;
        let (backend, metrics) = (&mut self.backend, &mut self.metrics);
        let Some(f) = &mut self.flow else {
            return Ok(u64::MAX);
        };
        let mut closed_since: Option<Instant> = None;
        loop {
            f.observe();
            if f.state.generation() != f.generation {
                return Err(FlowStop::Restarted);
            }
            let mut credit = f.state.credit(
                sent,
                f.sent_bytes,
                f.window_packets,
                f.window_bytes,
                f.frame,
            );
            if credit > 0 {
                // A window shared with other engines: what this device allows, and only as
                // much of it as this engine has claimed from the shared window.
                credit = f.claim_shared(sent, credit.min(batch));
            }
            if credit > 0 {
                if let Some(t) = closed_since {
                    let ns = t.elapsed().as_nanos() as u64;
                    record_clamped(&mut f.wait_ns, ns);
                    record_interval(&mut f.wait_interval, ns);
                }
                return Ok(credit);
            }
            let now = Instant::now();
            let since = *closed_since.get_or_insert_with(|| {
                f.waits += 1;
                now
            });
            if now.duration_since(since) >= timeout {
                return Err(FlowStop::Stalled(now.duration_since(since)));
            }
            if shared.stop.load(Ordering::Relaxed) {
                return Err(FlowStop::Stopped);
            }
            // Packets a backend holds for a re-send are inside the window already: they go
            // now, not when the device next opens it (which it may never do without them).
            backend.flush(metrics).map_err(FlowStop::Fatal)?;
            if backoff.step() {
                rest(mode, REST);
            }
        }
    }

    /// Rests between two submits the backend refused (nothing in flight to wait for).
    pub(super) fn rest_after_refusal(&self, backoff: &mut Backoff) {
        if backoff.step() {
            rest(self.wait, REST);
        }
    }
}
