//! The report writer and the wire suite's goals on hand-made rows: no root, no timing. The JSON has
//! every documented field, the SVGs parse as XML, and ratios and goals come from the numbers given.

use std::sync::OnceLock;
use std::time::Duration;

use crate::bench::report::{wire_markdown, write_wire, ReportWriter, REPORT_FIELDS};
use crate::bench::wire::{
    fill_raw_ratios, goals, wire_table, BackendRounds, Mode, WireReport, WireRow,
};
use crate::bench::{run_case, Case, Placement, Series};

/// The histograms of one tiny real loopback run (the sender's time series and the receiver's
/// gaps), shared by the ringshot rows below.
fn tiny_series() -> &'static Series {
    static S: OnceLock<Series> = OnceLock::new();
    S.get_or_init(|| {
        let case = Case {
            backend: ringshot::BackendChoice::Auto,
            gso: false,
            payload: 256,
        };
        run_case(case, Duration::from_millis(1500), &Placement::auto())
            .expect("a tiny loopback run")
            .series
    })
}

fn row(sender: &str, backend: &str, gso: bool, payload: usize, mode: Mode, pps: f64) -> WireRow {
    let series = if sender == "ringshot" {
        tiny_series().clone()
    } else {
        Series::default()
    };
    WireRow {
        sender: sender.into(),
        backend: backend.into(),
        gso,
        payload,
        mode,
        // The engine's default at 1472 B: 64 per datagram, 2 × 44 with GSO.
        batch: (sender == "ringshot" || sender == "raw").then_some(if gso { 88 } else { 64 }),
        sent: 1000,
        crossed: 1000,
        delivered: (mode == Mode::EndToEnd).then_some(900),
        lost: (mode == Mode::EndToEnd).then_some(100),
        seconds: 1.0,
        pps,
        gbps: pps * payload as f64 * 8e-9,
        // Sent 1000 in 1 s, whatever crossed.
        sent_pps: 1000.0,
        cpu_ns_per_packet: None,
        cpu_pct: (sender == "ringshot").then_some(37.0),
        submit_ns: None,
        raw_rounds: Vec::new(),
        raw_ratio: None,
        series,
    }
}

fn sample() -> WireReport {
    let s = Mode::SenderSide;
    let mut rows = vec![
        row("ringshot", "mmsg", false, 1472, s, 900.0),
        row("ringshot", "uring", false, 1472, s, 800.0),
        row("ringshot", "uring", true, 1472, s, 2000.0),
        // With rounds beside its raw loop the ratio is their median (0.8, 0.75, 0.9), not
        // pps over the raw row.
        WireRow {
            raw_rounds: vec![[2000.0, 2500.0], [1500.0, 2000.0], [1800.0, 2000.0]],
            ..row("ringshot", "send", true, 1472, s, 2000.0)
        },
        row("ringshot", "mmsg", false, 1472, Mode::EndToEnd, 400.0),
        row("raw", "sendmmsg", false, 1472, s, 1000.0),
        row("raw", "uring-send", false, 1472, s, 1000.0),
        row("raw", "uring-send-unlinked", false, 1472, s, 1060.0),
        // Each backend beside the loop of its own syscall: uring + GSO reads the io_uring GSO
        // loop (2000 / 1600), not the plain GSO sendmsg one (2000 / 2500).
        row("raw", "gso-sendmsg", true, 1472, s, 2500.0),
        row("raw", "uring-gso-sendmsg", true, 1472, s, 1600.0),
        row("sockperf", "-", false, 1472, s, 1000.0),
        row("spead2", "-", false, 1472, s, 500.0),
    ];
    fill_raw_ratios(&mut rows);
    let goals = goals(&rows, &[]);
    WireReport {
        case_seconds: 1.0,
        batch: None,
        placement: "test".into(),
        topology: "none".into(),
        rows,
        skipped: vec!["iperf3: not installed".into()],
        backend_rounds: Vec::new(),
        goals,
        profiles: Vec::new(),
        profile_summaries: Vec::new(),
        engines: None,
    }
}

