//! spead2 (`spead2_send.py` and `spead2_recv.py`): heaps of SPEAD packets; the receiver prints
//! its stream statistics when the stop heap ends its stream.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::process::{free_port, wait_bound, Bound, Finished, Proc};
use super::{Peer, PeerError, PeerOptions, PeerProgram, PeerTrial, TrialCounts, PAYLOAD};

/// The spead2 peer.
#[derive(Debug, Clone, Copy)]
pub struct Spead2;

impl PeerProgram for Spead2 {
    #[cfg(test)]
    fn peer(&self) -> Peer {
        Peer::Spead2
    }
    fn programs(&self) -> &'static [&'static str] {
        &["spead2_send.py", "spead2_recv.py"]
    }
    fn install_hint(&self) -> &'static str {
        "pip install spead2"
    }
    fn delivered_from(&self) -> &'static str {
        "spead2_recv.py: `packets` stat"
    }
    fn run_trial(
        &self,
        bins: &[PathBuf],
        offered: Option<f64>,
        secs: Duration,
        opts: &PeerOptions,
    ) -> Result<PeerTrial, PeerError> {
        spead2_trial(&bins[0], &bins[1], offered, secs, opts)
    }
}

/// What `spead2_recv.py` prints when its stream stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spead2RecvStats {
    /// Complete heaps handed to the application ("Shutting down stream … after N heaps").
    pub complete_heaps: Option<u64>,
    /// `heaps` stat: every heap seen, complete or not.
    pub heaps: u64,
    pub incomplete_heaps_evicted: u64,
    pub incomplete_heaps_flushed: u64,
    /// `packets` stat: packets the receiver took off its socket.
    pub packets: u64,
}

/// Reads `spead2_recv.py`'s shutdown statistics.
pub fn parse_spead2_recv(text: &str) -> Result<Spead2RecvStats, PeerError> {
    let stat = |key: &str| -> Option<u64> {
        let prefix = format!("{key}:");
        text.lines()
            .find_map(|l| l.trim().strip_prefix(&prefix)?.trim().parse().ok())
    };
    let need = |key: &str| {
        stat(key).ok_or_else(|| PeerError::Parse {
            peer: "spead2",
            what: format!("spead2_recv.py printed no `{key}:` statistic"),
        })
    };
    let complete_heaps = text.lines().find_map(|l| {
        let rest = l.strip_prefix("Shutting down stream ")?;
        let after = &rest[rest.rfind(" after ")? + " after ".len()..];
        after.split_whitespace().next()?.parse().ok()
    });
    Ok(Spead2RecvStats {
        complete_heaps,
        heaps: need("heaps")?,
        incomplete_heaps_evicted: need("incomplete_heaps_evicted")?,
        incomplete_heaps_flushed: need("incomplete_heaps_flushed")?,
        packets: need("packets")?,
    })
}

/// `spead2_send.py`'s "Sent B bytes in S s, R Gb/s": bytes and seconds.
pub fn parse_spead2_send(text: &str) -> Result<(u64, f64), PeerError> {
    text.lines()
        .find_map(|l| {
            let rest = l.trim().strip_prefix("Sent ")?;
            let mut w = rest.split_whitespace();
            let bytes = w.next()?.parse().ok()?;
            (w.next()? == "bytes" && w.next()? == "in").then_some(())?;
            let secs = w.next()?.trim_end_matches(',').trim_end_matches('s');
            Some((bytes, secs.parse().ok()?))
        })
        .ok_or(PeerError::Parse {
            peer: "spead2",
            what: "spead2_send.py printed no \"Sent N bytes in S s\"".into(),
        })
}

/// Packets spead2 cuts a data heap of `heap` payload bytes into, with `packet`-byte packets of
/// the default 64-40 flavour: 8 bytes of header, 4 item pointers of 8 bytes in every packet
/// (heap cnt, size, offset, payload length) and one more (the item) in the first. The first heap
/// also carries the descriptor, which can add one packet; the stop heap is one more packet.
pub fn spead2_packets_per_heap(heap: usize, packet: usize) -> u64 {
    let rest = packet.saturating_sub(8 + 4 * 8).max(1);
    let first = packet.saturating_sub(8 + 5 * 8);
    1 + heap.saturating_sub(first).div_ceil(rest) as u64
}

