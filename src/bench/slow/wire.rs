//! The wire suite's setup and teardown, and a tiny run of it, where root and the tools
//! (iproute2, ethtool, nftables) are present; otherwise each test prints why it skipped.
//! Benchmark figures are never asserted: only counts, fields and ratios computed from them.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;
use std::time::Duration;

use crate::bench::report::{write_wire, ReportWriter, REPORT_FIELDS};
use crate::bench::wire::netns::{list_namespaces, unavailable_reason};
use crate::bench::wire::{run_wire, Mode, Wire, WireError, WireOptions};
use crate::bench::Placement;
use ringshot::BackendChoice;

/// One wire per process at a time (the names carry the pid).
static ONE_WIRE: Mutex<()> = Mutex::new(());

fn skip() -> bool {
    if let Some(r) = unavailable_reason() {
        println!("SKIPPED: the wire suite {r}");
        return true;
    }
    false
}

fn gone(w_names: &[String]) -> bool {
    let now = list_namespaces();
    w_names.iter().all(|n| !now.contains(n))
}

#[test]
fn the_wire_counts_exactly_what_crosses_and_is_removed() {
    if skip() {
        return;
    }
    let _g = ONE_WIRE.lock().unwrap_or_else(|e| e.into_inner());
    let w = Wire::setup().expect("setup");
    let names = vec![w.near_ns.clone(), w.far_ns.clone()];
    assert!(names.iter().all(|n| list_namespaces().contains(n)));
    // Sender-side: 100 datagrams to the drop port cross and are dropped, counted exactly by the
    // rule (the interface may also see a stray IGMP report of the new link).
    let before = w.dropped_packets().unwrap();
    let rx_before = w.far_rx_packets().unwrap();
    let dest = SocketAddr::new(w.far_addr.into(), Wire::DROP_PORT);
    w.in_near(|| {
        let s = UdpSocket::bind("0.0.0.0:0").unwrap();
        for _ in 0..100 {
            s.send_to(&[7u8; 1472], dest).unwrap();
        }
    })
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(w.dropped_packets().unwrap() - before, 100);
    let crossed = w.far_rx_packets().unwrap() - rx_before;
    assert!((100..=104).contains(&crossed), "{crossed}");
    // End to end: a socket in the far namespace receives from the near one.
    let rx = w
        .in_far(|| {
            let s = UdpSocket::bind(SocketAddr::new(w.far_addr.into(), 0)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s
        })
        .unwrap();
    let to = rx.local_addr().unwrap();
    w.in_near(|| {
        UdpSocket::bind("0.0.0.0:0")
            .unwrap()
            .send_to(b"hello", to)
            .unwrap()
    })
    .unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = rx.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"hello");
    assert_eq!(from.ip(), std::net::IpAddr::from(w.near_addr));
    drop(w);
    assert!(
        gone(&names),
        "namespaces left behind: {:?}",
        list_namespaces()
    );
}

#[test]
fn a_panic_while_the_wire_is_up_still_removes_it() {
    if skip() {
        return;
    }
    let _g = ONE_WIRE.lock().unwrap_or_else(|e| e.into_inner());
    let mut names = Vec::new();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let w = Wire::setup().expect("setup");
        names = vec![w.near_ns.clone(), w.far_ns.clone()];
        panic!("a case failed");
    }));
    assert!(r.is_err());
    assert_eq!(names.len(), 2);
    assert!(
        gone(&names),
        "namespaces left behind: {:?}",
        list_namespaces()
    );
}

#[test]
fn a_stop_request_ends_the_suite_and_removes_the_wire() {
    if skip() {
        return;
    }
    let _g = ONE_WIRE.lock().unwrap_or_else(|e| e.into_inner());
    let stop = AtomicBool::new(true);
    let r = run_wire(&WireOptions::default(), &Placement::auto(), &stop, |_| {});
    assert!(matches!(r, Err(WireError::Interrupted)), "{r:?}");
    let pid = std::process::id();
    assert!(
        !list_namespaces()
            .iter()
            .any(|n| n.starts_with(&format!("rsw-{pid}-"))),
        "{:?}",
        list_namespaces()
    );
}

