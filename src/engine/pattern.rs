//! [`PatternSource`]: the stock [`PacketSource`], packets filled with the check pattern that
//! receivers verify.

use std::time::{Duration, Instant};

use super::PacketSource;
use crate::framing::Framing;
use crate::wire::header;

/// A [`PacketSource`] that sends `count` packets (or until `duration` passes) of `payload` bytes,
/// each filled with the check pattern so receivers can verify contents.
///
/// ```
/// use ringshot::wire::header::{check_pattern, FLAG_PATTERN};
/// use ringshot::PacketSource;
/// use ringshot::PatternSource;
///
/// let mut src = PatternSource::new(64, Some(2), None);
/// assert_eq!(src.flags(), FLAG_PATTERN);
/// let mut buf = [0u8; 48];
/// assert_eq!(src.fill(0, &mut buf), Some(48)); // 64 bytes less the 16-byte header
/// assert!(check_pattern(0, &buf));
/// assert_eq!(src.fill(1, &mut buf), Some(48));
/// assert_eq!(src.fill(2, &mut buf), None); // two packets, then the stream is over
/// ```
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
    ///
    /// ```
    /// use ringshot::framing::{Format, Framing};
    /// use ringshot::{PacketSource, PatternSource};
    ///
    /// // Raw framing has no header: the pattern fills the whole datagram.
    /// let mut src = PatternSource::framed(&Framing::of(Format::Raw), 64, None, None);
    /// let mut buf = [0u8; 64];
    /// assert_eq!(src.fill(0, &mut buf), Some(64));
    /// ```
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
    ///
    /// ```
    /// use ringshot::{PacketSource, PatternSource};
    ///
    /// // 100 samples of 4 bytes per packet, for 50 ms.
    /// let mut src = PatternSource::with_app_len(400, None, Some(std::time::Duration::from_millis(50)));
    /// let mut buf = [0u8; 1456];
    /// assert_eq!(src.fill(0, &mut buf), Some(400));
    /// ```
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
    ///
    /// ```
    /// use ringshot::{PacketSource, PatternSource};
    ///
    /// let mut src = PatternSource::new(64, Some(1), None).without_fill();
    /// let mut buf = [0xEE; 48];
    /// assert_eq!(src.fill(0, &mut buf), Some(48));
    /// assert_eq!(buf, [0xEE; 48]); // left as it was
    /// assert_eq!(src.flags(), 0); // so the pattern flag is not claimed
    /// ```
    pub fn without_fill(mut self) -> PatternSource {
        self.fill = false;
        self
    }
}

impl PatternSource {
    /// Counts the next packet for a buffer of `len` bytes: how many bytes it has, or `None`
    /// when the stream is over.
    #[inline]
    fn next(&mut self, len: usize) -> Option<usize> {
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
        self.sent += 1;
        Some(self.app_len.min(len))
    }
}

impl PacketSource for PatternSource {
    fn fill(&mut self, seq: u64, buf: &mut [u8]) -> Option<usize> {
        let n = self.next(buf.len())?;
        if self.fill {
            header::fill_pattern(seq, &mut buf[..n]);
        }
        Some(n)
    }

    /// Byte `i` of packet `seq` is `(seq + i) mod 256`.
    fn period(&self) -> Option<u64> {
        self.fill.then_some(256)
    }

    fn fill_again(&mut self, _seq: u64, buf: &mut [u8]) -> Option<usize> {
        self.next(buf.len())
    }

    fn flags(&self) -> u8 {
        if self.fill {
            header::FLAG_PATTERN
        } else {
            0
        }
    }
}
