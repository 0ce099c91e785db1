//! The `mmsg` backend: a whole batch per `sendmmsg` call (each message one datagram, or one GSO
//! super-packet), partial sends resumed where they stopped. Nothing is dropped: after a
//! recoverable error `submit` returns what was accepted so far and the engine calls again.

use std::io;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::time::Instant;

use super::msg::{empty_iovec, empty_msghdr, fill_msghdr, CmsgBuf};
use super::seam::{RealSys, SendSys};
use super::{classify_send_error, downgrade_gso, NoBufsRest, SendFailure, WRITABLE_WAIT_MS};
use crate::stats::TxMetrics;
use crate::sys::MAX_BATCH;
use crate::sys::{gso_run_len, Slab, TxBackend, TxDesc};

/// Where one message's packets sit in the batch.
#[derive(Debug, Clone, Copy, Default)]
struct MsgSpan {
    first: u32,
    count: u32,
}

/// sendmmsg batches, through the syscall seam `S` (the real calls unless a test injects faults).
#[derive(Debug)]
pub struct MmsgBackend<S = RealSys> {
    sock: UdpSocket,
    gso: bool,
    sys: S,
    nobufs: NoBufsRest,
    done: Vec<u32>,
    hdrs: Box<[libc::mmsghdr]>,
    iovs: Box<[libc::iovec]>,
    cmsgs: Box<[CmsgBuf]>,
    spans: Box<[MsgSpan]>,
}

// SAFETY: the raw pointers inside the headers point into this struct or the slab and are only
// used on the thread that owns the backend during a call.
unsafe impl<S: SendSys> Send for MmsgBackend<S> {}

impl<S: SendSys> MmsgBackend<S> {
    /// `gso` must already be known to work on this socket (see `socket::gso_supported`).
    pub fn new(sock: UdpSocket, gso: bool, sys: S) -> MmsgBackend<S> {
        let hdr = libc::mmsghdr {
            msg_hdr: empty_msghdr(),
            msg_len: 0,
        };
        MmsgBackend {
            sock,
            gso,
            sys,
            nobufs: NoBufsRest::default(),
            done: Vec::with_capacity(MAX_BATCH),
            hdrs: vec![hdr; MAX_BATCH].into_boxed_slice(),
            iovs: vec![empty_iovec(); MAX_BATCH].into_boxed_slice(),
            cmsgs: vec![CmsgBuf::default(); MAX_BATCH].into_boxed_slice(),
            spans: vec![MsgSpan::default(); MAX_BATCH].into_boxed_slice(),
        }
    }

    /// The syscall seam.
    #[cfg(all(test, ringshot_uring))]
    pub fn sys(&self) -> &S {
        &self.sys
    }

    /// Builds messages for `pkts[from..]` starting at message index `msg`; returns the message
    /// count. Packet `i` always uses `iovs[i]`, so rebuilding after a GSO downgrade is in place.
    fn build(&mut self, slab: &Slab, pkts: &[TxDesc], mut from: usize, mut msg: usize) -> usize {
        while from < pkts.len() {
            let n = if self.gso {
                gso_run_len(&pkts[from..])
            } else {
                1
            };
            fill_msghdr(
                &mut self.hdrs[msg].msg_hdr,
                &mut self.iovs[from..from + n],
                &mut self.cmsgs[msg],
                slab,
                &pkts[from..from + n],
                self.gso,
            );
            self.spans[msg] = MsgSpan {
                first: from as u32,
                count: n as u32,
            };
            from += n;
            msg += 1;
        }
        msg
    }

    /// Counts messages `from..to` as sent and queues their slots for `reap`.
    fn accept(&mut self, pkts: &[TxDesc], from: usize, to: usize, m: &mut TxMetrics) {
        for s in &self.spans[from..to] {
            let run = &pkts[s.first as usize..(s.first + s.count) as usize];
            m.packets += run.len() as u64;
            m.bytes += run.iter().map(|p| p.len as u64).sum::<u64>();
            self.done.extend(run.iter().map(|p| p.slot));
        }
    }
}

