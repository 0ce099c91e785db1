//! The command line as a new user tries it (issue 23): iperf3's address habits (`--bind :PORT`,
//! `--to HOST` with the default port), exit statuses a script can rely on (`--fail-on-loss` when
//! nothing arrived or nothing listened, with `"error"` in the one JSON object), values that were
//! accepted without a word (a CPU that does not exist, a sample size that overflows, a payload too
//! small for its framing, a payload file that is not a file, a receiver without the sender's
//! `--start-seq`), a compact `-h`, and interval lines that cover whole intervals from the first
//! packet. Real runs over loopback.

use std::net::UdpSocket;
use std::process::{Child, Output};
use std::time::Duration;

#[path = "common/binary.rs"]
mod binary;
use binary::{json_of, output_within, ringshot, spawn_piped, text, RunExt};

fn run(args: &[&str]) -> Output {
    ringshot().args(args).run()
}

/// A running `ringshot recv`, the address it announced, and the thread collecting its stderr.
struct Rx {
    child: Child,
    announced: String,
    stderr: std::thread::JoinHandle<String>,
}

/// Starts `ringshot recv args` and waits (at most 60 s) for its "listening on" line.
fn recv(args: &[&str]) -> Rx {
    use std::io::BufRead;
    let mut child = spawn_piped(&[&["recv"], args].concat());
    let err = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = std::thread::spawn(move || {
        let mut all = String::new();
        for line in std::io::BufReader::new(err).lines() {
            let Ok(line) = line else { break };
            if line.contains("listening on") {
                let _ = tx.send(line.clone());
            }
            all += &line;
            all.push('\n');
        }
        all
    });
    let announced = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the receiver did not start listening within 60 s");
    Rx {
        child,
        announced,
        stderr,
    }
}

/// Waits for the receiver (at most 60 s); returns its output with stderr.
fn finish(rx: Rx) -> Output {
    let mut out = output_within(rx.child, Duration::from_secs(60));
    out.stderr = rx.stderr.join().unwrap().into_bytes();
    out
}

fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// Exit 2 with one line on stderr that names `flag`.
fn assert_usage(out: &Output, flag: &str) {
    assert_exit(out, 2);
    let err = text(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "not one line: {err}");
    assert!(lines[0].contains(flag), "{flag} not named: {err}");
}

// ---- 1. iperf3 habits ----

#[test]
fn bind_colon_port_and_bare_port_mean_all_addresses() {
    for form in [":{}", "{}"] {
        let port = binary::free_port();
        let bind = form.replace("{}", &port.to_string());
        let rx = recv(&["--bind", &bind, "--count", "50", "--idle-exit-ms", "20s"]);
        assert!(
            rx.announced
                .contains(&format!("listening on 0.0.0.0:{port} ")),
            "--bind {bind}: {}",
            rx.announced
        );
        // All addresses: the loopback address reaches it.
        let to = format!("127.0.0.1:{port}");
        let s = run(&["send", "--to", &to, "--count", "50", "--rate", "20kpps"]);
        assert_exit(&s, 0);
        let out = finish(rx);
        assert_exit(&out, 0);
        assert!(
            text(&out.stdout).contains("packets         50 "),
            "{}",
            text(&out.stdout)
        );
    }
}

#[test]
fn to_host_without_a_port_sends_to_the_default_port_5000() {
    let Ok(sock) = UdpSocket::bind("127.0.0.1:5000") else {
        eprintln!("skipped: 127.0.0.1:5000 is in use here");
        return;
    };
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    for host in ["127.0.0.1", "localhost"] {
        let out = run(&["send", "--to", host, "--count", "3"]);
        assert_exit(&out, 0);
        let mut buf = [0u8; 2048];
        let n = sock.recv(&mut buf).expect("nothing arrived at port 5000");
        assert_eq!(n, 1472, "--to {host}");
        while sock
            .set_read_timeout(Some(Duration::from_millis(100)))
            .is_ok()
            && sock.recv(&mut buf).is_ok()
        {}
        sock.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
    }
    let help = text(&run(&["send", "--help"]).stdout);
    assert!(help.contains("5000"), "{help}");
}

#[test]
fn to_without_a_host_is_refused() {
    assert_usage(&run(&["send", "--to", ":5000", "--count", "1"]), "--to");
}

// ---- 3. exit codes a script can rely on ----

