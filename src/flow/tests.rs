//! The ACK core over real loopback sockets, with an in-process "device" sending each format.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::wire::vrt::{ClassId, Tsf, Tsi};
use crate::wire::{ack, chdr, usrp2};

struct Rig {
    state: Arc<FlowState>,
    core: AckCore,
    device: UdpSocket,
    to: SocketAddr,
}

impl Rig {
    fn new(format: AckFormat, start: u64, tweak: impl FnOnce(&mut AckCoreConfig)) -> Rig {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let device = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = sock.local_addr().unwrap();
        let state = Arc::new(FlowState::new(start));
        let mut cfg = AckCoreConfig {
            format,
            device: Some(device.local_addr().unwrap()),
            poll_timeout: Duration::from_millis(5),
            ..AckCoreConfig::default()
        };
        tweak(&mut cfg);
        let core = AckCore::spawn(sock, state.clone(), cfg).unwrap();
        Rig {
            state,
            core,
            device,
            to,
        }
    }

    fn send(&self, bytes: &[u8]) {
        self.device.send_to(bytes, self.to).unwrap();
    }

    /// Waits until the acknowledged count reaches `n`, checking it never goes back meanwhile.
    fn wait_acked(&self, n: u64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut last = self.state.acked_packets();
        loop {
            let now = self.state.acked_packets();
            assert!(
                now >= last,
                "acknowledged count went back from {last} to {now}"
            );
            last = now;
            if now == n {
                return;
            }
            assert!(now < n, "acknowledged count {now} overshot {n}");
            assert!(
                Instant::now() < deadline,
                "timed out at {now} waiting for {n}"
            );
            std::thread::yield_now();
        }
    }
}

fn native(consumed: u64) -> [u8; ack::ACK_LEN] {
    native_full(consumed, None, None, EventSet::NONE)
}

fn native_full(
    consumed: u64,
    bytes: Option<u64>,
    credit: Option<u32>,
    events: EventSet,
) -> [u8; ack::ACK_LEN] {
    ack::Repr {
        stream_id: 1,
        ack_number: consumed as u32,
        consumed,
        consumed_bytes: bytes,
        credit,
        events,
    }
    .to_bytes()
}

fn usrp2_fc(last_consumed: u32) -> Vec<u8> {
    let mut buf = [0u8; 64];
    let n =
        usrp2::AckRepr::flow_control(2, last_consumed as u8 & 0xF, last_consumed).emit(&mut buf);
    buf[..n].to_vec()
}

#[test]
fn native_acks_garbage_and_foreign_sources() {
    let rig = Rig::new(AckFormat::Native, 0, |_| {});
    rig.state.publish_sent(1000, 1_472_000);
    rig.send(&native(100));
    rig.send(&native_full(
        200,
        Some(294_400),
        Some(1 << 20),
        EventSet::NONE,
    ));
    rig.wait_acked(200);
    assert_eq!(rig.state.capacity_bytes(), 1 << 20);
    assert_eq!(rig.state.acked_bytes(), 294_400);

    // Garbage, truncated, corrupted, wrong version.
    rig.send(b"hello, this is not an ACK at all, just forty bytes.");
    rig.send(&native(900)[..20]);
    rig.send(&[]);
    let mut bad = native(900);
    bad[20] ^= 0x40;
    rig.send(&bad);
    let mut bad = native(900);
    bad[2] = 2;
    rig.send(&bad);
    // A well-formed ACK from someone else.
    let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
    stranger.send_to(&native(900), rig.to).unwrap();
    // More than was sent.
    rig.send(&native(5000));
    rig.send(&native_full(300, Some(10_000_000), None, EventSet::NONE));
    // The last word: everything above is queued before it.
    rig.send(&native(300));
    rig.wait_acked(300);

    let s = rig.core.stop();
    assert_eq!(s.accepted, 3);
    assert_eq!(s.foreign_source, 1);
    assert_eq!(s.beyond_sent, 2);
    assert_eq!(s.stale, 0);
    assert_eq!(s.malformed["bad_magic"], 1);
    assert_eq!(s.malformed["truncated"], 2);
    assert_eq!(s.malformed["bad_checksum"], 1);
    assert_eq!(s.malformed["bad_version"], 1);
    assert_eq!(s.malformed_total(), 5);
    assert_eq!(s.datagrams, 3 + 1 + 2 + 5);
    assert_eq!(s.advances, 3);
    assert!(s.error.is_none());
}

#[test]
fn duplicated_reordered_and_stale_never_go_back() {
    let rig = Rig::new(AckFormat::Native, 0, |_| {});
    rig.state.publish_sent(100, 0);
    // A reader on another thread watches the count the whole time.
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (state, done) = (rig.state.clone(), done.clone());
        std::thread::spawn(move || {
            let mut last = 0;
            loop {
                // Read the flag first so the last reading comes after the final ACK.
                let finished = done.load(Ordering::Acquire);
                let now = state.acked_packets();
                assert!(now >= last, "went back from {last} to {now}");
                last = now;
                if finished {
                    return last;
                }
            }
        })
    };
    for c in [50, 40, 50, 60, 10, 60, 59, 61] {
        rig.send(&native(c));
    }
    rig.wait_acked(61);
    done.store(true, Ordering::Release);
    assert_eq!(watcher.join().unwrap(), 61);
    let s = rig.core.stop();
    assert_eq!((s.accepted, s.stale), (5, 3));
    assert_eq!(s.advances, 3);
}

