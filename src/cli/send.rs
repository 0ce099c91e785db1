//! `ringshot send`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::interval::{Intervals, Sample};
use super::output::{fmt_map, fmt_ns, fmt_rate, print_kv, report_json, Progress};
use super::signals::StopSignals;
use super::{checks, framing, parse, paths, units, Reported, UsageError};
use ringshot::config::{check_stream_length, ConfigError, IdlePolicy};
use ringshot::engine::EngineError;
use ringshot::engine::SourceSender;
use ringshot::flow::AckFormat;
use ringshot::{BackendChoice, SendOrder, SenderConfig, TxReport};

mod group;

/// The `--backend` values this build offers (auto is the first that works), in its help line.
/// Listed in the help rather than as the value name: a value name this long would push every
/// flag of its heading onto two lines of `-h`.
#[cfg(windows)]
const BACKEND_HELP: &str = "Send backend: auto|iocp|send";
#[cfg(all(not(windows), not(target_os = "linux")))]
const BACKEND_HELP: &str = "Send backend: auto|uring|mmsg|send";
#[cfg(target_os = "linux")]
const BACKEND_HELP: &str =
    "Send backend: auto|uring|mmsg|send|xdp (xdp's --xdp-queue and --xdp-mode: see --help)";

#[derive(Debug, Args)]
pub struct SendArgs {
    /// Destination: HOST:PORT, or HOST for port 5000.
    ///
    /// 127.0.0.1:5000, [::1]:5000 or a host name (localhost:5000, resolved once); without a port
    /// (127.0.0.1, ::1, localhost) the packets go to port 5000.
    #[arg(help_heading = "Target", long, value_name = "ADDR", value_parser = units::dest_addr)]
    to: SocketAddr,
    /// Local address to send from (:PORT or PORT: all IPv4 addresses).
    #[arg(help_heading = "Target", long, value_name = "ADDR", value_parser = units::bind_addr)]
    bind: Option<SocketAddr>,
    /// UDP payload bytes per packet, the framing's header included.
    ///
    /// The 16-byte ringshot header included (the framing's header in general). It must leave
    /// room for the header and one sample (usrp2, vrt, chdr: --sample-bytes). usrp2, vrt and
    /// chdr packets carry whole samples, vrt and usrp2 in whole 4-byte words, SPEAD whole 8-byte
    /// words: a size in between is rounded down (with a note saying what is sent).
    #[arg(
        help_heading = "Target",
        long,
        visible_alias = "packet",
        default_value_t = 1472,
        value_name = "BYTES"
    )]
    payload: usize,
    /// Packets to send (at least 1) [default: 1000000 unless --duration].
    #[arg(help_heading = "Target", long, value_name = "N", conflicts_with = "duration",
          value_parser = clap::value_parser!(u64).range(1..), allow_hyphen_values = true)]
    count: Option<u64>,
    /// Time to send for: seconds, or with a unit (500ms, 2s, 1m, 2h).
    ///
    /// More than 0, at most one year.
    #[arg(help_heading = "Target", long, value_name = "SECS", value_parser = parse::secs, allow_hyphen_values = true)]
    duration: Option<Duration>,
    /// Sequence number of the first packet (give the receiver the same --start-seq).
    ///
    /// The stream must not wrap past 2^64 - 1 (a --duration stream must start at or below
    /// 2^64 - 2^62 - 1). A receiver expects 0 unless told the same --start-seq, and counts the
    /// sequence numbers before the first as lost.
    #[arg(help_heading = "Target", long, default_value_t = 0, value_name = "SEQ")]
    start_seq: u64,
    /// Stream id written into each packet header.
    #[arg(help_heading = "Target", long, default_value_t = 0, value_name = "ID")]
    stream_id: u32,
    /// Pace at this rate: 68870pps, 500kpps, 1.2Mpps, 100M, 1G, 25Msps.
    ///
    /// Packets (68870pps, 500kpps, 1.2Mpps) or bits of UDP payload (100M, 1G, 850Mbps,
    /// 1Gbit/s); units are case-insensitive, but write Mpps, not mpps (milli?). It must come to
    /// 1 ..= 1e9 packets per second at the payload size. Samples per second also work for SDR
    /// streams: 25Msps, 500ksps (divided by the samples per packet of the framing).
    #[arg(help_heading = "Rate and pacing", long, value_name = "RATE", value_parser = framing::parse_rate, allow_hyphen_values = true)]
    rate: Option<framing::RateArg>,
    /// Most packets sent back to back (default 16); given, the stream leaves in such groups.
    ///
    /// When catching up with the schedule after a stall (default 16) and, given here, in every
    /// group: the stream then leaves in groups of this many, each when its first packet is due,
    /// and sleeps between them (see --spacing).
    #[arg(help_heading = "Rate and pacing", long, value_name = "PACKETS")]
    burst: Option<u64>,
    /// Each packet at its own time, or groups of --burst packets.
    ///
    /// auto: each packet at its own time where a sleep fits the gap, else small groups (at most
    /// --burst) sent when their first is due, sleeping between them; strict: every packet at its
    /// own time, spinning where a sleep does not fit (a core at high rates); bursts: groups of
    /// --burst packets. Default: bursts when --burst is given, auto otherwise.
    #[arg(
        help_heading = "Rate and pacing",
        long,
        value_name = "auto|strict|bursts"
    )]
    spacing: Option<ringshot::pacing::Spacing>,
    /// Paced streams: gather what falls due within this many µs into one submit.
    #[arg(help_heading = "Rate and pacing", long, default_value = "0", value_name = "US", value_parser = parse::micros_or_zero, allow_hyphen_values = true)]
    pace_quantum_us: Duration,
    /// Paced streams: send this many packets at once first, to fill the device's buffer.
    ///
    /// For a device: the window less two ACK intervals leaves room for the ACKs in flight
    /// (1 MiB at 1472 B is a 712-packet window; ACKs every 89: 712 - 2 × 89 = 534).
    #[arg(
        help_heading = "Rate and pacing",
        long,
        default_value_t = 0,
        value_name = "PACKETS"
    )]
    prefill: u64,
    /// Flow control: at most this many packets sent but not acknowledged.
    #[arg(help_heading = "Flow control", long, value_name = "N")]
    window_packets: Option<u64>,
    /// Flow control: at most this many bytes sent but not acknowledged.
    #[arg(help_heading = "Flow control", long, value_name = "N")]
    window_bytes: Option<u64>,
    /// Flow control: the device's ACK format.
    ///
    /// ACKs arrive on the data socket unless --ack-bind.
    #[arg(help_heading = "Flow control", long, value_name = "native|usrp2|chdr")]
    ack: Option<AckFormat>,
    /// Receive ACKs on this address instead of the data socket.
    #[arg(help_heading = "Flow control", long, value_name = "ADDR", value_parser = units::bind_addr)]
    ack_bind: Option<SocketAddr>,
    /// Accept ACKs only from this address and port [default: the --to address].
    #[arg(help_heading = "Flow control", long, value_name = "ADDR", value_parser = units::addr)]
    ack_from: Option<SocketAddr>,
    /// Pin the ACK core thread to this core.
    #[arg(help_heading = "Flow control", long, value_name = "N")]
    ack_core: Option<usize>,
    /// Busy-poll the ACK socket instead of sleeping in poll(2).
    ///
    /// The lowest visibility latency, at the cost of one core at 100 %.
    #[arg(help_heading = "Flow control", long)]
    ack_busy_poll: bool,
    /// While the window is closed: spin, or spin then yield then sleep briefly (adaptive).
    #[arg(help_heading = "Flow control", long, default_value = "adaptive", value_name = "spin|adaptive", value_parser = parse_wait)]
    window_wait: IdlePolicy,
    /// End the stream with an error if the window stays closed this long.
    ///
    /// ms, or with a unit (200ms, 2s).
    #[arg(help_heading = "Flow control", long, default_value = "2000", value_name = "MS", value_parser = parse::millis, allow_hyphen_values = true)]
    stall_timeout: Duration,
    #[arg(
        help_heading = "Engine",
        long,
        default_value = "auto",
        value_name = "NAME",
        help = BACKEND_HELP
    )]
    backend: BackendChoice,
    /// xdp: the device queue the AF_XDP socket binds to.
    #[arg(
        help_heading = "Engine",
        long,
        default_value_t = 0,
        value_name = "N",
        hide_short_help = true
    )]
    xdp_queue: u32,
    /// xdp: zero copy (zc, driver support needed), copy mode, or auto (zero copy, else copy).
    #[arg(
        help_heading = "Engine",
        long,
        default_value = "auto",
        value_name = "copy|zc|auto",
        hide_short_help = true
    )]
    xdp_mode: ringshot::XdpMode,
    /// Use UDP GSO when the kernel has it (the default).
    #[arg(help_heading = "Engine", long, overrides_with = "no_gso")]
    gso: bool,
    /// Never use UDP GSO.
    #[arg(help_heading = "Engine", long = "no-gso")]
    no_gso: bool,
    /// Packets per submit [default: 64; with GSO, whole super-packets: 88 at 1472 B; xdp: 256]
    #[arg(help_heading = "Engine", long, value_name = "N")]
    batch: Option<usize>,
    /// Packet buffers in the slab.
    #[arg(
        help_heading = "Engine",
        long,
        default_value_t = 4096,
        value_name = "N"
    )]
    slots: u32,
    /// Pin the engine thread to this core.
    #[arg(
        help_heading = "Engine",
        long,
        value_name = "N",
        conflicts_with = "tx_cores"
    )]
    tx_core: Option<usize>,
    /// Run N engines as one sender, each pinned to a core of its own.
    ///
    /// Each has its own socket (its own source port), slab and sequence space (stream id
    /// --stream-id + its index); the rate and --count are split between them (the count's
    /// remainder to the first engines), --duration applies to each. Cores: --tx-cores, else the
    /// first N available (more engines than cores is refused). The report has a row per engine
    /// and the total; --fail-on-* and the exit status go by the total.
    #[arg(help_heading = "Engine", long, value_name = "N", default_value_t = 1, value_parser = group::engines)]
    engines: usize,
    /// The engines' cores: a list such as 0,1 or 0-3 (one engine per entry; a core named twice
    /// is shared).
    #[arg(help_heading = "Engine", long, value_name = "LIST", value_parser = group::core_list)]
    tx_cores: Option<group::CoreList>,
    /// With --engines and --window-packets: one window shared by all the engines (the packets
    /// outstanding, summed over the engines, stay within it) instead of one window each.
    #[arg(help_heading = "Engine", long, requires = "window_packets")]
    shared_window: bool,
    /// Datagram size at or above which io_uring sends zero-copy; "off" never.
    ///
    /// 1 byte or more, or "off".
    #[arg(help_heading = "Engine", long, default_value = "4096", value_name = "BYTES|off", value_parser = parse::zc_threshold, allow_hyphen_values = true)]
    zc_threshold: parse::ZcThreshold,
    /// Use an io_uring SQPOLL thread that sleeps after this many ms idle.
    ///
    /// Where the kernel refuses SQPOLL, auto falls back to the next backend and says why in a
    /// note.
    #[arg(help_heading = "Engine", long, value_name = "MS", value_parser = parse::millis, allow_hyphen_values = true)]
    sqpoll_idle_ms: Option<Duration>,
    /// Pin the SQPOLL kernel thread to this CPU (one this system has).
    #[arg(
        help_heading = "Engine",
        long,
        value_name = "N",
        requires = "sqpoll_idle_ms"
    )]
    sqpoll_cpu: Option<u32>,
    /// May the rest of a batch leave before a packet whose send failed?
    ///
    /// relaxed: the failed packet is then re-sent after them, counted in reordered_packets.
    /// io_uring only, where keeping order costs a kernel hop per datagram; refused with usrp2,
    /// vrt and chdr.
    #[arg(
        help_heading = "Engine",
        long,
        default_value = "strict",
        value_name = "strict|relaxed"
    )]
    send_order: SendOrder,
    /// Run the engine under SCHED_FIFO at this priority (a warning if not permitted).
    #[arg(help_heading = "Engine", long, value_name = "PRIO")]
    sched_fifo: Option<i32>,
    /// Lock memory (mlockall; a warning if not permitted).
    #[arg(help_heading = "Engine", long)]
    mlockall: bool,
    /// Print one JSON object at the end instead of a table.
    #[arg(help_heading = "Output", long)]
    pub(super) json: bool,
    /// Write the submit-latency histogram as an HdrHistogram V2 interval log.
    ///
    /// The file is created before the stream starts: a path that cannot be created exits 2.
    #[arg(help_heading = "Output", long, value_name = "PATH")]
    hdr_log: Option<PathBuf>,
    /// Print one line per interval and add `intervals` to the JSON.
    ///
    /// Each line: packets, rate, submit p99, lateness, window waits, ACK visibility. Seconds or
    /// with a unit; 0 turns it off [default: 1 s on a terminal, shown for runs over 2 s].
    #[arg(help_heading = "Output", long, value_name = "SECS", value_parser = parse::secs_or_zero)]
    interval: Option<Duration>,
    /// Exit 1 when packets were lost: the device reported a sequence error, or sends were refused.
    ///
    /// A sequence error in the device's ACKs (a packet lost on the way), or sends refused with
    /// ECONNREFUSED (nothing listened at the destination: every refused send is a lost packet).
    #[arg(help_heading = "Output", long)]
    fail_on_loss: bool,
    /// Exit 1 when the device reported an underflow (its buffer ran dry).
    #[arg(help_heading = "Output", long)]
    fail_on_underflow: bool,
    /// Exit 1 when the device reported an overflow (more arrived than its buffer holds).
    #[arg(help_heading = "Output", long)]
    fail_on_overflow: bool,

    // Data format (`--format` and its options).
    #[command(flatten, next_help_heading = "Data format")]
    framing: framing::SendFraming,
}

