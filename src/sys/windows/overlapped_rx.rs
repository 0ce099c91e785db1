//! Overlapped receiving: several WSARecvFrom kept posted on one socket, their completions drained
//! in bulk, each slot reposted as soon as its datagram has been handed on.
//!
//! Every slot (OVERLAPPED, WSABUF, source-address storage, flags) lives in one boxed array that
//! never moves while anything is posted, and every slot's buffer in one allocation made once.
//! A slot is `Idle` (ours), `Posted` (the system's: it may write the OVERLAPPED, the address and
//! the buffer at any time) or `Completed` (its completion is in; ours again, waiting to be handed
//! on). Slots are handed on in the order they were posted, which is the order the stack fills
//! them, so datagrams come out in arrival order.
//!
//! Completions arrive one of two ways:
//! - **Port**: the socket is associated with a completion port of this receiver's own, and
//!   GetQueuedCompletionStatusEx takes up to [`DRAIN`] completions per call.
//! - **Event**: the socket is already associated with another port (the ACK core's handle on the
//!   data socket shares the send backend's port). Each OVERLAPPED then carries a manual-reset
//!   event with its low bit set, which keeps the completion off that port; the receiver finds
//!   finished ops by their OVERLAPPED status, in posting order, and sleeps on the event.
//!
//! Dropping the receiver cancels each posted op by its own OVERLAPPED (CancelIoEx, never "all
//! ops on the handle": another owner's sends may share it) and waits, bounded, for every
//! completion before freeing anything. If the time runs out the slots, buffers, event and port
//! are leaked, never freed under the system.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, INVALID_HANDLE_VALUE};
use windows_sys::Win32::Networking::WinSock::{
    WSACloseEvent, WSACreateEvent, WSAGetOverlappedResult, WSARecvFrom, WSAResetEvent, AF_INET,
    AF_INET6, SOCKADDR_STORAGE, SOCKET_ERROR, WSABUF, WSAEMSGSIZE, WSAEVENT, WSA_IO_INCOMPLETE,
    WSA_IO_PENDING, WSA_OPERATION_ABORTED,
};
use windows_sys::Win32::System::Threading::WaitForSingleObject;
use windows_sys::Win32::System::IO::{
    CancelIoEx, CreateIoCompletionPort, GetQueuedCompletionStatusEx, OVERLAPPED, OVERLAPPED_ENTRY,
};

use super::socket::{last_wsa_error, raw};

/// Completions taken per GetQueuedCompletionStatusEx.
pub(crate) const DRAIN: usize = 64;
/// The completion key of the receive socket on its port.
const KEY: usize = 0x7278_7278;
/// NTSTATUS of an op still in progress (what HasOverlappedIoCompleted tests).
const STATUS_PENDING: usize = 0x103;
/// How long a drop waits for cancelled ops to complete.
const CANCEL_WAIT: Duration = Duration::from_secs(5);

/// Where one slot stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SlotState {
    /// Ours, not posted.
    Idle,
    /// Posted: the system owns the slot until its completion is in.
    Posted,
    /// The completion is in: `len` bytes, or WinSock error `err` (0: none).
    Completed { len: u32, err: i32 },
}

/// What the receiver counted besides datagrams.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RxCounts {
    /// Completions that matched no posted slot (an impossible transition; never expected).
    pub impossible: u64,
    /// Ops that ended as cancelled without this receiver cancelling them (reposted).
    pub aborted: u64,
    /// Ops that ended with an ICMP report (WSAECONNRESET and kin), handed on as errors.
    pub reports: u64,
    /// Datagrams longer than a slot's buffer (handed on cut).
    pub truncated: u64,
    /// Posts refused at once (retried on the next call).
    pub refused_posts: u64,
}

/// One receive op's memory. The system writes it while the op is posted, so it is only reached
/// through raw pointers.
/// `repr(C)` keeps the OVERLAPPED first, so a completion's OVERLAPPED pointer names its slot.
#[repr(C)]
struct Slot {
    ov: UnsafeCell<OVERLAPPED>,
    wsabuf: UnsafeCell<WSABUF>,
    from: UnsafeCell<SOCKADDR_STORAGE>,
    from_len: UnsafeCell<i32>,
    flags: UnsafeCell<u32>,
}

impl Slot {
    fn new() -> Slot {
        Slot {
            ov: UnsafeCell::new(OVERLAPPED::default()),
            wsabuf: UnsafeCell::new(WSABUF {
                len: 0,
                buf: std::ptr::null_mut(),
            }),
            from: UnsafeCell::new(SOCKADDR_STORAGE::default()),
            from_len: UnsafeCell::new(0),
            flags: UnsafeCell::new(0),
        }
    }
}