#[test]
fn ratios_and_goals_come_from_the_measured_numbers() {
    let r = sample();
    let ratio = |b: &str, gso: bool| {
        r.rows
            .iter()
            .find(|x| {
                x.sender == "ringshot"
                    && x.backend == b
                    && x.gso == gso
                    && x.mode == Mode::SenderSide
            })
            .unwrap()
            .raw_ratio
            .unwrap()
    };
    assert_eq!(ratio("mmsg", false), 0.9);
    assert_eq!(ratio("uring", false), 0.8);
    assert_eq!(ratio("uring", true), 1.25);
    assert_eq!(ratio("send", true), 0.8);
    assert!(r
        .rows
        .iter()
        .filter(|x| x.mode == Mode::EndToEnd)
        .all(|x| x.raw_ratio.is_none()));
    let g: Vec<(Option<f64>, Option<bool>)> =
        r.goals.iter().map(|g| (g.measured, g.pass)).collect();
    // GSO ÷ best peer = 2000/1000; per-datagram best ÷ best peer = 900/1000; uring ÷ mmsg = 800/900;
    // uring relaxed ÷ mmsg: not measured (no rounds; the rows run strict); worst raw ratio = 0.8.
    assert_eq!(g[0], (Some(2.0), Some(false)));
    assert_eq!(g[1], (Some(0.9), Some(false)));
    assert!((g[2].0.unwrap() - 800.0 / 900.0).abs() < 1e-12 && g[2].1 == Some(false));
    assert_eq!(g[3], (None, None));
    assert_eq!(g[4], (Some(0.8), Some(false)));
    let t = wire_table(&r.rows, &r.goals);
    assert_eq!(t.lines().count(), 1 + r.rows.len() + 1 + r.goals.len());
    assert!(t.contains("MISSED"));
    // Both rates, named: what crossed (or was delivered) and what the sender sent; the engine's
    // CPU in % of a core beside its ns per packet.
    let head = t.lines().next().unwrap();
    for h in [" delivered pps ", " sent pps ", " CPU ns/p ", " CPU % "] {
        assert!(head.contains(h), "{h} not in {head}");
    }
    let gso_uring = t
        .lines()
        .find(|l| l.starts_with("ringshot") && l.contains("uring") && l.contains(" on "))
        .unwrap();
    let cells: Vec<&str> = gso_uring.split_whitespace().collect();
    assert_eq!(&cells[5..7], ["2000", "1000"], "{gso_uring}");
    assert_eq!(cells[10], "37", "{gso_uring}");
    let raw = t.lines().find(|l| l.starts_with("raw ")).unwrap();
    assert_eq!(raw.split_whitespace().nth(10), Some("-"), "{raw}");
    // The target column lines up under its header whatever the goal's length.
    let goal_lines: Vec<&str> = t.lines().skip(1 + r.rows.len()).collect();
    let at = goal_lines[0].find("target").unwrap() + "target".len();
    for (line, g) in goal_lines[1..].iter().zip(&r.goals) {
        let chars: Vec<char> = line.chars().collect();
        let head: String = goal_lines[0].chars().take(at).collect();
        let cell: String = chars[head.chars().count() - 7..head.chars().count()]
            .iter()
            .collect();
        assert_eq!(cell, format!("{:>7.2}", g.target), "{line}");
    }
}

