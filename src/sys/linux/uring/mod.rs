//! The io_uring send backend.
//!
//! - The socket is registered as fixed file 0 and the whole slab as fixed buffer 0.
//! - One SEND SQE per packet (SENDMSG on kernels before 5.6), or one SENDMSG per GSO
//!   super-packet (iovecs pointing at the slots plus a UDP_SEGMENT cmsg); a whole batch goes in
//!   with one `io_uring_enter`, which also waits (at most `WAIT`) for the batch's results, as
//!   `sendmmsg` returns once its datagrams are sent (not under SQPOLL).
//! - At or above the zero-copy threshold, SEND_ZC (fixed buffer) or SENDMSG_ZC (GSO) is used.
//!
//! Every SQE is one *op*, and every op is in exactly one state of the machine in `ops.rs` (Free,
//! InFlight, NotifFirst, AwaitNotif, FailedAwaitNotif, DroppedAwaitNotif, QueuedRetry). An op's
//! slots go back to the engine only when its final completion is in: the result for a copying
//! send, the notification for a zero-copy one. The kernel flags a result that a notification
//! will follow with F_MORE, failed sends included, except for a zero-copy request cancelled by a
//! broken link: its ECANCELED result lacks F_MORE and the notification still comes, so that case
//! is treated as "notification due" too. `user_data` carries the op index and a generation bumped on every (re)submission, so
//! a late, duplicate or unknown completion is counted in `stray_completions` and ignored.
//!
//! Order: the SQEs of a batch are linked, so the kernel sends them in order even when one waits
//! for socket space, and a new batch starts only once every result of the previous one is in and
//! every failed zero-copy op has its notification. A send that fails recoverably, and every op
//! the broken link cancelled (ECANCELED), is re-sent in the original order before any new
//! packet; a multi-packet op re-sent after GSO was switched off is split into one op per packet.
//! A link costs the kernel a task-work hop per SQE (a follower is issued only once its
//! predecessor has completed). With `SendOrder::Relaxed` a batch of new packets goes unlinked
//! and with MSG_DONTWAIT, so the kernel issues every SQE inline, in order, and a send that finds
//! the socket full fails instead of waiting; a failed op is then re-sent, linked, after the rest
//! of its batch, and `reordered_packets` counts it (`behind`: submitted below the highest
//! `order` sent). Re-sends and whatever follows them in the same enter stay linked.
//!
//! Counters: `packets` counts a packet once, when a result says it left; `resent_packets`
//! counts packets re-submitted after their own send failed (not ECANCELED followers);
//! `zero_copy_sends` counts zero-copy requests whose result said sent and
//! `zero_copy_notifications` the notifications of those requests, so the two are equal once a
//! stream has ended cleanly; `failed_packets` counts packets dropped by a fatal error or by
//! [`TxBackend::cancel`].
//!
//! Every wait for completions is bounded (a few ms, `WAIT`): `submit` then returns 0 and `reap`
//! returns without a slot, and the engine decides whether to call again. [`TxBackend::cancel`]
//! cancels everything in flight and waits, at most its timeout, for the final completions;
//! `Drop` does the same with a one-second limit and leaks the ring, the op storage and the slab
//! if the kernel still holds any of them.
//!
//! Faults are injected by wrapping the ring (`Faulty` in `ring.rs`); the logic here never asks.
//! Completions are matched to their ops and moved through the state machine in `complete.rs`.

mod complete;
mod ops;
mod ring;
#[cfg(test)]
mod tests_real;
#[cfg(test)]
mod tests_sim;

use std::io;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use io_uring::{opcode, squeue, types, Probe};

// The raw io_uring loops (`ringshot::rawloop`, feature `rawloop`) set rings up the same way.
#[cfg(feature = "rawloop")]
pub(crate) use self::ring::deferred_or_plain;

use self::ops::OpState;
use self::ring::{Cqe, Faulty, RealRing, Ring, SqeInfo};
use crate::fault::FaultInjector;
use crate::stats::TxMetrics;
use crate::sys::unix::msg::{empty_iovec, empty_msghdr, fill_msghdr, CmsgBuf};
use crate::sys::unix::NoBufsRest;
use crate::sys::{gso_run_len, Slab, TxBackend, TxDesc, TxOpts, GSO_MAX_SEGMENTS};

