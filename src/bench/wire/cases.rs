//! The ringshot cases on the wire: one backend × GSO × payload measured sender-side (profiled
//! with perf when asked) and end to end, each a [`WireRow`].

use std::net::{SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::WireRow;
use super::{check, on, ratio, raw_syscall_for, Collected, Mode, Wire, WireError, WireOptions};
use crate::bench::{BenchError, Placement};
use ringshot::config::BackendChoice;
use ringshot::engine::{EngineError, PatternSource, SourceSender};
use ringshot::recv::RecvConfig;
use ringshot::SenderConfig;

/// One ringshot backend × GSO × payload: sender-side (profiled when asked), then end to end. A
/// backend that cannot open here is a skip reason.
pub(super) fn ringshot_case(
    wire: &Wire,
    o: &WireOptions,
    case: (BackendChoice, bool, usize),
    place: &Placement,
    stop: &AtomicBool,
    progress: &mut impl FnMut(&str),
    c: &mut Collected,
) -> Result<(), WireError> {
    let (backend, gso, payload) = case;
    let drop_dest = SocketAddr::V4(SocketAddrV4::new(wire.far_addr, Wire::DROP_PORT));
    let label = format!("ringshot {backend} GSO {} {payload} B", on(gso));
    check(stop)?;
    progress(&format!("{label}, sender-side"));
    match sender_side_profiled(wire, o, case, drop_dest, place, stop, c) {
        Ok(mut row) => {
            if let Some(sys) = raw_syscall_for(backend.name(), gso).filter(|_| o.raw_loops) {
                row.raw_rounds = ratio::rounds(
                    wire,
                    o,
                    payload,
                    [
                        ratio::Side::Ringshot(backend, gso, o.send_order),
                        ratio::Side::Raw(sys),
                    ],
                    drop_dest,
                    place,
                    stop,
                    progress,
                    c,
                )?;
            }
            c.rows.push(row)
        }
        Err(WireError::Bench(BenchError::Sender(EngineError::BackendUnavailable {
            backend,
            reason,
        }))) => c.skipped.push(format!("{backend}: {reason}")),
        Err(e) => return Err(e),
    }
    if o.end_to_end {
        check(stop)?;
        progress(&format!("{label}, end-to-end"));
        match ringshot_end_to_end(wire, o, case, place, stop) {
            Ok(row) => c.rows.push(row),
            Err(WireError::Bench(BenchError::Sender(EngineError::BackendUnavailable {
                ..
            }))) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One sender-side case, recorded with perf when `o.profile_dir` is set (its files' names and
/// summary are collected; a failed recording is a skip reason, not an error).
fn sender_side_profiled(
    wire: &Wire,
    o: &WireOptions,
    case: (BackendChoice, bool, usize),
    dest: SocketAddr,
    place: &Placement,
    stop: &AtomicBool,
    c: &mut Collected,
) -> Result<WireRow, WireError> {
    let Some(dir) = o.profile_dir.as_deref() else {
        return ringshot_sender_side(wire, o, case, dest, place, stop);
    };
    let (backend, gso, payload) = case;
    let stem = format!("flame-wire-{backend}-gso-{}-{payload}", on(gso));
    let limit = o.case_secs * 2 + Duration::from_secs(5);
    let rec =
        crate::bench::profile::start(place.tx_core, &dir.join(format!("{stem}.perf.data")), limit);
    let measured = ringshot_sender_side(wire, o, case, dest, place, stop);
    let (folded, svg) = (format!("{stem}.folded"), format!("{stem}.svg"));
    let title = format!(
        "ringshot {backend}, GSO {}, {payload} B, wire, TX core",
        on(gso)
    );
    match rec.and_then(|r| r.finish(&dir.join(&folded), &dir.join(&svg), &title)) {
        Ok(sum) => {
            c.profile_summaries.push((svg.clone(), sum));
            c.profiles.extend([folded, svg]);
        }
        Err(e) => c.skipped.push(format!("profile of {stem}: {e}")),
    }
    measured
}

fn sender_config(
    o: &WireOptions,
    (backend, gso, payload): (BackendChoice, bool, usize),
    dest: SocketAddr,
    place: &Placement,
) -> Result<SenderConfig, WireError> {
    let mut b = SenderConfig::builder(dest)
        .backend(backend)
        .gso(gso)
        .payload(payload)
        .send_order(o.send_order)
        .timeline(crate::bench::SERIES_PERIOD);
    if let Some(n) = o.batch {
        b = b.batch(n);
    }
    if let Some(c) = place.tx_core {
        b = b.tx_core(c);
    }
    b.build()
        .map_err(|e| WireError::Bench(BenchError::Config(e.to_string())))
}

/// Runs the engine in the near namespace for the case's time, stopping early on `stop`. With
/// `fill` the app writes the check pattern into every packet (a receiver checks it); without,
/// it writes nothing, like the raw loops and the peers, which send the same bytes again.
fn run_sender(
    wire: &Wire,
    cfg: SenderConfig,
    o: &WireOptions,
    stop: &AtomicBool,
    fill: bool,
) -> Result<ringshot::TxReport, WireError> {
    let payload = cfg.payload();
    let secs = o.case_secs;
    let source = PatternSource::new(payload, None, Some(secs));
    let source = if fill { source } else { source.without_fill() };
    let tx = wire
        .in_near(move || SourceSender::spawn(cfg, source))?
        .map_err(BenchError::Sender)?;
    while !tx.is_finished() {
        if stop.load(Ordering::Relaxed) {
            tx.stop();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(tx.finish().map_err(BenchError::Sender)?)
}

pub(super) fn ringshot_sender_side(
    wire: &Wire,
    o: &WireOptions,
    case: (BackendChoice, bool, usize),
    dest: SocketAddr,
    place: &Placement,
    stop: &AtomicBool,
) -> Result<WireRow, WireError> {
    let cfg = sender_config(o, case, dest, place)?;
    let batch = cfg.batch();
    let before = wire.far_rx_packets()?;
    let rep = run_sender(wire, cfg, o, stop, false)?;
    std::thread::sleep(Duration::from_millis(100));
    let crossed = wire.far_rx_packets()?.saturating_sub(before);
    let pps = crossed as f64 / rep.seconds.max(1e-9);
    Ok(WireRow {
        sender: "ringshot".into(),
        backend: rep.backend.into(),
        gso: case.1,
        payload: case.2,
        mode: Mode::SenderSide,
        batch: Some(batch),
        sent: rep.packets,
        crossed,
        delivered: None,
        lost: None,
        seconds: rep.seconds,
        pps,
        gbps: pps * case.2 as f64 * 8.0 / 1e9,
        sent_pps: rep.packets as f64 / rep.seconds.max(1e-9),
        cpu_ns_per_packet: Some(rep.cpu_ns as f64 / crossed.max(1) as f64),
        cpu_pct: Some(crate::bench::cpu_pct(rep.cpu_ns, rep.seconds)),
        submit_ns: Some(rep.submit_ns),
        raw_rounds: Vec::new(),
        raw_ratio: None,
        series: crate::bench::Series::new(Some(&rep), None),
    })
}

fn ringshot_end_to_end(
    wire: &Wire,
    o: &WireOptions,
    case: (BackendChoice, bool, usize),
    place: &Placement,
    stop: &AtomicBool,
) -> Result<WireRow, WireError> {
    let bind = SocketAddr::V4(SocketAddrV4::new(wire.far_addr, 0));
    let mut rb = RecvConfig::builder(bind)
        .rcvbuf(64 << 20)
        .timeline(crate::bench::SERIES_PERIOD);
    if let Some(c) = place.rx_core {
        rb = rb.rx_core(c);
    }
    let rcfg = rb.build().map_err(|e| BenchError::Config(e.to_string()))?;
    let rx = wire
        .in_far(move || ringshot::recv::Receiver::spawn(rcfg))?
        .map_err(BenchError::Receiver)?;
    let cfg = sender_config(o, case, rx.local_addr(), place)?;
    let batch = cfg.batch();
    let before = wire.far_rx_packets()?;
    let rep = run_sender(wire, cfg, o, stop, true);
    let got = crate::bench::drain_and_stop(rx, Duration::from_millis(150))?;
    let rep = rep?;
    let crossed = wire.far_rx_packets()?.saturating_sub(before);
    let delivered = got.packets - got.duplicates;
    Ok(WireRow {
        sender: "ringshot".into(),
        backend: rep.backend.into(),
        gso: case.1,
        payload: case.2,
        mode: Mode::EndToEnd,
        batch: Some(batch),
        sent: rep.packets,
        crossed,
        delivered: Some(delivered),
        lost: Some(rep.packets.saturating_sub(delivered)),
        seconds: rep.seconds,
        pps: got.pps,
        gbps: got.pps * case.2 as f64 * 8.0 / 1e9,
        sent_pps: rep.packets as f64 / rep.seconds.max(1e-9),
        cpu_ns_per_packet: Some(rep.cpu_ns as f64 / delivered.max(1) as f64),
        cpu_pct: Some(crate::bench::cpu_pct(rep.cpu_ns, rep.seconds)),
        submit_ns: Some(rep.submit_ns),
        raw_rounds: Vec::new(),
        raw_ratio: None,
        series: crate::bench::Series::new(Some(&rep), Some(&got)),
    })
}
