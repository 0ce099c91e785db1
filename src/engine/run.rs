//! The engine loop (pace → window → gather → submit) and the wind-down every ending goes
//! through: cancel what is in flight, take every slot back, count what never left.

use std::io;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::wait::{Backoff, FlowStop};
use super::{Engine, EngineError, Held, SlotState, Supply, TxReport};
use crate::config::OnRefused;
use crate::pacing::{Pacer, Spacing, WaitMode};
use crate::stats::{latency_histogram, record_clamped, record_interval, Percentiles};
use crate::sys::{self, SlotToken, TxDesc};

/// How long the wind-down waits for the kernel to give back cancelled requests.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(2);
/// With [`Spacing::Auto`], a stall up to this long is caught up (see `Engine::catch_up`).
const AUTO_CATCH_UP: Duration = Duration::from_millis(10);
/// Longest single pacing sleep, so a stop request is seen promptly even at very low rates.
const MAX_PACE_WAIT: Duration = Duration::from_millis(10);
/// Under a real-time policy, how far ahead of its slot a packet may leave. A wake-up from an
/// absolute sleep costs several µs of CPU and arrives several µs late, so one wake-up per
/// packet at high rates would keep the thread busy nearly all the time, close to the RT
/// throttling budget; releasing what falls due within this horizon sends a few packets per
/// wake-up instead. The schedule stays absolute: nothing drifts.
const RT_GATHER_AHEAD: Duration = Duration::from_micros(30);

/// How a stream ended.
#[derive(Debug)]
enum Ending {
    /// The supply ran dry and the kernel finished everything.
    Completed,
    /// `stop()` was called.
    Stopped,
    /// The flow-control window stayed closed for the stall timeout.
    WindowStalled(Duration),
    /// The kernel accepted or finished nothing for the stall timeout.
    NoProgress(Duration),
    /// The device announced a restart.
    Restarted,
    /// A send or completion call failed with an error that cannot be retried.
    Fatal(io::Error),
}

/// The pacing schedule and what the loop measures against it.
struct Schedule {
    pacer: Option<Pacer>,
    /// From the first packet of a group sent together to its last (zero when strict; see
    /// [`Spacing`]).
    group_span: Duration,
    lateness: hdrhistogram::Histogram<u64>,
    /// Original due time of the first packet of the batch on its way (before any slip).
    first_due: Option<Instant>,
    started: Option<Instant>,
    last_submit: Instant,
}

impl Supply {
    /// Hands a slot the kernel is done with to whoever hands slots out next.
    #[inline]
    fn give(&mut self, token: SlotToken) {
        match self {
            // Capacity equals the slot count, so the push cannot fail.
            Supply::Rings { free, .. } => free.push(token).expect("free ring full"),
            Supply::Source { free, .. } => free.push(token),
        }
    }

    /// The source-driven supply's stack of free slots (the top is handed out next).
    fn free_stack(&mut self) -> Option<&mut Vec<SlotToken>> {
        match self {
            Supply::Source { free, .. } => Some(free),
            Supply::Rings { .. } => None,
        }
    }
}

/// Returns the slot of a completion to the supply. Only a slot in the kernel can complete; any
/// other (out of range, never submitted, already completed) is a stray completion, counted and
/// otherwise ignored, never a reuse.
#[inline]
fn give_back(slots: &mut [SlotState], supply: &mut Supply, slot: u32, stray: &mut u64) {
    let Some(state) = slots.get_mut(slot as usize) else {
        *stray += 1;
        return;
    };
    match std::mem::replace(state, SlotState::Away) {
        SlotState::InKernel(token) => supply.give(token),
        other => {
            *state = other;
            *stray += 1;
        }
    }
}

