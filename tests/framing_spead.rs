//! SPEAD against spead2 (pip), both ways: spead2's receiver takes ringshot's heaps and every item
//! value matches byte for byte (both flavours); `spead2_send.py` streams to `ringshot recv
//! --format spead`, which reassembles every heap. Skips, saying so, when spead2 is missing.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ringshot::wire::header::fill_pattern;

#[path = "common/binary.rs"]
mod binary;
use binary::{free_port, json_of, output_within, ringshot, start_recv, RunExt};

fn spead2_missing() -> Option<String> {
    let py = Command::new("python3")
        .args(["-c", "import spead2"])
        .output();
    match py {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            return Some(format!(
                "python3 cannot import spead2: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ))
        }
        Err(e) => return Some(format!("python3 not runnable: {e}")),
    }
    match Command::new("spead2_send.py").arg("--help").output() {
        Ok(o) if o.status.success() => None,
        _ => Some("spead2_send.py not on PATH".into()),
    }
}

/// One spead2 peer at a time: its Python receiver and sender need a core of their own on this
/// 2-core machine, and two of them side by side (the test harness runs tests in parallel) made
/// the receiver miss a heap now and then.
static PEER: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_peer_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    PEER.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A spead2 receiver printing, as JSON, every heap's cnt, completeness and items (id, hex), and
/// the stream's statistics, once the stop heap ends the stream.
const RECEIVER: &str = r#"
import json, sys, spead2, spead2.recv
stream = spead2.recv.Stream(spead2.ThreadPool(), spead2.recv.StreamConfig(max_heaps=8))
stream.add_udp_reader(int(sys.argv[1]), bind_hostname="127.0.0.1", buffer_size=8 << 20)
print("ready", flush=True)
heaps = []
for heap in stream:
    heaps.append({"cnt": heap.cnt, "complete": type(heap).__name__ == "Heap",
                  "items": [[it.id, bytes(memoryview(it)).hex()] for it in heap.get_items()]})
st = stream.stats
print(json.dumps({"heaps": heaps, "stats": {k: st[k] for k in
      ["heaps", "packets", "incomplete_heaps_evicted", "incomplete_heaps_flushed"]}}), flush=True)
"#;

/// The bytes of heap `h` (0-based) as ringshot's generator sends them: the stream's packets
/// each carry the check pattern of their sequence number, `room` bytes at most and never past
/// the heap's end.
fn expected_heap(h: u64, heap_size: usize, room: usize) -> Vec<u8> {
    let per_heap = heap_size.div_ceil(room) as u64;
    let mut out = Vec::new();
    for k in 0..per_heap {
        let len = room.min(heap_size - out.len());
        let mut b = vec![0u8; len];
        fill_pattern(h * per_heap + k, &mut b);
        out.extend_from_slice(&b);
    }
    out
}

/// A spead2 receiver on a free port, once it says it is ready.
fn spead2_receiver() -> (
    u16,
    std::process::Child,
    BufReader<std::process::ChildStdout>,
) {
    let port = free_port();
    let mut rx = Command::new("python3")
        .args(["-c", RECEIVER, &port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(rx.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready", "spead2 receiver did not start");
    (port, rx, out)
}

/// The receiver's JSON line, once the stop heap has ended its stream (20 s at most).
fn spead2_result(
    mut rx: std::process::Child,
    mut out: BufReader<std::process::ChildStdout>,
) -> serde_json::Value {
    let mut rest = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while rest.trim().is_empty() && Instant::now() < deadline {
        rest.clear();
        if out.read_line(&mut rest).unwrap() == 0 {
            break;
        }
    }
    let _ = rx.kill();
    let _ = rx.wait();
    serde_json::from_str(rest.trim()).unwrap_or_else(|e| panic!("{e}: {rest:?}"))
}

fn ringshot_to_spead2(flavour: &str) {
    let (port, rx, out) = spead2_receiver();
    let (heaps, heap_size, packet) = (12u64, 10_000usize, 1472usize);
    let sent = ringshot()
        .args([
            "send",
            "--to",
            &format!("127.0.0.1:{port}"),
            "--format",
            "spead",
        ])
        .args(["--flavour", flavour, "--heap-size", &heap_size.to_string()])
        .args([
            "--heaps",
            &heaps.to_string(),
            "--packet",
            &packet.to_string(),
        ])
        // Evenly spaced: spead2's Python receiver keeps up with 20 k packets a second one by
        // one, not with the small groups the default (auto) spacing sends at this rate.
        .args(["--rate", "20000pps", "--spacing", "strict", "--json"])
        .run();
    assert_eq!(
        sent.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let v = spead2_result(rx, out);
    assert_eq!(
        v["stats"]["heaps"].as_u64(),
        Some(heaps),
        "{flavour}: {}",
        v["stats"]
    );
    let got = v["heaps"].as_array().unwrap();
    assert_eq!(got.len() as u64, heaps, "{flavour}");
    let room = (packet - 48) / 8 * 8;
    for (h, heap) in got.iter().enumerate() {
        assert_eq!(heap["cnt"].as_u64(), Some(h as u64 + 1), "{flavour}");
        assert_eq!(heap["complete"].as_bool(), Some(true), "{flavour} heap {h}");
        let items = heap["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{flavour} heap {h}: {items:?}");
        assert_eq!(items[0][0].as_u64(), Some(0x1000));
        let hex: String = expected_heap(h as u64, heap_size, room)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(
            items[0][1].as_str() == Some(hex.as_str()),
            "{flavour} heap {h}: bytes differ"
        );
    }
}

#[test]
fn spead2_receives_ringshot_heaps_byte_for_byte() {
    let _peer = one_peer_at_a_time();
    if let Some(why) = spead2_missing() {
        eprintln!("SKIP spead2_receives_ringshot_heaps_byte_for_byte: {why}");
        return;
    }
    ringshot_to_spead2("64-40");
    ringshot_to_spead2("64-48");
}

/// Push mode: the app hands a library `Sender` 800-byte payloads (each the check pattern of
/// its index); the sender cuts them at the 10,000-byte heaps' ends and `finish` sends the stop
/// heap. spead2 gets every heap complete, with heap cnts 1, 2, ... and each heap's bytes exactly
/// the app's bytes in order.
#[test]
fn spead2_receives_push_mode_heaps() {
    let _peer = one_peer_at_a_time();
    use ringshot::engine::Sender;
    use ringshot::framing::{Format, Framing, Spead};
    if let Some(why) = spead2_missing() {
        eprintln!("SKIP spead2_receives_push_mode_heaps: {why}");
        return;
    }
    let (port, rx, out) = spead2_receiver();
    let (heaps, heap_size, push) = (12usize, 10_000usize, 800usize);
    let framing = Framing {
        spead: Spead {
            heap_size: heap_size as u64,
            ..Spead::default()
        },
        ..Framing::of(Format::Spead)
    };
    let cfg = ringshot::SenderConfig::builder(format!("127.0.0.1:{port}").parse().unwrap())
        .payload(1472)
        .framing(framing)
        .rate(ringshot::pacing::Rate::Pps(20_000.0))
        .spacing(ringshot::pacing::Spacing::Strict) // the Python receiver's pace, as above
        .build()
        .unwrap();
    let mut tx = Sender::spawn(cfg).unwrap();
    let mut stream = Vec::new();
    for i in 0..(heaps * heap_size / push) as u64 {
        let mut data = vec![0u8; push];
        fill_pattern(i, &mut data);
        tx.send(&data).unwrap();
        stream.extend_from_slice(&data);
    }
    tx.finish().unwrap();
    let v = spead2_result(rx, out);
    assert_eq!(
        v["stats"]["heaps"].as_u64(),
        Some(heaps as u64),
        "{}",
        v["stats"]
    );
    let got = v["heaps"].as_array().unwrap();
    assert_eq!(got.len(), heaps);
    for (h, heap) in got.iter().enumerate() {
        assert_eq!(heap["cnt"].as_u64(), Some(h as u64 + 1));
        assert_eq!(heap["complete"].as_bool(), Some(true), "heap {h}");
        let items = heap["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "heap {h}: {items:?}");
        let hex: String = stream[h * heap_size..(h + 1) * heap_size]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(
            items[0][1].as_str() == Some(hex.as_str()),
            "heap {h}: bytes differ"
        );
    }
}

#[test]
fn ringshot_recv_reassembles_spead2_send_heaps() {
    let _peer = one_peer_at_a_time();
    if let Some(why) = spead2_missing() {
        eprintln!("SKIP ringshot_recv_reassembles_spead2_send_heaps: {why}");
        return;
    }
    let (rx, addr) = start_recv(&["--format", "spead", "--json", "--idle-exit-ms", "10000"]);
    let addr = addr.to_string();
    let heaps = 30u64;
    let send = Command::new("spead2_send.py")
        .args(["--heap-size", "65536", "--heaps", &heaps.to_string()])
        .args(["--rate", "0.3", &addr])
        .run();
    assert!(
        send.status.success(),
        "spead2_send.py: {}",
        String::from_utf8_lossy(&send.stderr)
    );
    let out = output_within(rx, Duration::from_secs(30));
    let v = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{v}");
    let s = &v["spead"];
    assert_eq!(s["heaps"].as_u64(), Some(heaps), "{s}");
    assert_eq!(s["stopped"].as_bool(), Some(true), "{s}");
    assert_eq!(s["incomplete_heaps_evicted"].as_u64(), Some(0), "{s}");
    assert_eq!(s["incomplete_heaps_flushed"].as_u64(), Some(0), "{s}");
    assert_eq!(s["out_of_order_packets"].as_u64(), Some(0), "{s}");
    assert!(s["batches"].as_u64().unwrap() >= 1, "{s}");
    assert!(v["malformed"].as_object().unwrap().is_empty(), "{v}");
}

/// `spead2_send.py --heaps 20 --heap-size 65536` into `recv --format spead --json`: the summary
/// counts what arrived (packets, UDP payload bytes, a time and a rate over them), all 20 heaps
/// seen and complete, and the one stream carries the totals.
#[test]
fn ringshot_recv_summary_of_a_spead2_stream() {
    let _peer = one_peer_at_a_time();
    if let Some(why) = spead2_missing() {
        eprintln!("SKIP ringshot_recv_summary_of_a_spead2_stream: {why}");
        return;
    }
    let (rx, addr) = start_recv(&["--format", "spead", "--json", "--idle-exit-ms", "10000"]);
    let heaps = 20u64;
    let send = Command::new("spead2_send.py")
        .args(["--heap-size", "65536", "--heaps", &heaps.to_string()])
        .args(["--rate", "0.3", &addr.to_string()])
        .run();
    assert!(
        send.status.success(),
        "spead2_send.py: {}",
        String::from_utf8_lossy(&send.stderr)
    );
    let out = output_within(rx, Duration::from_secs(30));
    let v = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{v}");
    let packets = v["packets"].as_u64().unwrap();
    let bytes = v["bytes"].as_u64().unwrap();
    assert!(packets > heaps, "{v}");
    // Every packet carries at least its 8-byte header and one item pointer.
    assert!(bytes > packets * 16, "{v}");
    assert!(
        bytes > heaps * 65536,
        "the heaps' bytes and the headers: {v}"
    );
    assert!(v["seconds"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v["pps"].as_f64().unwrap() > 0.0, "{v}");
    let s = &v["spead"];
    assert_eq!(s["packets"].as_u64(), Some(packets), "{s}");
    assert_eq!(s["heaps"].as_u64(), Some(heaps), "{s}");
    assert_eq!(s["heaps_seen"].as_u64(), Some(heaps), "{s}");
    assert_eq!(s["incomplete_heaps"].as_u64(), Some(0), "{s}");
    assert_eq!(s["missing_bytes"].as_u64(), Some(0), "{s}");
    let streams = v["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 1, "{v}");
    assert_eq!(streams[0]["packets"].as_u64(), Some(packets), "{v}");
    assert_eq!(streams[0]["bytes"].as_u64(), Some(bytes), "{v}");
    assert!(streams[0]["first_seq"].is_null(), "{v}");
    assert!(v["framing_errors"].as_object().unwrap().is_empty(), "{v}");
    assert!(v["malformed"].as_object().unwrap().is_empty(), "{v}");
}
