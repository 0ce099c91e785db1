//! `ringshot recv`, and `ringshot recv --device`, the device emulator.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use serde::Serialize;

use super::interval::{Intervals, Sample};
use super::output::{report_json, Progress};
use super::recv_tables::{
    foreign_note, print_device, print_injected, print_recv_table, start_seq_note,
};
use super::signals::{StopSignal, StopSignals};
use super::{framing, parse, units, Reported, UsageError};
use ringshot::config::FieldError;
use ringshot::device::{
    DataFaults, DeviceConfig, DeviceReport, Emulator, FaultConfig, FaultCounts,
};
use ringshot::flow::AckFormat;
use ringshot::framing::Format;
use ringshot::pacing::Rate;
use ringshot::recv::{
    DatagramSink, Receiver, RecvBackend, RecvConfig, RecvControl, RecvReport, StreamChecker,
};

mod spead;

#[derive(Debug, Args)]
pub struct RecvArgs {
    /// Address to receive on: 127.0.0.1:5000, or :5000 (or 5000) for all IPv4 addresses.
    ///
    /// :PORT and PORT are 0.0.0.0:PORT, as iperf3's -p; [::]:PORT takes IPv6 too (and IPv4,
    /// where the system maps it).
    #[arg(help_heading = "Target", long, value_name = "ADDR", value_parser = units::bind_addr)]
    bind: SocketAddr,
    /// Receive backend.
    #[arg(
        help_heading = "Engine",
        long,
        default_value = "auto",
        value_name = "auto|uring|mmsg"
    )]
    backend: RecvBackend,
    /// Follow only the sender at this address and port for the whole run (no new streams)
    /// [default: one sender at a time, a new stream when it has finished].
    #[arg(help_heading = "Target", long, value_name = "ADDR", value_parser = units::addr)]
    from: Option<SocketAddr>,
    /// Check up to N senders at the same time, each on its own (send --engines N) [default: 1].
    ///
    /// Each source address and port (each engine of `send --engines N`, with its own sequence
    /// space) gets a stream and a sequence check of its own; `streams[]` has one summary per
    /// sender and the totals are their sums. A further source while all N are streaming is
    /// `foreign` (reason `senders_busy`). Not with --from, --device or --format spead.
    #[arg(help_heading = "Target", long, value_name = "N", value_parser = senders)]
    senders: Option<usize>,
    /// Stop after this many packets (at least 1); one run, no new streams.
    #[arg(help_heading = "Target", long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..), allow_hyphen_values = true)]
    count: Option<u64>,
    /// Stop after this long without a packet, also before the first.
    ///
    /// ms, or with a unit (500ms, 2s, 1m).
    #[arg(help_heading = "Target", long, value_name = "MS", value_parser = parse::millis, allow_hyphen_values = true)]
    idle_exit_ms: Option<Duration>,
    /// Pin the receive thread to this core.
    #[arg(help_heading = "Engine", long, value_name = "N")]
    rx_core: Option<usize>,
    /// SO_RCVBUF in bytes (SO_RCVBUFFORCE when permitted).
    #[arg(help_heading = "Engine", long, default_value_t = ringshot::recv::DEFAULT_RCVBUF, value_name = "BYTES")]
    rcvbuf: usize,
    /// Turn UDP GRO off.
    #[arg(help_heading = "Engine", long = "no-gro")]
    no_gro: bool,
    /// Print one JSON object at the end instead of a table.
    #[arg(help_heading = "Output", long)]
    pub(super) json: bool,
    /// One run from one sender (the first), as a script wants.
    ///
    /// No new streams; a later sender is `foreign`.
    #[arg(help_heading = "Target", long)]
    one_off: bool,
    /// Print one line per interval and add `intervals` to the JSON.
    ///
    /// Each line: packets, rate, loss. The intervals start at the first packet and end with the
    /// last that has packets. Seconds or with a unit; 0 turns it off [default: 1 s on a
    /// terminal, shown for runs over 2 s].
    #[arg(help_heading = "Output", long, value_name = "SECS", value_parser = parse::secs_or_zero)]
    interval: Option<Duration>,
    /// Exit 1 when packets were lost, or none arrived.
    ///
    /// Raw datagrams have no sequence numbers: they fail only when nothing arrived. SPEAD fails
    /// when a heap ended incomplete.
    #[arg(help_heading = "Output", long)]
    fail_on_loss: bool,
    /// Exit 1 when the device's buffer ran dry (needs --device).
    #[arg(help_heading = "Output", long)]
    fail_on_underflow: bool,
    /// Exit 1 when the device's buffer overflowed (needs --device).
    #[arg(help_heading = "Output", long)]
    fail_on_overflow: bool,

    #[command(flatten)]
    device: DeviceArgs,
    #[command(flatten)]
    faults: FaultArgs,

    // Data format (`--format` and its options).
    #[command(flatten)]
    framing: framing::RecvFraming,
}

