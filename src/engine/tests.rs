//! The engine loop driven through a simulated completion backend (no socket): ordering,
//! exactly-once hand-over, slot ownership, and every way a stream can end.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;
use crate::pacing::Rate;
use crate::sys::sim::{SimBackend, SimLog, SimScript};

type Log = Arc<Mutex<SimLog>>;

fn cfg() -> crate::SenderConfigBuilder {
    // The address is never used: the simulated backend has no socket.
    SenderConfig::builder("127.0.0.1:9".parse().unwrap())
        .slots(64)
        .batch(16)
        .payload(256)
}

fn opened(cfg: &SenderConfig, script: SimScript, wait: Option<WaitMode>) -> (Opened, Log) {
    let (slab, tokens) = Slab::new(cfg.stream.slots, cfg.stream.payload);
    let (sim, log) = SimBackend::new(script);
    let opened = Opened::with_backend(Arc::new(slab), tokens, Box::new(sim), wait);
    (opened, log)
}

fn spawn_source(cfg: SenderConfig, script: SimScript, n: Option<u64>) -> (SourceSender, Log) {
    spawn_source_in(cfg, script, n, None)
}

fn spawn_source_in(
    cfg: SenderConfig,
    script: SimScript,
    n: Option<u64>,
    wait: Option<WaitMode>,
) -> (SourceSender, Log) {
    let (opened, log) = opened(&cfg, script, wait);
    let source = PatternSource::new(cfg.stream.payload, n, None);
    (
        SourceSender::spawn_opened(cfg, source, opened).unwrap(),
        log,
    )
}

/// Waits for the stream's end on another thread, failing the test if it takes past `limit`.
fn finish_within(tx: SourceSender, limit: Duration) -> Result<TxReport, EngineError> {
    let (done, result) = mpsc::channel();
    std::thread::spawn(move || done.send(tx.finish()).unwrap());
    result
        .recv_timeout(limit)
        .unwrap_or_else(|_| panic!("the engine did not end within {limit:?}"))
}

fn assert_adds_up(r: &TxReport) {
    assert_eq!(
        r.packets + r.failed_packets,
        r.committed,
        "packets {} + failed {} != committed {}",
        r.packets,
        r.failed_packets,
        r.committed
    );
}

fn assert_in_order(log: &Log, n: u64) {
    let log = log.lock().unwrap();
    assert!(log.violations.is_empty(), "{:?}", log.violations);
    assert_eq!(log.seqs.len() as u64, n, "packets handed to the backend");
    for (i, s) in log.seqs.iter().enumerate() {
        assert_eq!(*s, i as u64, "packet {i} out of order or repeated");
    }
}

#[test]
fn every_committed_packet_reaches_the_backend_once_in_order() {
    const N: u64 = 5_000;
    // Slots held for 3 reaps, at most 5 packets taken per call: partial submits throughout.
    let script = SimScript {
        hold_reaps: 3,
        accept_max: 5,
        ..Default::default()
    };
    let (tx, log) = spawn_source(cfg().build().unwrap(), script, Some(N));
    let r = finish_within(tx, Duration::from_secs(60)).unwrap();
    assert_in_order(&log, N);
    assert_eq!((r.packets, r.committed, r.failed_packets), (N, N, 0));
    assert!(!r.interrupted && !r.stalled);
    assert_eq!(r.stray_completions, 0);
    assert_eq!(
        log.lock().unwrap().cancels,
        1,
        "the wind-down always cancels"
    );
    assert!(log.lock().unwrap().held.is_empty());
}

#[test]
fn a_source_stream_sends_each_batch_from_consecutive_slots() {
    // Packets in consecutive full slots reach the kernel as one piece per GSO super-packet
    // (`Slab::spans`); a free stack that handed slots back reversed would cut every other batch
    // into one piece per packet.
    const N: u64 = 2_000;
    let script = SimScript {
        hold_reaps: 3,
        ..Default::default()
    };
    let c = cfg().payload(256).build().unwrap();
    let (tx, log) = spawn_source(c, script, Some(N));
    let r = finish_within(tx, Duration::from_secs(60)).unwrap();
    assert_eq!(r.packets, N);
    assert_in_order(&log, N);
    let log = log.lock().unwrap();
    // 64 slots in batches of 16: every slot is handed out about 30 times.
    assert_eq!(log.batches.len() as u64, N / 16, "one submit per batch");
    for (i, b) in log.batches.iter().enumerate() {
        assert!(
            b.windows(2).all(|w| w[1] == w[0] + 1),
            "batch {i} not in consecutive slots: {b:?}"
        );
    }
}

