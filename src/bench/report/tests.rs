//! The report folder of every loopback suite on a tiny real run: report.json has every documented
//! field of every suite, the SVGs parse as XML, the interval logs parse back with HdrHistogram's
//! reader and hold one interval per second, and ratios come from the measured numbers. No
//! benchmark figure is asserted.

use std::path::Path;
use std::time::Duration;

use crate::bench::jitter;
use crate::bench::peers::{PeersOptions, PeersReport, PeersRow};
use crate::bench::report::{self, ReportWriter, REPORT_FIELDS, SUITE_FIELDS};
use crate::bench::sdr::{run_sdr, SdrConfig, ZeroLossResult, ZeroLossTrial};
use crate::bench::{fill_ratios, run_case, CapacityResult, CapacityTrial, Case, Placement, Series};
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

/// The interval lines of an interval log: (start offset s, length s, tag).
fn intervals(path: &Path) -> Vec<(f64, f64, String)> {
    let bytes = std::fs::read(path).unwrap();
    IntervalLogIterator::new(&bytes)
        .filter_map(
            |e| match e.unwrap_or_else(|e| panic!("{}: {e:?}", path.display())) {
                LogEntry::Interval(i) => Some((
                    i.start_timestamp().as_secs_f64(),
                    i.duration().as_secs_f64(),
                    i.tag().map(|t| t.as_str().to_string()).unwrap_or_default(),
                )),
                _ => None,
            },
        )
        .collect()
}

fn capacity(series: &crate::bench::Series) -> Vec<CapacityResult> {
    let trial = |rate: f64, pass: bool| CapacityTrial {
        rate_pps: rate,
        sent: 100,
        received: if pass { 100 } else { 90 },
        lost: if pass { 0 } else { 10 },
        kernel_drops: 0,
        achieved_pps: rate,
        delivered_pps: if pass { rate } else { rate * 0.9 },
        pass,
        series: series.clone(),
    };
    vec![CapacityResult {
        receiver_backend: "mmsg".into(),
        payload: 1472,
        sender_best_pps: 50_000.0,
        capacity_pps: Some(20_000.0),
        trials: vec![
            trial(10_000.0, true),
            trial(50_000.0, false),
            trial(20_000.0, true),
        ],
    }]
}

fn peers(ringshot_pps: f64, peer_pps: f64, ringshot_series: &Series) -> PeersReport {
    let row = |sender: &str, is_ringshot, pps: f64| PeersRow {
        sender: sender.into(),
        is_ringshot,
        unpaced_sent_pps: pps,
        delivered_pps: pps,
        delivered_pct: 100.0,
        zero_loss_pps: Some(pps / 2.0),
        search_error: None,
        delivered_from: "its own receiver".into(),
        unpaced: serde_json::Value::Null,
        search: Vec::new(),
        series: if is_ringshot {
            ringshot_series.clone()
        } else {
            Series::default()
        },
    };
    let place = Placement::auto();
    let opts = PeersOptions::new(Duration::from_secs(1), &place);
    let rows = vec![
        row("sockperf", false, peer_pps),
        row("ringshot", true, ringshot_pps),
    ];
    PeersReport::new(&opts, &place, rows, vec!["spead2: not installed".into()])
}

