//! Raw send loops: the bare syscall each backend is built on, with the same batch and nothing
//! else (no slab, no sequence numbers, no metrics), so a benchmark can show a backend's own
//! overhead as the ratio of its rate to its raw loop's.
//!
//! Every loop sends the same `payload`-byte buffer over a connected UDP socket until `duration`
//! has passed, checking the clock once per call (one call carries a whole batch).

use std::io;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// The syscall a raw loop repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RawSyscall {
    /// One `sendmsg` per datagram (the `send` backend's call).
    Sendmsg,
    /// One `sendmmsg` of `batch` datagrams (the `mmsg` backend's call).
    Sendmmsg,
    /// `batch` IORING_OP_SENDMSG entries per `io_uring_enter`, waiting for all (the `uring`
    /// backend's op).
    UringSendmsg,
    /// `batch` datagrams as UDP_SEGMENT super-packets, one `sendmsg` each: as many as one may
    /// carry, then the rest, as they go from the engine (the GSO path of every backend). At
    /// 1472 B the engine's default GSO batch of 88 goes as 44 + 44; a batch of 64 would go as
    /// 44 + 20.
    GsoSendmsg,
}

/// What a raw loop did.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct RawResult {
    /// Datagrams the kernel accepted.
    pub datagrams: u64,
    /// Syscalls made.
    pub calls: u64,
    /// Calls (or completions) that failed, e.g. ENOBUFS.
    pub errors: u64,
    pub seconds: f64,
}

/// Segments per GSO send of `payload`-byte datagrams at batch `batch`: bounded by the batch,
/// by the kernel's segment limit and by one IP datagram's 65,507 bytes of UDP payload.
pub fn gso_segments(payload: usize, batch: usize) -> usize {
    batch.min(super::gso_segments_max(payload)).max(1)
}

/// The super-packets one batch of `batch` datagrams of `payload` bytes is sent as: full ones of
/// [`gso_segments`], then the remainder.
pub fn gso_batch_plan(payload: usize, batch: usize) -> Vec<usize> {
    let full = gso_segments(payload, batch);
    let mut plan = vec![full; batch / full];
    if !batch.is_multiple_of(full) {
        plan.push(batch % full);
    }
    plan
}

/// Runs the raw loop `kind` on connected socket `sock` for `duration`.
pub fn raw_send_loop(
    kind: RawSyscall,
    sock: &UdpSocket,
    payload: usize,
    batch: usize,
    duration: Duration,
) -> io::Result<RawResult> {
    let batch = batch.clamp(1, 1024);
    match kind {
        RawSyscall::Sendmsg => sendmsg_loop(sock, payload, 1, false, duration),
        RawSyscall::GsoSendmsg => sendmsg_loop(sock, payload, batch, true, duration),
        RawSyscall::Sendmmsg => sendmmsg_loop(sock, payload, batch, duration),
        RawSyscall::UringSendmsg => uring_loop(sock, payload, batch, duration),
    }
}

/// A `msghdr` for one connected send of `iov`, with `control` as its cmsg buffer if any.
fn msghdr(iov: &mut libc::iovec, control: Option<&mut [u8]>) -> libc::msghdr {
    // SAFETY: msghdr is plain old data; all-zero is a valid empty header.
    let mut h: libc::msghdr = unsafe { std::mem::zeroed() };
    h.msg_iov = iov;
    h.msg_iovlen = 1;
    if let Some(c) = control {
        h.msg_control = c.as_mut_ptr().cast();
        h.msg_controllen = c.len() as _;
    }
    h
}

/// Fills `buf` with one UDP_SEGMENT cmsg of `size` and returns its length.
fn gso_cmsg(buf: &mut [u8; 64], size: u16) -> usize {
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<u16>() as u32) } as usize;
    assert!(space <= buf.len(), "cmsg space");
    let mut iov = libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    };
    let h = msghdr(&mut iov, Some(&mut buf[..space]));
    // SAFETY: `h` points at `buf[..space]`, which is large enough for one u16 cmsg (checked
    // above), so CMSG_FIRSTHDR is non-null and CMSG_DATA stays inside `buf`.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&h);
        (*c).cmsg_level = libc::SOL_UDP;
        (*c).cmsg_type = libc::UDP_SEGMENT;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<u16>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<u16>(), size);
    }
    space
}

/// `sendmsg` in a loop: one datagram per call, or with `gso` each batch of `batch` datagrams as
/// the super-packets of [`gso_batch_plan`].
fn sendmsg_loop(
    sock: &UdpSocket,
    payload: usize,
    batch: usize,
    gso: bool,
    duration: Duration,
) -> io::Result<RawResult> {
    let plan = if gso {
        gso_batch_plan(payload, batch)
    } else {
        vec![1]
    };
    let mut data = vec![0x5au8; payload * plan[0]];
    let mut cbuf = [0u8; 64];
    let control = if gso {
        let size = u16::try_from(payload)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "payload over 65535"))?;
        Some(gso_cmsg(&mut cbuf, size))
    } else {
        None
    };
    // One header per super-packet size of the plan, built before the clock starts.
    let mut iovs: Vec<libc::iovec> = plan
        .iter()
        .map(|&segs| libc::iovec {
            iov_base: data.as_mut_ptr().cast(),
            iov_len: payload * segs,
        })
        .collect();
    let hs: Vec<libc::msghdr> = iovs
        .iter_mut()
        .map(|iov| msghdr(iov, control.map(|n| &mut cbuf[..n])))
        .collect();
    let fd = sock.as_raw_fd();
    timed(duration, |r| {
        for (h, &segs) in hs.iter().zip(&plan) {
            // SAFETY: `h` points at its iovec, `data` and `cbuf`, all alive and unmoved for the
            // loop (the kernel only reads the control buffer).
            let n = unsafe { libc::sendmsg(fd, h, 0) };
            r.count(n >= 0, segs as u64);
        }
        Ok(())
    })
}

