//! What a send backend is opened with: plain values the engine builds from the validated
//! configuration ([`TxOpts`]), the backend choice and the test-only fault plan among them, and
//! what opening can fail with ([`OpenError`]). `sys` never sees the configuration itself.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

/// Largest batch accepted (sanity bound on per-batch arrays): the readiness backends size
/// their message arrays by it.
///
/// ```
/// use ringshot::config::MAX_BATCH;
/// use ringshot::{ConfigError, SenderConfig};
///
/// let dest = "127.0.0.1:9000".parse().unwrap();
/// assert!(SenderConfig::builder(dest).batch(MAX_BATCH).build().is_ok());
/// let err = SenderConfig::builder(dest).batch(MAX_BATCH + 1).build().unwrap_err();
/// assert!(matches!(err, ConfigError::BatchTooLarge { max: MAX_BATCH, .. }));
/// ```
pub const MAX_BATCH: usize = 1024;

/// Which send backend to use.
///
/// ```
/// use ringshot::{BackendChoice, SenderConfig};
///
/// let b: BackendChoice = "mmsg".parse().unwrap();
/// assert_eq!((b.name(), b.to_string()), ("mmsg", "mmsg".to_string()));
/// assert!("dpdk".parse::<BackendChoice>().is_err());
///
/// let cfg = SenderConfig::builder("127.0.0.1:9000".parse().unwrap())
///     .backend(BackendChoice::Send)
///     .build()
///     .unwrap();
/// assert_eq!(cfg.backend(), BackendChoice::Send);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// io_uring if it works, else sendmmsg, else one send per packet; the choice is logged once.
    #[default]
    Auto,
    /// io_uring SENDMSG (and SEND_ZC above the threshold). Linux only.
    Uring,
    /// sendmmsg. Linux, FreeBSD, NetBSD.
    Mmsg,
    /// One send per packet (or one sendmsg per GSO super-packet): the deliberate baseline.
    Send,
    /// Overlapped WSASend calls drained from an I/O completion port. Windows only.
    Iocp,
    /// An AF_XDP socket: frames built here (Ethernet, IP, UDP headers) and sent past the
    /// kernel's IP stack, from the slab itself. Linux only; needs CAP_NET_RAW; `auto` never
    /// picks it.
    Xdp,
}

/// How the `xdp` backend binds to its device queue.
///
/// ```
/// use ringshot::config::XdpMode;
///
/// for m in [XdpMode::Auto, XdpMode::Copy, XdpMode::ZeroCopy] {
///     assert_eq!(m.name().parse::<XdpMode>(), Ok(m));
/// }
/// assert_eq!("zc".parse::<XdpMode>(), Ok(XdpMode::ZeroCopy));
/// assert!("fast".parse::<XdpMode>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum XdpMode {
    /// Zero copy where the driver supports it, copy mode otherwise.
    #[default]
    Auto,
    /// Copy mode: works on any device (the kernel copies each frame into a socket buffer).
    Copy,
    /// Zero copy only (the device's driver must support it).
    ZeroCopy,
}

impl XdpMode {
    /// The name used on the command line and in reports (`auto`, `copy`, `zc`).
    pub fn name(self) -> &'static str {
        match self {
            XdpMode::Auto => "auto",
            XdpMode::Copy => "copy",
            XdpMode::ZeroCopy => "zc",
        }
    }

    /// As the backend's options take it: zero copy only, copy only, or either (None).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))] // the backend is Linux's
    pub(crate) fn zero_copy(self) -> Option<bool> {
        match self {
            XdpMode::Auto => None,
            XdpMode::Copy => Some(false),
            XdpMode::ZeroCopy => Some(true),
        }
    }
}

impl FromStr for XdpMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(XdpMode::Auto),
            "copy" => Ok(XdpMode::Copy),
            "zc" => Ok(XdpMode::ZeroCopy),
            _ => Err(format!(
                "unknown xdp mode '{s}' (expected copy, zc or auto)"
            )),
        }
    }
}

impl fmt::Display for XdpMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl BackendChoice {
    /// The name used on the command line and in reports; what `from_str` parses and `Display`
    /// writes.
    ///
    /// ```
    /// use ringshot::BackendChoice;
    ///
    /// let all = [BackendChoice::Auto, BackendChoice::Uring, BackendChoice::Mmsg, BackendChoice::Send, BackendChoice::Iocp, BackendChoice::Xdp];
    /// for b in all {
    ///     assert_eq!(b.name().parse::<BackendChoice>(), Ok(b));
    /// }
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            BackendChoice::Auto => "auto",
            BackendChoice::Uring => "uring",
            BackendChoice::Mmsg => "mmsg",
            BackendChoice::Send => "send",
            BackendChoice::Iocp => "iocp",
            BackendChoice::Xdp => "xdp",
        }
    }
}

