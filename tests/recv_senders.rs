//! Several senders streaming into one receiver at the same time, each checked on its own
//! (`RecvConfigBuilder::senders`), over real loopback sockets: interleaved streams with the same
//! stream id and sequence numbers are neither duplicates nor reordered, a gap is lost in its own
//! stream only, a source beyond the bound is foreign, and a reusable receiver ends each sender's
//! stream on its own (idle time, restart).

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use ringshot::recv::{Receiver, RecvConfig, RecvReport, StreamSummary};
use ringshot::wire::header::pattern_packet;

const PAYLOAD: usize = 200;

fn sockets(n: usize) -> Vec<UdpSocket> {
    (0..n)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect()
}

/// A receiver following `senders` senders, ending 300 ms after the last packet.
fn receiver(senders: usize, reusable: bool) -> Receiver {
    let cfg = RecvConfig::builder("127.0.0.1:0".parse().unwrap())
        .senders(senders)
        .streams(reusable)
        .stream_idle(Duration::from_millis(100))
        .idle_exit(Duration::from_millis(300))
        .rcvbuf(16 << 20)
        .build()
        .unwrap();
    Receiver::spawn(cfg).unwrap()
}

/// Sends `seqs` from every socket in `txs`, interleaved packet by packet (all on stream id 0),
/// skipping `(sender, seq)` in `skip`; a short pause every 256 rounds so no queue overflows.
fn interleave(
    txs: &[UdpSocket],
    to: SocketAddr,
    seqs: std::ops::Range<u64>,
    skip: &[(usize, u64)],
) {
    for (k, seq) in seqs.enumerate() {
        let p = pattern_packet(0, seq, PAYLOAD);
        for (i, tx) in txs.iter().enumerate() {
            if !skip.contains(&(i, seq)) {
                tx.send_to(&p, to).unwrap();
            }
        }
        if k % 256 == 255 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// The summary of the stream from `tx` (exactly one).
fn stream_of<'a>(r: &'a RecvReport, tx: &UdpSocket) -> &'a StreamSummary {
    let src = tx.local_addr().unwrap().to_string();
    let mut found = r.streams.iter().filter(|s| s.source == src);
    let s = found
        .next()
        .unwrap_or_else(|| panic!("no stream from {src}: {r:?}"));
    assert!(
        found.next().is_none(),
        "two streams from {src}: {:?}",
        r.streams
    );
    s
}

/// Asserts that the run's totals are the sums over its streams.
fn totals_add_up(r: &RecvReport) {
    let sum = |f: fn(&StreamSummary) -> u64| r.streams.iter().map(f).sum::<u64>();
    assert_eq!(r.packets, sum(|s| s.packets), "{r:?}");
    assert_eq!(r.bytes, sum(|s| s.bytes), "{r:?}");
    assert_eq!(r.lost, sum(|s| s.lost.unwrap()), "{r:?}");
    assert_eq!(r.duplicates, sum(|s| s.duplicates.unwrap()), "{r:?}");
    assert_eq!(r.reordered, sum(|s| s.reordered.unwrap()), "{r:?}");
    assert_eq!(r.late, sum(|s| s.late.unwrap()), "{r:?}");
}

