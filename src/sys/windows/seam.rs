//! The completion-port backend's kernel calls behind one small trait, so that a test's fault plan
//! can answer in the system's place without a fault flag inside the backend.
//!
//! [`RealSys`] makes the calls. [`Faulty`] wraps any [`WinSys`]: per post it asks a
//! [`FaultInjector`] whether to answer a WinSock error *instead of* calling (the datagram is then
//! not sent, exactly as when WinSock refuses it), and per drain whether to hold completions back
//! for a few drains or to shuffle the ones it delivers.
//!
//! USO: a plan with `gso_refuse` makes [`Faulty`] answer that the socket takes UDP_SEND_MSG_SIZE
//! even where the system does not, and refuse super-packets (WSAEINVAL): at once from the post
//! for even seeds, through a completion for odd ones. A super-packet that would reach a system
//! which does not take USO is always refused that way, never sent: the seam never lets the real
//! stack see a control message it would not honour.

use std::net::UdpSocket;

use windows_sys::Win32::Foundation::{HANDLE, WAIT_TIMEOUT};
use windows_sys::Win32::Networking::WinSock::{
    WSAGetOverlappedResult, WSASend, WSASendMsg, SOCKET, SOCKET_ERROR, WSABUF, WSAEACCES,
    WSAECONNRESET, WSAEINVAL, WSAEMSGSIZE, WSAENETDOWN, WSAENETUNREACH, WSAENOBUFS, WSAEWOULDBLOCK,
    WSAMSG, WSA_IO_PENDING,
};
use windows_sys::Win32::System::IO::{GetQueuedCompletionStatusEx, OVERLAPPED, OVERLAPPED_ENTRY};

use crate::fault::{FaultInjector, FaultPlan, InjectedFaults};

/// What one overlapped post answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Posted {
    /// Finished at once (with FILE_SKIP_COMPLETION_PORT_ON_SUCCESS no completion will come).
    Done,
    /// In flight: its completion will come through the port.
    Pending,
    /// Refused with this WinSock error; nothing was sent and no completion will come.
    Failed(i32),
}

/// The calls the completion-port backend makes.
pub(crate) trait WinSys: Send {
    /// One overlapped WSASend of `len` bytes at `buf` on the connected socket `sock`.
    ///
    /// # Safety
    ///
    /// `buf` points at `len` readable bytes and `ov` at a zeroed OVERLAPPED; both stay valid and
    /// untouched by anyone else until the operation's completion has been drained (or, for
    /// [`Posted::Done`] and [`Posted::Failed`], until the call returns).
    unsafe fn post(
        &mut self,
        sock: SOCKET,
        buf: *const u8,
        len: u32,
        ov: *mut OVERLAPPED,
    ) -> Posted;

    /// One overlapped WSASendMsg of the USO super-packet `msg` on the connected socket `sock`.
    ///
    /// # Safety
    ///
    /// As for [`WinSys::post`], for `msg`, everything it points at, and `ov`.
    unsafe fn post_msg(&mut self, sock: SOCKET, msg: *const WSAMSG, ov: *mut OVERLAPPED) -> Posted;

    /// GetQueuedCompletionStatusEx on `port` into `out`, waiting at most `timeout_ms`; returns
    /// how many entries it filled (0 on a timeout).
    fn drain(&mut self, port: HANDLE, out: &mut [OVERLAPPED_ENTRY], timeout_ms: u32) -> usize;

    /// How the op of the drained completion `ov` ended: `Err` with its WinSock error.
    ///
    /// # Safety
    ///
    /// `ov` is the OVERLAPPED of an op on `sock` whose completion has been drained.
    unsafe fn result(&mut self, sock: SOCKET, ov: *mut OVERLAPPED) -> Result<(), i32>;

    /// Whether the stack takes UDP send offload (UDP_SEND_MSG_SIZE) on `sock`.
    fn uso_accepted(&mut self, sock: &UdpSocket) -> bool {
        super::socket::uso_supported(sock)
    }

    /// Every fault injected so far (none for the real calls).
    fn injected(&self) -> InjectedFaults {
        InjectedFaults::default()
    }
}

/// The real calls.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RealSys;

impl WinSys for RealSys {
    unsafe fn post(
        &mut self,
        sock: SOCKET,
        buf: *const u8,
        len: u32,
        ov: *mut OVERLAPPED,
    ) -> Posted {
        let wsabuf = WSABUF {
            len,
            buf: buf.cast_mut(),
        };
        // SAFETY: the caller keeps `buf` and `ov` valid until the completion (see the trait);
        // WinSock copies the WSABUF array itself before returning, so `wsabuf` may die here.
        let rc = unsafe { WSASend(sock, &wsabuf, 1, std::ptr::null_mut(), 0, ov, None) };
        posted(rc)
    }