/// Longest a `submit` or `reap` waits for completions.
const WAIT: Duration = Duration::from_millis(2);
/// Longest `Drop` waits for cancelled requests before leaking their memory.
const DROP_CANCEL_TIMEOUT: Duration = Duration::from_secs(1);

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
    /// Bumped on every submission; the high half of `user_data`.
    generation: u32,
    /// Sort key for re-sends: batch order, then position within a split super-packet.
    order: u64,
    /// Its last send really failed (not merely cancelled by a broken link).
    failed_send: bool,
    /// Submitted after a later packet of the stream had already left (a relaxed re-send).
    behind: bool,
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
            generation: 0,
            order: 0,
            failed_send: false,
            behind: false,
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

/// A ring that does nothing: what a backend holds after leaking its real ring.
struct NullRing;

impl Ring for NullRing {
    unsafe fn push(&mut self, _info: &SqeInfo<'_>, _entry: &squeue::Entry) -> bool {
        false
    }
    fn enter(&mut self, _want: usize, _timeout: Duration) -> io::Result<()> {
        Ok(())
    }
    fn drain(&mut self, _out: &mut Vec<Cqe>) {}
    fn push_cancel(&mut self, _target: Option<u64>) -> bool {
        false
    }
}

/// How the backend sends, fixed at set-up.
#[derive(Debug, Clone, Copy)]
struct Setup {
    gso: bool,
    zc_threshold: Option<usize>,
    fixed_buffer: bool,
    /// IORING_OP_SEND is there (5.6+) for single datagrams; SENDMSG otherwise.
    plain_send: bool,
    sq_capacity: usize,
    /// The enter that submits a batch also waits (bounded) for its results: true except under
    /// SQPOLL, whose point is submitting without a syscall.
    settle_in_submit: bool,
    /// `SendOrder::Relaxed`: new batches go unlinked.
    relaxed: bool,
}

/// io_uring SEND / SENDMSG / SEND_ZC batches.
pub struct UringBackend {
    /// Declared first so it drops before the op storage and the slab it points into.
    ring: Box<dyn Ring>,
    ops: Box<[Op]>,
    /// Kept open: the registered fixed file refers to it.
    _sock: Option<UdpSocket>,
    /// Kept alive: its memory is registered with the ring.
    slab: Arc<Slab>,
    gso: bool,
    zc_threshold: Option<usize>,
    fixed_buffer: bool,
    plain_send: bool,
    sq_capacity: usize,
    settle_in_submit: bool,
    relaxed: bool,
    /// The highest `order` whose send has left: an op submitted below it is overtaken.
    highest_sent: Option<u64>,
    /// Ops per state.
    counts: [usize; OpState::ALL.len()],
    free_ops: Vec<u32>,
    /// Ops to send again, before anything new.
    retry: Vec<u32>,
    /// Slots in ops that are not free.
    slots_held: usize,
    /// Slots the kernel is done with, not yet handed to the engine.
    done: Vec<u32>,
    cqes: Vec<Cqe>,
    next_order: u64,
    fatal: Option<io::Error>,
    /// A fatal error or a cancel ended the stream: nothing is re-sent any more.
    ending: bool,
    /// The kernel refused a cancel-everything request: cancel op by op.
    cancel_one_by_one: bool,
    /// A send was refused with ENOBUFS since the last re-send: rest before the next one.
    nobufs_refused: bool,
    /// How long that rest is (growing with refusals in a row).
    nobufs: NoBufsRest,
}

