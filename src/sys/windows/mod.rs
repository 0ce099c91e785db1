//! Windows: overlapped sends drained from an I/O completion port (`iocp`), the one-send-per-packet
//! baseline (`send`), overlapped receiving (WSARecvFrom kept posted), thread placement and
//! priority.

pub(crate) mod iocp;
pub(crate) mod overlapped_rx;
pub(crate) mod rx;
pub(crate) mod seam;
pub(crate) mod send;
pub(crate) mod socket;
#[cfg(test)]
mod tests;
pub(crate) mod thread;
pub(crate) mod uso;

use std::sync::Arc;

use windows_sys::Win32::Networking::WinSock::{
    WSAECONNREFUSED, WSAECONNRESET, WSAEHOSTUNREACH, WSAEINTR, WSAEMSGSIZE, WSAENETRESET,
    WSAENETUNREACH, WSAENOBUFS, WSAETIMEDOUT, WSAEWOULDBLOCK,
};

use crate::config::BackendChoice;
use crate::stats::SendErrno;
use crate::sys::{OpenedTx, SendErrorKind, Slab, TxBackend};

/// The WinSock errors the send path expects, with their names: the keys of the `errors` map on
/// Windows.
pub(crate) const WSA_ERROR_NAMES: [(i32, SendErrno, &str); 14] = {
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
use crate::EngineError;

/// Whether a receive error on the ACK socket is transient: an ICMP report about an earlier send
/// (WSAECONNRESET, WSAENETRESET), an unreachable route, a full queue, an oversized datagram.
pub(crate) fn is_transient_recv_errno(code: i32) -> bool {
    matches!(
        code,
        WSAECONNRESET | WSAENETRESET | WSAENOBUFS | WSAEHOSTUNREACH | WSAENETUNREACH | WSAEMSGSIZE
    )
}

/// Opens the connected socket and the backend `cfg` asks for: `auto` is the completion-port
/// backend; `uring` and `mmsg` are configuration errors on Windows (refused earlier).
pub(crate) fn open_tx(
    cfg: &crate::SenderConfig,
    slab: &Arc<Slab>,
) -> Result<OpenedTx, EngineError> {
    let mut notices = Vec::new();
    let sock =
        socket::connected_udp(cfg.dest, cfg.bind, cfg.sndbuf).map_err(EngineError::Socket)?;
    let ack_sock = sock.try_clone().map_err(EngineError::Socket)?;
    let plan = cfg.faults.plan;
    let backend: Box<dyn TxBackend> = match cfg.backend {
        BackendChoice::Send => {
            if cfg.gso {
                notices.push(
                    "the send backend has no UDP send offload; sending one datagram per packet"
                        .into(),
                );
            }
            Box::new(
                send::SendBackend::new(sock, slab.slots() as usize, plan)
                    .map_err(EngineError::Socket)?,
            )
        }
        BackendChoice::Auto | BackendChoice::Iocp => {
            let (b, skip, uso) = match plan {
                None => iocp_backend(sock, slab, seam::RealSys, cfg.gso)?,
                Some(p) => iocp_backend(sock, slab, seam::Faulty::new(seam::RealSys, p), cfg.gso)?,
            };
            if !skip {
                notices.push(
                    "FILE_SKIP_COMPLETION_PORT_ON_SUCCESS refused: every send posts a completion"
                        .into(),
                );
            }
            if cfg.gso && !uso {
                notices.push(
                    "UDP send offload (UDP_SEND_MSG_SIZE) is not available on this socket; \
                     sending one datagram per packet"
                        .into(),
                );
            }
            b
        }
        other => {
            return Err(EngineError::BackendUnavailable {
                backend: other.name(),
                reason: "not available on Windows (use iocp or send)".into(),
            })
        }
    };
    Ok((backend, notices, ack_sock))
}

/// The completion-port backend, whether FILE_SKIP_COMPLETION_PORT_ON_SUCCESS was accepted, and
/// whether USO super-packets are sent.
fn iocp_backend<S: seam::WinSys + 'static>(
    sock: std::net::UdpSocket,
    slab: &Arc<Slab>,
    sys: S,
    gso: bool,
) -> Result<(Box<dyn TxBackend>, bool, bool), EngineError> {
    let b = iocp::IocpBackend::new(sock, slab.clone(), sys, gso).map_err(|e| {
        EngineError::BackendUnavailable {
            backend: "iocp",
            reason: e.to_string(),
        }
    })?;
    let skip = b.skips_port_on_success();
    let uso = b.uso_active();
    Ok((Box::new(b), skip, uso))
}
