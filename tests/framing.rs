//! The framing stage end to end over loopback: the real engine stamps each format, a plain
//! socket captures the exact datagrams (checked field by field against the wire codecs), and
//! ringshot's own receiver checks each format's own sequence.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use ringshot::engine::{PatternSource, Sender, SourceSender};
use ringshot::framing::{Format, Framing};
use ringshot::pacing::Rate;
use ringshot::recv::{Receiver, RecvConfig};
use ringshot::wire::header::check_pattern;
use ringshot::wire::{chdr, usrp2, vrt};
use ringshot::SenderConfig;

const PAYLOAD: usize = 1000;
/// The per-packet formats (SPEAD cuts heaps and ends with a stop heap: tests/framing_spead.rs).
const FORMATS: [Format; 5] = [
    Format::Ringshot,
    Format::Raw,
    Format::Usrp2,
    Format::Vrt,
    Format::Chdr,
];
const N: u64 = 600;

fn timestamped(format: Format) -> Framing {
    Framing {
        sample_count_ts: !matches!(format, Format::Ringshot | Format::Raw),
        dst_epid: 0x0A0B,
        ..Framing::of(format)
    }
}

fn config(dest: std::net::SocketAddr, framing: Framing) -> SenderConfig {
    SenderConfig::builder(dest)
        .payload(PAYLOAD)
        .framing(framing)
        .stream_id(0x5151)
        // Paced, so a loaded machine's loopback does not drop what the socket cannot take.
        .rate(Rate::Pps(20_000.0))
        .build()
        .unwrap()
}

/// Captures `n` datagrams (or what arrives before 10 s of silence).
fn capture(sock: &UdpSocket, n: u64) -> Vec<Vec<u8>> {
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65_536];
    let mut last = Instant::now();
    while (out.len() as u64) < n && last.elapsed() < Duration::from_secs(10) {
        if let Ok(k) = sock.recv(&mut buf) {
            out.push(buf[..k].to_vec());
            last = Instant::now();
        }
    }
    out
}

fn listener() -> UdpSocket {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    ringshot::os::set_recv_buffer(&sock, 64 << 20);
    sock
}

/// Every datagram of every format, as captured, holds the header the format prescribes for its
/// sequence number: USRP2 word = seq, VRT count = seq mod 16, CHDR SeqNum = seq mod 2^16,
/// Length / size = the datagram, timestamps advancing by the samples of each packet.
#[test]
fn every_format_is_stamped_on_the_wire() {
    for format in FORMATS {
        let framing = timestamped(format);
        let sock = listener();
        let cfg = config(sock.local_addr().unwrap(), framing);
        let app = cfg.max_app_payload();
        let tx = SourceSender::spawn(cfg, PatternSource::framed(&framing, PAYLOAD, Some(N), None))
            .unwrap();
        let got = capture(&sock, N);
        tx.finish().unwrap();
        assert_eq!(got.len() as u64, N, "{format}: datagrams captured");
        let samples = (app / 4) as u64;
        for (i, d) in got.iter().enumerate() {
            let seq = i as u64;
            let h = framing.header_len();
            assert_eq!(d.len(), h + app, "{format} #{i}: length");
            assert!(check_pattern(seq, &d[h..]), "{format} #{i}: pattern");
            match format {
                Format::Ringshot | Format::Raw | Format::Spead => {}
                Format::Vrt | Format::Usrp2 => {
                    let at = if format == Format::Usrp2 {
                        let (word, _) = usrp2::parse_data(d).unwrap();
                        assert_eq!(u64::from(word), seq, "{format} #{i}: sequence word");
                        usrp2::DATA_PREFIX_LEN
                    } else {
                        0
                    };
                    let p = vrt::Packet::new_checked(&d[at..]).unwrap();
                    let r = vrt::Repr::parse(&p).unwrap();
                    assert_eq!(r.packet_type, vrt::PacketType::IfDataWithStreamId);
                    assert_eq!(r.stream_id, Some(0x5151));
                    assert_eq!(u64::from(r.packet_count), seq % 16);
                    assert_eq!(p.packet_len(), d.len() - at);
                    assert_eq!(
                        r.fractional_timestamp,
                        Some((vrt::Tsf::SampleCount, seq * samples))
                    );
                }
                Format::Chdr => {
                    let p = chdr::Packet::new_checked(&d[..]).unwrap();
                    let r = chdr::DataRepr::parse(&p).unwrap();
                    assert_eq!(u64::from(r.seq_num), seq % 65_536);
                    assert_eq!(usize::from(p.length()), d.len());
                    assert_eq!(r.dst_epid, 0x0A0B);
                    assert_eq!(r.timestamp, Some(seq * samples));
                }
            }
        }
    }
}