#[test]
fn every_suite_writes_its_json_markdown_logs_and_plots() {
    let place = Placement::auto();
    let dir = std::env::temp_dir().join(format!("ringshot-suites-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut w = ReportWriter::create(&dir).unwrap();
    let mut suites = serde_json::Map::new();
    let mut md = String::new();

    // throughput: one real case, and a second row whose ratio is computed from the first.
    let case = Case {
        backend: ringshot::BackendChoice::Send,
        gso: false,
        payload: 256,
    };
    let r = run_case(case, Duration::from_millis(2500), &place).unwrap();
    let tl = r.series.tx.as_ref().unwrap().timeline.len();
    assert!(tl >= 2, "a 2.5 s run has {tl} intervals");
    let mut other = r.clone();
    other.backend = "mmsg";
    other.pps = r.pps * 3.0;
    let mut results = vec![r.clone(), other];
    fill_ratios(&mut results);
    assert_eq!(results[0].ratio_to_send, Some(1.0));
    assert!((results[1].ratio_to_send.unwrap() - 3.0).abs() < 1e-9);
    report::write_throughput(&mut w, &results, &[256]).unwrap();
    // The engine's CPU in % of a core is its CPU time over the sender's time.
    let tx = r.series.tx.as_ref().unwrap();
    assert!(r.cpu_pct > 0.0, "{}", r.cpu_pct);
    assert_eq!(r.cpu_pct, crate::bench::cpu_pct(tx.cpu_ns, tx.seconds));
    let tmd = report::throughput_markdown(2.5, &results, &[]);
    assert!(
        tmd.contains("| bytes | delivered pps | sent pps | Gbit/s | delivered % | CPU ns/pkt | CPU % of a core | submit p50 ns |"),
        "{tmd}"
    );
    // Both rates in their named columns, the sender's from its own time.
    assert!(
        tmd.contains(&format!(
            "| send | off | 256 | {:.0} | {:.0} | {:.2} | {:.2} | {:.0} | {:.0} |",
            r.pps, r.sent_pps, r.gbps, r.delivered_pct, r.cpu_ns_per_packet, r.cpu_pct
        )),
        "{tmd}"
    );
    assert_eq!(r.sent_pps, tx.pps);
    // A busy machine's warning goes under the heading, above the note and the table.
    let warned = crate::bench::load::with_warning(tmd.clone(), Some("machine busy: test"));
    let at = |s: &str| warned.find(s).unwrap();
    assert!(at("## throughput") < at("**machine busy: test**"));
    assert!(at("**machine busy: test**") < at("| backend |"));
    md += &tmd;
    suites.insert(
        "throughput".into(),
        report::throughput_json(2.5, &results, &[]),
    );

    // capacity and peers: hand-made numbers around the real run's histograms.
    let cap = capacity(&r.series);
    report::write_capacity(&mut w, &cap).unwrap();
    let cmd = report::capacity_markdown(&cap);
    assert!(
        cmd.contains("| receiver | bytes | capacity pps | sender best sent pps | trials |"),
        "{cmd}"
    );
    assert!(
        cmd.contains("| asked pps | sent pps | delivered pps | sent | received |")
            && cmd.contains("| mmsg | 1472 | 50000 | 50000 | 45000 | 100 | 90 | 10 | 0 | no |"),
        "{cmd}"
    );
    md += &cmd;
    suites.insert("capacity".into(), report::capacity_json(&cap));
    let p = peers(3000.0, 1000.0, &r.series);
    assert_eq!(p.ratios[0].delivered_x, Some(3.0));
    assert_eq!(p.ratios[0].zero_loss_x, Some(3.0));
    report::write_peers(&mut w, &p).unwrap();
    let pmd = report::peers_markdown(&p);
    // The sender's rate and the delivered rate, each named, in the markdown and the text table.
    assert!(
        pmd.contains("| sender | unpaced sent pps | delivered pps | delivered % |"),
        "{pmd}"
    );
    let head = p.table();
    assert!(
        head.lines()
            .any(|l| l.contains(" sent pps ") && l.contains(" delivered pps ")),
        "{head}"
    );
    md += &pmd;
    suites.insert("peers".into(), serde_json::to_value(&p).unwrap());

    // sdr: a real 2.5 s run through the device emulator beside a 1 s jitter probe.
    let floor = jitter::probe(place.tx_core, Duration::from_secs(1));
    let cfg = SdrConfig {
        seconds: 2.5,
        ..SdrConfig::default()
    };
    let runs = vec![("SCHED_OTHER".to_string(), run_sdr(&cfg, &place).unwrap())];
    let rows = report::sdr_rows(&floor, &runs);
    report::write_sdr(&mut w, &floor, &runs).unwrap();
    // Pacing's CPU, in % of a core and per packet, in the row, the table and the markdown.
    let stx = &runs[0].1.run.tx;
    assert!(rows[0].cpu_pct > 0.0, "{}", rows[0].cpu_pct);
    assert_eq!(
        rows[0].cpu_pct,
        crate::bench::cpu_pct(stx.cpu_ns, stx.seconds)
    );
    assert_eq!(
        rows[0].cpu_ns_per_packet,
        stx.cpu_ns as f64 / stx.packets as f64
    );
    let table = report::sdr_floor_table(&floor, &rows);
    assert!(
        table.contains("CPU ns/p") && table.contains("CPU %"),
        "{table}"
    );
    assert!(
        table.contains(&format!("{:>6.1} ", rows[0].cpu_pct)),
        "{table}"
    );
    let smd = report::sdr_markdown(&floor, &rows);
    assert!(
        smd.contains(&format!(
            "| {:.0} | {:.1} | {}/{} |",
            rows[0].cpu_ns_per_packet, rows[0].cpu_pct, rows[0].goals_met, rows[0].goals
        )),
        "{smd}"
    );
    assert!(
        smd.contains("| CPU ns/pkt | CPU % of a core | goals met |"),
        "{smd}"
    );
    md += &smd;
    suites.insert("sdr".into(), report::sdr_json(&floor, &runs, &rows));
    // With flow control too, every value lands in exactly one interval.
    let tx = &runs[0].1.run.tx;
    let sum = |pick: fn(&ringshot::engine::IntervalHists) -> u64| -> u64 {
        tx.timeline.iter().map(|i| pick(&i.hists)).sum()
    };
    let len = |h: &Option<hdrhistogram::Histogram<u64>>| h.as_ref().unwrap().len();
    assert_eq!(
        sum(|h| h.ack_visibility.as_ref().unwrap().len()),
        len(&tx.ack_visibility_hist)
    );
    assert_eq!(
        sum(|h| h.window_wait.as_ref().unwrap().len()),
        len(&tx.window_wait_hist)
    );
    assert_eq!(
        sum(|h| h.lateness.as_ref().unwrap().len()),
        len(&tx.lateness_hist)
    );
    assert_eq!(sum(|h| h.submit.len()), tx.submits);
    assert_eq!(
        tx.timeline.iter().map(|i| i.packets).sum::<u64>(),
        tx.packets
    );
    let lines = report::lateness_lines(&floor, &runs);
    let sdr_tl = &runs[0].1.run.tx.timeline;
    assert!(sdr_tl.len() >= 2, "{} intervals", sdr_tl.len());
    assert_eq!(
        lines[1].1.len(),
        sdr_tl.len(),
        "one lateness point per interval"
    );
    assert_eq!(
        lines[1].1[0].1,
        sdr_tl[0].lateness_ns.unwrap().max as f64 / 1e3
    );

    // zero loss: hand-made trials carrying the SDR run's histograms.
    let trial = |rate: f64, zero_loss: bool| ZeroLossTrial {
        rate_pps: rate,
        achieved_pps: rate,
        sent: 10,
        lost: u64::from(!zero_loss),
        overflows: 0,
        underflows: 0,
        stalled: false,
        rate_error_pct: Some(0.0),
        zero_loss,
        kept_rate: zero_loss,
        series: runs[0].1.run.series.clone(),
    };
    let zl = ZeroLossResult {
        payload: 1472,
        upper_bound_pps: 100_000.0,
        zero_loss_pps: Some(50_000.0),
        kept_rate_pps: Some(50_000.0),
        trials: vec![trial(100_000.0, false), trial(50_000.0, true)],
    };
    report::write_zero_loss(&mut w, &zl).unwrap();
    md += &report::zero_loss_markdown(&zl);
    suites.insert("zero_loss".into(), serde_json::to_value(&zl).unwrap());

    w.text("summary.md", &md).unwrap();
    w.report_json(&["ringshot".into(), "bench".into()], "test", suites)
        .unwrap();
    check_folder(&dir);
    let _ = std::fs::remove_dir_all(&dir);
}

fn check_folder(dir: &Path) {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    for f in REPORT_FIELDS {
        assert!(json.get(f).is_some(), "report.json lacks {f}");
    }
    for (suite, fields) in SUITE_FIELDS.iter().filter(|(s, _)| *s != "wire") {
        for f in *fields {
            assert!(json[suite].get(f).is_some(), "{suite} lacks {f}");
        }
    }
    let tx = &json["sdr"]["runs"][0]["result"]["run"]["tx"];
    for f in [
        "reaps",
        "reap_ns",
        "timeline",
        "lateness_ns",
        "ack_visibility_ns",
    ] {
        assert!(tx.get(f).is_some(), "the SDR run's tx lacks {f}");
    }
    for f in [
        "start_s",
        "seconds",
        "packets",
        "submit_ns",
        "reap_ns",
        "lateness_ns",
    ] {
        assert!(
            tx["timeline"][0].get(f).is_some(),
            "a timeline interval lacks {f}"
        );
    }
    let files: Vec<String> = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect();
    let has = |name: &str| files.iter().any(|f| f == name);
    for f in [
        "throughput-pps-256.svg",
        "throughput-submit-nines-256.svg",
        "throughput-reap-nines-256.svg",
        "capacity-1472.svg",
        "peers-delivered-1472.svg",
        "sdr-floor.svg",
        "sdr-latency-nines.svg",
        "zero-loss-trials.svg",
        "throughput-send-GSO-off-256-submit.hlog",
        "throughput-send-GSO-off-256-rx-gaps.hlog",
        "sdr-SCHED-OTHER-lateness.hlog",
        "sdr-SCHED-OTHER-window-wait.hlog",
        "sdr-SCHED-OTHER-ack-visibility.hlog",
        "sdr-SCHED-OTHER-reap.hlog",
        "sdr-SCHED-OTHER-rx-gaps.hlog",
        "capacity-mmsg-1472-submit.hlog",
        "peers-ringshot-1472-submit.hlog",
        "peers-ringshot-1472-rx-gaps.hlog",
        "zero-loss-lateness.hlog",
    ] {
        assert!(has(f), "{f} missing from {files:?}");
    }
    // Every trial of the searches has its own logs, numbered as in the JSON's `trials`.
    let mut trial_logs = 0;
    for row in json["capacity"]["rows"].as_array().unwrap() {
        let stem = format!(
            "capacity-{}-{}",
            row["receiver_backend"].as_str().unwrap(),
            row["payload"]
        );
        for i in 1..=row["trials"].as_array().unwrap().len() {
            assert!(
                has(&format!("{stem}-trial{i}-submit.hlog")),
                "{stem} trial {i}: {files:?}"
            );
            trial_logs += 1;
        }
    }
    for i in 1..=json["zero_loss"]["trials"].as_array().unwrap().len() {
        assert!(
            has(&format!("zero-loss-trial{i}-lateness.hlog")),
            "zero-loss trial {i}: {files:?}"
        );
        trial_logs += 1;
    }
    assert_eq!(trial_logs, 5, "3 capacity and 2 zero-loss trials");
    for f in files.iter().filter(|f| f.ends_with(".svg")) {
        let text = std::fs::read_to_string(dir.join(f)).unwrap();
        let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(doc.root_element().tag_name().name(), "svg");
    }
    for f in files.iter().filter(|f| f.ends_with(".hlog")) {
        let iv = intervals(&dir.join(f));
        assert!(iv.len() > 1, "{f}: {} intervals", iv.len());
        assert_eq!(iv[0].0, 0.0, "{f} starts at its StartTime");
        assert!(iv.windows(2).all(|w| w[0].0 < w[1].0), "{f}: {iv:?}");
        assert!(iv.iter().all(|i| i.2.ends_with("_ns")), "{f}: {iv:?}");
    }
    let md = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    for h in [
        "## throughput",
        "## capacity",
        "## peers",
        "## sdr",
        "## zero loss",
    ] {
        assert!(md.contains(h), "summary.md lacks {h}");
    }
    assert!(md.contains("| sockperf | 1000 | 1000 |"), "{md}");
}
