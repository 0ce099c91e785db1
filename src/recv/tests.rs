//! Receiver tests on real loopback sockets (port 0), for each backend.

use std::collections::BTreeMap;

use super::*;
use crate::sys::rx::RxOptions;
use crate::wire::header::{Packet, HEADER_LEN};

const LOOPBACK: &str = "127.0.0.1:0";

/// A ringshot data packet of `len` bytes carrying the check pattern.
fn pkt(stream: u32, seq: u64, len: usize) -> Vec<u8> {
    crate::wire::header::pattern_packet(stream, seq, len)
}

pub(super) fn sender() -> UdpSocket {
    UdpSocket::bind(LOOPBACK).unwrap()
}

pub(super) fn send_seqs(tx: &UdpSocket, to: SocketAddr, seqs: &[u64], len: usize) {
    for &s in seqs {
        assert_eq!(tx.send_to(&pkt(0, s, len), to).unwrap(), len);
    }
}

/// Most datagrams the tests let a sender get ahead of its receiver, so that even a small
/// (non-root) receive buffer never overflows on a busy machine.
const MAX_AHEAD: u64 = 32;

/// Waits (up to 2 s) until the receiver has taken all but `MAX_AHEAD` of `sent` packets.
pub(super) fn pace(control: &RecvControl, sent: u64) {
    let t = Instant::now();
    while control.progress().0 + MAX_AHEAD < sent && t.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// Like `send_seqs`, paced by the receiver's progress.
fn send_paced(tx: &UdpSocket, to: SocketAddr, seqs: &[u64], len: usize, control: &RecvControl) {
    for (i, &s) in seqs.iter().enumerate() {
        pace(control, i as u64);
        assert_eq!(tx.send_to(&pkt(0, s, len), to).unwrap(), len);
    }
}

/// The backends this kernel can run; io_uring is skipped with a printed reason when missing.
pub(super) fn backends() -> Vec<RecvBackend> {
    let mut v = vec![RecvBackend::Mmsg];
    let probe = UdpSocket::bind(LOOPBACK).unwrap();
    let opts = crate::sys::rx::RxOptions {
        choice: RecvBackend::Uring,
        gro: false,
        rcvbuf: 0,
        uring_buffers: 8,
        uring_unavailable: false,
    };
    match crate::sys::rx::open_rx(probe, &opts) {
        Ok(_) => v.push(RecvBackend::Uring),
        Err(e) => eprintln!("skipping the uring receive backend: {}", e.error),
    }
    v
}

/// The name the non-io_uring receive backend reports: recvmmsg batches on Unix, overlapped
/// WSARecvFrom on Windows.
const BATCH_NAME: &str = if cfg!(ringshot_iocp) {
    "overlapped"
} else {
    "mmsg"
};

fn name_of(b: RecvBackend) -> &'static str {
    match b {
        RecvBackend::Mmsg => BATCH_NAME,
        other => other.name(),
    }
}

pub(super) fn cfg(backend: RecvBackend) -> RecvConfigBuilder {
    RecvConfig::builder(LOOPBACK.parse().unwrap())
        .backend(backend)
        .idle_exit_ms(3_000) // a safety net: every test stops on count first
}

#[test]
fn delivers_exactly_what_was_sent() {
    for b in backends() {
        const N: u64 = 5_000;
        let rx = Receiver::spawn(cfg(b).count(N).build().unwrap()).unwrap();
        assert_eq!(rx.backend(), name_of(b));
        let control = rx.control();
        let tx = sender();
        let seqs: Vec<u64> = (0..N).collect();
        send_paced(&tx, rx.local_addr(), &seqs, 1472, &control);
        let r = rx.join().unwrap();
        assert_eq!(r.stop, StopReason::Count, "{b}");
        assert_eq!(r.packets, N, "{b}");
        assert_eq!(r.bytes, N * 1472, "{b}");
        assert_eq!(
            (r.lost, r.reordered, r.duplicates, r.late),
            (0, 0, 0, 0),
            "{b}"
        );
        assert_eq!((r.corrupt, r.kernel_drops), (0, 0), "{b}");
        assert!(r.malformed.is_empty(), "{b}: {:?}", r.malformed);
        assert_eq!(r.backend, name_of(b));
        assert_eq!(control.progress(), (N, N * 1472), "{b}: progress");
        assert!(r.seconds > 0.0 && r.pps > 0.0, "{b}");
        assert!(r.gaps_ns.max >= r.gaps_ns.p99 && r.gaps_ns.p99 >= r.gaps_ns.p50);
        assert!(r.batches >= 1 && r.batches <= N);
    }
}

