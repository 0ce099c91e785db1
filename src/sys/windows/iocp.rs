//! The completion-port send backend: many overlapped WSASend calls in flight at once, one
//! OVERLAPPED per slab slot, completions drained in bulk with GetQueuedCompletionStatusEx.
//!
//! Ownership follows io_uring's rules: a slot posted with [`WinSys::post`] belongs to the system
//! until its completion has been drained; only then is it reported through `reap`. With
//! FILE_SKIP_COMPLETION_PORT_ON_SUCCESS a send that finishes inside WSASend posts no completion:
//! it is done at once and reported on the next `reap`. A post refused at once (WSAEWOULDBLOCK,
//! WSAENOBUFS, an ICMP report as WSAECONNRESET) sent nothing: it is counted by its WSA name and
//! the packet is kept for the next `submit`, so order holds. A send that fails after it went
//! pending cannot be re-sent without overtaking the sends posted behind it: it is counted failed.
//!
//! USO: where the stack takes UDP_SEND_MSG_SIZE and GSO is asked for, a run of equal-size packets
//! (found by [`gso_run_len`]) goes as one WSASendMsg super-packet; its OVERLAPPED is its first
//! slot's, and the other slots of the run are chained behind it. Until one super-packet has gone
//! through, USO is on probation: nothing is posted behind a pending super-packet, so if the
//! completion says the stack refused it (WSAEINVAL, WSAEMSGSIZE, WSAEOPNOTSUPP), its packets are
//! re-posted one datagram each without overtaking anything. A refusal at the post is simpler: the
//! run was not accepted, and goes again one datagram each at once. Either way USO is off for the
//! rest of the stream, `gso_downgrades` counts the refusal and `resent_packets` the run.
//!
//! `cancel` is CancelIoEx on the socket, then drains until every op's completion is in (bounded).
//! When time runs out the OVERLAPPED array and the slab are leaked, never freed under the system.

use std::cell::UnsafeCell;
use std::io;
use std::net::UdpSocket;
use std::sync::Arc;
use std::time::{Duration, Instant};

use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, INVALID_HANDLE_VALUE};
use windows_sys::Win32::Networking::WinSock::WSA_OPERATION_ABORTED;
use windows_sys::Win32::Storage::FileSystem::SetFileCompletionNotificationModes;
use windows_sys::Win32::System::WindowsProgramming::{
    FILE_SKIP_COMPLETION_PORT_ON_SUCCESS, FILE_SKIP_SET_EVENT_ON_HANDLE,
};
use windows_sys::Win32::System::IO::{
    CancelIoEx, CreateIoCompletionPort, OVERLAPPED, OVERLAPPED_ENTRY,
};

use std::collections::VecDeque;

use super::seam::{Posted, WinSys};
use super::socket::raw;
use super::uso::{uso_refused, UsoCell};
use crate::stats::TxMetrics;
use crate::sys::{gso_run_len, SendErrorKind, Slab, TxBackend, TxDesc};

/// The completion key of the data socket on its port.
pub(crate) const KEY: usize = 0x7278;
/// The end of a run's chain of slots.
const END: u32 = u32::MAX;
/// Completions taken per GetQueuedCompletionStatusEx.
const DRAIN: usize = 64;
/// Longest wait of one `reap(wait = true)`.
const REAP_WAIT_MS: u32 = 2;

/// One OVERLAPPED per slot. The system writes it while the op is pending, so it is only ever
/// reached through raw pointers.
#[repr(transparent)]
struct Ov(UnsafeCell<OVERLAPPED>);

/// Where one slot's op stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotOp {
    /// Not with the backend.
    Idle,
    /// Posted; its completion (for a datagram of this many bytes, or a super-packet of this many
    /// bytes whose other slots are chained behind this one) is due through the port.
    Pending(u32),
    /// Part of the super-packet posted from an earlier slot of its run.
    InRun,
    /// Refused by the stack as part of a super-packet; waiting to go again on its own.
    Resend,
    /// Sent inside WSASend; reported on the next `reap`.
    Finished,
}

