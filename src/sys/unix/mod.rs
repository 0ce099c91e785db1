//! Unix: sockets, the `send` and `sendmmsg` backends, thread tuning.

pub mod msg;
#[cfg(target_os = "linux")]
pub mod rx;
pub mod send;
pub mod sendsys;
pub mod socket;
#[cfg(all(test, target_os = "linux"))]
pub(crate) mod testkit;
pub mod thread;

#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "netbsd"))]
pub mod mmsg;

use std::io;

use crate::stats::TxMetrics;

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

/// Counts `err` and decides what to do. `with_gso` says whether the failed call carried a
/// UDP_SEGMENT cmsg.
pub(crate) fn classify_send_error(
    err: &io::Error,
    with_gso: bool,
    m: &mut TxMetrics,
) -> SendFailure {
    let errno = err.raw_os_error().unwrap_or(0);
    m.record_errno(errno);
    match errno {
        libc::EAGAIN => SendFailure::WaitWritable,
        libc::ENOBUFS | libc::ECONNREFUSED | libc::EINTR => SendFailure::Retry,
        libc::EIO | libc::EINVAL if with_gso => SendFailure::DisableGso,
        _ => SendFailure::Fatal,
    }
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
