//! Property tests of the whole send engine under seeded syscall faults, through the public API,
//! against a plain loopback receiver: whatever the plan injects, every committed packet leaves
//! exactly once and in order or is counted as failed, the counters add up, and the run ends.
//! With io_uring's relaxed send order, "in order" becomes: a packet arrives after a later one
//! only when overtaken by its own batch, and the report counts each such packet.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use ringshot::config::TxFaults;
use ringshot::engine::{PatternSource, SourceSender};
use ringshot::fault::FaultPlan;
use ringshot::recv::seq::{Arrival, SeqTracker, DEFAULT_WINDOW};
use ringshot::wire::header::{check_pattern, Packet, Repr, FLAG_PATTERN};
use ringshot::{BackendChoice, SendOrder, SenderConfig, TxReport};

/// Longest a single case may take before it counts as a hang.
const WATCHDOG: Duration = Duration::from_secs(90);

/// What the receiver saw, in arrival order.
#[derive(Debug, Default)]
struct Arrivals {
    seqs: Vec<u64>,
    corrupt: u64,
    bad_header: u64,
    wrong_length: u64,
}

/// A receiver thread that keeps every datagram's sequence number in arrival order until told to
/// stop and then idle for 500 ms.
struct Receiver {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Arrivals>,
}

impl Receiver {
    fn start(payload: usize) -> Receiver {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        ringshot::os::set_recv_buffer(&sock, 64 << 20);
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let addr = sock.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut got = Arrivals::default();
            let mut buf = vec![0u8; 65_536];
            let mut last = Instant::now();
            while !stopped.load(Ordering::Acquire) || last.elapsed() < Duration::from_millis(500) {
                let Ok(n) = sock.recv(&mut buf) else { continue };
                last = Instant::now();
                let pkt = Packet::new_unchecked(&buf[..n]);
                let Ok(repr) = Repr::parse(&pkt) else {
                    got.bad_header += 1;
                    continue;
                };
                if n != payload {
                    got.wrong_length += 1;
                }
                if repr.flags & FLAG_PATTERN == 0 || !check_pattern(repr.seq, pkt.payload()) {
                    got.corrupt += 1;
                }
                got.seqs.push(repr.seq);
            }
            got
        });
        Receiver { addr, stop, handle }
    }

    fn finish(self) -> Arrivals {
        self.stop.store(true, Ordering::Release);
        self.handle.join().unwrap()
    }
}

/// One engine run: its report and what arrived.
fn run_case(
    (backend, order): (BackendChoice, SendOrder),
    gso: bool,
    payload: usize,
    batch: usize,
    n: u64,
    plan: FaultPlan,
) -> (TxReport, Arrivals) {
    let rx = Receiver::start(payload);
    let cfg = SenderConfig::builder(rx.addr)
        .backend(backend)
        .send_order(order)
        .gso(gso)
        .payload(payload)
        .batch(batch)
        .faults(TxFaults {
            plan: Some(plan),
            ..Default::default()
        })
        .build()
        .unwrap();
    // The watchdog: the engine runs on its own thread and must answer in time.
    let (tx, done) = mpsc::channel();
    std::thread::spawn(move || {
        let result = SourceSender::spawn(cfg, PatternSource::new(payload, Some(n), None))
            .map_err(|e| e.to_string())
            .and_then(|s| s.finish().map_err(|e| e.to_string()));
        let _ = tx.send(result);
    });
    let report = match done.recv_timeout(WATCHDOG) {
        Ok(Ok(report)) => report,
        Ok(Err(e)) => panic!("{backend} gso={gso} payload={payload} n={n}: engine failed: {e}"),
        Err(_) => panic!("{backend} gso={gso} payload={payload} n={n}: no end within {WATCHDOG:?} (hang) with {plan:?}"),
    };
    (report, rx.finish())
}

