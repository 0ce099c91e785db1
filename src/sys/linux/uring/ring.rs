//! The seam between the backend and the kernel: the few ring operations the backend needs,
//! implemented over a real [`IoUring`], and [`Faulty`], a wrapper that injects faults at exactly
//! this boundary (the production path never asks whether a fault is planned).

use std::collections::VecDeque;
use std::io;
use std::time::Duration;

use io_uring::{opcode, squeue, types, IoUring};

use super::ops::CANCEL_USER_DATA;
use crate::fault::{FaultInjector, InjectedFaults};

/// What a send SQE does, in terms a fake kernel or a fault wrapper can act on without reading
/// the SQE's raw pointers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SqeInfo<'a> {
    pub user_data: u64,
    /// Linked to the next SQE of the same submission.
    pub link: bool,
    pub zc: bool,
    /// Carries a UDP_SEGMENT cmsg (more than one packet).
    pub gso: bool,
    /// Read by the simulated kernel of the tests.
    #[cfg_attr(not(test), allow(dead_code))]
    pub pkts: &'a [crate::sys::TxDesc],
}

/// One completion, copied out of the CQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cqe {
    pub user_data: u64,
    pub res: i32,
    pub flags: u32,
}

/// The CQE flag bits the backend reads.
pub(crate) const F_MORE: u32 = 1 << 1;
pub(crate) const F_NOTIF: u32 = 1 << 3;

/// IORING_ENTER_GETEVENTS (the io-uring crate keeps its copy private).
const ENTER_GETEVENTS: u32 = 1;

/// The flag bits above are the kernel's (checked against the io-uring crate's readers).
#[cfg(test)]
#[test]
fn flag_bits_match_the_kernel() {
    use io_uring::cqueue;
    assert!(cqueue::more(F_MORE) && !cqueue::notif(F_MORE));
    assert!(cqueue::notif(F_NOTIF) && !cqueue::more(F_NOTIF));
}

/// The ring operations the backend uses.
pub(crate) trait Ring: Send {
    /// Queues one SQE for the next [`Ring::enter`]. False when the SQ is full. `entry` carries
    /// no IO_LINK; `info.link` asks for a link to the next SQE of the same submission, if any.
    ///
    /// # Safety
    /// Every pointer in `entry` (msghdr, iovecs, cmsg, buffers) must stay valid and unchanged
    /// until the request's final completion (the notification, for zero-copy) is drained.
    unsafe fn push(&mut self, info: &SqeInfo<'_>, entry: &squeue::Entry) -> bool;

    /// Submits what was pushed and waits for up to `want` completions, at most `timeout`.
    /// Running out of time is not an error.
    fn enter(&mut self, want: usize, timeout: Duration) -> io::Result<()>;

    /// Moves every available completion into `out`.
    fn drain(&mut self, out: &mut Vec<Cqe>);

    /// Queues a request cancelling every send in flight (`None`) or the one with this
    /// `user_data`; its own completion carries [`CANCEL_USER_DATA`].
    fn push_cancel(&mut self, target: Option<u64>) -> bool;

    /// Faults injected so far (none for a real ring).
    fn injected(&self) -> InjectedFaults {
        InjectedFaults::default()
    }

    /// Rests `d` (short) before re-sending what the queue below the socket refused (ENOBUFS):
    /// no completion tells when it has room again.
    fn rest(&mut self, d: Duration) {
        std::thread::sleep(d);
    }
}

/// Builds the ring for `opts`: an SQ of two batches, a CQ with room for two completions (result
/// and notification) per slot, SQPOLL when asked for.
///
/// Without SQPOLL the ring is first asked for deferred task work (SINGLE_ISSUER |
/// DEFER_TASKRUN, kernel 6.1+), created disabled so that the thread that first enters it (the
/// engine's) becomes its one submitter; a kernel that refuses gets a plain ring.
pub(crate) fn build(opts: &crate::sys::TxOpts, slots: usize) -> io::Result<IoUring> {
    let sq_entries = (2 * opts.batch).next_power_of_two().clamp(64, 4096) as u32;
    let cq_entries = (2 * slots)
        .next_power_of_two()
        .clamp(2 * sq_entries as usize, 65_536) as u32;
    let mut builder = IoUring::builder();
    builder.setup_cqsize(cq_entries);
    if let Some(idle) = opts.sqpoll_idle {
        builder.setup_sqpoll(idle.as_millis().clamp(1, u32::MAX as u128) as u32);
        if let Some(cpu) = opts.sqpoll_cpu {
            builder.setup_sqpoll_cpu(cpu);
        }
        return builder.build(sq_entries);
    }
    deferred_or_plain(&builder, sq_entries, true)
}

/// `builder`'s ring with deferred task work (SINGLE_ISSUER | DEFER_TASKRUN, kernel 6.1+), or the
/// plain ring where the kernel refuses it. `disabled` creates it disabled, so that the thread
/// that first enables it becomes its one submitter; without it, the creating thread is.
pub(crate) fn deferred_or_plain(
    builder: &io_uring::Builder,
    entries: u32,
    disabled: bool,
) -> io::Result<IoUring> {
    let mut deferred = builder.clone();
    deferred.setup_single_issuer().setup_defer_taskrun();
    if disabled {
        deferred.setup_r_disabled();
    }
    match deferred.build(entries) {
        Ok(ring) => Ok(ring),
        Err(e) => {
            log::debug!("uring: no deferred task work ({e}); a plain ring");
            builder.build(entries)
        }
    }
}

/// A real io_uring. SQEs are staged and published together in [`Ring::enter`], so an SQPOLL
/// thread never sees half a linked chain, and so the last SQE of a submission goes without
/// IO_LINK: the kernel hands a chain left open at the end of a submission to a worker thread
/// instead of running it inline, which costs a thread hop per batch.
pub(crate) struct RealRing {
    ring: IoUring,
    ext_arg: bool,
    /// DEFER_TASKRUN: completions that need task work (a linked follower's issue, a parked
    /// send's retry) advance only in an enter that carries GETEVENTS.
    defer: bool,
    /// The ring was created disabled and still waits for its submitter's first enter.
    disabled: bool,
    /// Entries without IO_LINK, and whether each links to the next one staged.
    staged: Vec<squeue::Entry>,
    links: Vec<bool>,
}

impl RealRing {
    pub(crate) fn new(ring: IoUring) -> RealRing {
        let ext_arg = ring.params().is_feature_ext_arg();
        let capacity = ring.params().sq_entries() as usize;
        let defer = ring.params().is_setup_single_issuer();
        RealRing {
            ring,
            ext_arg,
            defer,
            disabled: defer,
            staged: Vec::with_capacity(capacity),
            links: Vec::with_capacity(capacity),
        }
    }