/// The device emulator's flags (all need `--device`).
#[derive(Debug, Args)]
#[command(next_help_heading = "Device emulator")]
struct DeviceArgs {
    /// Act as a device: a buffer drained at a fixed rate that sends flow-control ACKs.
    ///
    /// The ACKs go to the sender, from the port the data arrives on.
    #[arg(long)]
    device: bool,
    /// Device buffer size in bytes of UDP payload [default: 1048576].
    #[arg(long, value_name = "BYTES")]
    device_buffer: Option<u64>,
    /// Drain rate in packets per second [default: 68870].
    #[arg(long, value_name = "N", conflicts_with = "drain_rate")]
    drain_pps: Option<f64>,
    /// Drain rate as packets or bits of UDP payload per second: 68870pps, 850Mbps, 1G ...
    #[arg(long, value_name = "RATE", value_parser = units::rate)]
    drain_rate: Option<Rate>,
    /// ACK format [default: native].
    #[arg(long, value_name = "native|usrp2|usrp2:SID|chdr")]
    ack: Option<AckFormat>,
    /// Send an ACK after every N packets consumed [default: 1/8 of the buffer in 1472 B packets].
    #[arg(long, value_name = "N")]
    ack_every: Option<u64>,
    /// Send an ACK at least this often while active, µs [default: 1000].
    #[arg(long, value_name = "US", value_parser = parse::micros, allow_hyphen_values = true)]
    ack_interval_us: Option<Duration>,
    /// The sender's --start-seq [default: 0]; without it those before are counted lost.
    ///
    /// The sequence number the stream starts at. A sender with --start-seq S and a receiver
    /// without it: the S sequence numbers before S are counted lost (the report says so).
    #[arg(long, value_name = "N", help_heading = "Target")]
    start_seq: Option<u64>,
}

/// Seeded fault injection. Data faults work with or without `--device`; ACK faults and restarts
/// need it.
#[derive(Debug, Args)]
#[command(next_help_heading = "Fault injection")]
struct FaultArgs {
    /// Seed of the fault generator [default: 0].
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Probability that a data packet is dropped.
    #[arg(long, value_name = "P")]
    drop_data: Option<f64>,
    /// Probability that a data packet is delivered twice.
    #[arg(long, value_name = "P")]
    dup_data: Option<f64>,
    /// Probability that a data packet is delivered after --reorder-depth later ones.
    #[arg(long, value_name = "P")]
    reorder_data: Option<f64>,
    /// How many later packets overtake a reordered one [default: 8].
    #[arg(long, value_name = "N")]
    reorder_depth: Option<usize>,
    /// Probability that an ACK is dropped.
    #[arg(long, value_name = "P")]
    drop_acks: Option<f64>,
    /// Probability that an ACK is sent twice.
    #[arg(long, value_name = "P")]
    dup_acks: Option<f64>,
    /// Probability that an ACK is sent after the next one.
    #[arg(long, value_name = "P")]
    reorder_acks: Option<f64>,
    /// Delay every ACK by this many µs.
    #[arg(long, value_name = "US", value_parser = parse::micros_or_zero, allow_hyphen_values = true)]
    delay_acks_us: Option<Duration>,
    /// Probability that an ACK is replaced by a damaged copy.
    #[arg(long, value_name = "P")]
    corrupt_acks: Option<f64>,
    /// The device restarts (forgets its buffer and position) after every N data packets.
    #[arg(long, value_name = "N")]
    restart_after: Option<u64>,
}

