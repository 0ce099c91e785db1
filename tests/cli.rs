//! The binary's contract: exit 2 with one line naming the flag on bad input; `--json` objects with
//! the documented keys from real runs over loopback; SIGINT / SIGTERM end a run with its report and
//! exit 130 / 143; an engine error prints the report with the error and exits 1.

#[cfg(unix)]
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;
#[cfg(unix)]
use std::time::Instant;

// Signals are Unix; on Windows the watchdog uses taskkill and the signal tests do not build.
#[cfg(unix)]
use nix::sys::signal::{kill, Signal};
#[cfg(unix)]
use nix::unistd::Pid;

#[path = "common/binary.rs"]
mod binary;
#[cfg(unix)]
use binary::announced_addr;
use binary::{
    free_port, held_socket, json_of, output_within, ringshot, spawn_piped, start_recv, RunExt,
};

#[test]
fn bad_arguments_exit_2_with_one_line_naming_the_flag() {
    let cases: &[(&[&str], &str)] = &[
        (&["send", "--to", "127.0.0.1:9", "--batch", "0"], "--batch"),
        (&["send", "--to", "127.0.0.1:9", "--batch", "x"], "--batch"),
        (
            &["send", "--to", "127.0.0.1:9", "--payload", "70000"],
            "--payload",
        ),
        (
            &["send", "--to", "127.0.0.1:9", "--payload", "8"],
            "--payload",
        ),
        (&["send", "--to", "nowhere"], "--to"),
        (
            &["send", "--to", "127.0.0.1:9", "--backend", "epoll"],
            "--backend",
        ),
        (
            &["send", "--to", "127.0.0.1:9", "--tx-core", "4096"],
            "--tx-core",
        ),
        (&["send", "--to", "127.0.0.1:9", "--rate", "fast"], "--rate"),
        (
            &["send", "--to", "127.0.0.1:9", "--rate", "-3pps"],
            "--rate",
        ),
        (
            &["send", "--to", "127.0.0.1:9", "--window-packets", "100"],
            "--ack",
        ),
        (&["send", "--to", "127.0.0.1:9", "--ack", "tcp"], "--ack"),
        (
            &[
                "send",
                "--to",
                "127.0.0.1:9",
                "--ack",
                "native",
                "--window-packets",
                "3",
            ],
            "--window-packets",
        ),
        (
            &["send", "--to", "127.0.0.1:9", "--duration", "0"],
            "--duration",
        ),
        (
            &["send", "--to", "127.0.0.1:9", "--zc-threshold", "big"],
            "--zc-threshold",
        ),
        (
            &["send", "--to", "127.0.0.1:9", "--send-order", "loose"],
            "--send-order",
        ),
        (
            &["recv", "--bind", "127.0.0.1:0", "--rx-core", "4096"],
            "--rx-core",
        ),
        (
            &["recv", "--bind", "127.0.0.1:0", "--backend", "dpdk"],
            "--backend",
        ),
        (&["bench", "--payloads", "8"], "--payloads"),
        (&["send"], "--to"),
        // Numbers out of range: each used to spin, panic, wrap or do nothing.
        (
            &["send", "--to", "127.0.0.1:9", "--rate", "1e30pps"],
            "--rate",
        ),
        (
            &["send", "--to", "127.0.0.1:9", "--rate", "0.5pps"],
            "--rate",
        ),
        (
            &["send", "--to", "127.0.0.1:9", "--rate", "1e20Gbps"],
            "--rate",
        ),
        (
            &["send", "--to", "127.0.0.1:9", "--duration", "1e20"],
            "--duration",
        ),
        (
            &["send", "--to", "127.0.0.1:9", "--duration", "inf"],
            "--duration",
        ),
        (
            &["send", "--to", "127.0.0.1:9", "--duration", "400d"],
            "--duration",
        ),
        (&["send", "--to", "127.0.0.1:9", "--count", "0"], "--count"),
        (&["send", "--to", "127.0.0.1:9", "--count", "-1"], "--count"),
        (
            &["send", "--to", "127.0.0.1:9", "--zc-threshold", "0"],
            "--zc-threshold",
        ),
        (
            &["send", "--to", "127.0.0.1:9", "--stall-timeout", "0"],
            "--stall-timeout",
        ),
        (
            &["send", "--to", "127.0.0.1:9", "--stall-timeout", "1e19"],
            "--stall-timeout",
        ),
        (
            &["send", "--to", "127.0.0.1:9", "--sqpoll-idle-ms", "1e300"],
            "--sqpoll-idle-ms",
        ),
        (
            &["send", "--to", "127.0.0.1:9", "--pace-quantum-us", "-5"],
            "--pace-quantum-us",
        ),
        (
            &[
                "send",
                "--to",
                "127.0.0.1:9",
                "--start-seq",
                "18446744073709551615",
                "--count",
                "2",
            ],
            "--start-seq",
        ),
        (
            // The default stream is 1,000,000 packets.
            &[
                "send",
                "--to",
                "127.0.0.1:9",
                "--start-seq",
                "18446744073709000000",
            ],
            "--start-seq",
        ),
        (
            // A --duration stream must leave 2^62 sequence numbers.
            &[
                "send",
                "--to",
                "127.0.0.1:9",
                "--start-seq",
                "13835058055282163712",
                "--duration",
                "1",
            ],
            "--start-seq",
        ),
        // Fail-closed flow control: USRP2 ACKs report no capacity, so a window is required.
        (&["send", "--to", "127.0.0.1:9", "--ack", "usrp2"], "--ack"),
        (
            &["send", "--to", "127.0.0.1:9", "--ack", "usrp2:7"],
            "--ack",
        ),
        (
            &["send", "--to", "127.0.0.1:9", "--ack-from", "127.0.0.1:7"],
            "--ack-from",
        ),
        (
            &[
                "send",
                "--to",
                "127.0.0.1:9",
                "--ack",
                "native",
                "--ack-from",
                "0.0.0.0:7",
            ],
            "--ack-from",
        ),
        (
            &["recv", "--bind", "127.0.0.1:0", "--from", "0.0.0.0:5000"],
            "--from",
        ),
        (
            &["recv", "--bind", "127.0.0.1:0", "--from", "127.0.0.1:0"],
            "--from",
        ),
        (
            &["recv", "--bind", "127.0.0.1:0", "--from", "somewhere"],
            "--from",
        ),
        (
            &["recv", "--bind", "127.0.0.1:0", "--count", "0"],
            "--count",
        ),
        (
            &["recv", "--bind", "127.0.0.1:0", "--idle-exit-ms", "1e20"],
            "--idle-exit-ms",
        ),
        (
            &[
                "recv",
                "--bind",
                "127.0.0.1:0",
                "--device",
                "--ack-interval-us",
                "1e30",
            ],
            "--ack-interval-us",
        ),
    ];
    for (args, flag) in cases {
        let out = ringshot().args(*args).run();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        let lines: Vec<_> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{args:?}: not one line: {err}");
        assert!(lines[0].starts_with("ringshot: error: "), "{args:?}: {err}");
        assert!(
            lines[0].contains(flag),
            "{args:?}: '{}' lacks {flag}",
            lines[0]
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn send_and_recv_json_over_loopback() {
    // Sent only once the receiver says it listens: a datagram sent earlier would be lost.
    let (rx, rx_addr) = start_recv(&["--count", "20000", "--idle-exit-ms", "3000", "--json"]);
    let addr = rx_addr.to_string();
    let port = rx_addr.port();
    let hlog = std::env::temp_dir().join(format!("ringshot-cli-{port}.hlog"));
    let tx = ringshot()
        .args([
            "send", "--to", &addr, "--count", "20000", "--rate", "200kpps", "--json",
        ])
        .arg("--hdr-log")
        .arg(&hlog)
        .run();
    assert!(
        tx.status.success(),
        "{}",
        String::from_utf8_lossy(&tx.stderr)
    );
    let rx = rx.wait_with_output().unwrap();
    assert!(
        rx.status.success(),
        "{}",
        String::from_utf8_lossy(&rx.stderr)
    );

    let s: serde_json::Value = serde_json::from_slice(&tx.stdout).unwrap();
    for key in [
        "backend",
        "gso",
        "packets",
        "bytes",
        "seconds",
        "pps",
        "gbps",
        "submits",
        "syscalls",
        "submit_ns",
        "submits_over_100us",
        "submits_over_1ms",
        "errors",
        "gso_downgrades",
        "rate_target_pps",
        "rate_error_pct",
        "lateness_ns",
        "window_waits",
        "stalled",
    ] {
        assert!(s.get(key).is_some(), "send JSON lacks {key}: {s}");
    }
    for key in ["p50", "p90", "p99", "p999", "p9999", "max"] {
        assert!(s["submit_ns"].get(key).is_some(), "submit_ns lacks {key}");
    }
    assert_eq!(s["packets"], 20_000);

    let r: serde_json::Value = serde_json::from_slice(&rx.stdout).unwrap();
    for key in [
        "packets",
        "bytes",
        "seconds",
        "pps",
        "lost",
        "reordered",
        "duplicates",
        "late",
        "kernel_drops",
        "gaps_ns",
    ] {
        assert!(r.get(key).is_some(), "recv JSON lacks {key}: {r}");
    }
    assert_eq!(r["packets"], 20_000, "{r}");
    assert_eq!(r["lost"], 0, "{r}");
    assert_eq!(r["corrupt"], 0, "{r}");

    let log = std::fs::read_to_string(&hlog).unwrap();
    let _ = std::fs::remove_file(&hlog);
    assert!(
        log.contains("#[StartTime:") && log.contains("submit"),
        "{log}"
    );
}

/// Waits (generously, the machine may be loaded) for the first datagram on `sock`: proof that
/// the sender is running, and so has its signal handlers installed.
#[cfg(unix)]
fn wait_for_traffic(sock: &std::net::UdpSocket, child: &mut std::process::Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline {
        if sock.recv(&mut buf).is_ok() {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the sender exited before sending: {status}");
        }
    }
    panic!("the sender sent nothing within 60 s");
}

#[cfg(unix)]
fn send_is_stopped_cleanly_by(signal: Signal, status: i32) {
    let (sock, addr) = held_socket(Duration::from_millis(200));
    let hlog = std::env::temp_dir().join(format!(
        "ringshot-cli-signal-{}-{signal}.hlog",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&hlog);
    let mut child = ringshot()
        .args([
            "send",
            "--to",
            &addr,
            "--duration",
            "600",
            "--rate",
            "2kpps",
            "--json",
        ])
        .arg("--hdr-log")
        .arg(&hlog)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = Pid::from_raw(child.id() as i32);
    wait_for_traffic(&sock, &mut child);
    std::thread::sleep(Duration::from_millis(1000));
    kill(pid, signal).unwrap();
    let out = output_within(child, Duration::from_secs(60));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(status), "{signal}: {err}");
    let report = json_of(&out);
    assert_eq!(report["interrupted"], true, "{report}");
    assert!(report.get("error").is_none(), "{report}");
    let packets = report["packets"].as_u64().unwrap();
    assert!(packets >= 1, "{report}");
    let log = std::fs::read_to_string(&hlog).unwrap_or_else(|e| panic!("no hdr-log: {e}"));
    let _ = std::fs::remove_file(&hlog);
    assert!(
        log.contains("#[StartTime:") && log.contains("submit"),
        "{log}"
    );
}

#[cfg(unix)]
#[test]
fn sigint_stops_send_with_the_report_and_exit_130() {
    send_is_stopped_cleanly_by(Signal::SIGINT, 130);
}

#[cfg(unix)]
#[test]
fn sigterm_stops_send_with_the_report_and_exit_143() {
    send_is_stopped_cleanly_by(Signal::SIGTERM, 143);
}

#[cfg(unix)]
fn recv_is_stopped_cleanly_by(signal: Signal, status: i32) {
    let mut child = spawn_piped(&["recv", "--bind", "127.0.0.1:0", "--json"]);
    let pid = Pid::from_raw(child.id() as i32);
    // The "listening on" line comes once the receiver runs (handlers are installed before).
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(line.contains("listening on"), "{line}");
    let port = announced_addr(&line)
        .map(|a| a.port())
        .unwrap_or_else(|| panic!("no address in {line}"));
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let pkt = [0u8; 64];
    tx.send_to(&pkt, ("127.0.0.1", port)).unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    kill(pid, signal).unwrap();
    let out = output_within(child, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(status), "{signal}");
    let report = json_of(&out);
    assert_eq!(report["interrupted"], true, "{report}");
    assert!(report.get("packets").is_some(), "{report}");
}

#[cfg(unix)]
#[test]
fn sigint_stops_recv_with_the_report_and_exit_130() {
    recv_is_stopped_cleanly_by(Signal::SIGINT, 130);
}

#[cfg(unix)]
#[test]
fn sigterm_stops_recv_with_the_report_and_exit_143() {
    recv_is_stopped_cleanly_by(Signal::SIGTERM, 143);
}

#[test]
fn a_send_to_a_closed_port_completes_with_every_packet_counted_once() {
    let addr = format!("127.0.0.1:{}", free_port());
    let child = spawn_piped(&[
        "send", "--to", &addr, "--count", "5000", "--rate", "50kpps", "--json",
    ]);
    let out = output_within(child, Duration::from_secs(120));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json_of(&out);
    assert_eq!(report["packets"], 5000, "{report}");
    assert_eq!(report["interrupted"], false, "{report}");
}

/// Relaxed order to a closed port: each refused send is overtaken by the rest of its batch,
/// and the report counts those packets; every packet is still counted once. (io_uring and mmsg
/// exist on Linux only.)
#[cfg(all(ringshot_uring, ringshot_mmsg))]
#[test]
fn relaxed_order_to_a_closed_port_reports_the_reordered_packets() {
    let addr = format!("127.0.0.1:{}", free_port());
    let child = spawn_piped(&[
        "send",
        "--to",
        &addr,
        "--count",
        "5000",
        "--backend",
        "uring",
        "--no-gso",
        "--send-order",
        "relaxed",
        "--json",
    ]);
    let out = output_within(child, Duration::from_secs(120));
    let err = String::from_utf8_lossy(&out.stderr);
    let report = json_of(&out);
    if report["backend"] != "uring" {
        println!("skipped: io_uring unavailable here ({err})");
        return;
    }
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(report["packets"], 5000, "{report}");
    assert_eq!(report["failed_packets"], 0, "{report}");
    assert!(
        report["errors"]["ECONNREFUSED"].as_u64() > Some(0),
        "{report}"
    );
    let reordered = report["reordered_packets"].as_u64().expect("a count");
    assert!(reordered > 0, "{report}");

    // mmsg stops at a refused datagram by nature: nothing is reordered, and the report says
    // that the order asked for changed nothing.
    let out = ringshot()
        .args(["send", "--to", &addr, "--count", "500", "--backend", "mmsg"])
        .args(["--send-order", "relaxed", "--json"])
        .run();
    let report = json_of(&out);
    assert_eq!(report["packets"], 500, "{report}");
    assert_eq!(report["reordered_packets"], 0, "{report}");
    let notices = report["notices"].to_string();
    assert!(notices.contains("keeps packets in order"), "{report}");
}

#[test]
fn a_stalled_stream_prints_its_report_with_the_error_and_exits_1() {
    // The held socket never ACKs, so the window of 16 closes and stays closed.
    let (_sock, addr) = held_socket(Duration::from_millis(200));
    let child = spawn_piped(&[
        "send",
        "--to",
        &addr,
        "--count",
        "100000",
        "--ack",
        "native",
        "--window-packets",
        "16",
        "--batch",
        "8",
        "--stall-timeout",
        "200ms",
        "--json",
    ]);
    let out = output_within(child, Duration::from_secs(120));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let report = json_of(&out);
    assert_eq!(report["stalled"], true, "{report}");
    let msg = report["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error: {report}"));
    assert!(msg.contains("stalled"), "{msg}");
    assert_eq!(report["interrupted"], false, "{report}");
    assert!(report["packets"].as_u64().unwrap() <= 16, "{report}");
    assert!(err.contains("ringshot: error: stalled"), "{err}");
}

/// The library names its own options (`dest`, `pace_quantum`, ...); the CLI prints the flag that
/// set each one.
#[test]
fn config_errors_name_the_send_flag_that_set_the_option() {
    let max = u64::MAX.to_string();
    let cases: &[(&[&str], &str)] = &[
        (&["--to", "127.0.0.1:0"], "--to: "),
        (
            &["--to", "127.0.0.1:9", "--pace-quantum-us", "50"],
            "--pace-quantum-us: ",
        ),
        (&["--to", "127.0.0.1:9", "--prefill", "5"], "--prefill: "),
        (
            &["--to", "127.0.0.1:9", "--sched-fifo", "0"],
            "--sched-fifo: ",
        ),
        (
            &["--to", "127.0.0.1:9", "--slots", "8", "--batch", "16"],
            "--slots: ",
        ),
        (
            &["--to", "127.0.0.1:9", "--start-seq", &max, "--count", "2"],
            "--start-seq: ",
        ),
        (
            &[
                "--to",
                "127.0.0.1:9",
                "--send-order",
                "relaxed",
                "--format",
                "chdr",
            ],
            "--send-order: ",
        ),
    ];
    for (args, prefix) in cases {
        let out = ringshot().arg("send").args(*args).run();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        let lines: Vec<_> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{args:?}: not one line: {err}");
        let expected = format!("ringshot: error: {prefix}");
        assert!(lines[0].starts_with(&expected), "{args:?}: {err}");
    }
}

/// `-v` (before or after the subcommand) and `RINGSHOT_LOG` are accepted, and whatever the
/// library logs reaches stderr as `ringshot: <level>: ...` lines.
#[test]
fn verbose_flags_and_the_log_variable_keep_the_line_format() {
    let runs: &[(&[&str], Option<&str>)] = &[
        (&["-v", "send"], None),
        (&["send", "-vvv"], None),
        (&["send"], Some("trace")),
    ];
    for (lead, env) in runs {
        let (sock, addr) = held_socket(Duration::from_millis(200));
        let mut cmd = ringshot();
        cmd.args(*lead)
            .args(["--to", &addr, "--count", "200", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match env {
            Some(filter) => cmd.env("RINGSHOT_LOG", filter),
            None => cmd.env_remove("RINGSHOT_LOG"),
        };
        let out = output_within(cmd.spawn().unwrap(), Duration::from_secs(120));
        drop(sock);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{lead:?} {env:?}: {err}");
        assert_eq!(json_of(&out)["packets"], 200, "{lead:?} {env:?}");
        for l in err.lines().filter(|l| !l.trim().is_empty()) {
            assert!(l.starts_with("ringshot: "), "{lead:?} {env:?}: {l}");
        }
    }
}

/// `ringshot man | head -0`: a closed pipe ends the program quietly, with no panic message.
#[cfg(unix)]
#[test]
fn a_closed_stdout_pipe_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ringshot"))
        .arg("man")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Close the reading end before the program has started writing.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        out.status.success() || out.status.signal() == Some(libc::SIGPIPE),
        "{:?}",
        out.status
    );
}
