//! The platform's part of the capabilities report (`caps`, above): probe what the kernel
//! offers.

use std::net::UdpSocket;

/// What the running kernel offers the send and receive paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct KernelFeatures {
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

/// Opens a UDP socket and small io_uring instances to see what the kernel has.
pub(crate) fn kernel() -> KernelFeatures {
    let mut c = KernelFeatures::default();
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
fn uring(c: &mut KernelFeatures) {
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
fn uring(_: &mut KernelFeatures) {}
