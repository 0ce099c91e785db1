//! The device emulator end to end over loopback: sender and emulator in one process.
//!
//! Two senders drive it. A small in-test sender that honours the ACKs itself (send only while
//! `sent − acked < window`, ACKs parsed with `AckFormat::parser`) and reads every ACK until the
//! emulator has stopped, so ACK-side counts can be compared exactly. And the real engine with its
//! ACK core (`SenderConfig::ack`, `window_packets`, `stall_timeout`).
//!
//! The device buffer holds exactly the sender's window (64 packets of 1472 B) and drains at
//! 25,000 packets per second (`DRAIN_PPS`) while the senders are unpaced, so the window is full
//! most of the time: without flow control the buffer overflows (checked), with it it never does.

#[path = "common/binary.rs"]
mod binary;
#[path = "device_e2e/test_sender.rs"]
mod test_sender;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use ringshot::device::{
    DataFaults, DeviceConfig, Emulator, EmulatorReport, FaultConfig, FaultConfigBuilder,
    FaultCounts,
};
use ringshot::engine::{EngineError, PatternSource, SourceSender};
use ringshot::flow::AckFormat;
use ringshot::recv::{DatagramSink, RecvConfig, RxMeta, StreamChecker};
use ringshot::wire::header::{fill_pattern, Packet, Repr, FLAG_PATTERN};
use ringshot::{SenderConfig, TxReport};
use test_sender::{Outcome, TestSender, TestTx};

const PAYLOAD: usize = 1472;
const WINDOW: u64 = 64;
const BUFFER: u64 = WINDOW * PAYLOAD as u64;
/// Slow enough that every sender outruns it, so the window closes in every run (the tests
/// assert it does). At 100,000 pps a slow sender (Windows under Wine on a busy machine) kept
/// pace with the device and the window stayed open for a whole stream.
const DRAIN_PPS: f64 = 25_000.0;
const N: u64 = 4_000;
const STALL: Duration = Duration::from_secs(3);

const FORMATS: [AckFormat; 3] = [
    AckFormat::Native,
    AckFormat::Usrp2 { stream_id: 2 },
    AckFormat::Chdr,
];

fn device_cfg(format: AckFormat, start_seq: u64) -> DeviceConfig {
    DeviceConfig::builder()
        .buffer_bytes(BUFFER)
        .drain_pps(DRAIN_PPS)
        .ack(format)
        .ack_every(8)
        .ack_interval(Duration::from_millis(1))
        .start_seq(start_seq)
        .build()
        .unwrap()
}

fn emulator(format: AckFormat, start_seq: u64, faults: &FaultConfig) -> Emulator {
    let recv = RecvConfig::builder("127.0.0.1:0".parse().unwrap())
        .idle_exit(Duration::from_millis(300))
        .build()
        .unwrap();
    Emulator::spawn(recv, device_cfg(format, start_seq), faults.clone()).unwrap()
}

/// The emulator's report and the highest sequence number its checker saw.
struct Run {
    r: EmulatorReport,
    highest: Option<u64>,
}

fn finish(emu: Emulator) -> Run {
    let (r, stack) = emu.join_with_stack().unwrap();
    let highest = stack
        .checker()
        .and_then(|c| c.streams().next().and_then(|(_, t)| t.highest()));
    Run { r, highest }
}

fn faults(f: impl FnOnce(FaultConfigBuilder) -> FaultConfigBuilder) -> FaultConfig {
    f(FaultConfig::builder()).build().unwrap()
}

/// The engine with flow control, streaming `n` pattern packets to `dest`.
fn engine(
    dest: SocketAddr,
    format: AckFormat,
    start_seq: u64,
    n: u64,
) -> Result<TxReport, EngineError> {
    engine_with_stall(dest, format, start_seq, n, STALL)
}

fn engine_with_stall(
    dest: SocketAddr,
    format: AckFormat,
    start_seq: u64,
    n: u64,
    stall: Duration,
) -> Result<TxReport, EngineError> {
    let cfg = SenderConfig::builder(dest)
        .payload(PAYLOAD)
        .batch(16)
        .window_packets(WINDOW)
        .ack(format)
        .stall_timeout(stall)
        .start_seq(start_seq)
        .build()
        .unwrap();
    SourceSender::spawn(cfg, PatternSource::new(PAYLOAD, Some(n), None))
        .unwrap()
        .finish()
}

