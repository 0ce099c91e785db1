//! The command line people expect (issue 12): units and addresses as typed, clap's tips, a
//! reusable receiver, idle exit before the first packet, interval reports, exit statuses that
//! scripts can trust, help with headings and examples, `--version` with the kernel's features,
//! completions, the man page, and docs/cli.md kept current. Real runs over loopback.

use std::process::{Child, Output};
use std::time::Duration;

#[path = "common/binary.rs"]
mod binary;
use binary::{json_of, output_within, ringshot, spawn_piped, text, RunExt};

fn run(args: &[&str]) -> Output {
    ringshot().args(args).run()
}

/// A free loopback port (bound and released; nothing else here takes ports at random).
fn free_addr() -> String {
    format!("127.0.0.1:{}", binary::free_port())
}

/// A running `ringshot recv` and the thread collecting its stderr.
struct Rx {
    child: Child,
    stderr: std::thread::JoinHandle<Vec<u8>>,
}

/// Waits for the receiver (at most 60 s) and returns its output, stderr included.
fn finish(rx: Rx) -> Output {
    let mut out = output_within(rx.child, Duration::from_secs(60));
    out.stderr = rx.stderr.join().unwrap();
    out
}

/// Starts `ringshot recv` with `args` (stdout and stderr piped) and waits until it listens.
fn recv(args: &[&str]) -> Rx {
    let mut child = spawn_piped(&[&["recv"], args].concat());
    // "listening on" comes on stderr once the socket is bound; read it without blocking forever.
    let mut err = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = std::thread::spawn(move || {
        use std::io::Read;
        let mut seen = Vec::new();
        let mut b = [0u8; 256];
        while let Ok(n) = err.read(&mut b) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&b[..n]);
            if text(&seen).contains("listening on") {
                let _ = tx.send(());
            }
        }
        seen
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the receiver did not start listening within 60 s");
    Rx { child, stderr }
}

fn send_ok(args: &[&str]) -> Output {
    let out = ringshot().arg("send").args(args).run();
    assert!(out.status.success(), "send {args:?}: {}", text(&out.stderr));
    out
}

fn usage_error(args: &[&str], flag: &str, also: &str) {
    let out = run(args);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    assert!(err.contains(flag) && err.contains(also), "{args:?}: {err}");
}

/// `recv --senders`: a count from 1 to 256, and not where the run checks one sender.
#[test]
fn recv_senders_bad_values_exit_2_naming_the_flag() {
    let recv = |more: &[&'static str]| [&["recv", "--bind", "127.0.0.1:0"][..], more].concat();
    usage_error(&recv(&["--senders", "0"]), "--senders", "between 1 and 256");
    usage_error(
        &recv(&["--senders", "257"]),
        "--senders",
        "between 1 and 256",
    );
    usage_error(&recv(&["--senders", "two"]), "--senders", "not a number");
    let from = ["--senders", "2", "--from", "127.0.0.1:9"];
    usage_error(&recv(&from), "--from", "several senders");
    usage_error(
        &recv(&["--senders", "2", "--device"]),
        "--senders",
        "device",
    );
    let spead = ["--senders", "2", "--format", "spead"];
    usage_error(&recv(&spead), "--senders", "SPEAD");
}

#[test]
fn units_durations_and_addresses_as_typed() {
    let (sock, port) = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let p = s.local_addr().unwrap().port();
        (s, p)
    };
    let host = format!("localhost:{port}");
    let out = send_ok(&[
        "--to",
        &host,
        "--count",
        "200",
        "--rate",
        "100M",
        "--stall-timeout",
        "1m",
    ]);
    assert!(
        text(&out.stderr).contains(&format!("localhost:{port} is ")),
        "the resolved address is printed: {}",
        text(&out.stderr)
    );
    for rate in ["1G", "1Gbit/s", "1gbps", "500KPPS", "1.5Mpps"] {
        send_ok(&["--to", &host, "--count", "50", "--rate", rate]);
    }
    send_ok(&["--to", &host, "--duration", "300ms", "--rate", "10kpps"]);
    drop(sock);
    let to = ["send", "--to", "127.0.0.1:9"];
    for (flags, flag, also) in [
        (["--rate", "1mpps"], "--rate", "Mpps"),
        (["--rate", "1000"], "--rate", "unit"),
        (["--duration", "2y"], "--duration", "year"),
    ] {
        usage_error(&[&to[..], &flags[..]].concat(), flag, also);
    }
    // A destination without a port goes to port 5000 (issue 23; tests/cli_newuser.rs), but one
    // without a host, or a host that does not resolve, is refused; so is a local address that
    // is an IP without a port.
    for (to, also) in [
        (":5000", "no host"),
        ("no-such-host.invalid:5000", "resolve"),
        ("no-such-host.invalid", "resolve"),
    ] {
        usage_error(&["send", "--to", to], "--to", also);
    }
    for (bind, also) in [("::1", "brackets"), ("localhost", "port")] {
        usage_error(&["recv", "--bind", bind], "--bind", also);
    }
    // [v6]:port parses (the run is refused later by --batch, which names its flag).
    usage_error(&["send", "--to", "[::1]:9", "--batch", "0"], "--batch", "");
}

