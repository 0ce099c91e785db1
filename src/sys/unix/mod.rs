//! Unix: sockets, the `send` and `sendmmsg` backends, thread tuning.

pub(crate) mod ackrx;
#[cfg(ringshot_mmsg)]
pub(crate) mod mmsg;
pub(crate) mod msg;
pub(crate) mod rx;
pub(crate) mod send;
pub(crate) mod sendsys;
pub(crate) mod socket;
#[cfg(all(test, ringshot_uring))]
pub(crate) mod testkit;
pub(crate) mod thread;

use std::io;

use crate::stats::TxMetrics;
use crate::sys::SendErrorKind;

/// How long one `submit` may wait for the socket to become writable after EAGAIN before it
/// returns to the engine (which then checks its stop flag and stall timeout and calls again).
pub(crate) const WRITABLE_WAIT_MS: i32 = 5;

/// What to do after a send syscall failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendFailure {
    /// Socket buffer full: wait (bounded) until writable, then resend the same packets.
    WaitWritable,
    /// Transient (an ICMP error reported late, a signal): nothing of the failed call was sent;
    /// resend the same packets on a later call.
    Retry,
    /// The queueing layer below the socket is full (ENOBUFS): back-pressure. Nothing was sent;
    /// rest (see [`NoBufsRest`]) before the same packets go again on a later call.
    NoBuffers,
    /// The path cannot segment: switch GSO off for good and resend without it.
    DisableGso,
    /// Anything else ends the stream.
    Fatal,
}

/// The OS-neutral kind of a failed send. `with_gso` says whether the failed call carried a
/// UDP_SEGMENT cmsg: EIO and EINVAL then mean the path cannot segment, and EMSGSIZE that a
/// segment is larger than the path MTU (the kernel fragments a datagram sent on its own, never
/// a GSO segment). Without the cmsg all three end the stream.
pub(crate) fn send_error_kind(err: &io::Error, with_gso: bool) -> SendErrorKind {
    match err.raw_os_error().unwrap_or(0) {
        libc::EAGAIN => SendErrorKind::WouldBlock,
        libc::ENOBUFS => SendErrorKind::NoBuffers,
        libc::ECONNREFUSED => SendErrorKind::Refused,
        libc::EINTR => SendErrorKind::Interrupted,
        libc::EIO | libc::EINVAL | libc::EMSGSIZE if with_gso => SendErrorKind::GsoRefused,
        _ => SendErrorKind::Other,
    }
}

/// Counts `err` (by errno, named by [`crate::stats::errno_name`]) and decides what to do.
/// `with_gso` says whether the failed call carried a UDP_SEGMENT cmsg.
pub(crate) fn classify_send_error(
    err: &io::Error,
    with_gso: bool,
    m: &mut TxMetrics,
) -> SendFailure {
    m.record_errno(err.raw_os_error().unwrap_or(0));
    match send_error_kind(err, with_gso) {
        SendErrorKind::WouldBlock => SendFailure::WaitWritable,
        SendErrorKind::NoBuffers => SendFailure::NoBuffers,
        SendErrorKind::Refused | SendErrorKind::Interrupted => SendFailure::Retry,
        SendErrorKind::GsoRefused => SendFailure::DisableGso,
        SendErrorKind::Other => SendFailure::Fatal,
    }
}

/// The rest after an ENOBUFS: a qdisc that drops (a shaper, a full device queue) frees room at
/// its own pace, so re-sending at once only spins on refusals. Each refusal in a row rests twice
/// as long as the one before, from [`NoBufsRest::FIRST`] up to [`NoBufsRest::LONGEST`]; a send
/// that goes through starts the ladder again. Bounded, so `submit` never blocks for long.
#[derive(Debug, Default)]
pub(crate) struct NoBufsRest {
    /// Refusals in a row.
    streak: u32,
}

impl NoBufsRest {
    pub(crate) const FIRST: std::time::Duration = std::time::Duration::from_micros(20);
    pub(crate) const LONGEST: std::time::Duration = std::time::Duration::from_millis(2);

    /// How long to rest after one more refusal.
    pub(crate) fn next(&mut self) -> std::time::Duration {
        let d = Self::FIRST
            .saturating_mul(1 << self.streak.min(16))
            .min(Self::LONGEST);
        self.streak = self.streak.saturating_add(1);
        d
    }

    /// A send went through: the next refusal rests the shortest time again.
    pub(crate) fn reset(&mut self) {
        self.streak = 0;
    }
}

/// Whether a receive error on the ACK socket is transient (an ICMP report or a full queue that
/// the next call gets past).
pub(crate) fn is_transient_recv_errno(errno: i32) -> bool {
    matches!(
        errno,
        libc::ENOBUFS | libc::EHOSTUNREACH | libc::ENETUNREACH
    )
}

/// Switches GSO off for good, logging once per backend.
pub(crate) fn downgrade_gso(gso: &mut bool, backend: &str, err: &io::Error, m: &mut TxMetrics) {
    if *gso {
        *gso = false;
        m.gso_downgrades += 1;
        log::warn!(
            "{backend}: the kernel refused UDP GSO ({err}); GSO is off for the rest of this \
             stream and the refused packets are re-sent one datagram each"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gso_refusals_only_with_gso() {
        for errno in [libc::EIO, libc::EINVAL, libc::EMSGSIZE] {
            let e = io::Error::from_raw_os_error(errno);
            assert_eq!(send_error_kind(&e, true), SendErrorKind::GsoRefused, "{e}");
            assert_eq!(send_error_kind(&e, false), SendErrorKind::Other, "{e}");
        }
        for errno in [libc::ENETDOWN, libc::ENETUNREACH, libc::EPERM] {
            let e = io::Error::from_raw_os_error(errno);
            assert_eq!(send_error_kind(&e, true), SendErrorKind::Other, "{e}");
        }
    }

    #[test]
    fn nobufs_rests_double_up_to_the_longest_and_start_again_after_a_send() {
        let mut r = NoBufsRest::default();
        let rests: Vec<_> = (0..12).map(|_| r.next()).collect();
        assert_eq!(rests[0], NoBufsRest::FIRST);
        assert_eq!(rests[1], 2 * NoBufsRest::FIRST);
        assert!(rests.windows(2).all(|w| w[0] <= w[1]), "{rests:?}");
        assert_eq!(*rests.last().unwrap(), NoBufsRest::LONGEST);
        r.reset();
        assert_eq!(r.next(), NoBufsRest::FIRST);
    }
}
