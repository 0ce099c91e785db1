//! What each WinSock error code means to the send path: the raw code to its portable kind
//! ([`SendErrno`], what the report counts) and to what a backend does about it
//! ([`SendErrorKind`]). The one place a WinSock code is read by meaning.

use windows_sys::Win32::Networking::WinSock::{
    WSAECONNREFUSED, WSAECONNRESET, WSAEHOSTUNREACH, WSAEINTR, WSAEMSGSIZE, WSAENETRESET,
    WSAENETUNREACH, WSAENOBUFS, WSAETIMEDOUT, WSAEWOULDBLOCK,
};

use crate::stats::SendErrno;
use crate::sys::SendErrorKind;

/// The WinSock errors the send path expects, with their names: the keys of the `errors` map on
/// Windows.
pub(crate) const SEND_ERRNOS: [(i32, SendErrno, &str); 14] = {
    use windows_sys::Win32::Networking::WinSock as ws;
    [
        (ws::WSAEWOULDBLOCK, SendErrno::WouldBlock, "WSAEWOULDBLOCK"),
        (ws::WSAENOBUFS, SendErrno::NoBuffers, "WSAENOBUFS"),
        (
            ws::WSAECONNRESET,
            SendErrno::ConnectionReset,
            "WSAECONNRESET",
        ),
        (
            ws::WSAECONNREFUSED,
            SendErrno::ConnectionRefused,
            "WSAECONNREFUSED",
        ),
        (ws::WSAEINTR, SendErrno::Interrupted, "WSAEINTR"),
        (ws::WSAEMSGSIZE, SendErrno::MessageTooLong, "WSAEMSGSIZE"),
        (ws::WSAEINVAL, SendErrno::InvalidInput, "WSAEINVAL"),
        (
            ws::WSAENETUNREACH,
            SendErrno::NetworkUnreachable,
            "WSAENETUNREACH",
        ),
        (
            ws::WSAEHOSTUNREACH,
            SendErrno::HostUnreachable,
            "WSAEHOSTUNREACH",
        ),
        (ws::WSAENETDOWN, SendErrno::NetworkDown, "WSAENETDOWN"),
        (ws::WSAEACCES, SendErrno::AccessDenied, "WSAEACCES"),
        (ws::WSAENETRESET, SendErrno::NetworkReset, "WSAENETRESET"),
        (ws::WSAETIMEDOUT, SendErrno::TimedOut, "WSAETIMEDOUT"),
        (
            ws::WSA_OPERATION_ABORTED,
            SendErrno::Aborted,
            "WSA_OPERATION_ABORTED",
        ),
    ]
};

/// The OS-neutral kind of a refused send, from its WinSock error. A connected UDP socket reports
/// an ICMP port unreachable for an earlier datagram as WSAECONNRESET.
pub(crate) fn send_error_kind(code: i32) -> SendErrorKind {
    match code {
        WSAEWOULDBLOCK | WSAETIMEDOUT => SendErrorKind::WouldBlock,
        WSAENOBUFS => SendErrorKind::NoBuffers,
        WSAECONNRESET | WSAECONNREFUSED | WSAENETRESET => SendErrorKind::Refused,
        WSAEINTR => SendErrorKind::Interrupted,
        _ => SendErrorKind::Other,
    }
}
/// Whether a receive error on the ACK socket is transient: an ICMP report about an earlier send
/// (WSAECONNRESET, WSAENETRESET), an unreachable route, a full queue, an oversized datagram.
pub(crate) fn is_transient_recv_errno(code: i32) -> bool {
    matches!(
        code,
        WSAECONNRESET | WSAENETRESET | WSAENOBUFS | WSAEHOSTUNREACH | WSAENETUNREACH | WSAEMSGSIZE
    )
}

/// The portable kind of a raw WinSock code (`Other(code)` for one the send path does not
/// expect).
pub(crate) fn send_errno(code: i32) -> SendErrno {
    SEND_ERRNOS
        .iter()
        .find(|(c, _, _)| *c == code)
        .map_or(SendErrno::Other(code), |(_, kind, _)| *kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::errno_name;

    #[test]
    fn every_named_errno_has_its_symbol() {
        for (code, kind, name) in SEND_ERRNOS {
            assert_eq!(errno_name(code), name);
            assert_eq!(SendErrno::from_os(code), kind);
            assert_eq!(kind.to_string(), name);
        }
        assert_eq!(errno_name(10055), "WSAENOBUFS");
        assert_eq!(errno_name(4242), "errno_4242");
    }
}
