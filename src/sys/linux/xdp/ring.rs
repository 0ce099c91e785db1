//! The AF_XDP socket for sending, and every access to the memory it shares with the kernel: the
//! UMEM (the engine's slab, registered as it is) and the fill, completion and TX rings mapped
//! from the socket. All the shared-memory code of the `xdp` backend is in this file.
//!
//! The rings are single-producer single-consumer queues of a power-of-two size, indexed by
//! free-running `u32` counters that live in the mapped pages. For the TX ring this side produces
//! and the kernel consumes; for the completion ring the kernel produces and this side consumes.
//! The contract of each access, which every `SAFETY:` note below relies on:
//! - a counter is read and written only as an `AtomicU32` (it is 4-byte aligned in the mapping
//!   and the kernel updates it concurrently);
//! - the other side's counter is read with `Acquire`, so the descriptors it published before
//!   moving it are visible; this side's counter is stored with `Release`, after the descriptors
//!   it covers are written;
//! - this side reads or writes only the descriptor entries the counters give it: TX entries in
//!   `[consumer, consumer + size)` from its own producer on, completion entries in
//!   `[consumer, producer)`, each at `index & (size - 1)`;
//! - the mappings live as long as the [`Xsk`] and are unmapped (before the socket closes) only
//!   in its `Drop`.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};

/// Bind in copy mode (any device) or zero-copy mode (driver support needed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BindMode {
    Copy,
    ZeroCopy,
}

/// What [`Xsk::open`] needs: the device queue, the mode, the UMEM and the ring size.
#[derive(Debug, Clone, Copy)]
pub(crate) struct XskConfig {
    pub(crate) ifindex: u32,
    pub(crate) queue: u32,
    pub(crate) mode: BindMode,
    /// Start and length of the UMEM: page-aligned, and it must outlive the socket.
    pub(crate) umem: (*mut u8, usize),
    /// Largest frame: the UMEM's chunk size (2048 ..= page size).
    pub(crate) chunk: u32,
    /// Entries of the TX and completion rings (a power of two).
    pub(crate) ring: u32,
}

/// One mapped ring.
#[derive(Debug)]
struct Ring {
    map: *mut libc::c_void,
    map_len: usize,
    producer: *const AtomicU32,
    consumer: *const AtomicU32,
    flags: *const AtomicU32,
    descs: *mut u8,
    size: u32,
    /// This side's counter (a copy of what it last published, or consumed up to).
    local: u32,
    /// The other side's counter as last read.
    cached: u32,
}

impl Ring {
    /// Maps the ring of `size` entries of `entry` bytes at page offset `pgoff` of `fd`.
    fn map(
        fd: RawFd,
        off: &libc::xdp_ring_offset,
        size: u32,
        entry: usize,
        pgoff: u64,
    ) -> io::Result<Ring> {
        let map_len = off.desc as usize + size as usize * entry;
        // SAFETY: a fresh shared mapping of the socket's ring; the kernel checks the length and
        // offset, and nothing else in this process refers to the range.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                pgoff as libc::off_t,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let at = |o: u64| map.cast::<u8>().wrapping_add(o as usize);
        Ok(Ring {
            map,
            map_len,
            producer: at(off.producer).cast(),
            consumer: at(off.consumer).cast(),
            flags: at(off.flags).cast(),
            descs: at(off.desc),
            size,
            local: 0,
            cached: 0,
        })
    }

    fn producer(&self) -> &AtomicU32 {
        // SAFETY: the counter lies inside the live mapping, 4-byte aligned, and is only ever
        // accessed atomically (module contract).
        unsafe { &*self.producer }
    }

    fn consumer(&self) -> &AtomicU32 {
        // SAFETY: as for `producer`.
        unsafe { &*self.consumer }
    }

