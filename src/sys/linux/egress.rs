//! What lies below a connected UDP socket on its way out: the device the route to its peer
//! leaves by, and that device's queueing disciplines (their kinds and drop counters), read over
//! rtnetlink (`RTM_GETROUTE`, `RTM_GETQDISC`), plus the kernel's own UDP send-error counter.
//!
//! Why the sender asks: a qdisc that drops a datagram tells the sending socket (ENOBUFS, with
//! IP_RECVERR set), but a qdisc that cuts a GSO super-packet into its segments before queueing
//! them (tbf, cake, taprio) reports success as soon as one segment is queued, so the segments it
//! dropped are lost without a word. The engine turns GSO off where such a qdisc sits, and
//! compares the qdiscs' drop counters with the drops it was told of when the stream ends.
//!
//! Requests and replies are built and parsed here as plain bytes (native-endian netlink
//! headers); the parsers never index past what the kernel returned.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Qdisc kinds that segment a GSO super-packet before queueing it, so a partial drop is
/// reported to the sender as success.
pub(crate) const SEGMENTING_QDISCS: [&str; 3] = ["tbf", "cake", "taprio"];

pub(crate) const NLMSG_HDRLEN: usize = 16;
/// `struct rtmsg`: family, dst_len, src_len, tos, table, protocol, scope, type, flags (u32).
pub(crate) const RTMSG_LEN: usize = 12;
/// `struct tcmsg`: family, 3 pad bytes, ifindex (i32), handle, parent, info (u32 each).
const TCMSG_LEN: usize = 20;
pub(crate) const RTA_HDRLEN: usize = 4;
/// `TCA_STATS2` nests `TCA_STATS_QUEUE` (3): qlen, backlog, drops, requeues, overlimits (u32).
const TCA_STATS_QUEUE: u16 = 3;

/// One qdisc on a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Qdisc {
    pub(crate) kind: String,
    pub(crate) drops: u64,
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

pub(crate) fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

pub(crate) fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The netlink messages in one datagram: (type, payload after the header). Stops at the first
/// header that does not fit.
fn messages(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let len = u32_at(buf, 0)? as usize;
        let kind = u16_at(buf, 4)?;
        if len < NLMSG_HDRLEN || len > buf.len() {
            return None;
        }
        let payload = &buf[NLMSG_HDRLEN..len];
        buf = buf.get(align4(len)..).unwrap_or(&[]);
        Some((kind, payload))
    })
}

/// The route attributes in `b`: (type, value). Stops at the first that does not fit.
pub(crate) fn attributes(mut b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let len = u16_at(b, 0)? as usize;
        let kind = u16_at(b, 2)? & 0x3fff; // without the nested / byte-order flags
        if len < RTA_HDRLEN || len > b.len() {
            return None;
        }
        let value = &b[RTA_HDRLEN..len];
        b = b.get(align4(len)..).unwrap_or(&[]);
        Some((kind, value))
    })
}

/// The output interface of a `RTM_NEWROUTE` reply, if it names one.
fn parse_route_oif(payload: &[u8]) -> Option<u32> {
    attributes(payload.get(RTMSG_LEN..)?)
        .find(|(kind, _)| *kind == libc::RTA_OIF)
        .and_then(|(_, v)| u32_at(v, 0))
}

/// The qdisc of a `RTM_NEWQDISC` reply, with its device index.
fn parse_qdisc(payload: &[u8]) -> Option<(u32, Qdisc)> {
    let ifindex = u32_at(payload, 4)?;
    let mut kind = None;
    let (mut drops2, mut drops) = (None, None);
    for (t, v) in attributes(payload.get(TCMSG_LEN..)?) {
        match t {
            libc::TCA_KIND => {
                let name = v.split(|&c| c == 0).next().unwrap_or(&[]);
                kind = Some(String::from_utf8_lossy(name).into_owned());
            }
            // `struct tc_stats`: bytes (u64), packets, drops, ... (u32).
            libc::TCA_STATS => drops = u32_at(v, 12),
            libc::TCA_STATS2 => {
                drops2 = attributes(v)
                    .find(|(t, _)| *t == TCA_STATS_QUEUE)
                    .and_then(|(_, q)| u32_at(q, 8));
            }
            _ => {}
        }
    }
    let drops = u64::from(drops2.or(drops).unwrap_or(0));
    Some((ifindex, Qdisc { kind: kind?, drops }))
}

