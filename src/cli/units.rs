//! Rates and addresses as people type them.
//!
//! Rates: a number, an optional SI prefix (`k`, `M`, `G`, `T`) and an optional unit, all
//! case-insensitive: `1G`, `100M`, `1Gbit/s`, `850mbps`, `10gbps` are bits of UDP payload per
//! second; `68870pps`, `500kpps`, `1.2Mpps` are packets per second. A prefix without a unit
//! means bits (as iperf3's `-b 1G`). A bare number with neither is refused (bits or packets?),
//! and so is the lower-case spelling `mpps`: it reads as milli-packets, so write `Mpps` (or
//! `MPPS`) for millions. `M` / `m` before bits is always mega: nobody paces at milli-bits.
//!
//! Addresses: `IP:PORT`, `[IPv6]:PORT`, or `HOST:PORT`, resolved once when the flag is read
//! (the first address the resolver gives; the address used is printed on stderr). As iperf3 and
//! sockperf users type them, a local address (`--bind`) may be `:PORT` or a bare `PORT`: all
//! IPv4 addresses, `0.0.0.0:PORT` (`[::]:PORT` takes IPv6 as well); and a destination (`--to`)
//! may leave the port off: [`DEFAULT_PORT`].

use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};

use ringshot::pacing::Rate;

/// Units of a rate, by lower-cased spelling: (unit, is packets).
const UNITS: &[(&str, bool)] = &[
    ("pps", true),
    ("p/s", true),
    ("packets/s", true),
    ("bps", false),
    ("bit/s", false),
    ("bits/s", false),
    ("b/s", false),
    ("bit", false),
    ("bits", false),
    ("", false),
];

/// A rate; see the module documentation.
pub fn rate(s: &str) -> Result<Rate, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(t.len());
    let (num, rest) = t.split_at(split);
    let v: f64 = num
        .replace('_', "")
        .parse()
        .map_err(|_| format!("'{s}' does not start with a number"))?;
    if rest.is_empty() {
        return Err(format!(
            "'{s}' needs a unit: pps, kpps, Mpps for packets; 100M, 1G, 850Mbps, 1Gbit/s for bits"
        ));
    }
    if rest.trim() == "mpps" {
        return Err(format!(
            "'{s}' is ambiguous (milli?): write Mpps for millions of packets per second"
        ));
    }
    let lower = rest.trim().to_ascii_lowercase();
    let (scale, unit) = match lower.chars().next() {
        Some('k') => (1e3, &lower[1..]),
        Some('m') => (1e6, &lower[1..]),
        Some('g') => (1e9, &lower[1..]),
        Some('t') => (1e12, &lower[1..]),
        _ => (1.0, lower.as_str()),
    };
    let packets = UNITS
        .iter()
        .find(|(u, _)| *u == unit.trim())
        .map(|(_, p)| *p)
        .filter(|_| !(scale == 1.0 && unit.trim().is_empty()))
        .ok_or_else(|| {
            format!("unknown unit '{rest}' in '{s}' (pps, kpps, Mpps; bps, 100M, 1G, 1Gbit/s)")
        })?;
    let x = v * scale;
    if !(x.is_finite() && x > 0.0) {
        return Err(format!("'{s}' must be a positive rate"));
    }
    Ok(if packets { Rate::Pps(x) } else { Rate::Bps(x) })
}

/// The port a destination without one is sent to (the port of the examples).
pub const DEFAULT_PORT: u16 = 5000;

/// A local address to bind: an address as [`addr`] reads it, or `:PORT` / `PORT` for all IPv4
/// addresses (`0.0.0.0:PORT`).
pub fn bind_addr(s: &str) -> Result<SocketAddr, String> {
    let t = s.trim();
    let port = t.strip_prefix(':').unwrap_or(t);
    if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) {
        return port
            .parse::<u16>()
            .map(|p| SocketAddr::from((Ipv4Addr::UNSPECIFIED, p)))
            .map_err(|_| format!("'{s}': port {port} is above 65535"));
    }
    addr(s)
}