impl<S: SendSys> TxBackend for MmsgBackend<S> {
    fn name(&self) -> &'static str {
        "mmsg"
    }

    fn gso_active(&self) -> bool {
        self.gso
    }

    fn submit(&mut self, slab: &Slab, pkts: &[TxDesc], m: &mut TxMetrics) -> io::Result<usize> {
        let pkts = &pkts[..pkts.len().min(MAX_BATCH - self.done.len())];
        let mut nmsg = self.build(slab, pkts, 0, 0);
        let fd = self.sock.as_raw_fd();
        let mut next = 0; // first message not yet sent
        let mut waited = false;
        while next < nmsg {
            let span = self.spans[next];
            let with_gso = self.gso && span.count > 1;
            let t0 = Instant::now();
            // SAFETY: `build` pointed headers `next..nmsg` at iovecs and cmsgs owned by `self`
            // (not moved during the call) and at slots of `slab`, which the engine holds for us.
            let res = unsafe {
                self.sys
                    .sendmmsg(fd, &mut self.hdrs[next..nmsg], with_gso, m)
            };
            let sent = *res.as_ref().unwrap_or(&0);
            let sent_pkts = self.spans[next..next + sent]
                .iter()
                .map(|s| s.count as usize)
                .sum();
            m.record_submit(t0.elapsed().as_nanos() as u64, sent_pkts);
            match res {
                // Cannot happen for a non-empty vector; never loop on it.
                Ok(0) => break,
                Ok(k) => {
                    self.nobufs.reset();
                    self.accept(pkts, next, next + k, m);
                    next += k;
                    if next < nmsg {
                        // The kernel stops a sendmmsg at the first message that fails and
                        // returns the count before it, dropping the error (ENOBUFS from a
                        // qdisc, EAGAIN): that message was not sent and goes again.
                        m.short_stops += self.spans[next].count as u64;
                    }
                }
                Err(e) => match classify_send_error(&e, with_gso, m) {
                    SendFailure::WaitWritable if !waited => {
                        waited = true;
                        m.syscalls += 1;
                        if !self.sys.wait_writable(fd, WRITABLE_WAIT_MS)? {
                            break;
                        }
                    }
                    SendFailure::WaitWritable => break,
                    SendFailure::Retry => {
                        m.resent_packets += span.count as u64;
                        break;
                    }
                    SendFailure::NoBuffers => {
                        m.resent_packets += span.count as u64;
                        self.sys.rest(self.nobufs.next());
                        break;
                    }
                    SendFailure::DisableGso => {
                        m.resent_packets += span.count as u64;
                        downgrade_gso(&mut self.gso, "mmsg", &e, m);
                        nmsg = self.build(slab, pkts, span.first as usize, next);
                    }
                    SendFailure::Fatal if next > 0 => break,
                    SendFailure::Fatal => return Err(e),
                },
            }
        }
        Ok(if next < nmsg {
            self.spans[next].first as usize
        } else {
            pkts.len()
        })
    }

    fn reap(
        &mut self,
        _wait: bool,
        done: &mut dyn FnMut(u32),
        _m: &mut TxMetrics,
    ) -> io::Result<()> {
        crate::sys::hand_back(&mut self.done, done);
        Ok(())
    }

    fn in_flight(&self) -> usize {
        self.done.len()
    }
}

#[cfg(all(test, ringshot_uring))]
mod tests {
    use super::*;
    use crate::fault::FaultPlan;
    use crate::sys::unix::testkit::{
        check_eagain_waits_once_then_returns, check_enobufs_rests_between_refusals,
        check_fatal_errno_after_a_prefix, check_gso_from_consecutive_full_slots,
        check_gso_refusal_mid_batch, check_persistent_errors_never_loop,
        check_refused_datagram_is_sent_again, check_retryable_errno_at_any_position,
        check_seeded_faults, send_error_plan, SeamBackend, Step,
    };

    impl SeamBackend for MmsgBackend {
        type With<S: SendSys> = MmsgBackend<S>;
        fn build<S: SendSys>(tx: UdpSocket, gso: bool, sys: S) -> MmsgBackend<S> {
            MmsgBackend::new(tx, gso, sys)
        }
        fn sys<S: SendSys>(b: &MmsgBackend<S>) -> &S {
            b.sys()
        }
        /// One `sendmmsg` that takes only `pos` messages (none when `pos` is 0).
        fn after(pos: usize, then: &[Step]) -> Vec<Step> {
            let mut steps = match pos {
                0 => vec![],
                _ => vec![Step::Prefix(pos)],
            };
            steps.extend_from_slice(then);
            steps
        }
    }

    #[test]
    fn retryable_errno_at_any_position_returns_the_prefix_and_loses_nothing() {
        check_retryable_errno_at_any_position::<MmsgBackend>(|_, _| {});
    }

    #[test]
    fn eagain_waits_once_then_returns_to_the_engine() {
        check_eagain_waits_once_then_returns::<MmsgBackend>();
    }

    #[test]
    fn gso_refusal_mid_batch_downgrades_and_resends_in_the_same_call() {
        check_gso_refusal_mid_batch::<MmsgBackend>(|_| {});
    }

    #[test]
    fn gso_from_consecutive_full_slots_goes_as_one_iovec_and_arrives_intact() {
        check_gso_from_consecutive_full_slots::<MmsgBackend>();
    }

    #[test]
    fn fatal_errno_after_a_prefix_keeps_the_prefix_then_fails() {
        // Without GSO, EMSGSIZE and EINVAL are no GSO refusals: they end the stream too.
        for errno in [
            libc::ENETUNREACH,
            libc::ENETDOWN,
            libc::EPERM,
            libc::EMSGSIZE,
            libc::EINVAL,
        ] {
            check_fatal_errno_after_a_prefix::<MmsgBackend>(errno);
        }
    }

    #[test]
    fn seeded_faults_lose_nothing_and_counters_add_up() {
        for (gso, seed) in [(false, 1), (false, 2), (true, 3), (true, 4)] {
            // Partial `sendmmsg` counts too.
            let plan = FaultPlan {
                partial: 200_000,
                ..send_error_plan(seed, 150)
            };
            check_seeded_faults::<MmsgBackend>(gso, plan, 3000);
        }
    }

    #[test]
    fn kernel_econnrefused_datagram_is_sent_again() {
        check_refused_datagram_is_sent_again(|tx| MmsgBackend::new(tx, false, RealSys));
    }

    #[test]
    fn enobufs_is_back_pressure_every_refusal_rests_before_the_next_call() {
        check_enobufs_rests_between_refusals::<MmsgBackend>();
    }

    #[test]
    fn persistent_errors_never_loop_inside_submit() {
        check_persistent_errors_never_loop::<MmsgBackend>();
    }
}
