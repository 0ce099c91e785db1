//! Seeded, deterministic fault injection at the send backends' syscall boundary.
//!
//! A [`FaultPlan`] says how often each fault happens; the crate's fault injector, built from it,
//! is asked by the wrapper around a backend's kernel calls (never by the production code path itself)
//! whether *this* call fails, how many messages of a `sendmmsg` the "kernel" accepts, whether a
//! completion is held back, and so on. The same seed gives the same decisions, so a failing
//! property-test case replays exactly.
//!
//! Faults are injected *instead of* the real call (an injected ENOBUFS means the datagram was not
//! sent, exactly as when the kernel returns it), so the packets on the wire stay the truth the
//! tests check: every committed packet leaves exactly once, in order, or is counted as failed.

#[cfg(feature = "serde")]
use serde::Serialize;

mod rng;
pub use rng::SplitMix64;

/// Parts per million: the unit of every probability in a [`FaultPlan`].
pub const PPM: u32 = 1_000_000;

/// How often each fault is injected, in parts per million of the opportunities for it.
///
/// ```
/// use ringshot::config::TxFaults;
/// use ringshot::fault::{FaultPlan, PPM};
/// use ringshot::{PatternSource, SenderConfig, SourceSender};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // One send in ten answers ENOBUFS: the engine re-sends, and every packet still leaves.
/// let plan = FaultPlan { seed: 7, enobufs: PPM / 10, ..FaultPlan::none() };
/// assert!(plan.is_active());
/// let receiver = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// let cfg = SenderConfig::builder(receiver.local_addr()?)
///     .faults(TxFaults { plan: Some(plan), ..TxFaults::default() }) // test-only hook
///     .build()?;
/// let report = SourceSender::spawn(cfg, PatternSource::new(1472, Some(2000), None))?.finish()?;
/// assert!(report.injected_faults.enobufs > 0);
/// assert_eq!((report.packets, report.failed_packets), (2000, 0));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct FaultPlan {
    pub seed: u64,
    /// A send syscall answers EAGAIN (socket buffer full) without sending.
    pub eagain: u32,
    /// A send syscall answers ENOBUFS (qdisc full) without sending.
    pub enobufs: u32,
    /// A send syscall answers ECONNREFUSED (an ICMP error queued earlier) without sending.
    pub econnrefused: u32,
    /// A GSO send is refused with EIO, as when the path cannot segment.
    pub gso_refuse: u32,
    /// A send syscall (or an io_uring send's result) fails with an error that ends the stream:
    /// one of [`FATAL_ERRNOS`] (EMSGSIZE and EINVAL only on a send without GSO, where they are
    /// not GSO refusals). The path stays broken, as a link that went down stays down: every later
    /// send fails with the same errno.
    pub fatal: u32,
    /// A `sendmmsg` accepts only a prefix of its messages (chosen uniformly).
    pub partial: u32,
    /// io_uring: one SQE of a linked chain fails (with one of the send errors above), and every
    /// SQE linked after it completes with ECANCELED without being performed.
    pub cancel_link: u32,
    /// io_uring: a completion (result or notification) is held back for a few reaps.
    pub delay_cqe: u32,
    /// io_uring: the completions of one reap are delivered in a shuffled order (a zero-copy
    /// notification may then arrive before its result).
    pub reorder_cqe: u32,
    /// Stop injecting after this many faults, so a test can check that the stream then finishes.
    pub max_faults: Option<u64>,
}

impl FaultPlan {
    /// No faults.
    pub fn none() -> FaultPlan {
        FaultPlan::default()
    }

    /// Whether any fault can be injected.
    ///
    /// ```
    /// use ringshot::fault::FaultPlan;
    ///
    /// assert!(!FaultPlan::none().is_active());
    /// assert!(FaultPlan { partial: 1000, ..FaultPlan::none() }.is_active());
    /// // A budget of zero faults injects nothing, whatever the rates.
    /// assert!(!FaultPlan { partial: 1000, max_faults: Some(0), ..FaultPlan::none() }.is_active());
    /// ```
    pub fn is_active(&self) -> bool {
        self.eagain
            | self.enobufs
            | self.econnrefused
            | self.gso_refuse
            | self.fatal
            | self.partial
            | self.cancel_link
            | self.delay_cqe
            | self.reorder_cqe
            != 0
            && self.max_faults != Some(0)
    }
}

/// Every fault injected, by kind.
///
/// ```
/// use ringshot::fault::InjectedFaults;
///
/// let f = InjectedFaults { eagain: 3, partial: 2, ..InjectedFaults::default() };
/// assert_eq!(f.total(), 5);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct InjectedFaults {
    pub eagain: u64,
    pub enobufs: u64,
    pub econnrefused: u64,
    pub gso_refuse: u64,
    /// Errors that end the stream (see [`FaultPlan::fatal`]).
    pub fatal: u64,
    pub partial: u64,
    pub cancel_link: u64,
    pub delay_cqe: u64,
    pub reorder_cqe: u64,
}

