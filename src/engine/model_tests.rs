//! A model-based test of the push API: random sequences of `reserve`/`commit`/`send`/`stop`,
//! ACKs from a device that stops acknowledging, and `finish` or `drop`, against a simulated
//! backend that holds slots, takes part of a batch, refuses for good or fails with a fatal
//! errno. Whatever the sequence: no call blocks beyond its bound, an engine that died is
//! reported by every later call (never mistaken for a full slab), and the books cover every
//! commit the app made.

use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;
use crate::flow::AckFormat;
use crate::sys::sim::{SimBackend, SimLog, SimScript};

/// The engine's stall timeout in these runs: short, so dead ends come quickly.
const STALL: Duration = Duration::from_millis(100);
/// Longest any one call may take (the stall timeout plus this machine's scheduling gaps).
const CALL_BOUND: Duration = Duration::from_secs(3);

#[derive(Debug, Clone)]
enum Op {
    /// Reserve a slot (waiting while the slab is full), write, commit `len` bytes.
    Commit(usize),
    /// Reserve a slot and drop it uncommitted.
    Abandon,
    /// The copying `send` of `len` bytes.
    Send(usize),
    /// A `send` one byte larger than a slot holds.
    SendOversize,
    /// A reserved slot committed with one byte more than its room (refused, slot returned).
    CommitOversize,
    /// The device acknowledges up to `n` more packets (never beyond what was sent).
    Ack(u64),
    Pause(u64),
    Stop,
}

#[derive(Debug, Clone, Copy)]
enum End {
    Finish,
    Drop,
}

#[derive(Debug, Clone)]
struct Case {
    hold_reaps: u32,
    accept_max: usize,
    refuse_after: Option<u64>,
    fail_after: Option<(u64, i32)>,
    window: Option<u64>,
    ops: Vec<Op>,
    end: End,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0usize..48).prop_map(Op::Commit),
        1 => Just(Op::Abandon),
        4 => (0usize..48).prop_map(Op::Send),
        1 => Just(Op::SendOversize),
        1 => Just(Op::CommitOversize),
        3 => (1u64..24).prop_map(Op::Ack),
        1 => (0u64..300).prop_map(Op::Pause),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let fatal = prop_oneof![
        Just(libc::EMSGSIZE),
        Just(libc::ENETDOWN),
        Just(libc::EPERM),
        Just(libc::ENETUNREACH)
    ];
    (
        0u32..4,
        0usize..6,
        proptest::option::weighted(0.2, 0u64..200),
        proptest::option::weighted(0.2, (0u64..200, fatal)),
        proptest::option::weighted(0.5, 8u64..40),
        proptest::collection::vec(op(), 0..160),
        proptest::option::weighted(0.25, 0usize..160),
        prop_oneof![Just(End::Finish), Just(End::Drop)],
    )
        .prop_map(
            |(hold_reaps, accept_max, refuse_after, fail_after, window, mut ops, stop_at, end)| {
                if let Some(at) = stop_at {
                    ops.insert(at.min(ops.len()), Op::Stop);
                }
                Case {
                    hold_reaps,
                    accept_max,
                    refuse_after,
                    fail_after,
                    window,
                    ops,
                    end,
                }
            },
        )
}

/// What the app saw while running the ops.
struct Run {
    tx: Sender,
    committed: u64,
    /// The first error a call reported for an ended engine.
    died: Option<String>,
    stopped: bool,
}

fn spawn(c: &Case) -> (Sender, Arc<Mutex<SimLog>>, Option<Arc<FlowState>>) {
    let mut b = SenderConfig::builder("127.0.0.1:9".parse().unwrap())
        .slots(32)
        .batch(8)
        .payload(64)
        .stall_timeout(STALL);
    if let Some(w) = c.window {
        b = b.ack(AckFormat::Native).window_packets(w);
    }
    let cfg = b.build().unwrap();
    let script = SimScript {
        hold_reaps: c.hold_reaps,
        accept_max: c.accept_max,
        refuse_after: c.refuse_after,
        fail_after: c.fail_after,
        ..Default::default()
    };
    let (slab, tokens) = Slab::new(cfg.stream.slots, cfg.stream.payload);
    let (sim, log) = SimBackend::new(script);
    let mut opened = Opened::with_backend(Arc::new(slab), tokens, Box::new(sim), None);
    // The test is the device: it moves the acknowledged count itself (no ACK core).
    let flow = c.window.map(|_| Arc::new(FlowState::new(0)));
    opened.flow = flow.clone();
    (Sender::spawn_opened(cfg, opened).unwrap(), log, flow)
}

/// Runs `f`, failing the case if it took longer than `bound`.
fn bounded<T>(what: &str, bound: Duration, f: impl FnOnce() -> T) -> T {
    let t0 = Instant::now();
    let out = f();
    let took = t0.elapsed();
    assert!(took <= bound, "{what} took {took:?} (bound {bound:?})");
    out
}

impl Run {
    /// Notes an error from a call on a (possibly) ended engine: from the first one on, the
    /// engine is finished and every later call must say so.
    fn saw(&mut self, e: &EngineError) {
        assert!(
            !matches!(e, EngineError::PacketTooLarge { .. }),
            "a packet within the room refused as too large"
        );
        assert!(self.tx.is_finished(), "an error ({e}) from a live engine");
        self.died.get_or_insert_with(|| e.to_string());
    }