#[test]
fn recv_fail_on_loss_fails_when_nothing_arrived() {
    for format in ["ringshot", "raw", "vrt"] {
        let out = run(&[
            "recv",
            "--bind",
            "127.0.0.1:0",
            "--one-off",
            "--idle-exit-ms",
            "300ms",
            "--fail-on-loss",
            "--format",
            format,
            "--json",
        ]);
        assert_exit(&out, 1);
        let report = json_of(&out);
        let e = report["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{report}"));
        assert!(e.contains("nothing arrived"), "{format}: {e}");
        assert!(text(&out.stderr).contains("nothing arrived"), "{format}");
        assert_eq!(report["packets"], 0);
    }
    // Without the check, an idle receiver is no failure.
    let out = run(&[
        "recv",
        "--bind",
        "127.0.0.1:0",
        "--one-off",
        "--idle-exit-ms",
        "300ms",
    ]);
    assert_exit(&out, 0);
}

#[test]
fn recv_fail_on_loss_with_loss_has_the_error_in_its_one_json_object() {
    let rx = recv(&[
        "--bind",
        "127.0.0.1:0",
        "--drop-data",
        "0.1",
        "--seed",
        "3",
        "--idle-exit-ms",
        "1s",
        "--fail-on-loss",
        "--json",
    ]);
    let to = binary::announced_addr(&rx.announced).unwrap().to_string();
    assert_exit(
        &run(&["send", "--to", &to, "--count", "2000", "--rate", "50kpps"]),
        0,
    );
    let out = finish(rx);
    assert_exit(&out, 1);
    let report = json_of(&out);
    assert!(report["lost"].as_u64().unwrap() > 0, "{report}");
    let e = report["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{report}"));
    assert!(e.contains("--fail-on-loss"), "{e}");
}

#[test]
fn send_fail_on_loss_fails_when_nothing_listened() {
    let to = format!("127.0.0.1:{}", binary::free_port());
    let args = ["send", "--to", &to, "--count", "3000", "--rate", "100kpps"];
    let out = run(&[&args[..], &["--fail-on-loss", "--json"]].concat());
    assert_exit(&out, 1);
    let report = json_of(&out);
    assert!(
        report["errors"]["ECONNREFUSED"].as_u64().unwrap() > 0,
        "{report}"
    );
    let e = report["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{report}"));
    assert!(e.contains("ECONNREFUSED") && e.contains(&to), "{e}");
    assert!(text(&out.stderr).contains("nothing listened"));
    // Without --fail-on-loss it stays a warning.
    let out = run(&args);
    assert_exit(&out, 0);
    assert!(text(&out.stderr).contains("ECONNREFUSED"));
}

// ---- 8. values accepted without a word ----

/// The CPUs this system has configured (online or not), from sysfs; `None` where unknown.
fn configured_cpus() -> Option<u32> {
    let s = std::fs::read_to_string("/sys/devices/system/cpu/possible").ok()?;
    let last = s.trim().rsplit(['-', ',']).next()?;
    last.parse::<u32>().ok().map(|n| n + 1)
}

#[test]
fn sqpoll_cpu_that_does_not_exist_is_refused() {
    let Some(n) = configured_cpus() else {
        eprintln!("skipped: the number of CPUs is unknown here");
        return;
    };
    let cpu = (n + 100).to_string();
    let out = run(&[
        "send",
        "--to",
        "127.0.0.1:9",
        "--count",
        "10",
        "--sqpoll-idle-ms",
        "10",
        "--sqpoll-cpu",
        &cpu,
    ]);
    assert_usage(&out, "--sqpoll-cpu");
    assert!(text(&out.stderr).contains("does not exist"));
}

#[test]
fn a_library_notice_reaches_the_terminal_with_json_too() {
    // SPEAD heaps that are no whole number of packets: the library notes the GSO runs they cut
    // (with GSO on). What it notes is printed on stderr, also with --json (stdout is the JSON).
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = sock.local_addr().unwrap().to_string();
    let out = run(&[
        "send",
        "--to",
        &to,
        "--format",
        "spead",
        "--heap-size",
        "65536",
        "--heaps",
        "1",
        "--json",
    ]);
    assert_exit(&out, 0);
    let report = json_of(&out);
    let notices = report["notices"].as_array().unwrap();
    if report["gso"] != true {
        eprintln!("skipped: GSO is off here, so there is no notice to show");
        return;
    }
    assert!(!notices.is_empty(), "{report}");
    for n in notices {
        let n = n.as_str().unwrap();
        assert!(
            text(&out.stderr).contains(&format!("note: {n}")),
            "{n} not on stderr: {}",
            text(&out.stderr)
        );
    }
}