#[test]
fn gaps_duplicates_swaps_and_late_arrivals_are_exact() {
    for b in backends() {
        // Window of 256: anything sent more than 256 numbers behind the highest is late.
        let rx = Receiver::spawn(
            cfg(b)
                .window(256)
                .count(u64::MAX)
                .idle_exit_ms(300)
                .build()
                .unwrap(),
        )
        .unwrap();
        let dropped: Vec<u64> = [5, 17, 300].into_iter().chain(1_000..1_011).collect(); // 14 numbers never sent in order
        let mut seqs: Vec<u64> = (0..2_000).filter(|s| !dropped.contains(s)).collect();
        // Duplicates of 3, 50 and 51, right after the originals.
        for d in [51, 50, 3] {
            let i = seqs.iter().position(|&s| s == d).unwrap();
            seqs.insert(i + 1, d);
        }
        // 101 before 100; 200 after 205.
        let i = seqs.iter().position(|&s| s == 100).unwrap();
        seqs.swap(i, i + 1);
        let i = seqs.iter().position(|&s| s == 200).unwrap();
        let v = seqs.remove(i);
        seqs.insert(i + 5, v);
        // 300 finally arrives, far below the window: late, and still lost.
        seqs.push(300);
        let tx = sender();
        send_paced(&tx, rx.local_addr(), &seqs, 200, &rx.control());
        let r = rx.join().unwrap();
        assert_eq!(r.stop, StopReason::Idle, "{b}");
        assert_eq!(r.packets, seqs.len() as u64, "{b}");
        assert_eq!(r.lost, 14, "{b}");
        assert_eq!(r.duplicates, 3, "{b}");
        assert_eq!(r.reordered, 2, "{b}");
        assert_eq!(r.late, 1, "{b}");
        assert_eq!(r.corrupt, 0, "{b}");
    }
}

/// Sends `segs` as GSO super-packets (UDP_SEGMENT) of `per` segments of `seg` bytes each, the
/// final packet of each super-packet cut to `last` bytes when given. Returns (segments, bytes).
pub(super) fn send_gso_stream(
    tx: &UdpSocket,
    to: SocketAddr,
    supers: u64,
    per: u64,
    seg: usize,
    last: Option<usize>,
    control: Option<&RecvControl>,
) -> (u64, u64) {
    let mut seq = 0;
    let mut bytes = 0;
    for _ in 0..supers {
        if let Some(c) = control {
            pace(c, seq);
        }
        let mut buf = Vec::new();
        for i in 0..per {
            let len = if i == per - 1 {
                last.unwrap_or(seg)
            } else {
                seg
            };
            buf.extend(pkt(0, seq, len));
            seq += 1;
            bytes += len as u64;
        }
        let n = crate::sys::rx::send_gso(tx, to, &buf, seg as u16).unwrap();
        assert_eq!(n, buf.len());
    }
    (seq, bytes)
}

#[cfg(ringshot_gso)]
#[test]
fn gro_buffers_are_cut_into_their_segments() {
    for b in backends() {
        for (per, seg, last) in [(44, 1472, None), (7, 1000, Some(600)), (64, 64, Some(17))] {
            let supers = 20;
            let rx = Receiver::spawn(cfg(b).count(supers * per).build().unwrap()).unwrap();
            let tx = sender();
            let (segments, bytes) = send_gso_stream(
                &tx,
                rx.local_addr(),
                supers,
                per,
                seg,
                last,
                Some(&rx.control()),
            );
            let gro = rx.gro();
            let r = rx.join().unwrap();
            assert_eq!(r.gro, gro);
            assert_eq!(r.packets, segments, "{b} {seg}");
            assert_eq!(r.bytes, bytes, "{b} {seg}");
            assert_eq!((r.lost, r.duplicates, r.reordered), (0, 0, 0), "{b} {seg}");
            assert_eq!(r.corrupt, 0, "{b} {seg}: a segment boundary is off");
            assert!(r.malformed.is_empty(), "{b} {seg}: {:?}", r.malformed);
            if gro {
                // Coalesced on loopback: far fewer receive buffers than segments.
                assert!(r.datagrams == segments && r.batches < segments, "{b} {seg}");
            } else {
                eprintln!("UDP GRO unavailable: checked the kernel-segmented path only");
            }
        }
    }
}

