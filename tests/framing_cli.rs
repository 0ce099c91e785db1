//! `ringshot send --format ...` and `ringshot recv --format ...` as a user runs them: bad input
//! exits 2 naming the flag; a USRP2 stream with `--ack usrp2` crosses the 32-bit wrap of its
//! sequence word against the device emulator; a file streams byte for byte, looped.

use std::net::UdpSocket;
use std::time::Duration;

use ringshot::wire::usrp2;

#[path = "common/binary.rs"]
mod binary;
use binary::{json_of, output_within, ringshot, start_recv, RunExt};

/// `ringshot send --to TO --json --format FORMAT`, for the caller to add to.
fn send_json(to: &str, format: &str) -> std::process::Command {
    let mut c = ringshot();
    c.args(["send", "--to", to, "--json", "--format", format]);
    c
}

#[test]
fn bad_framing_flags_exit_2_naming_the_flag() {
    let to = ["send", "--to", "127.0.0.1:9"];
    let cases: &[(&[&str], &str)] = &[
        (&["--format", "mpeg"], "--format"),
        (&["--format", "vrt", "--payload", "6"], "--payload"),
        (&["--format", "spead", "--payload", "48"], "--payload"),
        (&["--format", "spead", "--heap-size", "0"], "--heap-size"),
        (
            &["--format", "spead", "--heap-cnt-step", "0"],
            "--heap-cnt-step",
        ),
        (&["--heaps", "3"], "--heaps"),
        (&["--format", "spead", "--flavour", "64-32"], "--flavour"),
        (
            &["--format", "vrt", "--samples-per-packet", "1000"],
            "--samples-per-packet",
        ),
        (&["--samples-per-packet", "0"], "--samples-per-packet"),
        (&["--sample-bytes", "0"], "--sample-bytes"),
        (&["--tsf", "gps"], "--tsf"),
        (&["--format", "vrt", "--tsi", "tai"], "--tsi"),
        (&["--format", "chdr", "--tsi", "utc"], "--tsi"),
        (
            &["--format", "vrt", "--tsi", "utc", "--tsf", "sample-count"],
            "--sample-rate",
        ),
        (
            &["--format", "usrp2", "--tsi", "gps", "--sample-rate", "1.5"],
            "--sample-rate",
        ),
        (
            &[
                "--format",
                "vrt",
                "--tsi",
                "utc",
                "--rate",
                "1000.5sps",
                "--count",
                "1",
            ],
            "--rate",
        ),
        (
            &[
                "--format",
                "usrp2",
                "--tsi",
                "other",
                "--start-time",
                "4294967296",
            ],
            "--start-time",
        ),
        (&["--class-id", "1000000:1:2"], "--class-id"),
        (&["--trailer", "0xZZ"], "--trailer"),
        (&["--dst-epid", "70000"], "--dst-epid"),
        (&["--rate", "0Msps"], "--rate"),
        (&["--rate", "fastsps"], "--rate"),
        (&["--loop"], "--payload-file"),
        (
            &["--payload-file", "/nonexistent/ringshot-payload"],
            "--payload-file",
        ),
    ];
    for (args, flag) in cases {
        let out = ringshot().args(to).args(*args).run();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        let lines: Vec<_> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(
            !lines.is_empty() && lines[0].contains(flag),
            "{args:?}: {err}"
        );
    }
    for (args, flag) in [
        (
            &["--max-heaps", "0", "--format", "spead"][..],
            "--max-heaps",
        ),
        (
            &["--substreams", "0", "--format", "spead"][..],
            "--substreams",
        ),
        (&["--max-heaps", "8"][..], "--max-heaps"),
        (&["--format", "spead", "--drop-data", "0.1"][..], "--format"),
        (&["--heap-cnt-step", "2"][..], "--heap-cnt-step"),
        (
            &["--format", "spead", "--device", "--heap-cnt-step", "0"][..],
            "--heap-cnt-step",
        ),
    ] {
        let out = ringshot()
            .args(["recv", "--bind", "127.0.0.1:0"])
            .args(args)
            .run();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(flag), "{args:?}: {err}");
    }
    let out = ringshot()
        .args(["recv", "--bind", "127.0.0.1:0", "--format", "spead7"])
        .run();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--format"));
}

/// Streams `n` packets of `format` with `ack` flow control to the device emulator reading the same
/// format, from `start`, and checks that every packet arrived once, in order, and was consumed.
fn through_the_device(format: &str, ack: &str, start: u64, n: u64) {
    through_the_device_with(format, ack, start, n, &["--tsf", "sample-count"], &[]);
}

