//! Flow control end to end over loopback: the engine with its ACK core against a small
//! in-process device that consumes at a fixed rate and acknowledges cumulatively.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ringshot::engine::{EngineError, PatternSource, SourceSender};
use ringshot::flow::AckFormat;
use ringshot::wire::{ack, chdr, header, usrp2};
use ringshot::{SenderConfig, TxReport};

/// What the little device does.
#[derive(Debug, Clone)]
struct DeviceCfg {
    format: AckFormat,
    start_seq: u64,
    /// Consumption rate; ACKs never run ahead of it.
    drain_pps: f64,
    ack_every: u64,
    /// Probability an ACK is lost.
    ack_loss: f64,
    /// Send every ACK twice.
    duplicate: bool,
    /// Hold each ACK back and send it after the next one.
    reorder: bool,
    /// Send a garbage datagram between ACKs.
    garbage: bool,
    /// Stop acknowledging after this many packets.
    stop_acking_after: Option<u64>,
    /// Send ACKs from a different socket to this address (the sender's --ack-bind).
    ack_to: Option<SocketAddr>,
    payload: u64,
}

impl DeviceCfg {
    fn new(format: AckFormat) -> DeviceCfg {
        DeviceCfg {
            format,
            start_seq: 0,
            drain_pps: 200_000.0,
            ack_every: 16,
            ack_loss: 0.0,
            duplicate: false,
            reorder: false,
            garbage: false,
            stop_acking_after: None,
            ack_to: None,
            payload: 1472,
        }
    }
}

#[derive(Debug, Default)]
struct DeviceStats {
    received: u64,
    in_order: bool,
    /// Largest `seq + 1 − last delivered ACK` seen when a packet arrived.
    max_outstanding: u64,
    acks_sent: u64,
    acks_lost: u64,
}

struct Device {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    /// Packets read so far, for `finish`.
    received: Arc<AtomicU64>,
    handle: JoinHandle<DeviceStats>,
}

/// A tiny deterministic PRNG (splitmix64) so faults are reproducible.
struct Rng(u64);
impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) as f64 / u64::MAX as f64
    }
}

fn encode_ack(cfg: &DeviceCfg, consumed: u64, n: u32) -> Vec<u8> {
    let abs = cfg.start_seq + consumed; // next sequence the device expects
    match cfg.format {
        AckFormat::Native => ack::Repr {
            stream_id: 0,
            ack_number: n,
            consumed: abs,
            consumed_bytes: Some(consumed * cfg.payload),
            credit: None,
            events: ack::EventSet::NONE,
        }
        .to_bytes()
        .to_vec(),
        AckFormat::Usrp2 { stream_id } => {
            let mut buf = [0u8; 64];
            let len = usrp2::AckRepr::flow_control(stream_id, (n % 16) as u8, (abs - 1) as u32)
                .emit(&mut buf);
            buf[..len].to_vec()
        }
        AckFormat::Chdr => {
            let mut buf = [0u8; 64];
            let len = chdr::Repr {
                vc: 0,
                eob: false,
                eov: false,
                seq_num: n as u16,
                dst_epid: 1,
                body: chdr::Body::StreamStatus(chdr::StrsRepr {
                    src_epid: 2,
                    status: chdr::StrsStatus::Okay,
                    capacity_bytes: 1 << 20,
                    capacity_pkts: 0xFF_FFFF,
                    xfer_count_pkts: consumed,
                    xfer_count_bytes: consumed * cfg.payload,
                    buff_info: 0,
                    status_info: 0,
                }),
            }
            .emit_into(&mut buf);
            buf[..len].to_vec()
        }
    }
}

