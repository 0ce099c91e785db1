//! The platform's role in [`crate::caps::capabilities`]: probe what the kernel offers.

use std::net::UdpSocket;

use crate::caps::Capabilities;

/// Opens a UDP socket and small io_uring instances to see what the kernel has.
pub(crate) fn kernel() -> Capabilities {
    let mut c = Capabilities::default();
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
