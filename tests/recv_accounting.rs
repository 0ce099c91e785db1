//! What `ringshot recv` counts, and in what unit, over real loopback sockets: a format without
//! sequence numbers gets no sequence accounting (no loss is read out of bytes that are not a
//! sequence), datagrams from another sender are counted one by one even when GRO hands them
//! over coalesced, and the engines of `send --engines 2` are checked each on its own by
//! `recv --senders 2`.

use std::net::{SocketAddr, UdpSocket};
use std::process::Output;
use std::time::Duration;

#[path = "common/binary.rs"]
mod binary;
use binary::{json_of, output_within, start_recv, text};

/// A small xorshift generator: the test's "random" bytes, the same every run.
struct XorShift(u64);

impl XorShift {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            let b = self.0.to_le_bytes();
            chunk.copy_from_slice(&b[..chunk.len()]);
        }
    }
}

/// Sends 3,000 datagrams of 1472 random bytes to `to`, every 1,000th (from the 500th) all
/// zeros: where ringshot's header would hold its sequence number, the zeros read as sequence 0,
/// the start sequence. Paced lightly so no receive buffer overflows.
fn send_random(to: SocketAddr) {
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut buf = [0u8; 1472];
    for i in 0..3_000u32 {
        if i % 1_000 == 500 {
            buf = [0; 1472];
        } else {
            rng.fill(&mut buf);
        }
        assert_eq!(tx.send_to(&buf, to).unwrap(), buf.len());
        if i % 100 == 99 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Runs a raw-format receiver with `extra` flags, feeds it [`send_random`] and returns its
/// output once it has exited (idle exit).
fn raw_run(extra: &[&str]) -> Output {
    let args: Vec<&str> = [
        "--format",
        "raw",
        "--fail-on-loss",
        "--idle-exit-ms",
        "1000",
    ]
    .into_iter()
    .chain(extra.iter().copied())
    .collect();
    let (rx, addr) = start_recv(&args);
    send_random(addr);
    output_within(rx, Duration::from_secs(30))
}

/// Issue 20, item 9: random raw datagrams with an all-zero one every 1,000 read as a sender
/// restarting at sequence 0, and as thousands of lost packets. Raw has no sequence numbers:
/// one stream, no sequence counts at all (null in the JSON and its interval rows, "n/a" in the
/// table), and `--fail-on-loss` has no loss to fail on.
#[test]
fn raw_format_has_no_sequence_accounting() {
    let out = raw_run(&["--json", "--no-verify", "--interval", "0.2"]);
    let r = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{r}\n{}", text(&out.stderr));
    assert_eq!(r["packets"].as_u64(), Some(3_000), "{r}");
    assert_eq!(r["bytes"].as_u64(), Some(3_000 * 1472), "{r}");
    for key in [
        "lost",
        "reordered",
        "duplicates",
        "late",
        "implausible",
        "first_seq",
        "last_seq",
    ] {
        assert!(r[key].is_null(), "{key} must be null for raw: {r}");
    }
    assert_eq!(r["foreign"].as_u64(), Some(0), "{r}");
    let rows = r["intervals"].as_array().expect("intervals[]");
    assert!(!rows.is_empty(), "{r}");
    assert!(rows.iter().all(|x| x["lost"].is_null()), "{r}");
    let streams = r["streams"].as_array().expect("streams[]");
    assert_eq!(streams.len(), 1, "one sender, one stream: {r}");
    let s = &streams[0];
    assert_eq!(s["packets"].as_u64(), Some(3_000), "{s}");
    assert_eq!(s["closed_by"], "end", "{s}");
    for key in [
        "lost",
        "reordered",
        "duplicates",
        "late",
        "first_seq",
        "last_seq",
    ] {
        assert!(
            s[key].is_null(),
            "streams[0].{key} must be null for raw: {s}"
        );
    }

    // The table says why there are no sequence counts, and prints none.
    let out = raw_run(&["--no-verify", "--interval", "0"]);
    let table = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{table}\n{}", text(&out.stderr));
    let seq_line = table
        .lines()
        .find(|l| l.trim_start().starts_with("sequence"))
        .unwrap_or_else(|| panic!("no sequence line in\n{table}"));
    assert!(
        seq_line.contains("n/a (raw has no sequence numbers)"),
        "{seq_line}"
    );
    assert!(!seq_line.contains("lost"), "{seq_line}");
    assert!(table.contains("3000 (4416000 bytes)"), "{table}");
}

/// `ringshot send` with this many packets to `to`, GSO on, paced; must succeed.
#[cfg(target_os = "linux")]
fn send_gso(to: SocketAddr, count: u64) {
    use binary::RunExt;
    let out = binary::ringshot()
        .args([
            "send",
            "--to",
            &to.to_string(),
            "--gso",
            "--payload",
            "1472",
        ])
        .args(["--count", &count.to_string(), "--rate", "200kpps"])
        .run();
    assert!(out.status.success(), "send: {}", text(&out.stderr));
}

/// Issue 20, item 10: a second sender's GSO datagrams reach a GRO receiver coalesced, tens to a
/// buffer; `foreign` counts the datagrams, not the buffers (it read 910 for 40,000 datagrams).
/// UDP GSO and GRO are Linux's.
#[cfg(target_os = "linux")]
#[test]
fn foreign_counts_a_second_gso_senders_datagrams() {
    let (rx, addr) = start_recv(&["--one-off", "--json", "--idle-exit-ms", "1000"]);
    send_gso(addr, 1_000);
    send_gso(addr, 20_000);
    let out = output_within(rx, Duration::from_secs(30));
    let r = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{r}\n{}", text(&out.stderr));
    if r["gro"] != true {
        eprintln!("skipping the GRO foreign count: UDP GRO is unavailable: {r}");
        return;
    }
    assert_eq!(
        r["kernel_drops"].as_u64(),
        Some(0),
        "nothing may be dropped: {r}"
    );
    assert_eq!(
        (r["packets"].as_u64(), r["lost"].as_u64()),
        (Some(1_000), Some(0)),
        "{r}"
    );
    assert_eq!(r["foreign"].as_u64(), Some(20_000), "{r}");
}

/// `ringshot send --engines 2` (2 sockets, 2 sequence spaces) with `count` packets to `to`,
/// pattern-filled and paced; must succeed.
fn send_two_engines(to: SocketAddr, count: u64) {
    use binary::RunExt;
    let out = binary::ringshot()
        .args(["send", "--to", &to.to_string(), "--engines", "2"])
        .args(["--tx-cores", "0,0", "--rate", "100kpps"])
        .args(["--count", &count.to_string()])
        .run();
    assert!(out.status.success(), "send: {}", text(&out.stderr));
}

/// The engines of `send --engines 2` into one `recv --senders 2`: each engine's packets all
/// arrive, once and in order, in a stream of its own; nothing is foreign, and the totals are
/// the streams' sums.
#[test]
fn two_engines_into_recv_senders_2_are_each_checked_whole() {
    const N: u64 = 20_001;
    let (rx, addr) = start_recv(&[
        "--senders",
        "2",
        "--json",
        "--fail-on-loss",
        "--idle-exit-ms",
        "1500",
    ]);
    send_two_engines(addr, N);
    let out = output_within(rx, Duration::from_secs(60));
    let r = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{r}\n{}", text(&out.stderr));
    let totals: Vec<Option<u64>> = ["packets", "lost", "reordered", "duplicates", "late"]
        .iter()
        .map(|k| r[k].as_u64())
        .collect();
    assert_eq!(totals, [Some(N), Some(0), Some(0), Some(0), Some(0)], "{r}");
    let others: Vec<Option<u64>> = ["corrupt", "foreign", "implausible"]
        .iter()
        .map(|k| r[k].as_u64())
        .collect();
    assert_eq!(others, [Some(0), Some(0), Some(0)], "{r}");
    let streams = r["streams"].as_array().expect("streams[]");
    assert_eq!(streams.len(), 2, "one stream per engine: {r}");
    // The count's remainder goes to the first engine: 10,001 and 10,000.
    let mut sizes: Vec<u64> = streams
        .iter()
        .map(|s| s["packets"].as_u64().unwrap())
        .collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [N / 2, N / 2 + 1], "{r}");
    for s in streams {
        let n = s["packets"].as_u64().unwrap();
        let seq: Vec<Option<u64>> = ["lost", "reordered", "duplicates", "late"]
            .iter()
            .map(|k| s[k].as_u64())
            .collect();
        assert_eq!(seq, [Some(0), Some(0), Some(0), Some(0)], "{s}");
        assert_eq!(
            (s["first_seq"].as_u64(), s["last_seq"].as_u64()),
            (Some(0), Some(n - 1)),
            "{s}"
        );
        assert_eq!(s["closed_by"], "end", "{s}");
    }
    assert_ne!(streams[0]["source"], streams[1]["source"], "{r}");
}

/// The same engines into a receiver without `--senders`: the second engine is foreign, by
/// reason and address, and the receiver says which flag checks both.
#[test]
fn two_engines_into_one_sender_recv_are_foreign_with_a_hint() {
    use std::io::{BufReader, Read};
    const N: u64 = 4_000;
    let mut rx = binary::spawn_piped(&[
        "recv",
        "--bind",
        "127.0.0.1:0",
        "--json",
        "--idle-exit-ms",
        "1000",
    ]);
    let mut stderr = BufReader::new(rx.stderr.take().unwrap());
    let addr = binary::read_announced_addr(&mut stderr);
    let rest = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = stderr.read_to_string(&mut rest);
        rest
    });
    send_two_engines(addr, N);
    let out = output_within(rx, Duration::from_secs(30));
    let err = rest.join().unwrap();
    let r = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{r}\n{err}");
    assert_eq!(
        (r["packets"].as_u64(), r["lost"].as_u64()),
        (Some(N / 2), Some(0)),
        "{r}"
    );
    assert_eq!(r["foreign"].as_u64(), Some(N / 2), "{r}");
    assert_eq!(
        r["foreign_reasons"]["senders_busy"].as_u64(),
        Some(N / 2),
        "{r}"
    );
    assert_eq!(
        r["foreign_sources"].as_array().map(Vec::len),
        Some(1),
        "{r}"
    );
    assert!(err.contains("run recv --senders 2"), "{err}");
}