/// [`through_the_device`] with `send_extra` flags for the sender and `recv_extra` for the
/// device; also checks that no framing error was counted. Returns the device's report.
fn through_the_device_with(
    format: &str,
    ack: &str,
    start: u64,
    n: u64,
    send_extra: &[&str],
    recv_extra: &[&str],
) -> serde_json::Value {
    let start_s = start.to_string();
    let (rx, addr) = start_recv(
        &[
            "--json",
            "--device",
            "--format",
            format,
            "--ack",
            ack,
            "--device-buffer",
            "65536",
            "--drain-pps",
            "200000",
            "--start-seq",
            &start_s,
            "--idle-exit-ms",
            "1500",
        ]
        .into_iter()
        .chain(recv_extra.iter().copied())
        .collect::<Vec<_>>(),
    );
    let out = send_json(&addr.to_string(), format)
        .args(["--ack", ack, "--window-packets", "40", "--batch", "16"])
        .args(["--stall-timeout", "5000", "--payload", "1456"])
        .args(send_extra)
        .args(["--start-seq", &start_s, "--count", &n.to_string()])
        .run();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{format}/{ack} send: {err}");
    let sent: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // SPEAD ends with its stop heap, one packet more.
    let n = n + u64::from(format == "spead");
    assert_eq!(sent["packets"].as_u64(), Some(n), "{sent}");
    assert!(sent["acks"]["accepted"].as_u64().unwrap() > 0, "{sent}");
    let out = output_within(rx, Duration::from_secs(30));
    let v = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert_eq!(v["packets"].as_u64(), Some(n), "{format}/{ack}: {v}");
    assert_eq!(v["corrupt"].as_u64(), Some(0), "{format}/{ack}: {v}");
    if format == "spead" {
        // SPEAD packets carry no sequence number: no sequence counts (the heaps are checked).
        for key in ["lost", "duplicates", "first_seq", "last_seq"] {
            assert!(v[key].is_null(), "{format}: {key} must be null: {v}");
        }
    } else {
        assert_eq!(v["lost"].as_u64(), Some(0), "{format}/{ack}: {v}");
        assert_eq!(v["first_seq"].as_u64(), Some(start), "{v}");
        assert_eq!(v["last_seq"].as_u64(), Some(start + n - 1), "{v}");
    }
    assert_eq!(v["device"]["consumed"].as_u64(), Some(n), "{v}");
    assert_eq!(v["device"]["overflows"].as_u64().unwrap_or(0), 0, "{v}");
    assert!(v["malformed"].as_object().unwrap().is_empty(), "{v}");
    assert!(v["framing_errors"].as_object().unwrap().is_empty(), "{v}");
    v
}

/// The sequence word wraps from 2^32 − 1 to 0 mid-stream: the device reads it, ACKs it in
/// USRP2 form, and the sender's window keeps opening (a stall would end the stream with 1).
#[test]
fn usrp2_stream_with_usrp2_acks_crosses_the_word_wrap() {
    through_the_device("usrp2", "usrp2", (1u64 << 32) - 500, 3000);
}

/// CHDR data credited by CHDR stream status across the 16-bit SeqNum wrap, and VRT data (4-bit
/// count) under native ACKs: the device follows each format's own counter.
#[test]
fn chdr_and_vrt_streams_through_the_device() {
    through_the_device("chdr", "chdr", (1u64 << 16) - 300, 2000);
    through_the_device("vrt", "native", 0, 2000);
}

/// VRT and USRP2 with an integer timestamp (TSI) and a sample-count TSF at 1 Msps: 363 samples
/// a packet pass many seconds, the device finds the TSI never going backwards.
#[test]
fn tsi_streams_through_the_device() {
    let tsi = [
        "--tsf",
        "sample-count",
        "--tsi",
        "utc",
        "--sample-rate",
        "40ksps",
    ];
    through_the_device_with("vrt", "native", 0, 2000, &tsi, &[]);
    through_the_device_with("usrp2", "usrp2", 5, 2000, &tsi, &[]);
}

/// SPEAD through the device emulator, heap cnt step 3: every packet (the stop heap too) is
/// consumed and acknowledged, and the heap sequence has no breach.
#[test]
fn spead_stream_through_the_device() {
    let send = ["--heap-size", "10000", "--heap-cnt-step", "3"];
    let v = through_the_device_with("spead", "native", 0, 1400, &send, &send[2..]);
    assert_eq!(v["device"]["seq_errors"].as_u64().unwrap_or(0), 0, "{v}");
}