/// What must hold after any run without restarts in which `sent` packets left the sender
/// (sequence numbers `0..sent`): every count the receiver and the device report follows from the
/// faults injected, exactly.
fn assert_accounted(run: &Run, sent: u64, what: &str) {
    let r = &run.r;
    let (i, d) = (r.injected, r.device);
    assert_eq!(r.recv.kernel_drops, 0, "{what}: the kernel dropped packets");
    assert_eq!(
        d.overflows, 0,
        "{what}: flow control let the device overflow"
    );
    assert!(d.max_fill_bytes <= BUFFER, "{what}");
    // A packet dropped after the last one delivered cannot be seen by any receiver.
    let tail = run.highest.map_or(sent, |h| sent - 1 - h);
    assert_eq!(
        r.recv.lost + tail,
        i.drop_data,
        "{what}: lost vs injected drops"
    );
    assert_eq!(r.recv.duplicates, i.dup_data, "{what}: duplicates");
    assert_eq!(r.recv.reordered, i.reorder_data, "{what}: reordered");
    assert_eq!(r.recv.late, 0, "{what}");
    assert_eq!(r.recv.packets, sent - i.drop_data + i.dup_data, "{what}");
    assert_eq!(r.recv.corrupt, 0, "{what}");
    assert!(
        r.recv.malformed.is_empty(),
        "{what}: {:?}",
        r.recv.malformed
    );
    // The device consumes each packet that arrived in order once; copies and packets overtaken
    // by later ones are discarded, their numbers skipped.
    assert_eq!(
        d.consumed,
        sent - i.drop_data - i.reorder_data,
        "{what}: consumed"
    );
    assert_eq!(
        d.discarded,
        i.dup_data + i.reorder_data,
        "{what}: discarded"
    );
    assert_eq!(d.fill_bytes, 0, "{what}: the buffer drained");
    assert!(d.seq_errors <= i.drop_data + i.reorder_data, "{what}");
    assert_eq!((d.restarts, d.lost_in_restart, i.restarts), (0, 0, 0));
    assert!(d.acks_sent > 0, "{what}");
}

fn test_sender(format: AckFormat, faults: &FaultConfig, window: u64, n: u64) -> (TestTx, Run) {
    let emu = emulator(format, 0, faults);
    let tx = TestSender::new(emu.local_addr(), format, 0, window).run(n, &emu);
    (tx, finish(emu))
}

#[test]
fn in_test_sender_no_faults_everything_consumed_and_acknowledged() {
    for format in FORMATS {
        let (tx, run) = test_sender(format, &FaultConfig::none(), WINDOW, N);
        let what = format!("{format}");
        assert_eq!(tx.outcome, Outcome::Finished, "{what}");
        assert_accounted(&run, N, &what);
        assert_eq!(run.r.device.consumed, N, "{what}");
        assert_eq!(run.r.recv.lost, 0, "{what}");
        // The last ACK covers the whole stream; nothing the device said was rejected.
        assert_eq!(tx.acked, N, "{what}");
        assert_eq!((tx.malformed, tx.beyond), (0, 0), "{what}");
        assert_eq!(tx.stale, 0, "{what}: ACKs arrive in order on loopback");
        // Events seen by the sender are exactly those the device had to report.
        assert_eq!(tx.events.get("seq_error"), None, "{what}");
        if format != AckFormat::Chdr {
            // (CHDR's STRS has no underflow status.)
            let underflows = tx.events.get("underflow").copied().unwrap_or(0);
            assert_eq!(underflows, run.r.device.underflows, "{what}");
        }
    }
}

#[test]
fn without_flow_control_the_device_overflows_and_says_so() {
    // A window of the whole stream: the sender outruns the drain and the buffer.
    let (tx, run) = test_sender(AckFormat::Native, &FaultConfig::none(), N, N);
    let d = run.r.device;
    assert!(d.overflows > 0, "{d:?}");
    assert_eq!(tx.events.get("overflow").copied(), Some(d.overflows));
    assert_eq!(d.max_fill_bytes, BUFFER);
    // Every packet that reached the device was either consumed or dropped for lack of room.
    // (Without flow control a small, unprivileged socket buffer may drop some before that.)
    assert_eq!(d.consumed + d.overflows, run.r.recv.packets);
    if run.r.recv.kernel_drops == 0 {
        assert_eq!(run.r.recv.packets, N);
    }
}

