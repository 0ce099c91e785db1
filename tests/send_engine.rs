//! The send engine over real loopback sockets: every backend, GSO on and off, delivers exactly N
//! packets with intact contents and sequence numbers; faults lose nothing.

mod common;

use std::time::Duration;

use common::{batching_backend, uring_available, TestReceiver};
#[cfg(any(ringshot_gso, ringshot_mmsg))]
use ringshot::config::TxFaults;
use ringshot::engine::{PatternSource, SourceSender};
use ringshot::{BackendChoice, Sender, SenderConfig};

const N: u64 = 20_000;

fn run_source(
    backend: BackendChoice,
    gso: bool,
    payload: usize,
    n: u64,
    tweak: impl FnOnce(ringshot::SenderConfigBuilder) -> ringshot::SenderConfigBuilder,
) -> (ringshot::TxReport, common::Received) {
    let rx = TestReceiver::start(n, payload, Duration::from_secs(3));
    let cfg = tweak(
        SenderConfig::builder(rx.addr)
            .backend(backend)
            .gso(gso)
            .payload(payload),
    )
    .build()
    .unwrap();
    let report = SourceSender::spawn(cfg, PatternSource::new(payload, Some(n), None))
        .unwrap()
        .finish()
        .unwrap();
    (report, rx.join())
}

fn assert_exact(report: &ringshot::TxReport, got: &common::Received, n: u64) {
    assert_eq!(
        report.packets, n,
        "engine counted {} packets",
        report.packets
    );
    assert_eq!((report.committed, report.failed_packets), (n, 0));
    assert!(!report.interrupted && !report.stalled);
    assert_eq!(got.unique, n, "receiver got {got:?}");
    assert_eq!(got.duplicates, 0, "{got:?}");
    assert_eq!(got.corrupt, 0, "{got:?}");
    assert_eq!(got.bad_header, 0, "{got:?}");
    assert!(got.lengths_ok, "a datagram arrived with the wrong length");
    assert_eq!(got.max_seq, Some(n - 1));
    assert_eq!(
        report.submit_hist.len(),
        report.submits,
        "one histogram entry per submit"
    );
}

fn backends() -> Vec<BackendChoice> {
    let mut v = vec![BackendChoice::Send, batching_backend()];
    if uring_available() {
        v.push(BackendChoice::Uring);
    } else {
        eprintln!("skipping the uring backend: io_uring is unavailable here");
    }
    v
}

#[test]
fn every_backend_delivers_exactly_n_with_and_without_gso() {
    for backend in backends() {
        for gso in [false, true] {
            let (report, got) = run_source(backend, gso, 1472, N, |b| b);
            assert_eq!(report.backend, backend.name());
            // Without UDP GSO (Windows sends no USO super-packets yet) asking for it is a notice.
            let want_gso = gso && cfg!(ringshot_gso);
            assert_eq!(
                report.gso, want_gso,
                "{backend} gso={gso}: {:?}",
                report.notices
            );
            assert_exact(&report, &got, N);
            if want_gso {
                // GSO must have merged packets: fewer submits than packets per batch allows.
                assert!(
                    report.batch_packets.max > 1,
                    "{backend}: no multi-packet submit with GSO"
                );
            }
            if backend == BackendChoice::Send && !gso {
                assert_eq!(
                    report.submits, N,
                    "the baseline sends one packet per syscall"
                );
            }
        }
    }
}

#[test]
fn small_and_odd_payloads_arrive_intact() {
    for backend in backends() {
        for payload in [16, 64, 1000, 8000] {
            let (report, got) = run_source(backend, true, payload, 3000, |b| b);
            assert_exact(&report, &got, 3000);
        }
    }
}

#[cfg(ringshot_gso)]
#[test]
fn forced_gso_failure_loses_nothing() {
    for backend in backends() {
        let faults = TxFaults {
            gso_fail_at: Some(3),
            ..Default::default()
        };
        let (report, got) = run_source(backend, true, 1472, N, |b| b.faults(faults));
        assert_eq!(report.gso_downgrades, 1, "{backend}");
        assert!(!report.gso, "{backend}: GSO must stay off after a refusal");
        assert!(report.resent_packets > 0, "{backend}");
        assert_eq!(
            report.errors.get(&ringshot::SendErrno::Io),
            Some(&1),
            "{backend}: {:?}",
            report.errors
        );
        assert_exact(&report, &got, N);
    }
}

#[cfg(ringshot_iocp)]
#[test]
fn auto_is_the_completion_port_backend_and_uring_is_refused() {
    let (report, got) = run_source(BackendChoice::Auto, true, 1472, 5000, |b| b);
    assert_eq!(report.backend, "iocp");
    assert_exact(&report, &got, 5000);
    let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for choice in [BackendChoice::Uring, BackendChoice::Mmsg] {
        let err = SenderConfig::builder(rx.local_addr().unwrap())
            .backend(choice)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains(choice.name()), "{err}");
    }
}

