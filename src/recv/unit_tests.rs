//! The units of the receiver's counts, on real loopback sockets: datagrams from another sender
//! are counted one by one even when GRO hands them over in one buffer, and the kernel's drop
//! counter counts receive buffers, not packets.

use super::tests::{backends, cfg, pace, send_seqs, sender};
use super::*;

/// `n` datagrams of `seg` bytes each (ringshot packets from sequence `first`), as one GSO
/// super-packet from `tx`.
fn send_super(tx: &UdpSocket, to: SocketAddr, first: u64, n: u64, seg: usize) {
    let mut buf = Vec::new();
    for seq in first..first + n {
        buf.extend(crate::wire::header::pattern_packet(0, seq, seg));
    }
    let sent = crate::sys::rx::send_gso(tx, to, &buf, seg as u16).unwrap();
    assert_eq!(sent, buf.len());
}

/// Issue 20, item 10: a second sender's datagrams, coalesced by GRO into a few buffers, are
/// counted as `foreign` one datagram each, whether the receiver follows one sender for the whole
/// run or splits it into streams.
#[test]
fn foreign_counts_datagrams_not_gro_buffers() {
    const SUPERS: u64 = 20;
    const PER: u64 = 8;
    for b in backends() {
        for streams in [false, true] {
            let config = cfg(b).streams(streams).count(200).build().unwrap();
            let rx = Receiver::spawn(config).unwrap();
            if !rx.gro() {
                eprintln!("skipping the foreign GRO count: UDP GRO is unavailable");
                return;
            }
            let to = rx.local_addr();
            let control = rx.control();
            let (followed, other) = (sender(), sender());
            send_seqs(&followed, to, &(0..100).collect::<Vec<_>>(), 500);
            pace(&control, 100);
            for i in 0..SUPERS {
                send_super(&other, to, i * PER, PER, 1000);
            }
            send_seqs(&followed, to, &(100..200).collect::<Vec<_>>(), 500);
            let r = rx.join().unwrap();
            let what = format!("{b}, streams {streams}");
            assert_eq!(r.kernel_drops, 0, "{what}: nothing may be dropped here");
            assert_eq!((r.packets, r.lost), (200, 0), "{what}");
            assert!(
                r.batches < 200 + SUPERS * PER,
                "{what}: GRO coalesced nothing"
            );
            assert_eq!(r.foreign, SUPERS * PER, "{what}: foreign datagrams");
        }
    }
}

/// SO_RXQ_OVFL counts what the socket queue dropped: with GRO, whole coalesced buffers. Buffers
/// of 8 packets overflow a tiny receive buffer; `kernel_drops` is the number of buffers and
/// `lost` eight times it, the packets they held.
#[test]
fn kernel_drops_count_gro_buffers_and_lost_counts_packets() {
    const PER: u64 = 8;
    const SUPERS: u64 = 40;
    for b in backends() {
        let config = cfg(b).rcvbuf(1).idle_exit_ms(100).build().unwrap();
        let (mut backend, _) = open(&config, None).unwrap();
        if !backend.gro() {
            eprintln!("skipping the GRO drop count: UDP GRO is unavailable");
            return;
        }
        let to = backend.local_addr().unwrap();
        let tx = sender();
        for i in 0..SUPERS {
            send_super(&tx, to, i * PER, PER, 1000);
        }
        let mut sink = StreamChecker::new(DEFAULT_WINDOW, true);
        let control = RecvControl::new();
        let drain = cfg(b).idle_exit_ms(50).build().unwrap();
        drive(backend.as_mut(), &mut sink, &drain, &control).unwrap();
        // One more packet carries the final drop count.
        send_seqs(&tx, to, &[SUPERS * PER], 1000);
        let run = drive(backend.as_mut(), &mut sink, &drain, &control).unwrap();
        let r = RecvReport::new(Some(&sink), &run, backend.as_ref(), Vec::new());
        assert!(r.kernel_drops > 0, "{b}: a tiny buffer must overflow");
        assert_eq!(
            r.lost,
            PER * r.kernel_drops,
            "{b}: {} buffers",
            r.kernel_drops
        );
        assert_eq!(r.packets + r.lost, SUPERS * PER + 1, "{b}");
    }
}