/// The `recv` flag that sets a receiver, device or fault builder option.
fn recv_flag_of(field: &str, drain_in_pps: bool) -> String {
    match field {
        "idle_exit" => "idle-exit-ms".into(),
        "buffer_bytes" => "device-buffer".into(),
        "drain" if drain_in_pps => "drain-pps".into(),
        "drain" => "drain-rate".into(),
        "ack_interval" => "ack-interval-us".into(),
        "delay_acks" => "delay-acks-us".into(),
        other => other.replace('_', "-"),
    }
}

/// A library configuration error (which names the builder option) as a usage error naming the
/// flag. The library never names CLI flags.
fn flag_error(e: FieldError) -> anyhow::Error {
    flag_error_drain(e, true)
}

fn flag_error_drain(e: FieldError, drain_in_pps: bool) -> anyhow::Error {
    let reason = e.reason.replace('_', "-");
    UsageError(format!(
        "--{}: {reason}",
        recv_flag_of(e.field, drain_in_pps)
    ))
    .into()
}

fn needs_device(flag: &str) -> anyhow::Error {
    UsageError(format!("--{flag}: needs --device")).into()
}

impl DeviceArgs {
    /// The first device flag given without `--device`.
    fn stray(&self) -> Option<&'static str> {
        [
            ("device-buffer", self.device_buffer.is_some()),
            ("drain-pps", self.drain_pps.is_some()),
            ("drain-rate", self.drain_rate.is_some()),
            ("ack", self.ack.is_some()),
            ("ack-every", self.ack_every.is_some()),
            ("ack-interval-us", self.ack_interval_us.is_some()),
        ]
        .into_iter()
        .find_map(|(f, set)| set.then_some(f))
    }

    fn config(&self, format: Format, heap_cnt_step: u64) -> anyhow::Result<DeviceConfig> {
        let mut b = DeviceConfig::builder()
            .format(format)
            .heap_cnt_step(heap_cnt_step);
        if let Some(n) = self.device_buffer {
            b = b.buffer_bytes(n);
        }
        if let Some(p) = self.drain_pps {
            b = b.drain(Rate::Pps(p));
        }
        if let Some(r) = self.drain_rate {
            b = b.drain(r);
        }
        if let Some(f) = self.ack {
            b = b.ack(f);
        }
        if let Some(n) = self.ack_every {
            b = b.ack_every(n);
        }
        if let Some(d) = self.ack_interval_us {
            b = b.ack_interval(d);
        }
        if let Some(s) = self.start_seq {
            b = b.start_seq(s);
        }
        let in_pps = self.drain_rate.is_none();
        b.build().map_err(|e| flag_error_drain(e, in_pps))
    }
}

impl FaultArgs {
    /// The first flag given that only makes sense with a device.
    fn device_only(&self) -> Option<&'static str> {
        [
            ("drop-acks", self.drop_acks.is_some()),
            ("dup-acks", self.dup_acks.is_some()),
            ("reorder-acks", self.reorder_acks.is_some()),
            ("delay-acks-us", self.delay_acks_us.is_some()),
            ("corrupt-acks", self.corrupt_acks.is_some()),
            ("restart-after", self.restart_after.is_some()),
        ]
        .into_iter()
        .find_map(|(f, set)| set.then_some(f))
    }

    fn config(&self) -> anyhow::Result<FaultConfig> {
        let mut b = FaultConfig::builder();
        macro_rules! set {
            ($($field:ident),*) => {$(
                if let Some(v) = self.$field {
                    b = b.$field(v);
                }
            )*};
        }
        set!(
            seed,
            drop_data,
            dup_data,
            reorder_data,
            reorder_depth,
            drop_acks,
            dup_acks,
            reorder_acks,
            corrupt_acks,
            restart_after
        );
        if let Some(d) = self.delay_acks_us {
            b = b.delay_acks(d);
        }
        b.build().map_err(flag_error)
    }
}

