//! The `xdp` backend: datagrams sent through an AF_XDP socket, past the kernel's UDP and IP
//! stack. The engine's slab is the socket's UMEM (registered as it is: no payload copy); each
//! slot has a headroom in front (see [`Slab::with_headroom`]) where this backend writes the
//! Ethernet, IP and UDP headers ([`crate::wire::ethip::Template`]) before handing the frame to
//! the TX ring. A slot comes back only through the completion ring.
//!
//! Set-up ([`open`]) finds the route's device, next hop and MACs over rtnetlink ([`route`]),
//! refuses a payload the device's MTU cannot carry (no fragments), and binds to the queue asked
//! for, zero copy or copy mode. Sending needs no XDP program. The kernel sends in copy mode only
//! when woken (`sendto`), at most a budget of frames per wake-up (32, or
//! the 256 the socket asks for where the kernel takes it): `submit` wakes it once per
//! batch, `reap` again while frames wait in the ring.
//!
//! The books: a packet counts in `packets` when its completion arrives. A wake-up the kernel
//! refuses with EBUSY means a frame was completed but dropped below the socket: the next
//! completion then counts in `failed_packets`. On `cancel`, what the kernel did not complete in
//! time counts failed, and the slots stay the kernel's.

pub(crate) mod ring;
pub(crate) mod route;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::fault::{FaultInjector, FaultPlan};
use crate::stats::TxMetrics;
use crate::sys::{Slab, TxBackend, TxDesc};
use crate::wire::ethip::{self, Template};
use ring::{BindMode, Xsk, XskConfig};

/// Headroom the slab needs in front of every slot for the longest header (Ethernet + IPv6 +
/// UDP, 62 bytes), rounded to a multiple of 4.
pub const XDP_HEADROOM: usize = 64;
/// The UMEM chunk size: the longest frame (headers and payload) the socket may send.
const CHUNK: u32 = 4096;
/// How long set-up waits for the next hop's MAC address to resolve.
const RESOLVE_LIMIT: Duration = Duration::from_secs(2);
/// How long one waiting `reap` may spin for completions before it returns to the engine.
const REAP_WAIT: Duration = Duration::from_millis(2);

/// What the `xdp` backend needs, as plain values.
#[derive(Debug, Clone)]
pub struct XdpOpts {
    pub dest: SocketAddr,
    pub bind: Option<SocketAddr>,
    /// The device queue to bind to.
    pub queue: u32,
    /// Some(true): zero copy only; Some(false): copy mode only; None: zero copy, else copy.
    pub zero_copy: Option<bool>,
    /// Entries of the TX and completion rings (rounded up to a power of two).
    pub ring: u32,
    /// Largest UDP payload a packet may have.
    pub payload: usize,
    /// A seeded fault plan answered at the ring and wake-up (tests).
    pub plan: Option<FaultPlan>,
    /// Fail as a kernel without AF_XDP would (tests).
    pub unavailable: bool,
}

/// The ring and wake-up calls, behind a seam so that a fault plan can answer in the kernel's
/// place: refuse a wake-up with an errno (nothing is sent; the frames stay in the ring) or let
/// the ring take only part of a batch.
pub(crate) trait XskSeam: Send + std::fmt::Debug {
    /// How many of `n` frames (the ring has room for them) the ring takes now.
    fn room(&mut self, n: usize, m: &mut TxMetrics) -> usize;
    /// Wakes the kernel to send what the TX ring holds.
    fn kick(&mut self, xsk: &Xsk, m: &mut TxMetrics) -> io::Result<()>;
}

/// The real calls.
#[derive(Debug, Default)]
pub(crate) struct RealSeam;

impl XskSeam for RealSeam {
    fn room(&mut self, n: usize, _m: &mut TxMetrics) -> usize {
        n
    }
    fn kick(&mut self, xsk: &Xsk, _m: &mut TxMetrics) -> io::Result<()> {
        xsk.kick()
    }
}