/// One GSO super-packet reaches the backend as one buffer with the segment size from the cmsg.
#[test]
fn backend_reports_the_gro_segment_size() {
    for b in backends() {
        let sock = UdpSocket::bind(LOOPBACK).unwrap();
        let to = sock.local_addr().unwrap();
        let opts = RxOptions {
            choice: b,
            gro: true,
            rcvbuf: 1 << 20,
            uring_buffers: 16,
            uring_unavailable: false,
        };
        let (mut be, _) = open_rx(sock, &opts).unwrap();
        if !be.gro() {
            eprintln!("skipping the GRO segment check: UDP GRO is unavailable");
            return;
        }
        let tx = sender();
        let (segments, bytes) = send_gso_stream(&tx, to, 1, 10, 1200, Some(50), None);
        assert_eq!(segments, 10);
        let mut got = Vec::new();
        for _ in 0..100 {
            be.recv_batch(&mut |d| got.push((d.data.len(), d.segment, d.src, d.at_ns)))
                .unwrap();
            if !got.is_empty() {
                break;
            }
            be.wait(Duration::from_millis(20)).unwrap();
        }
        assert_eq!(got.len(), 1, "{b}: {got:?}");
        let (len, segment, src, at_ns) = got[0];
        assert_eq!((len as u64, segment), (bytes, 1200), "{b}");
        assert_eq!(src, tx.local_addr().unwrap(), "{b}");
        assert!(
            at_ns > 1_600_000_000_000_000_000,
            "{b}: kernel timestamp {at_ns}"
        );
    }
}

#[test]
fn malformed_and_corrupt_datagrams_are_counted_not_received() {
    for b in backends() {
        let rx = Receiver::spawn(cfg(b).count(11).build().unwrap()).unwrap();
        let to = rx.local_addr();
        let tx = sender();
        for short in [&b""[..], b"RS", &pkt(0, 0, HEADER_LEN)[..HEADER_LEN - 1]] {
            tx.send_to(short, to).unwrap();
        }
        for _ in 0..2 {
            let mut p = pkt(0, 0, 100);
            p[1] = b'X';
            tx.send_to(&p, to).unwrap();
        }
        let mut p = pkt(0, 0, 100);
        p[2] = 2;
        tx.send_to(&p, to).unwrap();
        send_seqs(&tx, to, &(0..10).collect::<Vec<_>>(), 100);
        let mut p = pkt(0, 10, 100);
        p[99] ^= 0x40;
        tx.send_to(&p, to).unwrap();
        let r = rx.join().unwrap();
        assert_eq!(r.packets, 11, "{b}");
        assert_eq!(r.corrupt, 1, "{b}");
        assert_eq!(r.lost, 0, "{b}");
        let expect: BTreeMap<String, u64> =
            [("truncated", 3), ("bad_magic", 2), ("bad_version", 1)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
        assert_eq!(r.malformed, expect, "{b}");
        assert_eq!(r.datagrams, 17, "{b}");
    }
}

#[test]
fn stops_on_idle_exit_and_on_request() {
    for b in backends() {
        let rx = Receiver::spawn(cfg(b).idle_exit_ms(150).build().unwrap()).unwrap();
        send_seqs(&sender(), rx.local_addr(), &[0, 1, 2], 64);
        let t = Instant::now();
        let r = rx.join().unwrap();
        assert_eq!((r.stop, r.packets), (StopReason::Idle, 3), "{b}");
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "{b}: idle exit took {:?}",
            t.elapsed()
        );

        // No packet at all: idle exit does not fire, a stop request does.
        let rx = Receiver::spawn(cfg(b).idle_exit_ms(1).build().unwrap()).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            !rx.is_finished(),
            "{b}: idle exit must wait for a first packet"
        );
        rx.stop();
        let r = rx.join().unwrap();
        assert_eq!(
            (r.stop, r.packets, r.seconds),
            (StopReason::Stopped, 0, 0.0),
            "{b}"
        );
    }
}

