//! Command-line front end. Exit statuses: 0 when the stream completed; 1 when it stopped with an
//! error (the report is still printed, with `--json` as the usual object plus `"error"`); 2 for
//! bad arguments (one line naming the flag and the reason); 130 / 143 when SIGINT / SIGTERM
//! stopped it (the report is printed with `"interrupted": true`).

mod bench;
mod framing;
mod logging;
mod output;
mod parse;
mod recv;
mod send;
mod signals;

use clap::{Parser, Subcommand};

/// ringshot: stream UDP packets at line rate, with no stalls and no loss.
#[derive(Debug, Parser)]
#[command(
    name = "ringshot",
    version,
    about,
    propagate_version = true,
    after_help = "Exit status: 0 the stream completed; 1 it stopped with an error (the report is \
                  still printed; with --json it has an \"error\" key); 2 bad arguments; 130 / 143 \
                  stopped by SIGINT / SIGTERM (the report is printed with \"interrupted\": true)."
)]
struct Cli {
    /// Log more: -v info, -vv debug, -vvv trace (default: warnings). RINGSHOT_LOG takes a filter
    /// such as `debug` or `ringshot::flow=trace` and overrides this for what it names.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Stream packets to a receiver or device.
    Send(Box<send::SendArgs>),
    /// Receive, drain and check a stream (the receiver / device side).
    Recv(Box<recv::RecvArgs>),
    /// Run the benchmark suite over loopback: every backend × GSO × payload.
    Bench(bench::BenchArgs),
}

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
    let result = match cli.command {
        Command::Send(args) => send::run(*args),
        Command::Recv(args) => recv::run(*args),
        Command::Bench(args) => bench::run(args).map(|()| 0),
    };
    match result {
        Ok(status) => status,
        Err(e) => match e.downcast_ref::<UsageError>() {
            Some(u) => {
                eprintln!("ringshot: error: {u}");
                2
            }
            None => {
                eprintln!("ringshot: error: {e:#}");
                1
            }
        },
    }
}

/// A clap error as one line: its first line without the "error: " prefix, joined with the
/// line after it when the first ends in ':' (as "required arguments were not provided:" does).
fn one_line(msg: &str) -> String {
    let mut lines = msg.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines
        .next()
        .unwrap_or("invalid arguments")
        .trim_start_matches("error: ");
    match (first.ends_with(':'), lines.next()) {
        (true, Some(next)) => format!("{first} {next}"),
        _ => first.to_string(),
    }
}

/// A usage error from a `flag: reason` message (the flag without its dashes).
pub fn usage(e: impl std::fmt::Display) -> anyhow::Error {
    UsageError(format!("--{e}")).into()
}