    unsafe fn post_msg(&mut self, sock: SOCKET, msg: *const WSAMSG, ov: *mut OVERLAPPED) -> Posted {
        // SAFETY: the caller keeps `msg`, what it points at and `ov` valid until the completion.
        let rc = unsafe { WSASendMsg(sock, msg, 0, std::ptr::null_mut(), ov, None) };
        posted(rc)
    }

    unsafe fn result(&mut self, sock: SOCKET, ov: *mut OVERLAPPED) -> Result<(), i32> {
        // SAFETY: the completion was drained, so the system is done with `ov` (the caller's
        // promise).
        if unsafe { (*ov).Internal } == 0 {
            return Ok(());
        }
        let (mut bytes, mut flags) = (0u32, 0u32);
        // SAFETY: as above; the call reads `ov` and writes the two live out-values.
        unsafe { WSAGetOverlappedResult(sock, ov, &mut bytes, 0, &mut flags) };
        Err(super::socket::last_wsa_error().raw_os_error().unwrap_or(0))
    }

    fn drain(&mut self, port: HANDLE, out: &mut [OVERLAPPED_ENTRY], timeout_ms: u32) -> usize {
        let mut n = 0u32;
        // SAFETY: `out` is a live, writable array of `out.len()` entries and `n` a live u32;
        // the call writes at most `out.len()` entries.
        let ok = unsafe {
            GetQueuedCompletionStatusEx(
                port,
                out.as_mut_ptr(),
                out.len().min(u32::MAX as usize) as u32,
                &mut n,
                timeout_ms,
                0,
            )
        };
        if ok == 0 {
            // WAIT_TIMEOUT is the common case; any other failure also delivered nothing.
            let _ = WAIT_TIMEOUT;
            return 0;
        }
        n as usize
    }
}

/// What an overlapped post's return code (and the thread's last WinSock error) say.
fn posted(rc: i32) -> Posted {
    if rc != SOCKET_ERROR {
        return Posted::Done;
    }
    match super::socket::last_wsa_error().raw_os_error().unwrap_or(0) {
        WSA_IO_PENDING => Posted::Pending,
        code => Posted::Failed(code),
    }
}

/// Most completions [`Faulty`] holds back at once.
const HELD_MAX: usize = 1024;

/// Answers injected faults in place of `S`'s calls.
pub(crate) struct Faulty<S> {
    inner: S,
    inj: FaultInjector,
    /// Completions held back: the entry and how many more drains to keep it.
    held: Vec<(OVERLAPPED_ENTRY, u32)>,
    /// The plan refuses super-packets, so USO is reported accepted.
    plan_uso: bool,
    /// USO was reported accepted although the system refused it.
    uso_faked: bool,
    /// Refused super-packets fail through their completion (odd seeds), not at the post.
    refuse_late: bool,
    /// The OVERLAPPEDs of super-packets refused through a completion, not yet reported.
    late: Vec<usize>,
    /// Super-packets refused because the system would not have honoured them.
    forced: u64,
    /// Super-packets that reached this seam: how many, and the last one's gather count and
    /// control message.
    pub(crate) uso_posts: u64,
    pub(crate) last_uso: Option<(u32, super::uso::UsoControl)>,
}

// SAFETY: the held entries carry pointers to OVERLAPPEDs owned by the backend that owns this
// wrapper; they are only compared and handed back to that backend, on its thread.
unsafe impl<S: Send> Send for Faulty<S> {}

impl<S: WinSys> Faulty<S> {
    pub(crate) fn new(inner: S, plan: FaultPlan) -> Faulty<S> {
        Faulty {
            inner,
            inj: FaultInjector::new(plan),
            held: Vec::with_capacity(HELD_MAX),
            plan_uso: plan.gso_refuse > 0,
            uso_faked: false,
            refuse_late: plan.seed % 2 == 1,
            late: Vec::with_capacity(HELD_MAX),
            forced: 0,
            uso_posts: 0,
            last_uso: None,
        }
    }
}