/// `recv --json` with data faults but no device.
#[derive(Debug, Serialize)]
struct FaultyRecvReport {
    #[serde(flatten)]
    recv: RecvReport,
    injected: FaultCounts,
}

/// `--senders`: 1 to [`ringshot::recv::MAX_SENDERS`].
fn senders(s: &str) -> Result<usize, String> {
    let max = ringshot::recv::MAX_SENDERS;
    match s.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        Ok(_) => Err(format!("between 1 and {max} senders")),
        Err(_) => Err(format!("'{s}' is not a number of senders")),
    }
}

/// `--senders` above 1 where the run checks one sender: the device emulator and SPEAD heap
/// reassembly.
fn check_senders(a: &RecvArgs) -> anyhow::Result<usize> {
    let n = a.senders.unwrap_or(1);
    let why = if a.device.device {
        "the device emulator follows one sender"
    } else if a.framing.format == Format::Spead {
        "SPEAD heaps are reassembled from one sender"
    } else {
        return Ok(n);
    };
    if n > 1 {
        return Err(UsageError(format!("--senders: {why}")).into());
    }
    Ok(n)
}

/// `--from` must name one sender: a specific address and a port.
fn check_from(from: Option<SocketAddr>) -> anyhow::Result<()> {
    match from {
        Some(addr) if addr.port() == 0 || addr.ip().is_unspecified() => Err(UsageError(format!(
            "--from: {addr} is not one sender's address and port"
        ))
        .into()),
        _ => Ok(()),
    }
}

/// What the run's ending needs from the flags.
#[derive(Debug, Clone, Copy)]
struct Out {
    json: bool,
    interval: Option<Duration>,
    fail_on_loss: bool,
    fail_on_underflow: bool,
    fail_on_overflow: bool,
    /// The format has sequence numbers, so the interval lines count loss.
    sequenced: bool,
    /// `--start-seq`, when given.
    start_seq: Option<u64>,
    /// `--senders` (1 without it).
    senders: usize,
}

/// Runs the receiver; returns the exit status (0, or 130 / 143 / 129 when a signal stopped it).
pub fn run(a: RecvArgs) -> anyhow::Result<i32> {
    if !a.device.device {
        if let Some(flag) = a.device.stray().or(a.faults.device_only()) {
            return Err(needs_device(flag));
        }
        if a.fail_on_underflow {
            return Err(needs_device("fail-on-underflow"));
        }
        if a.fail_on_overflow {
            return Err(needs_device("fail-on-overflow"));
        }
    }
    check_from(a.from)?;
    let senders = check_senders(&a)?;
    let format = a.framing.format;
    let spead = a.framing.spead()?;
    let device = if a.device.device {
        Some(a.device.config(format, a.framing.heap_cnt_step)?)
    } else {
        None
    };
    let faults = a.faults.config()?;
    if format == Format::Spead && !a.device.device && faults.data_faults() {
        return Err(UsageError(
            "--format: spead with data faults needs --device (the plain receiver reassembles \
             heaps without faults)"
                .into(),
        )
        .into());
    }
    // A plain receiver is reusable (one stream after another) unless told to do one run. SPEAD
    // streams end with their stop item, so they are one run too.
    let reusable = device.is_none()
        && !faults.data_faults()
        && format != Format::Spead
        && !a.one_off
        && a.from.is_none()
        && a.count.is_none();
    let mut b = RecvConfig::builder(a.bind)
        .backend(a.backend)
        .rcvbuf(a.rcvbuf)
        .gro(!a.no_gro)
        .verify(!a.framing.no_verify)
        .from_addr(a.from)
        .senders(senders)
        .streams(reusable)
        .idle_from_start(true);
    if let Some(n) = a.count {
        b = b.count(n);
    }
    if let Some(d) = a.idle_exit_ms {
        b = b.idle_exit(d);
    }
    if let Some(c) = a.rx_core {
        b = b.rx_core(c);
    }
    if let Some(s) = a.device.start_seq {
        b = b.start_seq(s);
    }
    let cfg = b.build().map_err(flag_error)?;
    let signals = StopSignals::install().context("installing the stop signal handlers")?;
    let out = Out {
        json: a.json,
        interval: a.interval,
        fail_on_loss: a.fail_on_loss,
        fail_on_underflow: a.fail_on_underflow,
        fail_on_overflow: a.fail_on_overflow,
        sequenced: ringshot::recv::formats::has_sequence(format),
        start_seq: a.device.start_seq,
        senders,
    };
    match device {
        Some(d) => run_device(cfg, d, faults, out, &signals),
        None if format == Format::Spead => {
            spead::run(cfg, spead, a.framing.heap_cnt_step, out, &signals)
        }
        None if faults.data_faults() => run_faulty(cfg, format, faults, out, &signals),
        None => run_plain(cfg, format, out, &signals),
    }
}

