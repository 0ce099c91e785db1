//! The `send` backend: one `send` per packet (or one `sendmsg` per GSO super-packet). This is the
//! deliberate baseline, a syscall per packet, that the other backends are measured against.

use std::io;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::time::Instant;

use super::msg::{empty_iovec, empty_msghdr, fill_msghdr, CmsgBuf};
use super::seam::{RealSys, SendSys};
use super::{classify_send_error, downgrade_gso, NoBufsRest, SendFailure, WRITABLE_WAIT_MS};
use crate::stats::TxMetrics;
use crate::sys::MAX_BATCH;
use crate::sys::{gso_run_len, Slab, TxBackend, TxDesc, GSO_MAX_SEGMENTS};

/// One syscall per packet (or per GSO super-packet), through the syscall seam `S` (the real
/// calls unless a test injects faults).
#[derive(Debug)]
pub struct SendBackend<S = RealSys> {
    sock: UdpSocket,
    gso: bool,
    sys: S,
    nobufs: NoBufsRest,
    done: Vec<u32>,
    hdr: libc::msghdr,
    iovs: Box<[libc::iovec]>,
    cmsg: CmsgBuf,
}

// SAFETY: the raw pointers inside `hdr`/`iovs` point into this struct or the slab and are only
// used on the thread that owns the backend during a call.
unsafe impl<S: SendSys> Send for SendBackend<S> {}

impl<S: SendSys> SendBackend<S> {
    /// `gso` must already be known to work on this socket (see `socket::gso_supported`).
    pub fn new(sock: UdpSocket, gso: bool, sys: S) -> SendBackend<S> {
        SendBackend {
            sock,
            gso,
            sys,
            nobufs: NoBufsRest::default(),
            done: Vec::with_capacity(MAX_BATCH),
            hdr: empty_msghdr(),
            iovs: vec![empty_iovec(); GSO_MAX_SEGMENTS].into_boxed_slice(),
            cmsg: CmsgBuf::default(),
        }
    }

    /// The syscall seam.
    #[cfg(all(test, ringshot_uring))]
    pub fn sys(&self) -> &S {
        &self.sys
    }

    fn send_run(
        &mut self,
        slab: &Slab,
        run: &[TxDesc],
        gso: bool,
        m: &mut TxMetrics,
    ) -> io::Result<()> {
        let fd = self.sock.as_raw_fd();
        if gso {
            fill_msghdr(
                &mut self.hdr,
                &mut self.iovs,
                &mut self.cmsg,
                slab,
                run,
                true,
            );
            // SAFETY: `hdr` points at `iovs` and `cmsg`, owned by `self` and not moved during
            // the call, and at slots of `slab`, which the engine holds for us.
            unsafe { self.sys.sendmsg(fd, &self.hdr, true, m) }.map(drop)
        } else {
            let p = run[0];
            debug_assert!(p.len as usize <= slab.slot_size());
            // SAFETY: the packet lies in its slot of `slab` (at most a slot long), which the
            // engine holds for us during the call.
            unsafe { self.sys.send(fd, slab.slot_ptr(p.slot), p.len as usize, m) }.map(drop)
        }
    }
}