fn parse_wait(s: &str) -> Result<IdlePolicy, String> {
    match s {
        "spin" => Ok(IdlePolicy::Spin),
        "adaptive" => Ok(IdlePolicy::Adaptive),
        _ => Err(format!("'{s}' is not spin or adaptive")),
    }
}

/// The default length of a stream given neither `--count` nor `--duration`.
const DEFAULT_COUNT: u64 = 1_000_000;

/// The `send` flag that sets a [`SenderConfigBuilder`](ringshot::SenderConfigBuilder) option:
/// the option's name with dashes, except where the flag carries a unit or another name.
fn flag_of(field: &str) -> String {
    match field {
        "dest" => "to".into(),
        "gso" => "no-gso".into(),
        "sqpoll" => "sqpoll-idle-ms".into(),
        "pace_quantum" => "pace-quantum-us".into(),
        other => other.replace('_', "-"),
    }
}

/// A library configuration error as a usage error naming the `send` flag at fault.
fn config_usage(e: ConfigError) -> anyhow::Error {
    UsageError(format!("--{}: {}", flag_of(e.field()), e.reason())).into()
}

/// The library configuration from the flags: `--payload` goes to the builder once, here;
/// `app_len` (what each generated packet carries, from [`framing::SendFraming::app_len`]) sizes the SPEAD
/// heaps and turns a sample rate into packets.
fn config(a: &SendArgs, app_len: usize) -> anyhow::Result<SenderConfig> {
    let mut b = SenderConfig::builder(a.to)
        .backend(a.backend)
        .gso(!a.no_gso)
        .payload(a.payload)
        .slots(a.slots)
        .zc_threshold(a.zc_threshold.0)
        .stream_id(a.stream_id)
        .mlockall(a.mlockall)
        .burst(a.burst.unwrap_or(ringshot::config::DEFAULT_BURST))
        .spacing(a.spacing.unwrap_or(if a.burst.is_some() {
            ringshot::pacing::Spacing::Bursts
        } else {
            ringshot::pacing::Spacing::Auto
        }))
        .prefill(a.prefill)
        .pace_quantum(a.pace_quantum_us)
        .stall_timeout(a.stall_timeout)
        .start_seq(a.start_seq)
        .ack_busy_poll(a.ack_busy_poll)
        .window_wait(a.window_wait)
        .sqpoll(a.sqpoll_idle_ms)
        .send_order(a.send_order)
        .xdp_queue(a.xdp_queue)
        .xdp_mode(a.xdp_mode)
        .framing(a.framing.timed(a.rate, app_len)?);
    if let Some(addr) = a.bind {
        b = b.bind(addr);
    }
    if let Some(c) = a.tx_core {
        b = b.tx_core(c);
    }
    if let Some(c) = a.sqpoll_cpu {
        b = b.sqpoll_cpu(c);
    }
    if let Some(n) = a.batch {
        b = b.batch(n);
    }
    if let Some(r) = a.rate {
        b = b.rate(a.framing.rate(r, app_len)?);
    }
    if let Some(w) = a.window_packets {
        b = b.window_packets(w);
    }
    if let Some(w) = a.window_bytes {
        b = b.window_bytes(w);
    }
    if let Some(f) = a.ack {
        b = b.ack(f);
    }
    if let Some(addr) = a.ack_bind {
        b = b.ack_bind(addr);
    }
    if let Some(addr) = a.ack_from {
        b = b.ack_from(addr);
    }
    if let Some(c) = a.ack_core {
        b = b.ack_core(c);
    }
    if let Some(p) = a.sched_fifo {
        b = b.sched_fifo(p);
    }
    b.build().map_err(config_usage)
}

