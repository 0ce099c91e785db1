//! `ringshot recv --format spead`'s summary counts what arrived: packets, UDP payload bytes, the
//! time from the first to the last packet, the rate, the gaps and the streams, and heap-level
//! loss (heaps seen, complete, incomplete, bytes missing) where a format with sequence numbers
//! has its sequence line. `--fail-on-loss` fails on incomplete heaps.

use std::io::{BufReader, Read};
use std::net::UdpSocket;
use std::time::Duration;

use ringshot::framing::{Format, Framing, Spead, Stamper};

#[path = "common/binary.rs"]
mod binary;
use binary::{
    json_of, output_within, read_announced_addr, ringshot, spawn_piped, start_recv, text, RunExt,
};

/// A SPEAD stream as ringshot's generator makes it: `heaps` heaps of `heap_size` bytes in
/// packets of at most `room` data bytes, then the stop heap.
fn spead_packets(heaps: usize, heap_size: usize, room: usize) -> Vec<Vec<u8>> {
    let framing = Framing {
        spead: Spead {
            heap_size: heap_size as u64,
            ..Spead::default()
        },
        ..Framing::of(Format::Spead)
    };
    let mut s = Stamper::new(framing, 0);
    let mut out = Vec::new();
    let (mut seq, mut sent) = (0, 0);
    while sent < heaps * heap_size {
        let mut buf = vec![0u8; room + 128];
        let n = s.next_room(room);
        let len = s.stamp(&mut buf, seq, 0, n);
        buf.truncate(len);
        out.push(buf);
        seq += 1;
        sent += n;
    }
    let mut buf = vec![0u8; 128];
    let len = s.stamp_end(&mut buf, seq).expect("the stop heap");
    buf.truncate(len);
    out.push(buf);
    out
}

