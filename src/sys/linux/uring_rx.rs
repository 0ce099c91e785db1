//! The `uring` receive backend: one io_uring multishot RECVMSG over a provided-buffer ring.
//!
//! One SQE stays armed and posts a CQE per datagram. The kernel picks a free buffer from the ring
//! for each one and writes an `io_uring_recvmsg_out` header, the source address, the control
//! messages and the payload into it; the CQE names the buffer. After the receiver has looked at a
//! buffer it goes straight back into the ring (the ring's tail is published once per batch).
//!
//! The multishot request ends (a CQE without `IORING_CQE_F_MORE`) when the ring runs out of
//! buffers (`-ENOBUFS`: the datagrams stay queued in the socket), when the CQ overflows, or on an
//! error; it is re-armed after the buffers of that batch have been recycled, so nothing is lost.
//!
//! The ring is set up with `SINGLE_ISSUER | DEFER_TASKRUN` where the kernel has them (6.1+): the
//! receives then run only inside our own `io_uring_enter(GETEVENTS)`, once per drain round, like
//! a recvmmsg, instead of interrupting the thread. That ties the ring to the thread that created
//! it, so the backend must be opened on the receiving thread.
// Opening a receive backend is the receiver's (`recv` feature); the ACK path uses the rest.
#![cfg_attr(not(feature = "recv"), allow(dead_code))]

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

use io_uring::{cqueue, opcode, types, IoUring, Probe};

use crate::sys::rx::{
    DropCounter, RxBackend, RxDatagram, CONTROL_LEN, NAME_LEN, RX_BUF_LEN, UNKNOWN_SRC,
};
use crate::sys::unix::cmsg::{parse_control, parse_sockaddr};

/// Buffer group id of our provided-buffer ring.
const BGID: u16 = 0x5253; // "RS"
/// user_data of the multishot receive.
const UD_RECV: u64 = 1;
/// Bytes per provided buffer: the recvmsg_out header, name, control and a full datagram.
const BUF_STRIDE: usize =
    (RECVMSG_OUT_LEN + NAME_LEN + CONTROL_LEN + RX_BUF_LEN).next_multiple_of(64);
/// `struct io_uring_recvmsg_out`: namelen, controllen, payloadlen, flags (four u32).
const RECVMSG_OUT_LEN: usize = 16;

/// Anonymous, page-aligned, pre-faulted memory, unmapped on drop.
struct Region {
    ptr: *mut u8,
    len: usize,
}

impl Region {
    fn new(len: usize) -> io::Result<Region> {
        // SAFETY: an anonymous private mapping with no address hint touches no existing memory.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Region {
            ptr: ptr.cast(),
            len,
        })
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly the mapping made in `new`, unmapped only here.
        unsafe {
            libc::munmap(self.ptr.cast(), self.len);
        }
    }
}

/// io_uring multishot RECVMSG with a provided buffer ring.
pub struct UringRx {
    // Field order is drop order: the ring goes first, so the kernel lets go of the buffer ring,
    // the buffers and the msghdr before they are freed.
    ring: IoUring,
    st: State,
}

/// Everything but the ring, so CQEs can be walked while the state is updated.
struct State {
    sock: UdpSocket,
    gro: bool,
    /// The provided-buffer ring itself: `entries` 16-byte `io_uring_buf` slots.
    ring_mem: Region,
    /// `entries` buffers of `BUF_STRIDE` bytes.
    bufs: Region,
    entries: u16,
    /// Our copy of the buffer ring's tail (the kernel owns the head).
    tail: u16,
    /// Template given to the multishot SQE: only `msg_namelen` and `msg_controllen` matter.
    msghdr: Box<libc::msghdr>,
    armed: bool,
    rearms: u64,
    enobufs: u64,
    /// CQEs that arrived while `new` checked that the kernel accepted the request.
    stash: Vec<cqueue::Entry>,
    drops: DropCounter,
    /// First error of the current batch that ended the request.
    failure: Option<io::Error>,
}

impl std::fmt::Debug for UringRx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UringRx")
            .field("sock", &self.st.sock)
            .field("gro", &self.st.gro)
            .field("entries", &self.st.entries)
            .field("rearms", &self.st.rearms)
            .field("enobufs", &self.st.enobufs)
            .finish_non_exhaustive()
    }
}

// SAFETY: the raw pointers (the two mappings, the msghdr) point into memory this struct owns and
// are used only through `&mut self`, so moving the struct to another thread moves sole access with
// it. (With SINGLE_ISSUER the kernel refuses submissions from any thread but the creator with
// EEXIST: an error, not unsafety; `open_rx` callers create the backend on the receiving thread.)
unsafe impl Send for UringRx {}

