//! iperf3 (`iperf3 -u`): its server counts what arrived and reports back to the client, whose
//! `--json` report carries both ends' counts.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::process::{free_port, wait_bound, whole_secs, Bound, Proc};
use super::{Peer, PeerError, PeerOptions, PeerProgram, PeerTrial, TrialCounts, PAYLOAD};

/// The iperf3 peer.
#[derive(Debug, Clone, Copy)]
pub struct Iperf3;

impl PeerProgram for Iperf3 {
    fn peer(&self) -> Peer {
        Peer::Iperf3
    }
    fn programs(&self) -> &'static [&'static str] {
        &["iperf3"]
    }
    fn install_hint(&self) -> &'static str {
        "apt-get install iperf3"
    }
    fn delivered_from(&self) -> &'static str {
        "iperf3 server: received bytes / 1472"
    }
    fn run_trial(
        &self,
        bins: &[PathBuf],
        offered: Option<f64>,
        secs: Duration,
        opts: &PeerOptions,
    ) -> Result<PeerTrial, PeerError> {
        iperf3_trial(&bins[0], offered, secs, opts)
    }
}

/// The counts in an iperf3 UDP client's `--json` report.
#[derive(Debug, Clone, PartialEq)]
pub struct Iperf3Counts {
    pub blksize: u64,
    /// Packets the client sent, and over how long.
    pub sent_packets: u64,
    pub sent_seconds: f64,
    /// What the server (receiver) reported back: bytes received, its packet total (highest
    /// sequence number seen) and the packets it counts lost, over its own time.
    pub received_bytes: u64,
    pub receiver_packets: u64,
    pub receiver_lost: u64,
    pub receiver_seconds: f64,
}

impl Iperf3Counts {
    /// Packets the server received: its received bytes over the block size.
    pub fn delivered(&self) -> u64 {
        self.received_bytes / self.blksize.max(1)
    }
}

/// Reads an iperf3 UDP client's `--json` output.
pub fn parse_iperf3_json(text: &str) -> Result<Iperf3Counts, PeerError> {
    let bad = |what: String| PeerError::Parse {
        peer: "iperf3",
        what,
    };
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
    if let Some(err) = v.get("error").and_then(|e| e.as_str()) {
        return Err(bad(format!("iperf3 error: {err}")));
    }
    let num = |path: &[&str]| -> Result<f64, PeerError> {
        let mut cur = &v;
        for k in path {
            cur = cur
                .get(*k)
                .ok_or_else(|| bad(format!("no {}", path.join("."))))?;
        }
        cur.as_f64()
            .ok_or_else(|| bad(format!("{} is not a number", path.join("."))))
    };
    let count = |path: &[&str]| -> Result<u64, PeerError> {
        let x = num(path)?;
        if x >= 0.0 && x.is_finite() {
            Ok(x as u64)
        } else {
            Err(bad(format!("{} = {x}", path.join("."))))
        }
    };
    let protocol = v
        .get("start")
        .and_then(|s| s.get("test_start"))
        .and_then(|t| t.get("protocol"))
        .and_then(|p| p.as_str());
    if protocol != Some("UDP") {
        return Err(bad(format!("not a UDP test (protocol {protocol:?})")));
    }
    Ok(Iperf3Counts {
        blksize: count(&["start", "test_start", "blksize"])?,
        sent_packets: count(&["end", "sum_sent", "packets"])?,
        sent_seconds: num(&["end", "sum_sent", "seconds"])?,
        received_bytes: count(&["end", "sum_received", "bytes"])?,
        receiver_packets: count(&["end", "sum_received", "packets"])?,
        receiver_lost: count(&["end", "sum_received", "lost_packets"])?,
        receiver_seconds: num(&["end", "sum_received", "seconds"])?,
    })
}

/// How much of a paced iperf3 trial's tail (packets sent after the last one the server counted)
/// is the end-of-test race rather than loss: up to two 1 ms pacing intervals of the offered rate,
/// at least 16 packets. Unpaced runs excuse nothing.
pub fn iperf3_excused_tail(offered: Option<f64>, tail: u64) -> u64 {
    match offered {
        Some(r) if (tail as f64) <= (r / 500.0).ceil().max(16.0) => tail,
        _ => 0,
    }
}

/// The server's arguments: one test on 127.0.0.1:`port`.
fn server_args(port: &str, o: &PeerOptions) -> Vec<String> {
    let mut srv: Vec<String> = ["-s", "-1", "-B", "127.0.0.1", "-p", port]
        .map(String::from)
        .to_vec();
    if let Some(c) = o.rx_core {
        srv.extend(["-A".into(), c.to_string()]);
    }
    srv
}

/// The client's arguments: UDP, 1472-byte blocks, unpaced for whole seconds or paced for an
/// exact block count.
fn client_args(port: &str, offered: Option<f64>, secs: Duration, o: &PeerOptions) -> Vec<String> {
    let mut cli: Vec<String> = [
        "-u",
        "-c",
        "127.0.0.1",
        "-p",
        port,
        "-l",
        &PAYLOAD.to_string(),
        "-w",
        &o.socket_buffer.to_string(),
        "--json",
    ]
    .map(String::from)
    .to_vec();
    match offered {
        None => cli.extend(["-b", "0", "-t", &whole_secs(secs).to_string()].map(String::from)),
        Some(r) => {
            // -t takes whole seconds only; -k (blocks) bounds a paced trial exactly.
            let bits = (r * PAYLOAD as f64 * 8.0).round() as u64;
            let blocks = (r * secs.as_secs_f64()).round().max(1.0) as u64;
            cli.extend(["-b", &bits.to_string(), "-k", &blocks.to_string()].map(String::from));
        }
    }
    if let Some(c) = o.tx_core {
        cli.extend(["-A".into(), c.to_string()]);
    }
    cli
}