/// The slots' buffers: one allocation, freed on drop unless leaked.
struct Buffers {
    ptr: *mut u8,
    len: usize,
}

impl Buffers {
    fn new(len: usize) -> Buffers {
        let ptr = Box::into_raw(vec![0u8; len].into_boxed_slice()).cast::<u8>();
        Buffers { ptr, len }
    }
}

impl Drop for Buffers {
    fn drop(&mut self) {
        if self.ptr.is_null() {
            return; // leaked: see OverlappedRx's drop
        }
        let slice = std::ptr::slice_from_raw_parts_mut(self.ptr, self.len);
        // SAFETY: `ptr`/`len` came from `Box::into_raw` of a boxed slice of this length in
        // `Buffers::new`, and are freed once, here.
        drop(unsafe { Box::from_raw(slice) });
    }
}

/// How completions reach the receiver.
enum Wake {
    Port(HANDLE),
    Event(WSAEVENT),
}

/// Several WSARecvFrom kept posted. See the module documentation.
pub(crate) struct OverlappedRx {
    pub(crate) sock: UdpSocket,
    wake: Wake,
    slots: Box<[Slot]>,
    state: Box<[SlotState]>,
    bufs: Buffers,
    buf_len: usize,
    /// Non-idle slots in posting order.
    order: VecDeque<u32>,
    /// Ops the system holds.
    posted: usize,
    /// Idle slots whose post was refused, to retry.
    unposted: usize,
    /// A refused post's error, handed on when nothing is ready before it.
    post_err: Option<i32>,
    entries: Box<[OVERLAPPED_ENTRY]>,
    counts: RxCounts,
}

// SAFETY: the raw pointers inside (the port or event handle, the buffers, the slots the system
// writes) are owned by this receiver and used only by the thread that owns it; the system's
// writes are synchronised with that thread by the completion port or the OVERLAPPED status.
unsafe impl Send for OverlappedRx {}

impl std::fmt::Debug for OverlappedRx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OverlappedRx")
            .field("sock", &self.sock)
            .field("slots", &self.slots.len())
            .field("port", &matches!(self.wake, Wake::Port(_)))
            .field("posted", &self.posted)
            .field("counts", &self.counts)
            .finish()
    }
}

impl OverlappedRx {
    /// `slots` ops of `buf_len` bytes each, all posted before this returns (a refused post is
    /// retried on the next call, its error handed on then).
    pub(crate) fn new(sock: UdpSocket, slots: usize, buf_len: usize) -> io::Result<OverlappedRx> {
        let slots = slots.clamp(1, u32::MAX as usize);
        let wake = open_wake(&sock)?;
        let mut rx = OverlappedRx {
            sock,
            wake,
            slots: (0..slots).map(|_| Slot::new()).collect(),
            state: vec![SlotState::Idle; slots].into_boxed_slice(),
            bufs: Buffers::new(slots * buf_len),
            buf_len,
            order: VecDeque::with_capacity(slots),
            posted: 0,
            unposted: slots,
            post_err: None,
            entries: vec![OVERLAPPED_ENTRY::default(); DRAIN].into_boxed_slice(),
            counts: RxCounts::default(),
        };
        rx.refill();
        Ok(rx)
    }

    #[cfg(test)]
    /// Whether completions come through a port of this receiver's own.
    pub(crate) fn uses_port(&self) -> bool {
        matches!(self.wake, Wake::Port(_))
    }

    #[cfg(test)]
    pub(crate) fn counts(&self) -> RxCounts {
        self.counts
    }

    #[cfg(test)]
    /// Ops the system holds now.
    pub(crate) fn posted(&self) -> usize {
        self.posted
    }

    #[cfg(test)]
    pub(crate) fn states(&self) -> &[SlotState] {
        &self.state
    }

    fn ov(&self, slot: u32) -> *mut OVERLAPPED {
        self.slots[slot as usize].ov.get()
    }

    fn buf(&self, slot: u32) -> *mut u8 {
        // In bounds: slot < slots and the allocation holds slots * buf_len bytes.
        self.bufs.ptr.wrapping_add(slot as usize * self.buf_len)
    }

