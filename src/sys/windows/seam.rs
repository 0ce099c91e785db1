//! The completion-port backend's kernel calls behind one small trait, so that a test's fault plan
//! can answer in the system's place without a fault flag inside the backend.
//!
//! [`RealSys`] makes the calls. [`Faulty`] wraps any [`WinSys`]: per post it asks a
//! [`FaultInjector`] whether to answer a WinSock error *instead of* calling (the datagram is then
//! not sent, exactly as when WinSock refuses it), and per drain whether to hold completions back
//! for a few drains or to shuffle the ones it delivers.

use windows_sys::Win32::Foundation::{HANDLE, WAIT_TIMEOUT};
use windows_sys::Win32::Networking::WinSock::{
    WSASend, SOCKET, SOCKET_ERROR, WSABUF, WSAECONNRESET, WSAENOBUFS, WSAEWOULDBLOCK,
    WSA_IO_PENDING,
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

    /// GetQueuedCompletionStatusEx on `port` into `out`, waiting at most `timeout_ms`; returns
    /// how many entries it filled (0 on a timeout).
    fn drain(&mut self, port: HANDLE, out: &mut [OVERLAPPED_ENTRY], timeout_ms: u32) -> usize;

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
        if rc != SOCKET_ERROR {
            return Posted::Done;
        }
        match super::socket::last_wsa_error().raw_os_error().unwrap_or(0) {
            WSA_IO_PENDING => Posted::Pending,
            code => Posted::Failed(code),
        }
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

/// Most completions [`Faulty`] holds back at once.
const HELD_MAX: usize = 1024;

/// Answers injected faults in place of `S`'s calls.
pub(crate) struct Faulty<S> {
    inner: S,
    inj: FaultInjector,
    /// Completions held back: the entry and how many more drains to keep it.
    held: Vec<(OVERLAPPED_ENTRY, u32)>,
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
        self.inj.injected()
    }
}