#[test]
fn clap_suggestions_stay_in_the_one_line_error() {
    usage_error(
        &["send", "--to", "127.0.0.1:9", "--cont", "3"],
        "--cont",
        "--count",
    );
    usage_error(
        &["recv", "--bind", "127.0.0.1:0", "--idle-exit", "1"],
        "--idle-exit",
        "--idle-exit-ms",
    );
}

#[test]
fn recv_is_reusable_one_stream_per_sender() {
    let addr = free_addr();
    let rx = recv(&["--bind", &addr, "--idle-exit-ms", "1500", "--json"]);
    send_ok(&["--to", &addr, "--count", "1000", "--rate", "100kpps"]);
    std::thread::sleep(Duration::from_millis(800)); // past the 500 ms stream idle time
    send_ok(&["--to", &addr, "--count", "2000", "--rate", "100kpps"]);
    let out = finish(rx);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r = json_of(&out);
    assert_eq!(
        (r["packets"].as_u64(), r["duplicates"].as_u64()),
        (Some(3000), Some(0)),
        "{r}"
    );
    assert_eq!(
        (r["lost"].as_u64(), r["foreign"].as_u64()),
        (Some(0), Some(0)),
        "{r}"
    );
    let streams = r["streams"].as_array().expect("streams[]");
    assert_eq!(streams.len(), 2, "{r}");
    for (s, (n, why)) in streams.iter().zip([(1000, "new_source"), (2000, "end")]) {
        assert_eq!(s["packets"], n, "{s}");
        assert_eq!(s["closed_by"], why, "{s}");
        assert_eq!(
            (s["lost"].as_u64(), s["duplicates"].as_u64()),
            (Some(0), Some(0)),
            "{s}"
        );
        assert_eq!(
            (s["first_seq"].as_u64(), s["last_seq"].as_u64()),
            (Some(0), Some(n - 1))
        );
    }
    assert_ne!(streams[0]["source"], streams[1]["source"]);
}

#[test]
fn recv_one_off_follows_one_sender_and_counts_the_next_as_foreign() {
    let addr = free_addr();
    let rx = recv(&[
        "--bind",
        &addr,
        "--one-off",
        "--idle-exit-ms",
        "1500",
        "--json",
    ]);
    send_ok(&["--to", &addr, "--count", "1000", "--rate", "100kpps"]);
    std::thread::sleep(Duration::from_millis(800));
    send_ok(&["--to", &addr, "--count", "500", "--rate", "100kpps"]);
    let out = finish(rx);
    let r = json_of(&out);
    // `foreign` counts datagrams (a GRO buffer is one), so at least one, at most 500.
    assert_eq!(r["packets"].as_u64(), Some(1000), "{r}");
    assert!((1..=500).contains(&r["foreign"].as_u64().unwrap()), "{r}");
    assert_eq!(r["streams"].as_array().map(Vec::len), Some(1), "{r}");
}

