//! The kernel calls of the `send` and `mmsg` backends behind one small trait, so that a test's
//! fault plan can answer in the kernel's place without a single fault flag inside the backends.
//!
//! [`RealSys`] makes the calls. [`Gated`] wraps any [`SendSys`] and, per call, asks a [`Gate`]
//! whether to answer an errno *instead of* calling (the datagrams are then not sent, exactly as
//! when the kernel refuses them) or to hand `sendmmsg` only a prefix of the messages; [`Faulty`]
//! is the gate that asks a [`FaultInjector`] (tests script their own). The backends take the implementation as a generic parameter: no dynamic dispatch
//! and no allocation per call.

use std::io;
use std::os::fd::RawFd;

use crate::fault::{FaultInjector, FaultPlan, InjectedFaults};
use crate::stats::TxMetrics;

/// The send-side syscalls the readiness backends make.
pub trait SendSys: Send + std::fmt::Debug {
    /// `send(2)` of one datagram on a connected socket; returns the bytes sent.
    ///
    /// # Safety
    ///
    /// `buf` points at `len` readable bytes that stay valid and unchanged during the call.
    unsafe fn send(
        &mut self,
        fd: RawFd,
        buf: *const u8,
        len: usize,
        m: &mut TxMetrics,
    ) -> io::Result<usize>;

    /// `sendmsg(2)`; `gso` says whether `hdr` carries a UDP_SEGMENT control message.
    ///
    /// # Safety
    ///
    /// `hdr` and everything it points to (iovecs, their buffers, the control buffer) are valid
    /// for reads during the call.
    unsafe fn sendmsg(
        &mut self,
        fd: RawFd,
        hdr: &libc::msghdr,
        gso: bool,
        m: &mut TxMetrics,
    ) -> io::Result<usize>;

    /// `sendmmsg(2)` of `hdrs` (not empty); returns how many messages the kernel accepted.
    /// `first_gso` says whether the first message carries a UDP_SEGMENT control message.
    ///
    /// # Safety
    ///
    /// Every header in `hdrs` and everything it points to are valid during the call (the
    /// kernel writes each header's `msg_len`, and nothing else).
    #[cfg(ringshot_mmsg)]
    unsafe fn sendmmsg(
        &mut self,
        fd: RawFd,
        hdrs: &mut [libc::mmsghdr],
        first_gso: bool,
        m: &mut TxMetrics,
    ) -> io::Result<usize>;

    /// Waits at most `timeout_ms` for the socket to accept more data (see
    /// [`super::socket::wait_writable`]).
    fn wait_writable(&mut self, fd: RawFd, timeout_ms: i32) -> io::Result<bool>;

    /// Rests `d` (short) after the queue below the socket refused a send (ENOBUFS): no call
    /// tells when it has room again.
    fn rest(&mut self, d: std::time::Duration) {
        std::thread::sleep(d);
    }
}

/// The real kernel calls.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealSys;

impl SendSys for RealSys {
    unsafe fn send(
        &mut self,
        fd: RawFd,
        buf: *const u8,
        len: usize,
        _m: &mut TxMetrics,
    ) -> io::Result<usize> {
        syscall!(send(fd, buf.cast(), len, 0)).map(|n| n as usize)
    }

    unsafe fn sendmsg(
        &mut self,
        fd: RawFd,
        hdr: &libc::msghdr,
        _gso: bool,
        _m: &mut TxMetrics,
    ) -> io::Result<usize> {
        syscall!(sendmsg(fd, hdr, 0)).map(|n| n as usize)
    }

    #[cfg(ringshot_mmsg)]
    unsafe fn sendmmsg(
        &mut self,
        fd: RawFd,
        hdrs: &mut [libc::mmsghdr],
        _first_gso: bool,
        _m: &mut TxMetrics,
    ) -> io::Result<usize> {
        // The count is a `c_uint` on Linux and NetBSD and a `size_t` on FreeBSD (which also
        // returns `ssize_t`): clamped to `c_uint`, it converts losslessly to either.
        let n = hdrs.len().min(libc::c_uint::MAX as usize);
        syscall!(sendmmsg(fd, hdrs.as_mut_ptr(), n as _, 0)).map(|k| k as usize)
    }