impl Engine {
    pub(super) fn run(mut self) -> Result<TxReport, EngineError> {
        let cpu0 = sys::thread_cpu_ns();
        let pps = self.cfg.pacing.rate.map(|r| r.pps(self.cfg.stream.payload));
        let group = self.group(pps);
        let mut sched = Schedule {
            // The catch-up allowance after a stall comes on top of the group sent early.
            pacer: pps.map(|pps| {
                Pacer::new(pps, self.catch_up(pps) + (group - 1))
                    .with_prefill(self.cfg.pacing.prefill)
            }),
            group_span: pps.map_or(Duration::ZERO, |pps| {
                Duration::from_secs_f64((group - 1) as f64 / pps)
            }),
            lateness: latency_histogram(),
            first_due: None,
            started: None,
            last_submit: Instant::now(),
        };
        let mut ending = self.stream(&mut sched);
        if matches!(ending, Ending::Completed) {
            ending = self.drain();
        }
        self.wind_down();
        if let Some(f) = &mut self.flow {
            // Credit claimed from a shared window for packets that never left goes back now.
            f.release_unsent(f.state.sent_packets());
        }
        // The last interval gets its figures too: one final cut once nothing more will leave.
        self.shared.live.request_cut();
        self.publish_live(&sched);
        // The time series' last interval ends here too, so its counts add up to the totals.
        if let Some(t) = &mut self.timeline {
            t.cut_last(Instant::now(), &mut self.metrics, self.flow.as_mut());
        }
        let cpu = sys::thread_cpu_ns().saturating_sub(cpu0);
        let report = self.report(&sched, cpu, &ending);
        self.outcome(ending, report)
    }

    /// The loop proper, until the stream ends one way or another.
    fn stream(&mut self, s: &mut Schedule) -> Ending {
        let batch = self.cfg.batch;
        let mut backoff = Backoff::new(self.cfg.thread.idle, self.wait);
        loop {
            if let Err(e) = self.reap(false) {
                return Ending::Fatal(e);
            }
            if self.stop_requested() {
                return Ending::Stopped;
            }
            let mut budget = batch;
            if s.pacer.is_some() {
                match self.pace(s) {
                    Some(allow) => budget = budget.min(allow),
                    None => return Ending::Stopped,
                }
            }
            match self.credit() {
                Ok(c) => budget = budget.min(c.min(batch as u64) as usize),
                Err(FlowStop::Stopped) => return Ending::Stopped,
                Err(FlowStop::Stalled(w)) => return Ending::WindowStalled(w),
                Err(FlowStop::Restarted) => return Ending::Restarted,
                Err(FlowStop::Fatal(e)) => return Ending::Fatal(e),
            }
            let open = self.gather(budget);
            if self.pending.is_empty() {
                if !open {
                    return Ending::Completed;
                }
                if self.backend.in_flight() > 0 && matches!(self.supply, Supply::Source { .. }) {
                    // All slots are with the kernel: wait for one back.
                    if let Err(e) = self.reap(true) {
                        return Ending::Fatal(e);
                    }
                } else {
                    self.idle(&mut backoff);
                }
                continue;
            }
            backoff.reset();
            let started = *s.started.get_or_insert_with(Instant::now);
            if let Some(t) = &mut self.timeline {
                t.start(started);
            }
            if let Some(due) = s.first_due.take() {
                let late = Instant::now().saturating_duration_since(due).as_nanos() as u64;
                record_clamped(&mut s.lateness, late);
                if let Some(t) = &mut self.timeline {
                    record_interval(&mut t.lateness, late);
                }
            }
            if let Some(f) = &mut self.flow {
                f.sent_bytes += self.pending.iter().map(|p| p.len as u64).sum::<u64>();
                // Before the kernel sees them: a loopback device can answer before send returns.
                f.state.publish_sent(self.next_seq, f.sent_bytes);
            }
            if let Err(end) = self.submit_pending() {
                return end;
            }
            if let Some(end) = self.check_refused() {
                return end;
            }
            s.last_submit = Instant::now();
            if let Some(p) = &mut s.pacer {
                p.release(self.pending.len() as u64);
            }
            self.pending.clear();
            self.accepted = 0;
            self.shared
                .sent
                .store(self.metrics.packets, Ordering::Relaxed);
            self.publish_live(s);
            if let Some(t) = &mut self.timeline {
                t.tick(s.last_submit, &mut self.metrics, self.flow.as_mut());
            }
            if !open {
                return Ending::Completed;
            }
        }
    }

