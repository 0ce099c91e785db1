//! Unix: sockets, the `send` and `sendmmsg` backends, thread tuning.

pub mod msg;
#[cfg(target_os = "linux")]
pub mod rx;
pub mod send;
pub mod socket;
pub mod thread;

#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "netbsd"))]
pub mod mmsg;

use std::io;

use crate::stats::TxMetrics;

/// What to do after a send syscall failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendFailure {
    /// Socket buffer full: wait until writable, then resend the same packets.
    WaitWritable,
    /// Transient (qdisc full, a stale ICMP error): resend the same packets.
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
        eprintln!(
            "ringshot: {backend}: the kernel refused UDP GSO ({err}); GSO is off for the rest of \
             this stream and the refused packets are re-sent one datagram each"
        );
    }
}

/// Decides whether this GSO submission is the one a test asked to fail.
pub(crate) fn injected_gso_failure(fail_at: Option<u64>, gso_submits: &mut u64) -> bool {
    let n = *gso_submits;
    *gso_submits += 1;
    fail_at == Some(n)
}