impl Device {
    fn start(cfg: DeviceCfg) -> Device {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        ringshot::os::set_recv_buffer(&sock, 64 << 20);
        sock.set_read_timeout(Some(Duration::from_micros(300)))
            .unwrap();
        let addr = sock.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let received = Arc::new(AtomicU64::new(0));
        let received2 = received.clone();
        let handle = std::thread::spawn(move || {
            // ACKs leave from the device's own address and port: the only source believed.
            let ack_sock = cfg.ack_to.map(|_| sock.try_clone().unwrap());
            let mut st = DeviceStats {
                in_order: true,
                ..Default::default()
            };
            let mut rng = Rng(42);
            let mut buf = vec![0u8; 65_536];
            let mut peer: Option<SocketAddr> = None;
            let mut first: Option<Instant> = None;
            let mut delivered_ack = 0u64; // consumed count of the last ACK not lost
            let mut acked = 0u64; // consumed count of the last ACK attempted
            let mut held: Option<Vec<u8>> = None;
            let mut n = 0u32;
            let mut last_ack_at = Instant::now();
            while !stop2.load(Ordering::Relaxed) {
                if let Ok((len, src)) = sock.recv_from(&mut buf) {
                    let p = header::Packet::new_unchecked(&buf[..len]);
                    let Ok(r) = header::Repr::parse(&p) else {
                        continue;
                    };
                    peer = Some(src);
                    first.get_or_insert_with(Instant::now);
                    let rel = r.seq - cfg.start_seq;
                    if rel != st.received {
                        st.in_order = false;
                    }
                    st.received += 1;
                    received2.store(st.received, Ordering::Relaxed);
                    st.max_outstanding = st.max_outstanding.max(rel + 1 - delivered_ack);
                }
                let (Some(to), Some(t0)) = (peer, first) else {
                    continue;
                };
                let drained = (t0.elapsed().as_secs_f64() * cfg.drain_pps) as u64;
                let consumed = st.received.min(drained);
                if cfg.stop_acking_after.is_some_and(|s| consumed >= s) {
                    continue;
                }
                // Like a real device, repeat the latest status periodically even without progress,
                // so a lost ACK costs time, not the stream.
                let due = consumed >= acked + cfg.ack_every
                    || (consumed > 0 && last_ack_at.elapsed() > Duration::from_millis(1));
                if !due {
                    continue;
                }
                acked = consumed;
                last_ack_at = Instant::now();
                n += 1;
                let msg = encode_ack(&cfg, consumed, n);
                if rng.next_f64() < cfg.ack_loss {
                    st.acks_lost += 1;
                    continue;
                }
                let send = |m: &[u8]| match (&ack_sock, cfg.ack_to) {
                    (Some(s), Some(a)) => s.send_to(m, a).map(drop),
                    _ => sock.send_to(m, to).map(drop),
                };
                if cfg.garbage {
                    let _ = send(b"\xde\xad\xbe\xef not an ack");
                    let mut corrupt = msg.clone();
                    let last = corrupt.len() - 1;
                    corrupt[last] ^= 0x40;
                    let _ = send(&corrupt);
                }
                if cfg.reorder {
                    // Send this one, then the previous (older) one: the older must be ignored.
                    let _ = send(&msg);
                    if let Some(old) = held.replace(msg.clone()) {
                        let _ = send(&old);
                    }
                } else {
                    let _ = send(&msg);
                }
                if cfg.duplicate {
                    let _ = send(&msg);
                }
                st.acks_sent += 1;
                delivered_ack = consumed;
            }
            st
        });
        Device {
            addr,
            stop,
            received,
            handle,
        }
    }

    /// Stops the device once it has read `expect` packets (the sender returns as soon as the
    /// kernel has the last ones, which a slow reader may not have read yet), or after a generous
    /// 10 s, so a missing packet fails the caller's exact count rather than hanging.
    fn finish(self, expect: u64) -> DeviceStats {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.received.load(Ordering::Relaxed) < expect && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        // ACKs still due after the last packet.
        std::thread::sleep(Duration::from_millis(20));
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap()
    }
}

fn stream(
    dev: &DeviceCfg,
    addr: SocketAddr,
    count: u64,
    window: u64,
    tweak: impl FnOnce(ringshot::SenderConfigBuilder) -> ringshot::SenderConfigBuilder,
) -> Result<TxReport, EngineError> {
    let cfg = tweak(
        SenderConfig::builder(addr)
            .payload(dev.payload as usize)
            .batch(16)
            .window_packets(window)
            .ack(dev.format)
            .start_seq(dev.start_seq)
            .stall_timeout(Duration::from_millis(500)),
    )
    .build()
    .unwrap();
    SourceSender::spawn(
        cfg,
        PatternSource::new(dev.payload as usize, Some(count), None),
    )?
    .finish()
}

