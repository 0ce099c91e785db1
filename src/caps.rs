//! What this build and this kernel can do: [`capabilities`] for `ringshot --version` and for
//! apps that want to choose a backend before they start one.

#[cfg(feature = "serde")]
use serde::Serialize;

/// The features compiled into this build and those the running kernel offers.
///
/// ```
/// let caps = ringshot::capabilities();
/// assert!(caps.backends.contains(&"send")); // always built
/// println!("io_uring: {}, GSO: {}, zero copy: {}", caps.io_uring, caps.gso, caps.zero_copy);
/// for (opcode, present) in &caps.uring_opcodes {
///     println!("  {opcode}: {}", if *present { "yes" } else { "no" });
/// }
/// // Zero-copy sends are io_uring's: never offered without it.
/// assert!(caps.io_uring || !caps.zero_copy);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
#[non_exhaustive]
pub struct Capabilities {
    /// Backends compiled in: `uring` (Linux only), `mmsg`, `iocp` (Windows), `send`, `xdp`
    /// (Linux only; it also needs CAP_NET_RAW at run time).
    pub backends: Vec<&'static str>,
    /// An io_uring could be set up.
    pub io_uring: bool,
    /// The io_uring opcodes the engine uses, by name, and whether the kernel has each.
    pub uring_opcodes: Vec<(&'static str, bool)>,
    /// UDP GSO (UDP_SEGMENT) on a UDP socket.
    pub gso: bool,
    /// UDP GRO (UDP_GRO) on a UDP socket.
    pub gro: bool,
    /// io_uring zero-copy sends (SEND_ZC and SENDMSG_ZC).
    pub zero_copy: bool,
    /// An io_uring with a kernel SQPOLL thread could be set up by this process.
    pub sqpoll: bool,
}

/// Probes the kernel (a few sockets and small rings, opened and closed at once).
///
/// ```
/// use ringshot::{capabilities, BackendChoice, SenderConfig};
///
/// let backend = if capabilities().io_uring { BackendChoice::Uring } else { BackendChoice::Send };
/// let cfg = SenderConfig::builder("127.0.0.1:9000".parse().unwrap())
///     .backend(backend)
///     .gso(capabilities().gso)
///     .build();
/// assert!(cfg.is_ok());
/// ```
pub fn capabilities() -> Capabilities {
    let k = crate::sys::probe::kernel();
    let backends = [
        ("uring", crate::sys::HAS_URING),
        ("mmsg", crate::sys::HAS_SENDMMSG),
        ("iocp", crate::sys::HAS_IOCP),
        ("send", true),
        ("xdp", crate::sys::HAS_XDP),
    ]
    .into_iter()
    .filter_map(|(name, built)| built.then_some(name))
    .collect();
    Capabilities {
        backends,
        io_uring: k.io_uring,
        uring_opcodes: k.uring_opcodes,
        gso: k.gso,
        gro: k.gro,
        zero_copy: k.zero_copy,
        sqpoll: k.sqpoll,
    }
}