/// Runs the stream; returns the exit status (0, or 130 / 143 / 129 when a signal stopped it), or
/// the error that stopped it (after printing its report when it has one).
pub fn run(a: SendArgs) -> anyhow::Result<i32> {
    checks::online_cpu("sqpoll-cpu", a.sqpoll_cpu)?;
    let payload_note = a.framing.check_payload(a.payload)?;
    let app_len = a.framing.app_len(a.payload)?;
    let cfg = config(&a, app_len)?;
    if let Some(n) = payload_note {
        eprintln!("ringshot: note: {n}");
    }
    let count = match (a.count, a.duration) {
        (None, None) => Some(DEFAULT_COUNT),
        (c, _) => c,
    };
    check_stream_length(cfg.start_seq(), count).map_err(config_usage)?;
    if a.engines > 1 || a.tx_cores.is_some() {
        return group::run(&a, cfg, count);
    }
    // Created now, so a path that cannot be written stops the run before its first packet.
    let hdr_log = match &a.hdr_log {
        Some(path) => Some((paths::create_output_file("hdr-log", path)?, path)),
        None => None,
    };
    let signals = StopSignals::install().context("installing the stop signal handlers")?;
    let count = a.framing.count(app_len, count)?;
    let source = a.framing.source(app_len, count, a.duration)?;
    let to = cfg.dest();
    let tx = match SourceSender::spawn(cfg, source) {
        Ok(tx) => tx,
        // AF_XDP refused here (no CAP_NET_RAW, no kernel support, a payload the MTU cannot
        // carry): a usage error, with the reason.
        Err(EngineError::BackendUnavailable {
            backend: "xdp",
            reason,
        }) => return Err(super::usage(format!("backend: xdp: {reason}"))),
        Err(e) => return Err(anyhow::Error::new(e).context("starting the send engine")),
    };
    let mut intervals = Intervals::new(a.interval, a.json);
    watch(&tx, &signals, &mut intervals);
    // A stream that ended early (stall, device restart, send error) still reports what it
    // measured.
    let (report, failure) = match tx.finish() {
        Ok(r) => (r, None),
        Err(e) => match e.report().cloned() {
            Some(r) => (r, Some(e)),
            None => return Err(anyhow::Error::new(e).context("sending")),
        },
    };
    let interrupted = signals.received();
    if let Some((file, path)) = hdr_log {
        write_hdr_log(file, path, &report)?;
    }
    // A failed --fail-on-* check is the run's error too, in the JSON object as in the exit.
    let failed = match (&failure, interrupted) {
        (None, None) => failed_check(&a, &report, to),
        _ => None,
    };
    let error = failure.as_ref().map(|e| e.to_string()).or(failed.clone());
    if a.json {
        let rows = serde_json::to_value(intervals.rows())?;
        println!(
            "{}",
            report_json(
                &report,
                interrupted.is_some(),
                error.as_deref(),
                vec![("intervals", rows)]
            )?
        );
    } else {
        print_send_table(&report);
        if let Some(sig) = interrupted {
            println!("  interrupted by {}", sig.name());
        }
    }
    print_notes(&a, &report, to);
    // The report is printed: an error from here on is `Reported` (no second JSON object).
    let reported = |e: anyhow::Error| Err(Reported(e).into());
    match (failure, interrupted) {
        (Some(e @ (EngineError::Stalled { .. } | EngineError::DeviceRestarted { .. })), _) => {
            reported(anyhow::Error::new(e))
        }
        (Some(e), _) => reported(anyhow::Error::new(e).context("sending")),
        (None, Some(sig)) => Ok(sig.exit_status()),
        (None, None) => match failed {
            Some(reason) => reported(anyhow::anyhow!(reason)),
            None => Ok(0),
        },
    }
}

