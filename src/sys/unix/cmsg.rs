//! Unix control messages and socket addresses: parsing what the kernel attaches to a received
//! datagram (GRO segment size, drop counter, timestamp), reading the error queue (ICMP reports),
//! and the `sockaddr` layouts both ways. Every read is bounds-checked and alignment-free.
// The receiver (`recv` feature) parses data control messages; the ACK path uses the rest.
#![cfg_attr(not(feature = "recv"), allow(dead_code))]

#[cfg(test)]
use std::io;
use std::net::{SocketAddr, UdpSocket};

use crate::sys::rx::{ErrorReport, CONTROL_LEN, NAME_LEN};

/// Control-message space for one datagram, aligned for `cmsghdr`.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(8))]
pub struct ControlBuf(pub [u8; CONTROL_LEN]);

/// Space for one source address, aligned for `sockaddr_storage`.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(8))]
pub struct NameBuf(pub [u8; NAME_LEN]);

/// What the control messages of one datagram said.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CmsgInfo {
    /// UDP_GRO segment size; 0 when absent.
    pub segment: usize,
    /// SO_RXQ_OVFL: drops at this socket so far, when the kernel attached it.
    pub drops: Option<u32>,
    /// SO_TIMESTAMPNS in ns since the epoch; 0 when absent.
    pub at_ns: u64,
}

/// Parses the control messages in `control` (as the kernel wrote them after a recvmsg). Unknown
/// messages are skipped; a malformed length ends the walk. Every read is bounds-checked against
/// `control`, which need not be aligned.
#[cfg(ringshot_gso)]
pub fn parse_control(control: &[u8]) -> CmsgInfo {
    use std::mem::size_of;
    let mut info = CmsgInfo::default();
    let hdr_len = size_of::<libc::cmsghdr>();
    // SAFETY: CMSG_LEN is a pure size computation.
    let data_start = unsafe { libc::CMSG_LEN(0) } as usize;
    let align = size_of::<usize>();
    let mut off = 0;
    while control.len() - off >= hdr_len {
        let at = control[off..].as_ptr().cast::<libc::cmsghdr>();
        // SAFETY: `off + hdr_len <= control.len()`, so the unaligned read of a plain-integer
        // cmsghdr (valid for any bit pattern) stays inside `control`.
        let h = unsafe { std::ptr::read_unaligned(at) };
        let len = h.cmsg_len as usize;
        if len < data_start || len > control.len() - off {
            break;
        }
        let data = &control[off + data_start..off + len];
        match (h.cmsg_level, h.cmsg_type) {
            (libc::SOL_UDP, libc::UDP_GRO) if data.len() >= 4 => {
                let seg = i32::from_ne_bytes([data[0], data[1], data[2], data[3]]);
                info.segment = usize::try_from(seg).unwrap_or(0);
            }
            (libc::SOL_SOCKET, libc::SO_RXQ_OVFL) if data.len() >= 4 => {
                info.drops = Some(u32::from_ne_bytes([data[0], data[1], data[2], data[3]]));
            }
            (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS)
                if data.len() >= size_of::<libc::timespec>() =>
            {
                // SAFETY: `data` holds at least a timespec's bytes; timespec is plain integers.
                let ts =
                    unsafe { std::ptr::read_unaligned(data.as_ptr().cast::<libc::timespec>()) };
                info.at_ns = (ts.tv_sec as u64)
                    .saturating_mul(1_000_000_000)
                    .saturating_add(ts.tv_nsec as u64);
            }
            _ => {}
        }
        // CMSG_NXTHDR: the next header starts at the aligned end of this one.
        off = match (off + len).checked_next_multiple_of(align) {
            Some(next) if next <= control.len() => next,
            _ => break,
        };
    }
    info
}

