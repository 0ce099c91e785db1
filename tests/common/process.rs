//! `ringshot` child processes under a watchdog: stdout and stderr are read on their own threads
//! (so a chatty child never blocks on a full pipe), stderr lines can be awaited (the receiver
//! announces its port there once it is bound), and every wait has a deadline after which the child
//! is killed and the kill is reported, so a hung child fails a test instead of hanging it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How often a wait with a deadline looks at the child.
const POLL: Duration = Duration::from_millis(5);

/// A running `ringshot` process.
pub struct Proc {
    pub name: String,
    child: Child,
    stdout: Option<JoinHandle<String>>,
    stderr_lines: mpsc::Receiver<String>,
    /// Stderr lines taken off the channel so far.
    stderr: Vec<String>,
}

/// How a process ended.
#[derive(Debug)]
pub struct Exit {
    /// Exit status; `None` when a signal ended it (the watchdog's SIGKILL included).
    pub code: Option<i32>,
    /// The watchdog killed it at its deadline.
    pub killed: bool,
    pub stdout: String,
    pub stderr: String,
    /// When the end was observed (within `POLL` of the real end when waited for).
    pub at: Instant,
}

impl Exit {
    /// Stdout parsed as the one JSON object `--json` prints.
    pub fn json(&self) -> Result<serde_json::Value, String> {
        serde_json::from_str(self.stdout.trim()).map_err(|e| {
            format!(
                "{e}: stdout {:?}, stderr {:?}",
                clip(&self.stdout),
                clip(&self.stderr)
            )
        })
    }

    /// The status as a short word: a number, "killed" (watchdog) or "signal".
    pub fn status(&self) -> String {
        match (self.killed, self.code) {
            (true, _) => "killed".into(),
            (false, Some(c)) => c.to_string(),
            (false, None) => "signal".into(),
        }
    }
}

/// The first 300 characters of `s`, for messages.
pub fn clip(s: &str) -> String {
    s.chars().take(300).collect()
}

impl Proc {
    /// Starts the `ringshot` binary with `args`.
    pub fn spawn(name: &str, args: &[String]) -> Proc {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringshot"));
        cmd.args(args);
        Proc::start(name, cmd)
    }

    /// Starts `cmd` (e.g. the binary under `ip netns exec`, which execs it in place, so the
    /// process waited for and killed is the binary itself).
    pub fn start(name: &str, mut cmd: Command) -> Proc {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the ringshot binary starts");
        let mut out = child.stdout.take().unwrap();
        let stdout = thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        let err = child.stderr.take().unwrap();
        let (tx, stderr_lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc {
            name: name.to_string(),
            child,
            stdout: Some(stdout),
            stderr_lines,
            stderr: Vec::new(),
        }
    }

    /// Waits until a stderr line contains `needle`; false if the process ended or `timeout`
    /// passed first.
    pub fn wait_for_stderr(&mut self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr_lines.recv_timeout(left.min(POLL * 10)) {
                Ok(line) => {
                    let found = line.contains(needle);
                    self.stderr.push(line);
                    if found {
                        return true;
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return false,
                Err(mpsc::RecvTimeoutError::Timeout) if left.is_zero() => return false,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
        }
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the process to end; at `deadline` kills it (SIGKILL) and says so.
    pub fn finish_by(mut self, deadline: Instant) -> Exit {
        let mut killed = false;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(st)) => break Some(st),
                Ok(None) if Instant::now() >= deadline => {
                    killed = true;
                    let _ = self.child.kill();
                    break self.child.wait().ok();
                }
                Ok(None) => thread::sleep(POLL),
                Err(_) => break None,
            }
        };
        let at = Instant::now();
        let stdout = self.stdout.take().unwrap().join().unwrap_or_default();
        // The pipe closed with the process: take every line until the reader thread hangs up.
        while let Ok(line) = self.stderr_lines.recv_timeout(Duration::from_secs(2)) {
            self.stderr.push(line);
        }
        Exit {
            code: status.and_then(|s| s.code()),
            killed,
            stdout,
            stderr: self.stderr.join("\n"),
            at,
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // A test that panics between spawn and finish must not leave a process behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