/// The run's notes and warnings, on stderr: on the terminal with `--json` too (stdout is the
/// JSON object there).
fn print_notes(a: &SendArgs, report: &TxReport, to: SocketAddr) {
    for n in &report.notices {
        eprintln!("ringshot: note: {n}");
    }
    if a.sqpoll_idle_ms.is_some() && report.backend != "uring" {
        let why = if a.backend == BackendChoice::Auto {
            "io_uring refused the ring (see the note above), so"
        } else {
            "only io_uring has one, and"
        };
        eprintln!(
            "ringshot: note: --sqpoll-idle-ms: no SQPOLL thread: {why} the {} backend sent",
            report.backend
        );
    }
    if report.tsi_saturated > 0 {
        eprintln!(
            "ringshot: warning: {} packets carry TSI 4294967295: the integer seconds would have wrapped (lower --start-time)",
            report.tsi_saturated
        );
    }
    let refused = report.refused_sends();
    if refused > 0 {
        eprintln!(
            "ringshot: warning: {refused} sends refused (ECONNREFUSED): is anything listening on \
             {to}?"
        );
    }
}

/// Waits for the engine, stopping it on a signal, with the spinner or the interval lines.
fn watch(tx: &SourceSender, signals: &StopSignals, intervals: &mut Intervals) {
    let mut progress = Progress::new("send");
    while !tx.is_finished() {
        if signals.received().is_some() {
            tx.stop();
        }
        std::thread::sleep(Duration::from_millis(50));
        if intervals.due() {
            intervals.close(cut(tx));
        } else if !intervals.printing() {
            progress.update(tx.progress());
        }
    }
    progress.finish();
    // The engine cuts once more as it ends, so the last interval has its figures as well.
    intervals.finish(sample(tx, true));
}