/// Reads a `sockaddr_in`/`sockaddr_in6` the kernel wrote into `name` (its first `len` bytes).
/// Where addresses start with a length byte (the BSDs, macOS) the family is the second byte.
#[cfg(unix)]
pub fn parse_sockaddr(name: &[u8]) -> Option<SocketAddr> {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
    #[cfg(not(ringshot_sa_len))]
    let family = u16::from_ne_bytes(name.get(0..2)?.try_into().ok()?);
    #[cfg(ringshot_sa_len)]
    let family = u16::from(*name.get(1)?);
    let port = u16::from_be_bytes(name.get(2..4)?.try_into().ok()?);
    match i32::from(family) {
        libc::AF_INET => {
            let ip: [u8; 4] = name.get(4..8)?.try_into().ok()?;
            Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port)))
        }
        libc::AF_INET6 => {
            let flow = u32::from_ne_bytes(name.get(4..8)?.try_into().ok()?);
            let ip: [u8; 16] = name.get(8..24)?.try_into().ok()?;
            let scope = u32::from_ne_bytes(name.get(24..28)?.try_into().ok()?);
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(ip),
                port,
                flow,
                scope,
            )))
        }
        _ => None,
    }
}

/// Most error-queue reports read by one [`drain_error_queue`] call, so a flood cannot hold the
/// caller; what is left keeps the socket's POLLERR up for the next call.
#[cfg(ringshot_errqueue)]
pub const ERRQUEUE_BATCH: usize = 64;

/// Reads up to [`ERRQUEUE_BATCH`] reports from `sock`'s error queue without blocking and calls
/// `on` with each one's kind. Reading the queue also clears the pending socket error the kernel
/// raised with the report, which is what keeps poll(2) saying POLLERR. Returns how many were
/// read.
#[cfg(ringshot_errqueue)]
pub fn drain_error_queue(sock: &UdpSocket, on: &mut dyn FnMut(ErrorReport)) -> usize {
    use std::os::fd::AsRawFd;
    let mut data = [0u8; 64];
    let mut control = ControlBuf([0; CONTROL_LEN]);
    let mut n = 0;
    while n < ERRQUEUE_BATCH {
        let mut iov = libc::iovec {
            iov_base: data.as_mut_ptr().cast(),
            iov_len: data.len(),
        };
        let mut hdr = super::msg::empty_msghdr();
        hdr.msg_iov = &mut iov;
        hdr.msg_iovlen = 1;
        hdr.msg_control = control.0.as_mut_ptr().cast();
        hdr.msg_controllen = CONTROL_LEN as _;
        let flags = libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT;
        if syscall!(recvmsg(sock.as_raw_fd(), &mut hdr, flags)).is_err() {
            break;
        }
        n += 1;
        #[allow(clippy::unnecessary_cast)] // socklen_t on some libcs, usize on glibc
        let len = (hdr.msg_controllen as usize).min(CONTROL_LEN);
        if let Some(report) = parse_error_report(&control.0[..len]) {
            on(report);
        }
    }
    n
}

#[cfg(not(ringshot_errqueue))]
pub fn drain_error_queue(_sock: &UdpSocket, _on: &mut dyn FnMut(ErrorReport)) -> usize {
    0
}

/// Finds the `sock_extended_err` in the control messages of an error-queue read and classifies
/// it. Bounds-checked like [`parse_control`].
#[cfg(ringshot_errqueue)]
fn parse_error_report(control: &[u8]) -> Option<ErrorReport> {
    use std::mem::size_of;
    let hdr_len = size_of::<libc::cmsghdr>();
    // SAFETY: CMSG_LEN is a pure size computation.
    let data_start = unsafe { libc::CMSG_LEN(0) } as usize;
    let mut off = 0;
    while control.len() - off >= hdr_len {
        // SAFETY: `off + hdr_len <= control.len()`; cmsghdr is plain integers, read unaligned.
        let h =
            unsafe { std::ptr::read_unaligned(control[off..].as_ptr().cast::<libc::cmsghdr>()) };
        let len = h.cmsg_len as usize;
        if len < data_start || len > control.len() - off {
            return None;
        }
        let data = &control[off + data_start..off + len];
        let is_recverr = matches!(
            (h.cmsg_level, h.cmsg_type),
            (libc::IPPROTO_IP, libc::IP_RECVERR) | (libc::IPPROTO_IPV6, libc::IPV6_RECVERR)
        );
        if is_recverr && data.len() >= size_of::<libc::sock_extended_err>() {
            // SAFETY: `data` holds at least a sock_extended_err's bytes; it is plain integers.
            let ee = unsafe {
                std::ptr::read_unaligned(data.as_ptr().cast::<libc::sock_extended_err>())
            };
            let icmp = matches!(
                ee.ee_origin,
                libc::SO_EE_ORIGIN_ICMP | libc::SO_EE_ORIGIN_ICMP6
            );
            // The kernel maps the ICMP type and code to an errno for both IP versions.
            return Some(match (icmp, ee.ee_errno as i32) {
                (false, _) => ErrorReport::Local,
                (true, libc::ECONNREFUSED) => ErrorReport::PortUnreachable,
                (true, libc::EHOSTUNREACH | libc::ENETUNREACH) => ErrorReport::HostUnreachable,
                (true, _) => ErrorReport::OtherIcmp,
            });
        }
        off = match (off + len).checked_next_multiple_of(size_of::<usize>()) {
            Some(next) if next <= control.len() => next,
            _ => return None,
        };
    }
    None
}

