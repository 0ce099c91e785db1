//! Where a frame sent past the kernel's IP stack must go: the device and next hop of the route to
//! the destination (`RTM_GETROUTE`), the next hop's MAC address from the neighbour table
//! (`RTM_GETNEIGH`, resolved by sending one ordinary datagram when it is missing), and the
//! device's own MAC address and MTU (`RTM_GETLINK`). Requests go through the rtnetlink helpers of
//! [`crate::sys::linux::egress`]; the parsers never index past what the kernel returned.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::sys::linux::egress::{ask, attributes, header, route_request, u32_at, RTMSG_LEN};

/// `struct ndmsg`: family, 3 pad bytes, ifindex (i32), state (u16), flags, type (u8).
const NDMSG_LEN: usize = 12;
/// `struct ifinfomsg`: family, pad, type (u16), index (i32), flags, change (u32).
const IFINFOMSG_LEN: usize = 16;
/// Neighbour states whose link-layer address may be used.
const NUD_USABLE: u16 = 0x02 | 0x04 | 0x08 | 0x10 | 0x40 | 0x80; // reachable stale delay probe noarp permanent

/// The route's device and the gateway it names (none: the destination is on the link).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Route {
    pub(crate) ifindex: u32,
    pub(crate) gateway: Option<IpAddr>,
    pub(crate) local: bool,
}

fn ip_from(v: &[u8]) -> Option<IpAddr> {
    match v.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(v).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(v).ok()?)),
        _ => None,
    }
}

/// The route of a `RTM_NEWROUTE` reply.
fn parse_route(payload: &[u8]) -> Option<Route> {
    let local = *payload.get(7)? == libc::RTN_LOCAL;
    let (mut oif, mut gateway) = (None, None);
    for (kind, v) in attributes(payload.get(RTMSG_LEN..)?) {
        match kind {
            libc::RTA_OIF => oif = u32_at(v, 0),
            libc::RTA_GATEWAY => gateway = ip_from(v),
            _ => {}
        }
    }
    Some(Route {
        ifindex: oif?,
        gateway,
        local,
    })
}

/// The link-layer address of a `RTM_NEWNEIGH` reply when it is for `ip` on `ifindex` and usable.
fn parse_neigh(payload: &[u8], ifindex: u32, ip: IpAddr) -> Option<[u8; 6]> {
    let index = u32_at(payload, 4)?;
    let state = u16::from_ne_bytes(payload.get(8..10)?.try_into().ok()?);
    if index != ifindex || state & NUD_USABLE == 0 {
        return None;
    }
    let (mut dst, mut mac) = (None, None);
    for (kind, v) in attributes(payload.get(NDMSG_LEN..)?) {
        match kind {
            libc::NDA_DST => dst = ip_from(v),
            libc::NDA_LLADDR => mac = <[u8; 6]>::try_from(v).ok(),
            _ => {}
        }
    }
    (dst? == ip).then_some(mac?)
}

/// MAC address and MTU of a `RTM_NEWLINK` reply.
fn parse_link(payload: &[u8]) -> (Option<[u8; 6]>, Option<u32>) {
    let (mut mac, mut mtu) = (None, None);
    for (kind, v) in attributes(payload.get(IFINFOMSG_LEN..).unwrap_or(&[])) {
        match kind {
            libc::IFLA_ADDRESS => mac = <[u8; 6]>::try_from(v).ok(),
            libc::IFLA_MTU => mtu = u32_at(v, 0),
            _ => {}
        }
    }
    (mac, mtu)
}

/// The route the kernel would use to send to `dest`.
pub(crate) fn route(dest: SocketAddr) -> io::Result<Route> {
    let mut found = None;
    ask(&route_request(dest), false, |kind, payload| {
        if kind == libc::RTM_NEWROUTE {
            found = found.or(parse_route(payload));
        }
    })?;
    found.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "the route names no device"))
}

/// The device's MAC address and MTU. A device without a 6-byte address (a tunnel) cannot carry
/// Ethernet frames: an error.
pub(crate) fn link(ifindex: u32) -> io::Result<([u8; 6], u32)> {
    let mut m = header(libc::RTM_GETLINK, libc::NLM_F_REQUEST as u16, IFINFOMSG_LEN);
    let mut body = [0u8; IFINFOMSG_LEN];
    body[4..8].copy_from_slice(&ifindex.to_ne_bytes());
    m.extend_from_slice(&body);
    let mut found = (None, None);
    ask(&m, false, |kind, payload| {
        if kind == libc::RTM_NEWLINK {
            found = parse_link(payload);
        }
    })?;
    match found {
        (Some(mac), Some(mtu)) => Ok((mac, mtu)),
        _ => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the device has no Ethernet address",
        )),
    }
}

