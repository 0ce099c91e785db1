//! What the suite measured, and its table.

use std::fmt::Write;

use serde::Serialize;

use super::search::{PeersOptions, SearchTrial};
use super::PAYLOAD;
use crate::bench::Placement;

/// One sender's line of the table.
#[derive(Debug, Clone, Serialize)]
pub struct PeersRow {
    pub sender: String,
    pub is_ringshot: bool,
    pub unpaced_sent_pps: f64,
    /// Packets per second counted by the sender's own receiver.
    pub delivered_pps: f64,
    pub delivered_pct: f64,
    /// Highest offered rate with zero loss; `None` when even the lowest rate failed or the search
    /// could not run (see `search_error`).
    pub zero_loss_pps: Option<f64>,
    pub search_error: Option<String>,
    pub delivered_from: String,
    /// The unpaced run in full (a peer's [`PeerTrial`](super::PeerTrial) or ringshot's case
    /// result).
    pub unpaced: serde_json::Value,
    pub search: Vec<SearchTrial>,
    /// Ringshot's unpaced run's histograms (empty for a peer, which keeps none we can read).
    #[serde(skip)]
    pub series: crate::bench::Series,
}

/// Ringshot's ratios to the best peer.
#[derive(Debug, Clone, Serialize)]
pub struct PeersRatio {
    pub sender: String,
    pub delivered_x: Option<f64>,
    pub zero_loss_x: Option<f64>,
}

/// Everything the suite measured.
#[derive(Debug, Clone, Serialize)]
pub struct PeersReport {
    pub payload: usize,
    pub options: PeersOptions,
    pub placement: String,
    pub rows: Vec<PeersRow>,
    /// `"peer: reason"` for every peer (or peer search) that could not run.
    pub skipped: Vec<String>,
    pub best_peer_delivered: Option<(String, f64)>,
    pub best_peer_zero_loss: Option<(String, f64)>,
    pub ratios: Vec<PeersRatio>,
}

impl PeersReport {
    /// The report of `rows` (peers first, ringshot after them): the best peer by each measure and
    /// ringshot's ratios to it.
    pub fn new(
        opts: &PeersOptions,
        place: &Placement,
        rows: Vec<PeersRow>,
        skipped: Vec<String>,
    ) -> PeersReport {
        let best = |f: &dyn Fn(&PeersRow) -> Option<f64>| {
            rows.iter()
                .filter(|r| !r.is_ringshot)
                .filter_map(|r| f(r).map(|v| (r.sender.clone(), v)))
                .max_by(|a, b| a.1.total_cmp(&b.1))
        };
        let best_peer_delivered = best(&|r| Some(r.delivered_pps));
        let best_peer_zero_loss = best(&|r| r.zero_loss_pps);
        let ratio = |num: Option<f64>, den: &Option<(String, f64)>| match (num, den) {
            (Some(n), Some((_, d))) if *d > 0.0 => Some(n / d),
            _ => None,
        };
        let ratios = rows
            .iter()
            .filter(|r| r.is_ringshot)
            .map(|r| PeersRatio {
                sender: r.sender.clone(),
                delivered_x: ratio(Some(r.delivered_pps), &best_peer_delivered),
                zero_loss_x: ratio(r.zero_loss_pps, &best_peer_zero_loss),
            })
            .collect();
        PeersReport {
            payload: PAYLOAD,
            options: opts.clone(),
            placement: place.description.clone(),
            rows,
            skipped,
            best_peer_delivered,
            best_peer_zero_loss,
            ratios,
        }
    }

    /// The report as a table with its notes, ready to print.
    pub fn table(&self) -> String {
        let mut s = String::new();
        self.write_header(&mut s);
        self.write_rows(&mut s);
        self.write_search_trials(&mut s);
        self.write_verdicts(&mut s);
        self.write_notes(&mut s);
        s
    }

    /// What was measured, how, and the column headings.
    fn write_header(&self, s: &mut String) {
        let o = &self.options;
        let _ = writeln!(
            s,
            "peers: loopback 127.0.0.1, {} B UDP payload; unpaced {:.1} s each; zero-loss search {} trials of {:.1} s, bisection from {:.0} pps to the unpaced sent rate",
            self.payload,
            o.unpaced.as_secs_f64(),
            o.steps + 2,
            o.trial.as_secs_f64(),
            o.lo_pps
        );
        let _ = writeln!(
            s,
            "  delivered = packets counted by each sender's OWN receiver; peers' socket buffers {} KiB asked (kernel caps at rmem_max); {}",
            o.peer.socket_buffer >> 10,
            self.placement
        );
        let _ = writeln!(
            s,
            "{:<26} {:>12} {:>13} {:>8} {:>13}  delivered counted by",
            "sender", "sent pps", "delivered pps", "deliv %", "zero-loss pps"
        );
    }

    /// One line per sender.
    fn write_rows(&self, s: &mut String) {
        let o = &self.options;
        for r in &self.rows {
            let zero = match (&r.zero_loss_pps, &r.search_error) {
                (Some(z), _) => format!("{z:.0}"),
                (None, Some(_)) => "error".to_string(),
                (None, None) => format!("< {:.0}", o.lo_pps),
            };
            let _ = writeln!(
                s,
                "{:<26} {:>12.0} {:>13.0} {:>8.2} {:>13}  {}",
                r.sender,
                r.unpaced_sent_pps,
                r.delivered_pps,
                r.delivered_pct,
                zero,
                r.delivered_from
            );
        }
    }