/// Whether super-packets are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Uso {
    Off,
    /// On probation: no super-packet has gone through yet.
    Probing,
    On,
}

/// What one post did.
enum Post {
    Accepted,
    /// Refused for now (counted); the same packets go first next time.
    Refused,
    /// A super-packet the stack refused at once: USO is off, the run goes again one by one.
    Downgraded,
}

/// An I/O completion port handle, closed on drop.
struct Port(HANDLE);

impl Drop for Port {
    fn drop(&mut self) {
        // SAFETY: the handle came from CreateIoCompletionPort and is closed once, here.
        unsafe { CloseHandle(self.0) };
    }
}

/// The overlapped backend. See the module documentation.
pub(crate) struct IocpBackend<S: WinSys> {
    sys: S,
    sock: UdpSocket,
    port: Port,
    slab: Arc<Slab>,
    ovs: Box<[Ov]>,
    /// Where each slot's op stands.
    state: Box<[SlotOp]>,
    /// Ops whose completion is due through the port.
    pending: usize,
    /// Slots in those ops.
    pending_slots: usize,
    /// Each slot's packet length, and the next slot of its super-packet ([`END`] if none).
    lens: Box<[u32]>,
    next: Box<[u32]>,
    uso: Uso,
    /// One message per slot for super-packets (empty without USO).
    msgs: Box<[UsoCell]>,
    /// The pending super-packet on probation (its first slot).
    probe: Option<u32>,
    /// Packets of a super-packet refused through its completion, to post again one by one, in
    /// order, before anything new. Never grows past the slot count (allocated once).
    resend: VecDeque<u32>,
    /// Slots that finished inside WSASend, reported on the next `reap`. Never grows past the
    /// slot count (allocated once).
    done_now: Vec<u32>,
    entries: Box<[OVERLAPPED_ENTRY]>,
    skip_on_success: bool,
    /// Cancelled with ops the system still held: the memory is leaked on drop.
    leak: bool,
}

// SAFETY: the raw pointers inside (the port handle, the OVERLAPPEDs, completion entries) are
// owned by this backend and used only by the thread that owns it; the system's writes to the
// OVERLAPPEDs are synchronised with us by the completion port.
unsafe impl<S: WinSys> Send for IocpBackend<S> {}

impl<S: WinSys> IocpBackend<S> {
    /// Associates `sock` with a new completion port and readies one OVERLAPPED per slab slot.
    /// `gso`: send USO super-packets where the stack takes them.
    pub(crate) fn new(sock: UdpSocket, slab: Arc<Slab>, mut sys: S, gso: bool) -> io::Result<Self> {
        // SAFETY: INVALID_HANDLE_VALUE with no port creates a new port; nothing else is read.
        let port =
            unsafe { CreateIoCompletionPort(INVALID_HANDLE_VALUE, std::ptr::null_mut(), 0, 1) };
        if port.is_null() {
            return Err(io::Error::last_os_error());
        }
        let port = Port(port);
        let handle = raw(&sock) as HANDLE;
        // SAFETY: `handle` is the live socket `sock` owns; `port` is the port created above.
        if unsafe { CreateIoCompletionPort(handle, port.0, KEY, 0) }.is_null() {
            return Err(io::Error::last_os_error());
        }
        let flags = (FILE_SKIP_COMPLETION_PORT_ON_SUCCESS | FILE_SKIP_SET_EVENT_ON_HANDLE) as u8;
        // SAFETY: sets a flag on the live socket handle.
        let skip_on_success = unsafe { SetFileCompletionNotificationModes(handle, flags) } != 0;
        let slots = slab.slots() as usize;
        let ovs: Box<[Ov]> = (0..slots)
            .map(|_| Ov(UnsafeCell::new(OVERLAPPED::default())))
            .collect();
        let uso = if gso && sys.uso_accepted(&sock) {
            Uso::Probing
        } else {
            Uso::Off
        };
        let msgs = if uso == Uso::Off { 0 } else { slots };
        Ok(IocpBackend {
            sys,
            sock,
            port,
            slab,
            ovs,
            state: vec![SlotOp::Idle; slots].into_boxed_slice(),
            pending: 0,
            pending_slots: 0,
            lens: vec![0; slots].into_boxed_slice(),
            next: vec![END; slots].into_boxed_slice(),
            uso,
            msgs: (0..msgs).map(|_| UsoCell::new()).collect(),
            probe: None,
            resend: VecDeque::with_capacity(slots),
            done_now: Vec::with_capacity(slots),
            entries: vec![OVERLAPPED_ENTRY::default(); DRAIN].into_boxed_slice(),
            skip_on_success,
            leak: false,
        })
    }

