//! Supervision of the peers' processes: each runs in its own process group, bounded in time and
//! killed with its whole group when it overstays; its output is collected by two threads.

use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::PeerError;

/// A child process in its own process group, its output collected by two threads.
#[derive(Debug)]
pub(in crate::bench) struct Proc {
    program: String,
    child: Child,
    out: Option<JoinHandle<Vec<u8>>>,
    err: Option<JoinHandle<Vec<u8>>>,
    status: Option<ExitStatus>,
}

/// A finished process's status and output.
#[derive(Debug)]
pub(in crate::bench) struct Finished {
    pub(in crate::bench) status: ExitStatus,
    pub(in crate::bench) stdout: String,
    pub(in crate::bench) stderr: String,
}

impl Finished {
    pub(in crate::bench) fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    pub(in crate::bench) fn fail(&self, program: &str) -> PeerError {
        PeerError::Failed {
            program: program.to_string(),
            status: self.status.to_string(),
            output: self.all_output(),
        }
    }
}

fn collect<R: Read + Send + 'static>(r: Option<R>) -> Option<JoinHandle<Vec<u8>>> {
    r.map(|mut r| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    })
}

impl Proc {
    pub(in crate::bench) fn spawn(
        program: &Path,
        args: &[String],
        core: Option<usize>,
    ) -> Result<Proc, PeerError> {
        let name = program
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| program.display().to_string());
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd.spawn().map_err(|error| PeerError::Spawn {
            program: name.clone(),
            error,
        })?;
        if let Some(c) = core {
            pin_process(child.id(), c);
        }
        let out = collect(child.stdout.take());
        let err = collect(child.stderr.take());
        Ok(Proc {
            program: name,
            child,
            out,
            err,
            status: None,
        })
    }

    #[cfg(unix)]
    fn signal(&self, sig: nix::sys::signal::Signal) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), sig);
        }
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Waits up to `limit` for the process to exit by itself.
    pub(in crate::bench) fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + limit;
        loop {
            if let Some(s) = self.exited() {
                return Some(s);
            }
            if Instant::now() >= until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn kill(&mut self) {
        if self.exited().is_none() {
            #[cfg(unix)]
            self.signal(nix::sys::signal::Signal::SIGKILL);
            #[cfg(windows)]
            let _ = self.child.kill();
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }

    fn output(&mut self) -> (String, String) {
        let join = |h: Option<JoinHandle<Vec<u8>>>| {
            h.and_then(|h| h.join().ok())
                .map(|v| String::from_utf8_lossy(&v).into_owned())
                .unwrap_or_default()
        };
        (join(self.out.take()), join(self.err.take()))
    }

    /// Waits up to `limit` for the process to exit; kills it (and its group) otherwise.
    pub(in crate::bench) fn finish(mut self, limit: Duration) -> Result<Finished, PeerError> {
        match self.wait_exit(limit) {
            Some(status) => {
                let (stdout, stderr) = self.output();
                Ok(Finished {
                    status,
                    stdout,
                    stderr,
                })
            }
            None => {
                self.kill();
                Err(PeerError::Timeout {
                    program: self.program.clone(),
                    after: limit,
                })
            }
        }
    }

    /// SIGINT to the process group, then [`Proc::finish`] with `grace`.
    pub(in crate::bench) fn interrupt(self, grace: Duration) -> Result<Finished, PeerError> {
        #[cfg(unix)]
        self.signal(nix::sys::signal::Signal::SIGINT);
        self.finish(grace)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Pins the process's first thread to `core` (threads it starts later inherit it). Best effort:
/// the peers also get their own affinity flags, so a failure here only loses the early threads.
#[cfg(ringshot_cpuset)]
fn pin_process(pid: u32, core: usize) {
    let mut set = nix::sched::CpuSet::new();
    if set.set(core).is_ok() {
        if let Ok(pid) = i32::try_from(pid) {
            let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(pid), &set);
        }
    }
}

/// Platforms without `sched_setaffinity` (macOS, NetBSD, ...): the child is not pinned here and
/// relies on the peer's own affinity flag, where it has one.
#[cfg(not(ringshot_cpuset))]
fn pin_process(_pid: u32, _core: usize) {}

/// A port free on 127.0.0.1 for both TCP and UDP at the time of asking.
pub(in crate::bench) fn free_port() -> Result<u16, PeerError> {
    let mut last = None;
    for _ in 0..32 {
        let udp = UdpSocket::bind("127.0.0.1:0").map_err(PeerError::Port)?;
        let port = udp.local_addr().map_err(PeerError::Port)?.port();
        match TcpListener::bind(("127.0.0.1", port)) {
            Ok(_) => return Ok(port),
            Err(e) => last = Some(e),
        }
    }
    Err(PeerError::Port(last.unwrap_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::AddrInUse, "no port")
    })))
}

/// Which socket table to look a port up in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::bench) enum Bound {
    TcpListen,
    Udp,
}

/// Whether `/proc/net/{tcp,udp}` text shows a socket on any IPv4 address at `port` (TCP: in
/// LISTEN state). The ports asked about are the trial's own, so the address does not matter: a
/// peer in the wire suite's far namespace binds that namespace's address.
pub(in crate::bench) fn proc_net_has(table: &str, port: u16, kind: Bound) -> bool {
    let want_port = format!("{port:04X}");
    table.lines().skip(1).any(|line| {
        let mut f = line.split_whitespace();
        let (Some(_sl), Some(local), Some(_remote), Some(state)) =
            (f.next(), f.next(), f.next(), f.next())
        else {
            return false;
        };
        let Some((_addr, p)) = local.split_once(':') else {
            return false;
        };
        let state_ok = kind == Bound::Udp || state == "0A";
        state_ok && p.eq_ignore_ascii_case(&want_port)
    })
}

