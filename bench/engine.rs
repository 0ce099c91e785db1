//! Criterion micro-benchmarks of the hot-path pieces, plus a loopback send case into ringshot's
//! receiver, placed as `ringshot bench` places its cases (TX on the first core, RX on the second).
//!
//! `cargo bench --bench engine`; under `cargo test --all-targets` each runs once as a smoke test.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ringshot::backend::{gso_run_len, TxDesc};
use ringshot::engine::{PatternSource, SourceSender};
use ringshot::framing::{whole_packet_heap, Format, Framing, IntegerTime, Stamper};
use ringshot::recv::{Receiver, RecvReport};
use ringshot::wire::header::{fill_pattern, Packet, Repr, HEADER_LEN};
use ringshot::wire::vrt::Tsi;
use ringshot::{BackendChoice, SenderConfig};

/// The cores the sender and the receiver run on: the first two this process may use, unpinned
/// where there are fewer.
#[derive(Clone, Copy)]
struct Placement {
    tx_core: Option<usize>,
    rx_core: Option<usize>,
}

impl Placement {
    fn auto() -> Placement {
        match ringshot::available_cores().as_slice() {
            [a, b, ..] => Placement {
                tx_core: Some(*a),
                rx_core: Some(*b),
            },
            _ => Placement {
                tx_core: None,
                rx_core: None,
            },
        }
    }
}

/// ringshot's receiver on a free loopback port, pinned to `rx_core`.
fn start_receiver(rx_core: Option<usize>) -> Receiver {
    let mut b = ringshot::recv::RecvConfig::builder("127.0.0.1:0".parse().expect("literal"))
        .rcvbuf(64 << 20);
    if let Some(c) = rx_core {
        b = b.rx_core(c);
    }
    Receiver::spawn(b.build().expect("receiver config")).expect("receiver")
}

/// Stops the receiver once its packet count has not grown for `quiet`; its report.
fn drain_and_stop(rx: Receiver, quiet: Duration) -> RecvReport {
    let mut last = rx.progress().0;
    loop {
        std::thread::sleep(quiet);
        let now = rx.progress().0;
        if now == last {
            break;
        }
        last = now;
    }
    rx.stop();
    rx.join().expect("receiver")
}

fn hot_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("hot_path");
    g.throughput(Throughput::Elements(1));
    let mut buf = vec![0u8; 1472];
    let mut seq = 0u64;
    g.bench_function("stamp_header", |b| {
        b.iter(|| {
            seq += 1;
            Repr {
                flags: 1,
                stream_id: 7,
                seq,
            }
            .emit(&mut Packet::new_unchecked(&mut buf[..HEADER_LEN]));
            black_box(&buf);
        })
    });
    g.bench_function("fill_pattern_1456", |b| {
        b.iter(|| {
            seq += 1;
            fill_pattern(seq, &mut buf[HEADER_LEN..]);
            black_box(&buf);
        })
    });
    let mut h = ringshot::stats::latency_histogram();
    g.bench_function("histogram_record", |b| {
        b.iter(|| ringshot::stats::record_clamped(&mut h, black_box(1234)))
    });
    let descs: Vec<TxDesc> = (0..64).map(|slot| TxDesc { slot, len: 1472 }).collect();
    g.bench_function("gso_run_len_64", |b| {
        b.iter(|| gso_run_len(black_box(&descs)))
    });
    g.finish();
}

/// Time to deliver `n` packets to ringshot's receiver, per backend, GSO on.
fn loopback(c: &mut Criterion) {
    let place = Placement::auto();
    let mut g = c.benchmark_group("loopback_1472");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    let n = 20_000u64;
    g.throughput(Throughput::Elements(n));
    for backend in [
        BackendChoice::Send,
        BackendChoice::Mmsg,
        BackendChoice::Uring,
    ] {
        g.bench_function(backend.name(), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let rx = start_receiver(place.rx_core);
                    let cfg = SenderConfig::builder(rx.local_addr())
                        .backend(backend)
                        .build()
                        .expect("config");
                    let t0 = Instant::now();
                    let tx = match SourceSender::spawn(cfg, PatternSource::new(1472, Some(n), None))
                    {
                        Ok(tx) => tx,
                        Err(e) => {
                            eprintln!("skipping {backend}: {e}");
                            return Duration::from_nanos(1);
                        }
                    };
                    tx.finish().expect("sender");
                    total += t0.elapsed();
                    let got = drain_and_stop(rx, Duration::from_millis(20));
                    black_box(got.packets);
                }
                total
            })
        });
    }
    g.finish();
}