#[test]
fn usrp2_across_the_32_bit_wrap() {
    let start = (1u64 << 32) - 10;
    let rig = Rig::new(AckFormat::Usrp2 { stream_id: 2 }, start, |_| {});
    rig.state.publish_sent((1 << 32) + 100, 0);
    // Last consumed 2^32 − 5: 2^32 − 4 packets consumed.
    rig.send(&usrp2_fc(u32::MAX - 4));
    rig.wait_acked((1 << 32) - 4);
    // Past the wrap, with a class id and both timestamps in front of the payload.
    let mut buf = [0u8; 64];
    let n = usrp2::AckRepr {
        class_id: Some(ClassId {
            oui: 0x00_2D35,
            info_class: 1,
            packet_class: 2,
        }),
        integer_timestamp: Some((Tsi::Utc, 1_700_000_000)),
        fractional_timestamp: Some((Tsf::RealTimePs, 123)),
        ..usrp2::AckRepr::flow_control(2, 1, 3)
    }
    .emit(&mut buf);
    rig.send(&buf[..n]);
    rig.wait_acked((1 << 32) + 4);
    // A late pre-wrap update, an underflow event, the wrong stream id, a data packet.
    rig.send(&usrp2_fc(u32::MAX - 6));
    let n = usrp2::AckRepr {
        event_code: 2,
        seq: None,
        ..usrp2::AckRepr::flow_control(2, 2, 0)
    }
    .emit(&mut buf);
    rig.send(&buf[..n]);
    let n = usrp2::AckRepr::flow_control(3, 0, 70).emit(&mut buf);
    rig.send(&buf[..n]);
    rig.send(&crate::wire::vrt::tests::DATA_FIXTURE);
    rig.send(&usrp2_fc(50));
    rig.wait_acked((1 << 32) + 51);

    let mut rig = rig;
    let evs: Vec<AckEvent> = rig.core.events().collect();
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].events, EventSet::UNDERFLOW);
    assert_eq!(evs[0].acked_packets, None);
    let s = rig.core.stop();
    assert_eq!((s.accepted, s.stale), (4, 1));
    assert_eq!(s.malformed["unexpected"], 2);
    assert_eq!(s.events.get("underflow"), Some(&1));
}

fn strs(xfer_pkts: u64, xfer_bytes: u64, status: chdr::StrsStatus) -> Vec<u8> {
    let r = chdr::Repr {
        vc: 0,
        eob: false,
        eov: false,
        seq_num: xfer_pkts as u16,
        dst_epid: 1,
        body: chdr::Body::StreamStatus(chdr::StrsRepr {
            src_epid: 2,
            status,
            capacity_bytes: 1 << 20,
            capacity_pkts: 0xFF_FFFF,
            xfer_count_pkts: xfer_pkts,
            xfer_count_bytes: xfer_bytes,
            buff_info: 0,
            status_info: 0,
        }),
    };
    let mut buf = vec![0u8; r.buffer_len()];
    r.emit_into(&mut buf);
    buf
}

#[test]
fn chdr_capacity_gives_the_credit() {
    let rig = Rig::new(AckFormat::Chdr, 0, |_| {});
    let frame = 1472;
    rig.state.publish_sent(1000, 1000 * frame);
    rig.send(&strs(100, 100 * frame, chdr::StrsStatus::Okay));
    rig.wait_acked(100);
    assert_eq!(rig.state.capacity_bytes(), 1 << 20);
    assert_eq!(
        rig.state.capacity_packets(),
        0,
        "0xFFFFFF means no packet limit"
    );
    // 900 frames outstanding already exceed 1 MiB: no credit.
    assert_eq!(rig.state.credit(1000, 1000 * frame, None, None, frame), 0);
    rig.send(&strs(700, 700 * frame, chdr::StrsStatus::Okay));
    rig.wait_acked(700);
    // 300 outstanding = 441,600 B; (1,048,576 − 441,600) / 1472 = 412.
    assert_eq!(rig.state.credit(1000, 1000 * frame, None, None, frame), 412);
    // A sequence error still carries counts.
    rig.send(&strs(710, 710 * frame, chdr::StrsStatus::SeqErr));
    rig.wait_acked(710);
    let mut rig = rig;
    let evs: Vec<_> = rig.core.events().collect();
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].events, EventSet::SEQ_ERROR);
    assert_eq!(evs[0].stream_id, 2);
    let s = rig.core.stop();
    assert_eq!(s.accepted, 3);
    assert_eq!(s.events.get("seq_error"), Some(&1));
}