    /// Posts one idle slot; `Err(code)` when WinSock refused it at once.
    fn post(&mut self, slot: u32) -> Result<(), i32> {
        debug_assert_eq!(self.state[slot as usize], SlotState::Idle);
        let event = match self.wake {
            Wake::Port(_) => std::ptr::null_mut(),
            // The low bit keeps the completion off the port the socket belongs to.
            Wake::Event(e) => (e | 1) as HANDLE,
        };
        let s = &self.slots[slot as usize];
        let buf = self.buf(slot);
        // SAFETY: the slot is idle, so the system does not touch it and nothing else refers to
        // its cells; the writes reset it for the post.
        unsafe {
            // Pending until the system stores the final status (what the event path tests).
            s.ov.get().write(OVERLAPPED {
                Internal: STATUS_PENDING,
                hEvent: event,
                ..OVERLAPPED::default()
            });
            s.wsabuf.get().write(WSABUF {
                len: self.buf_len as u32,
                buf,
            });
            s.from_len
                .get()
                .write(std::mem::size_of::<SOCKADDR_STORAGE>() as i32);
            s.flags.get().write(0);
        }
        // The slot array and the buffers are freed only after every posted op's completion is
        // in (or they are leaked), and the slot is not touched again until its completion.
        // SAFETY: so every pointer passed stays valid and unaliased until the op is done.
        let rc = unsafe {
            WSARecvFrom(
                raw(&self.sock),
                s.wsabuf.get(),
                1,
                std::ptr::null_mut(),
                s.flags.get(),
                s.from.get().cast(),
                s.from_len.get(),
                s.ov.get(),
                None,
            )
        };
        if rc == SOCKET_ERROR {
            let code = last_wsa_error().raw_os_error().unwrap_or(0);
            if code != WSA_IO_PENDING {
                return Err(code);
            }
        }
        // Done at once or pending: either way its completion comes the usual way.
        self.state[slot as usize] = SlotState::Posted;
        self.order.push_back(slot);
        self.posted += 1;
        Ok(())
    }

    /// Posts every idle slot, stopping at the first refusal (its error is kept for later).
    fn refill(&mut self) {
        if self.unposted == 0 {
            return;
        }
        for slot in 0..self.state.len() as u32 {
            if self.state[slot as usize] != SlotState::Idle {
                continue;
            }
            match self.post(slot) {
                Ok(()) => self.unposted -= 1,
                Err(code) => {
                    self.counts.refused_posts += 1;
                    self.post_err.get_or_insert(code);
                    return;
                }
            }
        }
    }

    /// Marks a posted slot's op finished, reading its outcome.
    fn finish(&mut self, slot: u32) {
        if self.state[slot as usize] != SlotState::Posted {
            self.counts.impossible += 1;
            return;
        }
        let s = &self.slots[slot as usize];
        let (mut len, mut flags) = (0u32, 0u32);
        let (sock, ov) = (raw(&self.sock), s.ov.get());
        // SAFETY: the op is finished, so the system no longer writes the OVERLAPPED; the call
        // reads it and writes the two live out-values.
        let ok = unsafe { WSAGetOverlappedResult(sock, ov, &mut len, 0, &mut flags) };
        let err = if ok != 0 {
            0
        } else {
            last_wsa_error().raw_os_error().unwrap_or(0)
        };
        if err == WSA_IO_INCOMPLETE {
            // Not finished after all: still the system's.
            return;
        }
        self.state[slot as usize] = SlotState::Completed { len, err };
        self.posted -= 1;
    }

    /// The slot an OVERLAPPED pointer belongs to, if it is one of ours.
    fn slot_of(&self, ov: *mut OVERLAPPED) -> Option<u32> {
        let base = self.slots.as_ptr() as usize;
        let size = std::mem::size_of::<Slot>();
        let off = (ov as usize).checked_sub(base)?;
        (off % size == 0 && off / size < self.slots.len()).then_some((off / size) as u32)
    }

    /// Takes in every completion that is ready, waiting at most `wait_ms` for the first.
    fn collect(&mut self, wait_ms: u32) {
        match self.wake {
            Wake::Port(port) => {
                let mut wait = wait_ms;
                loop {
                    let n = drain_port(port, &mut self.entries, wait);
                    wait = 0;
                    for i in 0..n {
                        let e = self.entries[i];
                        match self.slot_of(e.lpOverlapped) {
                            Some(slot) if e.lpCompletionKey == KEY => self.finish(slot),
                            _ => self.counts.impossible += 1,
                        }
                    }
                    if n < DRAIN {
                        break;
                    }
                }
            }
            Wake::Event(event) => {
                if wait_ms > 0 && !self.scan() {
                    // SAFETY: `event` is the live event this receiver created; resetting it
                    // before the second scan means a completion after that scan wakes the wait.
                    unsafe { WSAResetEvent(event) };
                    if !self.scan() {
                        // SAFETY: waits on the live event handle.
                        unsafe { WaitForSingleObject(event as HANDLE, wait_ms) };
                    }
                }
                self.scan();
            }
        }
    }

