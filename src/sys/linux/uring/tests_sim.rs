//! The real backend logic over a simulated kernel: a fake ring that "sends" SQEs onto a wire
//! (a Vec of sequence numbers), fails sends as its injector says (cancelling the rest of a
//! linked chain), and posts zero-copy notifications late; wrapped in [`Faulty`] for held-back
//! and shuffled completions.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use io_uring::squeue;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::ops::{self, CANCEL_USER_DATA};
use super::ring::{Cqe, Faulty, Ring, SqeInfo, F_MORE, F_NOTIF};
use super::tests_real::{overtaken_within, watchdog, Driver};
use super::{Setup, UringBackend};
use crate::fault::SplitMix64;
use crate::fault::{FaultInjector, FaultPlan};
use crate::sys::{Slab, TxBackend, TxDesc};

const SLOTS: u32 = 128;
const ZC_THRESHOLD: usize = 4000;

/// What the simulated kernel and the test share.
#[derive(Debug, Default)]
struct Shared {
    /// Sequence number the driver wrote into each slot.
    slot_seq: Vec<u64>,
    /// Slots of requests whose final completion the kernel has not posted yet.
    held: HashSet<u32>,
    /// Every packet that left, in order.
    wire: Vec<u64>,
    /// Completions to post as they are, for stray tests.
    extra: Vec<Cqe>,
    /// `user_data` of every SQE seen, and whether it was linked to the next.
    seen: Vec<u64>,
    linked: Vec<bool>,
    /// The kernel never lets go of zero-copy buffers (no notification is ever posted).
    stuck: bool,
}

struct Sqe {
    ud: u64,
    link: bool,
    zc: bool,
    gso: bool,
    pkts: Vec<TxDesc>,
}

struct FakeRing {
    shared: Arc<Mutex<Shared>>,
    pending: Vec<Sqe>,
    posted: VecDeque<Cqe>,
    /// Notifications not posted yet: (drains left, user_data, slots).
    late: Vec<(u32, u64, Vec<u32>)>,
    faults: FaultInjector,
    rng: SplitMix64,
}

impl FakeRing {
    fn new(shared: Arc<Mutex<Shared>>, plan: FaultPlan) -> FakeRing {
        FakeRing {
            shared,
            pending: Vec::new(),
            posted: VecDeque::new(),
            late: Vec::new(),
            rng: SplitMix64::new(plan.seed ^ 0x5eed),
            faults: FaultInjector::new(plan),
        }
    }

    /// Posts a result; a zero-copy request's notification comes now or a few drains later,
    /// and only then does the kernel let go of its slots.
    fn complete(&mut self, sqe: &Sqe, res: i32, flags: u32, sh: &mut Shared) {
        self.posted.push_back(Cqe {
            user_data: sqe.ud,
            res,
            flags,
        });
        let slots: Vec<u32> = sqe.pkts.iter().map(|p| p.slot).collect();
        if sqe.zc {
            self.late.push((self.rng.below(4) as u32, sqe.ud, slots));
        } else {
            for s in slots {
                sh.held.remove(&s);
            }
        }
    }

    fn post_due_notifs(&mut self, sh: &mut Shared) {
        if sh.stuck {
            return;
        }
        let mut i = 0;
        while i < self.late.len() {
            if self.late[i].0 == 0 {
                let (_, ud, slots) = self.late.swap_remove(i);
                for s in slots {
                    sh.held.remove(&s);
                }
                self.posted.push_back(Cqe {
                    user_data: ud,
                    res: 0,
                    flags: F_NOTIF,
                });
            } else {
                self.late[i].0 -= 1;
                i += 1;
            }
        }
    }
}

impl Ring for FakeRing {
    unsafe fn push(&mut self, info: &SqeInfo<'_>, _entry: &squeue::Entry) -> bool {
        let mut sh = self.shared.lock().unwrap();
        sh.seen.push(info.user_data);
        sh.linked.push(info.link);
        for p in info.pkts {
            assert!(
                sh.held.insert(p.slot),
                "slot {} submitted while held",
                p.slot
            );
        }
        self.pending.push(Sqe {
            ud: info.user_data,
            link: info.link,
            zc: info.zc,
            gso: info.gso,
            pkts: info.pkts.to_vec(),
        });
        true
    }