#[test]
fn in_test_sender_counts_every_corrupted_ack_and_sequence_error() {
    for format in FORMATS {
        for seed in [1, 2] {
            let f = faults(|b| b.seed(seed).corrupt_acks(0.2).drop_data(0.02));
            let (tx, run) = test_sender(format, &f, WINDOW, N);
            let what = format!("{format} seed {seed}");
            assert_eq!(tx.outcome, Outcome::Finished, "{what}");
            assert_accounted(&run, N, &what);
            let i = run.r.injected;
            assert!(i.corrupt_acks > 0 && i.drop_data > 0, "{what}: {i:?}");
            // Every damaged ACK reached the sender and was rejected; every good one accepted.
            assert_eq!(tx.malformed, i.corrupt_acks, "{what}");
            assert_eq!(
                tx.accepted + tx.stale + tx.beyond,
                run.r.device.ack_datagrams - i.corrupt_acks,
                "{what}"
            );
            assert_eq!(tx.beyond, 0, "{what}");
            // Each gap was announced once (the ACKs carrying them were not damaged or were:
            // a damaged event ACK is lost, like any damaged ACK).
            let seq_errors = tx.events.get("seq_error").copied().unwrap_or(0);
            assert!(seq_errors <= run.r.device.seq_errors, "{what}");
            assert!(seq_errors > 0, "{what}");
        }
    }
}

#[test]
fn in_test_sender_sees_each_sequence_error_exactly() {
    for format in FORMATS {
        let f = faults(|b| b.seed(11).drop_data(0.03).reorder_data(0.01));
        let (tx, run) = test_sender(format, &f, WINDOW, N);
        let what = format!("{format}");
        assert_eq!(tx.outcome, Outcome::Finished, "{what}");
        assert_accounted(&run, N, &what);
        assert!(run.r.device.seq_errors > 0, "{what}");
        assert_eq!(
            tx.events.get("seq_error").copied().unwrap_or(0),
            run.r.device.seq_errors,
            "{what}"
        );
        assert_eq!(tx.malformed, 0, "{what}");
    }
}

#[test]
fn in_test_sender_stops_on_a_restart_and_nothing_is_lost_silently() {
    for format in FORMATS {
        let f = faults(|b| b.restart_after(1_500));
        let (tx, run) = test_sender(format, &f, WINDOW, N);
        let what = format!("{format}");
        let d = run.r.device;
        assert_eq!(tx.outcome, Outcome::Restarted, "{what}");
        assert_eq!((d.restarts, run.r.injected.restarts), (1, 1), "{what}");
        // Every packet sent is accounted for by the device: consumed, lost in the restart, or
        // discarded after it; and the sender never believed more consumed than was.
        assert_eq!(
            tx.sent,
            d.consumed + d.lost_in_restart + d.discarded,
            "{what}"
        );
        assert!(
            tx.acked <= d.consumed,
            "{what}: acked {} > consumed {}",
            tx.acked,
            d.consumed
        );
        assert!(
            tx.sent - tx.acked >= d.lost_in_restart + d.discarded,
            "{what}"
        );
        assert!(
            d.lost_in_restart > 0,
            "{what}: the window was full, the buffer was not empty"
        );
        assert_eq!(run.r.recv.lost, 0, "{what}");
        assert_eq!(run.r.recv.duplicates, 0, "{what}");
    }
}

/// A sender that resyncs instead (as UHD does with an STRC RESYNC): it restarts its sequence at
/// the start and resends what was not acknowledged. The device takes the new stream, the checker
/// restarts with it, and every packet of data is consumed.
#[test]
fn a_sender_that_resyncs_gets_everything_consumed() {
    let f = faults(|b| b.restart_after(2_500));
    let emu = emulator(AckFormat::Native, 0, &f);
    let dest = emu.local_addr();
    let data = N;
    let mut confirmed = 0u64; // data packets confirmed consumed over all streams
    let mut streams = 0;
    // The restarted stream comes from the same socket: the emulator follows one sender.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    while confirmed < data {
        streams += 1;
        assert!(streams <= 3, "resync loop");
        let tx = TestSender::on(
            sock.try_clone().unwrap(),
            dest,
            AckFormat::Native,
            0,
            WINDOW,
        );
        // The in-test sender reads until the emulator stops; here run the stream by hand.
        let mut s = tx;
        let n = data - confirmed;
        let mut restarted = false;
        let t = Instant::now();
        while s.st.sent < n || s.st.acked < n {
            if s.drain_acks() {
                restarted = true;
                break;
            }
            if s.st.sent < n && s.st.sent - s.st.acked < WINDOW {
                s.send_next();
            } else {
                std::thread::sleep(Duration::from_micros(50));
            }
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "stream {streams} stuck"
            );
        }
        confirmed += s.st.acked;
        if !restarted {
            assert_eq!(s.st.acked, n);
        }
    }
    let run = finish(emu);
    let d = run.r.device;
    assert_eq!(streams, 2);
    assert_eq!((d.restarts, d.overflows), (1, 0));
    assert_eq!(confirmed, data);
    // Everything confirmed was consumed. What the device consumed after the last ACK the sender
    // saw before the restart was resent (at least once, as with any resync): at most a window.
    assert!(d.consumed >= data && d.consumed - data <= WINDOW, "{d:?}");
    assert_eq!(run.r.recv.lost, 0);
    assert_eq!(
        run.r.recv.duplicates, 0,
        "the checker restarted with the stream"
    );
}