#[test]
fn no_slot_is_handed_out_while_the_backend_holds_it() {
    const N: u64 = 3_000;
    let c = cfg().build().unwrap();
    let script = SimScript {
        hold_reaps: 5,
        accept_max: 7,
        ..Default::default()
    };
    let (opened, log) = opened(&c, script, None);
    let mut tx = Sender::spawn_opened(c, opened).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    for i in 0..N {
        let mut r = loop {
            if let Some(r) = tx.reserve().expect("engine running") {
                break r;
            }
            assert!(Instant::now() < deadline, "no free slot came back");
            std::thread::yield_now();
        };
        let slot = r.slot();
        assert!(
            !log.lock().unwrap().held.contains(&slot),
            "slot {slot} handed to the app while the backend still holds it"
        );
        r.payload_mut()[..8].copy_from_slice(&i.to_le_bytes());
        r.commit(8).unwrap();
    }
    let r = tx.finish().unwrap();
    assert_in_order(&log, N);
    assert_eq!((r.packets, r.committed, r.failed_packets), (N, N, 0));
}

#[test]
fn stop_while_the_backend_refuses_ends_with_the_report() {
    let c = cfg()
        .stall_timeout(Duration::from_secs(600))
        .build()
        .unwrap();
    let script = SimScript {
        hold_reaps: 2,
        refuse_after: Some(100),
        ..Default::default()
    };
    let (tx, log) = spawn_source(c, script, None);
    let deadline = Instant::now() + Duration::from_secs(30);
    while log.lock().unwrap().seqs.len() < 100 {
        assert!(
            Instant::now() < deadline,
            "the backend never got 100 packets"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(20));
    tx.stop();
    let r = finish_within(tx, Duration::from_secs(20)).expect("a stop is not an error");
    assert!(r.interrupted);
    assert!(!r.stalled);
    assert_adds_up(&r);
    assert!(r.packets <= 100, "{} sent past the refusal", r.packets);
    assert!(
        r.failed_packets > 0,
        "the refused batch must count as failed"
    );
    assert_eq!(log.lock().unwrap().cancels, 1);
    assert_in_order(&log, 100);
}

#[test]
fn no_progress_for_the_stall_timeout_ends_with_an_error_and_report() {
    let c = cfg()
        .stall_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let script = SimScript {
        hold_reaps: 1,
        refuse_after: Some(40),
        ..Default::default()
    };
    let (tx, log) = spawn_source(c, script, Some(1_000));
    let err = finish_within(tx, Duration::from_secs(30)).unwrap_err();
    let EngineError::NoProgress { waited, report } = &err else {
        panic!("expected NoProgress, got {err}");
    };
    assert!(*waited >= Duration::from_millis(200), "{waited:?}");
    assert!(report.stalled && !report.interrupted);
    assert_adds_up(report);
    assert_eq!(report.packets, 40);
    assert!(report.failed_packets > 0);
    assert!(err.report().is_some());
    assert_eq!(log.lock().unwrap().cancels, 1);
}

#[test]
fn a_fatal_error_mid_stream_carries_the_report_and_cancels() {
    let script = SimScript {
        hold_reaps: 6,
        fail_after: Some((500, libc::EINVAL)),
        ..Default::default()
    };
    let (tx, log) = spawn_source(cfg().build().unwrap(), script, Some(5_000));
    let err = finish_within(tx, Duration::from_secs(30)).unwrap_err();
    let EngineError::Send { error, report } = &err else {
        panic!("expected Send, got {err}");
    };
    assert_eq!(error.raw_os_error(), Some(libc::EINVAL));
    assert_adds_up(report);
    assert!(report.packets <= 500);
    assert!(report.failed_packets > 0);
    let einval = crate::stats::SendErrno::from_os(libc::EINVAL);
    assert_eq!(report.errors.get(&einval), Some(&1), "{:?}", report.errors);
    let log = log.lock().unwrap();
    assert_eq!(
        log.cancels, 1,
        "the fatal path must cancel what is in flight"
    );
    assert!(log.held.is_empty(), "slots left with the backend");
}

/// The engine thread used less than half of the wall time in CPU: a pacer that spun through
/// its waits would use nearly all of it.
fn assert_mostly_asleep(r: &TxReport) {
    let wall_ns = r.seconds * 1e9;
    assert!(
        (r.cpu_ns as f64) < wall_ns * 0.5,
        "engine thread used {} ms of CPU in {:.0} ms",
        r.cpu_ns / 1_000_000,
        wall_ns / 1e6
    );
}

#[test]
fn rt_wait_mode_paces_without_spinning() {
    const N: u64 = 10_000;
    // 10 kpps for 1 s: a spinning pacer would use ~100 % of the wall time in CPU.
    let c = cfg().rate(Rate::Pps(10_000.0)).build().unwrap();
    let (tx, log) = spawn_source_in(c, SimScript::default(), Some(N), Some(WaitMode::SleepOnly));
    let r = finish_within(tx, Duration::from_secs(60)).unwrap();
    assert_in_order(&log, N);
    assert_eq!(r.packets, N);
    assert_mostly_asleep(&r);
}

// Linux, where a 1 ns timer slack makes short sleeps wake on time and the thread's CPU clock is
// exact: Windows' default timer tick (about 15.6 ms, 1 ms at best) is longer than these gaps,
// so there the engine spins them by design.
#[cfg(target_os = "linux")]
#[test]
fn a_paced_stream_sleeps_through_gaps_longer_than_a_wake_up() {
    const N: u64 = 5_000;
    // 5 kpps, 200 µs apart, under the normal policy: a pacer that spun the last 150 µs of every
    // gap (as it once did) used most of the wall time in CPU; one that sleeps until its
    // measured wake-up latency before each departure uses a fraction.
    let c = cfg().rate(Rate::Pps(5_000.0)).build().unwrap();
    let (tx, log) = spawn_source(c, SimScript::default(), Some(N));
    let r = finish_within(tx, Duration::from_secs(60)).unwrap();
    assert_in_order(&log, N);
    assert_eq!(r.packets, N);
    assert_mostly_asleep(&r);
}

// Linux, where a 1 ns timer slack makes short sleeps wake on time and the thread's CPU clock is
// exact: Windows' default timer tick (about 15.6 ms, 1 ms at best) is longer than these gaps,
// so there the engine spins them by design.
#[cfg(target_os = "linux")]
#[test]
fn burst_spacing_sends_groups_and_sleeps_between_them() {
    const N: u64 = 20_000;
    // 50 kpps is 20 µs apart: shorter than a wake-up, so strict spacing must spin. In groups of
    // 32 the engine wakes every 640 µs instead.
    let c = cfg()
        .batch(32)
        .rate(Rate::Pps(50_000.0))
        .burst(32)
        .spacing(crate::pacing::Spacing::Bursts)
        .build()
        .unwrap();
    let (tx, log) = spawn_source(c, SimScript::default(), Some(N));
    let r = finish_within(tx, Duration::from_secs(60)).unwrap();
    assert_in_order(&log, N);
    assert_eq!(r.packets, N);
    assert_mostly_asleep(&r);
    let batches = log.lock().unwrap().batches.len() as u64;
    assert!(
        batches <= N / 8,
        "{batches} submits for {N} packets: not sent in groups"
    );
}

#[test]
fn lateness_is_measured_before_the_slip() {
    // 1,000 pps, burst 4; the backend stalls 40 ms once (as a throttled thread would), so the
    // packet after it, due 1 ms later, is 39 ms late before the pacer slips its backlog.
    let c = cfg().rate(Rate::Pps(1_000.0)).burst(4).build().unwrap();
    let script = SimScript {
        stall_once: Some((100, Duration::from_millis(40))),
        ..Default::default()
    };
    let (tx, log) = spawn_source(c, script, Some(300));
    let r = finish_within(tx, Duration::from_secs(60)).unwrap();
    assert_in_order(&log, 300);
    assert!(r.schedule_slips > 0, "a 40 ms stall must slip slots");
    let max = r.lateness_ns.expect("paced").max;
    assert!(max >= 30_000_000, "lateness max {max} ns hides the stall");
}

#[test]
fn duplicate_completions_are_counted_stray_never_reused() {
    const N: u64 = 2_000;
    let script = SimScript {
        hold_reaps: 2,
        duplicate_every: 100,
        ..Default::default()
    };
    let (tx, log) = spawn_source(cfg().build().unwrap(), script, Some(N));
    let r = finish_within(tx, Duration::from_secs(60)).unwrap();
    // A duplicate names a slot already given back (or gathered again): it must not be freed.
    assert_in_order(&log, N);
    assert_eq!(r.stray_completions, N / 100);
    assert_eq!((r.packets, r.committed, r.failed_packets), (N, N, 0));
}

#[test]
fn pattern_source_without_fill_leaves_the_bytes_and_the_flag_alone() {
    let mut filled = PatternSource::new(64, Some(2), None);
    let mut blank = PatternSource::new(64, Some(2), None).without_fill();
    let mut a = [0xAAu8; 48];
    let mut b = [0xAAu8; 48];
    assert_eq!(filled.fill(5, &mut a), Some(48));
    assert_eq!(blank.fill(5, &mut b), Some(48));
    assert_ne!(a, [0xAAu8; 48], "the pattern was written");
    assert_eq!(b, [0xAAu8; 48], "nothing was written");
    assert_eq!(filled.flags(), crate::wire::header::FLAG_PATTERN);
    assert_eq!(blank.flags(), 0);
    // Both still end after their count.
    assert_eq!(blank.fill(6, &mut b), Some(48));
    assert_eq!(blank.fill(7, &mut b), None);
}

/// A [`PatternSource`] that counts the packets the engine only counted (`fill_again`), and may
/// claim a period its bytes do not have.
struct CountingPattern {
    inner: PatternSource,
    claimed_period: Option<u64>,
    again: Arc<std::sync::atomic::AtomicU64>,
}

impl PacketSource for CountingPattern {
    fn fill(&mut self, seq: u64, buf: &mut [u8]) -> Option<usize> {
        self.inner.fill(seq, buf)
    }
    fn flags(&self) -> u8 {
        self.inner.flags()
    }
    fn period(&self) -> Option<u64> {
        self.claimed_period
    }
    fn fill_again(&mut self, seq: u64, buf: &mut [u8]) -> Option<usize> {
        self.again
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.fill_again(seq, buf)
    }
}

/// Runs `n` pattern packets over `slots` slots in batches of as many (each batch reuses the
/// slots of the one before, in the same order, so a slot's next packet is `slots` further on)
/// from a source claiming `period`: the packets only counted, and the simulated kernel's log.
fn run_repeating(period: Option<u64>, slots: u32, n: u64) -> (u64, Log) {
    let c = cfg().slots(slots).batch(slots as usize).build().unwrap();
    let (opened, log) = opened(&c, SimScript::default(), None);
    let again = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let source = CountingPattern {
        inner: PatternSource::new(c.stream.payload, Some(n), None),
        claimed_period: period,
        again: again.clone(),
    };
    let tx = SourceSender::spawn_opened(c, source, opened).unwrap();
    let r = finish_within(tx, Duration::from_secs(60)).unwrap();
    assert_eq!((r.packets, r.failed_packets), (n, 0));
    (again.load(std::sync::atomic::Ordering::Relaxed), log)
}

/// The check pattern repeats every 256 packets: a slot that holds packet `seq`'s bytes is not
/// written again for packet `seq + 256`, and every packet the kernel gets still carries its own
/// pattern (the simulated kernel checks each one).
#[test]
fn a_repeating_source_skips_rewriting_a_slot_that_holds_its_bytes() {
    const N: u64 = 256 * 20;
    let (again, log) = run_repeating(Some(256), 256, N);
    assert_in_order(&log, N);
    assert!(
        again >= N / 2,
        "only {again} of {N} packets found their slot holding their bytes"
    );
    // A slot's next packet 128 further on has other bytes: every packet is written.
    let (again, log) = run_repeating(Some(256), 128, 128 * 10);
    assert_in_order(&log, 128 * 10);
    assert_eq!(again, 0);
}

/// The check can fail: a source that claims a period its bytes do not have leaves stale bytes
/// in the slots it is not asked to write (a slot's next packet is 128 further on, whose
/// pattern differs), and the simulated kernel sees wrong patterns.
#[test]
fn a_source_claiming_a_false_period_is_caught_by_the_pattern_check() {
    let (again, log) = run_repeating(Some(1), 128, 128 * 4);
    assert!(again > 0);
    let log = log.lock().unwrap();
    assert!(
        log.violations.iter().any(|v| v.contains("not its pattern")),
        "{:?}",
        &log.violations[..log.violations.len().min(3)]
    );
}

/// A slot's key is the packet's phase in the period and the buffer's length, whether the period
/// is a power of two (a mask) or not (a division).
#[test]
fn held_keys_are_the_phase_and_the_length() {
    for period in [3u64, 256, 1000] {
        let held = Held::new(Some(period), 4).unwrap();
        for seq in [0u64, 1, 255, 256, 257, 999, 1000, u64::MAX] {
            let want = ((seq % period) << 32) | 1456;
            assert_eq!(held.key(seq, 1456), want, "period {period} seq {seq}");
        }
    }
    assert!(Held::new(None, 4).is_none());
    assert!(Held::new(Some(0), 4).is_none());
}