    fn enter(&mut self, _want: usize, _timeout: Duration) -> std::io::Result<()> {
        let shared = self.shared.clone();
        let mut sh = shared.lock().unwrap();
        let mut broken = false;
        for sqe in std::mem::take(&mut self.pending) {
            if broken {
                self.complete(&sqe, -libc::ECANCELED, 0, &mut sh);
            } else if let Some(errno) = self.faults.send_error(sqe.gso) {
                broken = sqe.link;
                let more = if sqe.zc { F_MORE } else { 0 };
                self.complete(&sqe, -errno, more, &mut sh);
            } else {
                let seqs: Vec<u64> = sqe
                    .pkts
                    .iter()
                    .map(|p| sh.slot_seq[p.slot as usize])
                    .collect();
                if sqe.gso || seqs.len() == 1 {
                    sh.wire.extend(seqs);
                } else {
                    // Several iovecs without UDP_SEGMENT: one datagram holding them all.
                    sh.wire.push(u64::MAX);
                }
                let bytes: u32 = sqe.pkts.iter().map(|p| p.len).sum();
                let more = if sqe.zc { F_MORE } else { 0 };
                self.complete(&sqe, bytes as i32, more, &mut sh);
            }
            // An SQE without IO_LINK ends its chain (the backend links an enter's SQEs or none).
            if !sqe.link {
                broken = false;
            }
        }
        Ok(())
    }

    fn drain(&mut self, out: &mut Vec<Cqe>) {
        let shared = self.shared.clone();
        let mut sh = shared.lock().unwrap();
        self.post_due_notifs(&mut sh);
        out.extend(self.posted.drain(..));
        out.append(&mut sh.extra);
    }

    fn push_cancel(&mut self, _target: Option<u64>) -> bool {
        // Every request completes inside `enter`: nothing is left to cancel.
        self.posted.push_back(Cqe {
            user_data: CANCEL_USER_DATA,
            res: -libc::ENOENT,
            flags: 0,
        });
        true
    }
}

/// A driver over the fake kernel, its fault plan and `gso_fail_at` wrapped around it; `relaxed`
/// sends new batches unlinked (`SendOrder::Relaxed`).
fn sim(
    gso: bool,
    relaxed: bool,
    kernel: FaultPlan,
    wrapper: Option<FaultPlan>,
    gso_fail_at: Option<u64>,
) -> (Driver, Arc<Mutex<Shared>>) {
    let shared = Arc::new(Mutex::new(Shared {
        slot_seq: vec![u64::MAX; SLOTS as usize],
        ..Shared::default()
    }));
    let fake = FakeRing::new(shared.clone(), kernel);
    let ring = Faulty::new(fake, wrapper.map(FaultInjector::new), gso_fail_at);
    let (slab, tokens) = Slab::new(SLOTS, 9000);
    let slab = Arc::new(slab);
    let setup = Setup {
        gso,
        zc_threshold: Some(ZC_THRESHOLD),
        fixed_buffer: true,
        plain_send: true,
        sq_capacity: 64,
        settle_in_submit: true,
        relaxed,
    };
    let backend = UringBackend::with_ring(Box::new(ring), None, slab.clone(), setup);
    let mut d = Driver::new(backend, slab, tokens);
    let sh = shared.clone();
    d.on_assign = Box::new(move |slot, seq| sh.lock().unwrap().slot_seq[slot as usize] = seq);
    let sh = shared.clone();
    d.on_done = Box::new(move |slot| {
        assert!(
            !sh.lock().unwrap().held.contains(&slot),
            "slot {slot} handed back before its final completion"
        );
    });
    (d, shared)
}

#[test]
fn refused_zero_copy_gso_is_split_and_sent_in_order() {
    // 8 packets of 5000 bytes: zero-copy GSO ops of 5 and 3; the first GSO send is refused.
    let (mut d, shared) = sim(true, false, FaultPlan::none(), None, Some(0));
    d.step(&[5000; 8]).unwrap();
    d.finish().unwrap();
    let sh = shared.lock().unwrap();
    assert_eq!(sh.wire, (0..8).collect::<Vec<_>>());
    assert_eq!(d.m.packets, 8);
    assert_eq!(d.m.gso_downgrades, 1);
    // Only the refused op's packets were really re-sent; its cancelled follower was not.
    assert_eq!(d.m.resent_packets, 5);
    assert_eq!(d.m.zero_copy_sends, 8);
    assert_eq!(d.m.zero_copy_notifications, 8);
    assert_eq!(d.m.stray_completions, 0);
    assert!(!d.backend.gso_active());
}

