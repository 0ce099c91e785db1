//! The capabilities report, filled in where the answers are: which backends this build has
//! (this floor's `HAS_*` constants) and what the running kernel offers (probed here). The crate
//! root re-exports it as `ringshot::Capabilities`, next to `ringshot::capabilities()`.

use std::net::UdpSocket;

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

/// Lists the backends built in, and opens a UDP socket and small io_uring instances to see what
/// the kernel has.
pub(crate) fn capabilities() -> Capabilities {
    let mut c = Capabilities {
        backends: [
            ("uring", super::HAS_URING),
            ("mmsg", super::HAS_SENDMMSG),
            ("iocp", super::HAS_IOCP),
            ("send", true),
            ("xdp", super::HAS_XDP),
        ]
        .into_iter()
        .filter_map(|(name, built)| built.then_some(name))
        .collect(),
        ..Capabilities::default()
    };
    if let Ok(sock) = UdpSocket::bind("127.0.0.1:0") {
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            c.gso = super::unix::socket::gso_supported(sock.as_raw_fd());
        }
        // USO, the Windows counterpart of GSO, is probed but not used yet: not reported.
        c.gro = super::rx::gro_supported(&sock);
    }
    uring(&mut c);
    c
}

#[cfg(ringshot_uring)]
fn uring(c: &mut Capabilities) {
    use io_uring::{opcode, IoUring, Probe};
    let Ok(ring) = IoUring::new(8) else {
        return;
    };
    c.io_uring = true;
    let mut probe = Probe::new();
    if ring.submitter().register_probe(&mut probe).is_ok() {
        c.uring_opcodes = vec![
            ("SENDMSG", probe.is_supported(opcode::SendMsg::CODE)),
            ("SEND_ZC", probe.is_supported(opcode::SendZc::CODE)),
            ("SENDMSG_ZC", probe.is_supported(opcode::SendMsgZc::CODE)),
            ("RECVMSG", probe.is_supported(opcode::RecvMsg::CODE)),
            (
                "RECVMSG_MULTI",
                probe.is_supported(opcode::RecvMsgMulti::CODE),
            ),
            (
                "PROVIDE_BUFFERS",
                probe.is_supported(opcode::ProvideBuffers::CODE),
            ),
            (
                "ASYNC_CANCEL",
                probe.is_supported(opcode::AsyncCancel::CODE),
            ),
        ];
        c.zero_copy =
            probe.is_supported(opcode::SendZc::CODE) && probe.is_supported(opcode::SendMsgZc::CODE);
    }
    c.sqpoll = IoUring::<io_uring::squeue::Entry, io_uring::cqueue::Entry>::builder()
        .setup_sqpoll(10)
        .build(8)
        .is_ok();
}

#[cfg(not(ringshot_uring))]
fn uring(_: &mut Capabilities) {}
