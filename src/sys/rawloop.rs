//! Raw send loops: the bare syscall each backend is built on, with the same batch and nothing
//! else (no slab, no sequence numbers, no metrics), so a benchmark can show a backend's own
//! overhead as the ratio of its rate to its raw loop's.
//!
//! Every loop sends the same `payload`-byte buffer over a connected UDP socket until `duration`
//! has passed, checking the clock once per call (one call carries a whole batch).

use std::io;
use std::net::UdpSocket;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

/// The syscall a raw loop repeats.
///
/// ```
/// use ringshot::rawloop::RawSyscall;
///
/// // Serialised as the wire benchmark's JSON names them.
/// assert_eq!(serde_json::to_string(&RawSyscall::GsoSendmmsg).unwrap(), "\"gso_sendmmsg\"");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RawSyscall {
    /// One `sendmsg` per datagram (the `send` backend's call).
    Sendmsg,
    /// One `sendmmsg` of `batch` datagrams (the `mmsg` backend's call).
    Sendmmsg,
    /// `batch` IORING_OP_SEND entries per `io_uring_enter`, waiting for all: the `uring`
    /// backend's submission without the engine (the socket as fixed file 0, a deferred-task-work
    /// ring where the kernel has one, and the entries linked in order, so that a failed send
    /// cancels the ones after it instead of letting them overtake it).
    UringSend,
    /// The same entries unlinked: what io_uring costs without the order guarantee. Not a
    /// backend's loop; it shows what the links cost.
    UringSendUnlinked,
    /// `batch` datagrams as UDP_SEGMENT super-packets, one `sendmsg` each: as many as one may
    /// carry, then the rest, as they go from the engine (the `send` backend with GSO). At
    /// 1472 B the engine's default GSO batch of 88 goes as 44 + 44; a batch of 64 would go as
    /// 44 + 20.
    GsoSendmsg,
    /// The same super-packets in one `sendmmsg` (the `mmsg` backend with GSO).
    GsoSendmmsg,
    /// The same super-packets as one IORING_OP_SENDMSG entry each, linked, all in one
    /// `io_uring_enter`, waiting for all, on a ring set up as [`RawSyscall::UringSend`]'s (the
    /// `uring` backend with GSO).
    UringGsoSendmsg,
    /// An AF_XDP socket in copy mode on the device the route to the socket's peer leaves by:
    /// frames (headers and payload) written once into a UMEM of 4096 × 2048 B chunks, rings of
    /// 2048, and per round: the completions taken back, up to `batch` frames pushed onto the TX
    /// ring, one wake-up (`sendto`) when the kernel asks for it (the `xdp` backend's calls,
    /// without the engine). Counted: frames completed.
    XdpTx,
}

impl RawSyscall {
    /// Every raw loop, in the order the benchmarks list them.
    ///
    /// ```
    /// use ringshot::rawloop::RawSyscall;
    ///
    /// assert_eq!(RawSyscall::ALL.first(), Some(&RawSyscall::Sendmsg));
    /// assert_eq!(RawSyscall::ALL.iter().filter(|k| k.gso()).count(), 3);
    /// ```
    pub const ALL: [RawSyscall; 8] = [
        RawSyscall::Sendmsg,
        RawSyscall::Sendmmsg,
        RawSyscall::UringSend,
        RawSyscall::UringSendUnlinked,
        RawSyscall::GsoSendmsg,
        RawSyscall::GsoSendmmsg,
        RawSyscall::UringGsoSendmsg,
        RawSyscall::XdpTx,
    ];

    /// Whether the loop sends UDP_SEGMENT super-packets.
    ///
    /// ```
    /// use ringshot::rawloop::RawSyscall;
    ///
    /// assert!(RawSyscall::UringGsoSendmsg.gso());
    /// assert!(!RawSyscall::UringSend.gso());
    /// ```
    pub fn gso(self) -> bool {
        matches!(
            self,
            RawSyscall::GsoSendmsg | RawSyscall::GsoSendmmsg | RawSyscall::UringGsoSendmsg
        )
    }
}

/// What a raw loop did; its rate is `datagrams as f64 / seconds`.
///
/// ```
/// use ringshot::rawloop::RawResult;
///
/// let r = RawResult { datagrams: 2_000_000, calls: 31_250, seconds: 2.0, ..RawResult::default() };
/// assert_eq!(r.datagrams as f64 / r.seconds, 1e6); // datagrams per second
/// assert_eq!(r.datagrams / r.calls, 64); // per syscall
/// ```
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct RawResult {
    /// Datagrams the kernel accepted.
    pub datagrams: u64,
    /// Syscalls made.
    pub calls: u64,
    /// Calls (or completions) that failed, e.g. ENOBUFS.
    pub errors: u64,
    /// Of `errors`, linked io_uring sends that never ran because an earlier one failed.
    pub cancelled: u64,
    /// How long the loop ran, measured (a little over the duration asked for).
    pub seconds: f64,
}

