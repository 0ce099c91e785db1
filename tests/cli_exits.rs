//! Every way a run can end leaves a true report (issue 20, item 8): SIGHUP stops `send` and `recv`
//! as SIGTERM does (report printed, exit 129); a stop signal ends `bench` within seconds with the
//! rows measured so far and a partial report folder (exit 130 / 143 / 129); an output path that
//! cannot be written is refused (exit 2, naming the option) before a packet is sent; and with
//! `--json` a failed start prints a JSON object with an `"error"` key. Real runs over loopback.

use std::process::Output;
use std::time::Duration;
#[cfg(unix)]
use std::time::Instant;

#[path = "common/binary.rs"]
mod binary;
#[cfg(unix)]
use binary::spawn_piped;
use binary::{held_socket, json_of, output_within, ringshot, start_recv, text, RunExt};

#[cfg(unix)]
use nix::sys::signal::{kill, Signal};
#[cfg(unix)]
use nix::unistd::Pid;

/// The longest a stopped run may take to end once signalled: generous (the machine is shared),
/// yet far below the length of the run or case it cuts short.
#[cfg(unix)]
const STOP_BOUND: Duration = Duration::from_secs(30);

/// Waits (generously) for the first datagram on `sock`: the sender runs, its handlers installed.
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

/// Signals `child` and waits for it; returns its output and how long it took to end.
#[cfg(unix)]
fn signal_and_wait(child: std::process::Child, signal: Signal) -> (Output, Duration) {
    let pid = Pid::from_raw(child.id() as i32);
    let sent = Instant::now();
    kill(pid, signal).unwrap();
    let out = output_within(child, Duration::from_secs(120));
    (out, sent.elapsed())
}

#[cfg(unix)]
#[test]
fn sighup_stops_send_with_the_report_and_exit_129() {
    let (sock, addr) = held_socket(Duration::from_millis(20));
    let mut child = spawn_piped(&[
        "send",
        "--to",
        &addr,
        "--duration",
        "600",
        "--rate",
        "2kpps",
        "--json",
    ]);
    wait_for_traffic(&sock, &mut child);
    let (out, took) = signal_and_wait(child, Signal::SIGHUP);
    assert_eq!(out.status.code(), Some(129), "{}", text(&out.stderr));
    assert!(took < STOP_BOUND, "took {took:?}");
    let report = json_of(&out);
    assert_eq!(report["interrupted"], true, "{report}");
    assert!(report["packets"].as_u64().unwrap() >= 1, "{report}");
    assert!(report.get("error").is_none(), "{report}");
}

#[cfg(unix)]
#[test]
fn sighup_stops_recv_with_the_table_and_exit_129() {
    let (child, addr) = start_recv(&[]);
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    tx.send_to(&[0u8; 64], addr).unwrap();
    let (out, took) = signal_and_wait(child, Signal::SIGHUP);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(129), "{stdout}");
    assert!(took < STOP_BOUND, "took {took:?}");
    assert!(stdout.contains("ringshot recv: backend"), "{stdout}");
    assert!(stdout.contains("interrupted by SIGHUP"), "{stdout}");
}

/// The socket inodes the process `pid` has open (from /proc/PID/fd).
#[cfg(target_os = "linux")]
fn socket_inodes(pid: u32) -> std::collections::BTreeSet<u64> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Default::default();
    };
    dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            l.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
        })
        .collect()
}

/// Waits until `ready(sockets open now)` holds for the child; panics if it ends or 60 s pass.
#[cfg(target_os = "linux")]
fn wait_for_sockets(
    child: &mut std::process::Child,
    mut ready: impl FnMut(&std::collections::BTreeSet<u64>) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("bench ended before it was signalled: {status}");
        }
        if ready(&socket_inodes(child.id())) {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("bench did not reach the awaited case within 60 s");
}