/// The invariants every case must keep.
fn check(
    (backend, order): (BackendChoice, SendOrder),
    batch: usize,
    n: u64,
    plan: &FaultPlan,
    report: &TxReport,
    got: &Arrivals,
) -> Result<(), TestCaseError> {
    let ctx = format!(
        "{backend} ({order} order) n={n} batch={batch}: {}\nplan {plan:?}\nreceiver saw {} \
         datagrams",
        summary(report),
        got.seqs.len()
    );
    prop_assert_eq!(report.packets + report.failed_packets, n, "{}", ctx);
    prop_assert_eq!(got.bad_header, 0, "{}", ctx);
    prop_assert_eq!(got.corrupt, 0, "{}", ctx);
    prop_assert_eq!(got.wrong_length, 0, "{}", ctx);
    match order {
        // Strictly increasing in arrival order: no duplicate, no reordering.
        SendOrder::Strict => {
            if let Some(w) = got.seqs.windows(2).find(|w| w[0] >= w[1]) {
                return Err(TestCaseError::fail(format!(
                    "sequence {} arrived after {}: {ctx}",
                    w[1], w[0]
                )));
            }
            prop_assert_eq!(report.reordered_packets, 0, "{}", ctx);
        }
        _ => {
            let overtaken = overtaken_within(&got.seqs, batch as u64)
                .map_err(|e| TestCaseError::fail(format!("{e}: {ctx}")))?;
            prop_assert_eq!(report.reordered_packets, overtaken, "{}", ctx);
        }
    }
    prop_assert_eq!(got.seqs.len() as u64, report.packets, "{}", ctx);
    prop_assert_eq!(
        report.zero_copy_notifications,
        report.zero_copy_sends,
        "{}",
        ctx
    );
    prop_assert!(
        report.resent_packets >= report.injected_faults.enobufs,
        "{}",
        ctx
    );
    // Every send-path fault hits with at least 10% per call when the plan is active (see
    // `plan_strategy`), so a hundred calls without one would be a broken wrapper.
    if plan.is_active() && n / batch as u64 >= 100 {
        prop_assert!(
            report.injected_faults.total() > 0,
            "nothing injected: {}",
            ctx
        );
    }
    Ok(())
}

/// Packets that arrived after a later one, as the receiver's sequence tracker classifies them;
/// an error for a duplicate, or for a packet overtaken by one `batch` or more ahead of it (only
/// its own batch may overtake it).
fn overtaken_within(seqs: &[u64], batch: u64) -> Result<u64, String> {
    let mut tracker = SeqTracker::new(DEFAULT_WINDOW);
    for &seq in seqs {
        let highest = tracker.highest();
        match tracker.record(seq) {
            Arrival::Reordered if highest.is_some_and(|h| h - seq >= batch) => {
                return Err(format!(
                    "sequence {seq} overtaken by {highest:?}, beyond its batch"
                ));
            }
            Arrival::Duplicate | Arrival::Late | Arrival::Implausible => {
                return Err(format!("sequence {seq} arrived twice or far out of order"));
            }
            _ => {}
        }
    }
    Ok(tracker.counts().reordered)
}

/// The report's counters, without its histograms.
fn summary(r: &TxReport) -> String {
    format!(
        "gso={} packets={} failed={} resent={} downgrades={} zc={}/{} stray={} errors={:?} \
         injected={:?}",
        r.gso,
        r.packets,
        r.failed_packets,
        r.resent_packets,
        r.gso_downgrades,
        r.zero_copy_notifications,
        r.zero_copy_sends,
        r.stray_completions,
        r.errors,
        r.injected_faults
    )
}

fn ppm() -> impl Strategy<Value = u32> {
    prop_oneof![Just(0u32), 1_000u32..150_000]
}

