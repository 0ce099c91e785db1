//! Everything that talks to the operating system. `unsafe` is allowed here and nowhere else.
//!
//! The contract between the portable engine and the OS backends is [`TxBackend`]. It serves both
//! I/O models: readiness-style backends (`send`, `sendmmsg`) finish a submission before `submit`
//! returns, completion-style backends (io_uring; Windows overlapped I/O) keep the packet buffers
//! until the kernel reports them done through `reap`. Slot ownership stays in the engine: a backend
//! only sees slot indices and reads the slab through raw pointers while the engine holds the
//! tokens.
#![allow(unsafe_code)]

use std::io;

use crate::stats::TxMetrics;

/// Turns a libc call's `-1`/errno convention into `io::Result`.
#[cfg(unix)]
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        #[allow(unused_unsafe)]
        // SAFETY: each call site passes pointers to live, correctly sized buffers it owns.
        let res = unsafe { libc::$fn($($arg),*) };
        if res == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}

// One module per platform family, chosen here and only here. What each target offers beyond its
// family (sendmmsg, GSO, io_uring, the error queue, ...) is a `ringshot_*` cfg set by build.rs.
#[cfg(target_os = "linux")]
mod linux;
#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod windows;

pub(crate) mod egress;
pub(crate) mod probe;
// Raw syscall loops the wire benchmark measures each backend against (io_uring, GSO: Linux);
// only the benchmark suites (the `cli` feature) use them.
#[cfg(all(ringshot_uring, feature = "cli"))]
pub(crate) mod rawloop;
pub(crate) mod rx;
#[cfg(test)]
pub(crate) mod sim;
pub(crate) mod slab;

// The roles portable code calls. Nothing outside `sys` names a platform module.
#[cfg(unix)]
pub(crate) use unix::ackrx::{AckRx, AckWake, ACK_BATCH};
#[cfg(unix)]
pub(crate) use unix::is_transient_recv_errno;
#[cfg(unix)]
pub(crate) use unix::socket::bound_udp as open_recv_socket;
#[cfg(all(test, unix))]
pub(crate) use unix::socket::connected_udp;
#[cfg(unix)]
pub(crate) use unix::thread::{
    available_cores, lock_memory, pin_current, set_fifo as set_rt_priority, set_timer_slack_ns,
    sleep_until, thread_cpu_ns,
};
#[cfg(windows)]
pub(crate) use windows::rx::{AckRx, AckWake, ACK_BATCH};
#[cfg(windows)]
pub(crate) use windows::socket::bound_udp as open_recv_socket;
#[cfg(all(test, windows))]
pub(crate) use windows::socket::connected_udp;
#[cfg(windows)]
pub(crate) use windows::thread::{
    available_cores, lock_memory, pin_current, set_time_critical as set_rt_priority,
    set_timer_slack_ns, sleep_until, thread_cpu_ns,
};
#[cfg(windows)]
pub(crate) use windows::{is_transient_recv_errno, WSA_ERROR_NAMES};

/// Whether this target has the io_uring send backend.
pub(crate) const HAS_URING: bool = cfg!(ringshot_uring);
/// Whether this target has the sendmmsg send backend.
pub(crate) const HAS_SENDMMSG: bool = cfg!(ringshot_mmsg);
/// Whether this target has the AF_XDP send backend.
pub(crate) const HAS_XDP: bool = cfg!(target_os = "linux");
/// The AF_XDP backend (Linux): its options, its opening, and the headroom it needs in front of
/// every slab slot for the headers it writes.
#[cfg(target_os = "linux")]
pub use linux::xdp::{open as open_xdp, XdpOpts, XDP_HEADROOM};
/// Whether this target has the overlapped completion-port send backend.
pub(crate) const HAS_IOCP: bool = cfg!(ringshot_iocp);

