//! Tests of [`super::Streams`].

use super::*;
use crate::recv::sink::{DatagramSink, RxMeta};
use crate::wire::header::{Packet, Repr};

fn packet(seq: u64) -> Vec<u8> {
    let mut b = vec![0u8; 64];
    Repr {
        stream_id: 0,
        seq,
        flags: 0,
    }
    .emit(&mut Packet::new_unchecked(&mut b[..]));
    b
}

/// Feeds `seqs` from `src` starting at `t0` ms, 1 ms apart, as `drive` does.
fn feed(st: &mut Streams, c: &mut StreamChecker, src: &str, seqs: std::ops::Range<u64>, t0: u64) {
    feed_packets(st, c, src, seqs.map(packet), t0);
}

/// Feeds `packets` from `src` starting at `t0` ms, 1 ms apart, as `drive` does.
fn feed_packets(
    st: &mut Streams,
    c: &mut StreamChecker,
    src: &str,
    packets: impl Iterator<Item = Vec<u8>>,
    t0: u64,
) {
    let src: SocketAddr = src.parse().unwrap();
    for (i, p) in packets.enumerate() {
        let at = (t0 + i as u64) * 1_000_000;
        let mut v = st.admit(Some(c), src, &p, 1, at);
        if let Admit::NewStream(why) = v {
            c.end_stream(st.closing().expect("a stream to close"));
            st.close(Some(c), why);
            v = st.admit(Some(c), src, &p, 1, at);
        }
        if v == Admit::Yes {
            st.saw(&p);
            c.datagram(&p, &RxMeta { src, at_ns: at });
        }
    }
}

#[test]
fn a_second_sender_after_the_first_is_a_new_stream_not_duplicates() {
    let mut st = Streams::new(0, DEFAULT_STREAM_IDLE);
    let mut c = StreamChecker::new(4096, false);
    feed(&mut st, &mut c, "127.0.0.1:4000", 0..1000, 0);
    // Concurrent: another source while the first streams is foreign.
    feed(&mut st, &mut c, "127.0.0.1:4001", 0..3, 1000);
    feed(&mut st, &mut c, "127.0.0.1:4001", 0..1000, 3000);
    // The same source restarting from 0 at once.
    feed(&mut st, &mut c, "127.0.0.1:4001", 0..500, 4000);
    c.restart();
    st.close(Some(&c), "end");
    let s = st.take();
    assert_eq!(st.foreign(), 3);
    assert_eq!(s.len(), 3, "{s:?}");
    for (x, (n, src, why)) in s.iter().zip([
        (1000, "127.0.0.1:4000", "new_source"),
        (1000, "127.0.0.1:4001", "restart"),
        (500, "127.0.0.1:4001", "end"),
    ]) {
        assert_eq!(
            (x.packets, x.source.as_str(), x.closed_by),
            (n, src, why),
            "{x:?}"
        );
        assert_eq!(
            (x.lost, x.duplicates, x.late),
            (Some(0), Some(0), Some(0)),
            "{x:?}"
        );
        assert_eq!((x.first_seq, x.last_seq), (Some(0), Some(n - 1)));
    }
    assert_eq!(c.totals().2, 0, "no duplicates over the run");
}

#[test]
fn a_duplicate_of_the_first_packet_is_not_a_restart() {
    let mut st = Streams::new(0, DEFAULT_STREAM_IDLE);
    let mut c = StreamChecker::new(4096, false);
    feed(&mut st, &mut c, "127.0.0.1:4000", 0..10, 0);
    feed(&mut st, &mut c, "127.0.0.1:4000", 0..1, 10);
    feed(&mut st, &mut c, "127.0.0.1:4000", 10..20, 11);
    st.close(Some(&c), "end");
    let s = st.take();
    assert_eq!(s.len(), 1);
    assert_eq!((s[0].packets, s[0].duplicates), (21, Some(1)));
    assert_eq!(Streams::new(0, DEFAULT_STREAM_IDLE).take().len(), 0);
}

/// Raw datagrams have no sequence number: bytes that would be ringshot's sequence 0 (the
/// start) after many packets are not a restart, and the stream's summary has no sequence
/// counts.
#[test]
fn raw_streams_never_restart_on_bytes() {
    let mut st = Streams::new(0, DEFAULT_STREAM_IDLE).with_format(Format::Raw);
    let mut c = StreamChecker::new(4096, false).with_format(Format::Raw);
    let packets = (1000..1100)
        .chain([0])
        .chain(1100..1200)
        .map(packet)
        .chain([vec![0u8; 64]]);
    feed_packets(&mut st, &mut c, "127.0.0.1:4000", packets, 0);
    st.close(Some(&c), "end");
    let s = st.take();
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!((s[0].packets, s[0].closed_by), (202, "end"));
    assert_eq!(
        (s[0].lost, s[0].reordered, s[0].duplicates, s[0].late),
        (None, None, None, None)
    );
    assert_eq!((s[0].first_seq, s[0].last_seq), (None, None));
}

/// CHDR's 16-bit SeqNum is read as CHDR has it and widened: its wrap to 0 is not a restart,
/// a sender starting again from 0 early on is.
#[test]
fn chdr_streams_restart_on_their_own_counter_not_its_wrap() {
    use crate::framing::{Framing, Stamper};
    let mut stamper = Stamper::new(Framing::of(Format::Chdr), 0);
    let mut chdr = |seq: u64| {
        let mut buf = vec![0u8; 64];
        let h = stamper.header_len();
        let n = stamper.stamp(&mut buf, seq, 0, 8);
        buf.truncate(n.max(h));
        buf
    };
    let first: Vec<Vec<u8>> = (0..1000).map(&mut chdr).collect();
    let second: Vec<Vec<u8>> = (0..70_000).map(&mut chdr).collect();
    let mut st = Streams::new(0, DEFAULT_STREAM_IDLE).with_format(Format::Chdr);
    let mut c = StreamChecker::new(4096, false).with_format(Format::Chdr);
    feed_packets(&mut st, &mut c, "127.0.0.1:4000", first.into_iter(), 0);
    feed_packets(&mut st, &mut c, "127.0.0.1:4000", second.into_iter(), 1000);
    st.close(Some(&c), "end");
    let s = st.take();
    assert_eq!(s.len(), 2, "{s:?}");
    for (x, (n, why)) in s.iter().zip([(1000, "restart"), (70_000, "end")]) {
        assert_eq!((x.packets, x.closed_by), (n, why), "{x:?}");
        assert_eq!((x.lost, x.duplicates), (Some(0), Some(0)), "{x:?}");
        assert_eq!((x.first_seq, x.last_seq), (Some(0), Some(n - 1)), "{x:?}");
    }
}
