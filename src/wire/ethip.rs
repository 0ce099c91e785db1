//! Ethernet II + IPv4 or IPv6 + UDP headers, as a sender that bypasses the kernel's UDP stack
//! (the `xdp` backend) writes them in front of each datagram.
//!
//! ```text
//!  Ethernet (14): dst MAC (6) | src MAC (6) | ethertype (2): 0x0800 IPv4, 0x86DD IPv6
//!  IPv4 (20, no options): ver/ihl 0x45 | tos | total len | id | flags/frag (DF) | ttl | proto 17 |
//!                         header checksum | src (4) | dst (4)
//!  IPv6 (40): ver/class/flow | payload len | next header 17 | hop limit | src (16) | dst (16)
//!  UDP (8): src port | dst port | length | checksum (0 = none: IPv4 only)
//! ```
//! All fields big-endian. [`Frame`] is the zero-copy view over such a frame (lengths checked once
//! by [`Frame::new_checked`]); [`Repr`] is what it says, with [`Repr::parse`] and [`Repr::emit`].
//! A fragment, an IPv4 header with options or an IPv6 extension header is refused
//! ([`WireError::BadField`]): the sender never writes one.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::WireError;

/// Ethernet II header length.
pub const ETH_LEN: usize = 14;
/// IPv4 header length without options.
pub const IPV4_LEN: usize = 20;
/// IPv6 fixed header length.
pub const IPV6_LEN: usize = 40;
/// UDP header length.
pub const UDP_LEN: usize = 8;
/// The longest header [`Repr::emit`] writes (Ethernet + IPv6 + UDP).
pub const MAX_HEADER_LEN: usize = ETH_LEN + IPV6_LEN + UDP_LEN;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const PROTO_UDP: u8 = 17;
/// IPv4 "don't fragment".
const IPV4_DF: u16 = 0x4000;
/// Hop limit / TTL the sender writes.
pub const DEFAULT_TTL: u8 = 64;

/// One UDP datagram's headers: who sends, to whom, and over which link-layer hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    /// Source address and port (both addresses the same family).
    pub src: SocketAddr,
    /// Destination address and port.
    pub dst: SocketAddr,
    /// IPv4 identification (ignored for IPv6).
    pub ip_id: u16,
    pub ttl: u8,
    /// UDP payload length.
    pub payload_len: usize,
    /// The UDP checksum as carried (0 = none, IPv4 only). [`Repr::emit`] computes it.
    pub udp_checksum: u16,
}

impl Repr {
    /// Header length for this address family.
    pub fn header_len(&self) -> usize {
        header_len(self.dst.is_ipv6())
    }