/// The usable neighbour entry for `ip` on `ifindex`, if there is one now.
fn neighbour(ifindex: u32, ip: IpAddr) -> io::Result<Option<[u8; 6]>> {
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
    let mut m = header(libc::RTM_GETNEIGH, flags, NDMSG_LEN);
    let mut body = [0u8; NDMSG_LEN];
    body[0] = if ip.is_ipv6() {
        libc::AF_INET6
    } else {
        libc::AF_INET
    } as u8;
    m.extend_from_slice(&body);
    let mut mac = None;
    ask(&m, true, |kind, payload| {
        if kind == libc::RTM_NEWNEIGH {
            mac = mac.or(parse_neigh(payload, ifindex, ip));
        }
    })?;
    Ok(mac)
}

/// The next hop's MAC address. When the neighbour table has no usable entry, one empty UDP
/// datagram to the discard port (9) of `next_hop` makes the kernel resolve it (ARP or neighbour
/// discovery); the table is read again every 10 ms, the datagram re-sent every 200 ms, for at
/// most `limit`.
pub(crate) fn resolve_mac(ifindex: u32, next_hop: IpAddr, limit: Duration) -> io::Result<[u8; 6]> {
    if let Some(mac) = neighbour(ifindex, next_hop)? {
        return Ok(mac);
    }
    let any: IpAddr = match next_hop {
        IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let probe = UdpSocket::bind((any, 0))?;
    let start = Instant::now();
    let mut sent_at: Option<Instant> = None;
    while start.elapsed() < limit {
        if sent_at.is_none_or(|t| t.elapsed() >= Duration::from_millis(200)) {
            // A send error (EHOSTUNREACH once resolution failed) is not the answer: the table is.
            let _ = probe.send_to(&[], SocketAddr::new(next_hop, 9));
            sent_at = Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(10));
        if let Some(mac) = neighbour(ifindex, next_hop)? {
            return Ok(mac);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "the neighbour {next_hop} did not resolve within {} ms",
            limit.as_millis()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut a = ((4 + value.len()) as u16).to_ne_bytes().to_vec();
        a.extend_from_slice(&kind.to_ne_bytes());
        a.extend_from_slice(value);
        a.resize(a.len().div_ceil(4) * 4, 0);
        a
    }

    #[test]
    fn a_route_reply_gives_device_gateway_and_locality() {
        let mut p = vec![2, 32, 0, 0, 254, 3, 0, libc::RTN_UNICAST, 0, 0, 0, 0];
        p.extend(attr(libc::RTA_OIF, &5u32.to_ne_bytes()));
        p.extend(attr(libc::RTA_GATEWAY, &[10, 0, 0, 1]));
        let r = parse_route(&p).unwrap();
        assert_eq!(r.ifindex, 5);
        assert_eq!(r.gateway, Some(IpAddr::from([10, 0, 0, 1])));
        assert!(!r.local);
        p[7] = libc::RTN_LOCAL;
        assert!(parse_route(&p).unwrap().local);
    }

    #[test]
    fn a_neighbour_reply_counts_only_for_its_device_address_and_a_usable_state() {
        let ip = IpAddr::from([10, 0, 0, 2]);
        let mac = [2, 0, 0, 0, 0, 9];
        let mut p = vec![2, 0, 0, 0];
        p.extend_from_slice(&7u32.to_ne_bytes());
        p.extend_from_slice(&libc::NUD_REACHABLE.to_ne_bytes());
        p.extend_from_slice(&[0, 1]);
        p.extend(attr(libc::NDA_DST, &[10, 0, 0, 2]));
        p.extend(attr(libc::NDA_LLADDR, &mac));
        assert_eq!(parse_neigh(&p, 7, ip), Some(mac));
        assert_eq!(parse_neigh(&p, 8, ip), None, "another device");
        assert_eq!(parse_neigh(&p, 7, IpAddr::from([10, 0, 0, 3])), None);
        p[8..10].copy_from_slice(&0x01u16.to_ne_bytes()); // incomplete
        assert_eq!(parse_neigh(&p, 7, ip), None);
    }

    #[test]
    fn truncated_replies_parse_to_nothing() {
        for len in 0..24 {
            let b: Vec<u8> = (0..len).map(|i| (i * 29 + 3) as u8).collect();
            let _ = parse_route(&b);
            let _ = parse_neigh(&b, 1, IpAddr::from([1, 2, 3, 4]));
            let _ = parse_link(&b);
        }
    }

    #[test]
    fn the_loopback_device_is_found_with_its_mtu() {
        let r = route("127.0.0.1:9".parse().unwrap()).unwrap();
        assert!(r.local);
        let (mac, mtu) = link(r.ifindex).unwrap();
        assert_eq!(mac, [0; 6]);
        assert!(mtu >= 1500, "{mtu}");
    }
}