/// Sends `packets` to `to` from a plain UDP socket, 200 µs apart (so nothing is lost on the
/// way and the gaps are not all zero).
fn send_plain(to: std::net::SocketAddr, packets: &[Vec<u8>]) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    for p in packets {
        sock.send_to(p, to).unwrap();
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn u(v: &serde_json::Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not a count: {v}"))
}

fn f(v: &serde_json::Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number: {v}"))
}

/// ringshot's own SPEAD sender into `recv --format spead --json`: what the sender says it sent
/// (packets, UDP payload bytes) is what the receiver reports, with a time, a rate and gaps; every
/// heap is complete and the one stream carries the totals. The interval rows add up to the
/// totals, each with the rate over its own interval.
#[test]
fn own_sender_summary_counts_packets_bytes_time_and_heaps() {
    let (rx, addr) = start_recv(&[
        "--format",
        "spead",
        "--json",
        "--idle-exit-ms",
        "10000",
        "--interval",
        "0.1",
    ]);
    let (heaps, heap_size) = (12u64, 20_000u64);
    let sent = ringshot()
        .args(["send", "--to", &addr.to_string(), "--format", "spead"])
        .args(["--heaps", &heaps.to_string()])
        .args(["--heap-size", &heap_size.to_string()])
        .args(["--rate", "2000pps", "--json"])
        .run();
    assert_eq!(sent.status.code(), Some(0), "{}", text(&sent.stderr));
    let sent: serde_json::Value = serde_json::from_slice(&sent.stdout).unwrap();
    let out = output_within(rx, Duration::from_secs(30));
    let v = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{v}");

    let (packets, bytes) = (u(&sent, "packets"), u(&sent, "bytes"));
    assert!(packets > heaps, "{sent}");
    assert_eq!(u(&v, "packets"), packets, "{v}");
    assert_eq!(u(&v, "bytes"), bytes, "UDP payload bytes: {v}");
    let seconds = f(&v, "seconds");
    assert!(seconds > 0.0, "{v}");
    let pps = f(&v, "pps");
    assert!(pps > 0.0, "{v}");
    assert!(
        (pps - packets as f64 / seconds).abs() <= 1e-6 * pps,
        "pps is packets over seconds: {v}"
    );
    assert!(u(&v["gaps_ns"], "max") > 0, "{v}");
    assert!(u(&v["gaps_ns"], "max") >= u(&v["gaps_ns"], "p50"), "{v}");
    assert!(v["malformed"].as_object().unwrap().is_empty(), "{v}");
    assert_eq!(u(&v, "corrupt"), 0, "{v}");
    assert!(v["framing_errors"].as_object().unwrap().is_empty(), "{v}");

    let s = &v["spead"];
    assert_eq!(u(s, "heaps"), heaps, "{s}");
    assert_eq!(u(s, "heaps_seen"), heaps, "{s}");
    assert_eq!(u(s, "incomplete_heaps"), 0, "{s}");
    assert_eq!(u(s, "missing_bytes"), 0, "{s}");
    assert_eq!(u(s, "heap_bytes"), heaps * heap_size, "{s}");
    assert_eq!(u(s, "packets"), packets, "{s}");
    assert_eq!(s["stopped"].as_bool(), Some(true), "{s}");
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/cli.md")).unwrap();
    for key in s.as_object().unwrap().keys() {
        assert!(
            doc.contains(&format!("`{key}`")),
            "docs/cli.md does not name {key}"
        );
    }

    let streams = v["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 1, "{v}");
    let st = &streams[0];
    assert_eq!(u(st, "packets"), packets, "{st}");
    assert_eq!(u(st, "bytes"), bytes, "{st}");
    assert!(f(st, "seconds") > 0.0 && f(st, "pps") > 0.0, "{st}");
    for key in ["first_seq", "last_seq", "lost"] {
        assert!(st[key].is_null(), "{key}: {st}");
        assert!(v[key].is_null(), "{key}: {v}");
    }

    let rows = v["intervals"].as_array().unwrap();
    assert!(!rows.is_empty(), "{v}");
    let sum = |key: &str| rows.iter().map(|r| u(r, key)).sum::<u64>();
    assert_eq!(sum("packets"), packets, "the rows add up: {v}");
    assert_eq!(sum("bytes"), bytes, "the rows add up: {v}");
    for r in rows {
        let dt = f(r, "end") - f(r, "start");
        assert!(dt > 0.0, "{r}");
        let want = u(r, "packets") as f64 / dt;
        assert!((f(r, "pps") - want).abs() <= 1e-6 * want.max(1.0), "{r}");
    }
}

/// A heap with one packet missing: the receiver counts it as seen but incomplete, says how many
/// of its bytes never arrived, prints it in the table, and `--fail-on-loss` fails on it.
#[test]
fn a_heap_missing_a_packet_is_incomplete_and_fails_on_loss() {
    let (heaps, heap_size, room) = (4usize, 1_000usize, 400usize);
    let mut packets = spead_packets(heaps, heap_size, room);
    // Three packets a heap (400, 400, 200): the second of heap 2 goes missing.
    assert_eq!(packets.len(), heaps * 3 + 1);
    packets.remove(4);

    let (rx, addr) = start_recv(&["--format", "spead", "--json", "--idle-exit-ms", "5000"]);
    send_plain(addr, &packets);
    let out = output_within(rx, Duration::from_secs(30));
    let v = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "no --fail-on-loss: {v}");
    let s = &v["spead"];
    assert_eq!(u(s, "heaps_seen"), heaps as u64, "{s}");
    assert_eq!(u(s, "heaps"), heaps as u64 - 1, "{s}");
    assert_eq!(u(s, "incomplete_heaps"), 1, "{s}");
    assert_eq!(u(s, "missing_bytes"), room as u64, "{s}");
    assert_eq!(u(&v, "packets"), packets.len() as u64, "{v}");
    let bytes: usize = packets.iter().map(Vec::len).sum();
    assert_eq!(u(&v, "bytes"), bytes as u64, "{v}");
    // The heap timeline check sees the packet after the hole at the wrong offset.
    assert!(u(&v["framing_errors"], "heap_offset_gap") >= 1, "{v}");

    // The table says so where a sequenced format has its sequence line.
    let (rx, addr) = start_recv(&["--format", "spead", "--idle-exit-ms", "5000"]);
    send_plain(addr, &packets);
    let out = output_within(rx, Duration::from_secs(30));
    let table = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{table}");
    let line = table
        .lines()
        .find(|l| l.trim_start().starts_with("heaps"))
        .unwrap_or_else(|| panic!("no heaps line: {table}"));
    assert!(
        line.contains("4 seen") && line.contains("3 complete") && line.contains("1 incomplete"),
        "{line}"
    );
    assert!(line.contains(&format!("{room} bytes missing")), "{line}");
    assert!(!table.contains("sequence"), "{table}");

    // --fail-on-loss: exit 1, saying why on stderr.
    let mut rx = spawn_piped(&[
        "recv",
        "--bind",
        "127.0.0.1:0",
        "--format",
        "spead",
        "--json",
        "--fail-on-loss",
        "--idle-exit-ms",
        "5000",
    ]);
    let mut stderr = BufReader::new(rx.stderr.take().unwrap());
    let addr = read_announced_addr(&mut stderr);
    send_plain(addr, &packets);
    let out = output_within(rx, Duration::from_secs(30));
    let mut why = String::new();
    stderr.read_to_string(&mut why).unwrap();
    let v = json_of(&out);
    assert_eq!(out.status.code(), Some(1), "{v}");
    assert!(why.contains("1 incomplete heaps"), "{why}");

    // The whole stream passes it.
    let (rx, addr) = start_recv(&[
        "--format",
        "spead",
        "--json",
        "--fail-on-loss",
        "--idle-exit-ms",
        "5000",
    ]);
    send_plain(addr, &spead_packets(heaps, heap_size, room));
    let out = output_within(rx, Duration::from_secs(30));
    let v = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert_eq!(u(&v["spead"], "heaps"), heaps as u64, "{v}");
}