impl UringRx {
    /// Sets up a ring with `entries` provided buffers (a power of two) over `sock` (already
    /// prepared by [`crate::sys::rx::prepare_socket`]) and arms the multishot receive. Fails with
    /// `Unsupported` when the kernel lacks multishot RECVMSG or provided-buffer rings.
    pub fn new(sock: UdpSocket, gro: bool, entries: u16) -> io::Result<UringRx> {
        if !entries.is_power_of_two() || entries > 32_768 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the io_uring buffer count must be a power of two up to 32768",
            ));
        }
        let cq = (u32::from(entries) * 2).clamp(64, 65_536);
        let ring = IoUring::builder()
            .setup_cqsize(cq)
            .setup_single_issuer()
            .setup_defer_taskrun()
            .build(8)
            .or_else(|_| IoUring::builder().setup_cqsize(cq).build(8))?;
        let mut probe = Probe::new();
        ring.submitter().register_probe(&mut probe)?;
        if !probe.is_supported(opcode::RecvMsgMulti::CODE) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the kernel's io_uring has no RECVMSG",
            ));
        }
        let ring_mem =
            Region::new(usize::from(entries) * std::mem::size_of::<types::BufRingEntry>())?;
        let bufs = Region::new(usize::from(entries) * BUF_STRIDE)?;
        // SAFETY: `ring_mem` is page-aligned, holds `entries` ring slots and lives in the struct
        // beside the ring, which is dropped (unregistering it) first.
        unsafe {
            ring.submitter()
                .register_buf_ring_with_flags(ring_mem.ptr as u64, entries, BGID, 0)
        }
        .map_err(|e| {
            io::Error::new(
                io::ErrorKind::Unsupported,
                format!("provided-buffer rings are not available ({e})"),
            )
        })?;
        let mut msghdr = Box::new(crate::sys::unix::msg::empty_msghdr());
        msghdr.msg_namelen = NAME_LEN as libc::socklen_t;
        msghdr.msg_controllen = CONTROL_LEN as _;
        let mut rx = UringRx {
            ring,
            st: State {
                sock,
                gro,
                ring_mem,
                bufs,
                entries,
                tail: 0,
                msghdr,
                armed: false,
                rearms: 0,
                enobufs: 0,
                stash: Vec::new(),
                drops: DropCounter::default(),
                failure: None,
            },
        };
        for bid in 0..entries {
            rx.st.give_back(bid);
        }
        rx.st.publish();
        rx.arm()?;
        // A kernel without multishot RECVMSG (before 6.0) fails the request at once: look at
        // what came back without losing any receive completion.
        rx.enter_getevents()?;
        let first: Vec<cqueue::Entry> = rx.ring.completion().collect();
        for cqe in &first {
            if cqe.user_data() == UD_RECV && !cqueue::more(cqe.flags()) {
                if let Err(e) = crate::sys::cqe_result(cqe.result()) {
                    if e.raw_os_error() == Some(libc::EINVAL) {
                        return Err(io::Error::new(
                            io::ErrorKind::Unsupported,
                            "the kernel refused multishot RECVMSG (needs Linux 6.0+)",
                        ));
                    }
                }
            }
        }
        rx.st.stash = first;
        Ok(rx)
    }

    /// Queues the multishot receive and submits it.
    fn arm(&mut self) -> io::Result<()> {
        let sqe = opcode::RecvMsgMulti::new(
            types::Fd(self.st.sock.as_raw_fd()),
            &*self.st.msghdr as *const libc::msghdr,
            BGID,
        )
        .build()
        .user_data(UD_RECV);
        // SAFETY: the SQE points at `self.msghdr` (boxed, alive as long as the ring) and at
        // buffer group BGID, whose memory the struct owns; the socket outlives the ring.
        unsafe { self.ring.submission().push(&sqe) }
            .map_err(|_| io::Error::other("io_uring submission queue full"))?;
        self.ring.submit()?;
        self.st.armed = true;
        Ok(())
    }

    /// One `io_uring_enter(GETEVENTS)` without waiting: submits anything queued and, with
    /// DEFER_TASKRUN, runs the pending receives so their CQEs appear.
    fn enter_getevents(&mut self) -> io::Result<()> {
        let pending = self.ring.submission().len() as u32;
        // SAFETY: a plain enter with no argument struct; GETEVENTS with min_complete 0 never blocks.
        match unsafe {
            self.ring.submitter().enter::<libc::sigset_t>(
                pending,
                0,
                io_uring::EnterFlags::GETEVENTS.bits(),
                None,
            )
        } {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl State {
    /// Tallies the outcome of one CQE, keeping the first error for the end of the batch.
    fn note(&mut self, r: io::Result<bool>, delivered: &mut usize) {
        match r {
            Ok(d) => *delivered += usize::from(d),
            Err(e) => {
                self.failure.get_or_insert(e);
            }
        }
    }

    /// Puts buffer `bid` back at the ring's tail (not yet visible to the kernel; see `publish`).
    fn give_back(&mut self, bid: u16) {
        let slot = usize::from(self.tail & (self.entries - 1));
        let entries = self.ring_mem.ptr.cast::<types::BufRingEntry>();
        // The slot is free: the kernel consumed it (head passed it) before handing out the buffer
        // we return. The setters write only addr/len/bid, never the shared tail over slot 0.
        // SAFETY: `slot < entries`, so the entry lies inside `ring_mem`, and it is free (above).
        unsafe {
            let e = &mut *entries.add(slot);
            e.set_addr(self.bufs.ptr.add(usize::from(bid) * BUF_STRIDE) as u64);
            e.set_len(BUF_STRIDE as u32);
            e.set_bid(bid);
        }
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes the buffers given back so far visible to the kernel.
    fn publish(&mut self) {
        let base = self.ring_mem.ptr.cast::<types::BufRingEntry>();
        // The kernel reads the tail concurrently, hence the atomic release store: entries written
        // before are visible before the new tail.
        // SAFETY: BufRingEntry::tail is the ring's aligned u16 tail inside page-aligned `ring_mem`.
        unsafe {
            let tail = types::BufRingEntry::tail(base) as *mut u16;
            std::sync::atomic::AtomicU16::from_ptr(tail)
                .store(self.tail, std::sync::atomic::Ordering::Release);
        }
    }

    /// Handles one CQE: delivers its datagram, recycles its buffer, notes whether to re-arm.
    /// Returns whether a datagram was delivered, or the error that ended the request.
    fn complete(
        &mut self,
        cqe: &cqueue::Entry,
        on: &mut dyn FnMut(&RxDatagram<'_>),
    ) -> Result<bool, io::Error> {
        if cqe.user_data() != UD_RECV {
            return Ok(false);
        }
        let flags = cqe.flags();
        if !cqueue::more(flags) {
            self.armed = false;
        }
        let n = match crate::sys::cqe_result(cqe.result()) {
            Ok(n) => n as usize,
            Err(e) => {
                return match e.raw_os_error() {
                    Some(libc::ENOBUFS) => {
                        self.enobufs += 1;
                        Ok(false)
                    }
                    Some(libc::EINTR) | Some(libc::ECANCELED) | Some(libc::EAGAIN) => Ok(false),
                    _ => Err(e),
                }
            }
        };
        let Some(bid) = cqueue::buffer_select(flags) else {
            return Ok(false);
        };
        if bid >= self.entries {
            return Err(io::Error::other(format!(
                "io_uring returned unknown buffer {bid}"
            )));
        }
        let len = n.min(BUF_STRIDE);
        // SAFETY: the CQE hands buffer `bid` to us: the kernel wrote `len` bytes into it and does
        // not touch it again until `give_back`, which happens after the last use of this slice.
        let buf = unsafe {
            std::slice::from_raw_parts(self.bufs.ptr.add(usize::from(bid) * BUF_STRIDE), len)
        };
        let mut delivered = false;
        if let Ok(out) = types::RecvMsgOut::parse(buf, &self.msghdr) {
            let info = parse_control(out.control_data());
            if let Some(d) = info.drops {
                self.drops.update(d);
            }
            on(&RxDatagram {
                data: out.payload_data(),
                segment: if self.gro { info.segment } else { 0 },
                src: parse_sockaddr(out.name_data()).unwrap_or(UNKNOWN_SRC),
                at_ns: info.at_ns,
                truncated: out.is_payload_truncated(),
            });
            delivered = true;
        }
        self.give_back(bid);
        Ok(delivered)
    }
}

impl RxBackend for UringRx {
    fn name(&self) -> &'static str {
        "uring"
    }

    fn gro(&self) -> bool {
        self.st.gro
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.st.sock.local_addr()
    }

    fn recv_batch(&mut self, on: &mut dyn FnMut(&RxDatagram<'_>)) -> io::Result<usize> {
        let mut delivered = 0;
        let st = &mut self.st;
        for cqe in std::mem::take(&mut st.stash) {
            let r = st.complete(&cqe, on);
            st.note(r, &mut delivered);
        }
        if self.ring.completion().is_empty() {
            self.enter_getevents()?;
        }
        let st = &mut self.st;
        for cqe in self.ring.completion() {
            let r = st.complete(&cqe, on);
            st.note(r, &mut delivered);
        }
        st.publish();
        if let Some(e) = st.failure.take() {
            return Err(e);
        }
        if !st.armed {
            st.rearms += 1;
            self.arm()?;
        }
        Ok(delivered)
    }

    fn wait(&mut self, timeout: Duration) -> io::Result<bool> {
        if !self.ring.completion().is_empty() || !self.st.stash.is_empty() {
            return Ok(true);
        }
        let ts = types::Timespec::new()
            .sec(timeout.as_secs())
            .nsec(timeout.subsec_nanos());
        let args = types::SubmitArgs::new().timespec(&ts);
        match self.ring.submitter().submit_with_args(1, &args) {
            Ok(_) => Ok(!self.ring.completion().is_empty()),
            Err(e) if e.raw_os_error() == Some(libc::ETIME) => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => Ok(true),
            Err(e) => Err(e),
        }
    }

    fn kernel_drops(&self) -> u64 {
        self.st.drops.total()
    }

    fn rearms(&self) -> u64 {
        self.st.rearms
    }
}