    fn stage(&mut self, entry: &squeue::Entry, link: bool) -> bool {
        let mut sq = self.ring.submission();
        sq.sync();
        if sq.len() + self.staged.len() >= sq.capacity() {
            return false;
        }
        self.staged.push(entry.clone());
        self.links.push(link);
        true
    }

    fn publish(&mut self) {
        if self.staged.is_empty() {
            return;
        }
        let n = self.staged.len();
        for k in 0..n - 1 {
            if self.links[k] {
                self.staged[k] = self.staged[k].clone().flags(squeue::Flags::IO_LINK);
            }
        }
        // SAFETY: every staged entry came through `Ring::push`, whose caller keeps what it
        // points at alive until its final completion (cancel entries point at nothing).
        let r = unsafe { self.ring.submission().push_multiple(&self.staged) };
        debug_assert!(r.is_ok(), "room was checked when staging");
        self.staged.clear();
        self.links.clear();
    }
}

impl Ring for RealRing {
    unsafe fn push(&mut self, info: &SqeInfo<'_>, entry: &squeue::Entry) -> bool {
        self.stage(entry, info.link)
    }

    fn enter(&mut self, want: usize, timeout: Duration) -> io::Result<()> {
        if self.disabled {
            // The calling thread becomes the ring's only submitter.
            self.ring.submitter().register_enable_rings()?;
            self.disabled = false;
        }
        self.publish();
        let r = if want == 0 && self.defer {
            let n = self.ring.submission().len() as u32;
            // SAFETY: no argument pointer is passed; the SQEs it submits were published by
            // `publish`, whose entries came through `Ring::push` with their pointers kept alive.
            unsafe {
                self.ring
                    .submitter()
                    .enter::<libc::sigset_t>(n, 0, ENTER_GETEVENTS, None)
            }
        } else if want == 0 {
            self.ring.submitter().submit()
        } else if self.ext_arg {
            let ts = types::Timespec::new()
                .sec(timeout.as_secs())
                .nsec(timeout.subsec_nanos());
            let args = types::SubmitArgs::new().timespec(&ts);
            self.ring.submitter().submit_with_args(want, &args)
        } else {
            // No bounded wait on this kernel: submit, then nap instead of blocking.
            let r = self.ring.submitter().submit();
            std::thread::sleep(timeout.min(Duration::from_micros(200)));
            r
        };
        match r {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY | libc::EAGAIN)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    fn drain(&mut self, out: &mut Vec<Cqe>) {
        let mut cq = self.ring.completion();
        cq.sync();
        out.extend(cq.map(|c| Cqe {
            user_data: c.user_data(),
            res: c.result(),
            flags: c.flags(),
        }));
    }

    fn push_cancel(&mut self, target: Option<u64>) -> bool {
        let entry = match target {
            None => opcode::AsyncCancel2::new(types::CancelBuilder::any()).build(),
            Some(ud) => opcode::AsyncCancel::new(ud).build(),
        };
        self.stage(&entry.user_data(CANCEL_USER_DATA), false)
    }
}

/// The first GSO submission to refuse with EIO, as `TxFaults::gso_fail_at` asks.
#[derive(Debug, Clone, Copy)]
struct GsoFailAt {
    at: u64,
    seen: u64,
}

/// Wraps a ring and injects the faults of a [`FaultInjector`]: a linked chain broken at one SQE
/// (its error and the ECANCELED completions of the SQEs linked after it are synthesised and
/// those SQEs never reach the kernel), completions held back for a few drains, and one drain's
/// completions shuffled.
pub(crate) struct Faulty<R> {
    inner: R,
    faults: Option<FaultInjector>,
    gso_fail_at: Option<GsoFailAt>,
    /// The chain of the current submission was broken: every SQE after it is cancelled.
    broken: bool,
    /// Completions to deliver: (drains left to wait, completion).
    held: VecDeque<(u32, Cqe)>,
}

impl<R: Ring> Faulty<R> {
    pub(crate) fn new(inner: R, faults: Option<FaultInjector>, gso_fail_at: Option<u64>) -> Self {
        Faulty {
            inner,
            faults,
            gso_fail_at: gso_fail_at.map(|at| GsoFailAt { at, seen: 0 }),
            broken: false,
            held: VecDeque::new(),
        }
    }