#[cfg(ringshot_mmsg)]
#[test]
fn auto_falls_back_when_uring_is_unavailable() {
    let faults = TxFaults {
        uring_unavailable: true,
        ..Default::default()
    };
    let (report, got) = run_source(BackendChoice::Auto, true, 1472, 5000, |b| b.faults(faults));
    assert_eq!(report.backend, "mmsg");
    assert!(
        report
            .notices
            .iter()
            .any(|n| n.contains("io_uring is unavailable")),
        "{:?}",
        report.notices
    );
    assert_exact(&report, &got, 5000);

    // Asking for uring explicitly gives a clear error instead.
    let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let cfg = SenderConfig::builder(rx.local_addr().unwrap())
        .backend(BackendChoice::Uring)
        .faults(faults)
        .build()
        .unwrap();
    let err = SourceSender::spawn(cfg, PatternSource::new(1472, Some(1), None)).unwrap_err();
    assert!(err.to_string().contains("uring is unavailable"), "{err}");
}

#[test]
fn auto_prefers_uring_when_it_works() {
    if !uring_available() {
        eprintln!("skipping: io_uring is unavailable here");
        return;
    }
    let (report, got) = run_source(BackendChoice::Auto, true, 1472, 2000, |b| b);
    assert_eq!(report.backend, "uring");
    assert_exact(&report, &got, 2000);
}

#[test]
fn send_zc_under_slab_pressure_never_corrupts() {
    if !uring_available() {
        eprintln!("skipping: io_uring is unavailable here");
        return;
    }
    // 64 slots for 10,000 packets: every slot is reused ~150 times, each time only after the
    // zero-copy notification; a premature reuse would show up as a corrupt pattern.
    for gso in [false, true] {
        let (report, got) = run_source(BackendChoice::Uring, gso, 6000, 10_000, |b| {
            b.slots(64).batch(32).zc_threshold(Some(4096))
        });
        assert_exact(&report, &got, 10_000);
        assert!(
            report.zero_copy_sends > 0,
            "gso={gso}: no zero-copy send was made"
        );
        assert_eq!(
            report.zero_copy_sends, report.zero_copy_notifications,
            "every zero-copy send must be released by its notification"
        );
    }
}

#[test]
fn push_mode_reserve_commit_and_send() {
    for backend in backends() {
        let n = 5000u64;
        let rx = TestReceiver::start(n, 1472, Duration::from_secs(3));
        let cfg = SenderConfig::builder(rx.addr)
            .backend(backend)
            .slots(256)
            .build()
            .unwrap();
        let mut tx = Sender::spawn(cfg).unwrap();
        let app = tx.max_app_payload();
        let mut copy = vec![0u8; app];
        for seq in 0..n {
            if seq % 2 == 0 {
                // Zero-copy API: write straight into the slot.
                let mut slot = loop {
                    match tx.reserve().expect("engine running") {
                        Some(s) => break s,
                        None => std::thread::yield_now(),
                    }
                };
                ringshot::wire::header::fill_pattern(seq, slot.payload_mut());
                slot.set_flags(ringshot::wire::header::FLAG_PATTERN);
                slot.commit(app).unwrap();
            } else {
                // Copying convenience; unflagged, so the receiver skips the pattern check.
                ringshot::wire::header::fill_pattern(seq, &mut copy);
                tx.send(&copy).unwrap();
            }
        }
        let report = tx.finish().unwrap();
        let got = rx.join();
        assert_exact(&report, &got, n);
    }
}

// Windows sleeps end on the system timer's tick (1 ms or more), so unquantised pacing already
// gathers several due packets per submit there and the comparison says nothing.
#[cfg(not(ringshot_iocp))]
#[test]
fn a_pacing_quantum_gathers_due_packets_into_fewer_submits() {
    let n = 4_000u64;
    // Strict spacing on both sides: the default (auto) already groups packets at this rate.
    let strict = ringshot::pacing::Spacing::Strict;
    let (plain, got) = run_source(batching_backend(), true, 1472, n, |b| {
        b.rate(ringshot::pacing::Rate::Pps(40_000.0))
            .spacing(strict)
    });
    assert_exact(&plain, &got, n);
    let (gathered, got) = run_source(batching_backend(), true, 1472, n, |b| {
        b.rate(ringshot::pacing::Rate::Pps(40_000.0))
            .spacing(strict)
            .pace_quantum(Duration::from_millis(1))
    });
    assert_exact(&gathered, &got, n);
    // 1 ms at 40 k pps is 40 packets a submit; allow plenty of slack for a busy machine.
    assert!(
        gathered.submits * 4 < plain.submits,
        "quantum: {} submits, none: {}",
        gathered.submits,
        plain.submits
    );
    assert!(
        gathered.batch_packets.max >= 8,
        "{:?}",
        gathered.batch_packets
    );
}

#[test]
fn sqpoll_delivers_exactly_n() {
    if !uring_available() {
        eprintln!("skipping: io_uring is unavailable here");
        return;
    }
    for gso in [false, true] {
        let (report, got) = run_source(BackendChoice::Uring, gso, 1472, 20_000, |b| {
            b.sqpoll(Some(Duration::from_millis(20)))
        });
        assert_eq!(report.backend, "uring");
        assert_exact(&report, &got, 20_000);
    }
}