/// Sends `data` as one UDP GSO super-packet of `segment`-byte datagrams from `sock` to `dest`
/// (a test and benchmark helper: what a GSO sender puts on the wire).
#[cfg(all(test, ringshot_gso))]
pub fn send_gso(
    sock: &UdpSocket,
    dest: SocketAddr,
    data: &[u8],
    segment: u16,
) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let mut storage = NameBuf([0; NAME_LEN]);
    let namelen = write_sockaddr(dest, &mut storage.0);
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    let mut cmsg = super::msg::CmsgBuf::default();
    let clen = super::msg::write_gso_cmsg(&mut cmsg, segment);
    let mut hdr = super::msg::empty_msghdr();
    hdr.msg_name = storage.0.as_mut_ptr().cast();
    hdr.msg_namelen = namelen as libc::socklen_t;
    hdr.msg_iov = &mut iov;
    hdr.msg_iovlen = 1;
    hdr.msg_control = (&mut cmsg as *mut super::msg::CmsgBuf).cast();
    hdr.msg_controllen = clen as _;
    // The kernel only reads through `hdr` (name, one iovec over `data`, the cmsg), all alive here.
    syscall!(sendmsg(sock.as_raw_fd(), &hdr, 0)).map(|n| n as usize)
}

/// Where the OS has no UDP GSO there is nothing to send this way.
#[cfg(all(test, not(ringshot_gso)))]
pub fn send_gso(_: &UdpSocket, _: SocketAddr, _: &[u8], _: u16) -> io::Result<usize> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Without the Linux receive options there are no control messages to read.
#[cfg(not(ringshot_gso))]
pub fn parse_control(_control: &[u8]) -> CmsgInfo {
    CmsgInfo::default()
}

/// Writes `addr` as a `sockaddr_in`/`sockaddr_in6` into `out` and returns its length. Where
/// addresses start with a length byte (the BSDs, macOS) it is written with the family after it.
#[cfg(unix)]
pub fn write_sockaddr(addr: SocketAddr, out: &mut [u8; NAME_LEN]) -> usize {
    let (family, len) = match addr {
        SocketAddr::V4(_) => (libc::AF_INET, std::mem::size_of::<libc::sockaddr_in>()),
        SocketAddr::V6(_) => (libc::AF_INET6, std::mem::size_of::<libc::sockaddr_in6>()),
    };
    *out = [0; NAME_LEN];
    #[cfg(not(ringshot_sa_len))]
    out[0..2].copy_from_slice(&(family as u16).to_ne_bytes());
    #[cfg(ringshot_sa_len)]
    {
        out[0] = len as u8; // 16 or 28
        out[1] = family as u8;
    }
    match addr {
        SocketAddr::V4(a) => {
            out[2..4].copy_from_slice(&a.port().to_be_bytes());
            out[4..8].copy_from_slice(&a.ip().octets());
        }
        SocketAddr::V6(a) => {
            out[2..4].copy_from_slice(&a.port().to_be_bytes());
            out[4..8].copy_from_slice(&a.flowinfo().to_ne_bytes());
            out[8..24].copy_from_slice(&a.ip().octets());
            out[24..28].copy_from_slice(&a.scope_id().to_ne_bytes());
        }
    }
    len
}