// ---------------------------------------------------------------------------------------------
// The engine's flow control against the emulator.

fn engine_run(format: AckFormat, f: &FaultConfig) -> (Result<TxReport, EngineError>, Run) {
    let emu = emulator(format, 0, f);
    let res = engine(emu.local_addr(), format, 0, N);
    (res, finish(emu))
}

#[test]
fn engine_no_faults_zero_loss_zero_overflow_all_consumed() {
    for format in FORMATS {
        let (res, run) = engine_run(format, &FaultConfig::none());
        let what = format!("{format}");
        let tx = res.unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(tx.packets, N, "{what}");
        assert!(!tx.stalled, "{what}");
        assert_accounted(&run, N, &what);
        assert_eq!(run.r.recv.lost, 0, "{what}");
        assert_eq!(run.r.device.consumed, N, "{what}");
        let acks = tx.acks.as_ref().expect("flow control reports ACK counts");
        assert!(acks.accepted > 0, "{what}");
        assert_eq!(
            (acks.malformed, acks.beyond_sent, acks.foreign_source),
            (0, 0, 0),
            "{what}"
        );
        assert!(
            !tx.events.contains_key("seq_error"),
            "{what}: {:?}",
            tx.events
        );
        assert!(tx.window_waits > 0, "{what}: the window never closed");
    }
}

/// Each fault kind alone, at a few seeds, then all together in every format.
#[test]
fn engine_each_fault_alone_and_all_together() {
    type Tweak = fn(FaultConfigBuilder) -> FaultConfigBuilder;
    let kinds: [(&str, Tweak); 8] = [
        ("drop-data", |b| b.drop_data(0.02)),
        ("dup-data", |b| b.dup_data(0.02)),
        ("reorder-data", |b| b.reorder_data(0.02).reorder_depth(4)),
        ("drop-acks", |b| b.drop_acks(0.3)),
        ("dup-acks", |b| b.dup_acks(0.3)),
        ("reorder-acks", |b| b.reorder_acks(0.3)),
        ("delay-acks", |b| b.delay_acks(Duration::from_micros(300))),
        ("corrupt-acks", |b| b.corrupt_acks(0.2)),
    ];
    let mut cases: Vec<(String, AckFormat, FaultConfig)> = Vec::new();
    for (name, tweak) in kinds {
        for seed in [1, 2] {
            cases.push((
                format!("{name} seed {seed}"),
                AckFormat::Native,
                tweak(FaultConfig::builder().seed(seed)).build().unwrap(),
            ));
        }
    }
    for format in FORMATS {
        for seed in [3, 4] {
            let all = faults(|b| {
                b.seed(seed)
                    .drop_data(0.01)
                    .dup_data(0.01)
                    .reorder_data(0.01)
                    .drop_acks(0.1)
                    .dup_acks(0.1)
                    .reorder_acks(0.1)
                    .corrupt_acks(0.1)
                    .delay_acks(Duration::from_micros(200))
            });
            cases.push((format!("all faults {format} seed {seed}"), format, all));
        }
    }
    for (what, format, f) in cases {
        let (res, run) = engine_run(format, &f);
        let tx = res.unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(tx.packets, N, "{what}");
        assert_accounted(&run, N, &what);
        let i: FaultCounts = run.r.injected;
        let acks = tx.acks.as_ref().unwrap();
        assert!(acks.accepted > 0, "{what}");
        // Damaged ACKs are malformed at the sender, never believed: only the ones that arrived
        // before the engine stopped are counted.
        assert!(
            acks.malformed <= i.corrupt_acks,
            "{what}: {acks:?} vs {i:?}"
        );
        if i.corrupt_acks >= 20 {
            assert!(acks.malformed > 0, "{what}");
        }
        assert_eq!(acks.beyond_sent, 0, "{what}");
        // Each sequence error the device announced reaches the sender at most once, or twice
        // when the ACK fault layer duplicated the ACK that carried it.
        let seq_errors = tx.events.get("seq_error").copied().unwrap_or(0);
        assert!(
            seq_errors <= run.r.device.seq_errors + i.dup_acks,
            "{what}: sender saw {seq_errors}, device announced {}, {} ACKs duplicated",
            run.r.device.seq_errors,
            i.dup_acks
        );
        // The fault the case is about did happen.
        let injected = [
            i.drop_data,
            i.dup_data,
            i.reorder_data,
            i.drop_acks,
            i.dup_acks,
            i.reorder_acks,
            i.delay_acks,
            i.corrupt_acks,
        ];
        assert!(injected.iter().any(|&n| n > 0), "{what}: nothing injected");
    }
}