/// `rounds` are `n` measured pairs and `ratio` the median of their first ÷ second (`n` odd);
/// returns the sorted per-round ratios.
fn assert_median_of_rounds(
    rounds: &[[f64; 2]],
    ratio: Option<f64>,
    n: usize,
    ctx: &str,
) -> Vec<f64> {
    assert_eq!(rounds.len(), n, "{ctx}");
    assert!(rounds.iter().all(|[a, b]| *a > 0.0 && *b > 0.0), "{ctx}");
    let mut r: Vec<f64> = rounds.iter().map(|[a, b]| a / b).collect();
    r.sort_by(f64::total_cmp);
    assert!((ratio.unwrap() - r[r.len() / 2]).abs() < 1e-9, "{ctx}");
    r
}

#[test]
fn a_tiny_wire_run_fills_every_row_and_its_report() {
    if skip() {
        return;
    }
    let _g = ONE_WIRE.lock().unwrap_or_else(|e| e.into_inner());
    let o = WireOptions {
        case_secs: Duration::from_millis(300),
        payloads: vec![1472],
        backends: vec![BackendChoice::Mmsg, BackendChoice::Uring],
        peers: false,
        ratio_rounds: 3,
        // The engines table has its own test below.
        engines_max: 0,
        ..WireOptions::default()
    };
    let stop = AtomicBool::new(false);
    let mut steps = 0;
    let r = run_wire(&o, &Placement::auto(), &stop, |_| steps += 1).expect("wire run");
    assert_eq!(steps, crate::bench::wire::planned_steps(&o));
    let ring: Vec<_> = r.rows.iter().filter(|x| x.sender == "ringshot").collect();
    let raw: Vec<_> = r.rows.iter().filter(|x| x.sender == "raw").collect();
    assert_eq!(ring.len(), 8, "{:?}", r.rows);
    // Every raw loop, the AF_XDP one included (it needs no ringshot backend of its own).
    assert_eq!(raw.len(), 8, "{:?}", r.rows);
    for x in &r.rows {
        assert!(x.sent > 0 && x.crossed > 0, "{x:?}");
        // Nothing but the stream crosses the wire (no IPv6, a permanent neighbour entry), bar
        // a few control datagrams of the engine.
        assert!(x.crossed <= x.sent + 8, "{x:?}");
        // The sender's own rate beside what crossed or was delivered; the engine's CPU in % of
        // a core on ringshot rows only.
        assert!((x.sent_pps - x.sent as f64 / x.seconds).abs() < 1e-6 * x.sent_pps.max(1.0));
        assert_eq!(x.cpu_pct.is_some(), x.sender == "ringshot", "{x:?}");
        assert!(x.cpu_pct.is_none_or(|c| c > 0.0), "{x:?}");
        if x.mode == Mode::SenderSide {
            assert!((x.pps - x.crossed as f64 / x.seconds).abs() < 1e-6 * x.pps.max(1.0));
        } else {
            assert!(x.delivered.unwrap() <= x.sent);
            assert_eq!(x.lost.unwrap(), x.sent - x.delivered.unwrap());
        }
    }
    // The engine's default batch, and each raw loop batching as its ringshot case does: 64 per
    // datagram, two whole super-packets of 44 with GSO at 1472 B.
    for x in ring.iter().chain(&raw) {
        assert_eq!(x.batch, Some(if x.gso { 88 } else { 64 }), "{x:?}");
    }
    // Each sender-side row's ratio is the median of its rounds beside the raw loop of its
    // syscall (ringshot ÷ raw per round), from the measured numbers.
    for x in ring.iter().filter(|x| x.mode == Mode::SenderSide) {
        assert_median_of_rounds(
            &x.raw_rounds,
            x.raw_ratio,
            o.ratio_rounds,
            &format!("{x:?}"),
        );
    }
    // uring beside mmsg per datagram: its own rounds, and the goal reads their median; the same
    // with uring's send order relaxed. Then the raw io_uring SEND loop linked beside unlinked,
    // with rounds of its own.
    assert_eq!(r.backend_rounds.len(), 3, "{:?}", r.backend_rounds);
    let pair = &r.backend_rounds[0];
    assert_eq!(
        (pair.payload, &pair.backends),
        (1472, &["uring".to_string(), "mmsg".to_string()])
    );
    let q = assert_median_of_rounds(
        &pair.rounds,
        pair.ratio,
        o.ratio_rounds,
        &format!("{pair:?}"),
    );
    let relaxed = &r.backend_rounds[1];
    assert_eq!(
        (relaxed.payload, &relaxed.backends),
        (1472, &["uring-relaxed".to_string(), "mmsg".to_string()])
    );
    assert_median_of_rounds(
        &relaxed.rounds,
        relaxed.ratio,
        o.ratio_rounds,
        &format!("{relaxed:?}"),
    );
    let g = r.goals.iter().find(|g| g.goal.contains("relaxed")).unwrap();
    assert_eq!(
        g.goal,
        "1472 B: uring (relaxed send order) ÷ mmsg per datagram (3 rounds)"
    );
    assert_eq!(g.measured, relaxed.ratio);
    let links = &r.backend_rounds[2];
    assert_eq!(
        (links.payload, &links.backends),
        (
            1472,
            &["uring-send".to_string(), "uring-send-unlinked".to_string()]
        )
    );
    assert_median_of_rounds(
        &links.rounds,
        links.ratio,
        o.ratio_rounds,
        &format!("{links:?}"),
    );
    let g = r
        .goals
        .iter()
        .find(|g| g.goal.contains("uring ÷ mmsg"))
        .unwrap();
    assert_eq!(g.goal, "1472 B: uring ÷ mmsg per datagram (3 rounds)");
    assert_eq!(g.measured, pair.ratio);
    let [lo, hi] = g.rounds_range.expect("rounds behind the ratio");
    assert!(lo == q[0] && hi == q[q.len() - 1], "{g:?} {q:?}");
    let dir = std::env::temp_dir().join(format!("ringshot-wire-report-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut w = ReportWriter::create(&dir).unwrap();
    write_wire(&mut w, &r).unwrap();
    let mut suites = serde_json::Map::new();
    suites.insert("wire".into(), serde_json::to_value(&r).unwrap());
    w.report_json(&["test".into()], &r.placement, suites)
        .unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    for f in REPORT_FIELDS {
        assert!(json.get(f).is_some(), "report.json lacks {f}");
    }
    assert_eq!(json["wire"]["rows"].as_array().unwrap().len(), 16);
    assert_eq!(
        json["wire"]["backend_rounds"][0]["rounds"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let svgs: Vec<_> = w.files().iter().filter(|f| f.ends_with(".svg")).collect();
    assert_eq!(svgs.len(), 3, "{:?}", w.files());
    for f in svgs {
        let text = std::fs::read_to_string(dir.join(f)).unwrap();
        roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
    // Eight ringshot rows log submit and reap; the four end-to-end ones add the receiver's gaps.
    let hlogs: Vec<_> = w.files().iter().filter(|f| f.ends_with(".hlog")).collect();
    assert_eq!(hlogs.len(), 4 * 2 + 4 * 3, "{hlogs:?}");
    for f in hlogs {
        use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
        let bytes = std::fs::read(dir.join(f)).unwrap();
        let n = IntervalLogIterator::new(&bytes)
            .filter(|e| matches!(e, Ok(LogEntry::Interval(_))))
            .count();
        assert!(n >= 1, "{f} has no interval");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The peers on the wire: each installed one crosses it, and a missing one is skipped with its
/// reason. iperf3's server listens in the far namespace, and the suite waits for that socket
/// there before starting the client.
#[test]
fn every_installed_peer_crosses_the_wire() {
    if skip() {
        return;
    }
    let _g = ONE_WIRE.lock().unwrap_or_else(|e| e.into_inner());
    let o = WireOptions {
        case_secs: Duration::from_secs(1),
        payloads: vec![1472],
        backends: vec![],
        end_to_end: false,
        raw_loops: false,
        ratio_rounds: 0,
        peers: true,
        engines_max: 0,
        ..WireOptions::default()
    };
    let stop = AtomicBool::new(false);
    let r = run_wire(&o, &Placement::auto(), &stop, |_| {}).expect("wire run");
    for (peer, program) in [
        ("sockperf", "sockperf"),
        ("spead2", "spead2_send.py"),
        ("iperf3", "iperf3"),
    ] {
        let row = r.rows.iter().find(|x| x.sender == peer);
        let skipped = r.skipped.iter().find(|s| s.starts_with(peer));
        if crate::bench::peers::find_program(program).is_none() {
            println!("SKIPPED: {peer}: {program} is not installed");
            assert!(row.is_none(), "{row:?}");
            assert!(skipped.is_some(), "{:?}", r.skipped);
            continue;
        }
        let row = row.unwrap_or_else(|| panic!("{peer} installed but skipped: {skipped:?}"));
        assert!(row.sent > 0 && row.crossed > 0, "{row:?}");
        if row.mode == Mode::EndToEnd {
            let delivered = row
                .delivered
                .expect("an end-to-end row counts what arrived");
            assert!(delivered > 0 && delivered <= row.sent, "{row:?}");
            assert_eq!(row.lost, Some(row.sent - delivered), "{row:?}");
        }
    }
}

/// The wire suite with xdp and mmsg: the xdp rows beside the raw AF_XDP loop in rounds, the
/// xdp ÷ mmsg pair in rounds, and both goals read from them. No figure is judged.
#[test]
fn the_wire_suite_pairs_xdp_with_mmsg_and_with_its_raw_loop() {
    if skip() {
        return;
    }
    let _g = ONE_WIRE.lock().unwrap_or_else(|e| e.into_inner());
    let o = WireOptions {
        case_secs: Duration::from_millis(300),
        payloads: vec![64],
        backends: vec![BackendChoice::Mmsg, BackendChoice::Xdp],
        peers: false,
        end_to_end: false,
        ratio_rounds: 2,
        ..WireOptions::default()
    };
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut steps = 0;
    let r =
        run_wire(&o, &crate::bench::Placement::auto(), &stop, |_| steps += 1).expect("wire run");
    assert_eq!(
        steps,
        crate::bench::wire::planned_steps(&o),
        "{:?}",
        r.skipped
    );
    let xdp: Vec<_> = r.rows.iter().filter(|x| x.backend == "xdp").collect();
    assert_eq!(xdp.len(), 1, "GSO off only: {:?}", r.rows);
    let x = xdp[0];
    assert!(
        x.mode == Mode::SenderSide && !x.gso && x.crossed > 0,
        "{x:?}"
    );
    assert_eq!(x.raw_rounds.len(), 2, "{x:?}");
    let raw = r
        .rows
        .iter()
        .find(|x| x.backend == "xdp-tx")
        .expect("raw AF_XDP row");
    assert!(raw.crossed > 0 && raw.crossed <= raw.sent + 8, "{raw:?}");
    let pair = r
        .backend_rounds
        .iter()
        .find(|p| p.backends == ["xdp".to_string(), "mmsg".to_string()])
        .expect("xdp ÷ mmsg rounds");
    assert_eq!(pair.rounds.len(), 2, "{pair:?}");
    assert!(
        pair.rounds.iter().all(|[a, b]| *a > 0.0 && *b > 0.0),
        "{pair:?}"
    );
    let g = |name: &str| {
        r.goals
            .iter()
            .find(|g| g.goal == name)
            .unwrap_or_else(|| panic!("no goal {name}: {:?}", r.goals))
    };
    assert_eq!(
        g("64 B: xdp ÷ mmsg per datagram (2 rounds)").measured,
        pair.ratio
    );
    assert_eq!(g("64 B: xdp ÷ its raw AF_XDP loop").measured, x.raw_ratio);
    assert!(x.raw_ratio.is_some());
}

/// The pps-vs-N table of engine groups alone (`--wire-engines-only`): every N up to the cores
/// has a rate from each round, the goal line is there, and nothing else was measured.
#[test]
fn the_engines_table_measures_every_n_in_every_round() {
    if skip() {
        return;
    }
    let cores = ringshot::available_cores().len();
    if cores < 2 {
        eprintln!("skipped: the engines table needs two cores, this process has {cores}");
        return;
    }
    let _g = ONE_WIRE.lock().unwrap_or_else(|e| e.into_inner());
    let o = WireOptions {
        case_secs: Duration::from_millis(300),
        ratio_rounds: 2,
        engines_only: true,
        ..WireOptions::default()
    };
    let stop = AtomicBool::new(false);
    let mut steps = 0;
    let r = run_wire(&o, &Placement::auto(), &stop, |_| steps += 1).expect("wire run");
    assert_eq!(steps, crate::bench::wire::planned_steps(&o));
    assert!(r.rows.is_empty(), "{:?}", r.rows);
    let t = r.engines.expect("the engines table");
    let want: Vec<usize> = (1..=cores.min(8)).collect();
    assert_eq!(t.engines, want);
    assert_eq!(t.rounds.len(), 2);
    for round in &t.rounds {
        assert_eq!(round.len(), want.len());
        assert!(round.iter().all(|&pps| pps > 0.0), "{round:?}");
    }
    let ratio = t.two_over_one.expect("two ÷ one");
    // Two rounds: the median of their two ÷ one is the mean of the two.
    let each: Vec<f64> = t.rounds.iter().map(|r| r[1] / r[0]).collect();
    assert!(
        (ratio - (each[0] + each[1]) / 2.0).abs() < 1e-9,
        "{ratio} vs {each:?}"
    );
    let goal = r
        .goals
        .iter()
        .find(|g| g.goal.starts_with("two engines ÷ one"))
        .expect("the goal line");
    assert_eq!(goal.measured, Some(ratio));
    assert!(crate::bench::wire::engines_lines(&t).contains("N = 2:"));
    // The bare loops' baseline, measured in the same rounds: every N, every round, every core.
    assert_eq!(t.raw_rounds.len(), 2);
    for round in &t.raw_rounds {
        assert_eq!(round.len(), want.len());
        assert!(round.iter().all(|&pps| pps > 0.0), "{round:?}");
    }
    assert_eq!(t.raw_single_rounds.len(), 2);
    for round in &t.raw_single_rounds {
        assert_eq!(round.len(), t.cores.len());
        assert!(round.iter().all(|&pps| pps > 0.0), "{round:?}");
    }
    assert_eq!(t.raw_median_pps.len(), want.len());
    assert!(t.raw_median_pps.iter().all(|&pps| pps > 0.0));
    let raw = t.raw_two_over_one.expect("raw loops' two ÷ one");
    let each: Vec<f64> = t.raw_rounds.iter().map(|r| r[1] / r[0]).collect();
    assert!(
        (raw - (each[0] + each[1]) / 2.0).abs() < 1e-9,
        "{raw} vs {each:?}"
    );
    assert_eq!(t.engines_over_raw.len(), want.len());
    assert!(t
        .engines_over_raw
        .iter()
        .all(|r| r.is_some_and(|r| r > 0.0)));
    assert!(crate::bench::wire::engines_lines(&t).contains("against bare loops'"));
    // No goal for the baseline: the table's goal stays the one line.
    assert_eq!(
        r.goals
            .iter()
            .filter(|g| g.goal.contains("two engines") || g.goal.contains("raw loops"))
            .count(),
        1,
        "{:?}",
        r.goals
    );
}