/// The receiver's arguments: 1472-byte packets on `endpoint`.
fn receiver_args(endpoint: &str, o: &PeerOptions) -> Vec<String> {
    let buf = o.socket_buffer.to_string();
    let mut ra: Vec<String> = ["--buffer", &buf, "--packet", &PAYLOAD.to_string()]
        .map(String::from)
        .to_vec();
    if let Some(c) = o.rx_core {
        ra.extend(["--affinity".into(), c.to_string()]);
    }
    ra.push(endpoint.to_string());
    ra
}

/// The sender's arguments: `heaps` heaps to `endpoint`, paced at `offered` packets per second.
fn sender_args(endpoint: &str, heaps: u64, offered: Option<f64>, o: &PeerOptions) -> Vec<String> {
    let buf = o.socket_buffer.to_string();
    let mut sa: Vec<String> = [
        "--heap-size",
        &o.spead2_heap_size.to_string(),
        "--heaps",
        &heaps.to_string(),
        "--packet",
        &PAYLOAD.to_string(),
        "--buffer",
        &buf,
    ]
    .map(String::from)
    .to_vec();
    if let Some(r) = offered {
        // spead2 rates count every byte of every SPEAD packet: r full packets per second.
        sa.extend(["--rate".into(), format!("{:.6}", r * PAYLOAD as f64 * 8e-9)]);
    }
    if let Some(c) = o.tx_core {
        sa.extend(["--affinity".into(), c.to_string()]);
    }
    sa.push(endpoint.to_string());
    sa
}

fn spead2_trial(
    send: &Path,
    recv: &Path,
    offered: Option<f64>,
    secs: Duration,
    o: &PeerOptions,
) -> Result<PeerTrial, PeerError> {
    let port = free_port()?;
    let endpoint = format!("127.0.0.1:{port}");
    let mut receiver = Proc::spawn(recv, &receiver_args(&endpoint, o), o.rx_core)?;
    wait_bound(&mut receiver, port, Bound::Udp, o.slack)?;

    let pph = spead2_packets_per_heap(o.spead2_heap_size, PAYLOAD);
    // Unpaced: size the run for a sender faster than spead2 has been seen to go here (~600 k pps).
    let rate_for_size = offered.unwrap_or(700_000.0);
    let heaps = ((rate_for_size * secs.as_secs_f64()) / pph as f64)
        .ceil()
        .max(2.0) as u64;
    let sa = sender_args(&endpoint, heaps, offered, o);
    let limit = secs * 4 + o.slack;
    let sender = Proc::spawn(send, &sa, o.tx_core)?.finish(limit)?;
    // The stop heap ends the receiver's stream; if that packet was lost, SIGINT stops it.
    let stopped_by_stream = receiver.wait_exit(Duration::from_secs(2)).is_some();
    let receiver = if stopped_by_stream {
        receiver.finish(Duration::ZERO)?
    } else {
        receiver.interrupt(Duration::from_secs(5))?
    };
    let run = Spead2Run {
        heaps,
        packets_per_heap: pph,
        stopped_by_stream,
    };
    judge(offered, &run, &sender, &receiver)
}

/// How a spead2 trial ran, beyond what its programs printed.
struct Spead2Run {
    /// Data heaps sent.
    heaps: u64,
    packets_per_heap: u64,
    /// Whether the stop heap ended the receiver's stream (else it was interrupted).
    stopped_by_stream: bool,
}

