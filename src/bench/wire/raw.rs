//! The raw loops on the wire (`src/sys/rawloop.rs`): their rows, and the "× raw" ratio each
//! sender-side ringshot row gets from them.

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::{check, ratio, Mode, Wire, WireError, WireOptions, WireRow};
use crate::bench::Placement;
use ringshot::rawloop::{raw_send_loop, RawSyscall};

/// The raw loop that matches a ringshot backend with or without GSO.
pub fn raw_syscall_for(backend: &str, gso: bool) -> Option<RawSyscall> {
    match (backend, gso) {
        ("send", false) => Some(RawSyscall::Sendmsg),
        ("mmsg", false) => Some(RawSyscall::Sendmmsg),
        ("uring", false) => Some(RawSyscall::UringSend),
        ("send", true) => Some(RawSyscall::GsoSendmsg),
        ("mmsg", true) => Some(RawSyscall::GsoSendmmsg),
        ("uring", true) => Some(RawSyscall::UringGsoSendmsg),
        ("xdp", false) => Some(RawSyscall::XdpTx),
        _ => None,
    }
}

/// Fills `raw_ratio` of every sender-side ringshot row: the median of its rounds beside the raw
/// loop where it has them, else its pps over the raw row of its syscall.
pub fn fill_raw_ratios(rows: &mut [WireRow]) {
    let raw: Vec<(String, bool, usize, f64)> = rows
        .iter()
        .filter(|r| r.sender == "raw" && r.mode == Mode::SenderSide)
        .map(|r| (r.backend.clone(), r.gso, r.payload, r.pps))
        .collect();
    for r in rows.iter_mut() {
        if r.sender != "ringshot" || r.mode != Mode::SenderSide {
            continue;
        }
        if !r.raw_rounds.is_empty() {
            r.raw_ratio = ratio::median_ratio(&r.raw_rounds);
            continue;
        }
        let Some(sys) = raw_syscall_for(&r.backend, r.gso) else {
            continue;
        };
        let name = raw_name(sys);
        r.raw_ratio = raw
            .iter()
            .find(|(b, g, p, _)| *b == name && *g == r.gso && *p == r.payload)
            .filter(|(.., pps)| *pps > 0.0)
            .map(|(.., pps)| r.pps / pps);
    }
}

/// The `backend` column of a raw loop's row.
pub fn raw_name(sys: RawSyscall) -> &'static str {
    match sys {
        RawSyscall::Sendmsg => "sendmsg",
        RawSyscall::Sendmmsg => "sendmmsg",
        RawSyscall::UringSend => "uring-send",
        RawSyscall::UringSendUnlinked => "uring-send-unlinked",
        RawSyscall::GsoSendmsg => "gso-sendmsg",
        RawSyscall::GsoSendmmsg => "gso-sendmmsg",
        RawSyscall::UringGsoSendmsg => "uring-gso-sendmsg",
        RawSyscall::XdpTx => "xdp-tx",
    }
}

/// Every raw loop at `payload`, appended to `rows` (a loop that fails is a skip reason).
#[allow(clippy::too_many_arguments)]
pub(super) fn raw_rows(
    wire: &Wire,
    o: &WireOptions,
    payload: usize,
    drop_dest: SocketAddr,
    place: &Placement,
    stop: &AtomicBool,
    progress: &mut impl FnMut(&str),
    rows: &mut Vec<WireRow>,
    skipped: &mut Vec<String>,
) -> Result<(), WireError> {
    for sys in RawSyscall::ALL {
        check(stop)?;
        progress(&format!("raw {} loop {payload} B", raw_name(sys)));
        match raw_row(wire, o, sys, payload, drop_dest, place) {
            Ok(row) => rows.push(row),
            Err(e) => skipped.push(format!("raw {}: {e}", raw_name(sys))),
        }
    }
    Ok(())
}

/// A raw loop's batch: the one given, or the engine's default for its ringshot case (with GSO,
/// whole super-packets), so that ringshot and its raw loop always batch alike.
fn raw_batch(o: &WireOptions, sys: RawSyscall, payload: usize) -> usize {
    let gso = sys.gso();
    o.batch.unwrap_or_else(|| {
        ringshot::config::default_batch(payload, gso, ringshot::config::DEFAULT_SLOTS, None)
    })
}

pub(super) fn raw_row(
    wire: &Wire,
    o: &WireOptions,
    sys: RawSyscall,
    payload: usize,
    dest: SocketAddr,
    place: &Placement,
) -> Result<WireRow, WireError> {
    let before = wire.far_rx_packets()?;
    let batch = raw_batch(o, sys, payload);
    let (secs, core) = (o.case_secs, place.tx_core);
    let r = wire
        .in_near(move || {
            if let Some(c) = core {
                core_affinity::set_for_current(core_affinity::CoreId { id: c });
            }
            let sock = std::net::UdpSocket::bind("0.0.0.0:0")?;
            sock.connect(dest)?;
            raw_send_loop(sys, &sock, payload, batch, secs)
        })?
        .map_err(|e| WireError::Setup(format!("raw {}: {e}", raw_name(sys))))?;
    std::thread::sleep(Duration::from_millis(100));
    let crossed = wire.far_rx_packets()?.saturating_sub(before);
    let pps = crossed as f64 / r.seconds.max(1e-9);
    Ok(WireRow {
        sender: "raw".into(),
        backend: raw_name(sys).into(),
        gso: sys.gso(),
        payload,
        mode: Mode::SenderSide,
        batch: Some(batch),
        sent: r.datagrams,
        crossed,
        delivered: None,
        lost: None,
        seconds: r.seconds,
        pps,
        gbps: pps * payload as f64 * 8.0 / 1e9,
        sent_pps: r.datagrams as f64 / r.seconds.max(1e-9),
        cpu_ns_per_packet: None,
        cpu_pct: None,
        submit_ns: None,
        raw_rounds: Vec::new(),
        raw_ratio: None,
        series: crate::bench::Series::default(),
    })
}
