//! The `mmsg` backend: a whole batch per `sendmmsg` call (each message one datagram, or one GSO
//! super-packet), partial sends resumed, EAGAIN answered by waiting for writability. Nothing is
//! dropped.

use std::io;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::time::Instant;

use super::msg::{empty_iovec, empty_msghdr, fill_msghdr, CmsgBuf};
use super::socket::wait_writable;
use super::{classify_send_error, downgrade_gso, injected_gso_failure, SendFailure};
use crate::config::MAX_BATCH;
use crate::stats::TxMetrics;
use crate::sys::{gso_run_len, Slab, TxBackend, TxDesc};

/// Where one message's packets sit in the batch.
#[derive(Debug, Clone, Copy, Default)]
struct MsgSpan {
    first: u32,
    count: u32,
}

/// sendmmsg batches.
#[derive(Debug)]
pub struct MmsgBackend {
    sock: UdpSocket,
    gso: bool,
    gso_fail_at: Option<u64>,
    gso_submits: u64,
    done: Vec<u32>,
    hdrs: Box<[libc::mmsghdr]>,
    iovs: Box<[libc::iovec]>,
    cmsgs: Box<[CmsgBuf]>,
    spans: Box<[MsgSpan]>,
}

// SAFETY: the raw pointers inside the headers point into this struct or the slab and are only
// used on the thread that owns the backend during a call.
unsafe impl Send for MmsgBackend {}

impl MmsgBackend {
    /// `gso` must already be known to work on this socket (see `socket::gso_supported`).
    pub fn new(sock: UdpSocket, gso: bool, gso_fail_at: Option<u64>) -> MmsgBackend {
        let hdr = libc::mmsghdr {
            msg_hdr: empty_msghdr(),
            msg_len: 0,
        };
        MmsgBackend {
            sock,
            gso,
            gso_fail_at,
            gso_submits: 0,
            done: Vec::with_capacity(MAX_BATCH),
            hdrs: vec![hdr; MAX_BATCH].into_boxed_slice(),
            iovs: vec![empty_iovec(); MAX_BATCH].into_boxed_slice(),
            cmsgs: vec![CmsgBuf::default(); MAX_BATCH].into_boxed_slice(),
            spans: vec![MsgSpan::default(); MAX_BATCH].into_boxed_slice(),
        }
    }

    /// Builds messages for `pkts[from..]` starting at message index `msg`; returns the message
    /// count. Packet `i` always uses `iovs[i]`, so rebuilding after a GSO downgrade is in place.
    fn build(&mut self, slab: &Slab, pkts: &[TxDesc], mut from: usize, mut msg: usize) -> usize {
        while from < pkts.len() {
            let n = if self.gso {
                gso_run_len(&pkts[from..])
            } else {
                1
            };
            fill_msghdr(
                &mut self.hdrs[msg].msg_hdr,
                &mut self.iovs[from..from + n],
                &mut self.cmsgs[msg],
                slab,
                &pkts[from..from + n],
                self.gso,
            );
            self.spans[msg] = MsgSpan {
                first: from as u32,
                count: n as u32,
            };
            from += n;
            msg += 1;
        }
        msg
    }
}

impl TxBackend for MmsgBackend {
    fn name(&self) -> &'static str {
        "mmsg"
    }

    fn gso_active(&self) -> bool {
        self.gso
    }

    fn submit(&mut self, slab: &Slab, pkts: &[TxDesc], m: &mut TxMetrics) -> io::Result<usize> {
        let pkts = &pkts[..pkts.len().min(MAX_BATCH - self.done.len())];
        let mut nmsg = self.build(slab, pkts, 0, 0);
        let fd = self.sock.as_raw_fd();
        let mut next = 0; // first message not yet sent
        while next < nmsg {
            let span = self.spans[next];
            let with_gso = self.gso && span.count > 1;
            let res = if with_gso && injected_gso_failure(self.gso_fail_at, &mut self.gso_submits) {
                Err(io::Error::from_raw_os_error(libc::EIO))
            } else {
                let t0 = Instant::now();
                let r = syscall!(sendmmsg(
                    fd,
                    self.hdrs[next..].as_mut_ptr(),
                    (nmsg - next) as libc::c_uint,
                    0
                ));
                let sent_pkts = match r {
                    Ok(k) => self.spans[next..next + k as usize]
                        .iter()
                        .map(|s| s.count as usize)
                        .sum(),
                    Err(_) => 0,
                };
                m.record_submit(t0.elapsed().as_nanos() as u64, sent_pkts);
                r
            };
            match res {
                Ok(k) => {
                    for s in &self.spans[next..next + k as usize] {
                        let run = &pkts[s.first as usize..(s.first + s.count) as usize];
                        m.packets += run.len() as u64;
                        m.bytes += run.iter().map(|p| p.len as u64).sum::<u64>();
                        self.done.extend(run.iter().map(|p| p.slot));
                    }
                    next += k as usize;
                }
                Err(e) => match classify_send_error(&e, with_gso, m) {
                    SendFailure::WaitWritable => {
                        m.syscalls += 1;
                        wait_writable(fd, 100)?;
                    }
                    SendFailure::Retry => {
                        m.resent_packets += span.count as u64;
                        std::thread::yield_now();
                    }
                    SendFailure::DisableGso => {
                        m.resent_packets += span.count as u64;
                        downgrade_gso(&mut self.gso, "mmsg", &e, m);
                        nmsg = self.build(slab, pkts, span.first as usize, next);
                    }
                    SendFailure::Fatal if next > 0 => {
                        return Ok(self.spans[next].first as usize);
                    }
                    SendFailure::Fatal => return Err(e),
                },
            }
        }
        Ok(pkts.len())
    }

    fn reap(
        &mut self,
        _wait: bool,
        done: &mut dyn FnMut(u32),
        _m: &mut TxMetrics,
    ) -> io::Result<()> {
        // The kernel copied every accepted datagram before `sendmmsg` returned.
        for slot in self.done.drain(..) {
            done(slot);
        }
        Ok(())
    }

    fn in_flight(&self) -> usize {
        self.done.len()
    }
}