    /// Event mode: finishes the posted ops whose status says done; returns whether the oldest
    /// op is finished.
    fn scan(&mut self) -> bool {
        for i in 0..self.order.len() {
            let slot = self.order[i];
            if self.state[slot as usize] == SlotState::Posted && self.op_done(slot) {
                self.finish(slot);
            }
        }
        self.head_ready()
    }

    /// Whether the system has finished the op in `slot` (HasOverlappedIoCompleted).
    fn op_done(&self, slot: u32) -> bool {
        // SAFETY: only the field's address is taken; nothing is read through the pointer here.
        let internal =
            unsafe { std::ptr::addr_of!((*self.slots[slot as usize].ov.get()).Internal) };
        // The system stores the final status once the op is done; an atomic load with Acquire
        // makes its earlier writes to the slot visible.
        // SAFETY: `internal` points at a live, aligned usize inside the slot array.
        let status = unsafe { (*internal.cast::<AtomicUsize>()).load(Ordering::Acquire) };
        status != STATUS_PENDING
    }

    fn head_ready(&self) -> bool {
        self.order
            .front()
            .is_some_and(|&s| matches!(self.state[s as usize], SlotState::Completed { .. }))
    }

    /// Waits up to `timeout` for a datagram (or an error) to hand on; returns whether there is.
    pub(crate) fn wait(&mut self, timeout: Duration) -> bool {
        self.refill();
        self.collect(0);
        if self.head_ready() || self.post_err.is_some() {
            return true;
        }
        let ms = timeout
            .as_nanos()
            .div_ceil(1_000_000)
            .min(u128::from(u32::MAX - 1)) as u32;
        if self.posted == 0 {
            // Every post was refused and nothing is in flight: a short pause, then ask again.
            std::thread::sleep(Duration::from_millis(u64::from(ms.min(1))));
            return false;
        }
        self.collect(ms);
        self.head_ready()
    }

    /// Hands on up to `max` finished datagrams in arrival order without blocking, reposting
    /// each slot at once. Stops before an op that ended in an error; that error is returned,
    /// the slot reposted, only when it is the first thing to hand on. Returns how many were
    /// handed on.
    pub(crate) fn receive(
        &mut self,
        max: usize,
        on: &mut dyn FnMut(&[u8], SocketAddr, bool),
    ) -> io::Result<usize> {
        self.refill();
        self.collect(0);
        let mut n = 0;
        while n < max {
            let Some(&slot) = self.order.front() else {
                break;
            };
            let SlotState::Completed { len, err } = self.state[slot as usize] else {
                break;
            };
            match err {
                0 | WSAEMSGSIZE => {
                    let cut = err == WSAEMSGSIZE;
                    let len = (len as usize).min(self.buf_len);
                    // SAFETY: the op is finished, so the system no longer writes the slot's
                    // buffer or address; `len` bytes at the slot's buffer are in the allocation.
                    let data = unsafe { std::slice::from_raw_parts(self.buf(slot), len) };
                    // SAFETY: as above: the address storage is ours again.
                    let src = unsafe { sockaddr(&*self.slots[slot as usize].from.get()) };
                    self.counts.truncated += u64::from(cut);
                    on(data, src, cut);
                    n += 1;
                }
                WSA_OPERATION_ABORTED => self.counts.aborted += 1,
                // An error after datagrams: handed on by the next call.
                _ if n > 0 => break,
                code => {
                    self.counts.reports += 1;
                    self.repost(slot);
                    return Err(io::Error::from_raw_os_error(code));
                }
            }
            self.repost(slot);
        }
        if n == 0 && !self.head_ready() {
            if let Some(code) = self.post_err.take() {
                return Err(io::Error::from_raw_os_error(code));
            }
        }
        Ok(n)
    }

    /// Returns the head slot to idle and posts it again.
    fn repost(&mut self, slot: u32) {
        debug_assert_eq!(self.order.front(), Some(&slot));
        self.order.pop_front();
        self.state[slot as usize] = SlotState::Idle;
        self.unposted += 1;
        self.refill();
    }

