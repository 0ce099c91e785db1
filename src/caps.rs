//! What this build and this kernel can do: [`capabilities`] for `ringshot --version` and for
//! apps that want to choose a backend before they start one.

#[cfg(feature = "serde")]
use serde::Serialize;

/// The features compiled into this build and those the running kernel offers.
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
pub fn capabilities() -> Capabilities {
    let mut c = crate::sys::probe::kernel();
    c.backends = [
        ("uring", crate::sys::HAS_URING),
        ("mmsg", crate::sys::HAS_SENDMMSG),
        ("iocp", crate::sys::HAS_IOCP),
        ("send", true),
        ("xdp", crate::sys::HAS_XDP),
    ]
    .into_iter()
    .filter_map(|(name, built)| built.then_some(name))
    .collect();
    c
}