    /// How many packets of a paced stream at `pps` leave together (see [`Spacing`]): 1 when
    /// strict, a whole burst (at most a batch) with `Bursts`, and with `Auto` enough to span a
    /// few of this thread's wake-ups where one does not fit the gap (never under a real-time
    /// policy, whose waits are absolute sleeps that gather what falls due anyway).
    fn group(&self, pps: Option<f64>) -> u64 {
        let full = (self.cfg.batch as u64).min(self.cfg.pacing.burst).max(1);
        let Some(pps) = pps else { return 1 };
        match self.cfg.pacing.spacing {
            Spacing::Strict => 1,
            Spacing::Bursts => full,
            _ if self.wait == WaitMode::SleepOnly => 1,
            _ => crate::pacing::auto_group(Duration::from_secs_f64(1.0 / pps), self.spin, full),
        }
    }

    /// Most packets sent back to back to catch up after a stall: `burst`, and with
    /// [`Spacing::Auto`] (a stream that already leaves in groups) at least what falls due in
    /// [`AUTO_CATCH_UP`], so the VM's or scheduler's occasional multi-millisecond gaps are made
    /// up rather than dropped from the schedule (the average rate stays exact).
    fn catch_up(&self, pps: f64) -> u64 {
        match self.cfg.pacing.spacing {
            Spacing::Auto if self.wait == WaitMode::SleepThenSpin => {
                let due = (pps * AUTO_CATCH_UP.as_secs_f64()).ceil() as u64;
                self.cfg.pacing.burst.max(due)
            }
            _ => self.cfg.pacing.burst,
        }
    }

    /// Publishes the live totals; cuts an interval when a watcher asked (see `live.rs`).
    fn publish_live(&mut self, s: &Schedule) {
        let flow = self.flow.as_ref();
        self.live_cut.publish(
            &self.shared.live,
            self.metrics.bytes,
            flow.map_or(0, |f| f.waits),
            &self.metrics.submit_ns,
            s.pacer.as_ref().map(|_| &s.lateness),
            flow.map(|f| &f.visibility_ns),
        );
    }

    /// Waits until packets are due; returns how many may leave, or `None` when stopped.
    fn pace(&mut self, s: &mut Schedule) -> Option<usize> {
        let quantum = self.cfg.pacing.quantum;
        // More than a burst never becomes due at once (the rest slips), so a full gathering is
        // whichever is smaller.
        let full = (self.cfg.batch as u64).min(self.cfg.pacing.burst);
        let ahead = match self.wait {
            WaitMode::SleepOnly => RT_GATHER_AHEAD,
            WaitMode::SleepThenSpin => Duration::ZERO,
        };
        // A group leaves when its first packet is due, the rest ahead of their slots (never
        // behind), so the thread wakes once per group (no group: strict spacing).
        let ahead = ahead.max(s.group_span);
        let spin = self.spin;
        let p = s.pacer.as_mut().expect("paced stream");
        loop {
            let now = Instant::now();
            // The schedule is read `ahead` of the clock: once the first due packet is due (or a
            // quantum late), everything falling due within the horizon leaves with it.
            let view = now + ahead;
            let (a, late) = p.allowance(view);
            // With a quantum, gather what falls due within it into one submit (fewer syscalls
            // and receiver wake-ups) unless a full gathering is due already.
            if a > 0 && (late >= ahead + quantum || a >= full) {
                s.first_due = Some(view.checked_sub(late).unwrap_or(now));
                return Some(a as usize);
            }
            if self.shared.stop.load(Ordering::Relaxed) {
                return None;
            }
            let first = p.next_due().expect("schedule started");
            let due = if a == 0 {
                first
            } else {
                let full_due = p.due_after(full - 1);
                (first + quantum).min(full_due.checked_sub(ahead).unwrap_or(full_due))
            };
            let due = due.min(now + MAX_PACE_WAIT);
            // Keep noticing ACKs while waiting, so visibility is not one interval late.
            match &mut self.flow {
                Some(f) => Pacer::wait_until_spinning(self.wait, due, spin, || f.observe()),
                None => Pacer::wait_until_spinning(self.wait, due, spin, || {}),
            }
        }
    }

