//! Running the `ringshot` binary from a test: the command, a child with piped output, a wait
//! that kills a child outliving its limit (so a hang fails a test instead of blocking it), the
//! JSON report, a free loopback port and the address a receiver announces once it is bound.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

#[cfg(unix)]
use nix::sys::signal::{kill, Signal};

/// A bound UDP socket on loopback and its address: a destination that takes packets (reads
/// time out after `read_timeout`).
pub fn held_socket(read_timeout: Duration) -> (UdpSocket, String) {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(read_timeout)).unwrap();
    let addr = s.local_addr().unwrap().to_string();
    (s, addr)
}
#[cfg(unix)]
use nix::unistd::Pid;

/// The `ringshot` binary under test.
pub fn ringshot() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ringshot"))
}

/// `Command::output` that starts the child again when it could not be started at all: under
/// Wine, process creation now and then fails with ERROR_INTERNAL_ERROR (1359) before the child
/// runs. Only the start is retried (at most three more times); a child that ran is never run
/// twice.
pub trait RunExt {
    fn run(&mut self) -> Output;
}

impl RunExt for Command {
    fn run(&mut self) -> Output {
        self.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut tries = 0;
        let child = loop {
            match self.spawn() {
                Ok(c) => break c,
                Err(e) if tries < 3 => {
                    tries += 1;
                    eprintln!(
                        "starting {:?} failed ({e}); trying again",
                        self.get_program()
                    );
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("starting {:?}: {e}", self.get_program()),
            }
        };
        child.wait_with_output().unwrap()
    }
}

/// Starts `ringshot args` with stdout and stderr piped.
pub fn spawn_piped(args: &[&str]) -> Child {
    ringshot()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Bytes as text, for messages.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Kills the process `pid` outright (the watchdog of a hung run).
pub fn kill_hard(pid: u32) {
    #[cfg(unix)]
    let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
    #[cfg(windows)]
    let _ = std::process::Command::new("taskkill")
        .args(["/F", "/PID", &pid.to_string()])
        .status();
}

/// Waits for `child`, killing it if it outlives `limit` (so a hang fails instead of blocking).
pub fn output_within(child: Child, limit: Duration) -> Output {
    let pid = child.id();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if done_rx.recv_timeout(limit).is_err() {
            kill_hard(pid);
        }
    });
    let out = child.wait_with_output().unwrap();
    let _ = done_tx.send(());
    watchdog.join().unwrap();
    out
}

/// Stdout parsed as the one JSON object `--json` prints; panics with both streams otherwise.
pub fn json_of(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}): {}\nstderr: {}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
}

/// A free loopback port (bound and released).
pub fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The address in a receiver's "listening on ADDR ..." line, if there is one.
pub fn announced_addr(line: &str) -> Option<SocketAddr> {
    line.split("listening on ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|a| a.parse().ok())
}

/// Reads a receiver's stderr up to its "listening on" line and returns the address announced
/// there; panics if the stream ends first or the line names no address.
pub fn read_announced_addr(stderr: &mut impl BufRead) -> SocketAddr {
    let mut line = String::new();
    while !line.contains("listening on") {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "recv ended early");
    }
    announced_addr(&line).unwrap_or_else(|| panic!("no address in {line:?}"))
}

/// Starts `ringshot recv --bind 127.0.0.1:0 args` (output piped) and returns it with the address
/// it announced; the rest of its stderr is read on a thread, so the receiver never blocks on it.
pub fn start_recv(args: &[&str]) -> (Child, SocketAddr) {
    let mut child = spawn_piped(&[&["recv", "--bind", "127.0.0.1:0"], args].concat());
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let addr = read_announced_addr(&mut stderr);
    std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = stderr.read_to_string(&mut rest);
    });
    (child, addr)
}