fn iperf3_trial(
    bin: &Path,
    offered: Option<f64>,
    secs: Duration,
    o: &PeerOptions,
) -> Result<PeerTrial, PeerError> {
    let port = free_port()?.to_string();
    let mut server = Proc::spawn(bin, &server_args(&port, o), o.rx_core)?;
    wait_bound(
        &mut server,
        port.parse().unwrap_or(0),
        Bound::TcpListen,
        o.slack,
    )?;
    let cli = client_args(&port, offered, secs, o);
    let limit = Duration::from_secs(whole_secs(secs)) + o.slack;
    let client = Proc::spawn(bin, &cli, o.tx_core)?.finish(limit)?;
    // The server exits after one test; it has nothing we need beyond what the client relays.
    let _ = server.finish(Duration::from_secs(3));
    let c = match parse_iperf3_json(&client.stdout) {
        Ok(c) => c,
        Err(e) if client.status.success() => return Err(e),
        Err(_) => return Err(client.fail("iperf3 client")),
    };
    if c.blksize != PAYLOAD as u64 {
        return Err(PeerError::Parse {
            peer: "iperf3",
            what: format!("block size {} instead of {PAYLOAD}", c.blksize),
        });
    }
    Ok(trial_from_counts(&c, offered))
}

/// Judges a trial by the server's counts as the client relayed them.
fn trial_from_counts(c: &Iperf3Counts, offered: Option<f64>) -> PeerTrial {
    let tail = c.sent_packets.saturating_sub(c.receiver_packets);
    let excused = iperf3_excused_tail(offered, tail);
    PeerTrial::from_counts(TrialCounts {
        peer: Peer::Iperf3,
        offered_pps: offered,
        sent: c.sent_packets,
        sent_exact: true,
        delivered: c.delivered(),
        receiver_lost: c.receiver_lost,
        uncounted_tail: excused,
        receiver_zero_loss: c.receiver_lost == 0,
        sent_seconds: c.sent_seconds,
        delivered_seconds: c.receiver_seconds,
        detail: format!(
            "server: {} packets ({} lost) in {:.3} s; client sent {} in {:.3} s; {tail} sent after the server's last{}",
            c.receiver_packets,
            c.receiver_lost,
            c.receiver_seconds,
            c.sent_packets,
            c.sent_seconds,
            if excused > 0 { " (excused: end of test)" } else { "" }
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const IPERF3_20M: &str = include_str!("../../../tests/fixtures/peers/iperf3_client_20m.json");
    const IPERF3_LOSSY: &str =
        include_str!("../../../tests/fixtures/peers/iperf3_client_unpaced_lossy.json");
    const IPERF3_REFUSED: &str =
        include_str!("../../../tests/fixtures/peers/iperf3_client_refused.json");

    #[test]
    fn iperf3_lossless() {
        let c = parse_iperf3_json(IPERF3_20M).unwrap();
        assert_eq!(c.blksize, 1472);
        assert_eq!(c.sent_packets, 1697);
        assert_eq!(c.receiver_packets, 1697);
        assert_eq!(c.receiver_lost, 0);
        assert_eq!(c.delivered(), 1697);
        assert!((c.receiver_seconds - 1.000552).abs() < 1e-9);
    }

    #[test]
    fn iperf3_lossy_counts_what_the_server_received() {
        let c = parse_iperf3_json(IPERF3_LOSSY).unwrap();
        assert_eq!(c.sent_packets, 613_970);
        assert_eq!(c.receiver_lost, 9939);
        assert_eq!(c.delivered(), 889_032_064 / 1472);
        assert_eq!(c.delivered(), c.receiver_packets - c.receiver_lost);
    }

    #[test]
    fn iperf3_errors_are_errors_not_panics() {
        let e = parse_iperf3_json(IPERF3_REFUSED).unwrap_err();
        assert!(e.to_string().contains("Connection refused"), "{e}");
        for bad in [
            "",
            "{",
            "[]",
            "{\"end\":{}}",
            "null",
            "{\"start\":{\"test_start\":{\"protocol\":\"TCP\"}}}",
        ] {
            assert!(parse_iperf3_json(bad).is_err(), "{bad}");
        }
        // Negative or non-numeric counts.
        let t = IPERF3_20M.replace("\"lost_packets\":\t0", "\"lost_packets\":\t-3");
        assert!(parse_iperf3_json(&t).is_err());
    }

    #[test]
    fn iperf3_tail_allowance() {
        // Captured: 10 000 packets at 10 k pps, the server counted 9 992 and lost none.
        assert_eq!(iperf3_excused_tail(Some(10_000.0), 8), 8);
        assert_eq!(iperf3_excused_tail(Some(10_000.0), 20), 20);
        assert_eq!(iperf3_excused_tail(Some(10_000.0), 21), 0);
        assert_eq!(iperf3_excused_tail(Some(1_000.0), 16), 16);
        assert_eq!(iperf3_excused_tail(Some(500_000.0), 1000), 1000);
        assert_eq!(iperf3_excused_tail(Some(500_000.0), 1001), 0);
        assert_eq!(iperf3_excused_tail(None, 1), 0);
    }
}