#[test]
fn relaxed_order_sends_the_rest_of_a_batch_before_a_failed_send() {
    // As above, but unlinked: the refused super-packet (5) does not hold back the next one (3),
    // and goes again, split and linked, after it.
    let (mut d, shared) = sim(true, true, FaultPlan::none(), None, Some(0));
    d.step(&[5000; 8]).unwrap();
    d.finish().unwrap();
    let sh = shared.lock().unwrap();
    assert_eq!(sh.wire, vec![5, 6, 7, 0, 1, 2, 3, 4]);
    assert_eq!(d.m.packets, 8);
    assert_eq!(d.m.reordered_packets, 5);
    assert_eq!(d.m.resent_packets, 5);
    assert_eq!(d.m.gso_downgrades, 1);
    // The batch went unlinked (the refused SQE never reached the fake kernel); the five
    // re-sends went as one chain, its last SQE linked to nothing the ring publishes after it.
    assert_eq!(sh.linked, vec![false, true, true, true, true, true]);
    assert_eq!(d.m.zero_copy_sends, 6);
    assert_eq!(d.m.zero_copy_notifications, 6);
    assert_eq!(d.m.stray_completions, 0);
}

#[test]
fn stray_completions_are_counted_and_ignored() {
    let (mut d, shared) = sim(false, false, FaultPlan::none(), None, None);
    d.step(&[5000]).unwrap();
    d.finish().unwrap();
    let ud = shared.lock().unwrap().seen[0];
    let (idx, generation) = ops::split_user_data(ud);
    shared.lock().unwrap().extra.extend([
        // A second notification and a second result for the finished op.
        Cqe {
            user_data: ud,
            res: 0,
            flags: F_NOTIF,
        },
        Cqe {
            user_data: ud,
            res: 5000,
            flags: F_MORE,
        },
        // An unknown op, and a stale generation.
        Cqe {
            user_data: ops::user_data(SLOTS + 7, 1),
            res: 0,
            flags: 0,
        },
        Cqe {
            user_data: ops::user_data(idx, generation.wrapping_sub(1)),
            res: 0,
            flags: 0,
        },
    ]);
    d.step(&[5000, 100]).unwrap();
    d.finish().unwrap();
    assert_eq!(d.m.stray_completions, 4);
    assert_eq!(shared.lock().unwrap().wire, vec![0, 1, 2]);
    assert_eq!(d.m.packets, 3);
    assert_eq!(d.m.zero_copy_sends, 2);
    assert_eq!(d.m.zero_copy_notifications, 2);
}

#[test]
fn cancel_reports_held_slots_and_drop_leaks_rather_than_frees() {
    let (mut d, shared) = sim(false, false, FaultPlan::none(), None, None);
    shared.lock().unwrap().stuck = true;
    d.step(&[5000, 5000, 100]).unwrap();
    let slab = d.slab.clone();
    let (d, held) = watchdog(30, move || {
        let mut back = 0;
        let held = d
            .backend
            .cancel(Duration::from_millis(50), &mut |_| back += 1, &mut d.m);
        // The copying send's slot already came back in `step`; nothing else may.
        assert_eq!(back, 0);
        assert_eq!(d.backend.in_flight(), 2);
        (d, held)
    });
    assert_eq!(held, 2, "two zero-copy slots still held by the kernel");
    assert_eq!(d.m.packets, 3);
    assert_eq!(d.m.zero_copy_sends, 2);
    assert_eq!(d.m.zero_copy_notifications, 0);
    watchdog(30, move || drop(d));
    assert_eq!(
        Arc::strong_count(&slab),
        2,
        "the backend leaked its slab reference instead of freeing memory the kernel holds"
    );
}

/// Packets per batch in the property tests: fewer than this.
const MAX_BATCH_LEN: usize = 40;

/// One batch: how many packets and their size class.
fn batch() -> impl Strategy<Value = Vec<u32>> {
    (
        1usize..MAX_BATCH_LEN,
        prop_oneof![100u32..1500, 4000u32..9000],
        any::<bool>(),
    )
        .prop_map(|(n, len, short_last)| {
            let mut v = vec![len; n];
            if short_last && len > 200 {
                *v.last_mut().unwrap() = len / 2;
            }
            v
        })
}

