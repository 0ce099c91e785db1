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
    /// Transient (qdisc full, an ICMP error reported late, a signal): nothing of the failed
    /// call was sent; resend the same packets on a later call.
    Retry,
    /// The path cannot segment: switch GSO off for good and resend without it.
    DisableGso,
    /// Anything else ends the stream.
    Fatal,
}

/// The OS-neutral kind of a failed send. `with_gso` says whether the failed call carried a
/// UDP_SEGMENT cmsg (EIO and EINVAL then mean the path cannot segment).
pub(crate) fn send_error_kind(err: &io::Error, with_gso: bool) -> SendErrorKind {
    match err.raw_os_error().unwrap_or(0) {
        libc::EAGAIN => SendErrorKind::WouldBlock,
        libc::ENOBUFS => SendErrorKind::NoBuffers,
        libc::ECONNREFUSED => SendErrorKind::Refused,
        libc::EINTR => SendErrorKind::Interrupted,
        libc::EIO | libc::EINVAL if with_gso => SendErrorKind::GsoRefused,
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
        SendErrorKind::NoBuffers | SendErrorKind::Refused | SendErrorKind::Interrupted => {
            SendFailure::Retry
        }
        SendErrorKind::GsoRefused => SendFailure::DisableGso,
        SendErrorKind::Other => SendFailure::Fatal,
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