fn listening(addr: SocketAddr, backend: &str, gro: bool, what: &str) {
    // On stderr even with --json (stdout stays one JSON object), so scripts can find the port.
    eprintln!(
        "ringshot recv: {what}listening on {addr} (backend {backend}, GRO {})",
        if gro { "on" } else { "off" }
    );
}

/// Waits for the receiver to end, asking it to stop once a stop signal arrives; shows the
/// spinner or the interval lines.
fn wait(
    signals: &StopSignals,
    out: Out,
    is_finished: impl Fn() -> bool,
    stop: impl Fn(),
    control: &RecvControl,
) -> Intervals {
    let mut p = Progress::new("recv");
    let mut iv = Intervals::new(out.interval, out.json).for_receiver();
    let sample = || {
        let (packets, bytes) = control.progress();
        Sample {
            packets,
            bytes,
            lost: out.sequenced.then(|| control.lost()),
            ..Sample::default()
        }
    };
    while !is_finished() {
        if signals.received().is_some() {
            stop();
        }
        // Until the first packet, look often: the intervals start at it.
        std::thread::sleep(Duration::from_millis(if iv.waiting() { 5 } else { 50 }));
        iv.observe(control.progress().0);
        if iv.due() {
            iv.close(sample());
        } else if !iv.printing() {
            p.update(control.progress().0);
        }
    }
    p.finish();
    iv.finish(sample());
    iv
}

/// Prints `report` (JSON, or the tables `print_tables` prints) and returns the exit status, or
/// the failed `--fail-on-*` check as an error.
fn print_ending(
    report: &impl Serialize,
    recv: &RecvReport,
    out: Out,
    intervals: &Intervals,
    interrupted: Option<StopSignal>,
    failed: Option<String>,
    print_tables: impl FnOnce(),
) -> anyhow::Result<i32> {
    if let Some(n) = start_seq_note(recv, out.start_seq) {
        eprintln!("ringshot: note: {n}");
    }
    if let Some(n) = foreign_note(recv, out.senders) {
        eprintln!("ringshot: note: {n}");
    }
    if out.json {
        let rows = serde_json::to_value(intervals.rows())?;
        // A failed check is the run's error: in the one JSON object, as in the exit status.
        let error = failed.as_deref().filter(|_| interrupted.is_none());
        let json = report_json(
            report,
            interrupted.is_some(),
            error,
            vec![("intervals", rows)],
        )?;
        println!("{json}");
    } else {
        print_tables();
        if let Some(sig) = interrupted {
            println!("  interrupted by {}", sig.name());
        }
    }
    match (interrupted, failed) {
        (Some(sig), _) => Ok(sig.exit_status()),
        // Printed above: the error adds no second JSON object.
        (None, Some(reason)) => Err(Reported(anyhow::anyhow!(reason)).into()),
        (None, None) => Ok(0),
    }
}