/// Asks the engine to cut an interval and waits (briefly) for it; a paused engine gives no
/// interval figures.
fn cut(tx: &SourceSender) -> Sample {
    let before = tx.live().cuts;
    tx.request_cut();
    for _ in 0..40 {
        // A finished engine made its last cut as it ended: those are this interval's figures.
        if tx.live().cuts != before || tx.is_finished() {
            return sample(tx, true);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    sample(tx, false)
}

fn sample(tx: &SourceSender, figures: bool) -> Sample {
    let l = tx.live();
    let flow = tx.flow().is_some();
    Sample {
        packets: l.packets,
        bytes: l.bytes,
        lost: None,
        window_waits: flow.then_some(l.window_waits),
        submit_p99_ns: figures.then_some(l.submit_p99_ns),
        lateness_max_ns: (figures && l.lateness_max_ns > 0).then_some(l.lateness_max_ns),
        ack_visibility_p99_ns: (figures && flow).then_some(l.visibility_p99_ns),
    }
}

/// The reason a `--fail-on-*` check fails, from the device events the ACKs reported, or (loss)
/// from the sends the destination refused: a refused datagram was lost.
fn failed_check(a: &SendArgs, r: &TxReport, to: SocketAddr) -> Option<String> {
    let refused = r.refused_sends();
    if a.fail_on_loss && refused > 0 {
        return Some(format!(
            "{refused} sends refused (ECONNREFUSED): nothing listened at {to} (--fail-on-loss)"
        ));
    }
    let count = |prefix: &str| -> u64 {
        r.events
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v)
            .sum()
    };
    [
        (a.fail_on_loss, "seq_error", "sequence errors (loss)"),
        (a.fail_on_underflow, "underflow", "underflows"),
        (a.fail_on_overflow, "overflow", "overflows"),
    ]
    .into_iter()
    .find_map(|(on, prefix, what)| {
        let n = count(prefix);
        (on && n > 0).then(|| {
            format!(
                "the device reported {n} {what} (--fail-on-{})",
                flag(prefix)
            )
        })
    })
}

fn flag(prefix: &str) -> &'static str {
    match prefix {
        "seq_error" => "loss",
        "underflow" => "underflow",
        _ => "overflow",
    }
}

