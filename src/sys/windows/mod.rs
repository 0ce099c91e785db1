//! Windows: overlapped sends drained from an I/O completion port (`iocp`), the one-send-per-packet
//! baseline (`send`), overlapped receiving (WSARecvFrom kept posted), thread placement and
//! priority.

pub(crate) mod ack_rx;
pub(crate) mod data_rx;
pub(crate) mod errno;
pub(crate) mod iocp;
pub(crate) mod overlapped_rx;
pub(crate) mod seam;
pub(crate) mod send;
pub(crate) mod socket;
#[cfg(test)]
mod tests;
pub(crate) mod thread;
pub(crate) mod uso;

use std::sync::Arc;

use crate::sys::{BackendChoice, OpenError, OpenedTx, Slab, TxBackend, TxOpts};

/// Opens the connected socket and the backend `opts` asks for: `auto` is the completion-port
/// backend; `uring` and `mmsg` are configuration errors on Windows (refused earlier).
pub(crate) fn open_tx(opts: &TxOpts, slab: &Arc<Slab>) -> Result<OpenedTx, OpenError> {
    let mut notices = Vec::new();
    let sock =
        socket::connected_udp(opts.dest, opts.bind, opts.sndbuf).map_err(OpenError::Socket)?;
    let ack_sock = sock.try_clone().map_err(OpenError::Socket)?;
    let plan = opts.faults.plan;
    let backend: Box<dyn TxBackend> = match opts.backend {
        BackendChoice::Send => {
            if opts.gso {
                notices.push(
                    "the send backend has no UDP send offload; sending one datagram per packet"
                        .into(),
                );
            }
            Box::new(
                send::SendBackend::new(sock, slab.slots() as usize, plan)
                    .map_err(OpenError::Socket)?,
            )
        }
        BackendChoice::Auto | BackendChoice::Iocp => {
            let (b, skip, uso) = match plan {
                None => iocp_backend(sock, slab, seam::RealSys, opts.gso)?,
                Some(p) => iocp_backend(sock, slab, seam::Faulty::new(seam::RealSys, p), opts.gso)?,
            };
            if !skip {
                notices.push(
                    "FILE_SKIP_COMPLETION_PORT_ON_SUCCESS refused: every send posts a completion"
                        .into(),
                );
            }
            if opts.gso && !uso {
                notices.push(
                    "UDP send offload (UDP_SEND_MSG_SIZE) is not available on this socket; \
                     sending one datagram per packet"
                        .into(),
                );
            }
            b
        }
        other => {
            return Err(OpenError::Unavailable {
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
) -> Result<(Box<dyn TxBackend>, bool, bool), OpenError> {
    let b = iocp::IocpBackend::new(sock, slab.clone(), sys, gso).map_err(|e| {
        OpenError::Unavailable {
            backend: "iocp",
            reason: e.to_string(),
        }
    })?;
    let skip = b.skips_port_on_success();
    let uso = b.uso_active();
    Ok((Box::new(b), skip, uso))
}