/// The reason a `--fail-on-*` check fails.
fn failed_check(out: Out, r: &RecvReport, d: Option<&DeviceReport>) -> Option<String> {
    // Nothing arriving is the whole stream lost, with or without sequence numbers.
    if out.fail_on_loss && r.packets == 0 {
        return Some("nothing arrived (--fail-on-loss)".into());
    }
    if out.fail_on_loss && r.lost > 0 {
        return Some(format!("{} packets lost (--fail-on-loss)", r.lost));
    }
    let d = d?;
    if out.fail_on_underflow && d.underflows > 0 {
        return Some(format!(
            "{} device underflows (--fail-on-underflow)",
            d.underflows
        ));
    }
    if out.fail_on_overflow && d.overflows > 0 {
        return Some(format!(
            "{} device overflows (--fail-on-overflow)",
            d.overflows
        ));
    }
    None
}

/// Starts a receiver feeding `sink`, says where it listens (`what` names the mode) and waits
/// until it ends, `also_done` says so or a signal stops it.
fn start_and_wait<S: DatagramSink + 'static>(
    cfg: RecvConfig,
    sink: S,
    what: &str,
    out: Out,
    signals: &StopSignals,
    also_done: impl Fn() -> bool,
) -> anyhow::Result<(Receiver<S>, Intervals)> {
    let rx = Receiver::spawn_with(cfg, sink).context("starting the receiver")?;
    listening(rx.local_addr(), rx.backend(), rx.gro(), what);
    let iv = wait(
        signals,
        out,
        || rx.is_finished() || also_done(),
        || rx.stop(),
        &rx.control(),
    );
    Ok((rx, iv))
}

fn run_plain(
    cfg: RecvConfig,
    format: Format,
    out: Out,
    signals: &StopSignals,
) -> anyhow::Result<i32> {
    let sink = cfg.checker().with_format(format);
    let (rx, iv) = start_and_wait(cfg, sink, "", out, signals, || false)?;
    let report = rx.join().context("receiving")?;
    let failed = failed_check(out, &report, None);
    print_ending(
        &report,
        &report,
        out,
        &iv,
        signals.received(),
        failed,
        || print_recv_table(&report),
    )
}

fn run_faulty(
    cfg: RecvConfig,
    format: Format,
    faults: FaultConfig,
    out: Out,
    signals: &StopSignals,
) -> anyhow::Result<i32> {
    let sink = DataFaults::new(
        StreamChecker::new(cfg.window(), cfg.verify())
            .with_senders(cfg.senders())
            .with_start_seq(cfg.start_seq())
            .with_format(format),
        &faults,
    )
    .with_format(format);
    let (rx, iv) = start_and_wait(cfg, sink, "", out, signals, || false)?;
    let (recv, sink) = rx.join_with_sink().context("receiving")?;
    let report = FaultyRecvReport {
        recv,
        injected: sink.counts(),
    };
    let failed = failed_check(out, &report.recv, None);
    print_ending(
        &report,
        &report.recv,
        out,
        &iv,
        signals.received(),
        failed,
        || {
            print_recv_table(&report.recv);
            print_injected(&report.injected);
        },
    )
}

fn run_device(
    cfg: RecvConfig,
    device: DeviceConfig,
    faults: FaultConfig,
    out: Out,
    signals: &StopSignals,
) -> anyhow::Result<i32> {
    let what = format!(
        "device ({} B buffer, drain {}, {} ACKs) ",
        device.buffer_bytes(),
        device.drain(),
        device.ack()
    );
    let emu = Emulator::spawn(cfg, device, faults).context("starting the device emulator")?;
    listening(emu.local_addr(), emu.backend(), emu.gro(), &what);
    let iv = wait(
        signals,
        out,
        || emu.is_finished(),
        || emu.stop(),
        &emu.control(),
    );
    let report = emu.join().context("receiving")?;
    let failed = failed_check(out, &report.recv, Some(&report.device));
    print_ending(
        &report,
        &report.recv,
        out,
        &iv,
        signals.received(),
        failed,
        || {
            print_recv_table(&report.recv);
            print_device(&report.device);
            print_injected(&report.injected);
        },
    )
}