    pub(crate) fn skips_port_on_success(&self) -> bool {
        self.skip_on_success
    }

    /// Whether USO super-packets are (still) sent.
    pub(crate) fn uso_active(&self) -> bool {
        self.uso != Uso::Off
    }

    #[cfg(test)]
    pub(crate) fn sys(&self) -> &S {
        &self.sys
    }

    fn ov_ptr(&self, slot: u32) -> *mut OVERLAPPED {
        self.ovs[slot as usize].0.get()
    }

    /// The slot an OVERLAPPED pointer from a completion belongs to, if it is one of ours.
    fn slot_of(&self, ov: *mut OVERLAPPED) -> Option<u32> {
        let base = self.ovs.as_ptr() as usize;
        let size = std::mem::size_of::<Ov>();
        let off = (ov as usize).checked_sub(base)?;
        (off % size == 0 && off / size < self.ovs.len()).then_some((off / size) as u32)
    }

    /// Checks that `slot` is not the backend's already.
    fn check_idle(&self, slot: u32) -> io::Result<()> {
        match self.state.get(slot as usize) {
            Some(SlotOp::Idle) => Ok(()),
            _ => Err(io::Error::other(format!(
                "slot {slot} handed to the backend twice or out of range"
            ))),
        }
    }

    /// Posts one packet (a new one, or one to send again: its state is then `Resend`).
    fn post_one(&mut self, p: TxDesc, m: &mut TxMetrics) -> io::Result<Post> {
        if self.state.get(p.slot as usize) != Some(&SlotOp::Resend) {
            self.check_idle(p.slot)?;
        }
        debug_assert!(p.len as usize <= self.slab.slot_size());
        let ov = self.ov_ptr(p.slot);
        // SAFETY: the slot is not posted, so nobody else touches its OVERLAPPED; it is reset
        // before reuse as WSASend requires.
        unsafe { ov.write(OVERLAPPED::default()) };
        let buf = self.slab.slot_ptr(p.slot);
        let sock = raw(&self.sock);
        // The engine leaves a slot alone until `reap` returns it; slab and OVERLAPPEDs are freed
        // only after the op's completion was drained (or leaked).
        // SAFETY: so `buf` and `ov` stay valid and unaliased until this post completes.
        let posted = unsafe { self.sys.post(sock, buf, p.len, ov) };
        self.lens[p.slot as usize] = p.len;
        self.next[p.slot as usize] = END;
        self.posted(p.slot, 1, u64::from(p.len), posted, m)
    }

    /// Posts `run` (more than one packet) as one USO super-packet.
    fn post_run(&mut self, run: &[TxDesc], m: &mut TxMetrics) -> io::Result<Post> {
        for p in run {
            self.check_idle(p.slot)?;
        }
        let head = run[0].slot;
        let ov = self.ov_ptr(head);
        // The engine leaves every slot of the run alone until `reap` returns it, and the
        // OVERLAPPEDs, messages and slab are freed only after the completion was drained (or
        // leaked).
        // SAFETY: the run's slots are idle, so nobody else touches the head's OVERLAPPED and
        // message, and both outlive the op (above).
        let posted = unsafe {
            ov.write(OVERLAPPED::default());
            let msg = self.msgs[head as usize].fill(&self.slab, run);
            self.sys.post_msg(raw(&self.sock), msg, ov)
        };
        for (k, p) in run.iter().enumerate() {
            self.lens[p.slot as usize] = p.len;
            self.next[p.slot as usize] = run.get(k + 1).map_or(END, |q| q.slot);
        }
        let bytes = run.iter().map(|p| u64::from(p.len)).sum();
        let r = self.posted(head, run.len(), bytes, posted, m)?;
        if matches!(r, Post::Accepted) {
            for p in &run[1..] {
                if self.state[head as usize] != SlotOp::Finished {
                    self.state[p.slot as usize] = SlotOp::InRun;
                }
            }
            if self.uso == Uso::Probing && matches!(self.state[head as usize], SlotOp::Pending(_)) {
                self.probe = Some(head);
            }
        }
        Ok(r)
    }