fn check_clean_run(dev: DeviceCfg, count: u64, window: u64) -> (TxReport, DeviceStats) {
    let device = Device::start(dev.clone());
    let report = stream(&dev, device.addr, count, window, |b| b).unwrap();
    let st = device.finish(report.packets);
    assert_eq!(report.packets, count);
    assert_eq!(st.received, count, "device got {st:?}");
    assert!(st.in_order, "packets arrived out of order");
    assert!(
        st.max_outstanding <= window,
        "outstanding reached {} with a window of {window}",
        st.max_outstanding
    );
    assert!(!report.stalled);
    let acks = report.acks.clone().expect("flow control report");
    assert!(acks.accepted > 0, "{acks:?}");
    assert_eq!(acks.beyond_sent, 0, "{acks:?}");
    assert!(
        report.window_waits > 0,
        "the window never closed: the test tests nothing"
    );
    assert!(report.ack_visibility_ns.is_some_and(|v| v.max > 0));
    (report, st)
}

#[test]
fn outstanding_never_exceeds_the_window_in_every_format() {
    for format in [
        AckFormat::Native,
        AckFormat::Usrp2 { stream_id: 2 },
        AckFormat::Chdr,
    ] {
        let (report, _) = check_clean_run(DeviceCfg::new(format), 20_000, 64);
        assert_eq!(report.acks.unwrap().malformed, 0);
    }
}

#[test]
fn thirty_percent_ack_loss_still_completes() {
    let mut dev = DeviceCfg::new(AckFormat::Native);
    dev.ack_loss = 0.3;
    let (_, st) = check_clean_run(dev, 20_000, 64);
    assert!(st.acks_lost > 100, "{st:?}");
}

#[test]
fn duplicated_and_reordered_acks_never_move_the_count_back() {
    for (dup, reorder) in [(true, false), (false, true), (true, true)] {
        let mut dev = DeviceCfg::new(AckFormat::Native);
        dev.duplicate = dup;
        dev.reorder = reorder;
        let (report, st) = check_clean_run(dev, 20_000, 64);
        let acks = report.acks.unwrap();
        if reorder {
            assert!(
                acks.stale > 0,
                "reordered ACKs must be seen as stale: {acks:?}"
            );
        }
        if dup {
            // Every ACK arrived twice; the copies are accepted without moving anything (the last
            // few may land after the sender has closed, hence not exactly twice).
            assert_eq!(acks.malformed, 0);
            assert!(
                (acks.accepted + acks.stale) as f64 >= 1.9 * st.acks_sent as f64,
                "dup={dup} reorder={reorder}: {acks:?}, device sent {}",
                st.acks_sent
            );
        }
    }
}

#[test]
fn usrp2_sequence_wraps_past_2_pow_32() {
    let mut dev = DeviceCfg::new(AckFormat::Usrp2 { stream_id: 2 });
    dev.start_seq = (1u64 << 32) - 5_000;
    let (report, st) = check_clean_run(dev, 20_000, 64);
    assert_eq!(st.received, 20_000);
    assert_eq!(report.acks.unwrap().malformed, 0);
}

#[test]
fn garbage_and_corrupted_acks_are_counted_not_believed() {
    let mut dev = DeviceCfg::new(AckFormat::Native);
    dev.garbage = true;
    let (report, _) = check_clean_run(dev, 10_000, 64);
    let acks = report.acks.unwrap();
    assert!(acks.malformed > 0, "{acks:?}");
    assert!(
        acks.malformed_by_reason
            .get("bad_checksum")
            .copied()
            .unwrap_or(0)
            > 0,
        "a flipped bit must fail the checksum: {acks:?}"
    );
}

#[test]
fn foreign_sources_on_the_ack_port_are_ignored() {
    let ack_port = UdpSocket::bind("127.0.0.1:0").unwrap();
    let ack_addr = ack_port.local_addr().unwrap();
    drop(ack_port);
    let mut dev = DeviceCfg::new(AckFormat::Native);
    dev.ack_to = Some(ack_addr);
    let device = Device::start(dev.clone());
    // An intruder from another IP of the loopback range sends well-formed ACKs for everything.
    let intruder = UdpSocket::bind("127.0.0.2:0").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let spam = std::thread::spawn(move || {
        let bogus = ack::Repr {
            stream_id: 0,
            ack_number: 1,
            consumed: 1_000_000,
            consumed_bytes: None,
            credit: None,
            events: ack::EventSet::NONE,
        }
        .to_bytes();
        let mut n = 0u64;
        while !stop2.load(Ordering::Relaxed) {
            let _ = intruder.send_to(&bogus, ack_addr);
            n += 1;
            std::thread::sleep(Duration::from_micros(200));
        }
        n
    });
    let report = stream(&dev, device.addr, 10_000, 64, |b| b.ack_bind(ack_addr)).unwrap();
    stop.store(true, Ordering::Relaxed);
    let sent_spam = spam.join().unwrap();
    let st = device.finish(report.packets);
    assert_eq!(st.received, 10_000);
    assert!(st.max_outstanding <= 64, "{st:?}");
    let acks = report.acks.unwrap();
    assert!(sent_spam > 0 && acks.foreign_source > 0, "{acks:?}");
    assert_eq!(acks.beyond_sent, 0);
}