/// A seeded fault plan in front of the real calls: its send errors refuse wake-ups (a fatal one
/// keeps refusing, as a device that went down), its partial draws shorten what the ring takes.
#[derive(Debug)]
pub(crate) struct FaultySeam {
    injector: FaultInjector,
}

impl XskSeam for FaultySeam {
    fn room(&mut self, n: usize, m: &mut TxMetrics) -> usize {
        let k = if n > 0 {
            self.injector.accepted_prefix(n)
        } else {
            0
        };
        m.injected = self.injector.injected();
        k
    }
    fn kick(&mut self, xsk: &Xsk, m: &mut TxMetrics) -> io::Result<()> {
        let refused = self.injector.send_error(false);
        m.injected = self.injector.injected();
        match refused {
            Some(errno) => Err(io::Error::from_raw_os_error(errno)),
            None => xsk.kick(),
        }
    }
}

/// Why AF_XDP could not be set up, in words.
fn explain(e: &io::Error, what: &str) -> String {
    match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => {
            format!("{what}: {e} (AF_XDP sockets need CAP_NET_RAW: run as root)")
        }
        Some(libc::EAFNOSUPPORT) => {
            format!("{what}: {e} (this kernel has no AF_XDP sockets: CONFIG_XDP_SOCKETS)")
        }
        _ => format!("{what}: {e}"),
    }
}

/// Opens the `xdp` backend over `slab` (which must have [`XDP_HEADROOM`] in front of each
/// slot): the connected UDP socket (its local address is the frames' source, and it receives
/// the device's answers), the route, the MACs, and the AF_XDP socket. Returns the backend, the
/// notices (the mode used among them), the UDP socket; or why it cannot run, in one line.
pub fn open(o: &XdpOpts, slab: &Arc<Slab>) -> Result<crate::sys::OpenedTx, String> {
    if o.unavailable {
        return Err("AF_XDP disabled (forced by test fault injection)".into());
    }
    if slab.headroom() < XDP_HEADROOM {
        return Err(format!(
            "the slab has {} bytes in front of each slot; xdp needs {XDP_HEADROOM}",
            slab.headroom()
        ));
    }
    let sock = crate::sys::unix::socket::connected_udp(o.dest, o.bind, 1 << 20)
        .map_err(|e| format!("the UDP socket: {e}"))?;
    let src = sock
        .local_addr()
        .map_err(|e| format!("the UDP socket: {e}"))?;
    let path = frame_path(o.dest, src, o.payload)?;
    let (xsk, used, why_not_zc) = bind(&path, o.queue, o.zero_copy, slab.region(), o.ring)?;
    let mut notice = format!(
        "xdp: {used} mode on {} queue {}, {src} -> {} via {}",
        path.dev, o.queue, o.dest, path.next_hop
    );
    if let Some(e) = why_not_zc {
        notice += &format!(" (zero copy refused: {e})");
    }
    let backend: Box<dyn TxBackend> = match o.plan {
        None => Box::new(XdpBackend::new(xsk, RealSeam, slab.clone(), path.tmpl)),
        Some(plan) => {
            let seam = FaultySeam {
                injector: FaultInjector::new(plan),
            };
            Box::new(XdpBackend::new(xsk, seam, slab.clone(), path.tmpl))
        }
    };
    Ok((backend, vec![notice], sock))
}

/// Where a flow's frames go: the device, the next hop, and the headers in front of each payload.
#[derive(Debug)]
pub(crate) struct FramePath {
    pub(crate) ifindex: u32,
    pub(crate) dev: String,
    pub(crate) next_hop: std::net::IpAddr,
    pub(crate) tmpl: Template,
}

