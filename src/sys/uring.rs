//! The io_uring send backend.
//!
//! - The socket is registered as fixed file 0 and the whole slab as fixed buffer 0.
//! - One SENDMSG SQE per packet, or per GSO super-packet (iovecs pointing at the slots plus a
//!   UDP_SEGMENT cmsg); a whole batch goes in with one `io_uring_enter`.
//! - At or above the zero-copy threshold, SEND_ZC (fixed buffer) or SENDMSG_ZC (GSO) is used and
//!   the slots are held until the notification CQE, not just the result CQE.
//! - The SQEs of a batch are linked, so the kernel sends them in order even when one has to wait
//!   for socket space; a new batch starts only after the previous batch's results are in. A send
//!   that fails with a recoverable error (and everything the broken link cancelled) is re-sent, in
//!   order, before any new packet.

use std::io;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Instant;

use io_uring::{cqueue, opcode, squeue, types, IoUring, Probe};

use super::unix::msg::{empty_iovec, empty_msghdr, fill_msghdr, CmsgBuf};
use super::unix::{classify_send_error, downgrade_gso, injected_gso_failure, SendFailure};
use super::{cqe_result, gso_run_len, Slab, TxBackend, TxDesc, GSO_MAX_SEGMENTS};
use crate::stats::TxMetrics;
use crate::SenderConfig;

/// What an operation is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpState {
    Free,
    /// Submitted; its result CQE has not arrived.
    AwaitResult,
    /// Zero-copy send done; the kernel still reads the buffers until the notification.
    AwaitNotif,
    /// Zero-copy send failed; resend once the notification says the kernel let go.
    RetryAfterNotif,
}

/// One SQE's worth of packets, with the msghdr storage the kernel reads.
#[derive(Debug)]
struct Op {
    hdr: libc::msghdr,
    iovs: [libc::iovec; GSO_MAX_SEGMENTS],
    cmsg: CmsgBuf,
    pkts: [TxDesc; GSO_MAX_SEGMENTS],
    count: usize,
    gso: bool,
    zc: bool,
    state: OpState,
    /// Submission order, so re-sends go out in the original order.
    order: u64,
}

impl Op {
    fn new() -> Op {
        Op {
            hdr: empty_msghdr(),
            iovs: [empty_iovec(); GSO_MAX_SEGMENTS],
            cmsg: CmsgBuf::default(),
            pkts: [TxDesc { slot: 0, len: 0 }; GSO_MAX_SEGMENTS],
            count: 0,
            gso: false,
            zc: false,
            state: OpState::Free,
            order: 0,
        }
    }

    fn pkts(&self) -> &[TxDesc] {
        &self.pkts[..self.count]
    }
}

/// Segments of `seg_len` bytes that one zero-copy GSO send may carry. Zero-copy pins the user
/// pages as skb fragments, and an skb holds at most MAX_SKB_FRAGS (17 by default) of them; a
/// packet of `seg_len` bytes can straddle `ceil(seg_len / 4096) + 1` pages. Past that the kernel
/// answers EMSGSIZE.
fn zc_gso_segments(seg_len: u32) -> usize {
    const FRAGS: usize = 16;
    (FRAGS / ((seg_len as usize).div_ceil(4096) + 1)).max(1)
}

/// io_uring SENDMSG / SEND_ZC batches.
pub struct UringBackend {
    ring: IoUring,
    /// Kept open: the registered fixed file refers to it.
    _sock: UdpSocket,
    /// Kept alive: its memory is registered with the ring.
    slab: Arc<Slab>,
    gso: bool,
    zc_threshold: Option<usize>,
    fixed_buffer: bool,
    ops: Box<[Op]>,
    free_ops: Vec<u32>,
    /// Ops to send again, before anything new.
    retry: Vec<u32>,
    /// Ops whose result CQE is outstanding.
    results_pending: usize,
    /// Slots in ops that are not free.
    slots_in_kernel: usize,
    /// Slots the kernel is done with, not yet handed to the engine.
    done: Vec<u32>,
    next_order: u64,
    fatal: Option<io::Error>,
    gso_fail_at: Option<u64>,
    gso_submits: u64,
    sq_capacity: usize,
}

impl std::fmt::Debug for UringBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UringBackend")
            .field("gso", &self.gso)
            .field("zc_threshold", &self.zc_threshold)
            .field("fixed_buffer", &self.fixed_buffer)
            .field("results_pending", &self.results_pending)
            .field("slots_in_kernel", &self.slots_in_kernel)
            .finish()
    }
}

// SAFETY: the raw pointers in the ops point into this struct's own boxed storage or the slab it
// keeps alive; the backend is used by one thread at a time.
unsafe impl Send for UringBackend {}