/// Segments per GSO send of `payload`-byte datagrams at batch `batch`: bounded by the batch,
/// by the kernel's segment limit and by one IP datagram's 65,507 bytes of UDP payload.
///
/// ```
/// use ringshot::rawloop::gso_segments;
///
/// assert_eq!(gso_segments(1472, 88), 44); // 65,507 bytes hold 44 of 1472
/// assert_eq!(gso_segments(64, 1024), 64); // the kernel's segment limit
/// assert_eq!(gso_segments(64, 16), 16); // the batch
/// ```
pub fn gso_segments(payload: usize, batch: usize) -> usize {
    batch.min(super::gso_segments_max(payload)).max(1)
}

/// The super-packets one batch of `batch` datagrams of `payload` bytes is sent as: full ones of
/// [`gso_segments`], then the remainder.
///
/// ```
/// use ringshot::rawloop::gso_batch_plan;
///
/// assert_eq!(gso_batch_plan(1472, 88), [44, 44]);
/// assert_eq!(gso_batch_plan(1472, 64), [44, 20]);
/// assert_eq!(gso_batch_plan(64, 64), [64]);
/// ```
pub fn gso_batch_plan(payload: usize, batch: usize) -> Vec<usize> {
    let full = gso_segments(payload, batch);
    let mut plan = vec![full; batch / full];
    if !batch.is_multiple_of(full) {
        plan.push(batch % full);
    }
    plan
}

/// Runs the raw loop `kind` on connected socket `sock` for `duration`, sending `payload`-byte
/// datagrams `batch` (clamped to 1..=1024) per call. Errors: setting the loop up (an io_uring
/// ring where io_uring is disabled) or a failing `io_uring_enter`; a send the kernel refuses
/// while the loop runs (ENOBUFS, ...) is counted in [`RawResult::errors`] instead.
///
/// ```
/// use ringshot::rawloop::{raw_send_loop, RawSyscall};
/// use std::time::Duration;
/// # fn main() -> std::io::Result<()> {
/// let sink = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// let sock = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// sock.connect(sink.local_addr()?)?;
/// let r = raw_send_loop(RawSyscall::Sendmmsg, &sock, 64, 32, Duration::from_millis(20))?;
/// assert!(r.calls > 0 && r.seconds >= 0.02);
/// // Every datagram accepted was part of a call: at most 32 per call.
/// assert!(r.datagrams <= 32 * r.calls);
/// assert_eq!(r.cancelled, 0); // only linked io_uring sends are cancelled
/// # Ok(())
/// # }
/// ```
pub fn raw_send_loop(
    kind: RawSyscall,
    sock: &UdpSocket,
    payload: usize,
    batch: usize,
    duration: Duration,
) -> io::Result<RawResult> {
    let batch = batch.clamp(1, 1024);
    if kind == RawSyscall::XdpTx {
        return xdp_loop(sock, payload, batch, duration);
    }
    // Datagrams per message: with GSO the batch's super-packets, as the engine sends them.
    let datagrams = match kind {
        _ if kind.gso() => gso_batch_plan(payload, batch),
        RawSyscall::Sendmsg => vec![1],
        _ => vec![1; batch],
    };
    let m = Messages::new(payload, datagrams, kind.gso())?;
    let fd = sock.as_raw_fd();
    match kind {
        RawSyscall::Sendmsg | RawSyscall::GsoSendmsg => sendmsg_loop(fd, &m, duration),
        RawSyscall::Sendmmsg | RawSyscall::GsoSendmmsg => sendmmsg_loop(fd, &m, duration),
        RawSyscall::UringSend => uring_loop(fd, &m, duration, UringOp::Send, true),
        RawSyscall::UringSendUnlinked => uring_loop(fd, &m, duration, UringOp::Send, false),
        RawSyscall::UringGsoSendmsg => uring_loop(fd, &m, duration, UringOp::Sendmsg, true),
        RawSyscall::XdpTx => unreachable!("handled above"),
    }
}