#[test]
fn engine_stops_on_a_device_restart_and_loses_nothing_silently() {
    for format in FORMATS {
        let what = format!("{format}");
        let emu = emulator(format, 0, &faults(|b| b.restart_after(1_500)));
        let res = engine_with_stall(emu.local_addr(), format, 0, N, Duration::from_secs(1));
        let run = finish(emu);
        let d = run.r.device;
        // Every format announces the restart (native: the RESTART event; usrp2: code 0x80;
        // chdr: CMDERR with the RESTART bit in status_info): the engine stops at once.
        let (sent, acked) = match &res {
            Err(EngineError::DeviceRestarted { sent, acked, .. }) => (*sent, *acked),
            other => panic!("{what}: expected a restart error, got {other:?}"),
        };
        let report = res.as_ref().unwrap_err().report().unwrap();
        assert_eq!(report.packets, sent, "{what}");
        assert_eq!((d.restarts, run.r.injected.restarts), (1, 1), "{what}");
        assert_eq!(sent, d.consumed + d.lost_in_restart + d.discarded, "{what}");
        assert!(
            acked <= d.consumed,
            "{what}: acked {acked} > consumed {}",
            d.consumed
        );
        assert!(sent - acked >= d.lost_in_restart + d.discarded, "{what}");
        assert!(d.lost_in_restart > 0, "{what}");
        assert_eq!((run.r.recv.lost, run.r.recv.duplicates), (0, 0), "{what}");
        assert_eq!(d.overflows, 0, "{what}");
        let events = &report.events;
        assert_eq!(events.get("restart"), Some(&1), "{what}: {events:?}");
        if format == AckFormat::Chdr {
            assert_eq!(events.get("cmd_error"), Some(&1), "{what}");
        }
    }
}

/// USRP2 reports 32-bit sequence numbers: a stream that starts just below 2^32 crosses the wrap
/// inside the device and the sender extends it back.
#[test]
fn engine_usrp2_across_the_32_bit_wrap() {
    let start = (1u64 << 32) - 1_000;
    let format = AckFormat::Usrp2 { stream_id: 2 };
    let emu = emulator(format, start, &FaultConfig::none());
    let tx = engine(emu.local_addr(), format, start, N).unwrap();
    let run = finish(emu);
    let d = run.r.device;
    assert_eq!(tx.packets, N);
    assert_eq!(
        (d.consumed, d.overflows, d.seq_errors, d.discarded),
        (N, 0, 0, 0)
    );
    let acks = tx.acks.unwrap();
    assert!(acks.accepted > 0);
    assert_eq!((acks.beyond_sent, acks.malformed), (0, 0));
    assert_eq!(run.highest, Some(start + N - 1));
}

/// Data faults depend only on the order of the data packets: the same seed gives the same
/// faults in a live run as in a replay of the stream through the injector alone.
/// The data injector of `f` fed the stream the senders send, pattern packets `0..n` (what it
/// drops, duplicates and reorders depends only on its seed and the order of the packets).
fn replayed(f: &FaultConfig, n: u64) -> DataFaults<StreamChecker> {
    let mut replay = DataFaults::new(StreamChecker::new(4096, true), f);
    let mut buf = vec![0u8; PAYLOAD];
    let meta = RxMeta {
        src: "127.0.0.1:1".parse().unwrap(),
        at_ns: 1,
    };
    for seq in 0..n {
        let mut p = Packet::new_unchecked(&mut buf[..]);
        Repr {
            flags: FLAG_PATTERN,
            stream_id: 0,
            seq,
        }
        .emit(&mut p);
        fill_pattern(seq, p.payload_mut());
        replay.datagram(&buf, &meta);
    }
    replay
}