/// Relaxed order has its own goal, read only from its own rounds: the rows run strict.
#[test]
fn uring_relaxed_over_mmsg_is_judged_on_its_own_rounds() {
    let r = sample();
    let g = goals(&r.rows, &[]);
    let relaxed = |g: &[crate::bench::wire::WireGoal]| {
        g.iter()
            .find(|g| g.goal.contains("relaxed"))
            .cloned()
            .unwrap()
    };
    let u = relaxed(&g);
    assert_eq!(
        u.goal,
        "1472 B: uring (relaxed send order) ÷ mmsg per datagram"
    );
    assert_eq!(u.measured, None, "not from the strict rows: {u:?}");
    let pair = BackendRounds {
        payload: 1472,
        backends: ["uring-relaxed".into(), "mmsg".into()],
        what: "uring with relaxed send order ÷ mmsg per datagram".into(),
        rounds: vec![[1010.0, 1000.0], [990.0, 1000.0], [1030.0, 1000.0]],
        ratio: Some(1.01),
    };
    let g = goals(&r.rows, std::slice::from_ref(&pair));
    let u = relaxed(&g);
    assert_eq!(
        u.goal,
        "1472 B: uring (relaxed send order) ÷ mmsg per datagram (3 rounds)"
    );
    assert_eq!(u.measured, Some(1.01));
    assert_eq!(u.rounds_range, Some([0.99, 1.03]));
    // The strict goal is untouched by the relaxed rounds: still the rows' 800 / 900.
    let strict = g.iter().find(|g| g.goal.contains("uring ÷ mmsg")).unwrap();
    assert!(
        (strict.measured.unwrap() - 800.0 / 900.0).abs() < 1e-12,
        "{strict:?}"
    );
}

#[test]
fn uring_over_mmsg_comes_from_its_rounds_when_measured() {
    let r = sample();
    // Rounds of uring beside mmsg: 0.8, 1.1, 1.05 → the median 1.05, not the rows' 800/900.
    let pair = BackendRounds {
        payload: 1472,
        backends: ["uring".into(), "mmsg".into()],
        what: "uring ÷ mmsg per datagram".into(),
        rounds: vec![[800.0, 1000.0], [1100.0, 1000.0], [1050.0, 1000.0]],
        ratio: crate::bench::wire::median_ratio(&[
            [800.0, 1000.0],
            [1100.0, 1000.0],
            [1050.0, 1000.0],
        ]),
    };
    let g = goals(&r.rows, std::slice::from_ref(&pair));
    let u = g.iter().find(|g| g.goal.contains("uring ÷ mmsg")).unwrap();
    assert_eq!(u.goal, "1472 B: uring ÷ mmsg per datagram (3 rounds)");
    assert!((u.measured.unwrap() - 1.05).abs() < 1e-12, "{u:?}");
    assert_eq!(u.pass, Some(true));
    // The single rounds ran from 0.8 to 1.1: the target 1.0 is inside, and the table says so.
    assert_eq!(u.rounds_range, Some([0.8, 1.1]));
    assert!(u.within_noise());
    let t = wire_table(&r.rows, &g);
    let line = t.lines().find(|l| l.contains("uring ÷ mmsg")).unwrap();
    assert!(
        line.contains("0.80–1.10") && line.contains("met (target within the rounds' range)"),
        "{line}"
    );
    // The cost of the links, from raw loops: listed with the pairs, not a goal.
    let links = BackendRounds {
        backends: ["uring-send".into(), "uring-send-unlinked".into()],
        what: "raw io_uring SEND linked ÷ unlinked per datagram: what keeping order costs".into(),
        rounds: vec![[940.0, 1000.0], [960.0, 1000.0], [900.0, 1000.0]],
        ratio: Some(0.94),
        ..pair.clone()
    };
    let both = [pair.clone(), links.clone()];
    assert_eq!(goals(&r.rows, &both).len(), g.len());
    let lines = crate::bench::wire::pair_lines(&both);
    assert_eq!(lines.lines().count(), 2, "{lines}");
    assert!(
        lines.contains(
            "raw io_uring SEND linked ÷ unlinked per datagram: what keeping order costs at \
             1472 B: 0.940 over 3 rounds (0.90–0.96)"
        ),
        "{lines}"
    );
    let md = wire_markdown(&WireReport {
        backend_rounds: both.to_vec(),
        goals: g.clone(),
        ..r.clone()
    });
    assert!(
        md.contains("uring ÷ mmsg per datagram at 1472 B")
            && md.contains("(uring / mmsg, pps): 800 / 1000, 1100 / 1000, 1050 / 1000")
            && md.contains("median ratio 1.050")
            && md.contains("what keeping order costs at 1472 B")
            && md.contains("(uring-send / uring-send-unlinked, pps): 940 / 1000")
            && md.contains("median ratio 0.940"),
        "{md}"
    );
    assert!(
        md.contains("| 1472 B: uring ÷ mmsg per datagram (3 rounds) | 1.00 | 1.05 | 0.80–1.10 | met (target within the rounds' range) |"),
        "{md}"
    );
    assert!(
        md.contains("| mode | delivered pps | sent pps | Gbit/s | lost % | CPU ns/pkt | CPU % of a core | × raw loop |"),
        "{md}"
    );
    // The end-to-end row: 400 delivered, 1000 sent, 10 % lost; CPU 37 % of a core.
    assert!(
        md.contains("| ringshot | mmsg | off | 1472 | end-to-end | 400 | 1000 | 0.00 | 10.00 | – | 37 | – |"),
        "{md}"
    );
    // The worst "× raw" carries the rounds of the row it came from: send + GSO, rounds 0.8,
    // 0.75 and 0.9, once the uring row (0.8 from its raw row, no rounds) is made better.
    let mut rows = r.rows.clone();
    rows.iter_mut()
        .find(|x| x.backend == "uring" && !x.gso && x.mode == Mode::SenderSide)
        .unwrap()
        .raw_ratio = Some(0.85);
    let g = goals(&rows, &[]);
    let w = g.iter().find(|g| g.goal.contains("raw loop")).unwrap();
    assert_eq!(w.measured, Some(0.8));
    assert_eq!(w.rounds_range, Some([0.75, 0.9]));
    assert!(!w.within_noise() && w.pass == Some(false), "{w:?}");
    // A ratio from rows alone has no rounds.
    assert!(goals(&r.rows, &[])
        .iter()
        .all(|g| !g.goal.contains("uring ÷ mmsg") || g.rounds_range.is_none()));
    // Another payload's rounds leave this payload on its rows.
    let other = BackendRounds {
        payload: 64,
        ..pair
    };
    let g = goals(&r.rows, &[other]);
    let u = g.iter().find(|g| g.goal.contains("uring ÷ mmsg")).unwrap();
    assert!((u.measured.unwrap() - 800.0 / 900.0).abs() < 1e-12, "{u:?}");
}