    /// Reads the headers of `frame`; the IPv4 header checksum and, where one is carried, the
    /// UDP checksum are verified.
    pub fn parse<T: AsRef<[u8]>>(frame: &Frame<T>) -> Result<Repr, WireError> {
        let b = frame.buffer.as_ref();
        let mut dst_mac = [0u8; 6];
        let mut src_mac = [0u8; 6];
        dst_mac.copy_from_slice(&b[0..6]);
        src_mac.copy_from_slice(&b[6..12]);
        let ip = &b[ETH_LEN..];
        let (src_ip, dst_ip, ip_id, ttl, l4): (IpAddr, IpAddr, u16, u8, &[u8]) = if frame.v6 {
            let plen = be16(ip, 4) as usize;
            let l4 = ip
                .get(IPV6_LEN..IPV6_LEN + plen)
                .ok_or(WireError::Truncated)?;
            let src = Ipv6Addr::from(<[u8; 16]>::try_from(&ip[8..24]).unwrap());
            let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&ip[24..40]).unwrap());
            (src.into(), dst.into(), 0, ip[7], l4)
        } else {
            let total = be16(ip, 2) as usize;
            if !checksum_fold(sum(&ip[..IPV4_LEN], 0)) != 0 {
                return Err(WireError::BadChecksum);
            }
            let l4 = ip
                .get(IPV4_LEN..total.max(IPV4_LEN))
                .ok_or(WireError::Truncated)?;
            let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
            let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
            (src.into(), dst.into(), be16(ip, 4), ip[8], l4)
        };
        if l4.len() < UDP_LEN || be16(l4, 4) as usize != l4.len() {
            return Err(WireError::Truncated);
        }
        let udp_checksum = be16(l4, 6);
        if frame.v6 && udp_checksum == 0 {
            return Err(WireError::BadChecksum); // IPv6 requires one
        }
        if udp_checksum != 0
            && !checksum_fold(pseudo_sum(src_ip, dst_ip, l4.len()) + sum(l4, 0)) != 0
        {
            return Err(WireError::BadChecksum);
        }
        Ok(Repr {
            src_mac,
            dst_mac,
            src: SocketAddr::new(src_ip, be16(l4, 0)),
            dst: SocketAddr::new(dst_ip, be16(l4, 2)),
            ip_id,
            ttl,
            payload_len: l4.len() - UDP_LEN,
            udp_checksum,
        })
    }

    /// Writes the headers into `buf[..header_len()]`, which the UDP payload of `payload_len`
    /// bytes follows directly (it is read for the IPv6 UDP checksum, which is then stored in
    /// `self.udp_checksum` as well; IPv4 carries none). `buf` must hold header and payload and
    /// both addresses must be of one family: otherwise `BadField`.
    pub fn emit(&mut self, buf: &mut [u8]) -> Result<(), WireError> {
        let v6 = self.dst.is_ipv6();
        if self.src.is_ipv6() != v6 {
            return Err(WireError::BadField);
        }
        let hl = header_len(v6);
        let l4_len = UDP_LEN + self.payload_len;
        if buf.len() < hl + self.payload_len || l4_len > usize::from(u16::MAX) {
            return Err(WireError::BadField);
        }
        buf[0..6].copy_from_slice(&self.dst_mac);
        buf[6..12].copy_from_slice(&self.src_mac);
        let ethertype = if v6 { ETHERTYPE_IPV6 } else { ETHERTYPE_IPV4 };
        put16(buf, 12, ethertype);
        let ip = &mut buf[ETH_LEN..];
        match (self.src.ip(), self.dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                if IPV4_LEN + l4_len > usize::from(u16::MAX) {
                    return Err(WireError::BadField);
                }
                ip[0] = 0x45;
                ip[1] = 0;
                put16(ip, 2, (IPV4_LEN + l4_len) as u16);
                put16(ip, 4, self.ip_id);
                put16(ip, 6, IPV4_DF);
                ip[8] = self.ttl;
                ip[9] = PROTO_UDP;
                put16(ip, 10, 0);
                ip[12..16].copy_from_slice(&s.octets());
                ip[16..20].copy_from_slice(&d.octets());
                let c = !checksum_fold(sum(&ip[..IPV4_LEN], 0));
                put16(ip, 10, c);
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                put16(ip, 0, 0x6000);
                put16(ip, 2, 0);
                put16(ip, 4, l4_len as u16);
                ip[6] = PROTO_UDP;
                ip[7] = self.ttl;
                ip[8..24].copy_from_slice(&s.octets());
                ip[24..40].copy_from_slice(&d.octets());
            }
            _ => return Err(WireError::BadField),
        }
        let udp_at = hl - UDP_LEN;
        put16(buf, udp_at, self.src.port());
        put16(buf, udp_at + 2, self.dst.port());
        put16(buf, udp_at + 4, l4_len as u16);
        put16(buf, udp_at + 6, 0);
        self.udp_checksum = if v6 {
            let l4 = &buf[udp_at..hl + self.payload_len];
            match !checksum_fold(pseudo_sum(self.src.ip(), self.dst.ip(), l4_len) + sum(l4, 0)) {
                0 => 0xffff, // 0 means "no checksum": its ones' complement twin goes instead
                c => c,
            }
        } else {
            0
        };
        put16(buf, udp_at + 6, self.udp_checksum);
        Ok(())
    }
}

/// The headers of one flow, prepared once so that each datagram costs a copy and a few patched
/// fields: lengths, the IPv4 ID and header checksum, or the IPv6 UDP checksum (the only part
/// that reads the payload). [`Template::write`] gives the same bytes as [`Repr::emit`].
#[derive(Debug, Clone)]
pub struct Template {
    bytes: [u8; MAX_HEADER_LEN],
    len: usize,
    v6: bool,
    /// IPv4: the header's sum without length, ID and checksum. IPv6: the pseudo-header's
    /// addresses and protocol plus the UDP ports.
    base: u64,
}