    /// Cancels every posted op by its own OVERLAPPED and waits, at most `timeout`, for each
    /// one's completion. Returns how many the system still holds.
    pub(crate) fn cancel(&mut self, timeout: Duration) -> usize {
        // Nothing is posted again from here on.
        self.unposted = 0;
        for &slot in &self.order {
            if self.state[slot as usize] == SlotState::Posted {
                // SAFETY: cancels one op of ours on the live socket handle by its OVERLAPPED;
                // an op that already finished makes the call fail harmlessly.
                unsafe { CancelIoEx(raw(&self.sock) as HANDLE, self.ov(slot)) };
            }
        }
        let deadline = Instant::now() + timeout;
        while self.posted > 0 && Instant::now() < deadline {
            self.collect(10);
        }
        self.posted
    }
}

impl Drop for OverlappedRx {
    fn drop(&mut self) {
        let left = self.cancel(CANCEL_WAIT);
        if left > 0 {
            log::warn!("{left} overlapped receives never completed: their memory is leaked");
            // The system may still write these slots and buffers and signal the event.
            std::mem::forget(std::mem::take(&mut self.slots));
            std::mem::forget(std::mem::replace(
                &mut self.bufs,
                Buffers {
                    ptr: std::ptr::null_mut(),
                    len: 0,
                },
            ));
            return;
        }
        if self.counts.impossible > 0 {
            log::warn!(
                "{} receive completions matched no posted op",
                self.counts.impossible
            );
        }
        match self.wake {
            // SAFETY: the port came from CreateIoCompletionPort and is closed once, here.
            Wake::Port(port) => unsafe {
                CloseHandle(port);
            },
            // SAFETY: the event came from WSACreateEvent and is closed once, here, after
            // every op that could signal it has completed.
            Wake::Event(event) => unsafe {
                WSACloseEvent(event);
            },
        }
    }
}

/// A port of the receiver's own for `sock`, or, when the socket already belongs to another
/// port, an event.
fn open_wake(sock: &UdpSocket) -> io::Result<Wake> {
    // SAFETY: INVALID_HANDLE_VALUE with no port creates a new port; nothing else is read.
    let port = unsafe { CreateIoCompletionPort(INVALID_HANDLE_VALUE, std::ptr::null_mut(), 0, 1) };
    if port.is_null() {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the handle is the live socket `sock` owns; `port` is the port created above.
    if !unsafe { CreateIoCompletionPort(raw(sock) as HANDLE, port, KEY, 0) }.is_null() {
        return Ok(Wake::Port(port));
    }
    // SAFETY: the port was created above and nothing refers to it.
    unsafe { CloseHandle(port) };
    // SAFETY: creates a manual-reset event; no arguments.
    let event = unsafe { WSACreateEvent() };
    if event == 0 {
        return Err(last_wsa_error());
    }
    Ok(Wake::Event(event))
}

/// One GetQueuedCompletionStatusEx into `out`, waiting at most `timeout_ms`.
fn drain_port(port: HANDLE, out: &mut [OVERLAPPED_ENTRY], timeout_ms: u32) -> usize {
    let mut n = 0u32;
    // SAFETY: `out` is a live, writable array of `out.len()` entries and `n` a live u32; the
    // call writes at most `out.len()` entries.
    let ok = unsafe {
        GetQueuedCompletionStatusEx(
            port,
            out.as_mut_ptr(),
            out.len() as u32,
            &mut n,
            timeout_ms,
            0,
        )
    };
    if ok == 0 {
        0
    } else {
        n as usize
    }
}

/// The socket address in `ss` (`0.0.0.0:0` for another family).
fn sockaddr(ss: &SOCKADDR_STORAGE) -> SocketAddr {
    // SAFETY: SOCKADDR_STORAGE is plain bytes of this size.
    let b: &[u8; std::mem::size_of::<SOCKADDR_STORAGE>()] =
        unsafe { &*(ss as *const SOCKADDR_STORAGE).cast() };
    let port = u16::from_be_bytes([b[2], b[3]]);
    match ss.ss_family {
        AF_INET => SocketAddr::V4(SocketAddrV4::new(
            Ipv4Addr::new(b[4], b[5], b[6], b[7]),
            port,
        )),
        AF_INET6 => {
            let flow = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
            let ip: [u8; 16] = b[8..24].try_into().unwrap_or([0; 16]);
            let scope = u32::from_le_bytes([b[24], b[25], b[26], b[27]]);
            SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(ip), port, flow, scope))
        }
        _ => SocketAddr::from(([0, 0, 0, 0], 0)),
    }
}