impl<S: SendSys> TxBackend for SendBackend<S> {
    fn name(&self) -> &'static str {
        "send"
    }

    fn gso_active(&self) -> bool {
        self.gso
    }

    fn submit(&mut self, slab: &Slab, pkts: &[TxDesc], m: &mut TxMetrics) -> io::Result<usize> {
        let pkts = &pkts[..pkts.len().min(MAX_BATCH - self.done.len())];
        let mut i = 0;
        let mut waited = false;
        while i < pkts.len() {
            let n = if self.gso { gso_run_len(&pkts[i..]) } else { 1 };
            let run = &pkts[i..i + n];
            let with_gso = self.gso && n > 1;
            let t0 = Instant::now();
            let res = self.send_run(slab, run, with_gso, m);
            m.record_submit(
                t0.elapsed().as_nanos() as u64,
                if res.is_ok() { n } else { 0 },
            );
            match res {
                Ok(()) => {
                    self.nobufs.reset();
                    m.packets += n as u64;
                    m.bytes += run.iter().map(|p| p.len as u64).sum::<u64>();
                    self.done.extend(run.iter().map(|p| p.slot));
                    i += n;
                }
                Err(e) => match classify_send_error(&e, with_gso, m) {
                    SendFailure::WaitWritable if !waited => {
                        waited = true;
                        m.syscalls += 1;
                        if !self
                            .sys
                            .wait_writable(self.sock.as_raw_fd(), WRITABLE_WAIT_MS)?
                        {
                            break;
                        }
                    }
                    SendFailure::WaitWritable => break,
                    SendFailure::Retry => {
                        m.resent_packets += n as u64;
                        break;
                    }
                    SendFailure::NoBuffers => {
                        m.resent_packets += n as u64;
                        self.sys.rest(self.nobufs.next());
                        break;
                    }
                    SendFailure::DisableGso => {
                        m.resent_packets += n as u64;
                        downgrade_gso(&mut self.gso, "send", &e, m);
                    }
                    SendFailure::Fatal if i > 0 => break,
                    SendFailure::Fatal => return Err(e),
                },
            }
        }
        Ok(i)
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
    use crate::sys::unix::seam::Faulty;
    use crate::sys::unix::testkit::{
        check_eagain_waits_once_then_returns, check_enobufs_rests_between_refusals,
        check_fatal_errno_after_a_prefix, check_gso_from_consecutive_full_slots,
        check_gso_refusal_mid_batch, check_persistent_errors_never_loop,
        check_refused_datagram_is_sent_again, check_retryable_errno_at_any_position,
        check_seeded_faults, drive_with, in_order, loopback_pair, numbered_packets,
        received_numbers, send_error_plan, SeamBackend, Step,
    };

    impl SeamBackend for SendBackend {
        type With<S: SendSys> = SendBackend<S>;
        fn build<S: SendSys>(tx: UdpSocket, gso: bool, sys: S) -> SendBackend<S> {
            SendBackend::new(tx, gso, sys)
        }
        fn sys<S: SendSys>(b: &SendBackend<S>) -> &S {
            b.sys()
        }
        /// `pos` real calls, then `then`.
        fn after(pos: usize, then: &[Step]) -> Vec<Step> {
            let mut steps = vec![Step::Pass; pos];
            steps.extend_from_slice(then);
            steps
        }
    }

    #[test]
    fn retryable_errno_at_any_position_returns_the_prefix_and_loses_nothing() {
        check_retryable_errno_at_any_position::<SendBackend>(|m, ctx| {
            assert_eq!(
                m.submits, 65,
                "{ctx}: one call per packet plus the failed one"
            );
        });
    }

    #[test]
    fn eagain_waits_once_then_returns_to_the_engine() {
        check_eagain_waits_once_then_returns::<SendBackend>();
    }

    #[test]
    fn gso_refusal_mid_batch_downgrades_and_resends_in_the_same_call() {
        check_gso_refusal_mid_batch::<SendBackend>(|m| {
            // One GSO send, the refused one, then one send per remaining packet.
            assert_eq!(m.submits, 1 + 1 + 136);
        });
    }

    #[test]
    fn gso_from_consecutive_full_slots_goes_as_one_iovec_and_arrives_intact() {
        check_gso_from_consecutive_full_slots::<SendBackend>();
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
            check_fatal_errno_after_a_prefix::<SendBackend>(errno);
        }
    }

    #[test]
    fn seeded_faults_lose_nothing_and_counters_add_up() {
        for (gso, seed) in [(false, 11), (true, 12)] {
            check_seeded_faults::<SendBackend>(gso, send_error_plan(seed, 100), 2000);
        }
    }

    #[test]
    fn forced_gso_failure_goes_through_the_seam() {
        let (slab, pkts) = numbered_packets(300, 1000);
        let (rx, tx) = loopback_pair();
        let mut b = SendBackend::new(tx, true, Faulty::new(RealSys, None, Some(2)));
        let mut m = TxMetrics::new();
        drive_with(&mut b, &slab, &pkts, 300, &mut m);
        assert_eq!(received_numbers(&rx, 1000), in_order(300));
        assert_eq!(m.gso_downgrades, 1);
        assert_eq!(m.injected.gso_refuse, 1);
        assert_eq!(m.resent_packets, 64, "the third GSO send's packets");
    }

    #[test]
    fn kernel_econnrefused_datagram_is_sent_again() {
        check_refused_datagram_is_sent_again(|tx| SendBackend::new(tx, false, RealSys));
    }

    #[test]
    fn enobufs_is_back_pressure_every_refusal_rests_before_the_next_call() {
        check_enobufs_rests_between_refusals::<SendBackend>();
    }

    #[test]
    fn persistent_errors_never_loop_inside_submit() {
        check_persistent_errors_never_loop::<SendBackend>();
    }
}
