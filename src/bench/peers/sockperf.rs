//! sockperf (`sockperf server` and `sockperf throughput`): the server prints its received total
//! when interrupted.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::process::{free_port, wait_bound, wait_drained, whole_secs, Bound, Proc};
use super::{Peer, PeerError, PeerOptions, PeerProgram, PeerTrial, TrialCounts, PAYLOAD};

/// The sockperf peer.
#[derive(Debug, Clone, Copy)]
pub struct Sockperf;

impl PeerProgram for Sockperf {
    #[cfg(test)]
    fn peer(&self) -> Peer {
        Peer::Sockperf
    }
    fn programs(&self) -> &'static [&'static str] {
        &["sockperf"]
    }
    fn install_hint(&self) -> &'static str {
        "apt-get install sockperf"
    }
    fn delivered_from(&self) -> &'static str {
        "sockperf server: messages received"
    }
    fn run_trial(
        &self,
        bins: &[PathBuf],
        offered: Option<f64>,
        secs: Duration,
        opts: &PeerOptions,
    ) -> Result<PeerTrial, PeerError> {
        sockperf_trial(&bins[0], offered, secs, opts)
    }
}

/// A number that follows `prefix` on some line of `text`.
fn number_after(text: &str, prefix: &str) -> Option<(u64, String)> {
    text.lines().find_map(|l| {
        let i = l.find(prefix)?;
        let rest = l[i + prefix.len()..].trim_start();
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        let n = digits.parse().ok()?;
        Some((n, rest[digits.len()..].to_string()))
    })
}

/// `sockperf throughput`'s sent count and duration: "Total of N messages sent in S sec".
pub fn parse_sockperf_client(text: &str) -> Result<(u64, f64), PeerError> {
    let bad = |what: &str| PeerError::Parse {
        peer: "sockperf",
        what: what.into(),
    };
    let (n, rest) =
        number_after(text, "Total of ").ok_or_else(|| bad("no \"Total of N messages sent\""))?;
    let secs = rest
        .trim_start()
        .strip_prefix("messages sent in")
        .and_then(|r| r.split_whitespace().next())
        .and_then(|s| s.parse::<f64>().ok())
        .ok_or_else(|| bad("no duration after \"messages sent in\""))?;
    Ok((n, secs))
}

/// `sockperf server`'s received count: "Total N messages received and handled".
pub fn parse_sockperf_server(text: &str) -> Result<u64, PeerError> {
    text.lines()
        .filter(|l| l.contains("messages received"))
        .find_map(|l| number_after(l, "Total ").map(|(n, _)| n))
        .ok_or(PeerError::Parse {
            peer: "sockperf",
            what: "server printed no \"Total N messages received\"".into(),
        })
}

fn sockperf_trial(
    bin: &Path,
    offered: Option<f64>,
    secs: Duration,
    o: &PeerOptions,
) -> Result<PeerTrial, PeerError> {
    let port = free_port()?;
    let buf = o.socket_buffer.to_string();
    let mut srv: Vec<String> = [
        "server",
        "-i",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "--buffer-size",
        &buf,
    ]
    .map(String::from)
    .to_vec();
    if let Some(c) = o.rx_core {
        srv.extend(["--cpu-affinity".into(), c.to_string()]);
    }
    let mut server = Proc::spawn(bin, &srv, o.rx_core)?;
    wait_bound(&mut server, port, Bound::Udp, o.slack)?;
    let mps = offered.map_or("max".to_string(), |r| {
        format!("{}", r.round().max(1.0) as u64)
    });
    let mut cli: Vec<String> = [
        "throughput",
        "-i",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-m",
        &PAYLOAD.to_string(),
        "-t",
        &whole_secs(secs).to_string(),
        "--mps",
        &mps,
        "--dontwarmup",
        "--buffer-size",
        &buf,
    ]
    .map(String::from)
    .to_vec();
    if let Some(c) = o.tx_core {
        cli.extend(["--sender-affinity".into(), c.to_string()]);
    }
    let limit = Duration::from_secs(whole_secs(secs)) + o.slack;
    let client = Proc::spawn(bin, &cli, o.tx_core)?.finish(limit)?;
    // Let the server drain its socket, then SIGINT makes it print its total. Once the queue is
    // empty the server has read every datagram; the short pause lets it count the last one.
    if !wait_drained(port, o.slack) {
        log::warn!(
            "sockperf: the server's socket did not drain within {:?}",
            o.slack
        );
    }
    std::thread::sleep(Duration::from_millis(20));
    let server = server.interrupt(Duration::from_secs(3))?;
    let (sent, sent_secs) = match parse_sockperf_client(&client.stdout) {
        Ok(x) => x,
        Err(_) => return Err(client.fail("sockperf throughput")),
    };
    let delivered = match parse_sockperf_server(&server.stdout) {
        Ok(n) => n,
        Err(_) => return Err(server.fail("sockperf server")),
    };
    Ok(PeerTrial::from_counts(TrialCounts {
        peer: Peer::Sockperf,
        offered_pps: offered,
        sent,
        sent_exact: true,
        delivered,
        receiver_lost: 0,
        uncounted_tail: 0,
        // sockperf's server has no loss counter (without -g); it lost what it did not receive.
        receiver_zero_loss: delivered >= sent,
        sent_seconds: sent_secs,
        // The server prints no time of its own: the client's duration is the time base.
        delivered_seconds: sent_secs,
        detail: format!("server received {delivered}; client sent {sent} in {sent_secs:.3} s"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOCKPERF_CLIENT: &str =
        include_str!("../../../tests/fixtures/peers/sockperf_client_unpaced.txt");
    const SOCKPERF_SERVER: &str =
        include_str!("../../../tests/fixtures/peers/sockperf_server_unpaced.txt");

    #[test]
    fn sockperf_counts() {
        assert_eq!(
            parse_sockperf_client(SOCKPERF_CLIENT).unwrap(),
            (624_356, 1.0)
        );
        assert_eq!(parse_sockperf_server(SOCKPERF_SERVER).unwrap(), 232_675);
        assert!(parse_sockperf_client("sockperf: Total of x messages").is_err());
        assert!(parse_sockperf_client("").is_err());
        assert!(parse_sockperf_server(SOCKPERF_CLIENT).is_err());
        assert!(parse_sockperf_server("sockperf: Total messages received").is_err());
    }
}