impl Template {
    /// The headers `repr` describes (its length, ID and checksum fields are ignored).
    pub fn new(repr: &Repr) -> Result<Template, WireError> {
        let v6 = repr.dst.is_ipv6();
        let len = header_len(v6);
        let mut bytes = [0u8; MAX_HEADER_LEN];
        let mut r = Repr {
            payload_len: 0,
            ip_id: 0,
            ..*repr
        };
        r.emit(&mut bytes[..len])?;
        let udp_at = len - UDP_LEN;
        let base = if v6 {
            let ports = sum(&bytes[udp_at..udp_at + 4], 0);
            pseudo_sum(repr.src.ip(), repr.dst.ip(), 0) + ports
        } else {
            put16(&mut bytes, ETH_LEN + 2, 0);
            put16(&mut bytes, ETH_LEN + 10, 0);
            sum(&bytes[ETH_LEN..ETH_LEN + IPV4_LEN], 0)
        };
        Ok(Template {
            bytes,
            len,
            v6,
            base,
        })
    }

    /// Header length: what [`Template::write`] writes in front of the payload.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a header is never empty.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the headers for `payload` (which directly follows them in the frame) into `hdr`
    /// (exactly [`Template::len`] bytes), with IPv4 ID `ip_id`. The payload must fit a UDP
    /// datagram (65,507 bytes at most over IPv4).
    ///
    /// # Panics
    ///
    /// If `hdr` is shorter than [`Template::len`] (a bug in the caller, who sized the
    /// headroom from that length).
    #[inline]
    pub fn write(&self, hdr: &mut [u8], payload: &[u8], ip_id: u16) {
        // A length known at compile time: a few vector moves inline rather than a memmove call.
        if self.v6 {
            hdr[..V6_HEADER].copy_from_slice(&self.bytes[..V6_HEADER]);
        } else {
            hdr[..V4_HEADER].copy_from_slice(&self.bytes[..V4_HEADER]);
        }
        self.patch(hdr, payload, ip_id);
    }

    /// As [`Template::write`] for a `hdr` that already holds this template's headers from an
    /// earlier `write` (any payload, any ID): writes only the fields that change per packet,
    /// the lengths, the IPv4 ID and header checksum, the IPv6 UDP checksum. A sender that keeps
    /// each frame's headroom for itself writes a frame's headers once and patches them after.
    ///
    /// ```
    /// use ringshot::wire::ethip::{Repr, Template, DEFAULT_TTL};
    ///
    /// let repr = Repr {
    ///     src_mac: [2, 0, 0, 0, 0, 1],
    ///     dst_mac: [2, 0, 0, 0, 0, 2],
    ///     src: "10.0.0.1:4000".parse().unwrap(),
    ///     dst: "10.0.0.2:5000".parse().unwrap(),
    ///     ip_id: 0,
    ///     ttl: DEFAULT_TTL,
    ///     payload_len: 0,
    ///     udp_checksum: 0,
    /// };
    /// let t = Template::new(&repr).unwrap();
    /// let (mut a, mut b) = ([0u8; 42], [0u8; 42]);
    /// t.write(&mut a, &[0; 100], 1);
    /// t.patch(&mut a, &[0; 7], 2); // the next packet in the same frame
    /// t.write(&mut b, &[0; 7], 2); // written whole
    /// assert_eq!(a, b);
    /// ```
    ///
    /// # Panics
    ///
    /// As [`Template::write`].
    #[inline]
    pub fn patch(&self, hdr: &mut [u8], payload: &[u8], ip_id: u16) {
        let l4 = (UDP_LEN + payload.len()) as u16;
        if self.v6 {
            let hdr: &mut [u8; V6_HEADER] = (&mut hdr[..V6_HEADER]).try_into().expect("length");
            put16(hdr, ETH_LEN + 4, l4);
            put16(hdr, V6_HEADER - UDP_LEN + 4, l4);
            let s = self.base + 2 * u64::from(l4) + sum(payload, 0);
            let c = match !checksum_fold(s) {
                0 => 0xffff,
                c => c,
            };
            put16(hdr, V6_HEADER - UDP_LEN + 6, c);
        } else {
            let hdr: &mut [u8; V4_HEADER] = (&mut hdr[..V4_HEADER]).try_into().expect("length");
            put16(hdr, V4_HEADER - UDP_LEN + 4, l4);
            let total = l4 + IPV4_LEN as u16;
            put16(hdr, ETH_LEN + 2, total);
            put16(hdr, ETH_LEN + 4, ip_id);
            let c = !checksum_fold(self.base + u64::from(total) + u64::from(ip_id));
            put16(hdr, ETH_LEN + 10, c);
        }
    }
}