impl InjectedFaults {
    /// All faults injected.
    pub fn total(&self) -> u64 {
        self.eagain
            + self.enobufs
            + self.econnrefused
            + self.gso_refuse
            + self.fatal
            + self.partial
            + self.cancel_link
            + self.delay_cqe
            + self.reorder_cqe
    }
}

/// The errors [`FaultPlan::fatal`] injects: a path that refuses the datagram's size, a network
/// that went down or away, a firewall that drops it, a send the socket rejects. The last two
/// only without GSO: with a UDP_SEGMENT cmsg, EMSGSIZE and EINVAL are GSO refusals.
pub const FATAL_ERRNOS: [i32; 5] = [
    libc::ENETDOWN,
    libc::ENETUNREACH,
    libc::EPERM,
    libc::EMSGSIZE,
    libc::EINVAL,
];

/// How many of [`FATAL_ERRNOS`] (from the front) a send with GSO may be failed with.
const FATAL_WITH_GSO: usize = 3;

/// Draws the decisions of one [`FaultPlan`]. One per backend; not shared between threads.
#[derive(Debug, Clone)]
pub(crate) struct FaultInjector {
    plan: FaultPlan,
    rng: SplitMix64,
    injected: InjectedFaults,
    /// The fatal errno injected, once one was: every later send fails with it.
    broken: Option<i32>,
}

impl FaultInjector {
    pub fn new(plan: FaultPlan) -> FaultInjector {
        FaultInjector {
            rng: SplitMix64::new(plan.seed),
            plan,
            injected: InjectedFaults::default(),
            broken: None,
        }
    }

    /// What was injected so far.
    pub fn injected(&self) -> InjectedFaults {
        self.injected
    }

    fn budget_left(&self) -> bool {
        self.plan
            .max_faults
            .is_none_or(|max| self.injected.total() < max)
    }

    /// True with probability `ppm` / 10^6 while the fault budget lasts. Always draws, so the
    /// decision stream does not depend on the budget.
    fn hit(&mut self, ppm: u32) -> bool {
        let draw = self.rng.below(u64::from(PPM)) < u64::from(ppm);
        draw && self.budget_left()
    }

    /// The errno a send syscall should answer instead of running, if any. `gso` says whether
    /// the call carries a UDP_SEGMENT cmsg (only then can it be refused with EIO).
    pub fn send_error(&mut self, gso: bool) -> Option<i32> {
        if let Some(errno) = self.broken {
            self.injected.fatal += 1;
            return Some(errno);
        }
        if self.hit(self.plan.eagain) {
            self.injected.eagain += 1;
            Some(libc::EAGAIN)
        } else if self.hit(self.plan.enobufs) {
            self.injected.enobufs += 1;
            Some(libc::ENOBUFS)
        } else if self.hit(self.plan.econnrefused) {
            self.injected.econnrefused += 1;
            Some(libc::ECONNREFUSED)
        } else if gso && self.hit(self.plan.gso_refuse) {
            self.injected.gso_refuse += 1;
            Some(libc::EIO)
        } else if self.plan.fatal > 0 && self.hit(self.plan.fatal) {
            // Drawn only when planned, so plans without fatal errors keep their decisions.
            self.injected.fatal += 1;
            let kinds = if gso {
                FATAL_WITH_GSO
            } else {
                FATAL_ERRNOS.len()
            };
            let errno = FATAL_ERRNOS[self.rng.below(kinds as u64) as usize];
            self.broken = Some(errno);
            Some(errno)
        } else {
            None
        }
    }

    /// How many of `n` messages (n ≥ 1) a `sendmmsg` accepts: `n`, or a shorter non-empty prefix.
    #[cfg_attr(not(unix), allow(dead_code))] // the Unix send seam
    pub fn accepted_prefix(&mut self, n: usize) -> usize {
        if n > 1 && self.hit(self.plan.partial) {
            self.injected.partial += 1;
            1 + self.rng.below(n as u64 - 1) as usize
        } else {
            n
        }
    }

    /// io_uring: the index (in `0..n`) of the SQE of an `n`-long linked chain that fails, if
    /// one does; the caller also takes its errno from [`FaultInjector::send_error`]-like kinds
    /// via [`FaultInjector::link_errno`].
    #[cfg_attr(not(ringshot_uring), allow(dead_code))] // io_uring only
    pub fn cancel_link(&mut self, n: usize) -> Option<usize> {
        if n > 0 && self.hit(self.plan.cancel_link) {
            self.injected.cancel_link += 1;
            Some(self.rng.below(n as u64) as usize)
        } else {
            None
        }
    }