    fn commit(&mut self, len: usize) {
        let deadline = Instant::now() + CALL_BOUND;
        let dead = self.died.is_some();
        let err = loop {
            match self.tx.reserve() {
                Ok(Some(mut r)) => {
                    assert!(!dead, "a slot handed out by a dead engine");
                    let n = len.min(r.payload_mut().len());
                    r.payload_mut()[..n].fill(0xa5);
                    r.commit(n).expect("within the room");
                    self.committed += 1;
                    return;
                }
                Ok(None) => {
                    assert!(!dead, "a dead engine looked like a full slab");
                    assert!(Instant::now() < deadline, "reserve spun on a full slab");
                    std::thread::sleep(Duration::from_micros(50));
                }
                Err(e) => break e,
            }
        };
        self.saw(&err);
    }

    fn step(&mut self, op: &Op, flow: Option<&FlowState>) {
        match *op {
            Op::Commit(len) => bounded("reserve + commit", CALL_BOUND, || self.commit(len)),
            Op::Abandon => {
                let err = match self.tx.reserve() {
                    Ok(slot) => {
                        drop(slot);
                        None
                    }
                    Err(e) => Some(e),
                };
                if let Some(e) = err {
                    self.saw(&e);
                }
            }
            Op::Send(len) => {
                let data = vec![0x5a; len.min(self.tx.max_app_payload())];
                match bounded("send", CALL_BOUND, || self.tx.send(&data)) {
                    Ok(()) => {
                        assert!(self.died.is_none(), "send accepted by a dead engine");
                        self.committed += 1;
                    }
                    Err(e) => self.saw(&e),
                }
            }
            Op::SendOversize => {
                let max = self.tx.max_app_payload();
                let err = self.tx.send(&vec![0; max + 1]).unwrap_err();
                assert!(
                    matches!(err, EngineError::PacketTooLarge { len, max: m } if len == max + 1 && m == max)
                );
            }
            Op::CommitOversize => {
                let err = match self.tx.reserve() {
                    Ok(Some(r)) => {
                        let room = r.sender_room();
                        let e = r.commit(room + 1).unwrap_err();
                        assert!(matches!(e, EngineError::PacketTooLarge { .. }), "{e}");
                        None
                    }
                    Ok(None) => None,
                    Err(e) => Some(e),
                };
                if let Some(e) = err {
                    self.saw(&e);
                }
            }
            Op::Ack(n) => {
                if let Some(f) = flow {
                    let to = (f.acked_packets() + n).min(f.sent_packets());
                    f.advance(to, None, f.now_ns());
                }
            }
            Op::Pause(us) => std::thread::sleep(Duration::from_micros(us)),
            Op::Stop => {
                bounded("stop", Duration::from_millis(50), || self.tx.stop());
                self.stopped = true;
            }
        }
        if self.died.is_some() {
            // Sticky: once ended, always ended.
            assert!(self.tx.is_finished());
            assert!(self.tx.reserve().is_err(), "reserve after the engine died");
        }
    }
}

/// Runs `f` on another thread, failing the case if it does not end within `bound`.
fn watchdog<T: Send + 'static>(
    what: &str,
    bound: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (done, result) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(f());
    });
    result
        .recv_timeout(bound)
        .unwrap_or_else(|_| panic!("{what} did not return within {bound:?}"))
}

fn check_backend_log(log: &Mutex<SimLog>) -> u64 {
    let log = log.lock().unwrap();
    assert!(log.violations.is_empty(), "{:?}", log.violations);
    for (i, s) in log.seqs.iter().enumerate() {
        assert_eq!(
            *s, i as u64,
            "packet {i} handed to the backend out of order or twice"
        );
    }
    assert_eq!(log.cancels, 1, "every ending winds down once");
    assert!(log.held.is_empty(), "slots left with the backend");
    log.seqs.len() as u64
}

fn run_case(c: Case) {
    let (tx, log, flow) = spawn(&c);
    let mut run = Run {
        tx,
        committed: 0,
        died: None,
        stopped: false,
    };
    for op in &c.ops {
        run.step(op, flow.as_deref());
    }
    let Run {
        tx,
        committed,
        died,
        stopped,
    } = run;
    match c.end {
        End::Drop => {
            watchdog("drop", Duration::from_secs(1), move || drop(tx));
            check_backend_log(&log);
        }
        End::Finish => {
            let outcome = watchdog("finish", STALL * 10 + CALL_BOUND, move || tx.finish());
            let accepted = check_backend_log(&log);
            let report = match &outcome {
                Ok(r) => r,
                Err(e) => e.report().unwrap_or_else(|| panic!("{e}: no report")),
            };
            assert_eq!(report.committed, committed, "every commit is in the books");
            assert_eq!(
                report.packets + report.failed_packets,
                report.committed,
                "packets {} + failed {} != committed {}",
                report.packets,
                report.failed_packets,
                report.committed
            );
            assert!(report.packets <= accepted);
            if let Some(first) = died {
                // `finish` tells the same end the calls were told: the engine's error, or a
                // clean stop (`Closed` to a caller who wanted to queue more).
                match &outcome {
                    Err(e) => assert_eq!(e.to_string(), first, "finish tells the same end"),
                    Ok(r) => {
                        assert_eq!(first, EngineError::Closed.to_string());
                        assert!(
                            stopped && r.interrupted,
                            "only stop() ends an engine cleanly"
                        );
                    }
                }
            }
            if outcome.is_ok() && !stopped {
                assert_eq!(report.packets, committed, "a clean end sent everything");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_sequence_of_calls_keeps_the_books_and_never_hangs(c in case()) {
        run_case(c);
    }
}