/// Reads both programs' output and judges the trial.
fn judge(
    offered: Option<f64>,
    run: &Spead2Run,
    sender: &Finished,
    receiver: &Finished,
) -> Result<PeerTrial, PeerError> {
    let (bytes, sent_secs) = match parse_spead2_send(&sender.stdout) {
        Ok(x) => x,
        Err(_) => return Err(sender.fail("spead2_send.py")),
    };
    let st = match parse_spead2_recv(&receiver.stdout) {
        Ok(s) => s,
        Err(_) => return Err(receiver.fail("spead2_recv.py")),
    };
    let heaps = run.heaps;
    let complete = st.complete_heaps.unwrap_or(0);
    let receiver_zero_loss = run.stopped_by_stream
        && complete == heaps
        && st.incomplete_heaps_evicted == 0
        && st.incomplete_heaps_flushed == 0;
    // Every heap whole: the receiver saw every packet, so its count is the sent count too.
    // Otherwise the sent count is computed (it can be one short: the first heap's descriptor).
    let computed = heaps * run.packets_per_heap + 1;
    let sent = if receiver_zero_loss {
        st.packets
    } else {
        computed.max(st.packets)
    };
    let heaps_lost = heaps.saturating_sub(complete);
    Ok(PeerTrial::from_counts(TrialCounts {
        peer: Peer::Spead2,
        offered_pps: offered,
        sent,
        sent_exact: receiver_zero_loss,
        delivered: st.packets,
        receiver_lost: 0,
        uncounted_tail: 0,
        receiver_zero_loss,
        sent_seconds: sent_secs,
        // The receiver prints no time of its own: the sender's duration is the time base.
        delivered_seconds: sent_secs,
        detail: format!(
            "receiver: {complete}/{heaps} heaps complete ({heaps_lost} not; {} evicted, {} flushed), {} packets{}; sender: {bytes} bytes in {sent_secs:.3} s",
            st.incomplete_heaps_evicted,
            st.incomplete_heaps_flushed,
            st.packets,
            if run.stopped_by_stream { "" } else { ", stop heap lost (interrupted)" },
        ),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEAD2_RECV_64K: &str =
        include_str!("../../../tests/fixtures/peers/spead2_recv_64k_40.txt");
    const SPEAD2_SEND_64K: &str =
        include_str!("../../../tests/fixtures/peers/spead2_send_64k_40.txt");
    const SPEAD2_RECV_4M: &str =
        include_str!("../../../tests/fixtures/peers/spead2_recv_unpaced_4m_trimmed.txt");
    const SPEAD2_SEND_4M: &str =
        include_str!("../../../tests/fixtures/peers/spead2_send_unpaced_4m.txt");
    const SPEAD2_RECV_LOSSY: &str =
        include_str!("../../../tests/fixtures/peers/spead2_recv_lossy_trimmed.txt");
    const SPEAD2_SEND_LOSSY: &str =
        include_str!("../../../tests/fixtures/peers/spead2_send_lossy.txt");

    #[test]
    fn spead2_lossless() {
        let r = parse_spead2_recv(SPEAD2_RECV_64K).unwrap();
        assert_eq!(r.complete_heaps, Some(40));
        assert_eq!(r.packets, 1841);
        assert_eq!(
            (r.incomplete_heaps_evicted, r.incomplete_heaps_flushed),
            (0, 0)
        );
        let (bytes, secs) = parse_spead2_send(SPEAD2_SEND_64K).unwrap();
        assert_eq!(bytes, 2_695_620);
        assert!((secs - 1.057673).abs() < 1e-9);
        // 40 data heaps and the stop heap.
        assert_eq!(40 * spead2_packets_per_heap(65536, 1472) + 1, 1841);

        let r = parse_spead2_recv(SPEAD2_RECV_4M).unwrap();
        assert_eq!(r.complete_heaps, Some(200));
        assert_eq!(r.packets, 585_802);
        assert_eq!(parse_spead2_send(SPEAD2_SEND_4M).unwrap().0, 862_294_702);
        // Here the first heap's descriptor took one more packet.
        assert_eq!(
            200 * spead2_packets_per_heap(4 << 20, 1472) + 1 + 1,
            585_802
        );
    }

    #[test]
    fn spead2_lossy() {
        let r = parse_spead2_recv(SPEAD2_RECV_LOSSY).unwrap();
        assert_eq!(r.complete_heaps, Some(17));
        assert_eq!(r.heaps, 97);
        assert_eq!(r.incomplete_heaps_evicted, 77);
        assert_eq!(r.incomplete_heaps_flushed, 3);
        assert_eq!(r.packets, 260_367);
        assert_eq!(parse_spead2_send(SPEAD2_SEND_LOSSY).unwrap().0, 431_147_502);
    }

    #[test]
    fn spead2_garbage_is_an_error() {
        assert!(parse_spead2_recv("").is_err());
        assert!(parse_spead2_recv("heaps: 3\npackets: x\n").is_err());
        assert!(parse_spead2_send("Sent lots of bytes").is_err());
        assert!(parse_spead2_send("Sent 12 bytes in ?s").is_err());
    }
}