/// What a failed send means, whatever the OS: each backend turns its OS's error codes into one
/// of these at the syscall boundary and reacts to the kind, never to a raw code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendErrorKind {
    /// The socket buffer is full: wait (bounded) until writable, then resend.
    WouldBlock,
    /// The queueing layer below the socket is full: resend later.
    NoBuffers,
    /// An ICMP port unreachable came back for an earlier datagram: resend later.
    Refused,
    /// A signal cut the call short before anything was sent.
    Interrupted,
    /// The path cannot segment a GSO super-packet: send one datagram per packet from now on.
    #[cfg_attr(windows, allow(dead_code))] // Windows sends no USO super-packets yet
    GsoRefused,
    /// Anything else ends the stream.
    Other,
}

pub(crate) use egress::EgressWatch;
pub use egress::KernelSendCounts;
pub use slab::{Slab, SlotToken};

/// Opens a separate ACK socket bound to `addr` (when the data socket is not the one the device
/// answers). With the data socket's clone from [`open_tx`] it feeds [`AckRx`].
pub(crate) fn open_ack_socket(addr: std::net::SocketAddr) -> io::Result<std::net::UdpSocket> {
    open_recv_socket(addr, 0)
}

/// For command-line programs: a write to a closed pipe (`ringshot ... | head`) ends the process
/// quietly, as it does for C programs, instead of making `println!` panic. Rust programs start
/// with SIGPIPE ignored; this restores the default action.
pub fn default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: installing SIG_DFL for SIGPIPE runs no code of ours in signal context; it is done
    // once at start-up before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Asks for a receive buffer of `bytes` on `sock` (forcing past the system limit where the OS
/// allows it) and returns the size the OS reports afterwards; best effort.
pub fn set_recv_buffer(sock: &std::net::UdpSocket, bytes: usize) -> usize {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        unix::socket::set_recv_buffer(sock.as_raw_fd(), bytes)
    }
    #[cfg(windows)]
    windows::socket::set_recv_buffer(sock, bytes)
}

/// One packet for a backend: the slot holding it and its UDP payload length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxDesc {
    pub slot: u32,
    pub len: u32,
}

/// The contract between the engine and an OS send backend.
pub trait TxBackend: Send {
    /// Short name used in reports: `uring`, `mmsg` or `send`.
    fn name(&self) -> &'static str;

    /// Whether UDP GSO is in use now (it can be switched off for good after a kernel refusal).
    fn gso_active(&self) -> bool;

    /// Hands a prefix of `pkts` to the kernel and returns how many were accepted (0 when the
    /// backend is saturated or a recoverable error stopped it: reap with `wait`, then call
    /// again). Packets are sent in order and none is dropped: recoverable errors (EAGAIN,
    /// ENOBUFS, ECONNREFUSED, a GSO refusal) are counted and the packets kept for the next call.
    /// Never blocks for long (a wait for writability is bounded to a few milliseconds) and never
    /// loops on an error: the engine decides whether to call again, so it can honour its stop
    /// flag and stall timeout. Every submit syscall is timed into `m`.
    fn submit(&mut self, slab: &Slab, pkts: &[TxDesc], m: &mut TxMetrics) -> io::Result<usize>;

    /// Calls `done` for every slot the kernel has finished with (for SEND_ZC: after the
    /// notification). With `wait`, blocks until at least one slot is done if any is in flight,
    /// but never longer than a few milliseconds: the caller loops, checking stop and timeouts.
    fn reap(&mut self, wait: bool, done: &mut dyn FnMut(u32), m: &mut TxMetrics) -> io::Result<()>;

    /// Slots accepted by `submit` and not yet reported by `reap`.
    fn in_flight(&self) -> usize;

    /// Hands the kernel again, now, what the backend holds for a re-send (packets a
    /// recoverable error sent back after `submit` accepted them). The engine calls it while it
    /// waits for the flow-control window: those packets are inside the window already, so they
    /// must not wait for it. Backends that re-send inside `submit` hold nothing: a no-op.
    fn flush(&mut self, m: &mut TxMetrics) -> io::Result<()> {
        let _ = m;
        Ok(())
    }