#[cfg(ringshot_uring)]
#[test]
fn auto_prefers_uring_and_falls_back_with_a_notice() {
    let rx = Receiver::spawn(
        cfg(RecvBackend::Auto)
            .force_uring_unavailable(true)
            .build()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(rx.backend(), "mmsg");
    assert_eq!(
        rx.notices()
            .iter()
            .filter(|n| n.contains("falls back to recvmmsg"))
            .count(),
        1,
        "{:?}",
        rx.notices()
    );
    rx.stop();
    let r = rx.join().unwrap();
    assert_eq!(r.backend, "mmsg");
    let fallbacks = r
        .notices
        .iter()
        .filter(|n| n.contains("falls back"))
        .count();
    assert_eq!(fallbacks, 1, "{:?}", r.notices);

    let err = Receiver::spawn(
        cfg(RecvBackend::Uring)
            .force_uring_unavailable(true)
            .build()
            .unwrap(),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            RecvError::BackendUnavailable {
                backend: "uring",
                ..
            }
        ),
        "{err}"
    );

    let rx = Receiver::spawn(cfg(RecvBackend::Auto).build().unwrap()).unwrap();
    let expect = if backends().contains(&RecvBackend::Uring) {
        "uring"
    } else {
        "mmsg"
    };
    assert_eq!(rx.backend(), expect);
}

#[test]
fn uring_rearms_after_running_out_of_buffers() {
    if !backends().contains(&RecvBackend::Uring) {
        return;
    }
    const N: u64 = 2_000;
    let rx = Receiver::spawn(
        cfg(RecvBackend::Uring)
            .uring_buffers(4)
            .count(N)
            .build()
            .unwrap(),
    )
    .unwrap();
    let seqs: Vec<u64> = (0..N).collect();
    send_paced(&sender(), rx.local_addr(), &seqs, 1000, &rx.control());
    let r = rx.join().unwrap();
    assert_eq!((r.packets, r.lost, r.duplicates), (N, 0, 0));
    assert!(
        r.rearms > 0,
        "4 buffers for {N} packets must run out at least once"
    );
}

/// Floods a socket with a tiny receive buffer before reading it: the kernel drops, the drop counter
/// says how many, and the sequence tracker finds exactly that many lost.
#[cfg(ringshot_gso)]
#[test]
fn kernel_drops_match_lost_exactly() {
    for b in backends() {
        let config = cfg(b).rcvbuf(1).idle_exit_ms(100).build().unwrap();
        let (mut backend, _) = open(&config, None).unwrap();
        let to = backend.local_addr().unwrap();
        let tx = sender();
        const N: u64 = 2_000;
        send_seqs(&tx, to, &(0..N).collect::<Vec<_>>(), 1000);
        // Drain what fit, then send one more packet: it carries the final drop count.
        let mut sink = StreamChecker::new(DEFAULT_WINDOW, true);
        let control = RecvControl::new();
        let drain = cfg(b).idle_exit_ms(50).build().unwrap();
        drive(backend.as_mut(), &mut sink, &drain, &control).unwrap();
        send_seqs(&tx, to, &[N], 1000);
        let run = drive(backend.as_mut(), &mut sink, &drain, &control).unwrap();
        let r = RecvReport::new(Some(&sink), &run, backend.as_ref(), Vec::new());
        assert!(r.kernel_drops > 0, "{b}: a tiny buffer must overflow");
        assert_eq!(r.lost, r.kernel_drops, "{b}");
        assert_eq!(r.packets + r.lost, N + 1, "{b}");
    }
}

/// A middleware sink in the style of the device emulator's fault injector: drops every 7th
/// datagram and duplicates every 11th before the checker sees them.
struct Faulty {
    inner: StreamChecker,
    n: u64,
    dropped_seqs: Vec<u64>,
    duplicated: u64,
    finished: bool,
}

impl DatagramSink for Faulty {
    fn datagram(&mut self, payload: &[u8], meta: &RxMeta) {
        self.n += 1;
        if self.n.is_multiple_of(7) {
            let p = Packet::new_unchecked(payload);
            self.dropped_seqs.push(p.seq());
            return;
        }
        self.inner.datagram(payload, meta);
        if self.n.is_multiple_of(11) {
            self.duplicated += 1;
            self.inner.datagram(payload, meta);
        }
    }
    fn finish(&mut self, _now_ns: u64) {
        self.finished = true;
    }
    fn checker(&self) -> Option<&StreamChecker> {
        Some(&self.inner)
    }
}