/// Sends `batches` over the fake kernel with faults injected on both sides of the ring, and
/// cancels after batch `cancel_after` if given. Returns the driver, what the cancel reported
/// still held, and what the fake kernel saw.
fn faulty_run(
    batches: Vec<Vec<u32>>,
    gso: bool,
    relaxed: bool,
    seed: u64,
    cancel_after: Option<usize>,
) -> (Driver, Option<usize>, Arc<Mutex<Shared>>) {
    let kernel = FaultPlan {
        seed,
        eagain: 20_000,
        enobufs: 20_000,
        econnrefused: 20_000,
        gso_refuse: 30_000,
        max_faults: Some(300),
        ..FaultPlan::none()
    };
    let wrapper = FaultPlan {
        seed: seed.rotate_left(17),
        cancel_link: 30_000,
        gso_refuse: 200_000,
        delay_cqe: 50_000,
        reorder_cqe: 200_000,
        max_faults: Some(300),
        ..FaultPlan::none()
    };
    let (d, shared) = sim(gso, relaxed, kernel, Some(wrapper), None);
    let (d, held) = watchdog(60, move || {
        let mut d = d;
        for (k, lens) in batches.iter().enumerate() {
            d.step(lens).unwrap();
            if cancel_after == Some(k) {
                let mut back = Vec::new();
                let held =
                    d.backend
                        .cancel(Duration::from_secs(5), &mut |s| back.push(s), &mut d.m);
                for s in back {
                    (d.on_done)(s);
                }
                return (d, Some(held));
            }
        }
        d.finish().unwrap();
        (d, None)
    });
    (d, held, shared)
}

/// A [`faulty_run`], then what either order keeps: every packet leaves at most once, and
/// `packets + failed_packets` is every packet; no slot is handed back before the kernel let go
/// of it; the counters add up. Strict, the wire is exactly `0..packets`. Relaxed, a packet
/// leaves after a later one only when overtaken by packets of its own batch, and
/// `reordered_packets` counts exactly the packets that did.
fn check_faulty_run(
    batches: Vec<Vec<u32>>,
    gso: bool,
    relaxed: bool,
    seed: u64,
    cancel_after: Option<usize>,
) -> Result<(), TestCaseError> {
    let (d, cancelled_held, shared) = faulty_run(batches, gso, relaxed, seed, cancel_after);
    let sh = shared.lock().unwrap();
    let m = &d.m;
    if relaxed {
        let overtaken =
            overtaken_within(&sh.wire, MAX_BATCH_LEN as u64).map_err(TestCaseError::fail)?;
        prop_assert!(sh.wire.iter().all(|&seq| seq < d.next_seq));
        prop_assert_eq!(sh.wire.len() as u64, m.packets);
        prop_assert_eq!(m.reordered_packets, overtaken);
    } else {
        prop_assert_eq!(&sh.wire, &(0..m.packets).collect::<Vec<_>>());
        prop_assert_eq!(m.reordered_packets, 0);
    }
    prop_assert_eq!(m.packets + m.failed_packets, d.next_seq);
    prop_assert_eq!(m.zero_copy_sends, m.zero_copy_notifications);
    prop_assert_eq!(m.stray_completions, 0);
    prop_assert!(sh.held.is_empty());
    match cancelled_held {
        Some(held) => prop_assert_eq!(held, 0),
        None => {
            prop_assert_eq!(m.failed_packets, 0);
            prop_assert_eq!(d.backend.in_flight(), 0);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_packet_leaves_once_in_order(
        batches in proptest::collection::vec(batch(), 1..30),
        gso in any::<bool>(),
        seed in any::<u64>(),
        cancel_after in proptest::option::of(0usize..30),
    ) {
        check_faulty_run(batches, gso, false, seed, cancel_after)?;
    }

    #[test]
    fn relaxed_every_packet_leaves_once_overtaken_only_within_its_batch(
        batches in proptest::collection::vec(batch(), 1..30),
        gso in any::<bool>(),
        seed in any::<u64>(),
        cancel_after in proptest::option::of(0usize..30),
    ) {
        check_faulty_run(batches, gso, true, seed, cancel_after)?;
    }
}