    fn wait_writable(&mut self, fd: RawFd, timeout_ms: i32) -> io::Result<bool> {
        super::socket::wait_writable(fd, timeout_ms)
    }
}

/// What [`Gated`] asks before each call of the seam it wraps.
pub trait Gate: Send + std::fmt::Debug {
    /// The error this call answers instead of running, if any; `gso` says whether the send
    /// (for `sendmmsg`, its first message) carries GSO.
    fn refuse(&mut self, gso: bool, m: &mut TxMetrics) -> Option<io::Error>;

    /// How many of a `sendmmsg`'s `n` messages (not empty) are handed on, once the call was
    /// not refused. (Unused where the target has no `sendmmsg`.)
    #[cfg_attr(not(ringshot_mmsg), allow(dead_code))]
    fn accepted_prefix(&mut self, n: usize, m: &mut TxMetrics) -> usize;

    /// Told of every rest the backend takes through the seam (see [`SendSys::rest`]).
    fn rested(&mut self, _d: std::time::Duration) {}
}

/// Any [`SendSys`] behind a [`Gate`] that may refuse a call (the datagrams are then not sent,
/// exactly as when the kernel refuses them) or hand `sendmmsg` only a prefix of the messages.
/// An error on a `sendmmsg`'s first message fails the whole call; one on a later message shows
/// up as a short count, then as the error of the next call (which starts there).
#[derive(Debug)]
pub struct Gated<S, G> {
    inner: S,
    gate: G,
}

impl<S: SendSys, G: Gate> Gated<S, G> {
    pub fn with_gate(inner: S, gate: G) -> Gated<S, G> {
        Gated { inner, gate }
    }

    /// The gate.
    #[cfg(all(test, ringshot_uring))]
    pub fn gate(&self) -> &G {
        &self.gate
    }
}

impl<S: SendSys, G: Gate> SendSys for Gated<S, G> {
    unsafe fn send(
        &mut self,
        fd: RawFd,
        buf: *const u8,
        len: usize,
        m: &mut TxMetrics,
    ) -> io::Result<usize> {
        match self.gate.refuse(false, m) {
            Some(e) => Err(e),
            // SAFETY: the caller's guarantee for `buf`, passed on unchanged.
            None => unsafe { self.inner.send(fd, buf, len, m) },
        }
    }

    unsafe fn sendmsg(
        &mut self,
        fd: RawFd,
        hdr: &libc::msghdr,
        gso: bool,
        m: &mut TxMetrics,
    ) -> io::Result<usize> {
        match self.gate.refuse(gso, m) {
            Some(e) => Err(e),
            // SAFETY: the caller's guarantee for `hdr`, passed on unchanged.
            None => unsafe { self.inner.sendmsg(fd, hdr, gso, m) },
        }
    }

    #[cfg(ringshot_mmsg)]
    unsafe fn sendmmsg(
        &mut self,
        fd: RawFd,
        hdrs: &mut [libc::mmsghdr],
        first_gso: bool,
        m: &mut TxMetrics,
    ) -> io::Result<usize> {
        if let Some(e) = self.gate.refuse(first_gso, m) {
            return Err(e);
        }
        let accepted = match hdrs.len() {
            0 => 0,
            n => self.gate.accepted_prefix(n, m).min(n),
        };
        // SAFETY: a prefix of the caller's headers, all valid by the caller's guarantee.
        unsafe { self.inner.sendmmsg(fd, &mut hdrs[..accepted], first_gso, m) }
    }

    fn wait_writable(&mut self, fd: RawFd, timeout_ms: i32) -> io::Result<bool> {
        self.inner.wait_writable(fd, timeout_ms)
    }

