//! [`PeerError`]: what can go wrong running or reading one peer.

use std::time::Duration;

/// What went wrong running or reading one peer.
#[derive(Debug)]
pub enum PeerError {
    /// A program of the peer is not on `PATH`.
    NotInstalled {
        program: &'static str,
        install: &'static str,
    },
    /// The program exists but could not be started.
    Spawn {
        program: String,
        error: std::io::Error,
    },
    /// No free loopback port could be found.
    Port(std::io::Error),
    /// The receiver did not bind its port in time (or exited first).
    NotReady {
        program: String,
        after: Duration,
        /// Its exit code if it exited (127: a wrapper such as a pyenv shim found no program).
        code: Option<i32>,
        output: String,
    },
    /// A process overstayed its time and was killed.
    Timeout { program: String, after: Duration },
    /// A process failed, with its exit status and the tail of its output.
    Failed {
        program: String,
        status: String,
        output: String,
    },
    /// The peer's output did not say what we need.
    Parse { peer: &'static str, what: String },
}

impl std::fmt::Display for PeerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerError::NotInstalled { program, install } => {
                write!(
                    f,
                    "`{program}` not found on PATH or not runnable (install: {install})"
                )
            }
            PeerError::Spawn { program, error } => write!(f, "cannot start {program}: {error}"),
            PeerError::Port(e) => write!(f, "no free loopback port: {e}"),
            PeerError::NotReady {
                program,
                after,
                output,
                ..
            } => write!(
                f,
                "{program} did not bind its port within {:.1} s{}",
                after.as_secs_f64(),
                tail_suffix(output)
            ),
            PeerError::Timeout { program, after } => write!(
                f,
                "{program} still running after {:.1} s; killed",
                after.as_secs_f64()
            ),
            PeerError::Failed {
                program,
                status,
                output,
            } => write!(f, "{program} failed ({status}){}", tail_suffix(output)),
            PeerError::Parse { peer, what } => write!(f, "cannot read {peer}'s output: {what}"),
        }
    }
}

impl std::error::Error for PeerError {}

fn tail_suffix(output: &str) -> String {
    let t = tail(output, 240);
    if t.is_empty() {
        String::new()
    } else {
        format!(": {t}")
    }
}

/// The last `max` characters of `s`, on one line.
pub(super) fn tail(s: &str, max: usize) -> String {
    let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let n = one_line.chars().count();
    if n <= max {
        one_line
    } else {
        let skip = n - max;
        format!("…{}", one_line.chars().skip(skip).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_is_short_and_on_one_line() {
        assert_eq!(tail("a\nb  c", 10), "a b c");
        assert_eq!(tail("0123456789", 4), "…6789");
    }
}