    /// Ends the stream early: cancels every request still in flight and waits, at most
    /// `timeout`, for each one's final completion (for zero-copy sends, the notification),
    /// reporting every finished slot through `done`. Returns how many slots the kernel still
    /// held when the time ran out (0 on a clean end); a backend that returns more than 0 keeps
    /// the slab alive for good rather than free memory the kernel may still read.
    ///
    /// The books: once `cancel` returns, every packet `submit` ever accepted is counted exactly
    /// once, in `packets` if it left, else in `failed_packets` (a fatal error, a re-send the end
    /// overtook, a request cancelled or still held by the kernel when the time ran out). The
    /// engine counts only the packets no `submit` accepted.
    fn cancel(
        &mut self,
        timeout: std::time::Duration,
        done: &mut dyn FnMut(u32),
        m: &mut TxMetrics,
    ) -> usize {
        // Readiness backends finish every send inside `submit` and count it there: nothing to
        // cancel, nothing left to count.
        let _ = timeout;
        let _ = self.reap(false, done, m);
        self.in_flight()
    }
}

/// A backend ready to send, what set-up had to say, and a second handle on its socket (for the
/// ACK core: devices answer the source port).
pub type OpenedTx = (Box<dyn TxBackend>, Vec<String>, std::net::UdpSocket);

/// Opens the socket and the backend `cfg` asks for. On Windows `auto` is the overlapped
/// completion-port backend (`iocp`).
#[cfg(windows)]
pub fn open_tx(
    cfg: &crate::SenderConfig,
    slab: &std::sync::Arc<Slab>,
) -> Result<OpenedTx, crate::EngineError> {
    windows::open_tx(cfg, slab)
}

/// Opens the socket and the backend `cfg` asks for. `auto` tries io_uring, then sendmmsg, then
/// plain send; every fallback or refused feature comes back as a one-line notice.
#[cfg(unix)]
pub fn open_tx(
    cfg: &crate::SenderConfig,
    slab: &std::sync::Arc<Slab>,
) -> Result<OpenedTx, crate::EngineError> {
    use crate::config::BackendChoice;
    use crate::EngineError;
    use std::os::fd::AsRawFd;

    let mut notices = Vec::new();
    let sock =
        unix::socket::connected_udp(cfg.dest, cfg.bind, cfg.sndbuf).map_err(EngineError::Socket)?;
    // A second handle on the data socket for the ACK core: devices answer the source port.
    let ack_sock = sock.try_clone().map_err(EngineError::Socket)?;
    let gso = cfg.gso && unix::socket::gso_supported(sock.as_raw_fd());
    if cfg.gso && !gso {
        notices.push(
            "UDP GSO is not available on this socket; sending one datagram per packet".into(),
        );
    }
    let mut choice = cfg.backend;
    if matches!(choice, BackendChoice::Auto | BackendChoice::Uring) {
        let attempt = if cfg.faults.uring_unavailable {
            Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "io_uring disabled (forced by test fault injection)",
            ))
        } else {
            open_uring(
                sock.try_clone().map_err(EngineError::Socket)?,
                gso,
                cfg,
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
                return Err(EngineError::BackendUnavailable {
                    backend: "uring",
                    reason: e.to_string(),
                })
            }
        }
    }
    let mmsg = choice == BackendChoice::Mmsg;
    let backend = match (cfg.faults.plan, cfg.faults.gso_fail_at) {
        (None, None) => readiness_backend(mmsg, sock, gso, unix::sendsys::RealSys),
        (plan, fail_at) => {
            let sys = unix::sendsys::Faulty::new(unix::sendsys::RealSys, plan, fail_at);
            readiness_backend(mmsg, sock, gso, sys)
        }
    };
    Ok((backend, notices, ack_sock))
}

/// The `sendmmsg` backend (where the OS has the call) or the `send` one, over the syscall seam
/// `sys`.
#[cfg(unix)]
fn readiness_backend<S: unix::sendsys::SendSys + 'static>(
    mmsg: bool,
    sock: std::net::UdpSocket,
    gso: bool,
    sys: S,
) -> Box<dyn TxBackend> {
    #[cfg(ringshot_mmsg)]
    if mmsg {
        return Box::new(unix::mmsg::MmsgBackend::new(sock, gso, sys));
    }
    let _ = mmsg;
    Box::new(unix::send::SendBackend::new(sock, gso, sys))
}

