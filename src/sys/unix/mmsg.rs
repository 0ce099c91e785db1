//! The `mmsg` backend: a whole batch per `sendmmsg` call (each message one datagram, or one GSO
//! super-packet), partial sends resumed where they stopped. Nothing is dropped: after a
//! recoverable error `submit` returns what was accepted so far and the engine calls again.

use std::io;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::time::Instant;

use super::msg::{empty_iovec, empty_msghdr, fill_msghdr, CmsgBuf};
use super::sendsys::{RealSys, SendSys};
use super::{classify_send_error, downgrade_gso, SendFailure, WRITABLE_WAIT_MS};
use crate::config::MAX_BATCH;
use crate::stats::TxMetrics;
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
                    self.accept(pkts, next, next + k, m);
                    next += k;
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
        // The kernel copied every accepted datagram before `sendmmsg` returned.
        for slot in self.done.drain(..) {
            done(slot);
        }
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
    use crate::stats::errno_name;
    use crate::sys::unix::sendsys::Faulty;
    use crate::sys::unix::testkit::{
        check_refused_datagram_is_sent_again, drive_with, loopback_pair, numbered_packets,
        received_numbers, Scripted, Step,
    };

    fn scripted(gso: bool, steps: &[Step]) -> (UdpSocket, MmsgBackend<Scripted>) {
        let (rx, tx) = loopback_pair();
        (rx, MmsgBackend::new(tx, gso, Scripted::new(steps)))
    }

    fn in_order(n: u32) -> Vec<u32> {
        (0..n).collect()
    }

    fn returns(d: &crate::sys::unix::testkit::Driven) -> Vec<Option<usize>> {
        d.returns.iter().map(|r| r.as_ref().ok().copied()).collect()
    }

    #[test]
    fn retryable_errno_at_any_position_returns_the_prefix_and_loses_nothing() {
        for errno in [libc::ENOBUFS, libc::ECONNREFUSED, libc::EINTR] {
            for pos in [0, 1, 17, 63] {
                let ctx = format!("{} at message {pos}", errno_name(errno));
                let (slab, pkts) = numbered_packets(64, 200);
                let steps = match pos {
                    0 => vec![Step::Fail(errno)],
                    _ => vec![Step::Prefix(pos), Step::Fail(errno)],
                };
                let (rx, mut b) = scripted(false, &steps);
                let mut m = TxMetrics::new();
                let d = drive_with(&mut b, &slab, &pkts, 64, &mut m);
                assert_eq!(received_numbers(&rx, 200), in_order(64), "{ctx}");
                assert_eq!(d.done, in_order(64), "{ctx}");
                // The failed call returns what went before it; the next call sends the rest.
                assert_eq!(returns(&d), vec![Some(pos), Some(64 - pos)], "{ctx}");
                assert_eq!(m.packets, 64, "{ctx}");
                assert_eq!(m.bytes, 64 * 200, "{ctx}");
                assert_eq!(m.resent_packets, 1, "{ctx}");
                let errors = m.errors_by_name();
                assert_eq!(errors.get(&errno_name(errno)), Some(&1), "{ctx}");
                assert_eq!(errors.values().sum::<u64>(), 1, "{ctx}");
            }
        }
    }

    #[test]
    fn eagain_waits_once_then_returns_to_the_engine() {
        let (slab, pkts) = numbered_packets(64, 200);
        // One EAGAIN: the bounded wait finds the socket writable and the same call goes on.
        let (rx, mut b) = scripted(false, &[Step::Prefix(5), Step::Fail(libc::EAGAIN)]);
        let mut m = TxMetrics::new();
        let d = drive_with(&mut b, &slab, &pkts, 64, &mut m);
        assert_eq!(returns(&d), vec![Some(64)]);
        assert_eq!(received_numbers(&rx, 200), in_order(64));
        assert_eq!(m.resent_packets, 0);
        assert_eq!(m.syscalls, m.submits + 1, "the wait is a syscall");

        // A second EAGAIN in the same call: return what was sent; the engine calls again.
        let eagain = Step::Fail(libc::EAGAIN);
        let (rx, mut b) = scripted(false, &[Step::Prefix(5), eagain, eagain]);
        let mut m = TxMetrics::new();
        let d = drive_with(&mut b, &slab, &pkts, 64, &mut m);
        assert_eq!(returns(&d), vec![Some(5), Some(59)]);
        assert_eq!(received_numbers(&rx, 200), in_order(64));
        assert_eq!(d.done, in_order(64));
        assert_eq!(m.packets, 64);
        assert_eq!(m.errors_by_name()["EAGAIN"], 2);
    }

    #[test]
    fn gso_refusal_mid_batch_downgrades_and_resends_in_the_same_call() {
        // 200 packets of 1000 bytes: GSO messages of 64, 64, 64 and 8 packets.
        let (slab, pkts) = numbered_packets(200, 1000);
        let (rx, mut b) = scripted(true, &[Step::Prefix(1), Step::Fail(libc::EIO)]);
        let mut m = TxMetrics::new();
        let d = drive_with(&mut b, &slab, &pkts, 200, &mut m);
        assert_eq!(returns(&d), vec![Some(200)]);
        assert_eq!(received_numbers(&rx, 1000), in_order(200));
        assert_eq!(d.done, in_order(200));
        assert!(!b.gso_active(), "GSO stays off after a refusal");
        assert_eq!(m.gso_downgrades, 1);
        assert_eq!(m.resent_packets, 64, "the refused message's packets");
        assert_eq!(m.packets, 200);
        assert_eq!(m.errors_by_name()["EIO"], 1);
    }

    #[test]
    fn fatal_errno_after_a_prefix_keeps_the_prefix_then_fails() {
        let (slab, pkts) = numbered_packets(64, 200);
        let fatal = Step::Fail(libc::EPERM);
        let (rx, mut b) = scripted(false, &[Step::Prefix(10), fatal, fatal]);
        let mut m = TxMetrics::new();
        let d = drive_with(&mut b, &slab, &pkts, 64, &mut m);
        assert_eq!(d.returns.len(), 2);
        assert_eq!(*d.returns[0].as_ref().unwrap(), 10);
        let err = d.returns[1].as_ref().unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPERM));
        assert_eq!(received_numbers(&rx, 200), in_order(10));
        assert_eq!(d.done, in_order(10));
        assert_eq!(m.packets, 10);
        assert_eq!(m.errors_by_name()["EPERM"], 2);

        // EIO without GSO is not a GSO refusal: fatal, nothing sent, GSO state untouched.
        let (rx, mut b) = scripted(false, &[Step::Fail(libc::EIO)]);
        let d = drive_with(&mut b, &slab, &pkts, 64, &mut TxMetrics::new());
        assert_eq!(d.returns.len(), 1);
        assert!(d.returns[0].is_err());
        assert!(received_numbers(&rx, 200).is_empty());
    }

    #[test]
    fn seeded_faults_lose_nothing_and_counters_add_up() {
        for (gso, seed) in [(false, 1), (false, 2), (true, 3), (true, 4)] {
            let ctx = format!("gso {gso} seed {seed}");
            let plan = FaultPlan {
                seed,
                eagain: 30_000,
                enobufs: 30_000,
                econnrefused: 30_000,
                gso_refuse: 20_000,
                partial: 200_000,
                max_faults: Some(150),
                ..FaultPlan::none()
            };
            let (rx, tx) = loopback_pair();
            let mut b = MmsgBackend::new(tx, gso, Faulty::new(RealSys, Some(plan), None));
            let (slab, pkts) = numbered_packets(3000, 500);
            let mut m = TxMetrics::new();
            let d = drive_with(&mut b, &slab, &pkts, 256, &mut m);
            assert!(d.returns.iter().all(|r| r.is_ok()), "{ctx}");
            assert_eq!(received_numbers(&rx, 500), in_order(3000), "{ctx}");
            assert_eq!(d.done, in_order(3000), "{ctx}");
            assert_eq!(m.packets, 3000, "{ctx}");
            let inj = b.sys().injected();
            assert_eq!(m.injected, inj, "{ctx}");
            assert!(inj.total() > 0, "{ctx}: nothing injected");
            let errors = m.errors_by_name();
            let count = |name: &str| errors.get(name).copied().unwrap_or(0);
            assert_eq!(count("EAGAIN"), inj.eagain, "{ctx}");
            assert_eq!(count("ENOBUFS"), inj.enobufs, "{ctx}");
            assert_eq!(count("ECONNREFUSED"), inj.econnrefused, "{ctx}");
            assert_eq!(count("EIO"), inj.gso_refuse, "{ctx}");
            assert_eq!(m.gso_downgrades, inj.gso_refuse, "{ctx}");
            if !gso {
                // One packet per message: every refused message is one packet sent again.
                assert_eq!(m.resent_packets, inj.enobufs + inj.econnrefused, "{ctx}");
            } else {
                assert!(m.resent_packets >= inj.enobufs + inj.econnrefused, "{ctx}");
            }
        }
    }

    #[test]
    fn kernel_econnrefused_datagram_is_sent_again() {
        check_refused_datagram_is_sent_again(|tx| MmsgBackend::new(tx, false, RealSys));
    }

    #[test]
    fn persistent_errors_never_loop_inside_submit() {
        let (slab, pkts) = numbered_packets(64, 200);
        for (errno, calls) in [
            (libc::ENOBUFS, 1),
            (libc::ECONNREFUSED, 1),
            (libc::EAGAIN, 2),
        ] {
            let (rx, mut b) = scripted(false, &[Step::Fail(errno); 100]);
            let mut m = TxMetrics::new();
            assert_eq!(b.submit(&slab, &pkts, &mut m).unwrap(), 0);
            assert_eq!(b.sys().calls, calls, "{}", errno_name(errno));
            assert_eq!(b.in_flight(), 0);
            assert!(received_numbers(&rx, 200).is_empty());
        }
    }
}