/// A fresh report folder for one test.
#[cfg(target_os = "linux")]
fn out_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("ringshot-exits-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// The report folder's report.json and summary.md.
#[cfg(target_os = "linux")]
fn report_files(dir: &std::path::Path) -> (serde_json::Value, String) {
    let json = std::fs::read_to_string(dir.join("report.json"))
        .unwrap_or_else(|e| panic!("no report.json in {}: {e}", dir.display()));
    let summary = std::fs::read_to_string(dir.join("summary.md"))
        .unwrap_or_else(|e| panic!("no summary.md in {}: {e}", dir.display()));
    (serde_json::from_str(&json).unwrap(), summary)
}

/// A 60 s throughput case cut short by `signal` as soon as its receiver is open: the run ends
/// within `STOP_BOUND`, exits 128 + the signal, and the partial report says so on stdout (JSON)
/// and in the folder.
#[cfg(target_os = "linux")]
fn bench_case_is_cut_short_by(signal: Signal, status: i32) {
    let dir = out_dir(&format!("cut-{signal}"));
    let mut child = ringshot()
        .args(["bench", "--case-secs", "60", "--payloads", "64", "--json"])
        .arg("--out")
        .arg(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_sockets(&mut child, |s| !s.is_empty());
    let (out, took) = signal_and_wait(child, signal);
    assert_eq!(out.status.code(), Some(status), "{}", text(&out.stderr));
    assert!(took < STOP_BOUND, "a 60 s case took {took:?} to stop");
    let v = json_of(&out);
    assert_eq!(v["interrupted"], true, "{v}");
    assert_eq!(v["interrupted_suite"], "throughput", "{v}");
    // The case that was cut short is not a row: it did not run its time.
    assert_eq!(
        v["throughput"]["results"].as_array().unwrap().len(),
        0,
        "{v}"
    );
    let (report, summary) = report_files(&dir);
    assert_eq!(report["interrupted"], true, "{report}");
    assert!(
        summary.contains(&format!("Partial report: interrupted by {signal}")),
        "{summary}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(target_os = "linux")]
#[test]
fn sigint_cuts_a_bench_case_short_with_a_partial_report_and_exit_130() {
    bench_case_is_cut_short_by(Signal::SIGINT, 130);
}

#[cfg(target_os = "linux")]
#[test]
fn sighup_cuts_a_bench_case_short_with_a_partial_report_and_exit_129() {
    bench_case_is_cut_short_by(Signal::SIGHUP, 129);
}

/// SIGTERM once the second throughput case has opened its sockets (the first case's are closed,
/// so its row is measured): the table and the report folder hold that row, and say they are
/// partial.
#[cfg(target_os = "linux")]
#[test]
fn sigterm_ends_bench_with_the_rows_measured_so_far_and_exit_143() {
    let dir = out_dir("rows");
    let mut child = ringshot()
        .args(["bench", "--case-secs", "1", "--payloads", "64"])
        .arg("--out")
        .arg(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = std::collections::BTreeSet::new();
    wait_for_sockets(&mut child, |s| {
        if first.is_empty() {
            first = s.clone();
            return false;
        }
        !s.is_empty() && s.is_disjoint(&first)
    });
    let (out, took) = signal_and_wait(child, Signal::SIGTERM);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(143),
        "{stdout}{}",
        text(&out.stderr)
    );
    assert!(took < STOP_BOUND, "took {took:?}");
    // The table's header and the first case's row (the plain send backend comes first).
    assert!(stdout.contains("deliv %"), "{stdout}");
    assert!(
        stdout.lines().any(|l| l.starts_with("send ")),
        "no send row: {stdout}"
    );
    assert!(stdout.contains("interrupted by SIGTERM"), "{stdout}");
    let (report, summary) = report_files(&dir);
    assert_eq!(report["interrupted"], true, "{report}");
    let rows = report["throughput"]["results"].as_array().unwrap();
    assert!(!rows.is_empty(), "{report}");
    assert_eq!(rows[0]["backend"], "send", "{report}");
    assert!(
        summary.contains("Partial report: interrupted by SIGTERM"),
        "{summary}"
    );
    assert!(summary.contains("| send"), "{summary}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--hdr-log` where no file can be created (a missing directory, a directory, a file system
/// that takes no files) exits 2 naming the option before a single packet is sent.
#[test]
fn an_unwritable_hdr_log_exits_2_before_any_packet() {
    let missing = std::env::temp_dir().join(format!("ringshot-no-such-dir-{}", std::process::id()));
    let mut paths = vec![missing.join("x.hlog"), std::env::temp_dir()];
    if cfg!(target_os = "linux") {
        paths.push("/proc/ringshot-x.hlog".into());
    }
    for path in paths {
        let (sock, addr) = held_socket(Duration::from_millis(20));
        let out = ringshot()
            .args(["send", "--to", &addr, "--count", "2000", "--rate", "20kpps"])
            .arg("--hdr-log")
            .arg(&path)
            .run();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {err}", path.display());
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("--hdr-log"), "{err}");
        let mut buf = [0u8; 2048];
        assert!(
            sock.recv(&mut buf).is_err(),
            "{}: a packet was sent",
            path.display()
        );
        assert!(!missing.exists());
    }
}

/// `bench --out` naming a folder no file can be written into exits 2 naming the option before
/// any case runs (it used to run the whole suite first).
#[cfg(target_os = "linux")]
#[test]
fn an_unwritable_bench_out_exits_2_before_any_case() {
    let child = spawn_piped(&[
        "bench",
        "--case-secs",
        "30",
        "--payloads",
        "64",
        "--out",
        "/proc",
    ]);
    let out = output_within(child, Duration::from_secs(60));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--out"), "{err}");
    assert!(!text(&out.stdout).contains("deliv %"), "a case ran");
}

/// Stdout as the one JSON object of a failed start: an `"error"` string, nothing else claimed.
fn error_object(out: &Output) -> String {
    let v = json_of(out);
    let e = v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error string: {v}"))
        .to_string();
    assert!(!e.is_empty() && !e.contains('\n'), "{v}");
    e
}

/// With `--json`, a start that fails (an address not on this host, a port in use) prints
/// `{"error": ...}` on stdout, the same reason as the stderr line, and keeps its exit status.
#[test]
fn a_failed_start_under_json_prints_an_error_object() {
    // 192.0.2.1 (TEST-NET-1) is no local address: binding it fails.
    let send = ringshot()
        .args([
            "send",
            "--json",
            "--bind",
            "192.0.2.1:0",
            "--to",
            "127.0.0.1:9",
            "--count",
            "10",
        ])
        .run();
    assert_eq!(send.status.code(), Some(1), "{}", text(&send.stderr));
    let e = error_object(&send);
    assert!(e.contains("starting the send engine"), "{e}");
    assert!(text(&send.stderr).contains(&e), "{}", text(&send.stderr));

    let (_held, addr) = held_socket(Duration::from_millis(20));
    let recv = ringshot()
        .args(["recv", "--json", "--idle-exit-ms", "200", "--bind", &addr])
        .run();
    assert_eq!(recv.status.code(), Some(1), "{}", text(&recv.stderr));
    let e = error_object(&recv);
    assert!(e.contains("starting the receiver"), "{e}");

    // Bad values are still usage errors: exit 2, one line.
    let bad = ringshot()
        .args(["send", "--json", "--to", "127.0.0.1:9", "--batch", "0"])
        .run();
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad.stderr));
}

/// A `--fail-on-*` check that fails under `--json` prints one JSON object (the report), not the
/// report and then an error object.
#[test]
fn a_failed_check_under_json_prints_one_object() {
    let (child, addr) = start_recv(&["--json", "--fail-on-loss", "--idle-exit-ms", "300"]);
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    // Sequence 0 and 5: four packets lost.
    for seq in [0u64, 5] {
        let p = ringshot::wire::header::pattern_packet(0, seq, 64);
        tx.send_to(&p, addr).unwrap();
    }
    let out: Output = output_within(child, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let v = json_of(&out);
    assert!(v["lost"].as_u64().unwrap() > 0, "{v}");
}