fn write_hdr_log(mut f: std::fs::File, path: &Path, report: &TxReport) -> anyhow::Result<()> {
    ringshot::stats::write_interval_log(
        &mut f,
        &report.submit_hist,
        report.started,
        Duration::from_secs_f64(report.seconds),
        "submit",
    )
    .with_context(|| format!("writing {}", path.display()))
}

fn print_send_table(r: &TxReport) {
    let s = &r.submit_ns;
    print_kv(
        &format!("ringshot send: backend {}, GSO {}", r.backend, if r.gso { "on" } else { "off" }),
        &[
            ("packets", format!("{} ({} bytes)", r.packets, r.bytes)),
            ("time", format!("{:.3} s", r.seconds)),
            ("rate", format!("{} ({:.2} Gbit/s payload)", fmt_rate(r.pps), r.gbps)),
            ("submits", format!("{} ({} syscalls)", r.submits, r.syscalls)),
            (
                "submit latency",
                format!(
                    "p50 {} p90 {} p99 {} p99.9 {} p99.99 {} max {}",
                    fmt_ns(s.p50),
                    fmt_ns(s.p90),
                    fmt_ns(s.p99),
                    fmt_ns(s.p999),
                    fmt_ns(s.p9999),
                    fmt_ns(s.max)
                ),
            ),
            (
                "slow submits",
                format!("{} over 100 µs, {} over 1 ms", r.submits_over_100us, r.submits_over_1ms),
            ),
            (
                "reap latency",
                format!(
                    "{} reaps: p50 {} p99 {} p99.99 {} max {}",
                    r.reaps,
                    fmt_ns(r.reap_ns.p50),
                    fmt_ns(r.reap_ns.p99),
                    fmt_ns(r.reap_ns.p9999),
                    fmt_ns(r.reap_ns.max)
                ),
            ),
            ("errors", fmt_map(&r.errors)),
            ("GSO downgrades", r.gso_downgrades.to_string()),
            ("kernel drops", fmt_kernel_drops(r)),
            (
                "pacing",
                match (r.rate_target_pps, r.rate_error_pct, r.lateness_ns) {
                    (Some(t), Some(e), Some(l)) => format!(
                        "target {} error {e:+.3} % lateness p50 {} p99 {} p99.99 {} max {}, {} slots slipped",
                        fmt_rate(t),
                        fmt_ns(l.p50),
                        fmt_ns(l.p99),
                        fmt_ns(l.p9999),
                        fmt_ns(l.max),
                        r.schedule_slips
                    ),
                    _ => "unpaced".into(),
                },
            ),
            (
                "flow control",
                match (&r.acks, r.ack_visibility_ns, r.window_wait_ns) {
                    (Some(acks), Some(vis), Some(wait)) => format!(
                        "{} ACKs accepted ({} stale, {} beyond sent, {} foreign, {} malformed); \
                         {} window waits (p99 {}, max {}); ACK visibility p50 {} p99 {} max {}{}",
                        acks.accepted,
                        acks.stale,
                        acks.beyond_sent,
                        acks.foreign_source,
                        acks.malformed,
                        r.window_waits,
                        fmt_ns(wait.p99),
                        fmt_ns(wait.max),
                        fmt_ns(vis.p50),
                        fmt_ns(vis.p99),
                        fmt_ns(vis.max),
                        if r.stalled { "; STALLED" } else { "" }
                    ),
                    _ => "off".into(),
                },
            ),
            ("device events", fmt_map(&r.events)),
            (
                "CPU",
                format!(
                    "{:.0} ns per packet on ringshot-tx, {:.0} % of a core",
                    r.cpu_ns as f64 / r.packets.max(1) as f64,
                    r.cpu_ns as f64 / (r.seconds.max(1e-9) * 1e7)
                ),
            ),
        ],
    );
}

