//! The peers on the wire: sockperf `tp` and spead2's sender measured sender-side (the far end
//! drops, the far interface counts), and iperf3 end to end (its server in the far namespace).
//! Each runs as its own process group, bounded in time; a missing one is skipped with the reason.

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::{check, Mode, Wire, WireError, WireOptions, WireRow};
use crate::bench::peers::iperf3::run_until_connected;
use crate::bench::peers::process::{wait_bound, Bound, Proc};
use crate::bench::peers::PeerError;
use crate::bench::peers::{parse_iperf3_json, parse_sockperf_client, parse_spead2_send};
use crate::bench::Placement;

/// iperf3's port in the far namespace, which nothing else uses.
const IPERF3_PORT: u16 = 5201;

/// How long a server may take to listen.
const READY: Duration = Duration::from_secs(10);

/// spead2's heap size: large heaps keep its per-heap cost out of the packet rate.
const SPEAD2_HEAP: usize = 4 << 20;

/// Runs every peer at `payload`, appending rows and skip reasons. Only a stop signal or a failure
/// to read the wire ends the suite; a peer that fails is skipped with its reason.
#[allow(clippy::too_many_arguments)]
pub(super) fn run_peers(
    wire: &Wire,
    o: &WireOptions,
    payload: usize,
    place: &Placement,
    stop: &AtomicBool,
    progress: &mut impl FnMut(&str),
    rows: &mut Vec<WireRow>,
    skipped: &mut Vec<String>,
) -> Result<(), WireError> {
    let dest = SocketAddr::new(wire.far_addr.into(), Wire::DROP_PORT);
    type Measure<'a> = Box<dyn FnOnce() -> Result<Option<WireRow>, String> + 'a>;
    let peers: [(&str, &str, &str, Measure<'_>); 3] = [
        (
            "sockperf",
            "sockperf tp",
            "sender-side",
            Box::new(|| sockperf(wire, o, payload, dest, place)),
        ),
        (
            "spead2",
            "spead2 sender",
            "sender-side",
            Box::new(|| spead2(wire, o, payload, dest, place)),
        ),
        (
            "iperf3",
            "iperf3",
            "end-to-end",
            Box::new(|| iperf3(wire, o, payload, place)),
        ),
    ];
    for (peer, what, mode, measure) in peers {
        check(stop)?;
        progress(&format!("{what} {payload} B, {mode}"));
        push(rows, skipped, peer, measure());
    }
    Ok(())
}

fn push(
    rows: &mut Vec<WireRow>,
    skipped: &mut Vec<String>,
    peer: &str,
    r: Result<Option<WireRow>, String>,
) {
    match r {
        Ok(Some(row)) => rows.push(row),
        Ok(None) => {}
        Err(reason) => skipped.push(format!("{peer}: {reason}")),
    }
}

fn find(prog: &str) -> Result<std::path::PathBuf, String> {
    super::which(prog).ok_or_else(|| format!("{prog} is not installed"))
}

fn row(peer: &str, payload: usize, mode: Mode, sent: u64, crossed: u64, secs: f64) -> WireRow {
    let pps = crossed as f64 / secs.max(1e-9);
    WireRow {
        sender: peer.into(),
        backend: "-".into(),
        gso: false,
        payload,
        mode,
        batch: None,
        sent,
        crossed,
        delivered: None,
        lost: None,
        seconds: secs,
        pps,
        gbps: pps * payload as f64 * 8.0 / 1e9,
        sent_pps: sent as f64 / secs.max(1e-9),
        cpu_ns_per_packet: None,
        cpu_pct: None,
        submit_ns: None,
        raw_rounds: Vec::new(),
        raw_ratio: None,
        series: crate::bench::Series::default(),
    }
}

fn whole_secs(d: Duration) -> u64 {
    d.as_secs_f64().ceil().max(1.0) as u64
}

fn sockperf(
    wire: &Wire,
    o: &WireOptions,
    payload: usize,
    dest: SocketAddr,
    place: &Placement,
) -> Result<Option<WireRow>, String> {
    let bin = find("sockperf")?;
    let secs = whole_secs(o.case_secs);
    let mut args: Vec<String> = [
        "tp",
        "-i",
        &dest.ip().to_string(),
        "-p",
        &dest.port().to_string(),
    ]
    .map(String::from)
    .to_vec();
    args.extend([
        "-m".into(),
        payload.to_string(),
        "-t".into(),
        secs.to_string(),
    ]);
    args.extend(["--mps".into(), "max".into(), "--dontwarmup".into()]);
    if let Some(c) = place.tx_core {
        args.extend(["--sender-affinity".into(), c.to_string()]);
    }
    let before = wire.far_rx_packets().map_err(|e| e.to_string())?;
    let p = wire
        .in_near(|| Proc::spawn(&bin, &args, place.tx_core))
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let fin = p
        .finish(Duration::from_secs(secs + 15))
        .map_err(|e| e.to_string())?;
    std::thread::sleep(Duration::from_millis(100));
    let crossed = wire.far_rx_packets().map_err(|e| e.to_string())? - before;
    let (sent, t) = parse_sockperf_client(&fin.stdout).map_err(|e| e.to_string())?;
    Ok(Some(row(
        "sockperf",
        payload,
        Mode::SenderSide,
        sent,
        crossed,
        t,
    )))
}

fn spead2(
    wire: &Wire,
    o: &WireOptions,
    payload: usize,
    dest: SocketAddr,
    place: &Placement,
) -> Result<Option<WireRow>, String> {
    if payload < 128 {
        return Err(format!(
            "not run at {payload} B: a SPEAD packet's header and item pointers alone take 48 B"
        ));
    }
    let bin = find("spead2_send.py")?;
    let per_heap = crate::bench::peers::spead2_packets_per_heap(SPEAD2_HEAP, payload);
    // Enough heaps for the case's time at 1.2 M pps; it ends sooner or later at its own rate.
    let heaps = ((1.2e6 * o.case_secs.as_secs_f64()) / per_heap as f64).ceil() as u64;
    let mut args: Vec<String> = [
        "--heap-size",
        &SPEAD2_HEAP.to_string(),
        "--heaps",
        &heaps.to_string(),
    ]
    .map(String::from)
    .to_vec();
    args.extend([
        "--packet".into(),
        payload.to_string(),
        "--buffer".into(),
        (8 << 20).to_string(),
    ]);
    if let Some(c) = place.tx_core {
        args.extend(["--affinity".into(), c.to_string()]);
    }
    args.push(format!("{}:{}", dest.ip(), dest.port()));
    let before = wire.far_rx_packets().map_err(|e| e.to_string())?;
    let p = wire
        .in_near(|| Proc::spawn(&bin, &args, place.tx_core))
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let fin = p
        .finish(o.case_secs * 4 + Duration::from_secs(20))
        .map_err(|e| e.to_string())?;
    std::thread::sleep(Duration::from_millis(100));
    let crossed = wire.far_rx_packets().map_err(|e| e.to_string())? - before;
    let (_bytes, t) = parse_spead2_send(&fin.stdout)
        .or_else(|_| parse_spead2_send(&fin.stderr))
        .map_err(|e| e.to_string())?;
    let sent = heaps * per_heap;
    Ok(Some(row(
        "spead2",
        payload,
        Mode::SenderSide,
        sent,
        crossed,
        t,
    )))
}

fn iperf3(
    wire: &Wire,
    o: &WireOptions,
    payload: usize,
    place: &Placement,
) -> Result<Option<WireRow>, String> {
    let bin = find("iperf3")?;
    let secs = whole_secs(o.case_secs);
    let port = IPERF3_PORT.to_string();
    let mut sargs: Vec<String> = ["-s", "-1", "-B", &wire.far_addr.to_string(), "-p", &port]
        .map(String::from)
        .to_vec();
    if let Some(c) = place.rx_core {
        sargs.extend(["-A".into(), c.to_string()]);
    }
    let mut cargs: Vec<String> = [
        "-c",
        &wire.far_addr.to_string(),
        "-p",
        &port,
        "-u",
        "-b",
        "0",
    ]
    .map(String::from)
    .to_vec();
    cargs.extend([
        "-l".into(),
        payload.to_string(),
        "-t".into(),
        secs.to_string(),
        "--json".into(),
    ]);
    if let Some(c) = place.tx_core {
        cargs.extend(["-A".into(), c.to_string()]);
    }
    // Counted from just before the client that ran, so a refused attempt's packets are not.
    let mut before = 0;
    let (client, _refused) = run_until_connected(|_| {
        let mut server = wire
            .in_far(|| Proc::spawn(&bin, &sargs, place.rx_core))
            .map_err(namespace_error)??;
        wire.in_far(|| wait_bound(&mut server, IPERF3_PORT, Bound::TcpListen, READY))
            .map_err(namespace_error)??;
        before = wire.far_rx_packets().map_err(namespace_error)?;
        let client = wire
            .in_near(|| Proc::spawn(&bin, &cargs, place.tx_core))
            .map_err(namespace_error)??
            .finish(Duration::from_secs(secs + 15))?;
        Ok((server, client))
    })
    .map_err(|e| e.to_string())?;
    let crossed = wire.far_rx_packets().map_err(|e| e.to_string())? - before;
    let c =
        parse_iperf3_json(&client.stdout).map_err(|e| format!("handshake or run failed: {e}"))?;
    let delivered = c.delivered();
    let mut r = row(
        "iperf3",
        payload,
        Mode::EndToEnd,
        c.sent_packets,
        crossed,
        c.receiver_seconds,
    );
    r.pps = delivered as f64 / c.receiver_seconds.max(1e-9);
    r.gbps = r.pps * payload as f64 * 8.0 / 1e9;
    r.delivered = Some(delivered);
    r.lost = Some(c.sent_packets.saturating_sub(delivered));
    Ok(Some(r))
}

/// Entering a namespace to start a peer failed: reported as a failure to start it.
fn namespace_error(e: WireError) -> PeerError {
    PeerError::Spawn {
        program: "iperf3".to_string(),
        error: std::io::Error::other(e.to_string()),
    }
}
