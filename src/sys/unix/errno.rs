//! What each Unix error code means to the send path: the raw errno to its portable kind
//! ([`SendErrno`], what the report counts) and to what a backend does about it
//! ([`SendErrorKind`]). The one place a Unix errno is read by meaning.

use std::io;

use crate::stats::SendErrno;
use crate::sys::SendErrorKind;

/// The errnos the send path expects, each with its kind and its symbol (the symbol is the
/// report's name for the kind: `SendErrno`'s `Display`, checked against this table below).
pub(crate) const SEND_ERRNOS: [(i32, SendErrno, &str); 13] = [
    (libc::EAGAIN, SendErrno::WouldBlock, "EAGAIN"),
    (libc::ENOBUFS, SendErrno::NoBuffers, "ENOBUFS"),
    (
        libc::ECONNREFUSED,
        SendErrno::ConnectionRefused,
        "ECONNREFUSED",
    ),
    (libc::EINTR, SendErrno::Interrupted, "EINTR"),
    (libc::EIO, SendErrno::Io, "EIO"),
    (libc::EINVAL, SendErrno::InvalidInput, "EINVAL"),
    (libc::EMSGSIZE, SendErrno::MessageTooLong, "EMSGSIZE"),
    (libc::EPERM, SendErrno::PermissionDenied, "EPERM"),
    (libc::EACCES, SendErrno::AccessDenied, "EACCES"),
    (
        libc::ENETUNREACH,
        SendErrno::NetworkUnreachable,
        "ENETUNREACH",
    ),
    (
        libc::EHOSTUNREACH,
        SendErrno::HostUnreachable,
        "EHOSTUNREACH",
    ),
    (libc::ENETDOWN, SendErrno::NetworkDown, "ENETDOWN"),
    (libc::EBADF, SendErrno::BadDescriptor, "EBADF"),
];

/// The portable kind of a raw errno (`Other(code)` for one the send path does not expect).
pub(crate) fn send_errno(code: i32) -> SendErrno {
    SEND_ERRNOS
        .iter()
        .find(|(c, _, _)| *c == code)
        .map_or(SendErrno::Other(code), |(_, kind, _)| *kind)
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

/// Whether a receive error on the ACK socket is transient (an ICMP report or a full queue that
/// the next call gets past).
pub(crate) fn is_transient_recv_errno(errno: i32) -> bool {
    matches!(
        errno,
        libc::ENOBUFS | libc::EHOSTUNREACH | libc::ENETUNREACH
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::TxMetrics;
    use crate::sys::errno_name;

    #[test]
    fn every_named_errno_has_its_symbol() {
        for (errno, kind, name) in SEND_ERRNOS {
            assert_eq!(errno_name(errno), name);
            assert_eq!(SendErrno::from_os(errno), kind);
            assert_eq!(kind.to_string(), name);
        }
        assert_eq!(errno_name(libc::EPERM), "EPERM");
        assert_eq!(errno_name(4242), "errno_4242");
    }

    #[test]
    fn raw_errnos_count_by_name() {
        let mut m = TxMetrics::new();
        for errno in [libc::ENOBUFS, libc::ENOBUFS, libc::EAGAIN, libc::EPERM] {
            m.record_error(send_errno(errno));
        }
        m.record_error(send_errno(libc::ENETUNREACH));
        m.record_error(send_errno(12345));
        m.record_error(send_errno(12345));
        for unexpected in 20_000..20_004 {
            m.record_error(send_errno(unexpected));
        }
        m.record_error(send_errno(0));
        let e = m.errors_by_name();
        assert_eq!(e["ENOBUFS"], 2);
        assert_eq!(e["EAGAIN"], 1);
        assert_eq!(e["EPERM"], 1);
        assert_eq!(e["ENETUNREACH"], 1);
        assert_eq!(e["errno_12345"], 2);
        // 12345 took the first of the 4 spare slots; the last unexpected errno and errno 0
        // found none.
        assert_eq!(e["other"], 2);
        assert_eq!(e.values().sum::<u64>(), 12);
        m.record_error(send_errno(libc::ECONNREFUSED));
        assert_eq!(m.refused, 1);
    }

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
}