#[cfg(target_os = "linux")]
#[test]
fn sqpoll_with_a_backend_that_has_none_says_so() {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = sock.local_addr().unwrap().to_string();
    let out = run(&[
        "send",
        "--to",
        &to,
        "--count",
        "10",
        "--backend",
        "mmsg",
        "--sqpoll-idle-ms",
        "10",
        "--json",
    ]);
    assert_exit(&out, 0);
    let err = text(&out.stderr);
    assert!(
        err.contains("note: --sqpoll-idle-ms: no SQPOLL thread"),
        "{err}"
    );
}

#[test]
fn sample_bytes_that_make_no_sense_are_refused() {
    for bad in ["18446744073709551615", "0", "70000"] {
        let out = run(&[
            "send",
            "--to",
            "127.0.0.1:9",
            "--count",
            "1",
            "--format",
            "vrt",
            "--sample-bytes",
            bad,
        ]);
        assert_usage(&out, "--sample-bytes");
    }
    // Larger than a packet's room: no packet carries a sample.
    let out = run(&[
        "send",
        "--to",
        "127.0.0.1:9",
        "--count",
        "1",
        "--format",
        "vrt",
        "--sample-bytes",
        "2000",
    ]);
    assert_usage(&out, "--sample-bytes");
}

#[test]
fn a_payload_too_small_for_the_framing_is_refused() {
    // (format, a payload too small for its header and one sample word)
    for (format, payload) in [
        ("vrt", "10"),
        ("vrt", "11"),
        ("usrp2", "14"),
        ("chdr", "10"),
        ("spead", "55"),
        ("ringshot", "15"),
        ("raw", "0"),
    ] {
        let out = run(&[
            "send",
            "--to",
            "127.0.0.1:9",
            "--count",
            "1",
            "--format",
            format,
            "--payload",
            payload,
        ]);
        assert_usage(&out, "--payload");
    }
}

#[test]
fn a_payload_rounded_to_whole_words_or_samples_says_what_it_sends() {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let to = sock.local_addr().unwrap().to_string();
    // (format, --payload, more flags, the size sent)
    let cases: [(&str, &str, &[&str], usize); 4] = [
        ("vrt", "1474", &["--count", "1"], 1472),
        ("spead", "1475", &["--heaps", "1"], 1472),
        ("chdr", "13", &["--count", "1"], 12),
        (
            "vrt",
            "1472",
            &["--count", "1", "--sample-bytes", "5"],
            1468,
        ),
    ];
    for (format, payload, more, size) in cases {
        let args = [
            "send",
            "--to",
            &to,
            "--format",
            format,
            "--payload",
            payload,
        ];
        let out = run(&[&args[..], more].concat());
        assert_exit(&out, 0);
        let mut buf = [0u8; 2048];
        let n = sock.recv(&mut buf).unwrap();
        assert_eq!(n, size, "{format} {payload} {more:?}");
        // The rest of the stream (SPEAD's later packets and its stop heap).
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        while sock.recv(&mut buf).is_ok() {}
        sock.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let err = text(&out.stderr);
        assert!(
            err.contains("note: --payload") && err.contains(&format!("{n}-byte packets")),
            "the {n}-byte packets sent are not noted: {err}"
        );
    }
}

#[cfg(unix)]
#[test]
fn a_payload_file_that_is_not_a_regular_file_is_refused_by_name() {
    let out = run(&[
        "send",
        "--to",
        "127.0.0.1:9",
        "--count",
        "1",
        "--payload-file",
        "/dev/zero",
    ]);
    assert_usage(&out, "--payload-file");
    let err = text(&out.stderr);
    assert!(err.contains("not a regular file"), "{err}");
    assert!(!err.contains("empty"), "{err}");
}

#[test]
fn a_receiver_without_the_senders_start_seq_says_why_it_counts_loss() {
    let help = text(&run(&["recv", "--help"]).stdout);
    // The flag's entry: from its line to the next flag's.
    let start_seq = help
        .split("--start-seq <N>")
        .nth(1)
        .expect("recv --help has --start-seq")
        .split("\n      --")
        .next()
        .unwrap();
    assert!(
        start_seq.contains("lost"),
        "--start-seq help says nothing of loss: {start_seq}"
    );
    let rx = recv(&[
        "--bind",
        "127.0.0.1:0",
        "--one-off",
        "--idle-exit-ms",
        "1s",
        "--interval",
        "0",
    ]);
    let to = binary::announced_addr(&rx.announced).unwrap().to_string();
    assert_exit(
        &run(&["send", "--to", &to, "--count", "100", "--start-seq", "5000"]),
        0,
    );
    let out = finish(rx);
    assert_exit(&out, 0);
    let all = text(&out.stdout) + &text(&out.stderr);
    assert!(
        all.contains("--start-seq 5000"),
        "no hint at the sender's --start-seq: {all}"
    );
}