#[test]
fn data_faults_replay_exactly_from_the_seed() {
    let f = faults(|b| b.seed(42).drop_data(0.03).dup_data(0.03));
    let (res, run) = engine_run(AckFormat::Native, &f);
    res.unwrap();
    let mut replay = replayed(&f, N);
    replay.finish(2);
    assert_eq!(replay.counts().drop_data, run.r.injected.drop_data);
    assert_eq!(replay.counts().dup_data, run.r.injected.dup_data);
    let (lost, _, dups, _) = replay.inner().totals();
    assert_eq!((lost, dups), (run.r.recv.lost, run.r.recv.duplicates));
}

// ---------------------------------------------------------------------------------------------
// The CLI.

#[test]
fn cli_device_json_reports_device_and_injected() {
    let f = faults(|b| b.seed(5).drop_data(0.02).dup_data(0.02));
    let (child, addr) = binary::start_recv(&[
        "--device",
        "--device-buffer",
        &BUFFER.to_string(),
        "--drain-rate",
        &format!("{}Mbps", DRAIN_PPS * PAYLOAD as f64 * 8.0 / 1e6),
        "--ack",
        "chdr",
        "--ack-every",
        "8",
        "--ack-interval-us",
        "1000",
        "--seed",
        "5",
        "--drop-data",
        "0.02",
        "--dup-data",
        "0.02",
        "--idle-exit-ms",
        "300",
        "--json",
    ]);
    let tx = engine(addr, AckFormat::Chdr, 0, N).unwrap();
    let done = binary::output_within(child, Duration::from_secs(120));
    assert!(done.status.success());
    let out = binary::text(&done.stdout);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let dev = &v["device"];
    for k in [
        "consumed",
        "overflows",
        "underflows",
        "max_fill_bytes",
        "acks_sent",
        "implausible",
    ] {
        assert!(dev[k].is_u64(), "device.{k} missing in {out}");
    }
    for k in ["foreign", "implausible"] {
        assert_eq!(v[k], 0, "{k} in {out}");
    }
    let inj = &v["injected"];
    for k in [
        "drop_data",
        "dup_data",
        "reorder_data",
        "drop_acks",
        "dup_acks",
        "reorder_acks",
        "delay_acks",
        "corrupt_acks",
        "restarts",
    ] {
        assert!(inj[k].is_u64(), "injected.{k} missing in {out}");
    }
    assert_eq!(dev["overflows"], 0);
    assert_eq!(v["duplicates"], inj["dup_data"]);
    let drops = inj["drop_data"].as_u64().unwrap();
    assert!(drops > 0);
    assert!(v["lost"].as_u64().unwrap() <= drops);
    assert_eq!(
        dev["consumed"].as_u64().unwrap(),
        tx.packets - drops,
        "{out}"
    );
    // Same seed, same stream: the injector alone predicts the drops exactly.
    assert_eq!(replayed(&f, N).counts().drop_data, drops);
}

#[test]
fn cli_bad_device_values_exit_2_naming_the_flag() {
    use std::process::Command;
    for (args, flag) in [
        (vec!["--device-buffer", "4096"], "--device-buffer"),
        (vec!["--device", "--device-buffer", "1"], "--device-buffer"),
        (vec!["--device", "--drain-rate", "fast"], "--drain-rate"),
        (vec!["--device", "--ack", "tcp"], "--ack"),
        (vec!["--device", "--ack-every", "0"], "--ack-every"),
        (vec!["--device", "--corrupt-acks", "1.5"], "--corrupt-acks"),
        (vec!["--delay-acks-us", "5"], "--delay-acks-us"),
        (vec!["--device", "--restart-after", "0"], "--restart-after"),
        (vec!["--count", "0"], "--count"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_ringshot"))
            .args(["recv", "--bind", "127.0.0.1:0"])
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("ringshot: error: "), "{args:?}: {err}");
        assert!(err.contains(flag), "{args:?}: {err}");
        assert!(!err.contains("---"), "{args:?}: {err}");
    }
}
