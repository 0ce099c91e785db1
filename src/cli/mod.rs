//! Command-line front end. Exit statuses: 0 when the stream completed; 1 when it stopped with an
//! error (the report is still printed, with `--json` as the usual object plus `"error"`; a run
//! that failed before it had a report prints `{"error": ...}` under `--json`); 2 for bad
//! arguments (one line naming the flag and the reason), an output path that cannot be written
//! included, found before the run starts; 130 / 143 / 129 when SIGINT / SIGTERM / SIGHUP stopped
//! it (the report is printed with `"interrupted": true`; `bench` prints and writes the rows
//! measured so far, marked partial).

mod bench;
mod checks;
mod framing;
mod interval;
mod logging;
mod output;
mod parse;
#[cfg(test)]
mod parser_props;
mod paths;
mod recv;
mod recv_tables;
mod send;
mod signals;
mod units;
mod version;

use clap::{CommandFactory, Parser, Subcommand};

/// ringshot: stream UDP packets at line rate, with no stalls and no loss.
#[derive(Debug, Parser)]
#[command(
    name = "ringshot",
    version,
    about,
    disable_version_flag = true,
    after_help = "Exit status: 0 the stream completed; 1 it stopped with an error (the report is \
                  still printed; with --json it has an \"error\" key, and a run that failed before \
                  it had a report prints {\"error\": ...}); 2 bad arguments, or an output path \
                  that cannot be written (checked before the run starts); 130 / 143 / 129 \
                  stopped by SIGINT / SIGTERM / SIGHUP (the report is printed with \
                  \"interrupted\": true; bench prints and writes a partial report)."
)]
struct Cli {
    /// Log more: -v info, -vv debug, -vvv trace (default: warnings). RINGSHOT_LOG takes a filter
    /// such as `debug` or `ringshot::flow=trace` and overrides this for what it names.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Print the version, and the features of this build and of this kernel (io_uring opcodes,
    /// GSO, GRO, zero copy, SQPOLL).
    #[arg(short = 'V', long)]
    version: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Stream packets to a receiver or device.
    #[command(after_help = SEND_EXAMPLES, after_long_help = SEND_EXAMPLES_LONG)]
    Send(Box<send::SendArgs>),
    /// Receive, drain and check a stream (the receiver / device side).
    #[command(after_help = RECV_EXAMPLES, after_long_help = RECV_EXAMPLES_LONG)]
    Recv(Box<recv::RecvArgs>),
    /// Run the benchmark suite over loopback: every backend × GSO × payload.
    #[command(after_help = BENCH_EXAMPLES)]
    Bench(bench::BenchArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout.
    #[command(after_help = "Example: ringshot completions bash > /etc/bash_completion.d/ringshot")]
    Completions {
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on stdout: `ringshot man | man -l -`.
    Man,
}

/// `send`'s examples: the last is the README's SDR stream into a device (1 MiB window of
/// 1472-byte packets: 712 packets; ACKs every 712 / 8 = 89; prefill 712 - 2 × 89 = 534).
macro_rules! send_examples {
    () => {
        "\
Examples:
  ringshot send --to 127.0.0.1:5000 --count 100000
  ringshot send --to localhost --duration 10s --rate 1G --interval 1     (port 5000)
  ringshot send --to 127.0.0.1:5000 --rate 68870pps --prefill 534 --window-packets 712 \\
      --ack native --duration 10s --fail-on-underflow
"
    };
}

const SEND_EXAMPLES: &str = send_examples!();

const SEND_EXAMPLES_LONG: &str = concat!(
    send_examples!(),
    "\
Exit status: 0 done; 1 error or a failed --fail-on-* check; 2 bad arguments or an --hdr-log
path that cannot be created; 130 / 143 / 129 SIGINT / SIGTERM / SIGHUP."
);

macro_rules! recv_examples {
    () => {
        "\
Examples:
  ringshot recv --bind :5000 --idle-exit-ms 2s          (all addresses; one stream after another)
  ringshot recv --bind :5000 --senders 2 --idle-exit-ms 2s   (send --engines 2: each engine checked)
  ringshot recv --bind 127.0.0.1:5000 --one-off --idle-exit-ms 500ms --fail-on-loss --json
  ringshot recv --bind 127.0.0.1:5000 --device --drain-rate 68870pps --idle-exit-ms 2s
"
    };
}

const RECV_EXAMPLES: &str = recv_examples!();

const RECV_EXAMPLES_LONG: &str = concat!(
    recv_examples!(),
    "\
Exit status: 0 done; 1 error or a failed --fail-on-* check (--fail-on-loss: also when nothing
arrived); 2 bad arguments; 130 / 143 / 129 SIGINT / SIGTERM / SIGHUP."
);

const BENCH_EXAMPLES: &str = "\
Columns: delivered pps (over the receiver's own time) and its Gbit/s (UDP payload); sent pps \
(over the sender's own time; higher when the receiver dropped packets); deliv % of the sent \
packets the loopback receiver got; CPU ns/p: CPU time of the engine thread per delivered \
packet; CPU %: that CPU time over the run, in % of one core; sub p50 / sub p99 / p99.99 / max: \
how long one submit (a syscall, or an io_uring submission) took; × send: delivered pps as a \
multiple of the plain send backend with the same GSO and payload in the same run (loopback). A \
\"machine busy\" line above a table: the load average was above the cores the run uses.
Examples:
  ringshot bench --case-secs 2
  ringshot bench --suite sdr --sdr-secs 10
Exit status: 0 done; 1 error; 2 bad arguments or an --out folder that takes no files; 130 / 143 /
129 SIGINT / SIGTERM / SIGHUP: the rows measured so far are printed and written, marked partial.";

/// A usage error: printed as one line, exit status 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            return match e.kind() {
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    let _ = e.print();
                    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                        2
                    } else {
                        0
                    }
                }
                _ => {
                    eprintln!("ringshot: error: {}", one_line(&e.to_string()));
                    2
                }
            };
        }
    };
    logging::init(cli.verbose);
    if cli.version {
        print!("{}", version::text(&ringshot::capabilities()));
        return 0;
    }
    let Some(command) = cli.command else {
        let _ = Cli::command().print_help();
        return 2;
    };
    let json = command.json();
    let result = match command {
        Command::Send(args) => send::run(*args),
        Command::Recv(args) => recv::run(*args),
        Command::Bench(args) => bench::run(args),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "ringshot",
                &mut std::io::stdout(),
            );
            Ok(0)
        }
        Command::Man => clap_mangen::Man::new(Cli::command())
            .render(&mut std::io::stdout())
            .map(|()| 0)
            .map_err(Into::into),
    };
    match result {
        Ok(status) => status,
        Err(e) => {
            if let Some(u) = e.downcast_ref::<UsageError>() {
                eprintln!("ringshot: error: {u}");
                return 2;
            }
            eprintln!("ringshot: error: {e:#}");
            // A failure before there was a report (or one with no report): under --json, stdout
            // still has its one object. A report already printed says its own error.
            if json && e.downcast_ref::<Reported>().is_none() {
                println!("{}", serde_json::json!({ "error": format!("{e:#}") }));
            }
            1
        }
    }
}