    /// Returns slots the kernel is done with to whoever hands them out next. A call that
    /// waited or reported a finished slot is timed into the reap histogram (the same for every
    /// backend: the engine holds the clock, not the backend).
    fn reap(&mut self, wait: bool) -> io::Result<()> {
        let (slots, supply) = (&mut self.slots, &mut self.supply);
        let free_before = supply.free_stack().map_or(0, |f| f.len());
        let (mut stray, mut done) = (0, 0u64);
        let t0 = Instant::now();
        let r = self.backend.reap(
            wait,
            &mut |slot| {
                done += 1;
                give_back(slots, supply, slot, &mut stray)
            },
            &mut self.metrics,
        );
        if wait || done > 0 {
            self.metrics.record_reap(t0.elapsed().as_nanos() as u64);
        }
        if done > 0 && matches!(self.supply, Supply::Rings { .. }) {
            // Once per reap, not per slot: an async producer waiting for a slot polls again.
            self.shared.waker.wake();
        }
        if let Some(free) = self.supply.free_stack() {
            // The stack hands out the slots it got back last (still warm in cache), and in the
            // order they came back: the kernel finishes a batch in order, so the next batch gets
            // consecutive slots, whose bytes run on and go to the kernel as one piece per GSO
            // super-packet (`Slab::spans`), not one per packet.
            let from = free_before.min(free.len());
            free[from..].reverse();
        }
        self.metrics.stray_completions += stray;
        r
    }

    /// Takes up to one batch of packets, stamping headers. Returns false when the stream is over.
    fn gather(&mut self, budget: usize) -> bool {
        self.pending.clear();
        self.accepted = 0;
        // Fixed for the stream; worked out once per batch rather than once per packet.
        let max_app = self.cfg.max_app_payload();
        let h = self.stamper.header_len();
        while self.pending.len() < budget {
            let (mut token, len, flags) = match &mut self.supply {
                Supply::Rings { ready, .. } => match ready.pop() {
                    Ok(p) => (p.token, p.len, p.flags),
                    Err(_) => return !ready.is_abandoned() || !ready.is_empty(),
                },
                Supply::Source {
                    source,
                    free,
                    flags,
                    ended,
                    held,
                } => {
                    if *ended {
                        return false;
                    }
                    let Some(mut token) = free.pop() else {
                        return true;
                    };
                    let room = self.stamper.next_room(max_app);
                    let slot = token.index() as usize;
                    let buf = &mut self.slab.bytes_mut(&mut token)[h..h + room];
                    let seq = self.next_seq;
                    let filled = Held::fill(held.as_mut(), source.as_mut(), seq, slot, buf);
                    match filled {
                        Some(n) => (token, (h + n.min(room)) as u32, *flags),
                        None => {
                            *ended = true;
                            // Written over below, or never filled: either way unknown now.
                            if let Some(held) = held {
                                held.forget(slot);
                            }
                            // A framing that ends its stream with a packet of its own (the SPEAD
                            // stop item) sends it now.
                            let bytes = self.slab.bytes_mut(&mut token);
                            match self.stamper.stamp_end(bytes, self.next_seq) {
                                Some(len) => {
                                    self.next_seq += 1;
                                    let slot = token.index();
                                    self.slots[slot as usize] = SlotState::Gathered(token);
                                    self.pending.push(TxDesc {
                                        slot,
                                        len: len as u32,
                                    });
                                }
                                None => free.push(token),
                            }
                            return false;
                        }
                    }
                }
            };
            let bytes = self.slab.bytes_mut(&mut token);
            let app_len = (len as usize).saturating_sub(h);
            let len = self.stamper.stamp(bytes, self.next_seq, flags, app_len) as u32;
            self.next_seq += 1;
            let slot = token.index();
            self.slots[slot as usize] = SlotState::Gathered(token);
            self.pending.push(TxDesc { slot, len });
        }
        true
    }