    fn flags(&self) -> &AtomicU32 {
        // SAFETY: as for `producer`.
        unsafe { &*self.flags }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`, unmapped once; no reference into it outlives the
        // ring (the accessors borrow `self`).
        unsafe { libc::munmap(self.map, self.map_len) };
    }
}

/// An AF_XDP socket bound to one device queue for sending, with its UMEM and rings.
#[derive(Debug)]
pub(crate) struct Xsk {
    // Field order is drop order: the rings are unmapped before the socket closes.
    tx: Ring,
    comp: Ring,
    _fill: Ring,
    fd: OwnedFd,
    umem_len: u64,
    chunk: u32,
}

// SAFETY: the raw pointers point into mappings owned by this value; the kernel is the only other
// party and synchronises through the atomics. The value is used by one thread at a time.
unsafe impl Send for Xsk {}

/// The socket option that sets a copy-mode wake-up's frame budget (`linux/if_xdp.h`; the libc
/// crate does not name it yet).
const XDP_MAX_TX_SKB_BUDGET: libc::c_int = 9;
/// The budget asked for: a few batches' worth, so one wake-up sends what a submit published.
const TX_BUDGET: u32 = 256;

fn set<T>(fd: RawFd, opt: libc::c_int, val: &T) -> io::Result<()> {
    syscall!(setsockopt(
        fd,
        libc::SOL_XDP,
        opt,
        (val as *const T).cast(),
        std::mem::size_of::<T>() as libc::socklen_t
    ))
    .map(drop)
}

impl Xsk {
    /// Creates the socket, registers the UMEM (unaligned chunks: a frame may start anywhere),
    /// creates and maps the fill, completion and TX rings (the first two must exist before
    /// bind, even for sending only) and binds with need-wakeup in the mode asked for.
    pub(crate) fn open(c: &XskConfig) -> io::Result<Xsk> {
        let raw = syscall!(socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0))?;
        // SAFETY: socket(2) just returned this descriptor; nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let s = fd.as_raw_fd();
        let reg = libc::xdp_umem_reg {
            addr: c.umem.0 as u64,
            len: c.umem.1 as u64,
            chunk_size: c.chunk,
            headroom: 0,
            flags: libc::XDP_UMEM_UNALIGNED_CHUNK_FLAG,
            tx_metadata_len: 0,
        };
        set(s, libc::XDP_UMEM_REG, &reg)?;
        // The fill ring is never filled (nothing is received) but must exist.
        let fill_size: u32 = 64;
        set(s, libc::XDP_UMEM_FILL_RING, &fill_size)?;
        set(s, libc::XDP_UMEM_COMPLETION_RING, &c.ring)?;
        set(s, libc::XDP_TX_RING, &c.ring)?;
        // SAFETY: all-zero is a valid xdp_mmap_offsets; the kernel fills it.
        let mut off: libc::xdp_mmap_offsets = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::xdp_mmap_offsets>() as libc::socklen_t;
        syscall!(getsockopt(
            s,
            libc::SOL_XDP,
            libc::XDP_MMAP_OFFSETS,
            (&mut off as *mut libc::xdp_mmap_offsets).cast(),
            &mut len
        ))?;
        let addr = std::mem::size_of::<u64>();
        let desc = std::mem::size_of::<libc::xdp_desc>();
        let fill = Ring::map(s, &off.fr, fill_size, addr, libc::XDP_UMEM_PGOFF_FILL_RING)?;
        let comp = Ring::map(
            s,
            &off.cr,
            c.ring,
            addr,
            libc::XDP_UMEM_PGOFF_COMPLETION_RING,
        )?;
        let tx = Ring::map(s, &off.tx, c.ring, desc, libc::XDP_PGOFF_TX_RING as u64)?;
        let mode = match c.mode {
            BindMode::Copy => libc::XDP_COPY,
            BindMode::ZeroCopy => libc::XDP_ZEROCOPY,
        };
        let sa = libc::sockaddr_xdp {
            sxdp_family: libc::AF_XDP as u16,
            sxdp_flags: mode | libc::XDP_USE_NEED_WAKEUP,
            sxdp_ifindex: c.ifindex,
            sxdp_queue_id: c.queue,
            sxdp_shared_umem_fd: 0,
        };
        syscall!(bind(
            s,
            (&sa as *const libc::sockaddr_xdp).cast(),
            std::mem::size_of::<libc::sockaddr_xdp>() as libc::socklen_t
        ))?;
        // How many frames one wake-up may send in copy mode: 32 unless raised (Linux 6.17 and
        // later take XDP_MAX_TX_SKB_BUDGET, up to the TX ring's size). Best effort: an older
        // kernel refuses the option and keeps 32 a wake-up.
        let _ = set(s, XDP_MAX_TX_SKB_BUDGET, &c.ring.min(TX_BUDGET));
        let mut tx = tx;
        // The TX ring starts empty with all its entries free.
        tx.local = tx.producer().load(Ordering::Relaxed);
        tx.cached = tx.consumer().load(Ordering::Acquire);
        let mut comp = comp;
        comp.local = comp.consumer().load(Ordering::Relaxed);
        comp.cached = comp.producer().load(Ordering::Acquire);
        Ok(Xsk {
            tx,
            comp,
            _fill: fill,
            fd,
            umem_len: c.umem.1 as u64,
            chunk: c.chunk,
        })
    }

    /// Free TX entries: re-reads the kernel's consumer counter (Acquire) when the cached one
    /// shows fewer than `want`.
    pub(crate) fn tx_free(&mut self, want: u32) -> u32 {
        let free = |r: &Ring| r.size - r.local.wrapping_sub(r.cached);
        if free(&self.tx) < want {
            self.tx.cached = self.tx.consumer().load(Ordering::Acquire);
        }
        free(&self.tx)
    }

    /// Descriptors published but not yet taken by the kernel (as last read).
    pub(crate) fn tx_queued(&mut self) -> u32 {
        self.tx.cached = self.tx.consumer().load(Ordering::Acquire);
        self.tx.local.wrapping_sub(self.tx.cached)
    }

    /// Writes one descriptor (frame at UMEM offset `addr`, `len` bytes) into the next free TX
    /// entry; it is not the kernel's until [`Xsk::tx_publish`]. Returns false (writing nothing)
    /// when the ring is full or the frame lies outside the UMEM or is longer than a chunk.
    #[inline]
    pub(crate) fn tx_push(&mut self, addr: u64, len: u32) -> bool {
        let in_umem = addr
            .checked_add(u64::from(len))
            .is_some_and(|e| e <= self.umem_len);
        if !in_umem || len > self.chunk || self.tx_free(1) == 0 {
            return false;
        }
        let idx = (self.tx.local & (self.tx.size - 1)) as usize;
        let desc = libc::xdp_desc {
            addr,
            len,
            options: 0,
        };
        // SAFETY: entry `local` is free (fewer than `size` entries are between the kernel's
        // consumer and our producer), so the kernel does not read it until we publish; the
        // index is masked into the mapped descriptor array.
        unsafe {
            self.tx
                .descs
                .cast::<libc::xdp_desc>()
                .add(idx)
                .write_volatile(desc)
        };
        self.tx.local = self.tx.local.wrapping_add(1);
        true
    }

    /// Publishes every descriptor pushed so far (Release, after their writes).
    pub(crate) fn tx_publish(&mut self) {
        self.tx.producer().store(self.tx.local, Ordering::Release);
    }

    /// Whether the kernel asks for a wake-up to process the TX ring.
    pub(crate) fn tx_needs_wakeup(&self) -> bool {
        self.tx.flags().load(Ordering::Acquire) & libc::XDP_RING_NEED_WAKEUP != 0
    }

    /// Hands every completed frame's UMEM offset to `done`, then releases the entries to the
    /// kernel. Returns how many there were.
    #[inline]
    pub(crate) fn complete(&mut self, mut done: impl FnMut(u64)) -> u32 {
        self.comp.cached = self.comp.producer().load(Ordering::Acquire);
        let n = self.comp.cached.wrapping_sub(self.comp.local);
        for i in 0..n {
            let idx = (self.comp.local.wrapping_add(i) & (self.comp.size - 1)) as usize;
            // SAFETY: entries in [consumer, producer) were published by the kernel (Acquire
            // above) and stay unchanged until we move the consumer past them; the index is
            // masked into the mapped array.
            let addr = unsafe { self.comp.descs.cast::<u64>().add(idx).read_volatile() };
            done(addr);
        }
        if n > 0 {
            self.comp.local = self.comp.cached;
            self.comp
                .consumer()
                .store(self.comp.local, Ordering::Release);
        }
        n
    }

    /// The wake-up: asks the kernel to process the TX ring now (`sendto` with MSG_DONTWAIT).
    pub(crate) fn kick(&self) -> io::Result<()> {
        syscall!(sendto(
            self.fd.as_raw_fd(),
            std::ptr::null(),
            0,
            libc::MSG_DONTWAIT,
            std::ptr::null(),
            0
        ))
        .map(drop)
    }
}
