//! Completion handling: every CQE the ring returns is matched to its op (by index and
//! generation), classified, and moved through the op state machine of `ops.rs`.

use super::ops::{self, on_notif, on_result, Effect, OpState, Outcome, Stray};
use super::ring::{Cqe, F_MORE, F_NOTIF};
use super::UringBackend;
use crate::stats::TxMetrics;
use crate::sys::cqe_result;
use crate::sys::unix::{classify_send_error, SendFailure};

impl UringBackend {
    /// Handles every available completion.
    pub(super) fn drain(&mut self, m: &mut TxMetrics) {
        let mut cqes = std::mem::take(&mut self.cqes);
        cqes.clear();
        self.ring.drain(&mut cqes);
        for &c in &cqes {
            self.on_cqe(c, m);
        }
        self.cqes = cqes;
        m.injected = self.ring.injected();
    }

    fn on_cqe(&mut self, c: Cqe, m: &mut TxMetrics) {
        if c.user_data == ops::CANCEL_USER_DATA {
            if c.res == -libc::EINVAL {
                self.cancel_one_by_one = true;
            }
            return;
        }
        let (idx, generation) = ops::split_user_data(c.user_data);
        let live = self
            .ops
            .get(idx as usize)
            .is_some_and(|op| op.generation == generation && op.state != OpState::Free);
        if !live {
            m.stray_completions += 1;
            return;
        }
        let r = if c.flags & F_NOTIF != 0 {
            self.on_notif(idx, m)
        } else {
            // A notification follows a zero-copy result that carries F_MORE, and also an
            // ECANCELED one without it: the kernel prepared the notification with the request
            // and posts it even when a broken link cancelled the request (the test
            // kernel_zero_copy_failure_completions pins this down).
            let zc = self.ops[idx as usize].zc;
            let notif_due = c.flags & F_MORE != 0 || (zc && c.res == -libc::ECANCELED);
            self.on_result(idx, c.res, notif_due, m)
        };
        if r.is_err() {
            m.stray_completions += 1;
        }
    }

    fn on_notif(&mut self, idx: u32, m: &mut TxMetrics) -> Result<(), Stray> {
        let op = &self.ops[idx as usize];
        let state = op.state;
        let (next, effect) = on_notif(state, op.zc)?;
        if state == OpState::AwaitNotif {
            m.zero_copy_notifications += 1;
        }
        self.apply(idx, next, effect, m);
        Ok(())
    }

    fn on_result(
        &mut self,
        idx: u32,
        res: i32,
        more: bool,
        m: &mut TxMetrics,
    ) -> Result<(), Stray> {
        let state = self.ops[idx as usize].state;
        if !matches!(state, OpState::InFlight | OpState::NotifFirst) {
            return Err(Stray);
        }
        let outcome = self.classify(idx, res, m);
        let (next, effect) = on_result(state, outcome, more)?;
        let op = &self.ops[idx as usize];
        match outcome {
            Outcome::Sent => {
                self.nobufs.reset();
                m.packets += op.count as u64;
                if op.behind {
                    m.reordered_packets += op.count as u64;
                }
                self.highest_sent = Some(self.highest_sent.map_or(op.order, |h| h.max(op.order)));
                m.bytes += op.pkts().iter().map(|p| u64::from(p.len)).sum::<u64>();
                if op.zc {
                    m.zero_copy_sends += 1;
                    if state == OpState::NotifFirst {
                        m.zero_copy_notifications += 1;
                    }
                }
            }
            Outcome::Dropped => m.failed_packets += op.count as u64,
            Outcome::Retry => {}
        }
        self.apply(idx, next, effect, m);
        Ok(())
    }

    /// What a result says happened to op `idx`; counts errors and reacts to refusals.
    fn classify(&mut self, idx: u32, res: i32, m: &mut TxMetrics) -> Outcome {
        let Err(e) = cqe_result(res) else {
            return Outcome::Sent;
        };
        let op = &mut self.ops[idx as usize];
        let errno = e.raw_os_error().unwrap_or(0);
        if errno == libc::ECANCELED {
            // An earlier SQE of the chain failed (or we cancelled): this one never ran.
            return if self.ending {
                Outcome::Dropped
            } else {
                Outcome::Retry
            };
        }
        let action = if op.zc && errno == libc::EOPNOTSUPP {
            m.record_error(crate::sys::unix::errno::send_errno(errno));
            if self.zc_threshold.take().is_some() {
                log::warn!("uring: zero-copy send refused ({e}); copying from now on");
            }
            SendFailure::Retry
        } else {
            classify_send_error(&e, op.gso, m)
        };
        if action == SendFailure::NoBuffers {
            // Back-pressure: the re-send waits a little (see `push_batch`).
            self.nobufs_refused = true;
        }
        match action {
            SendFailure::WaitWritable
            | SendFailure::Retry
            | SendFailure::NoBuffers
            | SendFailure::DisableGso => {
                op.failed_send = true;
                if action == SendFailure::DisableGso && self.gso {
                    self.gso = false;
                    m.gso_downgrades += 1;
                    log::warn!(
                        "uring: the kernel refused UDP GSO ({e}); GSO is off for the rest of \
                         this stream and the refused packets are re-sent one datagram each"
                    );
                }
                if self.ending {
                    Outcome::Dropped
                } else {
                    Outcome::Retry
                }
            }
            SendFailure::Fatal => {
                self.ending = true;
                self.fatal.get_or_insert(e);
                Outcome::Dropped
            }
        }
    }

    fn apply(&mut self, idx: u32, next: OpState, effect: Effect, m: &mut TxMetrics) {
        match effect {
            Effect::Wait => self.set_state(idx, next),
            Effect::Release => self.release(idx),
            Effect::Queue => {
                self.set_state(idx, next);
                self.queue_retry(idx, m);
            }
        }
    }
}