/// Per-packet stamp cost of each framing (header only; the payload is the app's), with and
/// without timestamps.
fn framing_stamp(c: &mut Criterion) {
    let mut g = c.benchmark_group("framing_stamp");
    g.throughput(Throughput::Elements(1));
    let mut buf = vec![0u8; 1472];
    for format in Format::ALL {
        for ts in [false, true] {
            if ts && matches!(format, Format::Ringshot | Format::Raw | Format::Spead) {
                continue;
            }
            for tsi in [false, true] {
                if tsi && !(ts && matches!(format, Format::Vrt | Format::Usrp2)) {
                    continue;
                }
                let framing = Framing {
                    sample_count_ts: ts,
                    // The integer second of 2023-11-14, stepping at 25 Msps.
                    tsi: tsi.then_some(IntegerTime {
                        kind: Tsi::Utc,
                        start: 1_700_000_000,
                    }),
                    sample_rate: 25_000_000,
                    ..Framing::of(format)
                };
                let app = framing.max_app_payload(buf.len());
                let mut stamper = Stamper::new(framing, 7);
                let mut seq = 0u64;
                let name = format!(
                    "{}{}{}",
                    format.name(),
                    if tsi { "_tsi" } else { "" },
                    if ts { "_ts" } else { "" }
                );
                g.bench_function(name, |b| {
                    b.iter(|| {
                        seq += 1;
                        black_box(stamper.stamp(&mut buf, seq, 1, black_box(app)))
                    })
                });
            }
        }
    }
    g.finish();
    framing_rates();
}

/// The framings the rate comparison runs: each format with its defaults, and SPEAD once more
/// with a heap of whole packets (the default 65,536-byte heap ends in a short packet, which ends
/// a GSO run at every heap).
fn framing_variants() -> Vec<(String, Framing)> {
    let mut v: Vec<(String, Framing)> = Format::ALL
        .into_iter()
        .map(|f| (f.name().to_string(), Framing::of(f)))
        .collect();
    let mut whole = Framing::of(Format::Spead);
    let room = whole.max_app_payload(1472) as u64;
    whole.spead.heap_size = whole_packet_heap(whole.spead.heap_size, room);
    v.push((format!("spead/{}", whole.spead.heap_size), whole));
    v
}

/// The sender's unpaced rate over loopback with each framing, to a socket nobody reads, against
/// `ringshot` framing in the same run (interleaved rounds in rotating order, median of each), and
/// the TX core's CPU time per packet, which other load on the machine disturbs less than the rate.
/// Three ways: the app filling the check pattern, and an app that writes nothing with GSO on and
/// off. Printed, never asserted.
fn framing_rates() {
    // `cargo bench` passes --bench; under `cargo test --all-targets` this is a smoke run.
    let full = std::env::args().any(|a| a == "--bench");
    let rounds: usize = std::env::var("RINGSHOT_FRAMING_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 7 } else { 1 });
    let n = if full { 300_000u64 } else { 2_000 };
    let variants = framing_variants();
    for (blank, gso) in [(false, true), (true, true), (true, false)] {
        let (pps, cpu) = framing_round_robin(&variants, n, rounds, blank, gso);
        let median = |v: &[f64]| {
            let mut v = v.to_vec();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (base_pps, base_cpu) = (median(&pps[0]), median(&cpu[0]));
        let app = if blank {
            "app writes nothing"
        } else {
            "app fills the pattern"
        };
        let gso = if gso { "GSO on" } else { "GSO off" };
        eprintln!(
            "framing_rates (loopback to a socket nobody reads, 1472-byte datagrams, {n} packets, {app}, {gso}, median of {rounds}):"
        );
        eprintln!("  framing               pps  x ringshot   tx cpu ns/pkt  x ringshot");
        for (i, (name, _)) in variants.iter().enumerate() {
            let (p, c) = (median(&pps[i]), median(&cpu[i]));
            eprintln!(
                "  {:<12} {:>12.0}  {:>10.3}   {:>13.1}  {:>10.3}",
                name,
                p,
                p / base_pps,
                c,
                c / base_cpu
            );
        }
    }
}

/// Every variant once per round, the order rotated each round; per variant, each round's pps and
/// TX CPU ns per packet.
fn framing_round_robin(
    variants: &[(String, Framing)],
    n: u64,
    rounds: usize,
    blank: bool,
    gso: bool,
) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let place = Placement::auto();
    let mut pps: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for round in 0..rounds {
        for k in 0..variants.len() {
            let i = (k + round) % variants.len();
            let framing = variants[i].1;
            // A socket nobody reads: once its buffer is full the kernel drops every datagram at
            // the same cost whatever its bytes, so the TX core's time is the sender's own and no
            // receiver parsing the formats differently competes for the CPU.
            let sink = std::net::UdpSocket::bind("127.0.0.1:0").expect("sink");
            let mut b = SenderConfig::builder(sink.local_addr().expect("sink"))
                .framing(framing)
                .gso(gso);
            if let Some(core) = place.tx_core {
                b = b.tx_core(core);
            }
            let cfg = b.build().expect("config");
            // Without the pattern fill (which costs more than any stamp and varies with the
            // room) the TX core's work differs between framings only by the framing itself.
            let src = PatternSource::framed(&framing, 1472, Some(n), None);
            let src = if blank { src.without_fill() } else { src };
            let report = SourceSender::spawn(cfg, src)
                .expect("sender")
                .finish()
                .expect("sender");
            pps[i].push(report.pps);
            cpu[i].push(report.cpu_ns as f64 / report.packets.max(1) as f64);
            drop(sink);
        }
    }
    (pps, cpu)
}

criterion_group!(benches, hot_path, loopback, framing_stamp);
criterion_main!(benches);
