//! ACK-path faults: [`AckFaults`] drops, duplicates, reorders, delays and damages ACK datagrams
//! on their way from the device model to the socket.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use super::{FaultConfig, FaultCounts, Odds, Pick};
use crate::device::link::{AckLink, MAX_ACK_LEN};
use crate::fault::SplitMix64;

/// How [`AckFaults`] damages an ACK so that the sender can tell.
///
/// ```
/// use std::net::SocketAddr;
/// use std::time::Duration;
/// use ringshot::device::{AckEncoder, AckFaults, AckLink, AckState, Corruption, FaultConfig};
/// use ringshot::flow::{AckParser, NativeParser};
/// use ringshot::AckFormat;
///
/// struct Recorder(Vec<Vec<u8>>);
/// impl AckLink for Recorder {
///     fn send(&mut self, ack: &[u8], _to: SocketAddr, _now_ns: u64) {
///         self.0.push(ack.to_vec());
///     }
///     fn sent(&self) -> u64 {
///         self.0.len() as u64
///     }
/// }
///
/// // Every ACK damaged: a flipped bit, which the native ACK's CRC-32C always catches.
/// let cfg = FaultConfig::builder().seed(3).corrupt_acks(1.0).build().unwrap();
/// let mut link = AckFaults::new(Recorder(Vec::new()), &cfg, Corruption::FlipBit, Duration::from_millis(1));
/// let st = AckState { position: 5, bytes: 0, capacity: 4096, start_seq: 0, stream_id: 0 };
/// let mut enc = AckEncoder::new(AckFormat::Native);
/// link.send(enc.flow(&st), "127.0.0.1:9".parse().unwrap(), 0);
/// link.finish(0);
/// let sent = &link.inner().0;
/// assert_eq!((sent.len(), link.fault_counts().corrupt_acks), (1, 1));
/// assert!(NativeParser.parse(&sent[0], 0).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corruption {
    /// Flip one random bit (formats with a checksum: the native ACK's CRC-32C catches every
    /// single-bit error).
    FlipBit,
    /// Cut the datagram short at a random length (formats without a checksum, USRP2 VRT and CHDR,
    /// where a flipped bit could forge a believable count: their length fields catch a cut).
    Truncate,
}

/// An ACK datagram waiting in [`AckFaults`].
#[derive(Debug, Clone, Copy)]
struct AckSlot {
    buf: [u8; MAX_ACK_LEN],
    len: usize,
    to: SocketAddr,
    /// When it is due (delay) or was held (reorder), ns.
    at_ns: u64,
}

impl AckSlot {
    fn new(ack: &[u8], to: SocketAddr, at_ns: u64) -> AckSlot {
        let len = ack.len().min(MAX_ACK_LEN);
        let mut buf = [0u8; MAX_ACK_LEN];
        buf[..len].copy_from_slice(&ack[..len]);
        AckSlot {
            buf,
            len,
            to,
            at_ns,
        }
    }
}

/// ACK-path fault middleware over an [`AckLink`] `L` (normally the device's socket).
///
/// ```
/// use std::net::SocketAddr;
/// use std::time::Duration;
/// use ringshot::device::{AckFaults, AckLink, Corruption, FaultConfig};
///
/// struct Count(u64);
/// impl AckLink for Count {
///     fn send(&mut self, _ack: &[u8], _to: SocketAddr, _now_ns: u64) {
///         self.0 += 1;
///     }
///     fn sent(&self) -> u64 {
///         self.0
///     }
/// }
///
/// // Half the ACKs dropped, seeded: the same seed drops the same ACKs every run.
/// let cfg = FaultConfig::builder().seed(42).drop_acks(0.5).build().unwrap();
/// let mut link = AckFaults::new(Count(0), &cfg, Corruption::Truncate, Duration::from_millis(1));
/// let to = "127.0.0.1:9".parse().unwrap();
/// for i in 0..1000 {
///     link.send(b"ack", to, i);
/// }
/// link.finish(1000);
/// let dropped = link.fault_counts().drop_acks;
/// assert_eq!(link.inner().0 + dropped, 1000);
/// assert!((400..600).contains(&dropped));
/// ```
#[derive(Debug)]
pub struct AckFaults<L> {
    inner: L,
    rng: SplitMix64,
    odds: Odds,
    corruption: Corruption,
    delay_ns: u64,
    /// Longest a reordered ACK waits for the next one before it goes alone (not counted).
    hold_limit_ns: u64,
    held: Option<AckSlot>,
    delayed: VecDeque<AckSlot>,
    counts: FaultCounts,
}

