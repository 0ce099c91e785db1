//! [`PatternSource`]: the stock [`PacketSource`], packets filled with the check pattern that
//! receivers verify.

use std::time::{Duration, Instant};

use super::PacketSource;
use crate::framing::Framing;
use crate::wire::header;

/// A [`PacketSource`] that sends `count` packets (or until `duration` passes) of `payload` bytes,
/// each filled with the check pattern so receivers can verify contents.
#[derive(Debug, Clone)]
pub struct PatternSource {
    count: Option<u64>,
    deadline: Option<Instant>,
    duration: Option<Duration>,
    app_len: usize,
    sent: u64,
    fill: bool,
}

impl PatternSource {
    /// `payload` is the whole UDP payload, the ringshot header included.
    pub fn new(payload: usize, count: Option<u64>, duration: Option<Duration>) -> PatternSource {
        PatternSource::framed(&Framing::default(), payload, count, duration)
    }

    /// A source for a stream in `framing`: every packet fills the app room of a `payload`-byte
    /// datagram.
    pub fn framed(
        framing: &Framing,
        payload: usize,
        count: Option<u64>,
        duration: Option<Duration>,
    ) -> PatternSource {
        PatternSource::with_app_len(framing.max_app_payload(payload), count, duration)
    }

    /// A source whose packets carry exactly `app_len` app bytes (less if the room is smaller),
    /// for example a whole number of samples.
    pub fn with_app_len(
        app_len: usize,
        count: Option<u64>,
        duration: Option<Duration>,
    ) -> PatternSource {
        PatternSource {
            count,
            deadline: None,
            duration,
            app_len,
            sent: 0,
            fill: true,
        }
    }

    /// The same stream with the app's bytes left as the slot holds them (zeros, or an earlier
    /// packet's pattern): for measuring the sender where nobody checks the contents, as a raw
    /// syscall loop or a peer that sends the same buffer again would. Receivers checking the
    /// pattern count such packets as corrupt.
    pub fn without_fill(mut self) -> PatternSource {
        self.fill = false;
        self
    }
}

impl PacketSource for PatternSource {
    fn fill(&mut self, seq: u64, buf: &mut [u8]) -> Option<usize> {
        if self.count.is_some_and(|c| self.sent >= c) {
            return None;
        }
        if let Some(d) = self.duration {
            // Check the clock once per 64 packets: a vDSO call per packet is wasted work.
            if self.sent.is_multiple_of(64) {
                let now = Instant::now();
                let deadline = *self.deadline.get_or_insert(now + d);
                if now >= deadline {
                    return None;
                }
            }
        }
        let n = self.app_len.min(buf.len());
        if self.fill {
            header::fill_pattern(seq, &mut buf[..n]);
        }
        self.sent += 1;
        Some(n)
    }

    fn flags(&self) -> u8 {
        if self.fill {
            header::FLAG_PATTERN
        } else {
            0
        }
    }
}