    /// The errno for the failing SQE of a broken link: ENOBUFS or ECONNREFUSED (EIO when the
    /// SQE carries GSO and the plan refuses GSO).
    #[cfg_attr(not(ringshot_uring), allow(dead_code))] // io_uring only
    pub fn link_errno(&mut self, gso: bool) -> i32 {
        if gso && self.plan.gso_refuse > 0 && self.rng.below(2) == 0 {
            libc::EIO
        } else if self.rng.below(2) == 0 {
            libc::ENOBUFS
        } else {
            libc::ECONNREFUSED
        }
    }

    /// io_uring: how many reaps to hold this completion back (0: deliver now).
    #[cfg_attr(not(ringshot_uring), allow(dead_code))] // io_uring only
    pub fn delay_cqe(&mut self) -> u32 {
        if self.hit(self.plan.delay_cqe) {
            self.injected.delay_cqe += 1;
            1 + self.rng.below(4) as u32
        } else {
            0
        }
    }

    /// io_uring: whether to shuffle this reap's completions; shuffles `items` in place if so.
    #[cfg_attr(not(ringshot_uring), allow(dead_code))] // io_uring only
    pub fn maybe_shuffle<T>(&mut self, items: &mut [T]) -> bool {
        if items.len() > 1 && self.hit(self.plan.reorder_cqe) {
            self.injected.reorder_cqe += 1;
            for i in (1..items.len()).rev() {
                let j = self.rng.below(i as u64 + 1) as usize;
                items.swap(i, j);
            }
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_decisions() {
        let plan = FaultPlan {
            seed: 7,
            enobufs: 200_000,
            partial: 300_000,
            ..FaultPlan::none()
        };
        let run = |plan| {
            let mut f = FaultInjector::new(plan);
            (0..1000)
                .map(|_| (f.send_error(false), f.accepted_prefix(64)))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(plan), run(plan));
        let other = run(FaultPlan { seed: 8, ..plan });
        assert_ne!(run(plan), other);
    }

    #[test]
    fn rates_are_roughly_as_planned_and_budget_stops_them() {
        let plan = FaultPlan {
            seed: 1,
            enobufs: 100_000,
            ..FaultPlan::none()
        };
        let mut f = FaultInjector::new(plan);
        let hits = (0..100_000)
            .filter(|_| f.send_error(false).is_some())
            .count();
        assert!((9_000..11_000).contains(&hits), "{hits}");
        assert_eq!(f.injected().enobufs, hits as u64);

        let mut f = FaultInjector::new(FaultPlan {
            max_faults: Some(3),
            ..plan
        });
        let hits = (0..100_000)
            .filter(|_| f.send_error(false).is_some())
            .count();
        assert_eq!(hits, 3);
    }

    #[test]
    fn partial_prefix_is_never_empty_nor_whole() {
        let mut f = FaultInjector::new(FaultPlan {
            seed: 3,
            partial: PPM,
            ..FaultPlan::none()
        });
        for n in 2..70 {
            let k = f.accepted_prefix(n);
            assert!((1..n).contains(&k), "{k} of {n}");
        }
        assert_eq!(f.accepted_prefix(1), 1);
    }

    #[test]
    fn fatal_errnos_are_never_gso_refusals_on_a_gso_send() {
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..400 {
            let gso = seed % 2 == 0;
            let mut f = FaultInjector::new(FaultPlan {
                seed,
                fatal: PPM,
                ..FaultPlan::none()
            });
            let errno = f.send_error(gso).expect("the call fails");
            assert!(FATAL_ERRNOS.contains(&errno), "{errno}");
            if gso {
                assert!(
                    ![libc::EMSGSIZE, libc::EINVAL].contains(&errno),
                    "{errno} with GSO is a GSO refusal, not a fatal error"
                );
            }
            seen.insert(errno);
            assert_eq!(f.injected().fatal, 1);
            assert_eq!(f.injected().total(), 1);
        }
        assert_eq!(seen.len(), FATAL_ERRNOS.len(), "every kind is drawn");
    }

    #[test]
    fn a_fatal_error_stays_past_the_budget() {
        let mut f = FaultInjector::new(FaultPlan {
            seed: 9,
            fatal: 100_000,
            max_faults: Some(1),
            ..FaultPlan::none()
        });
        let first = (0..1000)
            .find_map(|_| f.send_error(false))
            .expect("one fatal");
        for _ in 0..10 {
            assert_eq!(f.send_error(true), Some(first), "the path stays broken");
        }
        assert_eq!(f.injected().fatal, 11);
    }

    #[test]
    fn gso_refusal_only_with_gso() {
        let mut f = FaultInjector::new(FaultPlan {
            seed: 3,
            gso_refuse: PPM,
            ..FaultPlan::none()
        });
        assert_eq!(f.send_error(false), None);
        assert_eq!(f.send_error(true), Some(libc::EIO));
    }
}
