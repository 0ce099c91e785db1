//! Unix: sockets, the `send` and `sendmmsg` backends, thread tuning, and the choice among the
//! Unix send backends (io_uring where Linux has it, then `sendmmsg`, then `send`).

pub(crate) mod ack_rx;
pub(crate) mod cmsg;
pub(crate) mod data_rx;
pub(crate) mod errno;
#[cfg(ringshot_mmsg)]
pub(crate) mod mmsg;
pub(crate) mod msg;
pub(crate) mod seam;
pub(crate) mod send;
pub(crate) mod socket;
#[cfg(all(test, ringshot_uring))]
pub(crate) mod testkit;
pub(crate) mod thread;

use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use crate::stats::TxMetrics;
use crate::sys::{BackendChoice, OpenError, OpenedTx, SendErrorKind, Slab, TxBackend, TxOpts};
use errno::send_error_kind;

/// Opens the socket and the backend `opts` asks for. `auto` tries io_uring, then sendmmsg, then
/// plain send; every fallback or refused feature comes back as a one-line notice.
pub(crate) fn open_tx(opts: &TxOpts, slab: &Arc<Slab>) -> Result<OpenedTx, OpenError> {
    if opts.backend == BackendChoice::Xdp {
        return open_xdp(opts, slab);
    }
    let mut notices = Vec::new();
    let sock =
        socket::connected_udp(opts.dest, opts.bind, opts.sndbuf).map_err(OpenError::Socket)?;
    // A second handle on the data socket for the ACK core: devices answer the source port.
    let ack_sock = sock.try_clone().map_err(OpenError::Socket)?;
    let gso = opts.gso && socket::gso_supported(sock.as_raw_fd());
    if opts.gso && !gso {
        notices.push(
            "UDP GSO is not available on this socket; sending one datagram per packet".into(),
        );
    }
    let mut choice = opts.backend;
    if matches!(choice, BackendChoice::Auto | BackendChoice::Uring) {
        let attempt = if opts.faults.uring_unavailable {
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "io_uring disabled (forced by test fault injection)",
            ))
        } else {
            open_uring(
                sock.try_clone().map_err(OpenError::Socket)?,
                gso,
                opts,
                slab,
            )
        };
        match attempt {
            Ok(b) => return Ok((b, notices, ack_sock)),
            Err(e) if choice == BackendChoice::Auto => {
                notices.push(format!(
                    "io_uring is unavailable ({e}); auto falls back to sendmmsg/send"
                ));
                choice = BackendChoice::Mmsg;
            }
            Err(e) => {
                return Err(OpenError::Unavailable {
                    backend: "uring",
                    reason: e.to_string(),
                })
            }
        }
    }
    let mmsg = choice == BackendChoice::Mmsg;
    let backend = if opts.faults.any_syscall_fault() {
        let f = opts.faults;
        readiness_backend(
            mmsg,
            sock,
            gso,
            seam::Faulty::new(seam::RealSys, f.plan, f.gso_fail_at),
        )
    } else {
        readiness_backend(mmsg, sock, gso, seam::RealSys)
    };
    Ok((backend, notices, ack_sock))
}

/// The `sendmmsg` backend (where the OS has the call) or the `send` one, over the syscall seam
/// `sys`.
fn readiness_backend<S: seam::SendSys + 'static>(
    mmsg: bool,
    sock: std::net::UdpSocket,
    gso: bool,
    sys: S,
) -> Box<dyn TxBackend> {
    #[cfg(ringshot_mmsg)]
    if mmsg {
        return Box::new(mmsg::MmsgBackend::new(sock, gso, sys));
    }
    let _ = mmsg;
    Box::new(send::SendBackend::new(sock, gso, sys))
}

#[cfg(ringshot_uring)]
fn open_uring(
    sock: std::net::UdpSocket,
    gso: bool,
    opts: &TxOpts,
    slab: &Arc<Slab>,
) -> io::Result<Box<dyn TxBackend>> {
    let b = crate::sys::linux::uring::UringBackend::new(sock, gso, opts, slab.clone())?;
    Ok(Box::new(b))
}

#[cfg(not(ringshot_uring))]
fn open_uring(
    _sock: std::net::UdpSocket,
    _gso: bool,
    _opts: &TxOpts,
    _slab: &Arc<Slab>,
) -> io::Result<Box<dyn TxBackend>> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "io_uring is Linux-only",
    ))
}

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

/// Counts `err` (by its kind, named by [`crate::sys::errno_name`]) and decides what to do.
/// `with_gso` says whether the failed call carried a UDP_SEGMENT cmsg.
pub(crate) fn classify_send_error(
    err: &io::Error,
    with_gso: bool,
    m: &mut TxMetrics,
) -> SendFailure {
    m.record_error(errno::send_errno(err.raw_os_error().unwrap_or(0)));
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

/// The AF_XDP backend, with the options it takes from `opts`.
#[cfg(target_os = "linux")]
fn open_xdp(opts: &TxOpts, slab: &Arc<Slab>) -> Result<OpenedTx, OpenError> {
    let xdp = crate::sys::linux::xdp::XdpOpts {
        dest: opts.dest,
        bind: opts.bind,
        queue: opts.xdp_queue,
        zero_copy: opts.xdp_zero_copy,
        ring: 2048,
        payload: opts.payload,
        plan: opts.faults.plan,
        unavailable: opts.faults.xdp_unavailable,
    };
    crate::sys::linux::xdp::open(&xdp, slab).map_err(|reason| OpenError::Unavailable {
        backend: "xdp",
        reason,
    })
}

#[cfg(not(target_os = "linux"))]
fn open_xdp(_opts: &TxOpts, _slab: &Arc<Slab>) -> Result<OpenedTx, OpenError> {
    Err(OpenError::Unavailable {
        backend: "xdp",
        reason: "AF_XDP is Linux-only".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