/// A destination: an address as [`addr`] reads it, or a host or IP without a port, which is
/// sent to [`DEFAULT_PORT`]. `:PORT` names no host and is refused.
pub fn dest_addr(s: &str) -> Result<SocketAddr, String> {
    let t = s.trim();
    if t.starts_with(':') && !t.starts_with("::") {
        return Err(format!(
            "'{s}' names no host: write HOST:PORT (127.0.0.1{t}), or HOST for port {DEFAULT_PORT}"
        ));
    }
    if let Ok(ip) = t.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, DEFAULT_PORT));
    }
    if !t.is_empty() && !t.contains(':') {
        return addr(&format!("{t}:{DEFAULT_PORT}"));
    }
    addr(s)
}

/// An address; see the module documentation.
pub fn addr(s: &str) -> Result<SocketAddr, String> {
    let t = s.trim();
    if let Ok(a) = t.parse::<SocketAddr>() {
        return Ok(a);
    }
    if t.parse::<std::net::IpAddr>().is_ok() {
        return Err(format!("'{s}' needs a port (IPv6 in brackets: [::1]:5000)"));
    }
    if !t.contains(':') {
        return Err(format!("'{s}' needs a port, e.g. {t}:5000"));
    }
    let resolved = t
        .to_socket_addrs()
        .map_err(|e| format!("'{s}' does not resolve: {e}"))?
        .next()
        .ok_or_else(|| format!("'{s}' resolves to no address"))?;
    eprintln!("ringshot: {t} is {resolved}");
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_as_typed() {
        let bps = |s| match rate(s).unwrap() {
            Rate::Bps(b) => b,
            r => panic!("{s}: {r:?}"),
        };
        let pps = |s| match rate(s).unwrap() {
            Rate::Pps(p) => p,
            r => panic!("{s}: {r:?}"),
        };
        assert_eq!(bps("1G"), 1e9);
        assert_eq!(bps("100M"), 1e8);
        assert_eq!(bps("1Gbit/s"), 1e9);
        assert_eq!(bps("1gbps"), 1e9);
        assert_eq!(bps("850Mbps"), 8.5e8);
        assert_eq!(bps("64kbps"), 64e3);
        assert_eq!(bps("1000bps"), 1000.0);
        assert_eq!(pps("68870pps"), 68870.0);
        assert_eq!(pps("1.2Mpps"), 1.2e6);
        assert_eq!(pps("1.2MPPS"), 1.2e6);
        assert_eq!(pps("500KPPS"), 5e5);
        for bad in ["1000", "1mpps", "x", "", "0G", "1Q", "-1G", "1e400G"] {
            assert!(rate(bad).is_err(), "{bad}");
        }
        assert!(rate("1mpps").unwrap_err().contains("Mpps"));
    }

    #[test]
    fn addresses_as_typed() {
        assert_eq!(addr("127.0.0.1:5000").unwrap().port(), 5000);
        assert_eq!(addr("[::1]:5000").unwrap(), "[::1]:5000".parse().unwrap());
        assert!(addr("localhost:5000").unwrap().ip().is_loopback());
        assert!(addr("127.0.0.1").unwrap_err().contains("port"));
        assert!(addr("::1").unwrap_err().contains("brackets"));
        assert!(addr("localhost").unwrap_err().contains("port"));
    }

    #[test]
    fn iperf3_address_habits() {
        let all = |p| SocketAddr::from((Ipv4Addr::UNSPECIFIED, p));
        assert_eq!(bind_addr(":5001").unwrap(), all(5001));
        assert_eq!(bind_addr("5001").unwrap(), all(5001));
        assert_eq!(bind_addr(":0").unwrap(), all(0));
        assert_eq!(
            bind_addr("[::]:5001").unwrap(),
            "[::]:5001".parse().unwrap()
        );
        assert_eq!(bind_addr("127.0.0.1:7").unwrap().port(), 7);
        assert!(bind_addr(":70000").unwrap_err().contains("65535"));
        assert!(bind_addr(":").is_err());
        assert_eq!(
            dest_addr("127.0.0.1").unwrap(),
            "127.0.0.1:5000".parse().unwrap()
        );
        assert_eq!(dest_addr("::1").unwrap(), "[::1]:5000".parse().unwrap());
        assert_eq!(dest_addr("localhost").unwrap().port(), DEFAULT_PORT);
        assert_eq!(dest_addr("127.0.0.1:9").unwrap().port(), 9);
        assert!(dest_addr(":5000").unwrap_err().contains("no host"));
    }
}