/// The route from `src` to `dest`, the device's MAC and MTU (a `payload` it cannot carry
/// unfragmented is refused), and the next hop's MAC (resolved if missing): the frame headers.
pub(crate) fn frame_path(
    dest: SocketAddr,
    src: SocketAddr,
    payload: usize,
) -> Result<FramePath, String> {
    let r = route::route(dest).map_err(|e| format!("the route to {dest}: {e}"))?;
    let dev = crate::sys::linux::egress::ifname(r.ifindex);
    if r.local {
        return Err(format!(
            "{} is an address of this host (the route leaves by {dev}): AF_XDP sends out of a \
             network device",
            dest.ip()
        ));
    }
    let (src_mac, mtu) = route::link(r.ifindex).map_err(|e| format!("device {dev}: {e}"))?;
    let v6 = dest.is_ipv6();
    let ip_udp = ethip::header_len(v6) - ethip::ETH_LEN;
    if payload + ip_udp > mtu as usize {
        return Err(format!(
            "a {payload} B payload needs an MTU of {} on {dev}, which has {mtu}; AF_XDP sends no \
             fragments (lower --payload to {} or less)",
            payload + ip_udp,
            (mtu as usize).saturating_sub(ip_udp)
        ));
    }
    if payload + ethip::header_len(v6) > CHUNK as usize {
        return Err(format!(
            "a {payload} B payload makes frames longer than the {CHUNK} B the xdp backend sends"
        ));
    }
    let next_hop = r.gateway.unwrap_or(dest.ip());
    let dst_mac = route::resolve_mac(r.ifindex, next_hop, RESOLVE_LIMIT)
        .map_err(|e| format!("the next hop's MAC on {dev}: {e}"))?;
    let tmpl = Template::new(&ethip::Repr {
        src_mac,
        dst_mac,
        src,
        dst: dest,
        ip_id: 0,
        ttl: ethip::DEFAULT_TTL,
        payload_len: 0,
        udp_checksum: 0,
    })
    .map_err(|e| format!("the frame headers: {e}"))?;
    Ok(FramePath {
        ifindex: r.ifindex,
        dev,
        next_hop,
        tmpl,
    })
}

/// An AF_XDP socket on `path`'s device queue `queue` over the UMEM `umem` (page-aligned, alive
/// as long as the socket), with rings of `ring` entries: zero copy, copy mode, or (None) zero
/// copy else copy. Returns it, the mode it got, and why zero copy was refused where auto fell
/// back.
pub(crate) fn bind(
    path: &FramePath,
    queue: u32,
    zero_copy: Option<bool>,
    umem: (*mut u8, usize),
    ring: u32,
) -> Result<(Xsk, &'static str, Option<io::Error>), String> {
    let cfg = |mode| XskConfig {
        ifindex: path.ifindex,
        queue,
        mode,
        umem,
        chunk: CHUNK,
        ring: ring.clamp(64, 1 << 16).next_power_of_two(),
    };
    let open = |mode| open_when_free(&cfg(mode));
    let (xsk, used, why_not_zc) = match zero_copy {
        Some(true) => (open(BindMode::ZeroCopy), "zero-copy", None),
        Some(false) => (open(BindMode::Copy), "copy", None),
        None => match open(BindMode::ZeroCopy) {
            Ok(x) => (Ok(x), "zero-copy", None),
            Err(e) => (open(BindMode::Copy), "copy", Some(e)),
        },
    };
    let xsk = xsk.map_err(|e| {
        let mut why = explain(&e, &format!("AF_XDP on {} queue {queue}", path.dev));
        if e.raw_os_error() == Some(libc::EBUSY) {
            why += " (another AF_XDP socket holds this queue: give each sender its own \
                    --xdp-queue)";
        }
        why
    })?;
    Ok((xsk, used, why_not_zc))
}

/// How long binding waits for a queue that an AF_XDP socket closed just before still holds.
const QUEUE_RELEASE_WAIT: Duration = Duration::from_secs(1);