#[test]
fn idle_exit_applies_before_the_first_packet() {
    let out = output_within(
        spawn_piped(&[
            "recv",
            "--bind",
            "127.0.0.1:0",
            "--idle-exit-ms",
            "300ms",
            "--json",
        ]),
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r = json_of(&out);
    assert_eq!(
        (r["packets"].as_u64(), r["streams"].as_array().map(Vec::len)),
        (Some(0), Some(0))
    );
}

#[test]
fn interval_reports_lines_and_json() {
    let addr = free_addr();
    let rx = recv(&[
        "--bind",
        &addr,
        "--idle-exit-ms",
        "1s",
        "--interval",
        "0.2",
        "--json",
    ]);
    let tx = send_ok(&[
        "--to",
        &addr,
        "--count",
        "20000",
        "--rate",
        "25kpps",
        "--interval",
        "200ms",
        "--json",
    ]);
    let s: serde_json::Value = serde_json::from_slice(&tx.stdout).unwrap();
    let rows = s["intervals"].as_array().expect("send intervals[]");
    assert!(rows.len() >= 2, "{s}");
    let total: u64 = rows.iter().map(|r| r["packets"].as_u64().unwrap()).sum();
    assert_eq!(total, 20_000, "the intervals add up to the run: {s}");
    for key in [
        "start",
        "end",
        "packets",
        "bytes",
        "pps",
        "gbps",
        "submit_p99_ns",
        "lateness_max_ns",
    ] {
        assert!(
            rows[0].get(key).is_some(),
            "interval lacks {key}: {}",
            rows[0]
        );
    }
    assert!(
        rows.iter().any(|r| r["lateness_max_ns"].is_u64()),
        "paced: lateness shown {s}"
    );
    // The engine cuts once more as it ends: the last interval has its figures too.
    assert!(
        rows.last().unwrap()["submit_p99_ns"].is_u64(),
        "the last interval lacks its submit p99: {s}"
    );
    let out = finish(rx);
    let r = json_of(&out);
    let rows = r["intervals"].as_array().expect("recv intervals[]");
    let total: u64 = rows.iter().map(|r| r["packets"].as_u64().unwrap()).sum();
    assert_eq!(total, 20_000, "{r}");
    assert!(rows.iter().all(|r| r["lost"] == 0), "{r}");

    // As lines: one per interval, and none with --interval 0.
    let held = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = held.local_addr().unwrap().to_string();
    let out = send_ok(&[
        "--to",
        &to,
        "--count",
        "6000",
        "--rate",
        "20kpps",
        "--interval",
        "0.1",
    ]);
    let lines = text(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('['))
        .count();
    assert!(lines >= 2, "{}", text(&out.stdout));
    let out = send_ok(&[
        "--to",
        &to,
        "--count",
        "2000",
        "--rate",
        "20kpps",
        "--interval",
        "0",
    ]);
    assert!(!text(&out.stdout).lines().any(|l| l.starts_with('[')));
}

#[test]
fn fail_on_loss_underflow_and_overflow_exit_1_with_the_reason() {
    // Loss: the receiver drops 5 % itself (seeded), so it sees loss without a lossy link.
    for (fail, code) in [(true, 1), (false, 0)] {
        let addr = free_addr();
        let mut args = vec![
            "--bind",
            &addr,
            "--drop-data",
            "0.05",
            "--seed",
            "7",
            "--idle-exit-ms",
            "1s",
        ];
        if fail {
            args.push("--fail-on-loss");
        }
        let rx = recv(&args);
        send_ok(&["--to", &addr, "--count", "2000", "--rate", "100kpps"]);
        let out = finish(rx);
        assert_eq!(out.status.code(), Some(code), "{}", text(&out.stderr));
        if fail {
            assert!(
                text(&out.stderr).contains("lost (--fail-on-loss)"),
                "{}",
                text(&out.stderr)
            );
        }
    }
    // Underflow: the device drains 5× faster than the sender paces.
    let addr = free_addr();
    let rx = recv(&[
        "--bind",
        &addr,
        "--device",
        "--drain-rate",
        "50kpps",
        "--idle-exit-ms",
        "1s",
        "--fail-on-underflow",
    ]);
    let tx = ringshot()
        .args(["send", "--to", &addr, "--count", "2000", "--rate", "10kpps"])
        .args([
            "--window-bytes",
            "1048576",
            "--ack",
            "native",
            "--fail-on-underflow",
        ])
        .run();
    assert_eq!(tx.status.code(), Some(1), "{}", text(&tx.stderr));
    assert!(text(&tx.stderr).contains("underflows (--fail-on-underflow)"));
    let out = finish(rx);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("underflows (--fail-on-underflow)"));
    // Overflow: an unpaced sender without flow control fills a small buffer.
    let addr = free_addr();
    let rx = recv(&[
        "--bind",
        &addr,
        "--device",
        "--device-buffer",
        "65536",
        "--drain-rate",
        "10kpps",
        "--idle-exit-ms",
        "1s",
        "--fail-on-overflow",
    ]);
    send_ok(&["--to", &addr, "--count", "5000"]);
    let out = finish(rx);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("overflows (--fail-on-overflow)"));
    usage_error(
        &["recv", "--bind", "127.0.0.1:0", "--fail-on-underflow"],
        "--fail-on-underflow",
        "--device",
    );
}

#[test]
fn nothing_listening_warns_and_maps_print_as_name_count() {
    let addr = free_addr();
    let out = ringshot()
        .args(["send", "--to", &addr, "--count", "3000", "--rate", "50kpps"])
        .run();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("warning") && err.contains("ECONNREFUSED") && err.contains(&addr),
        "{err}"
    );
    let table = text(&out.stdout);
    assert!(table.contains("ECONNREFUSED="), "{table}");
    assert!(!table.contains("{\""), "no debug maps: {table}");
}