#[test]
fn the_batches_are_described_from_the_rows_or_as_given() {
    let r = sample();
    let want = "batch 64 per datagram, with GSO whole super-packets (88 at 1472 B)";
    assert_eq!(r.batch_description(), want);
    assert!(wire_markdown(&r).contains(&format!("1.0 s per measurement, {want};")));
    let given = WireReport {
        batch: Some(32),
        ..r.clone()
    };
    assert_eq!(given.batch_description(), "batch 32");
    let per_datagram_only = WireReport {
        rows: r.rows.iter().filter(|x| !x.gso).cloned().collect(),
        ..r
    };
    assert_eq!(per_datagram_only.batch_description(), "batch 64");
}

#[test]
fn the_report_folder_has_every_field_and_valid_svgs() {
    let r = sample();
    let dir = std::env::temp_dir().join(format!("ringshot-report-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut w = ReportWriter::create(&dir).unwrap();
    write_wire(&mut w, &r).unwrap();
    w.text("summary.md", &wire_markdown(&r)).unwrap();
    let mut suites = serde_json::Map::new();
    suites.insert("wire".into(), serde_json::to_value(&r).unwrap());
    w.report_json(&["ringshot".into(), "bench".into()], "test", suites)
        .unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    for f in REPORT_FIELDS {
        assert!(json.get(f).is_some(), "report.json lacks {f}");
    }
    for f in ["kernel", "cpus", "cpu_model", "memory_kib", "load_average"] {
        assert!(json["machine"].get(f).is_some(), "machine lacks {f}");
    }
    let row0 = &json["wire"]["rows"][0];
    for f in [
        "sender",
        "backend",
        "gso",
        "payload",
        "mode",
        "sent",
        "crossed",
        "delivered",
        "lost",
        "seconds",
        "pps",
        "gbps",
        "cpu_ns_per_packet",
        "submit_ns",
        "raw_rounds",
        "raw_ratio",
    ] {
        assert!(row0.get(f).is_some(), "row lacks {f}");
    }
    for f in [
        "case_seconds",
        "batch",
        "placement",
        "topology",
        "rows",
        "skipped",
        "goals",
    ] {
        assert!(json["wire"].get(f).is_some(), "wire lacks {f}");
    }
    let files: Vec<String> = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect();
    assert!(
        files.contains(&"report.json".to_string()) && files.contains(&"summary.md".to_string())
    );
    // Five ringshot rows have a sender's histograms (submit and reap each) and the receiver's
    // gaps: three logs each.
    assert_eq!(
        files.iter().filter(|f| f.ends_with(".hlog")).count(),
        15,
        "{files:?}"
    );
    let svgs: Vec<_> = files.iter().filter(|f| f.ends_with(".svg")).collect();
    assert_eq!(svgs.len(), 3, "{files:?}");
    for f in svgs {
        let text = std::fs::read_to_string(dir.join(f)).unwrap();
        let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(doc.root_element().tag_name().name(), "svg");
    }
    let hlog = files.iter().find(|f| f.ends_with("-submit.hlog")).unwrap();
    let hlog = std::fs::read_to_string(dir.join(hlog)).unwrap();
    assert!(hlog.contains("#[StartTime:") && hlog.lines().any(|l| l.starts_with("Tag=submit_ns,")));
    let md = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(md.contains("| ringshot | uring | on | 1472 | sender-side | 2000 |"));
    for f in ["sent_pps", "cpu_pct"] {
        assert!(row0.get(f).is_some(), "row lacks {f}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// xdp rows bring two goals: xdp ÷ mmsg per datagram (target 1.8; from the pair's rounds where
/// measured, else from the two rows) and xdp ÷ its raw AF_XDP loop (target 0.95; the xdp row's
/// rounds beside `xdp-tx`, else pps over the raw row). Runs without xdp rows have neither.
#[test]
fn xdp_goals_read_the_xdp_rows_and_their_rounds() {
    let mut r = sample();
    assert!(
        !r.goals.iter().any(|g| g.goal.contains("xdp")),
        "no xdp rows, no xdp goals"
    );
    let s = Mode::SenderSide;
    r.rows.push(row("ringshot", "xdp", false, 1472, s, 1500.0));
    r.rows.push(row("raw", "xdp-tx", false, 1472, s, 1600.0));
    for x in r.rows.iter_mut() {
        x.raw_ratio = None;
    }
    fill_raw_ratios(&mut r.rows);
    let g = goals(&r.rows, &[]);
    let find = |g: &[crate::bench::wire::WireGoal], name: &str| {
        g.iter()
            .find(|g| g.goal == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name}"))
    };
    // From the rows: 1500 / 900 (mmsg) and 1500 / 1600 (xdp-tx).
    let m = find(&g, "1472 B: xdp ÷ mmsg per datagram");
    assert!(
        (m.measured.unwrap() - 1500.0 / 900.0).abs() < 1e-12,
        "{m:?}"
    );
    assert_eq!((m.target, m.pass), (1.8, Some(false)));
    let raw = find(&g, "1472 B: xdp ÷ its raw AF_XDP loop");
    assert!(
        (raw.measured.unwrap() - 1500.0 / 1600.0).abs() < 1e-12,
        "{raw:?}"
    );
    assert_eq!((raw.target, raw.pass), (0.95, Some(false)));
    // From rounds: the pair's median (1.9, 2.0, 1.7 → 1.9) and the row's (0.9, 1.0, 0.98).
    let pair = BackendRounds {
        payload: 1472,
        backends: ["xdp".into(), "mmsg".into()],
        what: "xdp ÷ mmsg per datagram".into(),
        rounds: vec![[1900.0, 1000.0], [2000.0, 1000.0], [1700.0, 1000.0]],
        ratio: crate::bench::wire::median_ratio(&[
            [1900.0, 1000.0],
            [2000.0, 1000.0],
            [1700.0, 1000.0],
        ]),
    };
    let xdp = r.rows.iter_mut().find(|x| x.backend == "xdp").unwrap();
    xdp.raw_rounds = vec![[900.0, 1000.0], [1000.0, 1000.0], [980.0, 1000.0]];
    fill_raw_ratios(&mut r.rows);
    let g = goals(&r.rows, std::slice::from_ref(&pair));
    let m = find(&g, "1472 B: xdp ÷ mmsg per datagram (3 rounds)");
    assert!((m.measured.unwrap() - 1.9).abs() < 1e-12, "{m:?}");
    assert_eq!((m.pass, m.rounds_range), (Some(true), Some([1.7, 2.0])));
    let raw = find(&g, "1472 B: xdp ÷ its raw AF_XDP loop");
    assert!((raw.measured.unwrap() - 0.98).abs() < 1e-12, "{raw:?}");
    assert_eq!((raw.pass, raw.rounds_range), (Some(true), Some([0.9, 1.0])));
}

/// The pps-vs-N table of engine groups: in the JSON, the summary and its own plot.
#[test]
fn the_engines_table_is_in_the_json_the_summary_and_a_plot() {
    let t = crate::bench::wire::EnginesTable {
        payload: 64,
        backend: "mmsg".into(),
        gso: false,
        engines: vec![1, 2],
        rounds: vec![
            vec![1000.0, 1700.0],
            vec![1100.0, 1900.0],
            vec![900.0, 1800.0],
        ],
        median_pps: vec![1000.0, 1800.0],
        two_over_one: Some(1.727),
        two_over_one_range: Some([1.7, 2.0]),
        cores: vec![0, 1],
        single_rounds: vec![
            vec![900.0, 1100.0],
            vec![1000.0, 1200.0],
            vec![800.0, 1000.0],
        ],
        raw_rounds: vec![
            vec![1200.0, 2100.0],
            vec![1300.0, 2300.0],
            vec![1100.0, 2000.0],
        ],
        raw_single_rounds: vec![
            vec![1100.0, 1300.0],
            vec![1250.0, 1350.0],
            vec![1000.0, 1200.0],
        ],
        raw_median_pps: vec![1200.0, 2100.0],
        raw_two_over_one: Some(1.769),
        raw_two_over_one_range: Some([1.75, 1.82]),
        raw_batch: 64,
        engines_over_raw: vec![Some(0.833), Some(0.857)],
    };
    let r = WireReport {
        engines: Some(t),
        ..sample()
    };
    let dir = std::env::temp_dir().join(format!("ringshot-engines-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut w = ReportWriter::create(&dir).unwrap();
    write_wire(&mut w, &r).unwrap();
    let svg = std::fs::read_to_string(dir.join("wire-engines-pps.svg")).unwrap();
    roxmltree::Document::parse(&svg).expect("the plot parses as XML");
    assert!(svg.contains("N = 2"), "{svg}");
    assert!(svg.contains("N = 2 engines"), "{svg}");
    assert!(svg.contains("N = 2 raw loops"), "{svg}");
    let md = wire_markdown(&r);
    assert!(
        md.contains("| 2 | 1800 | 1.80 | 1700, 1900, 1800 |"),
        "{md}"
    );
    assert!(md.contains("900 / 1100, 1000 / 1200, 800 / 1000"), "{md}");
    assert!(
        md.contains(
            "| 2 | 1800 | 1.80 | 1700, 1900, 1800 | 2100 | 1.75 | 0.86 | 2100, 2300, 2000 |"
        ),
        "{md}"
    );
    assert!(
        md.contains("against bare loops' 1.77 (rounds 1.75–1.82) (the machine's ceiling here)"),
        "{md}"
    );
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["engines"]["median_pps"][1], 1800.0);
    assert_eq!(v["engines"]["single_rounds"][0][1], 1100.0);
    assert_eq!(v["engines"]["raw_median_pps"][1], 2100.0);
    assert_eq!(v["engines"]["raw_single_rounds"][1][0], 1250.0);
    assert_eq!(v["engines"]["raw_two_over_one"], 1.769);
    assert_eq!(v["engines"]["raw_batch"], 64);
    assert_eq!(v["engines"]["engines_over_raw"][1], 0.857);
    let _ = std::fs::remove_dir_all(&dir);
}