/// The WinSock error that stands for each errno the fault plan draws.
pub(crate) fn wsa_for(errno: i32) -> i32 {
    match errno {
        libc::EAGAIN => WSAEWOULDBLOCK,
        libc::ENOBUFS => WSAENOBUFS,
        // An ICMP port unreachable comes back on a connected UDP socket as WSAECONNRESET.
        libc::ECONNREFUSED => WSAECONNRESET,
        // The fatal ones (`fault::FATAL_ERRNOS`).
        libc::EMSGSIZE => WSAEMSGSIZE,
        libc::ENETDOWN => WSAENETDOWN,
        libc::ENETUNREACH => WSAENETUNREACH,
        libc::EPERM => WSAEACCES,
        libc::EINVAL => WSAEINVAL,
        _ => WSAENOBUFS,
    }
}

impl<S: WinSys> WinSys for Faulty<S> {
    unsafe fn post(
        &mut self,
        sock: SOCKET,
        buf: *const u8,
        len: u32,
        ov: *mut OVERLAPPED,
    ) -> Posted {
        if let Some(errno) = self.inj.send_error(false) {
            return Posted::Failed(wsa_for(errno));
        }
        // SAFETY: the caller's guarantees are passed on unchanged.
        unsafe { self.inner.post(sock, buf, len, ov) }
    }

    unsafe fn post_msg(&mut self, sock: SOCKET, msg: *const WSAMSG, ov: *mut OVERLAPPED) -> Posted {
        self.uso_posts += 1;
        // SAFETY: the caller keeps `msg` and what it points at valid for the call.
        let m = unsafe { &*msg };
        // SAFETY: as above: the control buffer holds a UsoControl.
        let c = unsafe {
            m.Control
                .buf
                .cast::<super::uso::UsoControl>()
                .read_unaligned()
        };
        self.last_uso = Some((m.dwBufferCount, c));
        match self.inj.send_error(true) {
            Some(libc::EIO) => self.refuse(ov),
            Some(errno) => Posted::Failed(wsa_for(errno)),
            None if self.uso_faked => {
                self.forced += 1;
                self.refuse(ov)
            }
            // SAFETY: the caller's guarantees are passed on unchanged.
            None => unsafe { self.inner.post_msg(sock, msg, ov) },
        }
    }

    unsafe fn result(&mut self, sock: SOCKET, ov: *mut OVERLAPPED) -> Result<(), i32> {
        if let Some(i) = self.late.iter().position(|&p| p == ov as usize) {
            self.late.swap_remove(i);
            return Err(WSAEINVAL);
        }
        // SAFETY: the caller's guarantees are passed on unchanged.
        unsafe { self.inner.result(sock, ov) }
    }

    fn uso_accepted(&mut self, sock: &UdpSocket) -> bool {
        let real = self.inner.uso_accepted(sock);
        self.uso_faked = self.plan_uso && !real;
        real || self.plan_uso
    }

    fn drain(&mut self, port: HANDLE, out: &mut [OVERLAPPED_ENTRY], timeout_ms: u32) -> usize {
        let mut n = 0;
        // Held completions whose time has come go first.
        let mut i = 0;
        while i < self.held.len() && n < out.len() {
            if self.held[i].1 == 0 {
                out[n] = self.held.remove(i).0;
                n += 1;
            } else {
                self.held[i].1 -= 1;
                i += 1;
            }
        }
        let wait = if n > 0 || !self.held.is_empty() {
            0
        } else {
            timeout_ms
        };
        let got = self.inner.drain(port, &mut out[n..], wait);
        let mut kept = n;
        for k in n..n + got {
            let delay = if self.held.len() < HELD_MAX {
                self.inj.delay_cqe()
            } else {
                0
            };
            if delay > 0 {
                self.held.push((out[k], delay));
            } else {
                out[kept] = out[k];
                kept += 1;
            }
        }
        self.inj.maybe_shuffle(&mut out[..kept]);
        kept
    }

    fn injected(&self) -> InjectedFaults {
        let mut i = self.inj.injected();
        i.gso_refuse += self.forced;
        i
    }
}

impl<S> Faulty<S> {
    /// Refuses a super-packet: WSAEINVAL from the post, or through a completion that reaches the
    /// next drain (never sent either way).
    fn refuse(&mut self, ov: *mut OVERLAPPED) -> Posted {
        if !self.refuse_late || self.held.len() >= HELD_MAX || self.late.len() >= HELD_MAX {
            return Posted::Failed(WSAEINVAL);
        }
        self.late.push(ov as usize);
        let entry = OVERLAPPED_ENTRY {
            lpCompletionKey: super::iocp::KEY,
            lpOverlapped: ov,
            Internal: 0,
            dwNumberOfBytesTransferred: 0,
        };
        self.held.push((entry, 0));
        Posted::Pending
    }
}