/// A netlink header for a request of `body_len` bytes after it.
pub(crate) fn header(kind: u16, flags: u16, body_len: usize) -> Vec<u8> {
    let mut m = Vec::with_capacity(NLMSG_HDRLEN + body_len);
    m.extend_from_slice(&((NLMSG_HDRLEN + body_len) as u32).to_ne_bytes());
    m.extend_from_slice(&kind.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    m.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills ours in
    m
}

/// A route lookup for `dest`: the route the kernel would use to send there.
pub(crate) fn route_request(dest: SocketAddr) -> Vec<u8> {
    let (family, addr): (u8, Vec<u8>) = match dest {
        SocketAddr::V4(a) => (libc::AF_INET as u8, a.ip().octets().to_vec()),
        SocketAddr::V6(a) => (libc::AF_INET6 as u8, a.ip().octets().to_vec()),
    };
    let attr_len = RTA_HDRLEN + addr.len();
    let mut m = header(
        libc::RTM_GETROUTE,
        libc::NLM_F_REQUEST as u16,
        RTMSG_LEN + attr_len,
    );
    let bits = (addr.len() * 8) as u8;
    m.extend_from_slice(&[family, bits, 0, 0, 0, 0, 0, 0]);
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&(attr_len as u16).to_ne_bytes());
    m.extend_from_slice(&libc::RTA_DST.to_ne_bytes());
    m.extend_from_slice(&addr);
    m
}

/// A dump of every qdisc (replies are filtered by device here).
fn qdisc_request() -> Vec<u8> {
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
    let mut m = header(libc::RTM_GETQDISC, flags, TCMSG_LEN);
    m.extend_from_slice(&[0u8; TCMSG_LEN]);
    m
}

/// Sends `request` on a fresh rtnetlink socket and hands every reply message to `each` until
/// the kernel says it is done (a dump) or has answered (a single request).
pub(crate) fn ask(request: &[u8], dump: bool, mut each: impl FnMut(u16, &[u8])) -> io::Result<()> {
    let raw = syscall!(socket(
        libc::AF_NETLINK,
        libc::SOCK_RAW | libc::SOCK_CLOEXEC,
        libc::NETLINK_ROUTE
    ))?;
    // SAFETY: socket(2) just returned this descriptor; nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let timeout = libc::timeval {
        tv_sec: 1,
        tv_usec: 0,
    };
    syscall!(setsockopt(
        fd.as_raw_fd(),
        libc::SOL_SOCKET,
        libc::SO_RCVTIMEO,
        (&timeout as *const libc::timeval).cast(),
        std::mem::size_of::<libc::timeval>() as libc::socklen_t
    ))?;
    // SAFETY: an all-zero sockaddr_nl is valid; the family is set next (pid 0: the kernel).
    let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    syscall!(sendto(
        fd.as_raw_fd(),
        request.as_ptr().cast(),
        request.len(),
        0,
        (&kernel as *const libc::sockaddr_nl).cast(),
        std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t
    ))?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = syscall!(recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0))? as usize;
        for (kind, payload) in messages(&buf[..n.min(buf.len())]) {
            match i32::from(kind) {
                libc::NLMSG_DONE => return Ok(()),
                libc::NLMSG_ERROR => {
                    let code = u32_at(payload, 0).map_or(0, |c| c as i32);
                    return if code == 0 {
                        Ok(())
                    } else {
                        Err(io::Error::from_raw_os_error(-code))
                    };
                }
                _ => each(kind, payload),
            }
        }
        if !dump {
            return Ok(());
        }
    }
}

/// The index of the device the kernel's route to `dest` leaves by.
pub(crate) fn egress_ifindex(dest: SocketAddr) -> io::Result<u32> {
    let mut oif = None;
    ask(&route_request(dest), false, |kind, payload| {
        if kind == libc::RTM_NEWROUTE {
            oif = oif.or(parse_route_oif(payload));
        }
    })?;
    oif.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "the route names no device"))
}

/// The qdiscs on device `ifindex`, the root first.
pub(crate) fn qdiscs(ifindex: u32) -> io::Result<Vec<Qdisc>> {
    let mut found = Vec::new();
    ask(&qdisc_request(), true, |kind, payload| {
        if kind == libc::RTM_NEWQDISC {
            if let Some((index, q)) = parse_qdisc(payload) {
                if index == ifindex {
                    found.push(q);
                }
            }
        }
    })?;
    Ok(found)
}

