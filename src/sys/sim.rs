//! A simulated completion-style backend for engine tests: no socket, no kernel. It holds the
//! slots it accepts for a few reaps (as io_uring does), can accept only part of a batch or
//! nothing at all, can fail for good, can stall once, and records what it saw so tests can check
//! order, exactly-once delivery and that no slot was handed out again while it held it.

use std::collections::{HashSet, VecDeque};
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Slab, TxBackend, TxDesc};
use crate::stats::TxMetrics;
use crate::wire::header::{self, HEADER_LEN};

/// What the simulated kernel does.
#[derive(Debug, Clone, Default)]
pub(crate) struct SimScript {
    /// Reaps a slot stays in flight before it is reported done (0: done at the next reap).
    pub hold_reaps: u32,
    /// Most packets accepted per submit call (0: no limit).
    pub accept_max: usize,
    /// Once this many packets were accepted, refuse every further submit (Ok(0)) forever.
    pub refuse_after: Option<u64>,
    /// Once this many packets were accepted, fail every further submit with this errno.
    pub fail_after: Option<(u64, i32)>,
    /// Sleep this long inside the submit call that first passes this many accepted packets.
    pub stall_once: Option<(u64, Duration)>,
    /// Report every n-th completion twice (a duplicated notification; 0: never).
    pub duplicate_every: u64,
}

/// What the simulated kernel saw, shared with the test.
#[derive(Debug, Default)]
pub(crate) struct SimLog {
    /// Sequence numbers of the packets accepted, in order.
    pub seqs: Vec<u64>,
    /// Slots accepted and not yet reported done.
    pub held: HashSet<u32>,
    /// Protocol breaches seen (a slot submitted while still held, ...).
    pub violations: Vec<String>,
    pub cancels: u32,
    pub submits: u64,
    /// The slots each submit accepted, in order (one entry per submit that took any).
    pub batches: Vec<Vec<u32>>,
}

#[derive(Debug)]
pub(crate) struct SimBackend {
    script: SimScript,
    log: Arc<Mutex<SimLog>>,
    flights: VecDeque<(u32, u32)>,
    accepted: u64,
    completed: u64,
    stalled: bool,
}

impl SimBackend {
    pub(crate) fn new(script: SimScript) -> (SimBackend, Arc<Mutex<SimLog>>) {
        let log = Arc::new(Mutex::new(SimLog::default()));
        let b = SimBackend {
            script,
            log: log.clone(),
            flights: VecDeque::new(),
            accepted: 0,
            completed: 0,
            stalled: false,
        };
        (b, log)
    }

    /// Reports the oldest flight done (counting it sent).
    fn complete_front(&mut self, done: &mut dyn FnMut(u32), m: &mut TxMetrics) {
        if let Some((slot, _)) = self.flights.pop_front() {
            self.log.lock().unwrap().held.remove(&slot);
            m.packets += 1;
            done(slot);
            self.completed += 1;
            let every = self.script.duplicate_every;
            if every > 0 && self.completed.is_multiple_of(every) {
                done(slot);
            }
        }
    }
}

/// Whether a packet of `len` bytes in `slot` that carries the check-pattern flag has its
/// sequence number's pattern (packets without the flag pass).
fn pattern_ok(slab: &Slab, slot: u32, len: u32) -> bool {
    let len = (len as usize).min(slab.slot_size());
    // SAFETY: as in `read_seq`: nobody writes the slot while the backend holds it, and `len`
    // is within the slot.
    let bytes = unsafe { std::slice::from_raw_parts(slab.slot_ptr(slot), len) };
    let Ok(p) = header::Packet::new_checked(bytes) else {
        return true;
    };
    p.flags() & header::FLAG_PATTERN == 0 || header::check_pattern(p.seq(), p.payload())
}

fn read_seq(slab: &Slab, slot: u32) -> u64 {
    let mut hdr = [0u8; HEADER_LEN];
    // The engine parks the slot's token while the backend has it (the real backends' contract).
    // SAFETY: nobody writes the slot meanwhile; it holds ≥ HEADER_LEN bytes; `hdr` is separate.
    unsafe { std::ptr::copy_nonoverlapping(slab.slot_ptr(slot), hdr.as_mut_ptr(), HEADER_LEN) };
    header::Packet::new_unchecked(&hdr[..]).seq()
}

impl TxBackend for SimBackend {
    fn name(&self) -> &'static str {
        "sim"
    }

    fn gso_active(&self) -> bool {
        false
    }

    fn submit(&mut self, slab: &Slab, pkts: &[TxDesc], m: &mut TxMetrics) -> io::Result<usize> {
        let s = &self.script;
        if let Some((after, errno)) = s.fail_after {
            if self.accepted >= after {
                m.record_error(crate::stats::SendErrno::from_os(errno));
                return Err(io::Error::from_raw_os_error(errno));
            }
        }
        let mut n = pkts.len();
        if s.accept_max > 0 {
            n = n.min(s.accept_max);
        }
        for limit in [s.refuse_after, s.fail_after.map(|f| f.0)]
            .into_iter()
            .flatten()
        {
            n = n.min(limit.saturating_sub(self.accepted) as usize);
        }
        if let Some((at, d)) = s.stall_once {
            if !self.stalled && self.accepted + n as u64 > at {
                self.stalled = true;
                std::thread::sleep(d);
            }
        }
        let mut log = self.log.lock().unwrap();
        log.submits += 1;
        for p in &pkts[..n] {
            if !log.held.insert(p.slot) {
                log.violations
                    .push(format!("slot {} submitted while held", p.slot));
            }
            let seq = read_seq(slab, p.slot);
            if !pattern_ok(slab, p.slot, p.len) {
                log.violations.push(format!(
                    "slot {} packet {seq}: its payload is not its pattern",
                    p.slot
                ));
            }
            log.seqs.push(seq);
            self.flights.push_back((p.slot, 0));
        }
        if n > 0 {
            log.batches.push(pkts[..n].iter().map(|p| p.slot).collect());
        }
        drop(log);
        self.accepted += n as u64;
        m.record_submit(1, n);
        Ok(n)
    }

    fn reap(&mut self, wait: bool, done: &mut dyn FnMut(u32), m: &mut TxMetrics) -> io::Result<()> {
        for f in self.flights.iter_mut() {
            f.1 += 1;
        }
        while self
            .flights
            .front()
            .is_some_and(|f| f.1 > self.script.hold_reaps)
        {
            self.complete_front(done, m);
        }
        if wait && !self.flights.is_empty() {
            // A blocking reap returns with at least one completion, as the kernel's does.
            self.complete_front(done, m);
        }
        Ok(())
    }

    fn in_flight(&self) -> usize {
        self.flights.len()
    }

    fn cancel(
        &mut self,
        _timeout: Duration,
        done: &mut dyn FnMut(u32),
        m: &mut TxMetrics,
    ) -> usize {
        let mut log = self.log.lock().unwrap();
        log.cancels += 1;
        // Cancelled requests never left: their slots come back counted failed, not sent.
        m.failed_packets += self.flights.len() as u64;
        for (slot, _) in self.flights.drain(..) {
            log.held.remove(&slot);
            done(slot);
        }
        0
    }
}