#[test]
fn help_has_headings_defaults_and_examples() {
    let send = text(&run(&["send", "--help"]).stdout);
    let mut at = 0;
    for h in [
        "Target:",
        "Rate and pacing:",
        "Flow control:",
        "Engine:",
        "Output:",
        "Examples:",
    ] {
        let i = send
            .find(h)
            .unwrap_or_else(|| panic!("send --help lacks {h}"));
        assert!(i > at, "{h} out of order");
        at = i;
    }
    assert!(
        send.contains("[default: 1472]") && send.contains("[default: 1000000 unless --duration]")
    );
    let recv = text(&run(&["recv", "--help"]).stdout);
    for h in [
        "Target:",
        "Output:",
        "Device emulator:",
        "Fault injection:",
        "Examples:",
    ] {
        assert!(recv.contains(h), "recv --help lacks {h}");
    }
    assert!(text(&run(&["bench", "--help"]).stdout).contains("× send"));
}

#[test]
fn version_lists_build_and_kernel_features() {
    for flag in ["-V", "--version"] {
        let out = run(&[flag]);
        assert!(out.status.success());
        let v = text(&out.stdout);
        assert!(
            v.starts_with(&format!("ringshot {}", env!("CARGO_PKG_VERSION"))),
            "{v}"
        );
        for f in [
            "backends",
            "kernel:",
            "io_uring",
            "UDP GSO",
            "UDP GRO",
            "zero copy",
            "SQPOLL",
        ] {
            assert!(v.contains(f), "{flag} lacks {f}: {v}");
        }
    }
    let caps = ringshot::capabilities();
    assert!(caps.backends.contains(&"send"));
}

#[test]
fn completions_and_man_page_come_from_the_clap_definition() {
    let bash = run(&["completions", "bash"]);
    assert!(bash.status.success());
    let b = text(&bash.stdout);
    assert!(
        b.contains("_ringshot") && b.contains("--idle-exit-ms") && b.contains("--fail-on-loss")
    );
    assert!(text(&run(&["completions", "zsh"]).stdout).contains("#compdef ringshot"));
    usage_error(&["completions", "tcsh"], "SHELL", "");
    let man = run(&["man"]);
    assert!(man.status.success());
    let m = text(&man.stdout);
    assert!(
        m.contains(".TH ringshot") && m.contains("send") && m.contains("recv"),
        "{m}"
    );
}

/// docs/cli.md holds each subcommand's `--help` between generated markers; this fails when it is
/// stale. `RINGSHOT_BLESS=1 cargo test --test cli_ux docs` rewrites it.
#[test]
fn docs_cli_md_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/cli.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let begin = "<!-- generated from the clap definitions: begin -->";
    let end = "<!-- generated: end -->";
    let (Some(b), Some(e)) = (doc.find(begin), doc.find(end)) else {
        panic!("docs/cli.md lacks the generated markers");
    };
    let mut gen = String::from("\n");
    for sub in [
        &[][..],
        &["send"],
        &["recv"],
        &["bench"],
        &["completions"],
        &["man"],
    ] {
        let mut args: Vec<&str> = sub.to_vec();
        args.push("--help");
        let help = text(&run(&args).stdout);
        gen += &format!(
            "### `ringshot {}`\n\n```text\n{}```\n\n",
            sub.join(" "),
            help
        )
        .replace("`ringshot `", "`ringshot`");
    }
    let fresh = format!("{}{begin}{gen}{}", &doc[..b], &doc[e..]);
    if std::env::var_os("RINGSHOT_BLESS").is_some() {
        std::fs::write(path, &fresh).unwrap();
        return;
    }
    assert!(
        fresh == doc,
        "docs/cli.md is stale: run RINGSHOT_BLESS=1 cargo test --test cli_ux docs"
    );
}

/// Every key of the JSON objects `send --json` and `recv --json` print is documented in
/// docs/cli.md.
#[test]
fn docs_cli_md_names_every_json_key() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/cli.md")).unwrap();
    let addr = free_addr();
    let rx = recv(&[
        "--bind",
        &addr,
        "--idle-exit-ms",
        "1s",
        "--interval",
        "0.1",
        "--json",
    ]);
    let tx = send_ok(&[
        "--to",
        &addr,
        "--count",
        "3000",
        "--rate",
        "20kpps",
        "--interval",
        "0.1",
        "--json",
    ]);
    let r = json_of(&finish(rx));
    let s: serde_json::Value = serde_json::from_slice(&tx.stdout).unwrap();
    let mut missing = Vec::new();
    let mut check = |v: &serde_json::Value| {
        for k in v.as_object().unwrap().keys() {
            if !doc.contains(&format!("`{k}`")) {
                missing.push(k.clone());
            }
        }
    };
    check(&s);
    check(&r);
    check(&s["intervals"][0]);
    check(&r["streams"][0]);
    assert!(missing.is_empty(), "docs/cli.md does not name {missing:?}");
}