    /// Every sender's search trials.
    fn write_search_trials(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "zero-loss search trials (offered pps → achieved pps: ok | lost N):"
        );
        for r in &self.rows {
            let trials: Vec<String> = r
                .search
                .iter()
                .map(|t| {
                    let verdict = if t.pass {
                        "ok".to_string()
                    } else {
                        format!("lost {}", t.lost)
                    };
                    format!("{:.0}→{:.0} {verdict}", t.offered_pps, t.sent_pps)
                })
                .collect();
            let _ = writeln!(s, "  {}: {}", r.sender, trials.join(", "));
        }
    }

    /// The best peer and ringshot's ratios to it.
    fn write_verdicts(&self, s: &mut String) {
        let fmt_best = |b: &Option<(String, f64)>| {
            b.as_ref()
                .map_or("none".to_string(), |(n, v)| format!("{v:.0} pps ({n})"))
        };
        let _ = writeln!(
            s,
            "best peer: delivered {}; zero-loss {}",
            fmt_best(&self.best_peer_delivered),
            fmt_best(&self.best_peer_zero_loss)
        );
        let goal = |x: Option<f64>| match x {
            Some(x) => format!(
                "{x:.2}× best peer ({})",
                if x >= 2.0 {
                    "goal ≥ 2×: met"
                } else {
                    "goal ≥ 2×: NOT met"
                }
            ),
            None => "n/a (no peer or no result)".to_string(),
        };
        for q in &self.ratios {
            let _ = writeln!(
                s,
                "{}: delivered {}; zero-loss {}",
                q.sender,
                goal(q.delivered_x),
                goal(q.zero_loss_x)
            );
        }
    }

    /// Footnotes and the skipped peers.
    fn write_notes(&self, s: &mut String) {
        let o = &self.options;
        if self.rows.iter().any(|r| r.sender.ends_with('*')) {
            let _ = writeln!(
                s,
                "  * GSO super-packets cross loopback unsegmented into a GRO receiver: an upper bound, not a wire rate"
            );
        }
        let _ = writeln!(
            s,
            "  zero-loss = highest rate a passing trial achieved; pass = 0 lost at the sender's own receiver and every sent packet counted{}; ringshot's trials are paced, without flow control, like the peers'",
            if o.retry_failures { "; a failed trial is run once more" } else { "" }
        );
        let _ = writeln!(
            s,
            "  spead2: offered pps × 1472 B × 8 = its --rate (Gbit/s of SPEAD packets); its sent count is computed from heaps ({} B heaps), its delivered count is its receiver's",
            o.peer.spead2_heap_size
        );
        for k in &self.skipped {
            let _ = writeln!(s, "skipped: {k}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(sender: &str, is_ringshot: bool, delivered_pps: f64, zero: Option<f64>) -> PeersRow {
        PeersRow {
            sender: sender.to_string(),
            is_ringshot,
            unpaced_sent_pps: delivered_pps,
            delivered_pps,
            delivered_pct: 100.0,
            zero_loss_pps: zero,
            search_error: None,
            delivered_from: "its receiver".to_string(),
            unpaced: serde_json::Value::Null,
            series: crate::bench::Series::default(),
            search: vec![SearchTrial {
                offered_pps: 20_000.0,
                sent: 20_000,
                delivered: 19_990,
                lost: 10,
                sent_pps: 19_000.0,
                pass: false,
            }],
        }
    }

    #[test]
    fn best_peer_ratios_and_table_sections_in_order() {
        let place = Placement {
            tx_core: None,
            rx_core: None,
            description: "unpinned".to_string(),
            stop: Default::default(),
        };
        let opts = PeersOptions::new(std::time::Duration::from_secs(1), &place);
        let rows = vec![
            row("iperf3", false, 100_000.0, Some(50_000.0)),
            row("sockperf", false, 200_000.0, None),
            row("ringshot GSO, GRO rx*", true, 500_000.0, Some(150_000.0)),
        ];
        let r = PeersReport::new(&opts, &place, rows, vec!["spead2: not installed".into()]);
        assert_eq!(r.best_peer_delivered, Some(("sockperf".into(), 200_000.0)));
        assert_eq!(r.best_peer_zero_loss, Some(("iperf3".into(), 50_000.0)));
        assert_eq!(r.ratios.len(), 1);
        assert_eq!(r.ratios[0].delivered_x, Some(2.5));
        assert_eq!(r.ratios[0].zero_loss_x, Some(3.0));

        let t = r.table();
        let at = |needle: &str| {
            t.find(needle)
                .unwrap_or_else(|| panic!("{needle:?} in\n{t}"))
        };
        let order = [
            "peers: loopback 127.0.0.1, 1472 B UDP payload",
            "  delivered = packets counted",
            "sender ",
            "iperf3 ",
            "sockperf ",
            "ringshot GSO, GRO rx* ",
            "zero-loss search trials",
            "  iperf3: 20000→19000 lost 10",
            "best peer: delivered 200000 pps (sockperf); zero-loss 50000 pps (iperf3)",
            "ringshot GSO, GRO rx*: delivered 2.50× best peer (goal ≥ 2×: met); zero-loss 3.00×",
            "  * GSO super-packets",
            "  zero-loss = highest rate",
            "  spead2: offered pps",
            "skipped: spead2: not installed",
        ];
        for w in order.windows(2) {
            assert!(at(w[0]) < at(w[1]), "{:?} before {:?} in\n{t}", w[0], w[1]);
        }
        // No zero-loss rate and no search error: below the lowest rate tried.
        assert!(t.contains("< 10000"), "{t}");
    }
}