/// `n` senders interleaving 3,000 packets each into a receiver following `n`: every stream whole
/// and in order, nothing foreign.
fn concurrent_senders_are_each_checked_exactly(n: usize) {
    const N: u64 = 3_000;
    let rx = receiver(n, false);
    let txs = sockets(n);
    interleave(&txs, rx.local_addr(), 0..N, &[]);
    let r = rx.join().unwrap();
    assert_eq!(r.streams.len(), n, "{:?}", r.streams);
    for tx in &txs {
        let s = stream_of(&r, tx);
        assert_eq!(
            (s.packets, s.bytes, s.first_seq, s.last_seq),
            (N, N * PAYLOAD as u64, Some(0), Some(N - 1)),
            "{s:?}"
        );
        let counts = (s.lost, s.reordered, s.duplicates, s.late);
        assert_eq!(counts, (Some(0), Some(0), Some(0), Some(0)), "{s:?}");
        assert_eq!(s.closed_by, "end");
    }
    let totals = (r.packets, r.lost, r.reordered, r.duplicates, r.late);
    assert_eq!(totals, (n as u64 * N, 0, 0, 0, 0), "{r:?}");
    assert_eq!((r.corrupt, r.foreign, r.implausible), (0, 0, 0), "{r:?}");
    assert!(
        r.malformed.is_empty() && r.foreign_sources.is_empty(),
        "{r:?}"
    );
    totals_add_up(&r);
}

#[test]
fn two_concurrent_senders_are_each_checked_exactly() {
    concurrent_senders_are_each_checked_exactly(2);
}

#[test]
fn three_concurrent_senders_are_each_checked_exactly() {
    concurrent_senders_are_each_checked_exactly(3);
}

/// Without `senders`, the same two senders: the second is foreign (the default is unchanged).
#[test]
fn one_sender_by_default_the_second_is_foreign() {
    const N: u64 = 1_000;
    let rx = receiver(1, false);
    let txs = sockets(2);
    interleave(&txs, rx.local_addr(), 0..N, &[]);
    let r = rx.join().unwrap();
    assert_eq!((r.packets, r.lost, r.duplicates), (N, 0, 0), "{r:?}");
    assert_eq!(r.foreign, N, "{r:?}");
    assert_eq!(r.foreign_reasons.get("senders_busy"), Some(&N), "{r:?}");
    assert_eq!(
        r.foreign_sources,
        [txs[1].local_addr().unwrap().to_string()]
    );
    assert_eq!(r.streams.len(), 1);
    assert_eq!(
        r.streams[0].source,
        txs[0].local_addr().unwrap().to_string()
    );
}

/// A gap in one sender's stream is lost in that stream only.
#[test]
fn a_gap_in_one_stream_is_lost_there_only() {
    const N: u64 = 2_000;
    let rx = receiver(2, false);
    let txs = sockets(2);
    interleave(
        &txs,
        rx.local_addr(),
        0..N,
        &[(1, 700), (1, 701), (1, 1500)],
    );
    let r = rx.join().unwrap();
    let (a, b) = (stream_of(&r, &txs[0]), stream_of(&r, &txs[1]));
    assert_eq!(
        (a.packets, a.lost, a.duplicates),
        (N, Some(0), Some(0)),
        "{a:?}"
    );
    assert_eq!(
        (b.packets, b.lost, b.duplicates),
        (N - 3, Some(3), Some(0)),
        "{b:?}"
    );
    assert_eq!((r.lost, r.duplicates, r.foreign), (3, 0, 0), "{r:?}");
    totals_add_up(&r);
}

/// A third source while two are followed and streaming is foreign, by reason and address; the
/// two are checked whole.
#[test]
fn a_source_beyond_the_bound_is_foreign() {
    const N: u64 = 1_500;
    let rx = receiver(2, false);
    let txs = sockets(3);
    // The first two open their streams first.
    interleave(&txs[..2], rx.local_addr(), 0..1, &[]);
    std::thread::sleep(Duration::from_millis(20));
    interleave(&txs, rx.local_addr(), 1..N, &[]);
    let r = rx.join().unwrap();
    assert_eq!(r.streams.len(), 2, "{:?}", r.streams);
    for tx in &txs[..2] {
        let s = stream_of(&r, tx);
        assert_eq!(
            (s.packets, s.lost, s.duplicates),
            (N, Some(0), Some(0)),
            "{s:?}"
        );
    }
    assert_eq!(r.foreign, N - 1, "{r:?}");
    assert_eq!(
        r.foreign_reasons.get("senders_busy"),
        Some(&(N - 1)),
        "{r:?}"
    );
    assert_eq!(
        r.foreign_sources,
        [txs[2].local_addr().unwrap().to_string()]
    );
    assert_eq!((r.packets, r.lost, r.duplicates), (2 * N, 0, 0), "{r:?}");
    totals_add_up(&r);
}

