//! `ringshot recv --format spead`: the heap reassembler's run, its table and its
//! `--fail-on-loss` check.

use anyhow::Context;
use serde::Serialize;

use super::{failed_check, listening, print_ending, wait, Out};
use crate::cli::output::print_kv;
use crate::cli::recv_tables::print_recv_rows;
use crate::cli::signals::StopSignals;
use ringshot::recv::spead::{SpeadConfig, SpeadReassembler, SpeadStats};
use ringshot::recv::{Receiver, RecvConfig, RecvReport};

/// `recv --format spead`: reassembles heaps until the stop item (or a stop condition). The
/// summary counts what arrived, with heap-level loss in place of the sequence line;
/// `--fail-on-loss` fails on incomplete heaps.
pub(super) fn run(
    cfg: RecvConfig,
    spead: SpeadConfig,
    heap_cnt_step: u64,
    out: Out,
    signals: &StopSignals,
) -> anyhow::Result<i32> {
    let checker = cfg.checker().with_heap_cnt_step(heap_cnt_step);
    let sink = SpeadReassembler::new(spead).with_checker(checker);
    let stopped = sink.stop_flag();
    let rx = Receiver::spawn_with(cfg, sink).context("starting the receiver")?;
    listening(rx.local_addr(), rx.backend(), rx.gro(), "SPEAD ");
    // The stop item stops the receiver, which ends once it has published its last batch's
    // progress, so the last interval row holds every packet.
    let iv = wait(
        signals,
        out,
        || {
            if stopped.load(std::sync::atomic::Ordering::Relaxed) {
                rx.stop();
            }
            rx.is_finished()
        },
        || rx.stop(),
        &rx.control(),
    );
    let (recv, sink) = rx.join_with_sink().context("receiving")?;
    let report = SpeadRecvReport {
        recv,
        spead: sink.stats(),
    };
    let failed = failed_check(out, &report.recv, None).or_else(|| heap_loss_check(out, &report));
    print_ending(
        &report,
        &report.recv,
        out,
        &iv,
        signals.received(),
        failed,
        || {
            print_recv_rows(&report.recv, ("heaps", heaps_line(&report.spead)));
            print_spead(&report.spead);
        },
    )
}

/// `--fail-on-loss` for SPEAD: heaps that ended incomplete.
fn heap_loss_check(out: Out, r: &SpeadRecvReport) -> Option<String> {
    let s = &r.spead;
    (out.fail_on_loss && s.incomplete_heaps > 0).then(|| {
        format!(
            "{} incomplete heaps, {} bytes missing (--fail-on-loss)",
            s.incomplete_heaps, s.missing_bytes
        )
    })
}

/// SPEAD's loss line: heaps seen, complete, incomplete and the bytes they lacked.
fn heaps_line(s: &SpeadStats) -> String {
    format!(
        "{} seen, {} complete, {} incomplete ({} evicted, {} flushed), {} bytes missing",
        s.heaps_seen,
        s.heaps,
        s.incomplete_heaps,
        s.incomplete_heaps_evicted,
        s.incomplete_heaps_flushed,
        s.missing_bytes
    )
}

fn print_spead(s: &SpeadStats) {
    print_kv(
        "spead",
        &[
            ("heap bytes", format!("{} (complete heaps)", s.heap_bytes)),
            (
                "out of order",
                format!("{} packets dropped", s.out_of_order_packets),
            ),
            ("batches", format!("{} (max {})", s.batches, s.max_batch)),
            ("single-packet heaps", s.single_packet_heaps.to_string()),
            ("stop item", s.stopped.to_string()),
        ],
    );
}

#[derive(Debug, Serialize)]
struct SpeadRecvReport {
    #[serde(flatten)]
    recv: RecvReport,
    spead: SpeadStats,
}