    /// Books what a post of `count` packets (`bytes` in all) from `head` answered.
    fn posted(
        &mut self,
        head: u32,
        count: usize,
        bytes: u64,
        posted: Posted,
        m: &mut TxMetrics,
    ) -> io::Result<Post> {
        match posted {
            Posted::Done if self.skip_on_success => {
                m.packets += count as u64;
                m.bytes += bytes;
                let mut slot = head;
                while slot != END {
                    self.state[slot as usize] = SlotOp::Finished;
                    self.done_now.push(slot);
                    slot = self.next[slot as usize];
                }
                if count > 1 {
                    self.uso = Uso::On;
                }
                Ok(Post::Accepted)
            }
            Posted::Done | Posted::Pending => {
                self.state[head as usize] = SlotOp::Pending(bytes.min(u64::from(u32::MAX)) as u32);
                self.pending += 1;
                self.pending_slots += count;
                Ok(Post::Accepted)
            }
            Posted::Failed(code) => {
                m.record_error(super::errno::send_errno(code));
                if count > 1 && uso_refused(code) {
                    self.downgrade(code, count, m);
                    return Ok(Post::Downgraded);
                }
                match super::errno::send_error_kind(code) {
                    SendErrorKind::Other => Err(io::Error::from_raw_os_error(code)),
                    // Socket buffer full: the same packets go again once there is room.
                    SendErrorKind::WouldBlock => Ok(Post::Refused),
                    // Refused for a transient reason: the packets are re-sent on the next call.
                    _ => {
                        m.resent_packets += count as u64;
                        Ok(Post::Refused)
                    }
                }
            }
        }
    }

    /// Switches USO off for good after the stack refused a super-packet of `count` packets.
    fn downgrade(&mut self, code: i32, count: usize, m: &mut TxMetrics) {
        m.resent_packets += count as u64;
        if self.uso != Uso::Off {
            self.uso = Uso::Off;
            m.gso_downgrades += 1;
            log::warn!(
                "iocp: the stack refused a UDP_SEND_MSG_SIZE super-packet (WinSock error {code}); \
                 USO is off for the rest of this stream and the refused packets are re-sent one \
                 datagram each"
            );
        }
    }

    /// Posts the packets of a refused super-packet again, one by one, in order; stops at the
    /// first refusal. A packet that cannot be sent at all is counted failed and handed back.
    fn post_resends(&mut self, m: &mut TxMetrics) {
        while let Some(&slot) = self.resend.front() {
            let p = TxDesc {
                slot,
                len: self.lens[slot as usize],
            };
            match self.post_one(p, m) {
                Ok(Post::Accepted) => {}
                Ok(_) => break,
                Err(_) => {
                    m.failed_packets += 1;
                    self.state[slot as usize] = SlotOp::Finished;
                    self.done_now.push(slot);
                }
            }
            m.syscalls += 1;
            self.resend.pop_front();
        }
    }

    /// Reports the slots sent inside WSASend.
    fn report_finished(&mut self, done: &mut dyn FnMut(u32)) {
        for slot in self.done_now.drain(..) {
            self.state[slot as usize] = SlotOp::Idle;
            done(slot);
        }
    }

