//! The `peers` suite: iperf3, sockperf and spead2 measured in the same run as ringshot, on
//! loopback (127.0.0.1 only), 1472-byte UDP payloads.
//!
//! Every peer runs as its own external processes (its own sender *and its own receiver*), each
//! bounded in time and killed (with its whole process group) when it overstays. Throughput is
//! judged by the packets each peer's **own receiver** reports, never by what its sender claims:
//!
//! | peer | delivered count | sent count |
//! |---|---|---|
//! | iperf3 | server's received bytes ÷ 1472 (`end.sum_received` in the client's `--json`, which the server reports back) | client's `end.sum_sent.packets` |
//! | sockperf | `sockperf server`'s "Total N messages received and handled" (printed on SIGINT) | client's "Total of N messages sent" |
//! | spead2 | `spead2_recv.py`'s `packets` stream statistic | computed from the heap count (exact when every heap arrived) |
//!
//! For each sender (ringshot with GSO on and off, and each peer) the suite measures one unpaced run
//! and then its highest zero-loss rate, by the bisection on the offered rate that ringshot's
//! receive-capacity search uses ([`search_max_rate`](super::search_max_rate)) over short paced
//! trials, the way `spead2_bench.py` searches. A trial passes when the sender's own receiver
//! reports nothing lost and counted every packet sent; like `spead2_bench.py`, the rate reported is
//! the one the passing trial achieved, not the one offered. A failed trial is repeated once (the
//! machine is shared and noisy); every sender gets the same rule. Ringshot's trials, GSO on and
//! off, are [`capacity_trial`](super::capacity_trial)'s (judged by the rule above rather than its
//! own, which also asks for 97 % of the offered rate).
//!
//! iperf3's server runs one test (`-1`) and ends after any connection, its client's or a stray
//! one. A trial whose client then finds its control connection refused has sent nothing, so it
//! starts again on a fresh server and port, at most three times, and its detail says so.
//!
//! A peer that is not installed, or whose output cannot be understood, is reported as skipped
//! with the reason; it never passes silently and never panics.
//!
//! The modules, one job each: `process` supervises the peers' processes; [`iperf3`],
//! [`sockperf`] and [`spead2`] each run one peer (a [`PeerProgram`]) and read its output;
//! `search` runs the suite and its zero-loss searches; `report` holds what it measured and
//! writes the table.

mod error;
pub mod iperf3;
pub(in crate::bench) mod process;
mod report;
mod search;
pub mod sockperf;
pub mod spead2;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::Placement;

pub use error::PeerError;
// The parsers the wire suite's peer rows use too.
#[cfg(ringshot_netns)]
pub use iperf3::parse_iperf3_json;
pub use report::PeersReport;
#[cfg(test)]
pub use report::PeersRow;
pub use search::bench_peers;
#[cfg(test)]
pub use search::PeersOptions;
#[cfg(ringshot_netns)]
pub use sockperf::parse_sockperf_client;
#[cfg(ringshot_netns)]
pub use spead2::{parse_spead2_send, spead2_packets_per_heap};

/// UDP payload of every packet in this suite.
pub const PAYLOAD: usize = 1472;

/// One external benchmark: its programs, how it is installed, and one trial of it.
pub trait PeerProgram {
    /// The peer this runs (a test checks [`Peer::program`] against it).
    #[cfg(test)]
    fn peer(&self) -> Peer;
    /// The programs it needs on `PATH`; the last one is the one blamed when a trial finds it
    /// not runnable.
    fn programs(&self) -> &'static [&'static str];
    fn install_hint(&self) -> &'static str;
    /// Where its delivered count comes from, for the report.
    fn delivered_from(&self) -> &'static str;
    /// One trial: unpaced (`offered = None`) or paced at `offered` packets per second, for about
    /// `secs`. `bins` are [`programs`](Self::programs), located.
    fn run_trial(
        &self,
        bins: &[PathBuf],
        offered: Option<f64>,
        secs: Duration,
        opts: &PeerOptions,
    ) -> Result<PeerTrial, PeerError>;
}

/// The peers this suite knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Peer {
    Iperf3,
    Sockperf,
    Spead2,
}

impl Peer {
    /// Every peer, in the order the suite runs them.
    pub const ALL: [Peer; 3] = [Peer::Iperf3, Peer::Sockperf, Peer::Spead2];