/// The AF_XDP loop of [`RawSyscall::XdpTx`] to `sock`'s peer, from `sock`'s address.
fn xdp_loop(
    sock: &UdpSocket,
    payload: usize,
    batch: usize,
    duration: Duration,
) -> io::Result<RawResult> {
    use super::linux::xdp;
    const FRAMES: u32 = 4096;
    const FRAME: usize = 2048;
    let err = |e: String| io::Error::other(e);
    let path = xdp::frame_path(sock.peer_addr()?, sock.local_addr()?, payload).map_err(err)?;
    let hl = path.tmpl.len();
    if hl + payload > FRAME {
        return Err(err(format!(
            "a {payload} B payload does not fit a {FRAME} B frame"
        )));
    }
    // The UMEM: one page-aligned slab, a frame per slot, each written once.
    let (umem, mut frames) = super::Slab::new(FRAMES, FRAME);
    for t in &mut frames {
        let (hdr, body) = umem.bytes_mut(t).split_at_mut(hl);
        body[..payload].fill(0x5a);
        path.tmpl.write(hdr, &body[..payload], 0);
    }
    let (mut xsk, ..) = xdp::bind(&path, 0, Some(false), umem.region(), 2048).map_err(err)?;
    let mut free: Vec<u64> = (0..u64::from(FRAMES)).map(|i| i * FRAME as u64).collect();
    let mut r = RawResult::default();
    let len = (hl + payload) as u32;
    let start = Instant::now();
    while start.elapsed() < duration {
        r.datagrams += u64::from(xsk.complete(|addr| free.push(addr)));
        let n = batch
            .min(free.len())
            .min(xsk.tx_free(batch as u32) as usize);
        for _ in 0..n {
            let addr = free.pop().expect("counted above");
            xsk.tx_push(addr, len);
        }
        if n > 0 {
            xsk.tx_publish();
        }
        if xsk.tx_needs_wakeup() {
            r.calls += 1;
            if xsk.kick().is_err() {
                r.errors += 1;
            }
        }
    }
    r.seconds = start.elapsed().as_secs_f64();
    // What the last wake-up sent completed during it.
    r.datagrams += u64::from(xsk.complete(|_| {}));
    Ok(r)
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
fn gso_cmsg(buf: &mut [u8], size: u16) -> usize {
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

/// The messages one round of a raw loop sends, built before the clock starts: message `i`
/// carries `datagrams[i]` datagrams of `payload` bytes (as one UDP_SEGMENT super-packet with
/// `gso`), all from the same buffer, as the raw loops send the same bytes again.
struct Messages {
    datagrams: Vec<usize>,
    hdrs: Vec<libc::msghdr>,
    // What the headers point at: heap memory, which stays where it is when `Messages` moves.
    _data: Vec<u8>,
    _iovs: Vec<libc::iovec>,
    _cmsg: Vec<u8>,
}

impl Messages {
    fn new(payload: usize, datagrams: Vec<usize>, gso: bool) -> io::Result<Messages> {
        let most = datagrams.iter().copied().max().unwrap_or(1);
        let mut data = vec![0x5au8; payload * most];
        let mut cmsg = vec![0u8; 64];
        let control = if gso {
            let size = u16::try_from(payload)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "payload over 65535"))?;
            Some(gso_cmsg(&mut cmsg, size))
        } else {
            None
        };
        let mut iovs: Vec<libc::iovec> = datagrams
            .iter()
            .map(|&n| libc::iovec {
                iov_base: data.as_mut_ptr().cast(),
                iov_len: payload * n,
            })
            .collect();
        let hdrs = iovs
            .iter_mut()
            .map(|iov| msghdr(iov, control.map(|n| &mut cmsg[..n])))
            .collect();
        Ok(Messages {
            datagrams,
            hdrs,
            _data: data,
            _iovs: iovs,
            _cmsg: cmsg,
        })
    }
}