#[cfg(all(test, unix))]
mod sockaddr_tests {
    use super::*;

    #[test]
    fn sockaddr_round_trips() {
        for s in ["127.0.0.1:4991", "[::1]:9", "[fe80::1%3]:65535"] {
            let a: SocketAddr = s.parse().unwrap();
            let mut buf = [0u8; NAME_LEN];
            let n = write_sockaddr(a, &mut buf);
            assert_eq!(parse_sockaddr(&buf[..n]), Some(a));
        }
        assert_eq!(parse_sockaddr(&[0u8; 16]), None, "AF_UNSPEC");
        assert_eq!(parse_sockaddr(&[2, 0, 1]), None, "short");
    }
}

#[cfg(all(test, ringshot_gso))]
mod tests {
    use super::*;

    fn cmsg(level: i32, kind: i32, data: &[u8]) -> Vec<u8> {
        // SAFETY: cmsghdr is plain integers; all-zero is a valid value.
        let mut h: libc::cmsghdr = unsafe { std::mem::zeroed() };
        h.cmsg_level = level;
        h.cmsg_type = kind;
        // SAFETY: CMSG_LEN/CMSG_SPACE are pure size computations.
        let (len, space) = unsafe {
            (
                libc::CMSG_LEN(data.len() as u32) as usize,
                libc::CMSG_SPACE(data.len() as u32) as usize,
            )
        };
        h.cmsg_len = len as _;
        let mut out = vec![0u8; space];
        let hdr = std::mem::size_of::<libc::cmsghdr>();
        // SAFETY: cmsghdr is plain integers; viewing it as bytes is sound.
        let hb =
            unsafe { std::slice::from_raw_parts((&h as *const libc::cmsghdr).cast::<u8>(), hdr) };
        out[..hdr].copy_from_slice(hb);
        out[len - data.len()..len].copy_from_slice(data);
        out
    }

    #[test]
    fn control_parser_reads_all_three_and_skips_unknown() {
        let mut c = cmsg(libc::SOL_IP, libc::IP_TOS, &[7, 0, 0, 0]);
        c.extend(cmsg(libc::SOL_UDP, libc::UDP_GRO, &1472i32.to_ne_bytes()));
        c.extend(cmsg(
            libc::SOL_SOCKET,
            libc::SO_RXQ_OVFL,
            &9u32.to_ne_bytes(),
        ));
        let ts = libc::timespec {
            tv_sec: 3,
            tv_nsec: 5,
        };
        // SAFETY: timespec is plain integers; viewing it as bytes is sound.
        let tb = unsafe {
            std::slice::from_raw_parts(
                (&ts as *const libc::timespec).cast::<u8>(),
                std::mem::size_of::<libc::timespec>(),
            )
        };
        c.extend(cmsg(libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS, tb));
        let info = parse_control(&c);
        assert_eq!(
            info,
            CmsgInfo {
                segment: 1472,
                drops: Some(9),
                at_ns: 3_000_000_005
            }
        );
        // Unaligned input parses the same.
        let mut shifted = vec![0u8];
        shifted.extend(&c);
        assert_eq!(parse_control(&shifted[1..]), info);
        // Cut in the middle of the last message: the complete ones still parse.
        let cut = parse_control(&c[..c.len() - 4]);
        assert_eq!((cut.segment, cut.drops, cut.at_ns), (1472, Some(9), 0));
    }

    #[test]
    fn control_parser_survives_garbage() {
        assert_eq!(parse_control(&[0xff; CONTROL_LEN]), CmsgInfo::default());
        assert_eq!(parse_control(&[0; CONTROL_LEN]), CmsgInfo::default());
        assert_eq!(parse_control(&[]), CmsgInfo::default());
        assert_eq!(parse_control(&[1, 2, 3]), CmsgInfo::default());
    }
}