    /// Handles one drained completion.
    fn complete(&mut self, e: OVERLAPPED_ENTRY, done: &mut dyn FnMut(u32), m: &mut TxMetrics) {
        if e.lpOverlapped.is_null() {
            // Not a send of ours: a synchronous read through the ACK core's handle on this
            // socket may queue a completion that carries no OVERLAPPED.
            return;
        }
        let Some(head) = self
            .slot_of(e.lpOverlapped)
            .filter(|_| e.lpCompletionKey == KEY)
        else {
            m.stray_completions += 1;
            return;
        };
        let SlotOp::Pending(bytes) = self.state[head as usize] else {
            m.stray_completions += 1;
            return;
        };
        let mut count = 0;
        let mut slot = head;
        while slot != END {
            count += 1;
            slot = self.next[slot as usize];
        }
        self.pending -= 1;
        self.pending_slots -= count;
        let probe = self.probe == Some(head);
        if probe {
            self.probe = None;
        }
        let ov = self.ov_ptr(head);
        // SAFETY: the completion was drained, so the system is done with this OVERLAPPED.
        let result = unsafe { self.sys.result(raw(&self.sock), ov) };
        let resend = self.outcome(result, count, bytes, probe, m);
        let mut slot = head;
        while slot != END {
            let after = self.next[slot as usize];
            if resend {
                // Nothing was posted behind a super-packet on probation: order holds. The packets
                // go again one datagram each (they are no longer a run).
                self.state[slot as usize] = SlotOp::Resend;
                self.resend.push_back(slot);
            } else {
                self.state[slot as usize] = SlotOp::Idle;
                done(slot);
            }
            slot = after;
        }
    }

    /// Books how an op of `count` packets (`bytes` in all) ended; returns whether its packets
    /// go again one by one.
    fn outcome(
        &mut self,
        result: Result<(), i32>,
        count: usize,
        bytes: u32,
        probe: bool,
        m: &mut TxMetrics,
    ) -> bool {
        match result {
            Ok(()) => {
                m.packets += count as u64;
                m.bytes += u64::from(bytes);
                if count > 1 && self.uso == Uso::Probing {
                    self.uso = Uso::On;
                }
                false
            }
            Err(code) if count > 1 && probe && uso_refused(code) => {
                m.record_error(super::errno::send_errno(code));
                self.downgrade(code, count, m);
                true
            }
            // Nothing is behind a super-packet on probation, so a transient failure is re-sent
            // without overtaking anything (USO stays on probation).
            Err(code)
                if probe
                    && !matches!(
                        super::errno::send_error_kind(code),
                        SendErrorKind::Other | SendErrorKind::GsoRefused
                    ) =>
            {
                m.record_error(super::errno::send_errno(code));
                m.resent_packets += count as u64;
                true
            }
            Err(code) => {
                if code != WSA_OPERATION_ABORTED {
                    m.record_error(super::errno::send_errno(code));
                }
                m.failed_packets += count as u64;
                false
            }
        }
    }

    /// One GetQueuedCompletionStatusEx; returns how many completions it handled.
    fn drain_port(&mut self, wait_ms: u32, done: &mut dyn FnMut(u32), m: &mut TxMetrics) -> usize {
        let mut entries = std::mem::take(&mut self.entries);
        let n = self.sys.drain(self.port.0, &mut entries, wait_ms);
        // Drains count as syscalls; the submit histogram keeps one entry per batch of posts (as
        // io_uring's keeps one per io_uring_enter that submits), so `submits` means the same on
        // every backend.
        m.syscalls += 1;
        for e in &entries[..n] {
            self.complete(*e, done, m);
        }
        self.entries = entries;
        m.injected = self.sys.injected();
        n
    }

    /// Posts a prefix of `pkts`: runs as super-packets while USO is on. Returns how many packets
    /// were accepted, how many posts were tried, and whether a refusal stopped it.
    fn post_batch(
        &mut self,
        pkts: &[TxDesc],
        m: &mut TxMetrics,
    ) -> io::Result<(usize, usize, bool)> {
        let (mut accepted, mut posts) = (0, 0);
        while accepted < pkts.len() && self.probe.is_none() {
            let rest = &pkts[accepted..];
            let n = if self.uso == Uso::Off {
                1
            } else {
                gso_run_len(rest)
            };
            posts += 1;
            let r = if n > 1 {
                self.post_run(&rest[..n], m)
            } else {
                self.post_one(rest[0], m)
            };
            match r {
                Ok(Post::Accepted) => accepted += n,
                // The same packets again at once, one datagram each.
                Ok(Post::Downgraded) => {}
                Ok(Post::Refused) => return Ok((accepted, posts, true)),
                Err(e) if accepted == 0 => return Err(e),
                // What was accepted stands; the error comes back on the next call.
                Err(_) => break,
            }
        }
        Ok((accepted, posts, false))
    }
}

