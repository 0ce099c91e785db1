//! Everything that talks to the operating system (the ground floor). `unsafe` is allowed here and
//! nowhere else.
//!
//! This file names the roles portable code calls (`open_tx`, `open_rx`, `pin_current`,
//! `errno_name`, ...) and picks each one's implementation by `#[cfg]` on the `mod` and `use`
//! lines: `unix/` and `windows/` offer the same names, `linux/` what only Linux has. The portable
//! contracts live beside it: [`TxBackend`] (`tx.rs`), what a backend is opened with ([`TxOpts`],
//! `opts.rs`), the receive side (`rx.rs`), the packet slab (`slab.rs`). `sys` imports only the
//! vocabulary (`stats`, `wire`, `fault`), never the configuration or the engine.
#![allow(unsafe_code)]

use std::io;

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
mod opts;
pub(crate) mod probe;
// Raw syscall loops the wire benchmark measures each backend against (io_uring, GSO: Linux);
// public as `ringshot::rawloop` with the `rawloop` feature (which `cli` turns on).
#[cfg(all(ringshot_uring, feature = "rawloop"))]
pub mod rawloop;
pub(crate) mod rx;
#[cfg(test)]
pub(crate) mod sim;
pub(crate) mod slab;
mod tx;

// The roles portable code calls. Nothing outside `sys` names a platform module.
pub use opts::{BackendChoice, TxFaults, XdpMode, MAX_BATCH};
pub(crate) use opts::{OpenError, TxOpts};
#[cfg(ringshot_uring)]
pub(crate) use tx::cqe_result;
pub(crate) use tx::hand_back;
pub use tx::{gso_run_len, gso_segments_max, OpenedTx, SendErrorKind, TxBackend, TxDesc};
pub use tx::{GSO_MAX_BYTES, GSO_MAX_SEGMENTS};
#[cfg(unix)]
pub(crate) use unix::ack_rx::{AckRx, AckWake, ACK_BATCH};
#[cfg(unix)]
pub(crate) use unix::errno::{is_transient_recv_errno, send_errno};
#[cfg(unix)]
pub(crate) use unix::open_tx;
#[cfg(unix)]
pub(crate) use unix::socket::bound_udp as open_recv_socket;
#[cfg(all(test, unix))]
pub(crate) use unix::socket::connected_udp;
#[cfg(unix)]
pub(crate) use unix::thread::{
    available_cores, lock_memory, on_core, pin_current, set_fifo as set_rt_priority,
    set_timer_slack_ns, sleep_until, thread_cpu_ns,
};
#[cfg(windows)]
pub(crate) use windows::ack_rx::{AckRx, AckWake, ACK_BATCH};
#[cfg(windows)]
pub(crate) use windows::errno::{is_transient_recv_errno, send_errno};
#[cfg(windows)]
pub(crate) use windows::open_tx;
#[cfg(windows)]
pub(crate) use windows::socket::bound_udp as open_recv_socket;
#[cfg(all(test, windows))]
pub(crate) use windows::socket::connected_udp;
#[cfg(windows)]
pub(crate) use windows::thread::{
    available_cores, lock_memory, on_core, pin_current, set_time_critical as set_rt_priority,
    set_timer_slack_ns, sleep_until, thread_cpu_ns,
};

/// Whether this target has the io_uring send backend.
pub(crate) const HAS_URING: bool = cfg!(ringshot_uring);
/// Whether this target has the sendmmsg send backend.
pub(crate) const HAS_SENDMMSG: bool = cfg!(ringshot_mmsg);
/// Whether this target has the AF_XDP send backend.
pub(crate) const HAS_XDP: bool = cfg!(target_os = "linux");
/// The headroom the AF_XDP backend needs in front of every slab slot for the headers it writes
/// (0 where there is no such backend).
#[cfg(target_os = "linux")]
pub(crate) use linux::xdp::XDP_HEADROOM;
#[cfg(not(target_os = "linux"))]
pub(crate) const XDP_HEADROOM: usize = 0;
/// Whether this target has the overlapped completion-port send backend.
pub(crate) const HAS_IOCP: bool = cfg!(ringshot_iocp);

impl crate::stats::SendErrno {
    /// The kind of an OS error code, as this system numbers them (`Other(code)` for a code the
    /// send path does not expect).
    ///
    /// ```
    /// use ringshot::SendErrno;
    ///
    /// # #[cfg(unix)]
    /// assert_eq!(SendErrno::from_os(libc::ENOBUFS), SendErrno::NoBuffers);
    /// assert_eq!(SendErrno::from_os(99_999), SendErrno::Other(99_999));
    /// ```
    pub fn from_os(code: i32) -> crate::stats::SendErrno {
        send_errno(code)
    }
}

/// The name of an OS error code in error reports: its symbol for the codes the send path
/// expects (`ENOBUFS`, `WSAENOBUFS`), `errno_N` for any other.
///
/// ```
/// use ringshot::os::errno_name;
///
/// # #[cfg(unix)]
/// assert_eq!(errno_name(libc::EAGAIN), "EAGAIN");
/// assert_eq!(errno_name(99_999), "errno_99999");
/// ```
pub fn errno_name(code: i32) -> String {
    send_errno(code).to_string()
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
/// with SIGPIPE ignored; this restores the default action. Nothing happens on Windows, which
/// has no SIGPIPE.
///
/// Call it first thing in `main`, before any thread starts (a library should not: it changes
/// the whole process):
///
/// ```no_run
/// ringshot::os::default_sigpipe(); // first thing in `main`
/// for i in 0.. {
///     println!("{i}"); // `| head -3` now ends the process quietly
/// }
/// ```
pub fn default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: installing SIG_DFL for SIGPIPE runs no code of ours in signal context; it is done
    // once at start-up before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Asks for a receive buffer of `bytes` on `sock` (forcing past the system limit where the OS
/// allows it) and returns the size the OS reports afterwards (0 if it cannot be read); best
/// effort. Linux reports twice
/// the size granted (the kernel's bookkeeping overhead); without root it caps the size at
/// `net.core.rmem_max`.
///
/// ```
/// let sock = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// let got = ringshot::os::set_recv_buffer(&sock, 1 << 20);
/// assert!(got > 0);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn set_recv_buffer(sock: &std::net::UdpSocket, bytes: usize) -> usize {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        unix::socket::set_recv_buffer(sock.as_raw_fd(), bytes)
    }
    #[cfg(windows)]
    windows::socket::set_recv_buffer(sock, bytes)
}