    fn rest(&mut self, d: std::time::Duration) {
        self.gate.rested(d);
        self.inner.rest(d);
    }
}

/// Injected faults in place of `S`'s calls: the seeded plan's errnos and partial `sendmmsg`
/// counts, and the forced refusal of the n-th GSO send (`TxFaults::gso_fail_at`).
pub type Faulty<S> = Gated<S, FaultGate>;

/// The gate of [`Faulty`]. Every fault injected is recorded in `TxMetrics::injected`.
#[derive(Debug)]
pub struct FaultGate {
    injector: Option<FaultInjector>,
    gso_fail_at: Option<u64>,
    /// Sends carrying GSO seen so far (what `gso_fail_at` counts).
    gso_sends: u64,
    /// Refusals forced by `gso_fail_at`.
    forced_gso_refusals: u64,
}

impl<S: SendSys> Gated<S, FaultGate> {
    pub fn new(inner: S, plan: Option<FaultPlan>, gso_fail_at: Option<u64>) -> Faulty<S> {
        let gate = FaultGate {
            injector: plan.map(FaultInjector::new),
            gso_fail_at,
            gso_sends: 0,
            forced_gso_refusals: 0,
        };
        Gated::with_gate(inner, gate)
    }

    /// Every fault injected so far.
    #[cfg(test)]
    pub fn injected(&self) -> InjectedFaults {
        self.gate.injected()
    }
}

impl FaultGate {
    /// Every fault injected so far.
    pub fn injected(&self) -> InjectedFaults {
        let mut all = self
            .injector
            .as_ref()
            .map(FaultInjector::injected)
            .unwrap_or_default();
        all.gso_refuse += self.forced_gso_refusals;
        all
    }
}

impl Gate for FaultGate {
    fn refuse(&mut self, gso: bool, m: &mut TxMetrics) -> Option<io::Error> {
        let forced = gso && {
            let n = self.gso_sends;
            self.gso_sends += 1;
            self.gso_fail_at == Some(n)
        };
        let errno = if forced {
            self.forced_gso_refusals += 1;
            Some(libc::EIO)
        } else {
            self.injector.as_mut().and_then(|f| f.send_error(gso))
        };
        m.injected = self.injected();
        errno.map(io::Error::from_raw_os_error)
    }

    fn accepted_prefix(&mut self, n: usize, m: &mut TxMetrics) -> usize {
        let accepted = match self.injector.as_mut() {
            Some(f) => f.accepted_prefix(n),
            None => n,
        };
        m.injected = self.injected();
        accepted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::PPM;

    #[test]
    fn forced_gso_refusal_counts_only_gso_sends() {
        let mut f = Faulty::new(RealSys, None, Some(1));
        let mut m = TxMetrics::new();
        assert!(f.gate.refuse(false, &mut m).is_none());
        assert!(f.gate.refuse(true, &mut m).is_none()); // GSO send 0
        let e = f.gate.refuse(true, &mut m).expect("GSO send 1 is refused");
        assert_eq!(e.raw_os_error(), Some(libc::EIO));
        assert!(f.gate.refuse(true, &mut m).is_none());
        assert_eq!(m.injected.gso_refuse, 1);
        assert_eq!(m.injected.total(), 1);
    }

    #[test]
    fn plan_errors_are_recorded_as_injected() {
        let plan = FaultPlan {
            seed: 9,
            enobufs: PPM,
            max_faults: Some(3),
            ..FaultPlan::none()
        };
        let mut f = Faulty::new(RealSys, Some(plan), None);
        let mut m = TxMetrics::new();
        let errors = (0..10)
            .filter_map(|_| f.gate.refuse(false, &mut m))
            .map(|e| e.raw_os_error())
            .collect::<Vec<_>>();
        assert_eq!(errors, vec![Some(libc::ENOBUFS); 3]);
        assert_eq!(m.injected.enobufs, 3);
        assert_eq!(m.injected, f.injected());
    }
}