    /// Hands the whole pending batch to the backend. A refusal (0 accepted) is answered by
    /// reaping (or a short rest when nothing is in flight) and another call, until the batch is
    /// in, `stop()` is called, or nothing was accepted for the stall timeout.
    fn submit_pending(&mut self) -> Result<(), Ending> {
        let mut backoff = Backoff::new(self.cfg.thread.idle, self.wait);
        // Read from the clock at the first refusal after progress, not on every submit: a
        // batch the backend takes whole (the usual case) costs no clock read here.
        let mut refused_since: Option<Instant> = None;
        while self.accepted < self.pending.len() {
            let left = &self.pending[self.accepted..];
            let k = self
                .backend
                .submit(&self.slab, left, &mut self.metrics)
                .map_err(Ending::Fatal)?;
            if k > 0 {
                let k = k.min(left.len());
                for d in &self.pending[self.accepted..self.accepted + k] {
                    let state = &mut self.slots[d.slot as usize];
                    if let SlotState::Gathered(token) = std::mem::replace(state, SlotState::Away) {
                        *state = SlotState::InKernel(token);
                    }
                }
                self.accepted += k;
                refused_since = None;
                backoff.reset();
                continue;
            }
            if self.stop_requested() {
                return Err(Ending::Stopped);
            }
            let waited = refused_since.get_or_insert_with(Instant::now).elapsed();
            if waited >= self.cfg.flow.stall_timeout {
                return Err(Ending::NoProgress(waited));
            }
            if self.backend.in_flight() > 0 {
                self.reap(true).map_err(Ending::Fatal)?;
            } else {
                self.rest_after_refusal(&mut backoff);
            }
        }
        Ok(())
    }

    /// After the last batch: waits for the kernel to finish what is in flight, as long as it
    /// keeps finishing something within the stall timeout and nobody calls `stop()`.
    fn drain(&mut self) -> Ending {
        let mut progress_at = Instant::now();
        let mut left = self.backend.in_flight();
        while left > 0 {
            if self.stop_requested() {
                return Ending::Stopped;
            }
            if let Err(e) = self.reap(true) {
                return Ending::Fatal(e);
            }
            let now_left = self.backend.in_flight();
            if now_left < left {
                progress_at = Instant::now();
            }
            left = now_left;
            let waited = progress_at.elapsed();
            if left > 0 && waited >= self.cfg.flow.stall_timeout {
                return Ending::NoProgress(waited);
            }
        }
        Ending::Completed
    }

    /// Every ending goes through here: packets gathered but not accepted go back unsent and are
    /// counted failed here; what is in flight is cancelled (bounded) by the backend, which
    /// counts every packet it accepted as sent or failed (the `TxBackend::cancel` contract), so
    /// nothing is counted twice. Slots the kernel still holds after the timeout are never handed
    /// out again.
    fn wind_down(&mut self) {
        let unsent = &self.pending[self.accepted.min(self.pending.len())..];
        for d in unsent {
            match std::mem::replace(&mut self.slots[d.slot as usize], SlotState::Away) {
                SlotState::Gathered(token) => self.supply.give(token),
                other => self.slots[d.slot as usize] = other,
            }
        }
        self.metrics.failed_packets += unsent.len() as u64;
        self.pending.clear();
        self.accepted = 0;

        let (slots, supply) = (&mut self.slots, &mut self.supply);
        let mut stray = 0;
        let held = self.backend.cancel(
            CANCEL_TIMEOUT,
            &mut |slot| give_back(slots, supply, slot, &mut stray),
            &mut self.metrics,
        );
        self.metrics.stray_completions += stray;
        if held > 0 {
            self.notice(format!(
                "{held} slots were still with the kernel {} ms after cancelling; their memory \
                 stays allocated",
                CANCEL_TIMEOUT.as_millis()
            ));
        }
    }