    /// The peer's runner.
    pub fn program(self) -> &'static dyn PeerProgram {
        match self {
            Peer::Iperf3 => &iperf3::Iperf3,
            Peer::Sockperf => &sockperf::Sockperf,
            Peer::Spead2 => &spead2::Spead2,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Peer::Iperf3 => "iperf3",
            Peer::Sockperf => "sockperf",
            Peer::Spead2 => "spead2",
        }
    }

    /// Where the peer's delivered count comes from, for the report.
    pub fn delivered_from(self) -> &'static str {
        self.program().delivered_from()
    }

    /// The peer's programs on `PATH`, or why they are missing.
    pub fn locate(self) -> Result<Vec<PathBuf>, PeerError> {
        let program = self.program();
        program
            .programs()
            .iter()
            .map(|p| {
                find_program(p).ok_or(PeerError::NotInstalled {
                    program: p,
                    install: program.install_hint(),
                })
            })
            .collect()
    }

    /// One trial: unpaced (`offered = None`) or paced at `offered` packets per second, for about
    /// `secs`, sender and receiver both the peer's own.
    pub fn trial(
        self,
        offered: Option<f64>,
        secs: Duration,
        opts: &PeerOptions,
    ) -> Result<PeerTrial, PeerError> {
        let bins = self.locate()?;
        let program = self.program();
        match program.run_trial(&bins, offered, secs, opts) {
            // On PATH but not runnable: a shim (pyenv) whose interpreter lacks the package.
            Err(PeerError::NotReady {
                code: Some(127), ..
            }) => Err(PeerError::NotInstalled {
                program: program.programs()[program.programs().len() - 1],
                install: program.install_hint(),
            }),
            r => r,
        }
    }
}

/// An executable called `name` in one of `PATH`'s directories.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p)
                .map(|m| m.is_file() && executable(&m))
                .unwrap_or(false)
        })
}