#[test]
fn stop_on_a_real_socket_ends_interrupted_and_adds_up() {
    for backend in backends() {
        // Nobody reads this socket: the stream only ends when stopped.
        let sink = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let cfg = SenderConfig::builder(sink.local_addr().unwrap())
            .backend(backend)
            .rate(ringshot::pacing::Rate::Pps(20_000.0))
            .build()
            .unwrap();
        let tx = SourceSender::spawn(cfg, PatternSource::new(1472, None, None)).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while tx.progress() < 100 {
            assert!(
                std::time::Instant::now() < deadline,
                "{backend}: no progress"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        tx.stop();
        let report = tx.finish().expect("a stop is not an error");
        assert!(report.interrupted, "{backend}");
        assert!(report.packets >= 100, "{backend}: {}", report.packets);
        assert_eq!(
            report.packets + report.failed_packets,
            report.committed,
            "{backend}: counters do not add up"
        );
    }
}

#[test]
fn sched_fifo_pacing_sleeps_instead_of_spinning() {
    let rx = TestReceiver::start(10_000, 1472, Duration::from_secs(3));
    let cfg = SenderConfig::builder(rx.addr)
        .backend(batching_backend())
        .rate(ringshot::pacing::Rate::Pps(10_000.0))
        .sched_fifo(1)
        .build()
        .unwrap();
    let report = SourceSender::spawn(cfg, PatternSource::new(1472, Some(10_000), None))
        .unwrap()
        .finish()
        .unwrap();
    let got = rx.join();
    if let Some(n) = report.notices.iter().find(|n| n.contains("SCHED_FIFO")) {
        eprintln!("skipping the CPU check: {n}");
        return;
    }
    assert_exact(&report, &got, 10_000);
    // A spinning pacer under SCHED_FIFO burns the whole second (and gets throttled).
    let wall_ns = report.seconds * 1e9;
    assert!(
        (report.cpu_ns as f64) < wall_ns * 0.5,
        "engine thread used {} ms of CPU in {:.0} ms",
        report.cpu_ns / 1_000_000,
        wall_ns / 1e6
    );
}

/// Sums of one histogram over the time series.
fn interval_sum(
    r: &ringshot::TxReport,
    pick: impl Fn(&ringshot::engine::IntervalHists) -> Option<u64>,
) -> u64 {
    r.timeline.iter().map(|i| pick(&i.hists).unwrap_or(0)).sum()
}

#[test]
fn a_paced_timeline_has_one_interval_per_second_adding_up_to_the_totals() {
    const SECS: u64 = 3;
    const PPS: u64 = 10_000;
    for backend in backends() {
        let (r, got) = run_source(backend, false, 256, SECS * PPS, |b| {
            b.rate(ringshot::pacing::Rate::Pps(PPS as f64))
                .timeline(Duration::from_secs(1))
        });
        assert_exact(&r, &got, SECS * PPS);
        let tl = &r.timeline;
        // The schedule spans SECS seconds less one packet interval; the last cut comes at the end.
        assert!(
            tl.len() >= SECS as usize,
            "{backend}: {} intervals",
            tl.len()
        );
        assert_eq!(
            tl.iter().map(|i| i.packets).sum::<u64>(),
            r.packets,
            "{backend}"
        );
        let submit = interval_sum(&r, |h| Some(h.submit.len()));
        assert_eq!(
            (submit, r.submit_hist.len()),
            (r.submits, r.submits),
            "{backend}"
        );
        assert_eq!(
            interval_sum(&r, |h| Some(h.reap.len())),
            r.reaps,
            "{backend}"
        );
        assert_eq!(r.reap_hist.len(), r.reaps, "{backend}");
        let late = interval_sum(&r, |h| h.lateness.as_ref().map(|l| l.len()));
        assert_eq!(late, r.lateness_hist.as_ref().unwrap().len(), "{backend}");
        assert!(late > 0 && tl.iter().all(|i| i.hists.window_wait.is_none()));
        for w in tl.windows(2) {
            assert!(
                (w[0].start_s + w[0].seconds - w[1].start_s).abs() < 1e-6,
                "{backend}: intervals must tile the run: {:?} then {:?}",
                (w[0].start_s, w[0].seconds),
                (w[1].start_s, w[1].seconds)
            );
        }
        assert_eq!(tl[0].start_s, 0.0);
        // The JSON carries one summary per interval (reports serialise with `serde`).
        #[cfg(feature = "serde")]
        {
            let json = serde_json::to_value(&r).unwrap();
            assert_eq!(json["timeline"].as_array().unwrap().len(), tl.len());
            assert!(json["reap_ns"].get("p99").is_some() && json.get("reaps").is_some());
        }
    }
}

#[test]
fn without_a_timeline_the_report_has_none() {
    let (r, got) = run_source(BackendChoice::Auto, true, 1472, N, |b| b);
    assert_exact(&r, &got, N);
    assert!(r.timeline.is_empty());
    assert_eq!(r.reap_hist.len(), r.reaps);
    #[cfg(feature = "serde")]
    assert!(serde_json::to_value(&r).unwrap().get("timeline").is_none());
}