/// The calling thread's network namespace's IPv4 socket table for `kind`. `thread-self`:
/// `/proc/net` is the namespace of the process's first thread, and the wire suite asks from a
/// thread that entered another.
pub(in crate::bench) fn socket_table(kind: Bound) -> std::io::Result<String> {
    std::fs::read_to_string(match kind {
        Bound::TcpListen => "/proc/thread-self/net/tcp",
        Bound::Udp => "/proc/thread-self/net/udp",
    })
}

/// The bytes waiting in the receive queue of the UDP socket on `port`, from `/proc/net/udp`
/// text (its `tx_queue:rx_queue` column, hexadecimal); `None` when no socket has that port.
pub(in crate::bench) fn udp_rx_queue(table: &str, port: u16) -> Option<u64> {
    let want_port = format!("{port:04X}");
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (local, queues) = (f.get(1)?, f.get(4)?);
        let (_addr, p) = local.split_once(':')?;
        if !p.eq_ignore_ascii_case(&want_port) {
            return None;
        }
        let (_tx, rx) = queues.split_once(':')?;
        u64::from_str_radix(rx, 16).ok()
    })
}

/// Waits until the UDP socket on `port` (in the calling thread's network namespace) has nothing
/// left to read, at most `limit`. True once it has drained; false when `limit` passed first or
/// the socket is gone. Without `/proc` it waits a fixed 300 ms and says true.
pub(in crate::bench) fn wait_drained(port: u16, limit: Duration) -> bool {
    let start = Instant::now();
    loop {
        match socket_table(Bound::Udp) {
            Ok(t) => match udp_rx_queue(&t, port) {
                Some(0) => return true,
                None => return false,
                Some(_) => {}
            },
            Err(_) => {
                std::thread::sleep(Duration::from_millis(300));
                return true;
            }
        }
        if start.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until `proc` has bound `port` in the calling thread's network namespace, or fails if it
/// exits or `limit` passes.
pub(in crate::bench) fn wait_bound(
    proc: &mut Proc,
    port: u16,
    kind: Bound,
    limit: Duration,
) -> Result<(), PeerError> {
    let start = Instant::now();
    loop {
        match socket_table(kind) {
            Ok(t) if proc_net_has(&t, port, kind) => return Ok(()),
            Ok(_) => {}
            Err(_) => {
                // No /proc: give the program a fixed start-up time instead.
                std::thread::sleep(Duration::from_millis(1500));
                return Ok(());
            }
        }
        if proc.exited().is_some() || start.elapsed() >= limit {
            let status = proc.exited();
            if status.is_none() {
                proc.kill();
            }
            let (o, e) = proc.output();
            return Err(PeerError::NotReady {
                program: proc.program.clone(),
                after: start.elapsed(),
                code: status.and_then(|s| s.code()),
                output: format!("{o}\n{e}"),
            });
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub(in crate::bench) fn whole_secs(d: Duration) -> u64 {
    d.as_secs_f64().ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_lookup() {
        let udp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
          120: 0100007F:22B8 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 ffff 0\n";
        assert!(proc_net_has(udp, 8888, Bound::Udp));
        assert!(!proc_net_has(udp, 8889, Bound::Udp));
        let tcp = "  sl  local_address rem_address   st\n\
           0: 0100007F:14B5 00000000:0000 0A 0\n\
           1: 0100007F:14B6 0100007F:9C40 01 0\n";
        assert!(proc_net_has(tcp, 5301, Bound::TcpListen));
        assert!(!proc_net_has(tcp, 5302, Bound::TcpListen));
        assert!(!proc_net_has("garbage\nline", 1, Bound::Udp));
    }

    #[test]
    fn udp_receive_queue_lookup() {
        let udp = "  sl  local_address rem_address   st tx_queue rx_queue tr\n\
          120: 0100007F:22B8 00000000:0000 07 00000000:00000A40 00:00000000\n\
          121: 0100007F:22B9 00000000:0000 07 00000000:00000000 00:00000000\n";
        assert_eq!(udp_rx_queue(udp, 8888), Some(0xA40));
        assert_eq!(udp_rx_queue(udp, 8889), Some(0));
        assert_eq!(udp_rx_queue(udp, 8890), None);
        assert_eq!(udp_rx_queue("garbage\n1: x:y", 1), None);
    }

    // A real socket: full until read, drained after.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_socket_counts_as_drained_only_once_read() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = rx.local_addr().unwrap().port();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        for _ in 0..10 {
            tx.send_to(&[1u8; 100], ("127.0.0.1", port)).unwrap();
        }
        assert!(!wait_drained(port, Duration::from_millis(50)));
        let mut buf = [0u8; 200];
        for _ in 0..10 {
            rx.recv(&mut buf).unwrap();
        }
        assert!(wait_drained(port, Duration::from_secs(5)));
        drop(rx);
        assert!(
            !wait_drained(port, Duration::from_secs(5)),
            "no socket, nothing drained"
        );
    }
}
