//! iperf3 (`iperf3 -u`): its server counts what arrived and reports back to the client, whose
//! `--json` report carries both ends' counts.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::tail;
use super::process::{free_port, wait_bound, whole_secs, Bound, Finished, Proc};
use super::{Peer, PeerError, PeerOptions, PeerProgram, PeerTrial, TrialCounts, PAYLOAD};

/// The iperf3 peer.
#[derive(Debug, Clone, Copy)]
pub struct Iperf3;

impl PeerProgram for Iperf3 {
    #[cfg(test)]
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

/// How many fresh servers a trial tries when its client's control connection is refused.
const CONNECT_ATTEMPTS: u32 = 3;

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
    iperf3_trial_with(bin, offered, secs, o, &mut |_, _| {})
}

/// [`iperf3_trial`] with `before_client(attempt, port)` called once the server listens and
/// before its client starts: the tests inject faults there.
fn iperf3_trial_with(
    bin: &Path,
    offered: Option<f64>,
    secs: Duration,
    o: &PeerOptions,
    before_client: &mut dyn FnMut(u32, u16),
) -> Result<PeerTrial, PeerError> {
    let limit = Duration::from_secs(whole_secs(secs)) + o.slack;
    let (client, refused) = run_until_connected(|attempt| {
        let port = free_port()?;
        let mut server = Proc::spawn(bin, &server_args(&port.to_string(), o), o.rx_core)?;
        wait_bound(&mut server, port, Bound::TcpListen, o.slack)?;
        before_client(attempt, port);
        let cli = client_args(&port.to_string(), offered, secs, o);
        let client = Proc::spawn(bin, &cli, o.tx_core)?.finish(limit)?;
        Ok((server, client))
    })?;
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
    let mut t = trial_from_counts(&c, offered);
    if refused > 0 {
        t.detail.push_str(&format!(
            "; run on a fresh server after {refused} refused control connection(s)"
        ));
    }
    Ok(t)
}

/// Whether an iperf3 client's `--json` output says its control connection was refused: it
/// found no server listening and sent nothing.
fn control_refused(client_stdout: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(client_stdout)
        .ok()
        .and_then(|v| v.get("error")?.as_str().map(str::to_owned))
        .is_some_and(|e| e.starts_with("unable to connect to server"))
}

/// Runs `attempt(n)` (start a one-off iperf3 server, then run its client to the end) until the
/// client's control connection is not refused, at most [`CONNECT_ATTEMPTS`] times. Returns that
/// client and how many attempts were refused.
///
/// A one-off server ends after any connection, so one that is not its client's (a stray
/// connection, or a port scan) leaves the client refused. A refused client sent nothing, so
/// starting afresh repeats and loses nothing; the refused attempt's server is stopped and what it
/// printed is kept for the error when every attempt is refused.
pub(in crate::bench) fn run_until_connected(
    mut attempt: impl FnMut(u32) -> Result<(Proc, Finished), PeerError>,
) -> Result<(Finished, u32), PeerError> {
    let mut servers_said = Vec::new();
    for n in 0..CONNECT_ATTEMPTS {
        let (server, client) = attempt(n)?;
        if !control_refused(&client.stdout) {
            // The server exits after its one test; the client relays all we need of it.
            let _ = server.finish(Duration::from_secs(3));
            return Ok((client, n));
        }
        let said = match server.interrupt(Duration::from_millis(500)) {
            Ok(f) => f.all_output(),
            Err(e) => e.to_string(),
        };
        log::warn!(
            "iperf3: attempt {} of {CONNECT_ATTEMPTS}: the control connection was refused; \
             the server said: {}",
            n + 1,
            tail(&said, 240)
        );
        servers_said.push(said);
    }
    Err(PeerError::Failed {
        program: "iperf3 client".to_string(),
        status: format!("control connection refused by {CONNECT_ATTEMPTS} fresh servers"),
        output: servers_said.join(" | "),
    })
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
    use crate::bench::peers::process::{proc_net_has, socket_table};
    use crate::bench::peers::Peer;

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

    /// The installed iperf3, or `None` with the reason printed.
    fn iperf3_bin() -> Option<PathBuf> {
        match Peer::Iperf3.locate() {
            Ok(bins) => bins.into_iter().next(),
            Err(e) => {
                eprintln!("skipped: {e}");
                None
            }
        }
    }

    /// A connection that is not iperf3's client reaches the one-off server first and ends it
    /// (it cannot read a cookie from it); returns once the server no longer listens.
    fn end_the_server_with_a_stray_connection(port: u16) {
        drop(std::net::TcpStream::connect(("127.0.0.1", port)).expect("stray connect"));
        let gone = std::time::Instant::now() + Duration::from_secs(10);
        while listening(port) {
            assert!(
                std::time::Instant::now() < gone,
                "the server outlived a stray connection"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn listening(port: u16) -> bool {
        let table = socket_table(Bound::TcpListen).unwrap_or_default();
        proc_net_has(&table, port, Bound::TcpListen)
    }

    /// 1000 packets at 2000 per second, with `hook` as the trial's `before_client`.
    fn thousand_packets_with(
        bin: &Path,
        hook: &mut dyn FnMut(u32, u16),
    ) -> Result<PeerTrial, PeerError> {
        let o = PeerOptions::new(&crate::bench::Placement::auto());
        iperf3_trial_with(bin, Some(2000.0), Duration::from_millis(500), &o, hook)
    }

    // The fault behind a red CI run: something else connected to the one-off server before its
    // client did, the server exited, and the client's control connection was refused. Nothing
    // was sent then, so the trial starts afresh on a new port and counts only that run.
    #[test]
    fn a_refused_control_connection_is_retried_on_a_fresh_server() {
        let Some(bin) = iperf3_bin() else { return };
        let mut hits = Vec::new();
        let mut hook = |attempt: u32, port: u16| {
            hits.push(attempt);
            if attempt == 0 {
                end_the_server_with_a_stray_connection(port);
            }
        };
        let t = thousand_packets_with(&bin, &mut hook).expect("the second attempt runs");
        assert_eq!(hits, [0, 1]);
        assert_eq!(t.sent, 1000, "{t:?}");
        assert_eq!(t.delivered + t.uncounted_tail, t.sent, "{t:?}");
        assert_eq!(t.lost, 0, "{t:?}");
        assert!(t.detail.contains("1 refused"), "{}", t.detail);
    }

    #[test]
    fn a_server_ended_before_every_attempt_fails_with_its_reason() {
        let Some(bin) = iperf3_bin() else { return };
        let mut attempts = 0;
        let mut hook = |_: u32, port: u16| {
            attempts += 1;
            end_the_server_with_a_stray_connection(port);
        };
        let e = thousand_packets_with(&bin, &mut hook).expect_err("no attempt can connect");
        assert_eq!(attempts, CONNECT_ATTEMPTS);
        let text = e.to_string();
        assert!(text.contains("refused"), "{text}");
        // The server's own reason for leaving is in the error.
        assert!(text.contains("unable to receive parameters"), "{text}");
    }

    #[test]
    fn only_a_refused_control_connection_counts_as_refused() {
        assert!(control_refused(IPERF3_REFUSED));
        for other in [IPERF3_20M, IPERF3_LOSSY, "", "{", "null"] {
            assert!(!control_refused(other), "{other}");
        }
        // Refused later, by a data stream, is not a clean start: it is not retried.
        let stream = IPERF3_REFUSED.replace(
            "unable to connect to server",
            "unable to read from stream socket",
        );
        assert!(!control_refused(&stream));
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