    /// Whether this SQE is the one that fails, and with which errno.
    fn failure(&mut self, info: &SqeInfo<'_>) -> Option<i32> {
        if info.gso {
            if let Some(g) = &mut self.gso_fail_at {
                let n = g.seen;
                g.seen += 1;
                if n == g.at {
                    return Some(libc::EIO);
                }
            }
        }
        let f = self.faults.as_mut()?;
        // The plan's send errors hit an SQE as they hit a sendmsg call; then one draw per SQE
        // for a broken link. Either way the SQEs linked after it are cancelled.
        f.send_error(info.gso)
            .or_else(|| f.cancel_link(1).map(|_| f.link_errno(info.gso)))
    }

    /// Synthesises the completions of an SQE that never reached the kernel.
    fn synthesise(&mut self, info: &SqeInfo<'_>, errno: i32) {
        // As the kernel does: F_MORE on a failed zero-copy result, none on a cancelled one, and
        // a notification for both.
        let more = if info.zc && errno != libc::ECANCELED {
            F_MORE
        } else {
            0
        };
        self.held.push_back((
            0,
            Cqe {
                user_data: info.user_data,
                res: -errno,
                flags: more,
            },
        ));
        if info.zc {
            self.held.push_back((
                0,
                Cqe {
                    user_data: info.user_data,
                    res: 0,
                    flags: F_NOTIF,
                },
            ));
        }
    }
}

impl<R: Ring> Ring for Faulty<R> {
    unsafe fn push(&mut self, info: &SqeInfo<'_>, entry: &squeue::Entry) -> bool {
        if self.broken {
            self.synthesise(info, libc::ECANCELED);
        } else if let Some(errno) = self.failure(info) {
            self.synthesise(info, errno);
            self.broken = info.link;
        } else {
            // SAFETY: passed through from our caller, who upholds the contract.
            if !unsafe { self.inner.push(info, entry) } {
                return false;
            }
        }
        if !info.link {
            self.broken = false;
        }
        true
    }

    fn enter(&mut self, want: usize, timeout: Duration) -> io::Result<()> {
        // Synthesised completions are already due: do not sleep waiting for the kernel.
        let want = if self.held.iter().any(|(d, _)| *d == 0) {
            0
        } else {
            want
        };
        self.broken = false;
        self.inner.enter(want, timeout)
    }

    fn drain(&mut self, out: &mut Vec<Cqe>) {
        let mut fresh = Vec::new();
        self.inner.drain(&mut fresh);
        for c in fresh {
            let delay = self.faults.as_mut().map_or(0, |f| f.delay_cqe());
            self.held.push_back((delay, c));
        }
        let start = out.len();
        // Due completions leave in arrival order; the rest wait one more drain.
        let mut keep = VecDeque::with_capacity(self.held.len());
        for (d, c) in self.held.drain(..) {
            if d == 0 {
                out.push(c);
            } else {
                keep.push_back((d - 1, c));
            }
        }
        self.held = keep;
        if let Some(f) = &mut self.faults {
            f.maybe_shuffle(&mut out[start..]);
        }
    }

    fn push_cancel(&mut self, target: Option<u64>) -> bool {
        self.inner.push_cancel(target)
    }

    fn rest(&mut self, d: Duration) {
        self.inner.rest(d);
    }

    fn injected(&self) -> InjectedFaults {
        self.faults
            .as_ref()
            .map(|f| f.injected())
            .unwrap_or_default()
    }
}