impl<L: AckLink> AckFaults<L> {
    /// Wraps `inner` with the ACK-path part of `cfg`. `hold_limit` bounds how long a reordered ACK
    /// waits for a successor (the device's ACK interval is a good value).
    pub fn new(
        inner: L,
        cfg: &FaultConfig,
        corruption: Corruption,
        hold_limit: Duration,
    ) -> AckFaults<L> {
        let (_, rng) = cfg.streams();
        AckFaults {
            inner,
            rng,
            odds: Odds::new(
                cfg.drop_acks,
                cfg.dup_acks,
                cfg.reorder_acks,
                cfg.corrupt_acks,
            ),
            corruption,
            delay_ns: cfg.delay_acks.as_nanos() as u64,
            hold_limit_ns: hold_limit.as_nanos().max(1) as u64,
            held: None,
            delayed: VecDeque::with_capacity(if cfg.delay_acks.is_zero() { 0 } else { 1024 }),
            counts: FaultCounts::default(),
        }
    }

    pub fn inner(&self) -> &L {
        &self.inner
    }

    /// Sends now, or queues for the delay.
    fn emit(&mut self, slot: AckSlot, now_ns: u64) {
        if self.delay_ns == 0 {
            self.inner.send(&slot.buf[..slot.len], slot.to, now_ns);
        } else {
            self.counts.delay_acks += 1;
            self.delayed.push_back(AckSlot {
                at_ns: now_ns.saturating_add(self.delay_ns),
                ..slot
            });
        }
    }

    fn damage(&mut self, slot: &mut AckSlot) {
        if slot.len == 0 {
            return;
        }
        match self.corruption {
            Corruption::FlipBit => {
                let bit = self.rng.below(slot.len as u64 * 8) as usize;
                slot.buf[bit / 8] ^= 1 << (bit % 8);
            }
            Corruption::Truncate => slot.len = self.rng.below(slot.len as u64) as usize,
        }
    }
}

impl<L: AckLink> AckLink for AckFaults<L> {
    fn send(&mut self, ack: &[u8], to: SocketAddr, now_ns: u64) {
        let mut slot = AckSlot::new(ack, to, now_ns);
        match self.odds.pick(&mut self.rng) {
            Pick::Drop => {
                self.counts.drop_acks += 1;
                return;
            }
            Pick::Dup => {
                self.counts.dup_acks += 1;
                self.emit(slot, now_ns);
                self.emit(slot, now_ns);
            }
            Pick::Reorder if self.held.is_none() => {
                self.held = Some(slot);
                return;
            }
            Pick::Corrupt => {
                self.counts.corrupt_acks += 1;
                self.damage(&mut slot);
                self.emit(slot, now_ns);
            }
            _ => self.emit(slot, now_ns),
        }
        // Whatever was held goes out right behind the ACK that overtook it.
        if let Some(h) = self.held.take() {
            self.counts.reorder_acks += 1;
            self.emit(h, now_ns);
        }
    }