impl<S: WinSys> TxBackend for IocpBackend<S> {
    fn name(&self) -> &'static str {
        "iocp"
    }

    fn gso_active(&self) -> bool {
        self.uso != Uso::Off
    }

    fn submit(&mut self, slab: &Slab, pkts: &[TxDesc], m: &mut TxMetrics) -> io::Result<usize> {
        debug_assert_eq!(slab.region(), self.slab.region(), "a different slab");
        let t0 = Instant::now();
        self.post_resends(m);
        let (accepted, posts, refused) = if self.resend.is_empty() {
            match self.post_batch(pkts, m) {
                Ok(r) => r,
                Err(e) => {
                    m.record_submit(t0.elapsed().as_nanos() as u64, 0);
                    // The fault that ended it is counted too.
                    m.injected = self.sys.injected();
                    return Err(e);
                }
            }
        } else {
            (0, 0, true)
        };
        m.record_submit(t0.elapsed().as_nanos() as u64, accepted);
        // One WSASend / WSASendMsg per post tried; record_submit counted the first.
        m.syscalls += posts.saturating_sub(1) as u64;
        m.injected = self.sys.injected();
        if refused && accepted == 0 && self.pending == 0 && self.done_now.is_empty() {
            // Nothing to reap that would make room: a short, bounded pause before the engine
            // asks again.
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(accepted)
    }

    fn reap(&mut self, wait: bool, done: &mut dyn FnMut(u32), m: &mut TxMetrics) -> io::Result<()> {
        let ready = self.done_now.len();
        self.report_finished(done);
        let mut wait_ms = if wait && ready == 0 { REAP_WAIT_MS } else { 0 };
        // Drain until the port has no more than one call's worth.
        while self.pending > 0 && self.drain_port(wait_ms, done, m) == DRAIN {
            wait_ms = 0;
        }
        // Packets of a refused super-packet go again even when the engine has nothing new.
        self.post_resends(m);
        Ok(())
    }

    fn in_flight(&self) -> usize {
        self.pending_slots + self.done_now.len() + self.resend.len()
    }

    fn cancel(&mut self, timeout: Duration, done: &mut dyn FnMut(u32), m: &mut TxMetrics) -> usize {
        self.report_finished(done);
        // Never sent: the stream ends before they could go again.
        for slot in self.resend.drain(..) {
            m.failed_packets += 1;
            self.state[slot as usize] = SlotOp::Idle;
            done(slot);
        }
        if self.pending > 0 {
            // SAFETY: cancels every op issued on the live socket handle; null means "all".
            unsafe { CancelIoEx(raw(&self.sock) as HANDLE, std::ptr::null()) };
            m.syscalls += 1;
        }
        let deadline = Instant::now() + timeout;
        while self.pending > 0 && Instant::now() < deadline {
            self.drain_port(REAP_WAIT_MS, done, m);
        }
        if self.pending > 0 {
            self.leak = true;
            // Never answered: counted failed, so every packet `submit` accepted is counted once.
            m.failed_packets += self.pending_slots as u64;
        }
        self.pending_slots
    }
}

impl<S: WinSys> Drop for IocpBackend<S> {
    fn drop(&mut self) {
        if self.pending > 0 {
            let mut m = TxMetrics::new();
            self.cancel(Duration::from_secs(1), &mut |_| {}, &mut m);
        }
        if self.leak {
            // The system may still write these OVERLAPPEDs and read these slots and messages.
            std::mem::forget(std::mem::take(&mut self.ovs));
            std::mem::forget(std::mem::take(&mut self.msgs));
            std::mem::forget(self.slab.clone());
        }
    }
}