/// The device's name (for messages), or its index when it has none we can read.
pub(crate) fn ifname(ifindex: u32) -> String {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `buf` has the IF_NAMESIZE bytes if_indextoname(3) may write, NUL included.
    let named = unsafe { libc::if_indextoname(ifindex, buf.as_mut_ptr()) };
    if named.is_null() {
        return format!("if{ifindex}");
    }
    // SAFETY: on success the buffer holds a NUL-terminated name.
    let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    name.to_string_lossy().into_owned()
}

/// `Udp: SndbufErrors` (or `Udp6:` for IPv6) from the network namespace's SNMP counters: sends
/// that failed for want of buffer space, ENOBUFS from a qdisc among them, whichever socket sent.
pub(crate) fn udp_sndbuf_errors(v6: bool) -> Option<u64> {
    if v6 {
        let text = std::fs::read_to_string("/proc/net/snmp6").ok()?;
        return text.lines().find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next()? == "Udp6SndbufErrors").then(|| w.next()?.parse().ok())?
        });
    }
    let text = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut udp = text.lines().filter(|l| l.starts_with("Udp: "));
    let (names, values) = (udp.next()?, udp.next()?);
    let at = names.split_whitespace().position(|n| n == "SndbufErrors")?;
    values.split_whitespace().nth(at)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut a = ((RTA_HDRLEN + value.len()) as u16).to_ne_bytes().to_vec();
        a.extend_from_slice(&kind.to_ne_bytes());
        a.extend_from_slice(value);
        a.resize(align4(a.len()), 0);
        a
    }

    #[test]
    fn a_qdisc_reply_gives_its_kind_device_and_drops() {
        let mut p = vec![0u8; TCMSG_LEN];
        p[4..8].copy_from_slice(&7u32.to_ne_bytes());
        p.extend(attr(libc::TCA_KIND, b"tbf\0"));
        let mut queue = Vec::new();
        for v in [0u32, 0, 1234, 0, 9] {
            queue.extend_from_slice(&v.to_ne_bytes());
        }
        p.extend(attr(libc::TCA_STATS2, &attr(TCA_STATS_QUEUE, &queue)));
        let (index, q) = parse_qdisc(&p).unwrap();
        assert_eq!(index, 7);
        assert_eq!(
            q,
            Qdisc {
                kind: "tbf".into(),
                drops: 1234
            }
        );
    }

    #[test]
    fn the_legacy_stats_are_read_when_there_are_no_others() {
        let mut p = vec![0u8; TCMSG_LEN];
        p.extend(attr(libc::TCA_KIND, b"pfifo\0"));
        let mut stats = vec![0u8; 36];
        stats[12..16].copy_from_slice(&55u32.to_ne_bytes());
        p.extend(attr(libc::TCA_STATS, &stats));
        assert_eq!(parse_qdisc(&p).unwrap().1.drops, 55);
    }

    #[test]
    fn truncated_or_garbage_replies_parse_to_nothing_without_panicking() {
        assert!(parse_qdisc(&[]).is_none());
        assert!(parse_qdisc(&[0u8; TCMSG_LEN]).is_none(), "no kind");
        assert!(parse_route_oif(&[1, 2, 3]).is_none());
        let mut junk = vec![0u8; TCMSG_LEN];
        junk.extend_from_slice(&[200, 0, 1, 0, b't']); // an attribute longer than the buffer
        assert!(parse_qdisc(&junk).is_none());
        for len in 0..40 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let _ = messages(&bytes).count();
            let _ = parse_qdisc(&bytes);
            let _ = parse_route_oif(&bytes);
        }
    }

    #[test]
    fn the_loopback_route_leaves_by_lo_and_its_qdiscs_can_be_read() {
        let index = egress_ifindex("127.0.0.1:9".parse().unwrap()).unwrap();
        assert_eq!(ifname(index), "lo");
        // Whatever sits there (often noqueue, which lists nothing), the dump itself works.
        qdiscs(index).unwrap();
    }

    #[test]
    fn the_udp_send_error_counter_is_readable() {
        assert!(udp_sndbuf_errors(false).is_some());
    }
}
