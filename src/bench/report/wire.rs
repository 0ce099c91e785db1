//! The wire suite's report files and markdown.

use std::io;

use hdrhistogram::Histogram;

use super::{plot, write_hlogs, ReportWriter};
use crate::bench::wire::{Mode, WireReport, WireRow};

fn label(r: &WireRow) -> String {
    format!(
        "{} {} GSO {}",
        r.sender,
        r.backend,
        if r.gso { "on" } else { "off" }
    )
}

/// The wire suite's files: per ringshot row one interval log per histogram (see
/// [`write_hlogs`]; `wire-ROW-PAYLOAD-MODE-*.hlog`), and per payload a nines plot of submit
/// latency per backend and bar plots of the pps with the peers.
pub fn write_wire(w: &mut ReportWriter, r: &WireReport) -> io::Result<()> {
    let mut payloads: Vec<usize> = r.rows.iter().map(|r| r.payload).collect();
    payloads.sort_unstable();
    payloads.dedup();
    for row in &r.rows {
        if row.series.is_empty() {
            continue;
        }
        let mode = match row.mode {
            Mode::SenderSide => "sender-side",
            Mode::EndToEnd => "end-to-end",
        };
        write_hlogs(
            w,
            &format!("wire-{}-{}-{mode}", label(row), row.payload),
            &row.series,
        )?;
    }
    for p in payloads {
        let series: Vec<(String, &Histogram<u64>)> = r
            .rows
            .iter()
            .filter(|x| x.payload == p && x.mode == Mode::SenderSide)
            .filter_map(|x| x.series.tx.as_ref().map(|t| (label(x), &t.submit_hist)))
            .collect();
        let path = w.path(&format!("wire-submit-nines-{p}.svg"));
        plot::nines_svg(
            &path,
            &format!("submit latency, wire, sender-side, {p} B"),
            &series,
        )?;
        let bars: Vec<(String, f64)> = r
            .rows
            .iter()
            .filter(|x| x.payload == p && x.mode == Mode::SenderSide)
            .map(|x| (label(x), x.pps))
            .collect();
        let path = w.path(&format!("wire-pps-{p}.svg"));
        plot::bars_svg(
            &path,
            &format!("pps crossing the wire (sender-side), {p} B"),
            "packets/s",
            &bars,
        )?;
        let bars: Vec<(String, f64)> = r
            .rows
            .iter()
            .filter(|x| x.payload == p && x.mode == Mode::EndToEnd)
            .map(|x| (label(x), x.pps))
            .collect();
        if !bars.is_empty() {
            let path = w.path(&format!("wire-delivered-{p}.svg"));
            plot::bars_svg(
                &path,
                &format!("pps delivered end to end, {p} B"),
                "packets/s",
                &bars,
            )?;
        }
    }
    if let Some(t) = &r.engines {
        // The pps-vs-N table as a plot: each N's median, the engines' beside the bare loops'.
        let bars: Vec<(String, f64)> = t
            .engines
            .iter()
            .enumerate()
            .flat_map(|(i, n)| {
                let raw = t.raw_median_pps.get(i).copied().unwrap_or(0.0);
                [
                    (format!("N = {n} engines"), t.median_pps[i]),
                    (format!("N = {n} raw loops"), raw),
                ]
            })
            .collect();
        let path = w.path("wire-engines-pps.svg");
        plot::bars_svg(
            &path,
            &format!(
                "engines as one sender beside bare sendmmsg loops, {} {} B, sender-side (median)",
                t.backend, t.payload
            ),
            "packets/s",
            &bars,
        )?;
    }
    Ok(())
}

fn cell(v: Option<f64>, prec: usize) -> String {
    v.map_or("–".into(), |x| format!("{x:.prec$}"))
}

/// The wire suite as markdown: the rows, the goals and the skipped peers.
pub fn wire_markdown(r: &WireReport) -> String {
    let mut s = format!(
        "## wire\n\n{}\n\n{:.1} s per measurement, {}; {}.\n\n",
        r.topology,
        r.case_seconds,
        r.batch_description(),
        r.placement
    );
    s += "delivered pps: sender-side rows, packets that crossed the far interface ÷ the sender's \
          time; end-to-end rows, packets the receiver delivered over its own time. sent pps: what \
          the sender says it sent ÷ its own time. CPU % of a core: ringshot-tx's CPU time ÷ the \
          sender's time.\n\n";
    s += "| sender | backend | GSO | bytes | mode | delivered pps | sent pps | Gbit/s | lost % | CPU ns/pkt | CPU % of a core | × raw loop |\n";
    s += "|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|\n";
    for x in &r.rows {
        let lost = x.lost.map(|l| 100.0 * l as f64 / x.sent.max(1) as f64);
        s += &format!(
            "| {} | {} | {} | {} | {} | {:.0} | {:.0} | {:.2} | {} | {} | {} | {} |\n",
            x.sender,
            x.backend,
            if x.gso { "on" } else { "off" },
            x.payload,
            match x.mode {
                Mode::SenderSide => "sender-side",
                Mode::EndToEnd => "end-to-end",
            },
            x.pps,
            x.sent_pps,
            x.gbps,
            cell(lost, 2),
            cell(x.cpu_ns_per_packet, 0),
            cell(x.cpu_pct, 0),
            cell(x.raw_ratio, 2)
        );
    }
    s += "\n| goal | target | measured | rounds (lowest–highest) | result |\n|---|---:|---:|---:|---|\n";
    for g in &r.goals {
        s += &format!(
            "| {} | {:.2} | {} | {} | {}{} |\n",
            g.goal,
            g.target,
            cell(g.measured, 2),
            crate::bench::wire::rounds_cell(g, "–"),
            match g.pass {
                Some(true) => "met",
                Some(false) => "**missed**",
                None => "not measured",
            },
            g.noise_note()
        );
    }
    for p in &r.backend_rounds {
        let rounds: Vec<String> = p
            .rounds
            .iter()
            .map(|[a, b]| format!("{:.0} / {:.0}", a, b))
            .collect();
        s += &format!(
            "\n{} at {} B, back to back in alternating rounds ({} / {}, pps): {}; median ratio \
             {}.\n",
            p.what,
            p.payload,
            p.backends[0],
            p.backends[1],
            rounds.join(", "),
            cell(p.ratio, 3)
        );
    }
    if let Some(t) = &r.engines {
        s += &crate::bench::wire::engines_markdown(t);
    }
    for k in &r.skipped {
        s += &format!("\nskipped: {k}\n");
    }
    s
}