/// The kernel's own drop counts below the socket, beside what the sender re-sent.
fn fmt_kernel_drops(r: &TxReport) -> String {
    let k = &r.kernel;
    let (Some(device), Some(drops)) = (&k.device, k.qdisc_drops) else {
        return "not reported by this system".into();
    };
    let qdiscs = if k.qdiscs.is_empty() {
        "no qdisc".to_string()
    } else {
        k.qdiscs.join(", ")
    };
    let sndbuf = k
        .udp_sndbuf_errors
        .map_or_else(|| "n/a".to_string(), |n| n.to_string());
    format!(
        "{drops} at {device} ({qdiscs}), {} re-sent; UDP SndbufErrors {sndbuf}",
        r.resent_packets
    )
}

#[cfg(test)]
mod tests {
    use super::flag_of;
    use clap::CommandFactory;

    /// `--backend` lists the backends this platform has: iocp on Windows, the Unix ones
    /// elsewhere, xdp on Linux; each listed name parses.
    #[test]
    fn backend_help_lists_this_platforms_backends() {
        let cli = super::super::Cli::command();
        let send = cli.find_subcommand("send").expect("send subcommand");
        let arg = send
            .get_arguments()
            .find(|a| a.get_long() == Some("backend"))
            .expect("--backend");
        let help = arg.get_help().expect("--backend help").to_string();
        let listed = help
            .strip_prefix("Send backend: ")
            .expect("the help lists the backends");
        let names: Vec<&str> = listed.split(' ').next().unwrap().split('|').collect();
        if cfg!(windows) {
            assert_eq!(names, ["auto", "iocp", "send"]);
        } else if cfg!(target_os = "linux") {
            assert_eq!(names, ["auto", "uring", "mmsg", "send", "xdp"]);
        } else {
            assert_eq!(names, ["auto", "uring", "mmsg", "send"]);
        }
        for n in names {
            assert_eq!(n.parse::<ringshot::BackendChoice>().unwrap().name(), n);
        }
    }

    /// Every option a `ConfigError` can name (`ConfigError::field`) is set by a `send` flag.
    #[test]
    fn every_config_field_maps_to_a_send_flag() {
        let cli = super::super::Cli::command();
        let send = cli.find_subcommand("send").expect("send subcommand");
        let flags: Vec<&str> = send.get_arguments().filter_map(|a| a.get_long()).collect();
        for field in [
            "batch",
            "payload",
            "slots",
            "dest",
            "backend",
            "zc_threshold",
            "sqpoll",
            "sqpoll_cpu",
            "send_order",
            "rate",
            "burst",
            "prefill",
            "pace_quantum",
            "spacing",
            "window_packets",
            "window_bytes",
            "ack",
            "ack_bind",
            "ack_from",
            "ack_core",
            "stall_timeout",
            "tx_core",
            "sched_fifo",
            "start_seq",
            "sample_bytes",
            "heap_size",
            "heap_cnt_step",
            "tsi",
            "sample_rate",
        ] {
            let flag = flag_of(field);
            assert!(flags.contains(&flag.as_str()), "{field} -> --{flag}");
        }
    }
}