impl RawResult {
    /// One call: `datagrams` more when it succeeded, an error when not.
    fn count(&mut self, ok: bool, datagrams: u64) {
        self.calls += 1;
        if ok {
            self.datagrams += datagrams;
        } else {
            self.errors += 1;
        }
    }
}

/// Runs `round` until `duration` has passed and times it; each round counts into the result.
fn timed(
    duration: Duration,
    mut round: impl FnMut(&mut RawResult) -> io::Result<()>,
) -> io::Result<RawResult> {
    let mut r = RawResult::default();
    let t0 = Instant::now();
    while t0.elapsed() < duration {
        round(&mut r)?;
    }
    r.seconds = t0.elapsed().as_secs_f64();
    Ok(r)
}

/// `batch` iovecs all pointing at `data` (the raw loops send the same bytes again).
fn same_buffer_iovecs(data: &mut [u8], batch: usize) -> Vec<libc::iovec> {
    (0..batch)
        .map(|_| libc::iovec {
            iov_base: data.as_mut_ptr().cast(),
            iov_len: data.len(),
        })
        .collect()
}

fn sendmmsg_loop(
    sock: &UdpSocket,
    payload: usize,
    batch: usize,
    duration: Duration,
) -> io::Result<RawResult> {
    let mut data = vec![0x5au8; payload];
    let mut iovs = same_buffer_iovecs(&mut data, batch);
    let mut msgs: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .map(|iov| libc::mmsghdr {
            msg_hdr: msghdr(iov, None),
            msg_len: 0,
        })
        .collect();
    let fd = sock.as_raw_fd();
    timed(duration, |r| {
        // SAFETY: `msgs` holds `batch` headers pointing at `iovs` and `data`, alive for the loop.
        let n = unsafe { libc::sendmmsg(fd, msgs.as_mut_ptr(), batch as u32, 0) };
        r.count(n >= 0, n.max(0) as u64);
        Ok(())
    })
}

fn uring_loop(
    sock: &UdpSocket,
    payload: usize,
    batch: usize,
    duration: Duration,
) -> io::Result<RawResult> {
    use io_uring::{opcode, types, IoUring};
    let mut ring = IoUring::new((batch as u32).next_power_of_two().max(8))?;
    let mut data = vec![0x5au8; payload];
    let mut iovs = same_buffer_iovecs(&mut data, batch);
    let hdrs: Vec<libc::msghdr> = iovs.iter_mut().map(|iov| msghdr(iov, None)).collect();
    let fd = types::Fd(sock.as_raw_fd());
    timed(duration, |r| {
        {
            let mut sq = ring.submission();
            for h in &hdrs {
                let e = opcode::SendMsg::new(fd, h).build();
                // SAFETY: the entry points at `hdrs`, `iovs` and `data`, which outlive the loop,
                // and every entry is completed (waited for below) before the next round reuses it.
                unsafe { sq.push(&e) }.map_err(|_| io::Error::other("submission queue full"))?;
            }
        }
        ring.submit_and_wait(batch)?;
        r.calls += 1;
        for cqe in ring.completion() {
            // Per completion: an error or one datagram (the call itself is counted above).
            if cqe.result() < 0 {
                r.errors += 1;
            } else {
                r.datagrams += 1;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gso_segments_respect_batch_kernel_limit_and_ip_size() {
        assert_eq!(gso_segments(1472, 64), 44);
        assert_eq!(gso_segments(64, 64), 64);
        assert_eq!(gso_segments(64, 8), 8);
        assert_eq!(gso_segments(65_507, 64), 1);
        assert_eq!(gso_batch_plan(1472, 64), vec![44, 20]);
        assert_eq!(gso_batch_plan(1472, 88), vec![44, 44]);
        assert_eq!(gso_batch_plan(64, 64), vec![64]);
        assert_eq!(gso_batch_plan(64, 200), vec![64, 64, 64, 8]);
    }

    #[test]
    fn every_raw_loop_delivers_to_a_loopback_receiver() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_nonblocking(true).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.connect(rx.local_addr().unwrap()).unwrap();
        for kind in [
            RawSyscall::Sendmsg,
            RawSyscall::Sendmmsg,
            RawSyscall::UringSendmsg,
            RawSyscall::GsoSendmsg,
        ] {
            let r = raw_send_loop(kind, &tx, 200, 8, Duration::from_millis(20)).unwrap();
            assert!(r.datagrams > 0 && r.calls > 0, "{kind:?}: {r:?}");
            let mut buf = [0u8; 2048];
            let mut got = 0;
            while let Ok(n) = rx.recv(&mut buf) {
                assert_eq!(n, 200, "{kind:?}: GSO must arrive cut to the payload size");
                got += 1;
            }
            assert!(got > 0, "{kind:?}: nothing arrived");
        }
    }
}