    fn report(&mut self, s: &Schedule, cpu_ns: u64, ending: &Ending) -> TxReport {
        let elapsed = s.started.map_or(Duration::ZERO, |t| t.elapsed());
        let mut report = TxReport::new(&self.metrics, self.backend.as_ref(), elapsed, cpu_ns);
        report.committed = self.next_seq - self.cfg.stream.start_seq;
        report.interrupted = matches!(ending, Ending::Stopped);
        report.stalled = matches!(ending, Ending::WindowStalled(_) | Ending::NoProgress(_));
        if let Some(w) = &self.egress {
            report.kernel = w.finish();
            self.check_kernel_drops(&report.kernel);
        }
        report.notices = std::mem::take(&mut self.notices);
        report.tsi_saturated = self.stamper.tsi_saturated();
        if let Some(t) = self.timeline.take() {
            report.timeline = t.finish();
        }
        if let (Some(p), Some(t0)) = (&s.pacer, s.started) {
            let target = self
                .cfg
                .pacing
                .rate
                .expect("paced")
                .pps(self.cfg.stream.payload);
            // Packets sent on schedule span (n − 1) intervals from the first departure to the
            // last; adding one interval makes an exact schedule measure exactly `target`.
            let span = s.last_submit.duration_since(t0).as_secs_f64() + 1.0 / target;
            // The prefill leaves at once by design; the rate is that of the paced part.
            let achieved = self.metrics.packets.saturating_sub(p.prefill()) as f64 / span;
            report.rate_target_pps = Some(target);
            report.rate_error_pct = Some((achieved - target) / target * 100.0);
            report.lateness_ns = Some(Percentiles::of(&s.lateness));
            report.lateness_hist = Some(s.lateness.clone());
            report.schedule_slips = p.slipped();
        }
        if let Some(f) = &self.flow {
            report.window_waits = f.waits;
            report.window_wait_ns = Some(Percentiles::of(&f.wait_ns));
            report.ack_visibility_ns = Some(Percentiles::of(&f.visibility_ns));
            report.window_wait_hist = Some(f.wait_ns.clone());
            report.ack_visibility_hist = Some(f.visibility_ns.clone());
        }
        report
    }

    /// Once per batch: the first refusal is logged, and under [`OnRefused::Fail`] it ends the
    /// stream.
    fn check_refused(&mut self) -> Option<Ending> {
        if self.metrics.refused == 0 || self.refused_seen {
            return None;
        }
        self.refused_seen = true;
        let dest = self.cfg.socket.dest;
        match self.cfg.socket.on_refused {
            OnRefused::Fail => Some(Ending::Fatal(io::Error::from(
                io::ErrorKind::ConnectionRefused,
            ))),
            _ => {
                log::warn!(
                    "sends to {dest} refused (ECONNREFUSED): nothing listens there yet; each \
                     refused packet is sent again and counted"
                );
                None
            }
        }
    }

    /// Every drop the sender was told of (ENOBUFS) was re-sent, so qdisc drops beyond the
    /// re-sends are drops nobody reported: some packets counted as sent may not have left.
    fn check_kernel_drops(&mut self, k: &crate::sys::KernelSendCounts) {
        let Some(drops) = k.qdisc_drops else { return };
        let told = self.metrics.resent_packets + self.metrics.short_stops;
        let unreported = drops.saturating_sub(told);
        if unreported > 0 {
            self.notice(format!(
                "the queueing disciplines on {} dropped {drops} packets during the stream, \
                 {unreported} more than the sender was told of and re-sent: that many packets \
                 counted as sent may not have left the host (other traffic on the device is \
                 counted too)",
                k.device.as_deref().unwrap_or("the egress device")
            ));
        }
    }

    fn outcome(&self, ending: Ending, report: TxReport) -> Result<TxReport, EngineError> {
        // Counted from the start of the stream: what left the host, what the device
        // acknowledged, and what the window holds against it (taken, not acknowledged).
        let start = self.cfg.stream.start_seq;
        let acked_seq = self
            .flow
            .as_ref()
            .map_or(start, |f| f.state.acked_packets());
        let acked = acked_seq.saturating_sub(start);
        let outstanding = self.next_seq.saturating_sub(acked_seq);
        let sent = report.packets;
        let report = Box::new(report);
        let err = match ending {
            Ending::Completed | Ending::Stopped => return Ok(*report),
            Ending::WindowStalled(waited) => EngineError::Stalled {
                sent,
                acked,
                outstanding,
                waited,
                report,
            },
            Ending::NoProgress(waited) => EngineError::NoProgress { waited, report },
            Ending::Restarted => EngineError::DeviceRestarted {
                sent,
                acked,
                report,
            },
            Ending::Fatal(error) => EngineError::Send { error, report },
        };
        log::warn!("the stream ended early: {err}");
        Err(err)
    }
}