/// ringshot's receiver, told the format, counts every packet and finds no loss, corruption or
/// malformed datagram; a stream starting just below the 16-bit CHDR wrap crosses it. Raw has no
/// sequence numbers, so no sequence range (its pattern is checked in order of arrival).
#[test]
fn recv_checks_each_format_sequence() {
    for format in FORMATS {
        let framing = timestamped(format);
        let start = 65_536 - 100;
        let rcfg = RecvConfig::builder("127.0.0.1:0".parse().unwrap())
            .count(N)
            .idle_exit(Duration::from_secs(5))
            .start_seq(start)
            .build()
            .unwrap();
        let sink = rcfg.checker().with_format(format);
        let rx = Receiver::spawn_with(rcfg, sink).unwrap();
        let cfg = SenderConfig::builder(rx.local_addr())
            .payload(PAYLOAD)
            .framing(framing)
            .start_seq(start)
            .rate(Rate::Pps(20_000.0))
            .build()
            .unwrap();
        let tx = SourceSender::spawn(cfg, PatternSource::framed(&framing, PAYLOAD, Some(N), None))
            .unwrap();
        let sent = tx.finish().unwrap();
        assert_eq!(sent.packets, N);
        let r = rx.join().unwrap();
        assert_eq!(r.packets, N, "{format}: packets");
        assert_eq!((r.lost, r.corrupt), (0, 0), "{format}: lost, corrupt");
        assert!(r.malformed.is_empty(), "{format}: {:?}", r.malformed);
        // Raw datagrams carry no sequence number: there is no sequence range to report.
        let range = match format {
            Format::Raw => (None, None),
            _ => (Some(start), Some(start + N - 1)),
        };
        assert_eq!((r.first_seq, r.last_seq), range, "{format}");
        assert_eq!(r.sequenced(), format != Format::Raw, "{format}");
    }
}

/// Push mode: the app's room is the payload less the framing's header (rounded to words for
/// VRT), and what it writes there goes out after the header.
#[test]
fn push_mode_writes_after_the_header_room() {
    let sock = listener();
    let framing = Framing::of(Format::Usrp2);
    let cfg = SenderConfig::builder(sock.local_addr().unwrap())
        .payload(1003)
        .framing(framing)
        .build()
        .unwrap();
    let mut tx = Sender::spawn(cfg).unwrap();
    assert_eq!(tx.max_app_payload(), 988);
    for i in 0..4u8 {
        let mut r = tx.reserve().unwrap().expect("a free slot");
        assert_eq!(r.payload_mut().len(), 988);
        r.payload_mut()[..5].copy_from_slice(&[i; 5]);
        r.commit(5).unwrap();
    }
    let got = capture(&sock, 4);
    tx.finish().unwrap();
    assert_eq!(got.len(), 4);
    for (i, d) in got.iter().enumerate() {
        // 4-byte word, 8 bytes of VRT header, 5 bytes padded to 8.
        assert_eq!(d.len(), 20);
        let (word, p) = usrp2::parse_data(d).unwrap();
        assert_eq!(word, i as u32);
        assert_eq!(
            p.payload(),
            &[i as u8, i as u8, i as u8, i as u8, i as u8, 0, 0, 0]
        );
    }
}

