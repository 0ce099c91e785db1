//! [`SharedWindow`]: one flow-control window shared by several engines (a
//! [`SenderGroup`](crate::SenderGroup) feeding one device buffer).
//!
//! Each engine claims credit before it sends (an atomic compare-and-swap on the shared count of
//! outstanding packets, never past the window) and its ACK core gives credit back as its own
//! device acknowledges packets ([`FlowState`](super::FlowState) does this when the
//! acknowledged count moves). So at every instant the packets claimed and not yet acknowledged,
//! summed over the engines, are at most the window: the sum of the packets actually outstanding
//! is never more.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};

/// A window of packets shared by several engines, credit claimed atomically.
#[derive(Debug)]
pub struct SharedWindow {
    window: u64,
    /// Packets claimed and not yet given back (acknowledged, or claimed and never sent).
    outstanding: AtomicU64,
    /// The highest `outstanding` ever reached.
    peak: AtomicU64,
    /// Claims that found the window closed (nothing granted).
    refused: AtomicU64,
}

impl SharedWindow {
    /// A window of `window` packets (at least 1).
    pub fn new(window: u64) -> SharedWindow {
        SharedWindow {
            window: window.max(1),
            outstanding: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// The window, packets.
    pub fn window(&self) -> u64 {
        self.window
    }

    /// Packets claimed and not yet given back, over every engine.
    pub fn outstanding(&self) -> u64 {
        self.outstanding.load(Acquire)
    }

    /// The most packets ever outstanding at once: never more than the window.
    pub fn peak(&self) -> u64 {
        self.peak.load(Acquire)
    }

    /// Claims that were granted nothing because the window was full.
    pub fn refused_claims(&self) -> u64 {
        self.refused.load(Relaxed)
    }

    /// Claims up to `want` packets; returns how many were granted (0 when the window is full).
    pub fn claim(&self, want: u64) -> u64 {
        if want == 0 {
            return 0;
        }
        let mut cur = self.outstanding.load(Acquire);
        loop {
            let grant = want.min(self.window.saturating_sub(cur));
            if grant == 0 {
                self.refused.fetch_add(1, Relaxed);
                return 0;
            }
            match self
                .outstanding
                .compare_exchange_weak(cur, cur + grant, AcqRel, Acquire)
            {
                Ok(_) => {
                    self.peak.fetch_max(cur + grant, AcqRel);
                    return grant;
                }
                Err(now) => cur = now,
            }
        }
    }

    /// Gives back `n` packets of credit (acknowledged, or claimed and never sent). Never goes
    /// below 0: giving back more than is outstanding is a caller's bug, clamped.
    pub fn release(&self, n: u64) {
        if n == 0 {
            return;
        }
        let _ = self
            .outstanding
            .fetch_update(AcqRel, Acquire, |cur| Some(cur.saturating_sub(n)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn claims_never_pass_the_window() {
        let w = SharedWindow::new(10);
        assert_eq!(w.claim(4), 4);
        assert_eq!(w.claim(8), 6);
        assert_eq!(w.claim(1), 0);
        assert_eq!(w.refused_claims(), 1);
        w.release(3);
        assert_eq!(w.outstanding(), 7);
        assert_eq!(w.claim(5), 3);
        assert_eq!(w.peak(), 10);
        w.release(100);
        assert_eq!(w.outstanding(), 0);
    }

    /// Several threads claim and give back at random sizes; the shared count never passes the
    /// window and comes back to 0 once everyone gave back what it holds.
    #[test]
    fn concurrent_claims_keep_the_sum_within_the_window() {
        const WINDOW: u64 = 64;
        let w = Arc::new(SharedWindow::new(WINDOW));
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let w = w.clone();
                std::thread::spawn(move || {
                    let mut held = 0u64;
                    let mut x = t * 7 + 1;
                    for _ in 0..200_000 {
                        x = x
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        let n = (x >> 60) + 1;
                        if x & 1 == 0 {
                            held += w.claim(n);
                        } else {
                            let give = n.min(held);
                            w.release(give);
                            held -= give;
                        }
                        assert!(w.outstanding() <= WINDOW);
                    }
                    w.release(held);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(w.outstanding(), 0);
        assert!(w.peak() <= WINDOW);
        assert!(w.peak() > 0);
    }
}