#[test]
fn restart_bumps_generation_and_full_queue_is_counted() {
    let rig = Rig::new(AckFormat::Native, 0, |c| c.event_capacity = 2);
    rig.state.publish_sent(100, 0);
    for i in 1..=5 {
        rig.send(&native_full(i, None, None, EventSet::UNDERFLOW));
    }
    rig.send(&native_full(
        6,
        None,
        None,
        EventSet::RESTART | EventSet::OVERFLOW,
    ));
    rig.wait_acked(6);
    assert_eq!(rig.state.generation(), 1);
    let mut rig = rig;
    assert_eq!(rig.core.events().count(), 2);
    let s = rig.core.stop();
    assert_eq!(s.events_dropped, 4);
    assert_eq!(s.events["underflow"], 5);
    assert_eq!(s.events["restart"], 1);
    assert_eq!(s.events["overflow"], 1);
    assert_eq!(s.restarts, 1);
}

#[test]
fn busy_poll_believes_only_the_exact_device_port() {
    let rig = Rig::new(AckFormat::Native, 0, |c| c.wait = AckWait::BusyPoll);
    rig.state.publish_sent(10, 0);
    // Another port of the device's IP is someone else.
    let other_port = UdpSocket::bind("127.0.0.1:0").unwrap();
    other_port.send_to(&native(4), rig.to).unwrap();
    rig.send(&native(9));
    rig.wait_acked(9);
    let s = rig.core.stop();
    assert_eq!((s.accepted, s.foreign_source), (1, 1));
}

#[test]
fn visibility_is_measured_from_the_receive() {
    let rig = Rig::new(AckFormat::Native, 0, |_| {});
    let mut watch = AckWatch::new(&rig.state);
    rig.state.publish_sent(10, 0);
    let before = rig.state.now_ns();
    rig.send(&native(5));
    rig.wait_acked(5);
    let rx = rig.state.ack_rx_ns();
    assert!(rx >= before);
    let vis = watch.poll(&rig.state).unwrap();
    assert!(vis <= rig.state.now_ns() - before);
    assert_eq!(watch.poll(&rig.state), None);
}

#[test]
fn stops_promptly_when_idle_and_on_drop() {
    let rig = Rig::new(AckFormat::Native, 0, |c| {
        c.core = Some(0);
        c.rcvbuf = Some(1 << 20);
    });
    std::thread::sleep(Duration::from_millis(20));
    let t = Instant::now();
    let s = rig.core.stop();
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(s.datagrams, 0);
    assert!(s.pinned.is_some());
    // Dropping also stops and joins.
    let rig = Rig::new(AckFormat::Chdr, 0, |_| {});
    drop(rig);
}

#[test]
fn data_socket_clone_gets_acks_from_its_peer() {
    // The sender's connected data socket; its clone receives the device's replies.
    let device = UdpSocket::bind("127.0.0.1:0").unwrap();
    let data = UdpSocket::bind("127.0.0.1:0").unwrap();
    data.connect(device.local_addr().unwrap()).unwrap();
    let state = Arc::new(FlowState::new(0));
    let core = AckCore::spawn(
        data.try_clone().unwrap(),
        state.clone(),
        AckCoreConfig {
            poll_timeout: Duration::from_millis(5),
            ..AckCoreConfig::default()
        },
    )
    .unwrap();
    state.publish_sent(3, 0);
    data.send(b"packet").unwrap();
    let (_, sender) = device.recv_from(&mut [0u8; 16]).unwrap();
    device.send_to(&native(3), sender).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while state.acked_packets() != 3 {
        assert!(Instant::now() < deadline);
        std::thread::yield_now();
    }
    assert_eq!(core.stop().accepted, 1);
}

#[test]
fn native_credit_is_fail_closed() {
    let rig = Rig::new(AckFormat::Native, 0, |_| {});
    let frame = 1000;
    rig.state.publish_sent(10, 10 * frame);
    // Nothing reported yet: no credit without a window, the window alone with one.
    assert_eq!(rig.state.credit(10, 10 * frame, None, None, frame), 0);
    assert_eq!(rig.state.credit(10, 10 * frame, Some(64), None, frame), 54);
    // An ACK without a credit field reports no capacity: still closed without a window.
    rig.send(&native(4));
    rig.wait_acked(4);
    assert_eq!(rig.state.credit(10, 10 * frame, None, None, frame), 0);
    // A device that reports 0 bytes of room gets nothing, whatever the window says.
    rig.send(&native_full(5, Some(5 * frame), Some(0), EventSet::NONE));
    rig.wait_acked(5);
    assert_eq!(rig.state.capacity_bytes(), 0);
    assert_eq!(rig.state.credit(10, 10 * frame, Some(64), None, frame), 0);
    // Room for 12 frames, 4 outstanding (bytes reported): 8.
    rig.send(&native_full(
        6,
        Some(6 * frame),
        Some(8 * frame as u32 + 4_000),
        EventSet::NONE,
    ));
    rig.wait_acked(6);
    assert_eq!(rig.state.credit(10, 10 * frame, None, None, frame), 8);
}