/// Opens the socket; while the queue is busy (EBUSY), tries again for up to
/// [`QUEUE_RELEASE_WAIT`]: the kernel lets go of a closed socket's queue a little after the
/// close (deferred work), so a sender started right after another on the same queue would
/// otherwise fail for no lasting reason.
fn open_when_free(cfg: &XskConfig) -> io::Result<Xsk> {
    let start = Instant::now();
    loop {
        match Xsk::open(cfg) {
            Err(e)
                if e.raw_os_error() == Some(libc::EBUSY)
                    && start.elapsed() < QUEUE_RELEASE_WAIT =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// Marks a slot not in flight in [`XdpBackend::lens`].
const IDLE: u32 = u32::MAX;

/// Sends through an AF_XDP socket, via the seam `S`.
#[derive(Debug)]
pub(crate) struct XdpBackend<S> {
    xsk: Xsk,
    seam: S,
    slab: Arc<Slab>,
    tmpl: Template,
    ip_id: u16,
    /// Payload length of each slot in flight, [`IDLE`] for the others.
    lens: Vec<u32>,
    /// Whether a slot's headroom holds the flow's headers already (from an earlier packet in
    /// it): then only the per-packet fields are written ([`Template::patch`]). The headroom is
    /// this backend's alone, so nothing else changes those bytes between two packets.
    primed: Vec<bool>,
    in_flight: usize,
    /// Frames the kernel completed without sending (EBUSY from a wake-up), to be counted failed.
    dropped: u64,
    /// The errno of a wake-up that failed for good: every later call fails with it.
    broken: Option<i32>,
    /// Rests after ENOBUFS, doubling while refusals continue.
    nobufs: crate::sys::unix::NoBufsRest,
    /// Slot ↔ frame offset in the UMEM.
    frames: FrameMap,
}

/// Where each slot's frame starts in the UMEM (its headers `hl` bytes before the payload), and
/// back: a completion names a frame by that offset. The way back divides by the slab's stride
/// once per packet, so it multiplies by the stride's precomputed reciprocal instead (exact for
/// offsets below 2^32, see [`FrameMap::slot_of`]) and checks the product.
#[derive(Debug, Clone, Copy)]
struct FrameMap {
    stride: u64,
    /// `headroom - hl`: the frame's start within a slot's stride.
    lead: u64,
    /// ⌈2^64 / stride⌉.
    reciprocal: u64,
}

impl FrameMap {
    fn new(slab: &Slab, hl: usize) -> FrameMap {
        let stride = (slab.slot_size() + slab.headroom()) as u64;
        FrameMap {
            stride,
            lead: (slab.headroom() - hl) as u64,
            reciprocal: u64::MAX / stride + 1,
        }
    }

    /// UMEM offset of the frame of `slot`.
    #[inline]
    fn addr(&self, slot: u32) -> u64 {
        u64::from(slot) * self.stride + self.lead
    }

    /// The slot whose frame starts at UMEM offset `addr`, if any frame starts there. For a
    /// dividend and divisor both below 2^32, the high 64 bits of `dividend × ⌈2^64 / divisor⌉`
    /// are the quotient exactly; a larger offset takes the plain division.
    #[inline]
    fn slot_of(&self, addr: u64) -> Option<u32> {
        let at = addr.checked_sub(self.lead)?;
        let slot = match u32::try_from(at) {
            Ok(small) if self.stride <= u64::from(u32::MAX) => {
                ((u128::from(self.reciprocal) * u128::from(small)) >> 64) as u64
            }
            _ => at / self.stride,
        };
        (slot * self.stride == at).then_some(u32::try_from(slot).ok()?)
    }
}

impl<S: XskSeam> XdpBackend<S> {
    fn new(xsk: Xsk, seam: S, slab: Arc<Slab>, tmpl: Template) -> XdpBackend<S> {
        XdpBackend {
            xsk,
            seam,
            lens: vec![IDLE; slab.slots() as usize],
            primed: vec![false; slab.slots() as usize],
            frames: FrameMap::new(&slab, tmpl.len()),
            slab,
            tmpl,
            ip_id: 0,
            in_flight: 0,
            dropped: 0,
            broken: None,
            nobufs: Default::default(),
        }
    }

    /// Wakes the kernel (timed and counted as a submit of `packets`), and sorts out a refusal:
    /// EAGAIN (more frames wait than one wake-up sends), EBUSY, ENOBUFS, ECONNREFUSED and EINTR
    /// leave the frames in the ring for the next wake-up (counted in `resent_packets` after
    /// ENOBUFS and ECONNREFUSED, as the socket backends count their re-sends; EBUSY: one frame
    /// was dropped below the socket); anything else breaks the socket. All but EAGAIN are
    /// counted by errno.
    fn kick(&mut self, packets: usize, m: &mut TxMetrics) {
        let t0 = Instant::now();
        let res = self.seam.kick(&self.xsk, m);
        m.record_submit(t0.elapsed().as_nanos() as u64, packets);
        let errno = match res {
            Ok(()) => 0,
            Err(e) => e.raw_os_error().unwrap_or(libc::EIO),
        };
        // In copy mode a wake-up sends a budget of frames (32, or 256) and answers EAGAIN when more
        // wait in the ring: the normal answer at full speed (one per wake-up), not an error.
        if errno == 0 || errno == libc::EAGAIN {
            self.nobufs.reset();
            return;
        }
        m.record_error(crate::sys::send_errno(errno));
        // The frames the refused wake-up left in the ring go with the next one.
        let waiting = u64::from(self.xsk.tx_queued());
        match errno {
            libc::EINTR => {}
            libc::ECONNREFUSED => m.resent_packets += waiting,
            libc::EBUSY => self.dropped += 1,
            libc::ENOBUFS => {
                m.resent_packets += waiting;
                std::thread::sleep(self.nobufs.next());
            }
            _ => {
                let e = io::Error::from_raw_os_error(errno);
                log::warn!("xdp: the wake-up failed ({e}); the socket sends no more");
                self.broken = Some(errno);
            }
        }
    }

    /// Takes every completion, counting it and handing its slot back.
    fn complete(&mut self, done: &mut dyn FnMut(u32), m: &mut TxMetrics) -> u32 {
        let XdpBackend {
            xsk,
            lens,
            in_flight,
            dropped,
            frames,
            ..
        } = self;
        xsk.complete(|addr| {
            // Only a slot in flight completes; anything else is counted, never handed back.
            let known = frames
                .slot_of(addr)
                .filter(|&s| lens.get(s as usize).is_some_and(|&l| l != IDLE));
            let Some(slot) = known else {
                m.stray_completions += 1;
                return;
            };
            let len = std::mem::replace(&mut lens[slot as usize], IDLE);
            *in_flight -= 1;
            if *dropped > 0 {
                *dropped -= 1;
                m.failed_packets += 1;
            } else {
                m.packets += 1;
                m.bytes += u64::from(len);
            }
            done(slot);
        })
    }
}

impl<S: XskSeam> TxBackend for XdpBackend<S> {
    fn name(&self) -> &'static str {
        "xdp"
    }

    fn gso_active(&self) -> bool {
        false
    }

    fn submit(&mut self, slab: &Slab, pkts: &[TxDesc], m: &mut TxMetrics) -> io::Result<usize> {
        if let Some(errno) = self.broken {
            return Err(io::Error::from_raw_os_error(errno));
        }
        debug_assert_eq!(slab.region(), self.slab.region(), "a different slab");
        let free = self.xsk.tx_free(pkts.len() as u32) as usize;
        let n = self.seam.room(pkts.len().min(free), m);
        let hl = self.tmpl.len();
        for p in &pkts[..n] {
            let payload = slab.slot_ptr(p.slot);
            // SAFETY: the engine holds the slot's token for us while the packet is in flight, so
            // nobody writes its `len` payload bytes; the `hl` bytes before them are the slot's
            // headroom (hl <= XDP_HEADROOM, checked at open), which only this backend touches,
            // and the kernel does not read them until the descriptor is published below.
            let (hdr, body) = unsafe {
                (
                    std::slice::from_raw_parts_mut(payload.sub(hl), hl),
                    std::slice::from_raw_parts(payload, p.len as usize),
                )
            };
            let primed = &mut self.primed[p.slot as usize];
            if *primed {
                self.tmpl.patch(hdr, body, self.ip_id);
            } else {
                self.tmpl.write(hdr, body, self.ip_id);
                *primed = true;
            }
            self.ip_id = self.ip_id.wrapping_add(1);
            let pushed = self
                .xsk
                .tx_push(self.frames.addr(p.slot), (hl + body.len()) as u32);
            debug_assert!(pushed, "the ring had room and the frame fits");
            self.lens[p.slot as usize] = p.len;
        }
        if n > 0 {
            self.xsk.tx_publish();
            self.in_flight += n;
            if self.xsk.tx_needs_wakeup() {
                self.kick(n, m);
            }
        }
        Ok(n)
    }

    fn reap(&mut self, wait: bool, done: &mut dyn FnMut(u32), m: &mut TxMetrics) -> io::Result<()> {
        // The clock is read only once waiting starts (most calls return before).
        let mut start = None;
        loop {
            if self.complete(done, m) > 0 || self.in_flight == 0 {
                return Ok(());
            }
            if let Some(errno) = self.broken {
                return Err(io::Error::from_raw_os_error(errno));
            }
            // Copy mode sends only when woken: wake it while frames wait in the ring.
            if self.xsk.tx_queued() > 0 && self.xsk.tx_needs_wakeup() {
                self.kick(0, m);
                if self.complete(done, m) > 0 {
                    return Ok(());
                }
            }
            if !wait || start.get_or_insert_with(Instant::now).elapsed() >= REAP_WAIT {
                return Ok(());
            }
            std::thread::yield_now();
        }
    }

    fn in_flight(&self) -> usize {
        self.in_flight
    }

    fn cancel(&mut self, timeout: Duration, done: &mut dyn FnMut(u32), m: &mut TxMetrics) -> usize {
        let start = Instant::now();
        while self.in_flight > 0 && start.elapsed() < timeout && self.broken.is_none() {
            let _ = self.reap(true, done, m);
        }
        let _ = self.complete(done, m);
        // What the kernel did not complete never left (or cannot be known to have): failed.
        m.failed_packets += self.in_flight as u64;
        self.in_flight
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every slot's frame maps back to that slot, whatever the stride (a power of two or not,
    /// and one past 2^32 bytes into the UMEM, where the division is the plain one); an offset
    /// that is not a frame's start maps to none.
    #[test]
    fn frame_offsets_map_back_to_their_slots() {
        for (slot_size, hl) in [(64, 42), (1472, 42), (1472, 62), (9000, 62), (65_507, 42)] {
            let (slab, _tokens) = Slab::with_headroom(16, slot_size, XDP_HEADROOM);
            let map = FrameMap::new(&slab, hl);
            for slot in 0..16 {
                let addr = map.addr(slot);
                assert_eq!(
                    addr as usize + hl,
                    slab.slot_ptr(slot) as usize - slab.region().0 as usize
                );
                assert_eq!(map.slot_of(addr), Some(slot), "stride {}", map.stride);
                assert_eq!(map.slot_of(addr + 1), None);
                assert_eq!(map.slot_of(addr + map.stride - 1), None);
            }
            assert_eq!(map.slot_of(map.lead.wrapping_sub(1)), None);
            // Far offsets (a UMEM past 4 GiB) take the division and still map exactly.
            let far = 70_000u32;
            assert_eq!(map.slot_of(map.addr(far)), Some(far));
            assert_eq!(map.slot_of(map.addr(far) + 4), None);
        }
    }
}