impl Command {
    /// Whether the command prints one JSON object on stdout (`--json`).
    fn json(&self) -> bool {
        match self {
            Command::Send(a) => a.json,
            Command::Recv(a) => a.json,
            Command::Bench(a) => a.json,
            Command::Completions { .. } | Command::Man => false,
        }
    }
}

/// An error that ended a run whose report is already printed (with `--json`, the report object,
/// which carries the error itself where it has one): exit 1, and no second JSON object.
#[derive(Debug)]
pub struct Reported(pub anyhow::Error);

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl std::error::Error for Reported {}

/// A clap error as one line: its first line without the "error: " prefix, joined with the
/// line after it when the first ends in ':' (as "required arguments were not provided:" does),
/// and with clap's suggestions ("tip: a similar argument exists: '--count'") kept after a `;`.
fn one_line(msg: &str) -> String {
    let mut lines = msg.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines
        .next()
        .unwrap_or("invalid arguments")
        .trim_start_matches("error: ");
    let rest: Vec<&str> = lines.collect();
    let mut line = match (first.ends_with(':'), rest.first()) {
        (true, Some(next)) => format!("{first} {next}"),
        _ => first.to_string(),
    };
    for tip in rest.iter().filter(|l| l.starts_with("tip:")) {
        line += "; ";
        line += tip;
    }
    line
}

/// A usage error from a `flag: reason` message (the flag without its dashes).
pub fn usage(e: impl std::fmt::Display) -> anyhow::Error {
    UsageError(format!("--{e}")).into()
}