/// SPEAD into the device with data dropped on the way in (no flow control): the heap sequence
/// check counts the breaches by reason, and a stream without drops counts none.
#[test]
fn spead_device_counts_heap_breaches() {
    let (rx, addr) = start_recv(&[
        "--json",
        "--device",
        "--format",
        "spead",
        "--drop-data",
        "0.05",
        "--seed",
        "7",
        "--idle-exit-ms",
        "1500",
    ]);
    let out = ringshot()
        .args(["send", "--to", &addr.to_string(), "--format", "spead"])
        .args([
            "--heap-size",
            "8000",
            "--heaps",
            "100",
            "--rate",
            "20000pps",
        ])
        .run();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = output_within(rx, Duration::from_secs(30));
    let v = json_of(&out);
    let dropped = v["injected"]["drop_data"].as_u64().unwrap();
    assert!(dropped > 0, "{v}");
    let breaches: u64 = v["framing_errors"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    // Each drop breaks the sequence at most once (two drops in a row may share one breach).
    assert!(breaches > 0 && breaches <= dropped, "{v}");
}

/// `--payload-file` with `--loop` streams the file's bytes in order, in whole samples, and a
/// sample rate paces in packets of `--samples-per-packet`.
#[test]
fn payload_file_loops_byte_for_byte() {
    let dir = std::env::temp_dir().join(format!("ringshot-framing-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("samples.bin");
    let file: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&path, &file).unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let n = 10usize;
    let out = ringshot()
        .args(["send", "--to", &sock.local_addr().unwrap().to_string()])
        .args([
            "--format",
            "usrp2",
            "--samples-per-packet",
            "64",
            "--rate",
            "64ksps",
        ])
        .args(["--payload-file", path.to_str().unwrap(), "--loop"])
        .args(["--count", &n.to_string(), "--json"])
        .run();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // 64 ksps in packets of 64 samples is 1,000 packets per second.
    assert_eq!(sent["rate_target_pps"].as_f64(), Some(1000.0), "{sent}");
    let mut stream = Vec::new();
    let mut buf = [0u8; 2048];
    for i in 0..n {
        let k = sock.recv(&mut buf).unwrap();
        let (word, p) = usrp2::parse_data(&buf[..k]).unwrap();
        assert_eq!(word, i as u32);
        assert_eq!(p.payload().len(), 256);
        stream.extend_from_slice(p.payload());
    }
    let want: Vec<u8> = file.iter().copied().cycle().take(stream.len()).collect();
    assert_eq!(stream, want);
}

/// A TSI started one second before 2^32 − 1 cannot wrap: the seconds stay at 4294967295, the
/// report counts the packets stamped so, the binary warns, and the receiver sees no TSI going
/// backwards.
#[test]
fn tsi_holds_at_its_maximum_and_is_counted() {
    let (rx, addr) = start_recv(&["--json", "--format", "vrt", "--idle-exit-ms", "1500"]);
    let out = send_json(&addr.to_string(), "vrt")
        .args(["--tsf", "sample-count", "--tsi", "other", "--start-time"])
        .args(["4294967294", "--sample-rate", "40ksps", "--payload", "1456"])
        .args(["--count", "500"])
        .run();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let sent: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // 500 packets of 357 samples at 40 ksps carry about 4.5 s of samples: the TSI reaches
    // 2^32 − 1 after one second of them and would pass it after two.
    let held = sent["tsi_saturated"].as_u64().unwrap();
    assert!(held > 0 && held < 500, "{sent}");
    assert!(err.contains("TSI 4294967295"), "{err}");
    let out = output_within(rx, Duration::from_secs(30));
    let v = json_of(&out);
    assert_eq!(v["packets"].as_u64(), Some(500), "{v}");
    assert_eq!(
        v["framing_errors"]["tsi_backwards"].as_u64().unwrap_or(0),
        0,
        "{v}"
    );
}

/// Without `--heap-size` a SPEAD heap is the most whole packets within 65,536 bytes (46 × 1,424 =
/// 65,504 at 1,472-byte packets), so no heap ends in a short packet and the sender has nothing to
/// note; an explicit 65,536-byte heap gets the note where GSO is on. The receiver reassembles
/// every heap.
#[test]
fn spead_default_heap_is_whole_packets() {
    let (rx, addr) = start_recv(&["--json", "--format", "spead", "--idle-exit-ms", "1500"]);
    let out = send_json(&addr.to_string(), "spead")
        .args(["--heaps", "3"])
        .run();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // 3 heaps of 46 packets, then the stop heap.
    assert_eq!(sent["packets"].as_u64(), Some(3 * 46 + 1), "{sent}");
    // Other notices (a platform's fallbacks) may be there; none about the heaps.
    assert!(
        !sent["notices"].to_string().contains("SPEAD heaps"),
        "{sent}"
    );
    let v = json_of(&output_within(rx, Duration::from_secs(30)));
    assert_eq!(v["spead"]["heaps"].as_u64(), Some(3), "{v}");

    let out = send_json("127.0.0.1:9", "spead")
        .args(["--heap-size", "65536", "--heaps", "1"])
        .run();
    let sent: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The note is about GSO runs: only where GSO (or USO) is in use.
    let notes = sent["notices"].to_string();
    let noted = notes.contains("32-byte packet") && notes.contains("65504");
    assert_eq!(noted, sent["gso"] == true, "{sent}");
}
