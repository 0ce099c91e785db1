//! The binary's contract: exit 2 with one line naming the flag on bad input; `--json` objects with
//! the documented keys from real runs over loopback.

use std::process::{Command, Stdio};

fn ringshot() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ringshot"))
}

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
            &["recv", "--bind", "127.0.0.1:0", "--rx-core", "4096"],
            "--rx-core",
        ),
        (
            &["recv", "--bind", "127.0.0.1:0", "--backend", "dpdk"],
            "--backend",
        ),
        (&["bench", "--payloads", "8"], "--payloads"),
        (&["send"], "--to"),
    ];
    for (args, flag) in cases {
        let out = ringshot().args(*args).output().unwrap();
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
    let port = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap().port()
    };
    let addr = format!("127.0.0.1:{port}");
    let rx = ringshot()
        .args([
            "recv",
            "--bind",
            &addr,
            "--count",
            "20000",
            "--idle-exit-ms",
            "3000",
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let hlog = std::env::temp_dir().join(format!("ringshot-cli-{port}.hlog"));
    let tx = ringshot()
        .args([
            "send", "--to", &addr, "--count", "20000", "--rate", "200kpps", "--json",
        ])
        .arg("--hdr-log")
        .arg(&hlog)
        .output()
        .unwrap();
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
