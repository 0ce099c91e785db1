//! Criterion micro-benchmarks of the hot-path pieces, plus a loopback send case built from the
//! same suite code as `ringshot bench` (`ringshot::bench`).
//!
//! `cargo bench --bench engine`; under `cargo test --all-targets` each runs once as a smoke test.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ringshot::backend::{gso_run_len, TxDesc};
use ringshot::bench::{drain_and_stop, start_receiver, Placement};
use ringshot::engine::{PatternSource, SourceSender};
use ringshot::wire::header::{fill_pattern, Packet, Repr, HEADER_LEN};
use ringshot::{BackendChoice, SenderConfig};

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
                    let rx = start_receiver(place.rx_core).expect("receiver");
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
                    let got = drain_and_stop(rx, Duration::from_millis(20)).expect("receiver");
                    black_box(got.packets);
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, hot_path, loopback);
criterion_main!(benches);