impl UringBackend {
    /// Sets up the ring, probes the opcodes and registers the socket and the slab.
    /// Fails (so `auto` can fall back) when io_uring or SENDMSG is unavailable.
    pub fn new(
        sock: UdpSocket,
        gso: bool,
        cfg: &SenderConfig,
        slab: Arc<Slab>,
    ) -> io::Result<UringBackend> {
        let slots = slab.slots() as usize;
        let sq_entries = (2 * cfg.batch).next_power_of_two().clamp(64, 4096) as u32;
        // Two CQEs per zero-copy send (result, notification); every slot may be one send.
        let cq_entries = (2 * slots)
            .next_power_of_two()
            .clamp(2 * sq_entries as usize, 65_536) as u32;
        let mut builder = IoUring::builder();
        builder.setup_cqsize(cq_entries);
        if let Some(idle) = cfg.sqpoll_idle {
            builder.setup_sqpoll(idle.as_millis().clamp(1, u32::MAX as u128) as u32);
            if let Some(cpu) = cfg.sqpoll_cpu {
                builder.setup_sqpoll_cpu(cpu);
            }
        }
        let ring = builder.build(sq_entries)?;

        let mut probe = Probe::new();
        ring.submitter().register_probe(&mut probe)?;
        if !probe.is_supported(opcode::SendMsg::CODE) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the kernel's io_uring lacks IORING_OP_SENDMSG",
            ));
        }
        let zc_ok =
            probe.is_supported(opcode::SendZc::CODE) && probe.is_supported(opcode::SendMsgZc::CODE);
        let zc_threshold = if zc_ok { cfg.zc_threshold } else { None };
        if cfg.zc_threshold.is_some() && !zc_ok {
            eprintln!(
                "ringshot: uring: SEND_ZC is not supported by this kernel; copying sends only"
            );
        }

        ring.submitter().register_files(&[sock.as_raw_fd()])?;
        let (base, len) = slab.region();
        let region = libc::iovec {
            iov_base: base.cast(),
            iov_len: len,
        };
        // SAFETY: the region is the slab's allocation, which `self.slab` keeps alive for as long
        // as the ring exists (the ring is dropped first: fields drop in declaration order).
        let fixed_buffer = unsafe { ring.submitter().register_buffers(&[region]) }.is_ok();
        if !fixed_buffer && zc_threshold.is_some() {
            eprintln!(
                "ringshot: uring: could not register the slab as a fixed buffer (RLIMIT_MEMLOCK?); \
                 SEND_ZC will map pages per send"
            );
        }

        // io_uring parks a send that finds the socket full and retries it when space frees, which
        // is what we want; on an O_NONBLOCK socket it would hand us EAGAIN to spin on instead.
        sock.set_nonblocking(false)?;
        Ok(UringBackend {
            sq_capacity: sq_entries as usize,
            ring,
            _sock: sock,
            slab,
            gso,
            zc_threshold,
            fixed_buffer,
            ops: (0..slots).map(|_| Op::new()).collect(),
            free_ops: (0..slots as u32).rev().collect(),
            retry: Vec::with_capacity(slots),
            results_pending: 0,
            slots_in_kernel: 0,
            done: Vec::with_capacity(slots),
            next_order: 0,
            fatal: None,
            gso_fail_at: cfg.faults.gso_fail_at,
            gso_submits: 0,
        })
    }

    /// Builds the SQE for op `idx` from its packets.
    fn prepare(&mut self, idx: u32, link: bool) -> squeue::Entry {
        let gso_allowed = self.gso;
        let zc_allowed = self.zc_threshold;
        let fixed = self.fixed_buffer;
        let slab = &*self.slab;
        let op = &mut self.ops[idx as usize];
        op.gso = gso_allowed && op.count > 1;
        op.zc = zc_allowed.is_some_and(|t| op.pkts[0].len as usize >= t);
        op.state = OpState::AwaitResult;
        let entry = if op.zc && !op.gso {
            let p = op.pkts[0];
            let mut e = opcode::SendZc::new(types::Fixed(0), slab.slot_ptr(p.slot), p.len);
            if fixed {
                e = e.buf_index(Some(0));
            }
            e.build()
        } else {
            fill_msghdr(
                &mut op.hdr,
                &mut op.iovs,
                &mut op.cmsg,
                slab,
                &op.pkts[..op.count],
                op.gso,
            );
            if op.zc {
                opcode::SendMsgZc::new(types::Fixed(0), &op.hdr).build()
            } else {
                opcode::SendMsg::new(types::Fixed(0), &op.hdr).build()
            }
        };
        let entry = entry.user_data(idx as u64);
        if link {
            entry.flags(squeue::Flags::IO_LINK)
        } else {
            entry
        }
    }

    fn release(&mut self, idx: u32) {
        let op = &mut self.ops[idx as usize];
        self.done.extend(op.pkts[..op.count].iter().map(|p| p.slot));
        self.slots_in_kernel -= op.count;
        op.state = OpState::Free;
        op.count = 0;
        self.free_ops.push(idx);
    }

    /// Splits op `idx` (a refused GSO super-packet) into one op per packet, queued for re-send.
    fn split_for_retry(&mut self, idx: u32) {
        let op = &self.ops[idx as usize];
        let (pkts, count, order) = (op.pkts, op.count, op.order);
        self.ops[idx as usize].count = 1;
        self.retry.push(idx);
        for &p in &pkts[1..count] {
            let j = self
                .free_ops
                .pop()
                .expect("one op per slot is always available");
            let o = &mut self.ops[j as usize];
            o.pkts[0] = p;
            o.count = 1;
            o.order = order;
            o.state = OpState::AwaitResult;
            self.retry.push(j);
        }
    }

    /// Consumes every available CQE.
    fn drain_cq(&mut self, m: &mut TxMetrics) {
        let mut cq = self.ring.completion();
        cq.sync();
        let mut cqes = [(0u64, 0i32, 0u32); 64];
        loop {
            let mut n = 0;
            for cqe in cq.by_ref().take(cqes.len()) {
                cqes[n] = (cqe.user_data(), cqe.result(), cqe.flags());
                n += 1;
            }
            if n == 0 {
                break;
            }
            // Handle outside the queue borrow; the CQ head already advanced.
            drop(cq);
            for &(ud, res, flags) in &cqes[..n] {
                self.on_cqe(ud as u32, res, flags, m);
            }
            cq = self.ring.completion();
            cq.sync();
        }
    }

    fn on_cqe(&mut self, idx: u32, res: i32, flags: u32, m: &mut TxMetrics) {
        if cqueue::notif(flags) {
            m.zero_copy_notifications += 1;
            match self.ops[idx as usize].state {
                OpState::RetryAfterNotif => {
                    self.ops[idx as usize].state = OpState::AwaitResult;
                    self.retry.push(idx);
                }
                _ => self.release(idx),
            }
            return;
        }
        self.results_pending -= 1;
        let more = cqueue::more(flags);
        match cqe_result(res) {
            Ok(_) => {
                let op = &self.ops[idx as usize];
                m.packets += op.count as u64;
                m.zero_copy_sends += op.zc as u64;
                m.bytes += op.pkts().iter().map(|p| p.len as u64).sum::<u64>();
                if more {
                    self.ops[idx as usize].state = OpState::AwaitNotif;
                } else {
                    self.release(idx);
                }
            }
            Err(e) => {
                let op = &self.ops[idx as usize];
                let (count, with_gso, zc) = (op.count, op.gso, op.zc);
                let action = if e.raw_os_error() == Some(libc::ECANCELED) {
                    // An earlier SQE in the linked batch failed; this one never ran.
                    SendFailure::Retry
                } else if zc && e.raw_os_error() == Some(libc::EOPNOTSUPP) {
                    m.record_errno(libc::EOPNOTSUPP);
                    if self.zc_threshold.take().is_some() {
                        eprintln!(
                            "ringshot: uring: zero-copy send refused ({e}); copying from now on"
                        );
                    }
                    SendFailure::Retry
                } else {
                    classify_send_error(&e, with_gso, m)
                };
                let cancelled = e.raw_os_error() == Some(libc::ECANCELED);
                match action {
                    SendFailure::WaitWritable | SendFailure::Retry => {
                        if !cancelled {
                            m.resent_packets += count as u64;
                        }
                        if more {
                            self.ops[idx as usize].state = OpState::RetryAfterNotif;
                        } else {
                            self.retry.push(idx);
                        }
                    }
                    SendFailure::DisableGso => {
                        m.resent_packets += count as u64;
                        downgrade_gso(&mut self.gso, "uring", &e, m);
                        if more {
                            self.ops[idx as usize].state = OpState::RetryAfterNotif;
                        } else {
                            self.split_for_retry(idx);
                        }
                    }
                    SendFailure::Fatal => {
                        self.fatal.get_or_insert(e);
                        if more {
                            self.ops[idx as usize].state = OpState::AwaitNotif;
                        } else {
                            self.release(idx);
                        }
                    }
                }
            }
        }
    }

    /// Pushes `idx` (already filled) onto the SQ. False if the SQ is full.
    fn push(&mut self, idx: u32, link: bool, m: &mut TxMetrics) -> bool {
        let inject = {
            let op = &self.ops[idx as usize];
            self.gso && op.count > 1
        } && injected_gso_failure(self.gso_fail_at, &mut self.gso_submits);
        if inject {
            // Behave exactly as a kernel refusal arriving in a CQE would.
            self.results_pending += 1;
            self.on_cqe(idx, -libc::EIO, 0, m);
            return true;
        }
        let entry = self.prepare(idx, link);
        // SAFETY: the entry points at op storage and slab slots that stay alive and untouched
        // until the op's final CQE (result, or notification for zero-copy) is reaped.
        let pushed = unsafe { self.ring.submission().push(&entry) }.is_ok();
        if pushed {
            self.results_pending += 1;
        }
        pushed
    }

    /// One `io_uring_enter`, timed as a submit. `want` CQEs are waited for.
    fn enter(&mut self, want: usize, packets: usize, m: &mut TxMetrics) -> io::Result<()> {
        let t0 = Instant::now();
        let r = if want > 0 {
            self.ring.submitter().submit_and_wait(want)
        } else {
            self.ring.submitter().submit()
        };
        let ns = t0.elapsed().as_nanos() as u64;
        if packets > 0 {
            m.record_submit(ns, packets);
        } else {
            m.syscalls += 1;
        }
        match r {
            Ok(_) => Ok(()),
            Err(e)
                if e.raw_os_error() == Some(libc::EINTR)
                    || e.raw_os_error() == Some(libc::EBUSY) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Waits until the results of everything submitted so far are in.
    fn settle(&mut self, m: &mut TxMetrics) -> io::Result<()> {
        self.drain_cq(m);
        while self.results_pending > 0 {
            self.enter(1, 0, m)?;
            self.drain_cq(m);
        }
        Ok(())
    }
}

impl TxBackend for UringBackend {
    fn name(&self) -> &'static str {
        "uring"
    }

    fn gso_active(&self) -> bool {
        self.gso
    }

    fn submit(&mut self, _slab: &Slab, pkts: &[TxDesc], m: &mut TxMetrics) -> io::Result<usize> {
        if let Some(e) = self.fatal.take() {
            return Err(e);
        }
        // A new batch may not overtake a send the kernel parked waiting for socket space.
        self.settle(m)?;
        let mut queued_pkts = 0;
        let mut queued_ops = 0;
        let room = self.sq_capacity;
        // Re-sends first, in their original order.
        if !self.retry.is_empty() {
            let mut retry = std::mem::take(&mut self.retry);
            retry.sort_by_key(|&i| self.ops[i as usize].order);
            let n = retry.len().min(room);
            for (k, &idx) in retry[..n].iter().enumerate() {
                let link = k + 1 < n || !pkts.is_empty();
                if self.push(idx, link, m) {
                    queued_pkts += self.ops[idx as usize].count;
                    queued_ops += 1;
                }
            }
            retry.drain(..n);
            retry.append(&mut self.retry);
            self.retry = retry;
        }
        let mut i = 0;
        while i < pkts.len() && queued_ops < room && self.retry.is_empty() {
            let Some(idx) = self.free_ops.pop() else {
                break;
            };
            let n = if self.gso {
                let n = gso_run_len(&pkts[i..]);
                match self.zc_threshold {
                    Some(t) if pkts[i].len as usize >= t => n.min(zc_gso_segments(pkts[i].len)),
                    _ => n,
                }
            } else {
                1
            };
            let order = self.next_order;
            self.next_order += 1;
            let op = &mut self.ops[idx as usize];
            op.pkts[..n].copy_from_slice(&pkts[i..i + n]);
            op.count = n;
            op.order = order;
            self.slots_in_kernel += n;
            i += n;
            let last = i >= pkts.len();
            if !self.push(idx, !last, m) {
                // SQ full (an SQPOLL thread has not caught up): hand these back to the engine.
                i -= n;
                self.slots_in_kernel -= n;
                self.ops[idx as usize].count = 0;
                self.ops[idx as usize].state = OpState::Free;
                self.free_ops.push(idx);
                break;
            }
            queued_pkts += n;
            queued_ops += 1;
        }
        if queued_ops > 0 {
            // A trailing IO_LINK (when we stopped early) is harmless: the kernel ends a chain at
            // the end of a submission.
            self.enter(0, queued_pkts, m)?;
            self.drain_cq(m);
        }
        if let Some(e) = self.fatal.take() {
            return Err(e);
        }
        Ok(i)
    }

    fn reap(&mut self, wait: bool, done: &mut dyn FnMut(u32), m: &mut TxMetrics) -> io::Result<()> {
        self.drain_cq(m);
        if wait && self.done.is_empty() && self.slots_in_kernel > 0 {
            if !self.retry.is_empty() && self.results_pending == 0 {
                // Nothing will complete until the re-sends go out.
                self.submit(&self.slab.clone(), &[], m)?;
            } else {
                self.enter(1, 0, m)?;
            }
            self.drain_cq(m);
        }
        for slot in self.done.drain(..) {
            done(slot);
        }
        match self.fatal.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn in_flight(&self) -> usize {
        self.slots_in_kernel + self.done.len()
    }
}