impl FromStr for BackendChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(BackendChoice::Auto),
            "uring" => Ok(BackendChoice::Uring),
            "mmsg" => Ok(BackendChoice::Mmsg),
            "send" => Ok(BackendChoice::Send),
            "iocp" => Ok(BackendChoice::Iocp),
            "xdp" => Ok(BackendChoice::Xdp),
            _ => Err(format!(
                "unknown backend '{s}' (expected auto, uring, mmsg, iocp, xdp or send)"
            )),
        }
    }
}

impl fmt::Display for BackendChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Test-only fault injection on the send path. Not part of the stable API.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxFaults {
    /// Make the n-th GSO submission (0-based) fail as the kernel does when the path cannot
    /// segment (EIO), to exercise the permanent downgrade.
    pub gso_fail_at: Option<u64>,
    /// Behave as if io_uring were disabled (as with sysctl kernel.io_uring_disabled=2).
    pub uring_unavailable: bool,
    /// Behave as if AF_XDP sockets were unavailable (no CAP_NET_RAW, or no kernel support).
    pub xdp_unavailable: bool,
    /// A seeded plan of syscall-level faults (see [`crate::fault`]), injected by a wrapper
    /// around the backend's kernel calls.
    pub plan: Option<crate::fault::FaultPlan>,
}

impl TxFaults {
    /// Whether any syscall-level fault is planned (the backend then goes through the faulty
    /// seam). Windows injects only the plan.
    #[cfg(unix)]
    pub(crate) fn any_syscall_fault(&self) -> bool {
        self.plan.is_some() || self.gso_fail_at.is_some()
    }
}

/// Everything a send backend is opened with, as plain values: the engine builds it from the
/// validated configuration (in one place), and every backend, present or future, reads only
/// this. The payload room each packet has is the slab's slot size
/// ([`Slab::slot_size`](crate::sys::Slab::slot_size)), handed over with the slab.
#[derive(Debug, Clone)]
pub(crate) struct TxOpts {
    /// Where the connected socket sends.
    pub dest: SocketAddr,
    /// The local address to bind first (`None`: any, an ephemeral port).
    pub bind: Option<SocketAddr>,
    /// SO_SNDBUF to ask for, bytes.
    pub sndbuf: usize,
    /// Which backend (`Auto`: the best this system has).
    pub backend: BackendChoice,
    /// Whether UDP GSO (Windows: USO) super-packets are wanted; granted where the socket has it.
    pub gso: bool,
    /// Packets the engine hands over per submit (at most [`MAX_BATCH`]): sizes io_uring's
    /// submission queue.
    #[cfg_attr(not(ringshot_uring), allow(dead_code))]
    pub batch: usize,
    /// Datagram size at or above which io_uring sends zero-copy (`None`: never).
    #[cfg_attr(not(ringshot_uring), allow(dead_code))]
    pub zc_threshold: Option<usize>,
    /// io_uring SQPOLL: the kernel thread's idle time before it sleeps (`None`: no SQPOLL).
    #[cfg_attr(not(ringshot_uring), allow(dead_code))]
    pub sqpoll_idle: Option<Duration>,
    /// io_uring SQPOLL: the CPU its kernel thread is pinned to.
    #[cfg_attr(not(ringshot_uring), allow(dead_code))]
    pub sqpoll_cpu: Option<u32>,
    /// io_uring: a batch's sends go unlinked, so a re-sent packet may leave after later ones
    /// (the relaxed send order). The other backends never reorder.
    #[cfg_attr(not(ringshot_uring), allow(dead_code))]
    pub relaxed_order: bool,
    /// AF_XDP: the device queue to bind to.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub xdp_queue: u32,
    /// AF_XDP: `Some(true)` zero copy only, `Some(false)` copy mode only, `None` either.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub xdp_zero_copy: Option<bool>,
    /// Largest UDP payload a packet may have (AF_XDP refuses one its path's MTU cannot carry).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub payload: usize,
    /// Test-only faults on the send path (all off in production).
    pub faults: TxFaults,
}

impl TxOpts {
    /// The options for a stream to `dest` with every other value at its plain default (no
    /// GSO, no zero copy, no SQPOLL, strict order, no faults), for the io_uring tests.
    #[cfg(all(test, ringshot_uring))]
    pub(crate) fn to(dest: SocketAddr) -> TxOpts {
        TxOpts {
            dest,
            bind: None,
            sndbuf: 4 << 20,
            backend: BackendChoice::Auto,
            gso: false,
            batch: 64,
            zc_threshold: None,
            sqpoll_idle: None,
            sqpoll_cpu: None,
            relaxed_order: false,
            xdp_queue: 0,
            xdp_zero_copy: None,
            payload: 1472,
            faults: TxFaults::default(),
        }
    }
}

/// Why a send backend could not be opened.
#[derive(Debug)]
pub(crate) enum OpenError {
    /// Creating or configuring the socket failed.
    Socket(io::Error),
    /// The chosen backend cannot run here.
    Unavailable {
        backend: &'static str,
        reason: String,
    },
}