/// Ethernet + IPv4 + UDP header length.
const V4_HEADER: usize = ETH_LEN + IPV4_LEN + UDP_LEN;
/// Ethernet + IPv6 + UDP header length.
const V6_HEADER: usize = ETH_LEN + IPV6_LEN + UDP_LEN;

/// Header length (Ethernet + IP + UDP) for IPv6 or IPv4.
pub fn header_len(v6: bool) -> usize {
    ETH_LEN + if v6 { IPV6_LEN } else { IPV4_LEN } + UDP_LEN
}

/// A zero-copy view of an Ethernet frame carrying one unfragmented IPv4 or IPv6 UDP datagram.
#[derive(Debug, Clone)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
    v6: bool,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Checks that `buffer` holds an Ethernet II frame of IPv4 (no options, not a fragment) or
    /// IPv6 (no extension header) carrying UDP, with every header in place.
    pub fn new_checked(buffer: T) -> Result<Frame<T>, WireError> {
        let b = buffer.as_ref();
        if b.len() < ETH_LEN {
            return Err(WireError::Truncated);
        }
        let v6 = match be16(b, 12) {
            ETHERTYPE_IPV4 => false,
            ETHERTYPE_IPV6 => true,
            _ => return Err(WireError::Unexpected),
        };
        if b.len() < header_len(v6) {
            return Err(WireError::Truncated);
        }
        let ip = &b[ETH_LEN..];
        if v6 {
            if ip[0] >> 4 != 6 {
                return Err(WireError::BadVersion);
            }
            if ip[6] != PROTO_UDP {
                return Err(WireError::BadField);
            }
        } else {
            if ip[0] >> 4 != 4 {
                return Err(WireError::BadVersion);
            }
            let frag = be16(ip, 6);
            if ip[0] & 0x0f != 5 || ip[9] != PROTO_UDP || frag & 0x3fff != 0 {
                return Err(WireError::BadField);
            }
            if (be16(ip, 2) as usize) < IPV4_LEN + UDP_LEN {
                return Err(WireError::Truncated);
            }
        }
        Ok(Frame { buffer, v6 })
    }

    /// Whether the frame carries IPv6.
    pub fn is_ipv6(&self) -> bool {
        self.v6
    }

    /// The UDP payload (as long as the UDP header says, within the buffer).
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        let hl = header_len(self.v6);
        let udp_len = be16(b, hl - UDP_LEN + 4) as usize;
        let end = (hl - UDP_LEN + udp_len).clamp(hl, b.len());
        &b[hl..end]
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// The ones' complement sum of `b` as big-endian 16-bit words (an odd last byte padded with a
/// zero), added to `acc`, unfolded.
fn sum(b: &[u8], mut acc: u64) -> u64 {
    let mut words = b.chunks_exact(2);
    for w in &mut words {
        acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

/// The UDP pseudo-header's sum.
fn pseudo_sum(src: IpAddr, dst: IpAddr, l4_len: usize) -> u64 {
    let addrs = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => sum(&d.octets(), sum(&s.octets(), 0)),
        (s, d) => sum(&ipv6_octets(d), sum(&ipv6_octets(s), 0)),
    };
    addrs + u64::from(PROTO_UDP) + l4_len as u64
}

fn ipv6_octets(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// Folds a sum to 16 bits.
fn checksum_fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
    const DST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];

    fn v4_repr(payload_len: usize) -> Repr {
        Repr {
            src_mac: SRC_MAC,
            dst_mac: DST_MAC,
            src: "10.0.0.1:4000".parse().unwrap(),
            dst: "10.0.0.2:9000".parse().unwrap(),
            ip_id: 0x1234,
            ttl: 64,
            payload_len,
            udp_checksum: 0,
        }
    }

    /// Ethernet + IPv4 + UDP for 4 payload bytes from 10.0.0.1:4000 to 10.0.0.2:9000, id 0x1234,
    /// DF set; header checksum 0x1497 (the words sum to 0xeb68).
    const V4_FIXTURE: [u8; 46] = [
        0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00, // Ethernet
        0x45, 0x00, 0x00, 0x20, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0x14, 0x97, // IPv4 ...
        10, 0, 0, 1, 10, 0, 0, 2, // addresses
        0x0f, 0xa0, 0x23, 0x28, 0x00, 0x0c, 0x00, 0x00, // UDP, no checksum
        b'a', b'b', b'c', b'd',
    ];

    #[test]
    fn ipv4_emits_the_fixture_and_parses_back() {
        let mut buf = [0u8; 46];
        buf[42..].copy_from_slice(b"abcd");
        let mut r = v4_repr(4);
        r.emit(&mut buf).unwrap();
        assert_eq!(buf, V4_FIXTURE);
        let f = Frame::new_checked(&buf[..]).unwrap();
        assert!(!f.is_ipv6());
        assert_eq!(f.payload(), b"abcd");
        assert_eq!(Repr::parse(&f).unwrap(), r);
    }

    #[test]
    fn ipv4_header_checksum_is_verified() {
        let mut buf = V4_FIXTURE;
        buf[ETH_LEN + 8] = 63; // the TTL, under the checksum
        let f = Frame::new_checked(&buf[..]).unwrap();
        assert_eq!(Repr::parse(&f), Err(WireError::BadChecksum));
    }

    /// Ethernet + IPv6 + UDP for 2 payload bytes "hi" from [fd00::1]:4000 to [fd00::2]:9000.
    /// UDP checksum: pseudo-header (addresses fd00+1, fd00+2, length 10, next header 17) plus
    /// the UDP words (0x0fa0, 0x2328, 0x000a, 0x6869) fold to 0x955b; its complement 0x6aa4.
    #[test]
    fn ipv6_emits_the_fixture_with_its_udp_checksum_and_parses_back() {
        let mut buf = [0u8; 64];
        buf[62..].copy_from_slice(b"hi");
        let mut r = Repr {
            src: "[fd00::1]:4000".parse().unwrap(),
            dst: "[fd00::2]:9000".parse().unwrap(),
            payload_len: 2,
            ..v4_repr(2)
        };
        r.emit(&mut buf).unwrap();
        assert_eq!(&buf[12..14], &[0x86, 0xdd]);
        assert_eq!(&buf[14..22], &[0x60, 0, 0, 0, 0, 10, 17, 64]);
        assert_eq!(&buf[22..24], &[0xfd, 0x00]);
        assert_eq!(buf[37], 1);
        assert_eq!(buf[53], 2);
        assert_eq!(&buf[54..62], &[0x0f, 0xa0, 0x23, 0x28, 0, 10, 0x6a, 0xa4]);
        assert_eq!(r.udp_checksum, 0x6aa4);
        let f = Frame::new_checked(&buf[..]).unwrap();
        assert!(f.is_ipv6());
        assert_eq!(f.payload(), b"hi");
        let mut parsed = Repr::parse(&f).unwrap();
        parsed.ip_id = r.ip_id; // IPv6 has none
        assert_eq!(parsed, r);
        buf[63] ^= 1; // a payload bit flipped
        let f = Frame::new_checked(&buf[..]).unwrap();
        assert_eq!(Repr::parse(&f), Err(WireError::BadChecksum));
    }

    #[test]
    fn fragments_options_and_other_protocols_are_refused() {
        let mut frag = V4_FIXTURE;
        frag[ETH_LEN + 6] = 0x20; // more fragments
        assert_eq!(
            Frame::new_checked(&frag[..]).err(),
            Some(WireError::BadField)
        );
        let mut opts = V4_FIXTURE;
        opts[ETH_LEN] = 0x46;
        assert_eq!(
            Frame::new_checked(&opts[..]).err(),
            Some(WireError::BadField)
        );
        let mut arp = V4_FIXTURE;
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(
            Frame::new_checked(&arp[..]).err(),
            Some(WireError::Unexpected)
        );
        assert_eq!(
            Frame::new_checked(&V4_FIXTURE[..40]).err(),
            Some(WireError::Truncated)
        );
    }

    #[test]
    fn emit_refuses_mixed_families_and_short_buffers() {
        let mut r = v4_repr(4);
        r.dst = "[fd00::2]:9".parse().unwrap();
        assert_eq!(r.emit(&mut [0u8; 100]), Err(WireError::BadField));
        assert_eq!(v4_repr(60).emit(&mut [0u8; 100]), Err(WireError::BadField));
    }

    #[test]
    fn the_template_writes_what_emit_writes() {
        for (src, dst) in [
            ("10.0.0.1:4000", "10.0.0.2:9000"),
            ("[fd00::1]:4000", "[fd00::2]:9000"),
        ] {
            let mut repr = Repr {
                src: src.parse().unwrap(),
                dst: dst.parse().unwrap(),
                ..v4_repr(0)
            };
            let t = Template::new(&repr).unwrap();
            // One frame's headroom across all the packets: written once, patched after.
            let mut kept = vec![0u8; t.len()];
            for (i, (len, id)) in [
                (0usize, 0u16),
                (1, 1),
                (4, 0xffff),
                (1472, 0x8000),
                (333, 7),
            ]
            .into_iter()
            .enumerate()
            {
                let payload: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
                let hl = t.len();
                let mut a = vec![0u8; hl + len];
                a[hl..].copy_from_slice(&payload);
                let mut b = a.clone();
                repr.payload_len = len;
                repr.ip_id = id;
                repr.emit(&mut a).unwrap();
                t.write(&mut b[..hl], &payload, id);
                assert_eq!(a, b, "{dst} len {len} id {id}");
                if i == 0 {
                    t.write(&mut kept, &payload, id);
                } else {
                    t.patch(&mut kept, &payload, id);
                }
                assert_eq!(kept[..], a[..hl], "patched: {dst} len {len} id {id}");
                let f = Frame::new_checked(&b[..]).unwrap();
                assert_eq!(Repr::parse(&f).unwrap().payload_len, len);
            }
        }
    }

    /// What the fuzz target checks, for one input: a parsed frame re-emits to the same fields,
    /// and the template writes the same header bytes as `emit`.
    fn roundtrip(data: &[u8]) -> bool {
        let Ok(frame) = Frame::new_checked(data) else {
            return false;
        };
        let payload = frame.payload().to_vec();
        let Ok(repr) = Repr::parse(&frame) else {
            return false;
        };
        let mut again = repr;
        let hl = repr.header_len();
        let mut buf = vec![0u8; hl + payload.len()];
        buf[hl..].copy_from_slice(&payload);
        again.emit(&mut buf).unwrap();
        assert_eq!(
            Repr::parse(&Frame::new_checked(&buf[..]).unwrap()),
            Ok(again)
        );
        let mut other = buf.clone();
        Template::new(&repr)
            .unwrap()
            .write(&mut other[..hl], &payload, repr.ip_id);
        assert_eq!(other, buf);
        true
    }

    #[test]
    fn every_single_byte_change_of_a_fixture_parses_and_round_trips_or_is_refused() {
        let mut v6 = [0u8; 64];
        v6[62..].copy_from_slice(b"hi");
        Repr {
            src: "[fd00::1]:4000".parse().unwrap(),
            dst: "[fd00::2]:9000".parse().unwrap(),
            payload_len: 2,
            ..v4_repr(2)
        }
        .emit(&mut v6)
        .unwrap();
        for fixture in [&V4_FIXTURE[..], &v6[..]] {
            assert!(roundtrip(fixture));
            let mut parsed = 0;
            for i in 0..fixture.len() {
                for x in [0x01u8, 0x80, 0xff] {
                    let mut b = fixture.to_vec();
                    b[i] ^= x;
                    parsed += usize::from(roundtrip(&b));
                }
            }
            // The MACs and payload-free fields (TTL is under the IPv4 checksum) still parse.
            assert!(parsed >= 12 * 3, "{parsed}");
        }
    }

    #[test]
    fn garbage_never_panics() {
        for len in 0..80 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 53 + 7) as u8).collect();
            let mut b = bytes.clone();
            if len > 14 {
                b[12..14].copy_from_slice(&[0x08, 0x00]);
                b[14] = 0x45;
            }
            for buf in [&bytes[..], &b[..]] {
                if let Ok(f) = Frame::new_checked(buf) {
                    let _ = f.payload();
                    let _ = Repr::parse(&f);
                }
            }
        }
    }
}
