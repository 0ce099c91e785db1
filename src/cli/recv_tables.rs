//! `ringshot recv`'s tables: the receiver's, the streams', the device's and the injected faults'.

use ringshot::device::{DeviceReport, FaultCounts};
use ringshot::framing::Format;
use ringshot::recv::{RecvReport, StreamSummary};

use super::output::{fmt_map, fmt_ns, fmt_rate, print_kv};

pub fn print_recv_table(r: &RecvReport) {
    print_recv_rows(r, ("sequence", sequence_line(r)));
}

/// The receiver's table, with `loss` (a format's loss line: sequence counts, SPEAD heaps) after
/// the rate.
pub fn print_recv_rows(r: &RecvReport, loss: (&str, String)) {
    print_kv(
        &format!(
            "ringshot recv: backend {}, GRO {}",
            r.backend,
            if r.gro { "on" } else { "off" }
        ),
        &[
            ("packets", format!("{} ({} bytes)", r.packets, r.bytes)),
            ("time", format!("{:.3} s (first to last packet)", r.seconds)),
            ("rate", fmt_rate(r.pps)),
            loss,
            ("kernel drops", kernel_drops_line(r)),
            ("corrupt", r.corrupt.to_string()),
            ("foreign", foreign_line(r)),
            ("malformed", fmt_map(&r.malformed)),
            ("framing errors", fmt_map(&r.framing_errors)),
            (
                "gaps",
                format!(
                    "p50 {} p99 {} max {}{}",
                    fmt_ns(r.gaps_ns.p50),
                    fmt_ns(r.gaps_ns.p99),
                    fmt_ns(r.gaps_ns.max),
                    if r.gro {
                        " (GRO on: a coalesced buffer's packets share one receive time, so \
                         gaps can read ~0)"
                    } else {
                        ""
                    }
                ),
            ),
        ],
    );
    if r.streams.len() > 1 {
        print_streams(&r.streams);
    }
}

/// The note for a stream that began past the receiver's start sequence with everything before
/// counted lost: most likely a sender's `--start-seq` the receiver was not given.
pub fn start_seq_note(r: &RecvReport, start_seq: Option<u64>) -> Option<String> {
    let expected = start_seq.unwrap_or(0);
    let first = r.first_seq.filter(|_| r.sequenced())?;
    let before = first.checked_sub(expected).filter(|n| *n > 0)?;
    (r.lost >= before).then(|| {
        format!(
            "the first packet was sequence {first}, so the {before} before it count as lost: a \
             sender started with --start-seq {first} needs recv --start-seq {first}"
        )
    })
}

/// The note for datagrams dropped as foreign because every followed sender was streaming: most
/// likely the engines of a `send --engines N` into a receiver without `--senders N`.
pub fn foreign_note(r: &RecvReport, senders: usize) -> Option<String> {
    let busy = *r.foreign_reasons.get("senders_busy")?;
    let k = r.foreign_sources.len();
    let (more, s) = match k {
        _ if k >= ringshot::recv::MAX_FOREIGN_LISTED => (" or more", "s"),
        1 => ("", ""),
        _ => ("", "s"),
    };
    let followed = if senders == 1 {
        "the followed sender was".to_string()
    } else {
        format!("all {senders} followed senders were")
    };
    Some(format!(
        "{busy} datagrams from {k}{more} other source{s} were counted foreign (unchecked) while \
         {followed} streaming: to check them all at once (the engines of send --engines N, say), \
         run recv --senders {}",
        senders + k
    ))
}

/// `foreign`: the count, and when there were any, by reason and from where.
fn foreign_line(r: &RecvReport) -> String {
    if r.foreign == 0 {
        return "0".into();
    }
    format!(
        "{} ({}) from {}",
        r.foreign,
        fmt_map(&r.foreign_reasons),
        r.foreign_sources.join(" ")
    )
}

/// The sequence counts, or why there are none.
fn sequence_line(r: &RecvReport) -> String {
    match r.format {
        _ if r.sequenced() => format!(
            "{} lost, {} reordered, {} duplicates, {} late",
            r.lost, r.reordered, r.duplicates, r.late
        ),
        Some(Format::Spead) => "n/a (spead packets have no sequence numbers; see heaps)".into(),
        Some(f) => format!("n/a ({f} has no sequence numbers)"),
        None => "n/a (not checked)".into(),
    }
}

/// SO_RXQ_OVFL counts what the socket queue dropped: datagrams, or with GRO whole coalesced
/// buffers. Never shown as a packet count.
fn kernel_drops_line(r: &RecvReport) -> String {
    if r.gro {
        format!(
            "{} receive buffers (with GRO one holds many packets; the kernel counts buffers)",
            r.kernel_drops
        )
    } else {
        format!("{} datagrams", r.kernel_drops)
    }
}

fn print_streams(streams: &[StreamSummary]) {
    println!("streams");
    for s in streams {
        let seq = match (s.lost, s.duplicates, s.late) {
            (Some(l), Some(d), Some(la)) => format!("{l} lost {d} duplicates {la} late"),
            _ => "no sequence numbers".into(),
        };
        println!(
            "  {:>3}  {:<22} {:>10} packets {:>12}  {seq}  (closed by {})",
            s.index,
            s.source,
            s.packets,
            fmt_rate(s.pps),
            s.closed_by
        );
    }
}

pub fn print_device(d: &DeviceReport) {
    print_kv(
        "device",
        &[
            (
                "consumed",
                format!("{} packets ({} bytes)", d.consumed, d.consumed_bytes),
            ),
            (
                "buffer",
                format!(
                    "max fill {} bytes, {} at the end",
                    d.max_fill_bytes, d.fill_bytes
                ),
            ),
            (
                "events",
                format!(
                    "{} overflows, {} underflows, {} sequence errors, {} restarts",
                    d.overflows, d.underflows, d.seq_errors, d.restarts
                ),
            ),
            (
                "sequence",
                format!(
                    "{} skipped, {} discarded, {} lost in restarts",
                    d.skipped, d.discarded, d.lost_in_restart
                ),
            ),
            (
                "acks",
                format!(
                    "{} sent, {} datagrams, {} send errors",
                    d.acks_sent, d.ack_datagrams, d.ack_send_errors
                ),
            ),
        ],
    );
}

pub fn print_injected(c: &FaultCounts) {
    print_kv(
        "injected faults",
        &[
            (
                "data",
                format!(
                    "{} dropped, {} duplicated, {} reordered",
                    c.drop_data, c.dup_data, c.reorder_data
                ),
            ),
            (
                "acks",
                format!(
                    "{} dropped, {} duplicated, {} reordered, {} delayed, {} corrupted",
                    c.drop_acks, c.dup_acks, c.reorder_acks, c.delay_acks, c.corrupt_acks
                ),
            ),
            ("restarts", c.restarts.to_string()),
        ],
    );
}