#[test]
fn middleware_sinks_wrap_the_checker() {
    for b in backends() {
        const N: u64 = 1_000;
        let sink = Faulty {
            inner: StreamChecker::new(DEFAULT_WINDOW, true),
            n: 0,
            dropped_seqs: Vec::new(),
            duplicated: 0,
            finished: false,
        };
        let rx = Receiver::spawn_with(cfg(b).idle_exit_ms(200).build().unwrap(), sink).unwrap();
        let tx = sender();
        for chunk in (0..N).collect::<Vec<_>>().chunks(50) {
            send_seqs(&tx, rx.local_addr(), chunk, 300);
            std::thread::sleep(Duration::from_millis(2));
        }
        let (r, sink) = rx.join_with_sink().unwrap();
        assert!(sink.finished);
        assert_eq!(sink.dropped_seqs.len() as u64, N / 7);
        let highest = N - 1; // 999 is not a multiple of 7 + 1
        let lost = sink.dropped_seqs.iter().filter(|&&s| s < highest).count() as u64;
        assert_eq!(r.lost, lost, "{b}");
        assert_eq!(r.duplicates, sink.duplicated, "{b}");
        assert_eq!(r.packets, N - N / 7 + sink.duplicated, "{b}");
        assert_eq!(r.datagrams, N, "{b}");
    }
}

#[test]
fn source_address_and_ipv6() {
    struct Sources(Vec<SocketAddr>);
    impl DatagramSink for Sources {
        fn datagram(&mut self, _: &[u8], meta: &RxMeta) {
            self.0.push(meta.src);
        }
    }
    for b in backends() {
        for bind in ["127.0.0.1:0", "[::1]:0"] {
            let tx = match UdpSocket::bind(bind) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("skipping {bind}: {e}");
                    continue;
                }
            };
            let config = RecvConfig::builder(bind.parse().unwrap())
                .backend(b)
                .count(3)
                .build()
                .unwrap();
            let rx = Receiver::spawn_with(config, Sources(Vec::new())).unwrap();
            for s in 0..3 {
                tx.send_to(&pkt(0, s, 40), rx.local_addr()).unwrap();
            }
            // Without a checker, the count applies to datagrams.
            let (_, sink) = rx.join_with_sink().unwrap();
            assert_eq!(sink.0, vec![tx.local_addr().unwrap(); 3], "{b} {bind}");
        }
    }
}

#[test]
fn run_on_the_calling_thread() {
    let config = cfg(RecvBackend::Mmsg).idle_exit_ms(100).build().unwrap();
    // Bind first to learn the port: run_with binds itself, so use a fixed free port.
    let port = UdpSocket::bind(LOOPBACK)
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = config;
    config.bind = SocketAddr::from(([127, 0, 0, 1], port));
    let control = Arc::new(RecvControl::new());
    let sender_thread = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        send_seqs(
            &sender(),
            SocketAddr::from(([127, 0, 0, 1], port)),
            &[0, 1, 2, 4],
            64,
        );
    });
    let r = Receiver::run(&config, &control).unwrap();
    sender_thread.join().unwrap();
    assert_eq!((r.packets, r.lost, r.stop), (4, 1, StopReason::Idle));
}

#[test]
fn json_has_exactly_the_documented_keys() {
    let rx = Receiver::spawn(cfg(RecvBackend::Mmsg).count(2).build().unwrap()).unwrap();
    send_seqs(&sender(), rx.local_addr(), &[0, 1], 64);
    let r = rx.join().unwrap();
    let v = serde_json::to_value(&r).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    let mut expect = vec![
        "packets",
        "bytes",
        "seconds",
        "pps",
        "lost",
        "reordered",
        "duplicates",
        "late",
        "foreign",
        "foreign_reasons",
        "foreign_sources",
        "implausible",
        "first_seq",
        "last_seq",
        "kernel_drops",
        "gaps_ns",
        "malformed",
        "framing_errors",
        "corrupt",
        "backend",
        "gro",
        "streams",
    ];
    let mut keys_sorted = keys.clone();
    keys_sorted.sort_unstable();
    expect.sort_unstable();
    assert_eq!(keys_sorted, expect);
    assert_eq!(
        (v["first_seq"].as_u64(), v["last_seq"].as_u64()),
        (Some(0), Some(1))
    );
    let gaps: Vec<&String> = v["gaps_ns"].as_object().unwrap().keys().collect();
    assert_eq!(gaps, ["max", "p50", "p99"]);
    assert_eq!(v["packets"], 2);
    assert_eq!(v["backend"], BATCH_NAME);
}