impl std::fmt::Debug for UringBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UringBackend")
            .field("gso", &self.gso)
            .field("zc_threshold", &self.zc_threshold)
            .field("fixed_buffer", &self.fixed_buffer)
            .field("counts", &self.counts)
            .field("slots_held", &self.slots_held)
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
        opts: &TxOpts,
        slab: Arc<Slab>,
    ) -> io::Result<UringBackend> {
        let ring = ring::build(opts, slab.slots() as usize)?;
        let sq_entries = ring.params().sq_entries();

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
        let zc_threshold = if zc_ok { opts.zc_threshold } else { None };
        if opts.zc_threshold.is_some() && !zc_ok {
            log::info!("uring: SEND_ZC is not supported by this kernel; copying sends only");
        }

        ring.submitter().register_files(&[sock.as_raw_fd()])?;
        let (base, len) = slab.region();
        let region = libc::iovec {
            iov_base: base.cast(),
            iov_len: len,
        };
        // SAFETY: the region is the slab's allocation, which `self.slab` keeps alive for as long
        // as the ring exists (the ring is dropped first, or leaked together with the slab).
        let fixed_buffer = unsafe { ring.submitter().register_buffers(&[region]) }.is_ok();
        if !fixed_buffer && zc_threshold.is_some() {
            log::warn!(
                "uring: could not register the slab as a fixed buffer (RLIMIT_MEMLOCK?); \
                 SEND_ZC will map pages per send"
            );
        }

        // io_uring parks a send that finds the socket full and retries it when space frees, which
        // is what we want; on an O_NONBLOCK socket it would hand us EAGAIN to spin on instead.
        sock.set_nonblocking(false)?;
        let real = RealRing::new(ring);
        let ring: Box<dyn Ring> = if opts.faults.any_syscall_fault() {
            let faults = opts.faults.plan.map(FaultInjector::new);
            Box::new(Faulty::new(real, faults, opts.faults.gso_fail_at))
        } else {
            Box::new(real)
        };
        let setup = Setup {
            gso,
            zc_threshold,
            fixed_buffer,
            plain_send: probe.is_supported(opcode::Send::CODE),
            sq_capacity: sq_entries as usize,
            settle_in_submit: opts.sqpoll_idle.is_none(),
            relaxed: opts.relaxed_order,
        };
        Ok(UringBackend::with_ring(ring, Some(sock), slab, setup))
    }

    /// A backend over any ring (a fake kernel in tests).
    fn with_ring(
        ring: Box<dyn Ring>,
        sock: Option<UdpSocket>,
        slab: Arc<Slab>,
        setup: Setup,
    ) -> UringBackend {
        let slots = slab.slots() as usize;
        let mut counts = [0; OpState::ALL.len()];
        counts[OpState::Free.index()] = slots;
        UringBackend {
            ring,
            ops: (0..slots).map(|_| Op::new()).collect(),
            _sock: sock,
            slab,
            gso: setup.gso,
            zc_threshold: setup.zc_threshold,
            fixed_buffer: setup.fixed_buffer,
            plain_send: setup.plain_send,
            sq_capacity: setup.sq_capacity,
            settle_in_submit: setup.settle_in_submit,
            relaxed: setup.relaxed,
            highest_sent: None,
            counts,
            free_ops: (0..slots as u32).rev().collect(),
            retry: Vec::with_capacity(slots),
            slots_held: 0,
            done: Vec::with_capacity(slots),
            cqes: Vec::with_capacity(1024),
            next_order: 0,
            fatal: None,
            ending: false,
            cancel_one_by_one: false,
            nobufs_refused: false,
            nobufs: NoBufsRest::default(),
        }
    }

    fn set_state(&mut self, idx: u32, next: OpState) {
        let op = &mut self.ops[idx as usize];
        self.counts[op.state.index()] -= 1;
        self.counts[next.index()] += 1;
        op.state = next;
    }

    fn count(&self, s: OpState) -> usize {
        self.counts[s.index()]
    }

    /// No result is outstanding and no failed zero-copy send awaits its notification, so the
    /// next submission cannot overtake anything.
    fn settled(&self) -> bool {
        self.results_due() == 0
    }

    /// Completions still due before the ring is settled: results, and the notifications of
    /// failed zero-copy sends (not those of sent ones, which may come much later).
    fn results_due(&self) -> usize {
        self.count(OpState::InFlight)
            + self.count(OpState::NotifFirst)
            + self.count(OpState::FailedAwaitNotif)
    }

    /// Ops whose buffers the kernel may still touch.
    fn kernel_held_ops(&self) -> usize {
        OpState::ALL
            .iter()
            .filter(|s| s.kernel_holds())
            .map(|s| self.count(*s))
            .sum()
    }

    /// Builds op `idx`'s SQE and hands it to the ring, linked to the next SQE of the enter or
    /// not; on success the op is InFlight under a new generation. False if the SQ is full (the
    /// op is unchanged).
    fn push_op(&mut self, idx: u32, link: bool, m: &mut TxMetrics) -> bool {
        // Unlinked, a send that finds the socket full must fail at once (MSG_DONTWAIT) instead
        // of being parked by the kernel and sent later behind the SQEs after it: that way every
        // overtaking is one we see, re-send and count.
        let msg_flags = if link { 0 } else { libc::MSG_DONTWAIT };
        let highest_sent = self.highest_sent;
        let gso_allowed = self.gso;
        let zc_threshold = self.zc_threshold;
        let fixed = self.fixed_buffer;
        let plain_send = self.plain_send;
        let slab = &*self.slab;
        let op = &mut self.ops[idx as usize];
        op.gso = gso_allowed && op.count > 1;
        op.zc = zc_threshold.is_some_and(|t| op.pkts[0].len as usize >= t);
        let generation = op.generation.wrapping_add(1).max(1);
        let ud = ops::user_data(idx, generation);
        let entry = if op.zc && !op.gso {
            let p = op.pkts[0];
            let mut e =
                opcode::SendZc::new(types::Fixed(0), slab.slot_ptr(p.slot), p.len).flags(msg_flags);
            if fixed {
                e = e.buf_index(Some(0));
            }
            e.build()
        } else if !op.gso && plain_send {
            // One datagram on the connected socket: SEND spares the kernel the msghdr copy and
            // iovec import SENDMSG costs per op, which is most of what a per-datagram op adds.
            debug_assert_eq!(op.count, 1, "without GSO an op carries one datagram");
            let p = op.pkts[0];
            opcode::Send::new(types::Fixed(0), slab.slot_ptr(p.slot), p.len)
                .flags(msg_flags)
                .build()
        } else {
            fill_msghdr(
                &mut op.hdr,
                &mut op.iovs,
                &mut op.cmsg,
                slab,
                &op.pkts[..op.count],
                op.gso,
            );
            let msg_flags = msg_flags as u32;
            if op.zc {
                opcode::SendMsgZc::new(types::Fixed(0), &op.hdr)
                    .flags(msg_flags)
                    .build()
            } else {
                opcode::SendMsg::new(types::Fixed(0), &op.hdr)
                    .flags(msg_flags)
                    .build()
            }
        };
        // The ring adds IO_LINK where `link` asks for it (never on an enter's last SQE).
        let entry = entry.user_data(ud);
        let info = SqeInfo {
            user_data: ud,
            link,
            zc: op.zc,
            gso: op.gso,
            pkts: &op.pkts[..op.count],
        };
        // The entry points at this op's boxed msghdr and at parked slab slots, untouched until
        // the op's final completion (`Drop` leaks them if it never comes).
        // SAFETY: those pointers stay valid and unaliased for as long as the kernel may read.
        if !unsafe { self.ring.push(&info, &entry) } {
            return false;
        }
        op.generation = generation;
        // Every result of earlier enters is in (a batch starts on a settled ring), so this says
        // whether a later packet has already left.
        op.behind = highest_sent.is_some_and(|h| op.order < h);
        if std::mem::take(&mut op.failed_send) {
            m.resent_packets += op.count as u64;
        }
        self.set_state(idx, OpState::InFlight);
        true
    }

    /// Hands op `idx`'s slots back and frees it.
    fn release(&mut self, idx: u32) {
        let op = &mut self.ops[idx as usize];
        self.done.extend(op.pkts[..op.count].iter().map(|p| p.slot));
        self.slots_held -= op.count;
        op.count = 0;
        self.set_state(idx, OpState::Free);
        self.free_ops.push(idx);
    }

    /// Op `idx` (QueuedRetry) goes to the retry queue, or is dropped as failed once the stream
    /// is ending.
    fn queue_retry(&mut self, idx: u32, m: &mut TxMetrics) {
        if self.ending {
            m.failed_packets += self.ops[idx as usize].count as u64;
            self.release(idx);
        } else {
            self.retry.push(idx);
        }
    }

    /// Drops every queued re-send as failed.
    fn drop_retries(&mut self, m: &mut TxMetrics) {
        for idx in std::mem::take(&mut self.retry) {
            m.failed_packets += self.ops[idx as usize].count as u64;
            self.release(idx);
        }
    }

    /// Splits every queued multi-packet op into one op per packet (GSO is off), in order.
    fn split_retries(&mut self) {
        for k in 0..self.retry.len() {
            let idx = self.retry[k];
            let op = &mut self.ops[idx as usize];
            if op.count <= 1 {
                continue;
            }
            let (pkts, count, order, failed) = (op.pkts, op.count, op.order, op.failed_send);
            op.count = 1;
            for (part, &p) in pkts[1..count].iter().enumerate() {
                // Each op holds at least one slot, so a free op exists for every extra packet.
                let j = self.free_ops.pop().expect("one op per slot");
                let o = &mut self.ops[j as usize];
                o.pkts[0] = p;
                o.count = 1;
                o.order = order + 1 + part as u64;
                o.failed_send = failed;
                self.set_state(j, OpState::QueuedRetry);
                self.retry.push(j);
            }
        }
    }

    /// Pushes queued re-sends, oldest first. Returns (ops pushed, packets pushed).
    fn push_retries(&mut self, room: usize, m: &mut TxMetrics) -> (usize, usize) {
        if !self.gso {
            self.split_retries();
        }
        let mut retry = std::mem::take(&mut self.retry);
        retry.sort_unstable_by_key(|&i| self.ops[i as usize].order);
        let mut pushed = 0;
        let mut pkts = 0;
        for &idx in &retry {
            // Re-sends are always one chain, so each waits for the one before it.
            if pushed == room || !self.push_op(idx, true, m) {
                break;
            }
            pushed += 1;
            pkts += self.ops[idx as usize].count;
        }
        retry.drain(..pushed);
        self.retry = retry;
        (pushed, pkts)
    }

    /// Pushes new packets after the re-sends, linked or not. Returns (ops pushed, packets
    /// accepted).
    fn push_new(
        &mut self,
        pkts: &[TxDesc],
        room: usize,
        link: bool,
        m: &mut TxMetrics,
    ) -> (usize, usize) {
        let mut ops = 0;
        let mut i = 0;
        while i < pkts.len() && ops < room {
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
            let op = &mut self.ops[idx as usize];
            op.pkts[..n].copy_from_slice(&pkts[i..i + n]);
            op.count = n;
            // Room for the parts of a split super-packet between two batch positions.
            op.order = self.next_order << 6;
            if !self.push_op(idx, link, m) {
                // SQ full (an SQPOLL thread has not caught up): hand these back to the engine.
                self.ops[idx as usize].count = 0;
                self.free_ops.push(idx);
                break;
            }
            self.next_order += 1;
            self.slots_held += n;
            i += n;
            ops += 1;
        }
        (ops, i)
    }

    /// Pushes re-sends and then new packets, and submits them with one enter, timed.
    /// Returns how many of `pkts` were accepted.
    fn push_batch(&mut self, pkts: &[TxDesc], m: &mut TxMetrics) -> io::Result<usize> {
        if std::mem::take(&mut self.nobufs_refused) && !self.retry.is_empty() {
            // The queue below the socket was full: re-sending at once only spins on refusals.
            self.ring.rest(self.nobufs.next());
        }
        let room = self.sq_capacity;
        let (mut ops, mut queued) = self.push_retries(room, m);
        let mut accepted = 0;
        if self.retry.is_empty() {
            // Relaxed, new packets go unlinked, except behind re-sends: those and everything
            // after them in this enter stay one chain, so nothing new overtakes a re-send.
            let link = !self.relaxed || ops > 0;
            let (n_ops, n) = self.push_new(pkts, room - ops, link, m);
            ops += n_ops;
            queued += n;
            accepted = n;
        }
        if ops > 0 {
            // With deferred task work, linked followers are issued only while this thread is in
            // the kernel, and an enter that asks for no completion runs a few dozen of them at
            // most: the rest of a batch would wait for the next enter, a second syscall per
            // batch that also holds the packets back. So the same enter waits for the results.
            let want = if self.settle_in_submit {
                self.results_due()
            } else {
                0
            };
            let t0 = Instant::now();
            let r = self.ring.enter(want, WAIT);
            m.record_submit(t0.elapsed().as_nanos() as u64, queued);
            if let Err(e) = r {
                // The ops are pushed and hold their packets: the error ends the stream like a
                // failed send, and the caller still learns what was accepted.
                self.ending = true;
                self.fatal.get_or_insert(e);
            }
            self.drain(m);
        }
        Ok(accepted)
    }

    /// Waits (bounded) for the completions that would settle the ring, at least one, and
    /// handles what arrived. Waiting for all of them at once matters: the kernel runs linked
    /// SQEs one after another from task work, which only advances while we are in the kernel.
    fn wait(&mut self, timeout: Duration, m: &mut TxMetrics) -> io::Result<()> {
        m.syscalls += 1;
        self.ring.enter(self.results_due().max(1), timeout)?;
        self.drain(m);
        Ok(())
    }

    /// The fatal error, once; queued re-sends are dropped as failed with it.
    fn take_fatal(&mut self, m: &mut TxMetrics) -> io::Result<()> {
        if self.ending {
            self.drop_retries(m);
        }
        match self.fatal.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn deliver(&mut self, done: &mut dyn FnMut(u32)) {
        for slot in self.done.drain(..) {
            done(slot);
        }
    }

    /// Asks the kernel to cancel every request in flight.
    fn request_cancel(&mut self) {
        if self.cancel_one_by_one {
            for (i, op) in self.ops.iter().enumerate() {
                if matches!(op.state, OpState::InFlight | OpState::NotifFirst) {
                    let _ = self
                        .ring
                        .push_cancel(Some(ops::user_data(i as u32, op.generation)));
                }
            }
        } else {
            let _ = self.ring.push_cancel(None);
        }
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
        self.take_fatal(m)?;
        self.drain(m);
        // A new batch may not overtake a send the kernel parked waiting for socket space, nor a
        // failed zero-copy send still waiting for its notification: wait a little (bounded),
        // then give up with 0 if the ring has still not settled.
        if !self.settled() {
            self.wait(WAIT, m)?;
        }
        // A fatal error among the results just drained ends the stream before anything new
        // (or re-sent) goes out behind the packets it lost.
        self.take_fatal(m)?;
        let accepted = if self.settled() {
            self.push_batch(pkts, m)?
        } else {
            0
        };
        // Packets this call accepted are ours to count (sent or failed) whatever happened to
        // them: the engine must hear of them, or it would count them again as never accepted.
        // A fatal error that came with them ends the stream on the next call.
        if accepted == 0 {
            self.take_fatal(m)?;
        }
        Ok(accepted)
    }

    fn reap(&mut self, wait: bool, done: &mut dyn FnMut(u32), m: &mut TxMetrics) -> io::Result<()> {
        self.drain(m);
        if wait && self.done.is_empty() && self.slots_held > 0 {
            if self.settled() && !self.retry.is_empty() && !self.ending {
                // Nothing will complete until the re-sends go out.
                self.push_batch(&[], m)?;
            } else {
                self.wait(WAIT, m)?;
            }
        }
        self.deliver(done);
        self.take_fatal(m)
    }

    fn in_flight(&self) -> usize {
        self.slots_held + self.done.len()
    }

    fn flush(&mut self, m: &mut TxMetrics) -> io::Result<()> {
        self.drain(m);
        if self.settled() && !self.retry.is_empty() {
            self.push_batch(&[], m)?;
        }
        self.take_fatal(m)
    }

    fn cancel(&mut self, timeout: Duration, done: &mut dyn FnMut(u32), m: &mut TxMetrics) -> usize {
        let deadline = Instant::now() + timeout;
        self.ending = true;
        self.drop_retries(m);
        let mut asked = false;
        loop {
            self.drain(m);
            // Whatever was queued for a re-send while we waited is dropped too.
            self.drop_retries(m);
            if self.kernel_held_ops() == 0 {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            if !asked || self.cancel_one_by_one {
                self.request_cancel();
                asked = true;
            }
            if self.wait(WAIT.min(deadline - now), m).is_err() {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        self.deliver(done);
        self.fatal = None;
        // Requests whose result never came (the kernel still holds them): they count as failed,
        // so every packet `submit` accepted is in the books once (sent, zero-copy sends awaiting
        // their notification included, are counted already).
        m.failed_packets += self
            .ops
            .iter()
            .filter(|op| {
                matches!(
                    op.state,
                    OpState::InFlight | OpState::NotifFirst | OpState::FailedAwaitNotif
                )
            })
            .map(|op| op.count as u64)
            .sum::<u64>();
        self.slots_held
    }
}

impl Drop for UringBackend {
    fn drop(&mut self) {
        if self.kernel_held_ops() == 0 {
            return;
        }
        let mut m = TxMetrics::new();
        let held = self.cancel(DROP_CANCEL_TIMEOUT, &mut |_| {}, &mut m);
        if held > 0 {
            log::warn!(
                "uring: the kernel still holds {held} slots after cancelling; leaking the ring \
                 and the slab rather than freeing memory it may read"
            );
            std::mem::forget(std::mem::replace(&mut self.ring, Box::new(NullRing)));
            std::mem::forget(std::mem::take(&mut self.ops));
            std::mem::forget(self.slab.clone());
        }
    }
}