/// SPEAD framing with 5,000-byte heaps, and ringshot's reassembler listening for it.
fn spead_5000_receiver() -> (
    Framing,
    Receiver<ringshot::recv::spead::SpeadReassembler>,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use ringshot::framing::Spead;
    use ringshot::recv::spead::{SpeadConfig, SpeadReassembler};
    let framing = Framing {
        spead: Spead {
            heap_size: 5_000,
            ..Spead::default()
        },
        ..Framing::of(Format::Spead)
    };
    let rcfg = RecvConfig::builder("127.0.0.1:0".parse().unwrap())
        .idle_exit(Duration::from_secs(5))
        .build()
        .unwrap();
    let sink = SpeadReassembler::new(SpeadConfig::default());
    let stop = sink.stop_flag();
    (framing, Receiver::spawn_with(rcfg, sink).unwrap(), stop)
}

/// Waits (bounded) for the stop heap, then checks the reassembler completed `heaps` heaps from
/// `packets` packets with no eviction, flush, reordering or malformed packet.
fn expect_heaps(
    rx: Receiver<ringshot::recv::spead::SpeadReassembler>,
    stop: &std::sync::atomic::AtomicBool,
    heaps: u64,
    packets: u64,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !stop.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    rx.stop();
    let (_, sink) = rx.join_with_sink().unwrap();
    let s = sink.stats();
    assert_eq!(
        (s.heaps, s.packets, s.stopped),
        (heaps, packets, true),
        "{s:?}"
    );
    assert_eq!(
        (
            s.incomplete_heaps_evicted,
            s.incomplete_heaps_flushed,
            s.out_of_order_packets
        ),
        (0, 0, 0)
    );
    assert!(sink.malformed().is_empty());
}

/// SPEAD end to end inside ringshot: the engine cuts the generator's bytes into heaps (the last
/// packet of each heap shorter) and ends with the stop heap; the reassembler completes every
/// heap, with no eviction or flush, and sees the stop.
#[test]
fn spead_heaps_reassemble() {
    let (framing, rx, stop) = spead_5000_receiver();
    let cfg = config(rx.local_addr(), framing);
    // 952 bytes of room: 6 packets per 5,000-byte heap (5 × 952 + 240).
    assert_eq!(cfg.max_app_payload(), 952);
    let heaps = 25u64;
    let src = PatternSource::framed(&framing, PAYLOAD, Some(heaps * 6), None);
    let sent = SourceSender::spawn(cfg, src).unwrap().finish().unwrap();
    assert_eq!(
        sent.packets,
        heaps * 6 + 1,
        "data packets and the stop heap"
    );
    expect_heaps(rx, &stop, heaps, heaps * 6 + 1);
}

/// SPEAD in push mode: the app pushes 800-byte payloads and the sender cuts them at each
/// 5,000-byte heap's end (a 200-byte packet, then the 600 bytes left over start the next heap);
/// `finish` sends the stop heap. The reassembler completes every heap, with no eviction or flush.
#[test]
fn spead_push_mode_heaps_reassemble() {
    let (framing, rx, stop) = spead_5000_receiver();
    let mut tx = Sender::spawn(config(rx.local_addr(), framing)).unwrap();
    assert_eq!(tx.max_app_payload(), 952);
    let heaps = 24u64;
    let pushes = heaps * 5_000 / 800;
    for i in 0..pushes {
        let mut data = [0u8; 800];
        ringshot::wire::header::fill_pattern(i, &mut data);
        tx.send(&data).unwrap();
    }
    // The room left in the heap is what reserve hands out: after 150 × 800 bytes the heaps are
    // whole, so the next buffer is a whole packet's room.
    assert_eq!(tx.next_room(), 952);
    let sent = tx.finish().unwrap();
    // Per four heaps (20,000 bytes, 25 pushes) three pushes cross a heap's end: 28 packets.
    let data_packets = heaps / 4 * 28;
    assert_eq!(
        sent.packets,
        data_packets + 1,
        "data packets and the stop heap"
    );
    expect_heaps(rx, &stop, heaps, data_packets + 1);
}