#[cfg(unix)]
fn executable(m: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    m.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn executable(_: &std::fs::Metadata) -> bool {
    true
}

/// How the peers run.
#[derive(Debug, Clone, Serialize)]
pub struct PeerOptions {
    /// Core for the peer's sender (its own affinity flag, and the process's first thread).
    pub tx_core: Option<usize>,
    /// Core for the peer's receiver.
    pub rx_core: Option<usize>,
    /// Socket buffer asked of every peer, both ends (the kernel caps it at `net.core.rmem_max`
    /// / `wmem_max`, as the peers do not use SO_*BUFFORCE).
    pub socket_buffer: usize,
    /// spead2 heap payload, bytes (spead2's own default is 4 MiB).
    pub spead2_heap_size: usize,
    /// Time a process gets beyond its trial (start-up, drain) before it is killed.
    pub slack: Duration,
}

impl PeerOptions {
    /// Sender and receiver on the placement's cores; socket buffers as large as the kernel lets
    /// an unprivileged `SO_RCVBUF` *and* `SO_SNDBUF` go (iperf3 refuses to run when the size it
    /// asked for was cut, so the smaller of the two limits is the one to ask).
    pub fn new(place: &Placement) -> PeerOptions {
        PeerOptions {
            tx_core: place.tx_core,
            rx_core: place.rx_core,
            socket_buffer: buffer_limit().clamp(128 << 10, 64 << 20),
            spead2_heap_size: 4 << 20,
            slack: Duration::from_secs(10),
        }
    }
}

/// The smaller of `net.core.rmem_max` and `net.core.wmem_max` (4 MiB where they cannot be read).
fn buffer_limit() -> usize {
    let read = |name: &str| -> Option<usize> {
        std::fs::read_to_string(format!("/proc/sys/net/core/{name}"))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    match (read("rmem_max"), read("wmem_max")) {
        (Some(r), Some(w)) => r.min(w),
        (Some(v), None) | (None, Some(v)) => v,
        (None, None) => 4 << 20,
    }
}

/// What one peer trial measured, by the peer's own receiver.
#[derive(Debug, Clone, Serialize)]
pub struct PeerTrial {
    pub peer: &'static str,
    /// Offered rate, packets per second; `None` for unpaced.
    pub offered_pps: Option<f64>,
    /// Packets the sender sent.
    pub sent: u64,
    /// Whether `sent` is the sender's own count (spead2's is computed from heaps).
    pub sent_exact: bool,
    /// Packets the peer's own receiver counted.
    pub delivered: u64,
    /// `sent − delivered − uncounted_tail`, or what the receiver itself says it lost when that
    /// is more.
    pub lost: u64,
    /// Packets sent after the last one the receiver counted that the peer's own test protocol
    /// stops counting (iperf3's server ends the test when the client says so, and the last pacing
    /// burst can still be in flight). Excused only up to two pacing intervals' worth (2 ms of the
    /// offered rate, at least 16); a longer tail is `lost`.
    pub uncounted_tail: u64,
    /// Whether the receiver itself reports nothing lost.
    pub receiver_zero_loss: bool,
    /// Time base of `delivered_pps`, seconds.
    pub seconds: f64,
    pub sent_pps: f64,
    pub delivered_pps: f64,
    pub delivered_pct: f64,
    /// Peer-specific counters, as the peer printed them.
    pub detail: String,
}

impl PeerTrial {
    /// Zero loss: the receiver reports nothing lost and counted every packet sent (but an
    /// excused tail). Like `spead2_bench.py`, a trial is judged by loss alone; the rate it
    /// stands for is what the sender achieved (`sent_pps`), not what was offered.
    pub fn passes(&self) -> bool {
        self.receiver_zero_loss
            && self.lost == 0
            && self.delivered + self.uncounted_tail >= self.sent
    }

    /// The trial that `counts` describe.
    fn from_counts(c: TrialCounts) -> PeerTrial {
        PeerTrial {
            peer: c.peer.name(),
            offered_pps: c.offered_pps,
            sent: c.sent,
            sent_exact: c.sent_exact,
            delivered: c.delivered,
            lost: c
                .sent
                .saturating_sub(c.delivered)
                .saturating_sub(c.uncounted_tail)
                .max(c.receiver_lost),
            uncounted_tail: c.uncounted_tail,
            receiver_zero_loss: c.receiver_zero_loss,
            seconds: c.delivered_seconds,
            sent_pps: c.sent as f64 / c.sent_seconds.max(1e-9),
            delivered_pps: c.delivered as f64 / c.delivered_seconds.max(1e-9),
            delivered_pct: 100.0 * c.delivered as f64 / c.sent.max(1) as f64,
            detail: c.detail,
        }
    }
}

/// What a peer's programs reported, before [`PeerTrial`] derives its rates and loss.
#[derive(Debug, Clone)]
struct TrialCounts {
    peer: Peer,
    offered_pps: Option<f64>,
    sent: u64,
    /// Whether `sent` is the sender's own count.
    sent_exact: bool,
    delivered: u64,
    /// What the receiver itself counts lost (0 when it has no such counter).
    receiver_lost: u64,
    /// See [`PeerTrial::uncounted_tail`].
    uncounted_tail: u64,
    receiver_zero_loss: bool,
    /// Time base of the sent rate, seconds.
    sent_seconds: f64,
    /// Time base of the delivered rate, seconds.
    delivered_seconds: f64,
    detail: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(
        offered: Option<f64>,
        sent: u64,
        delivered: u64,
        rx_lost: u64,
        tail: u64,
    ) -> PeerTrial {
        PeerTrial::from_counts(TrialCounts {
            peer: Peer::Iperf3,
            offered_pps: offered,
            sent,
            sent_exact: true,
            delivered,
            receiver_lost: rx_lost,
            uncounted_tail: tail,
            receiver_zero_loss: rx_lost == 0,
            sent_seconds: 1.0,
            delivered_seconds: 1.0,
            detail: String::new(),
        })
    }

    #[test]
    fn trial_pass_rule() {
        assert!(trial(Some(1e5), 100_000, 100_000, 0, 0).passes());
        // A sender slower than offered still passes: it is judged by what it achieved.
        let t = trial(Some(1e5), 90_000, 90_000, 0, 0);
        assert!(t.passes());
        assert_eq!(t.sent_pps, 90_000.0);
        // One packet short at the receiver.
        let t = trial(Some(1e5), 100_000, 99_999, 0, 0);
        assert!(!t.passes());
        assert_eq!(t.lost, 1);
        // The receiver's own loss count wins when it is larger.
        let t = trial(None, 10, 10, 2, 0);
        assert_eq!(t.lost, 2);
        assert!(!t.passes());
        // An excused tail is not loss, but is not delivered either.
        let t = trial(Some(1e4), 10_000, 9_992, 0, 8);
        assert!(t.passes());
        assert_eq!(t.lost, 0);
        assert!(t.delivered_pct < 100.0);
    }

    #[test]
    fn missing_programs_are_not_found() {
        assert!(find_program("ringshot-no-such-peer-program").is_none());
    }

    #[test]
    fn every_peer_has_its_runner() {
        for peer in Peer::ALL {
            assert_eq!(peer.program().peer(), peer);
            assert!(!peer.program().programs().is_empty());
        }
    }
}