#[cfg(ringshot_uring)]
fn open_uring(
    sock: std::net::UdpSocket,
    gso: bool,
    cfg: &crate::SenderConfig,
    slab: &std::sync::Arc<Slab>,
) -> std::io::Result<Box<dyn TxBackend>> {
    Ok(Box::new(linux::uring::UringBackend::new(
        sock,
        gso,
        cfg,
        slab.clone(),
    )?))
}

#[cfg(all(unix, not(ringshot_uring)))]
fn open_uring(
    _sock: std::net::UdpSocket,
    _gso: bool,
    _cfg: &crate::SenderConfig,
    _slab: &std::sync::Arc<Slab>,
) -> std::io::Result<Box<dyn TxBackend>> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "io_uring is Linux-only",
    ))
}

/// Readiness backends (`send`, `mmsg`, the Windows `send`): the kernel copied every accepted
/// datagram before the call returned, so `reap` hands every listed slot back at once.
pub(crate) fn hand_back(finished: &mut Vec<u32>, done: &mut dyn FnMut(u32)) {
    finished.drain(..).for_each(done);
}

/// Largest number of segments the kernel takes in one UDP GSO send.
pub const GSO_MAX_SEGMENTS: usize = 64;
/// Largest UDP payload of one GSO super-packet.
pub const GSO_MAX_BYTES: usize = 65_507;

/// Most segments one GSO super-packet of `payload`-byte datagrams may carry: 64, fewer where 64
/// would pass 65,507 bytes (44 at 1472 B), at least 1.
pub fn gso_segments_max(payload: usize) -> usize {
    GSO_MAX_SEGMENTS.min(GSO_MAX_BYTES / payload.max(1)).max(1)
}

/// Length of the run of packets at the start of `pkts` that can go out as one GSO super-packet:
/// all the same size except the last, which may be shorter; at most 64 segments and 65,507 bytes.
pub fn gso_run_len(pkts: &[TxDesc]) -> usize {
    let Some(first) = pkts.first() else { return 0 };
    let seg = first.len as usize;
    if seg == 0 {
        return 1;
    }
    let max = gso_segments_max(seg);
    let mut n = 1;
    while n < pkts.len() && n < max {
        let len = pkts[n].len as usize;
        if len > seg || len == 0 {
            break;
        }
        n += 1;
        if len < seg {
            break; // a shorter segment must be the last one
        }
    }
    n
}

/// The one place a negative io_uring CQE result becomes an `io::Error`.
#[cfg(ringshot_uring)]
pub fn cqe_result(res: i32) -> io::Result<u32> {
    if res < 0 {
        Err(io::Error::from_raw_os_error(-res))
    } else {
        Ok(res as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(lens: &[u32]) -> Vec<TxDesc> {
        lens.iter()
            .enumerate()
            .map(|(i, &len)| TxDesc {
                slot: i as u32,
                len,
            })
            .collect()
    }

    #[test]
    fn gso_runs() {
        assert_eq!(gso_run_len(&d(&[])), 0);
        assert_eq!(gso_run_len(&d(&[100])), 1);
        assert_eq!(gso_run_len(&d(&[100, 100, 100])), 3);
        assert_eq!(gso_run_len(&d(&[100, 100, 50, 100])), 3);
        assert_eq!(gso_run_len(&d(&[100, 200])), 1);
        assert_eq!(gso_run_len(&d(&[1472; 100])), 44);
        assert_eq!(gso_run_len(&d(&[64; 100])), 64);
        assert_eq!(gso_run_len(&d(&[65_507, 65_507])), 1);
        assert_eq!(gso_segments_max(1472), 44);
        assert_eq!(gso_segments_max(1500), 43);
        assert_eq!(gso_segments_max(64), 64);
        assert_eq!(gso_segments_max(65_507), 1);
        assert_eq!(gso_segments_max(0), 64);
    }

    #[cfg(ringshot_uring)]
    #[test]
    fn negative_cqe_is_errno() {
        assert_eq!(cqe_result(5).unwrap(), 5);
        assert_eq!(
            cqe_result(-libc::ENOBUFS).unwrap_err().raw_os_error(),
            Some(libc::ENOBUFS)
        );
    }
}
