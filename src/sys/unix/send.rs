//! The `send` backend: one `send` per packet (or one `sendmsg` per GSO super-packet). This is the
//! deliberate baseline, a syscall per packet, that the other backends are measured against.

use std::io;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::time::Instant;

use super::msg::{empty_iovec, empty_msghdr, fill_msghdr, CmsgBuf};
use super::socket::wait_writable;
use super::{classify_send_error, downgrade_gso, injected_gso_failure, SendFailure};
use crate::config::MAX_BATCH;
use crate::stats::TxMetrics;
use crate::sys::{gso_run_len, Slab, TxBackend, TxDesc, GSO_MAX_SEGMENTS};

/// One syscall per packet (or per GSO super-packet).
#[derive(Debug)]
pub struct SendBackend {
    sock: UdpSocket,
    gso: bool,
    gso_fail_at: Option<u64>,
    gso_submits: u64,
    done: Vec<u32>,
    hdr: libc::msghdr,
    iovs: Box<[libc::iovec]>,
    cmsg: CmsgBuf,
}

// SAFETY: the raw pointers inside `hdr`/`iovs` point into this struct or the slab and are only
// used on the thread that owns the backend during a call.
unsafe impl Send for SendBackend {}

impl SendBackend {
    /// `gso` must already be known to work on this socket (see `socket::gso_supported`).
    pub fn new(sock: UdpSocket, gso: bool, gso_fail_at: Option<u64>) -> SendBackend {
        SendBackend {
            sock,
            gso,
            gso_fail_at,
            gso_submits: 0,
            done: Vec::with_capacity(MAX_BATCH),
            hdr: empty_msghdr(),
            iovs: vec![empty_iovec(); GSO_MAX_SEGMENTS].into_boxed_slice(),
            cmsg: CmsgBuf::default(),
        }
    }

    fn send_run(&mut self, slab: &Slab, run: &[TxDesc], gso: bool) -> io::Result<()> {
        let fd = self.sock.as_raw_fd();
        if gso {
            if injected_gso_failure(self.gso_fail_at, &mut self.gso_submits) {
                return Err(io::Error::from_raw_os_error(libc::EIO));
            }
            fill_msghdr(
                &mut self.hdr,
                &mut self.iovs,
                &mut self.cmsg,
                slab,
                run,
                true,
            );
            syscall!(sendmsg(fd, &self.hdr, 0)).map(drop)
        } else {
            let p = run[0];
            syscall!(send(fd, slab.slot_ptr(p.slot).cast(), p.len as usize, 0)).map(drop)
        }
    }
}

impl TxBackend for SendBackend {
    fn name(&self) -> &'static str {
        "send"
    }

    fn gso_active(&self) -> bool {
        self.gso
    }

    fn submit(&mut self, slab: &Slab, pkts: &[TxDesc], m: &mut TxMetrics) -> io::Result<usize> {
        let pkts = &pkts[..pkts.len().min(MAX_BATCH - self.done.len())];
        let mut i = 0;
        while i < pkts.len() {
            let n = if self.gso { gso_run_len(&pkts[i..]) } else { 1 };
            let run = &pkts[i..i + n];
            let with_gso = self.gso && n > 1;
            let t0 = Instant::now();
            let res = self.send_run(slab, run, with_gso);
            m.record_submit(
                t0.elapsed().as_nanos() as u64,
                if res.is_ok() { n } else { 0 },
            );
            match res {
                Ok(()) => {
                    m.packets += n as u64;
                    m.bytes += run.iter().map(|p| p.len as u64).sum::<u64>();
                    self.done.extend(run.iter().map(|p| p.slot));
                    i += n;
                }
                Err(e) => match classify_send_error(&e, with_gso, m) {
                    SendFailure::WaitWritable => {
                        m.syscalls += 1;
                        wait_writable(self.sock.as_raw_fd(), 100)?;
                    }
                    SendFailure::Retry => {
                        m.resent_packets += n as u64;
                        std::thread::yield_now();
                    }
                    SendFailure::DisableGso => {
                        m.resent_packets += n as u64;
                        downgrade_gso(&mut self.gso, "send", &e, m);
                    }
                    SendFailure::Fatal if i > 0 => return Ok(i),
                    SendFailure::Fatal => return Err(e),
                },
            }
        }
        Ok(i)
    }

    fn reap(
        &mut self,
        _wait: bool,
        done: &mut dyn FnMut(u32),
        _m: &mut TxMetrics,
    ) -> io::Result<()> {
        // The kernel copied every accepted datagram before `send` returned.
        for slot in self.done.drain(..) {
            done(slot);
        }
        Ok(())
    }

    fn in_flight(&self) -> usize {
        self.done.len()
    }
}