/// Waits until the receiver has counted `n` packets (at most 10 s).
fn until_counted(rx: &Receiver, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while rx.progress().0 < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} packets",
            rx.progress().0
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A stream as (source, packets, first_seq, last_seq, closed_by).
type Row<'a> = (&'a str, u64, Option<u64>, Option<u64>, &'a str);

/// A reusable receiver following two: one sender restarting ends its own stream only; one going
/// quiet gives its place to a new source while the other streams on.
#[test]
fn reusable_streams_end_per_sender() {
    let rx = receiver(2, true);
    let txs = sockets(3);
    let to = rx.local_addr();
    // a and b stream 0..500; b restarts from 0 (past the restart margin): b's stream 2.
    interleave(&txs[..2], to, 0..500, &[]);
    interleave(&txs[1..2], to, 0..300, &[]);
    until_counted(&rx, 1_300);
    // a goes quiet past the stream idle time while b streams on; c then takes a's place.
    for seq in 300..400 {
        txs[1]
            .send_to(&pattern_packet(0, seq, PAYLOAD), to)
            .unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    interleave(
        &[txs[1].try_clone().unwrap(), txs[2].try_clone().unwrap()],
        to,
        400..600,
        &[],
    );
    let r = rx.join().unwrap();
    let (a, b, c) = (
        txs[0].local_addr().unwrap().to_string(),
        txs[1].local_addr().unwrap().to_string(),
        txs[2].local_addr().unwrap().to_string(),
    );
    let got: Vec<Row> = r
        .streams
        .iter()
        .map(|s| {
            (
                s.source.as_str(),
                s.packets,
                s.first_seq,
                s.last_seq,
                s.closed_by,
            )
        })
        .collect();
    let want = vec![
        (a.as_str(), 500, Some(0), Some(499), "new_source"),
        (b.as_str(), 500, Some(0), Some(499), "restart"),
        (b.as_str(), 600, Some(0), Some(599), "end"),
        (c.as_str(), 200, Some(400), Some(599), "end"),
    ];
    assert_eq!(got, want, "{:?}", r.streams);
    // c joined at 400: its 400 before count lost in its stream; nothing else is lost, and
    // nothing is a duplicate although b's sequence numbers came twice.
    let lost: Vec<Option<u64>> = r.streams.iter().map(|s| s.lost).collect();
    assert_eq!(
        lost,
        [Some(0), Some(0), Some(0), Some(400)],
        "{:?}",
        r.streams
    );
    assert_eq!((r.duplicates, r.late, r.foreign), (0, 0, 0), "{r:?}");
    totals_add_up(&r);
}

/// A sink stack whose checker tells fewer senders apart than the configuration asks for: the
/// receiver follows only as many (the rest foreign) rather than mixing their sequence spaces.
#[test]
fn a_checker_for_fewer_senders_is_never_fed_a_mix() {
    const N: u64 = 500;
    let cfg = RecvConfig::builder("127.0.0.1:0".parse().unwrap())
        .senders(2)
        .idle_exit(Duration::from_millis(300))
        .build()
        .unwrap();
    let one = ringshot::recv::StreamChecker::new(cfg.window(), true); // one sender
    let rx = Receiver::spawn_with(cfg, one).unwrap();
    let txs = sockets(2);
    interleave(&txs, rx.local_addr(), 0..N, &[]);
    let r = rx.join().unwrap();
    assert_eq!((r.packets, r.lost, r.duplicates), (N, 0, 0), "{r:?}");
    assert_eq!((r.foreign, r.streams.len()), (N, 1), "{r:?}");
}
