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
//! `cancel` is CancelIoEx on the socket, then drains until every op's completion is in (bounded).
//! When time runs out the OVERLAPPED array and the slab are leaked, never freed under the system.

use std::cell::UnsafeCell;
use std::io;
use std::net::UdpSocket;
use std::sync::Arc;
use std::time::{Duration, Instant};

use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, INVALID_HANDLE_VALUE};
use windows_sys::Win32::Networking::WinSock::{WSAGetOverlappedResult, WSA_OPERATION_ABORTED};
use windows_sys::Win32::Storage::FileSystem::SetFileCompletionNotificationModes;
use windows_sys::Win32::System::WindowsProgramming::{
    FILE_SKIP_COMPLETION_PORT_ON_SUCCESS, FILE_SKIP_SET_EVENT_ON_HANDLE,
};
use windows_sys::Win32::System::IO::{
    CancelIoEx, CreateIoCompletionPort, OVERLAPPED, OVERLAPPED_ENTRY,
};

use super::seam::{Posted, WinSys};
use super::socket::raw;
use crate::stats::TxMetrics;
use crate::sys::{SendErrorKind, Slab, TxBackend, TxDesc};

/// The completion key of the data socket on its port.
const KEY: usize = 0x7278;
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
    /// Posted; its completion (for a datagram of this many bytes) is due through the port.
    Pending(u32),
    /// Sent inside WSASend; reported on the next `reap`.
    Finished,
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
    /// Returns the backend and whether FILE_SKIP_COMPLETION_PORT_ON_SUCCESS was accepted.
    pub(crate) fn new(sock: UdpSocket, slab: Arc<Slab>, sys: S) -> io::Result<Self> {
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
        Ok(IocpBackend {
            sys,
            sock,
            port,
            slab,
            ovs,
            state: vec![SlotOp::Idle; slots].into_boxed_slice(),
            pending: 0,
            done_now: Vec::with_capacity(slots),
            entries: vec![OVERLAPPED_ENTRY::default(); DRAIN].into_boxed_slice(),
            skip_on_success,
            leak: false,
        })
    }

    pub(crate) fn skips_port_on_success(&self) -> bool {
        self.skip_on_success
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

    /// Posts one packet. `Ok(true)`: accepted; `Ok(false)`: refused for now, counted.
    fn post_one(&mut self, p: TxDesc, m: &mut TxMetrics) -> io::Result<bool> {
        if self.state.get(p.slot as usize) != Some(&SlotOp::Idle) {
            return Err(io::Error::other(format!(
                "slot {} handed to the backend twice or out of range",
                p.slot
            )));
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
        match unsafe { self.sys.post(sock, buf, p.len, ov) } {
            Posted::Done if self.skip_on_success => {
                m.packets += 1;
                m.bytes += u64::from(p.len);
                self.state[p.slot as usize] = SlotOp::Finished;
                self.done_now.push(p.slot);
                Ok(true)
            }
            Posted::Done | Posted::Pending => {
                self.state[p.slot as usize] = SlotOp::Pending(p.len);
                self.pending += 1;
                Ok(true)
            }
            Posted::Failed(code) => {
                m.record_errno(code);
                match super::send_error_kind(code) {
                    SendErrorKind::Other => Err(io::Error::from_raw_os_error(code)),
                    // Socket buffer full: the same packet goes again once there is room.
                    SendErrorKind::WouldBlock => Ok(false),
                    // Refused for a transient reason: the packet is re-sent on the next call.
                    _ => {
                        m.resent_packets += 1;
                        Ok(false)
                    }
                }
            }
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
        let Some(slot) = self
            .slot_of(e.lpOverlapped)
            .filter(|_| e.lpCompletionKey == KEY)
        else {
            m.stray_completions += 1;
            return;
        };
        let SlotOp::Pending(len) = self.state[slot as usize] else {
            m.stray_completions += 1;
            return;
        };
        self.state[slot as usize] = SlotOp::Idle;
        self.pending -= 1;
        let ov = self.ov_ptr(slot);
        // SAFETY: the completion was drained, so the system is done with this OVERLAPPED.
        let status = unsafe { (*ov).Internal };
        if status == 0 {
            m.packets += 1;
            m.bytes += u64::from(len);
        } else {
            let (mut bytes, mut flags) = (0u32, 0u32);
            // SAFETY: `ov` is the finished OVERLAPPED of an op on this socket; the call only reads
            // it and writes the two live out-values.
            unsafe { WSAGetOverlappedResult(raw(&self.sock), ov, &mut bytes, 0, &mut flags) };
            let code = super::socket::last_wsa_error().raw_os_error().unwrap_or(0);
            if code != WSA_OPERATION_ABORTED {
                m.record_errno(code);
            }
            m.failed_packets += 1;
        }
        done(slot);
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
}

impl<S: WinSys> TxBackend for IocpBackend<S> {
    fn name(&self) -> &'static str {
        "iocp"
    }

    fn gso_active(&self) -> bool {
        false
    }

    fn submit(&mut self, slab: &Slab, pkts: &[TxDesc], m: &mut TxMetrics) -> io::Result<usize> {
        debug_assert_eq!(slab.region(), self.slab.region(), "a different slab");
        let t0 = Instant::now();
        let mut accepted = 0;
        let mut refused = false;
        for &p in pkts {
            match self.post_one(p, m) {
                Ok(true) => accepted += 1,
                Ok(false) => {
                    refused = true;
                    break;
                }
                Err(e) if accepted == 0 => {
                    m.record_submit(t0.elapsed().as_nanos() as u64, 0);
                    return Err(e);
                }
                // What was accepted stands; the error comes back on the next call.
                Err(_) => break,
            }
        }
        m.record_submit(t0.elapsed().as_nanos() as u64, accepted);
        // One WSASend per packet tried; record_submit counted the first.
        m.syscalls += (accepted + usize::from(refused)).saturating_sub(1) as u64;
        m.injected = self.sys.injected();
        if refused && accepted == 0 && self.in_flight() == 0 {
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
        Ok(())
    }

    fn in_flight(&self) -> usize {
        self.pending + self.done_now.len()
    }

    fn cancel(&mut self, timeout: Duration, done: &mut dyn FnMut(u32), m: &mut TxMetrics) -> usize {
        self.report_finished(done);
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
        }
        self.pending
    }
}

impl<S: WinSys> Drop for IocpBackend<S> {
    fn drop(&mut self) {
        if self.pending > 0 {
            let mut m = TxMetrics::new();
            self.cancel(Duration::from_secs(1), &mut |_| {}, &mut m);
        }
        if self.leak {
            // The system may still write these OVERLAPPEDs and read these slots.
            std::mem::forget(std::mem::take(&mut self.ovs));
            std::mem::forget(self.slab.clone());
        }
    }
}