// ---- 9. small things ----

#[test]
fn short_help_is_compact_and_long_help_complete() {
    let short = text(&run(&["send", "-h"]).stdout);
    let long = text(&run(&["send", "--help"]).stdout);
    assert!(
        short.lines().count() < 85,
        "send -h has {} lines",
        short.lines().count()
    );
    assert!(long.lines().count() > short.lines().count());
    // Every flag is in both; the long explanations only in --help.
    for flag in [
        "--to",
        "--prefill",
        "--sqpoll-cpu",
        "--payload-file",
        "--fail-on-loss",
    ] {
        assert!(short.contains(flag) && long.contains(flag), "{flag}");
    }
    assert!(
        long.contains("ECONNREFUSED"),
        "--fail-on-loss's refused sends"
    );
}

#[test]
fn the_help_example_prefill_is_the_readmes() {
    let help = text(&run(&["send", "--help"]).stdout);
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    // 1 MiB / 1472 B = 712 packets; ACK every 712 / 8 = 89; prefill 712 - 2 × 89 = 534.
    let window = 1_048_576 / 1472;
    let prefill = window - 2 * (window / 8);
    assert_eq!(prefill, 534);
    for text in [&help, &readme] {
        assert!(text.contains(&format!("--prefill {prefill}")), "{text}");
        assert!(text.contains(&format!("--window-packets {window}")));
    }
    assert!(!help.contains("--prefill 356"));
}

#[test]
fn recv_intervals_start_at_the_first_packet_and_end_at_the_last() {
    let rx = recv(&[
        "--bind",
        "127.0.0.1:0",
        "--one-off",
        "--idle-exit-ms",
        "1500ms",
        "--interval",
        "500ms",
        "--json",
    ]);
    let to = binary::announced_addr(&rx.announced).unwrap().to_string();
    // The receiver waits 800 ms before the first packet, then gets about 1.2 s of packets.
    std::thread::sleep(Duration::from_millis(800));
    assert_exit(
        &run(&[
            "send",
            "--to",
            &to,
            "--count",
            "2400",
            "--rate",
            "2kpps",
            "--interval",
            "0",
        ]),
        0,
    );
    let out = finish(rx);
    assert_exit(&out, 0);
    let report = json_of(&out);
    let rows = report["intervals"].as_array().unwrap();
    assert!(rows.len() >= 2, "{report}");
    assert_eq!(rows[0]["start"], 0.0, "{report}");
    assert!(rows[0]["packets"].as_u64().unwrap() > 0, "{report}");
    assert!(
        rows.last().unwrap()["packets"].as_u64().unwrap() > 0,
        "{report}"
    );
    // Whole intervals (all but the one holding the last packet, if the run ended in it).
    for r in &rows[..rows.len() - 1] {
        let len = r["end"].as_f64().unwrap() - r["start"].as_f64().unwrap();
        // Closed by a 50 ms poll on a shared machine: whole, give or take the poll.
        assert!((len - 0.5).abs() < 0.25, "a partial interval: {r}");
    }
    let total: u64 = rows.iter().map(|r| r["packets"].as_u64().unwrap()).sum();
    assert_eq!(total, report["packets"].as_u64().unwrap(), "{report}");
}

#[test]
fn recv_interval_lines_end_without_an_empty_line() {
    let rx = recv(&[
        "--bind",
        "127.0.0.1:0",
        "--one-off",
        "--idle-exit-ms",
        "1500ms",
        "--interval",
        "500ms",
    ]);
    let to = binary::announced_addr(&rx.announced).unwrap().to_string();
    std::thread::sleep(Duration::from_millis(800));
    assert_exit(
        &run(&[
            "send",
            "--to",
            &to,
            "--count",
            "2000",
            "--rate",
            "2kpps",
            "--interval",
            "0",
        ]),
        0,
    );
    let out = finish(rx);
    assert_exit(&out, 0);
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with('[')).collect();
    assert!(!lines.is_empty(), "{stdout}");
    assert!(!lines[0].contains(" 0 packets"), "{stdout}");
    assert!(!lines.last().unwrap().contains(" 0 packets"), "{stdout}");
}