/// One `sendmsg` per message.
fn sendmsg_loop(fd: RawFd, m: &Messages, duration: Duration) -> io::Result<RawResult> {
    timed(duration, |r| {
        for (h, &n) in m.hdrs.iter().zip(&m.datagrams) {
            // SAFETY: `h` points at its iovec, the data and the control buffer, which `m` owns
            // for the whole loop (the kernel only reads them).
            let sent = unsafe { libc::sendmsg(fd, h, 0) };
            r.count(sent >= 0, n as u64);
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

/// One `sendmmsg` of all the messages per round.
fn sendmmsg_loop(fd: RawFd, m: &Messages, duration: Duration) -> io::Result<RawResult> {
    let mut msgs: Vec<libc::mmsghdr> = m
        .hdrs
        .iter()
        .map(|&msg_hdr| libc::mmsghdr {
            msg_hdr,
            msg_len: 0,
        })
        .collect();
    timed(duration, |r| {
        // SAFETY: each header points at memory `m` owns for the whole loop; the kernel writes
        // only `msg_len` of `msgs`.
        let k = unsafe { libc::sendmmsg(fd, msgs.as_mut_ptr(), msgs.len() as u32, 0) };
        r.calls += 1;
        if k < 0 {
            r.errors += 1;
        } else {
            r.datagrams += m.datagrams[..k as usize].iter().sum::<usize>() as u64;
        }
        Ok(())
    })
}

/// The io_uring opcode a raw loop submits per message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UringOp {
    /// IORING_OP_SEND of the message's one buffer (single datagrams).
    Send,
    /// IORING_OP_SENDMSG of the message's header (GSO super-packets).
    Sendmsg,
}

/// A ring as the `uring` backend sets one up without SQPOLL (deferred task work where the
/// kernel has it, submitted to by the thread that creates it), the socket as fixed file 0.
fn raw_ring(entries: u32, fd: RawFd) -> io::Result<io_uring::IoUring> {
    let ring =
        super::linux::uring::deferred_or_plain(&io_uring::IoUring::builder(), entries, false)?;
    ring.submitter().register_files(&[fd])?;
    Ok(ring)
}

/// One `op` entry per message, linked in order when `linked`, all in one `io_uring_enter` that
/// waits for every completion.
fn uring_loop(
    fd: RawFd,
    m: &Messages,
    duration: Duration,
    op: UringOp,
    linked: bool,
) -> io::Result<RawResult> {
    use io_uring::{opcode, squeue, types};
    let n = m.hdrs.len();
    let mut ring = raw_ring((n as u32).next_power_of_two().max(8), fd)?;
    let file = types::Fixed(0);
    timed(duration, |r| {
        {
            let mut sq = ring.submission();
            for (i, h) in m.hdrs.iter().enumerate() {
                let e = match op {
                    UringOp::Sendmsg => opcode::SendMsg::new(file, h).build(),
                    UringOp::Send => {
                        // SAFETY: every header has one iovec (see `msghdr`), owned by `m`.
                        let iov = unsafe { &*h.msg_iov };
                        opcode::Send::new(file, iov.iov_base.cast(), iov.iov_len as u32).build()
                    }
                };
                let last = i + 1 == n;
                let flags = if linked && !last {
                    squeue::Flags::IO_LINK
                } else {
                    squeue::Flags::empty()
                };
                let e = e.flags(flags).user_data(i as u64);
                // SAFETY: the entry points at memory `m` owns for the whole loop, and every
                // entry is completed (waited for below) before the next round reuses it.
                unsafe { sq.push(&e) }.map_err(|_| io::Error::other("submission queue full"))?;
            }
        }
        ring.submit_and_wait(n)?;
        r.calls += 1;
        for cqe in ring.completion() {
            // Per completion: an error (a cancelled follower included) or its message's
            // datagrams (the call is counted above).
            if cqe.result() < 0 {
                r.errors += 1;
                r.cancelled += u64::from(cqe.result() == -libc::ECANCELED);
            } else {
                r.datagrams += m.datagrams[cqe.user_data() as usize] as u64;
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
        // AF_XDP sends out of a network device, never to this host: the xdp test's wire runs it.
        for kind in RawSyscall::ALL
            .into_iter()
            .filter(|&k| k != RawSyscall::XdpTx)
        {
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

    /// Against a closed port each datagram's ICMP error refuses a later send. Linked, the
    /// refusal cancels the rest of its round, as the backend's links do; unlinked, the sends
    /// after it still go.
    #[test]
    fn a_refused_send_cancels_the_linked_rest_of_its_round_only() {
        let closed = UdpSocket::bind("127.0.0.1:0").unwrap();
        let dest = closed.local_addr().unwrap();
        drop(closed);
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.connect(dest).unwrap();
        let m = Messages::new(64, vec![1; 8], false).unwrap();
        let run = |linked| {
            uring_loop(
                tx.as_raw_fd(),
                &m,
                Duration::from_millis(20),
                UringOp::Send,
                linked,
            )
            .unwrap()
        };
        let linked = run(true);
        assert!(
            linked.cancelled > 0 && linked.errors > linked.cancelled,
            "{linked:?}"
        );
        let unlinked = run(false);
        assert!(
            unlinked.cancelled == 0 && unlinked.errors > 0 && unlinked.datagrams > 0,
            "{unlinked:?}"
        );
    }
}
