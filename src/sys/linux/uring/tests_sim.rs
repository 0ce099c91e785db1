//! The real backend logic over a simulated kernel: a fake ring that "sends" SQEs onto a wire
//! (a Vec of sequence numbers), fails sends and breaks links as its injector says, and posts
//! zero-copy notifications late; wrapped in [`Faulty`] for held-back and shuffled completions.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use io_uring::squeue;
use proptest::prelude::*;

use super::ops::{self, CANCEL_USER_DATA};
use super::ring::{Cqe, Faulty, Ring, SqeInfo, F_MORE, F_NOTIF};
use super::tests_real::{watchdog, Driver};
use super::{Setup, UringBackend};
use crate::device::fault::SplitMix64;
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
    /// `user_data` of every SQE seen.
    seen: Vec<u64>,
    /// The kernel never lets go of zero-copy buffers (no notification is ever posted).
    stuck: bool,
}

struct Sqe {
    ud: u64,
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
        for p in info.pkts {
            assert!(
                sh.held.insert(p.slot),
                "slot {} submitted while held",
                p.slot
            );
        }
        self.pending.push(Sqe {
            ud: info.user_data,
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
                broken = true;
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

/// A driver over the fake kernel, its fault plan and `gso_fail_at` wrapped around it.
fn sim(
    gso: bool,
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
    let (mut d, shared) = sim(true, FaultPlan::none(), None, Some(0));
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
fn stray_completions_are_counted_and_ignored() {
    let (mut d, shared) = sim(false, FaultPlan::none(), None, None);
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
    let (mut d, shared) = sim(false, FaultPlan::none(), None, None);
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

/// One batch: how many packets and their size class.
fn batch() -> impl Strategy<Value = Vec<u32>> {
    (
        1usize..40,
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_packet_leaves_once_in_order(
        batches in proptest::collection::vec(batch(), 1..30),
        gso in any::<bool>(),
        seed in any::<u64>(),
        cancel_after in proptest::option::of(0usize..30),
    ) {
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
        let (d, shared) = sim(gso, kernel, Some(wrapper), None);
        let (d, cancelled_held) = watchdog(60, move || {
            let mut d = d;
            let mut held = None;
            for (k, lens) in batches.iter().enumerate() {
                d.step(lens).unwrap();
                if cancel_after == Some(k) {
                    let mut back = Vec::new();
                    held = Some(d.backend.cancel(Duration::from_secs(5), &mut |s| back.push(s), &mut d.m));
                    for s in back {
                        (d.on_done)(s);
                    }
                    break;
                }
            }
            if held.is_none() {
                d.finish().unwrap();
            }
            (d, held)
        });
        let sh = shared.lock().unwrap();
        let m = &d.m;
        prop_assert_eq!(&sh.wire, &(0..m.packets).collect::<Vec<_>>());
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
    }
}