#[test]
fn bad_configs_name_the_option() {
    let b = || RecvConfig::builder(LOOPBACK.parse().unwrap());
    let field = |r: Result<RecvConfig, RecvConfigError>| r.unwrap_err().field;
    assert_eq!(field(b().count(0).build()), "count");
    assert_eq!(field(b().idle_exit_ms(0).build()), "idle_exit");
    assert_eq!(field(b().window(0).build()), "window");
    assert_eq!(field(b().window(seq::MAX_WINDOW + 1).build()), "window");
    assert_eq!(field(b().uring_buffers(3).build()), "uring_buffers");
    assert_eq!(field(b().rx_core(1 << 20).build()), "rx_core");
    let e = b().rx_core(1 << 20).build().unwrap_err();
    assert!(e.to_string().starts_with("rx_core: core 1048576"), "{e}");
    assert!(b().build().is_ok());
    // A port in use is a socket error, not a panic.
    let taken = UdpSocket::bind(LOOPBACK).unwrap();
    let err = Receiver::spawn(
        RecvConfig::builder(taken.local_addr().unwrap())
            .backend(RecvBackend::Mmsg)
            .build()
            .unwrap(),
    )
    .unwrap_err();
    assert!(matches!(err, RecvError::Socket(_)), "{err}");
}

#[test]
fn pinned_named_receiver_thread() {
    struct Named(Option<String>, StreamChecker);
    impl DatagramSink for Named {
        fn datagram(&mut self, payload: &[u8], meta: &RxMeta) {
            if self.0.is_none() {
                self.0 = std::thread::current().name().map(str::to_string);
            }
            self.1.datagram(payload, meta);
        }
        fn checker(&self) -> Option<&StreamChecker> {
            Some(&self.1)
        }
    }
    let cores = crate::sys::available_cores();
    let core = *cores.last().unwrap();
    let config = cfg(RecvBackend::Auto)
        .rx_core(core)
        .count(5)
        .build()
        .unwrap();
    let rx = Receiver::spawn_with(config, Named(None, StreamChecker::new(64, true))).unwrap();
    send_seqs(&sender(), rx.local_addr(), &(0..5).collect::<Vec<_>>(), 64);
    assert!(
        rx.notices().iter().all(|n| !n.contains("pin")),
        "{:?}",
        rx.notices()
    );
    let (r, sink) = rx.join_with_sink().unwrap();
    assert_eq!(r.packets, 5);
    assert_eq!(sink.0.as_deref(), Some("ringshot-rx"));
}

/// Receiver capacity on loopback, for the record (not a pass/fail test):
/// `cargo test --release --lib recv::tests::rx_capacity -- --ignored --nocapture`
#[test]
#[ignore]
fn rx_capacity() {
    for b in backends() {
        for (gro, gso) in [(false, false), (false, true), (true, true)] {
            let config = cfg(b)
                .gro(gro)
                .verify(true)
                .idle_exit_ms(300)
                .build()
                .unwrap();
            let rx = Receiver::spawn(config).unwrap();
            let to = rx.local_addr();
            let tx = sender();
            // Packets differ only in the seq field and in the pattern, which repeats every 256.
            let mut templates: Vec<Vec<u8>> = (0..256).map(|s| pkt(0, s, 1472)).collect();
            let t = Instant::now();
            let mut seq = 0u64;
            let mut buf = vec![0u8; 44 * 1472];
            while t.elapsed() < Duration::from_secs(3) {
                if gso {
                    for chunk in buf.chunks_mut(1472) {
                        chunk.copy_from_slice(&templates[(seq % 256) as usize]);
                        chunk[8..16].copy_from_slice(&seq.to_be_bytes());
                        seq += 1;
                    }
                    crate::sys::rx::send_gso(&tx, to, &buf, 1472).unwrap();
                } else {
                    for _ in 0..64 {
                        let p = &mut templates[(seq % 256) as usize];
                        p[8..16].copy_from_slice(&seq.to_be_bytes());
                        tx.send_to(p, to).unwrap();
                        seq += 1;
                    }
                }
            }
            let sent = seq;
            let r = rx.join().unwrap();
            eprintln!(
                "{b:5} gro={:5} sender={} sent {sent} ({:.0} pps); received {} = {:.1} % at {:.0} pps, \
                 lost {}, kernel_drops {}, corrupt {}, batches {}, rearms {}",
                r.gro,
                if gso { "gso44" } else { "send " },
                sent as f64 / 3.0,
                r.packets,
                100.0 * r.packets as f64 / sent as f64,
                r.pps,
                r.lost,
                r.kernel_drops,
                r.corrupt,
                r.batches,
                r.rearms,
            );
            assert_eq!(r.corrupt, 0);
        }
    }
}