/// A plan with a random seed and probabilities; active ones make one of the send errors that
/// every backend answers hit at least 10% of the calls. Bounded by `max_faults`.
fn plan_strategy() -> impl Strategy<Value = FaultPlan> {
    let odds = (ppm(), ppm(), ppm(), ppm(), ppm(), ppm(), ppm(), ppm());
    (any::<u64>(), odds, 0usize..4, 1u64..300, 0u8..8).prop_map(
        |(
            seed,
            (eagain, enobufs, econnrefused, gso_refuse, partial, cancel, delay, reorder),
            hot,
            max,
            off,
        )| {
            let mut plan = FaultPlan {
                seed,
                eagain,
                enobufs,
                econnrefused,
                gso_refuse,
                partial,
                cancel_link: cancel,
                delay_cqe: delay,
                reorder_cqe: reorder,
                max_faults: Some(max),
            };
            match (off, hot) {
                (0, _) => {
                    return FaultPlan {
                        seed,
                        ..FaultPlan::none()
                    }
                }
                (_, 0) => plan.eagain = plan.eagain.max(100_000),
                (_, 1) => plan.enobufs = plan.enobufs.max(100_000),
                _ => plan.econnrefused = plan.econnrefused.max(100_000),
            }
            plan
        },
    )
}

fn case_strategy() -> impl Strategy<Value = (bool, usize, usize, u64, FaultPlan)> {
    (
        any::<bool>(),
        prop_oneof![Just(64usize), Just(1472), Just(4096), Just(8000)],
        prop_oneof![Just(8usize), Just(64)],
        1u64..2000,
        plan_strategy(),
    )
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 16,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[cfg(ringshot_mmsg)]
    #[test]
    fn mmsg_engine_keeps_every_packet_under_faults((gso, payload, batch, n, plan) in case_strategy()) {
        let strict = (BackendChoice::Mmsg, SendOrder::Strict);
        let (report, got) = run_case(strict, gso, payload, batch, n, plan);
        prop_assert_eq!(report.backend, "mmsg");
        check(strict, batch, n, &plan, &report, &got)?;
    }

    #[test]
    fn send_engine_keeps_every_packet_under_faults((gso, payload, batch, n, plan) in case_strategy()) {
        let strict = (BackendChoice::Send, SendOrder::Strict);
        let (report, got) = run_case(strict, gso, payload, batch, n, plan);
        prop_assert_eq!(report.backend, "send");
        check(strict, batch, n, &plan, &report, &got)?;
    }

    #[cfg(ringshot_iocp)]
    #[test]
    fn iocp_engine_keeps_every_packet_under_faults((gso, payload, batch, n, plan) in case_strategy()) {
        let strict = (BackendChoice::Iocp, SendOrder::Strict);
        let (report, got) = run_case(strict, gso, payload, batch, n, plan);
        prop_assert_eq!(report.backend, "iocp");
        check(strict, batch, n, &plan, &report, &got)?;
    }

    #[cfg(ringshot_uring)]
    #[test]
    fn uring_engine_keeps_every_packet_under_faults((gso, payload, batch, n, plan) in case_strategy()) {
        if !common::uring_available() {
            eprintln!("skipping the uring case: io_uring is unavailable here");
            return Ok(());
        }
        let strict = (BackendChoice::Uring, SendOrder::Strict);
        let (report, got) = run_case(strict, gso, payload, batch, n, plan);
        prop_assert_eq!(report.backend, "uring");
        check(strict, batch, n, &plan, &report, &got)?;
    }

    #[cfg(ringshot_uring)]
    #[test]
    fn uring_relaxed_engine_keeps_every_packet_once_under_faults(
        (gso, payload, batch, n, plan) in case_strategy()
    ) {
        if !common::uring_available() {
            eprintln!("skipping the uring case: io_uring is unavailable here");
            return Ok(());
        }
        let relaxed = (BackendChoice::Uring, SendOrder::Relaxed);
        let (report, got) = run_case(relaxed, gso, payload, batch, n, plan);
        prop_assert_eq!(report.backend, "uring");
        check(relaxed, batch, n, &plan, &report, &got)?;
    }
}