    fn poll(&mut self, now_ns: u64) -> Option<u64> {
        if let Some(h) = self.held {
            if now_ns.saturating_sub(h.at_ns) >= self.hold_limit_ns {
                self.held = None;
                self.emit(h, now_ns);
            }
        }
        while let Some(s) = self.delayed.front().copied() {
            if s.at_ns > now_ns {
                break;
            }
            self.delayed.pop_front();
            self.inner.send(&s.buf[..s.len], s.to, now_ns);
        }
        let held_due = self
            .held
            .map(|h| h.at_ns.saturating_add(self.hold_limit_ns));
        let delayed_due = self.delayed.front().map(|s| s.at_ns);
        let own = match (held_due, delayed_due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match (own, self.inner.poll(now_ns)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn finish(&mut self, now_ns: u64) {
        if let Some(h) = self.held.take() {
            self.emit(h, now_ns);
        }
        while let Some(s) = self.delayed.pop_front() {
            self.inner.send(&s.buf[..s.len], s.to, now_ns);
        }
        self.inner.finish(now_ns);
    }

    fn sent(&self) -> u64 {
        self.inner.sent()
    }

    fn send_errors(&self) -> u64 {
        self.inner.send_errors()
    }

    fn fault_counts(&self) -> FaultCounts {
        self.counts.merged(self.inner.fault_counts())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::AckFormat;

    #[derive(Debug, Default)]
    struct Wire {
        sent: Vec<Vec<u8>>,
    }

    impl AckLink for Wire {
        fn send(&mut self, ack: &[u8], _to: SocketAddr, _now_ns: u64) {
            self.sent.push(ack.to_vec());
        }
        fn sent(&self) -> u64 {
            self.sent.len() as u64
        }
    }

    fn to() -> SocketAddr {
        "127.0.0.1:7".parse().unwrap()
    }

    /// `cfg`'s ACK faults over a recording wire, corrupting by a flipped bit, holding 1 ms.
    fn flip_bit_faults(cfg: &FaultConfig) -> AckFaults<Wire> {
        AckFaults::new(
            Wire::default(),
            cfg,
            Corruption::FlipBit,
            Duration::from_millis(1),
        )
    }

    #[test]
    fn ack_faults_drop_dup_reorder_delay() {
        let cfg = FaultConfig::builder()
            .reorder_acks(1.0)
            .delay_acks(Duration::from_micros(5))
            .build()
            .unwrap();
        let mut a = flip_bit_faults(&cfg);
        a.send(&[1], to(), 0); // held
        a.send(&[2], to(), 100); // wants holding too, but one is held: goes, then 1 behind it
        assert_eq!(a.poll(100), Some(5_100));
        assert!(a.inner().sent.is_empty());
        assert_eq!(a.poll(5_100), None);
        assert_eq!(a.inner().sent, vec![vec![2], vec![1]]);
        a.send(&[3], to(), 10_000); // held, then goes alone after the hold limit
        assert_eq!(a.poll(10_000), Some(10_000 + 1_000_000));
        a.poll(1_010_000);
        a.poll(1_015_000);
        assert_eq!(a.inner().sent.last().unwrap(), &vec![3]);
        let c = a.fault_counts();
        assert_eq!((c.reorder_acks, c.delay_acks), (1, 3));

        let cfg = FaultConfig::builder()
            .seed(3)
            .drop_acks(0.3)
            .dup_acks(0.3)
            .build()
            .unwrap();
        let mut a = flip_bit_faults(&cfg);
        for i in 0..1000u32 {
            a.send(&i.to_be_bytes(), to(), u64::from(i));
        }
        a.finish(1000);
        let c = a.fault_counts();
        assert!(c.drop_acks > 200 && c.dup_acks > 200, "{c:?}");
        assert_eq!(a.sent(), 1000 - c.drop_acks + c.dup_acks);
    }

    /// A damaged ACK is always rejected by the sender's parser, for every format.
    #[test]
    fn corrupted_acks_are_always_detected() {
        use crate::device::encode::AckEncoder;
        use crate::device::AckState;
        use crate::flow::EventSet;
        for format in [
            AckFormat::Native,
            AckFormat::Usrp2 { stream_id: 2 },
            AckFormat::Chdr,
        ] {
            let mut enc = AckEncoder::new(format);
            let st = AckState {
                position: 1_000,
                bytes: 1_472_000,
                capacity: 1 << 20,
                start_seq: 0,
                stream_id: 0,
            };
            let mut acks = vec![enc.flow(&st).to_vec()];
            enc.events(&st, EventSet::SEQ_ERROR, |b| acks.push(b.to_vec()));
            let corruption = crate::device::corruption_for(format);
            for good in acks {
                let mut parser = format.parser(0);
                assert!(parser.parse(&good, 900).is_ok());
                let damaged: Vec<Vec<u8>> = match corruption {
                    Corruption::FlipBit => (0..good.len() * 8)
                        .map(|bit| {
                            let mut b = good.clone();
                            b[bit / 8] ^= 1 << (bit % 8);
                            b
                        })
                        .collect(),
                    Corruption::Truncate => (0..good.len()).map(|n| good[..n].to_vec()).collect(),
                };
                for d in damaged {
                    assert!(
                        parser.parse(&d, 900).is_err(),
                        "{format}: damaged ACK {d:02x?} accepted"
                    );
                }
            }
        }
    }
}