#[test]
fn a_silent_device_gives_the_stall_error_within_the_timeout() {
    let mut dev = DeviceCfg::new(AckFormat::Native);
    dev.stop_acking_after = Some(1000);
    let device = Device::start(dev.clone());
    let t0 = Instant::now();
    let err = stream(&dev, device.addr, 100_000, 64, |b| b).unwrap_err();
    let took = t0.elapsed();
    let sent_before_stall = match &err {
        EngineError::Stalled { sent, .. } => *sent,
        _ => 0,
    };
    let st = device.finish(sent_before_stall);
    match &err {
        EngineError::Stalled {
            sent,
            acked,
            outstanding,
            waited,
            report,
        } => {
            assert!(*waited >= Duration::from_millis(500));
            assert!(sent - acked <= 64, "sent {sent} acked {acked}");
            assert_eq!(*outstanding, sent - acked, "nothing held back unsent");
            assert_eq!(*sent, st.received, "every sent packet reached the device");
            assert!(report.stalled);
        }
        other => panic!("expected a stall, got {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("stalled") && msg.contains("acknowledged"),
        "{msg}"
    );
    // Generous: the point is that it ends, not how fast.
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

/// An app running an `AckCore` of its own (no engine) publishes what it sends through a
/// `SentPublisher`: an ACK beyond the published count is refused, one within it is credited.
#[test]
fn a_standalone_ack_core_credits_what_was_published() {
    use ringshot::flow::{AckCore, AckCoreConfig, SentPublisher};
    use ringshot::wire::ack::{EventSet, Repr};

    let data = UdpSocket::bind("127.0.0.1:0").unwrap();
    let device = UdpSocket::bind("127.0.0.1:0").unwrap();
    data.connect(device.local_addr().unwrap()).unwrap();
    let to = data.local_addr().unwrap();
    let mut sent = SentPublisher::new(0);
    let state = sent.state().clone();
    let cfg = AckCoreConfig {
        device: Some(device.local_addr().unwrap()),
        poll_timeout: Duration::from_millis(5),
        ..AckCoreConfig::default()
    };
    let mut core = AckCore::spawn(data.try_clone().unwrap(), state.clone(), cfg).unwrap();
    let ack = |consumed: u64, events: EventSet| {
        Repr {
            stream_id: 0,
            ack_number: consumed as u32,
            consumed,
            consumed_bytes: Some(consumed * 64),
            credit: None,
            events,
        }
        .to_bytes()
    };
    let deadline = Instant::now() + Duration::from_secs(10);

    // Nothing published yet: an ACK for 5 packets is beyond what was sent. A marker ACK (an
    // event, no progress) read after it shows the core has seen it.
    device.send_to(&ack(5, EventSet::NONE), to).unwrap();
    device.send_to(&ack(0, EventSet::BURST_ACK), to).unwrap();
    while core.events().next().is_none() {
        assert!(Instant::now() < deadline, "the marker ACK never arrived");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(
        state.acked_packets(),
        0,
        "an ACK beyond the sent count moved the window"
    );

    // Publish ten packets, send them, and the device acknowledges them in two steps.
    sent.publish(10, 10 * 64);
    let mut buf = [0u8; 64];
    for _ in 0..10 {
        data.send(&buf).unwrap();
    }
    device
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    for _ in 0..10 {
        assert_eq!(device.recv(&mut buf).unwrap(), 64);
    }
    device.send_to(&ack(4, EventSet::NONE), to).unwrap();
    device.send_to(&ack(10, EventSet::NONE), to).unwrap();
    while state.acked_packets() < 10 {
        assert!(
            Instant::now() < deadline,
            "stuck at {}",
            state.acked_packets()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!((state.acked_packets(), state.acked_bytes()), (10, 640));
    // All acknowledged: the whole window is open again, and no more.
    assert_eq!(state.credit(10, 640, Some(8), None, 64), 8);

    let stats = core.stop();
    assert_eq!(stats.beyond_sent, 1, "{stats:?}");
    assert_eq!(stats.accepted, 3, "{stats:?}");
}
