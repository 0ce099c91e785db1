//! The state shared by the ACK core and the TX core: atomics only.
//!
//! Each side has a single writer. The ACK core writes the acknowledged counts, the device-reported
//! capacity, the receive time of the last advancing ACK and the generation; the TX core writes
//! its sent counts. Stores are Release and loads Acquire, and within the ACK side the packet count
//! is stored last, so a TX core that sees a new packet count also sees the bytes, capacity and
//! receive time that came with it (or newer). The two sides sit on separate cache lines so the
//! TX core's stores do not invalidate the line it polls.

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::time::Instant;

use super::shared::SharedWindow;

#[derive(Debug, Default)]
#[repr(align(128))]
struct AckSide {
    acked_packets: AtomicU64,
    acked_bytes: AtomicU64,
    capacity_bytes: AtomicU64,
    capacity_packets: AtomicU64,
    ack_rx_ns: AtomicU64,
    generation: AtomicU64,
    bytes_reported: AtomicBool,
    /// Set (after the value) once the device has reported that capacity: until then the
    /// capacity is unknown, which is not the same as 0.
    capacity_bytes_known: AtomicBool,
    capacity_packets_known: AtomicBool,
}

#[derive(Debug, Default)]
#[repr(align(128))]
struct TxSide {
    sent_packets: AtomicU64,
    sent_bytes: AtomicU64,
}

/// One consistent-enough reading of the ACK side (packet count first, the rest after it).
///
/// ```
/// use ringshot::flow::FlowState;
///
/// let state = FlowState::new(500);
/// let s = state.snapshot();
/// assert_eq!((s.acked_packets, s.capacity_bytes, s.generation), (500, 0, 0)); // nothing reported yet
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowSnapshot {
    pub acked_packets: u64,
    pub acked_bytes: u64,
    /// 0 until the device reports it.
    pub capacity_bytes: u64,
    /// 0 until the device reports it.
    pub capacity_packets: u64,
    pub ack_rx_ns: u64,
    pub generation: u64,
}

/// Flow-control state shared between the ACK core (writer of the acknowledged side) and the TX
/// core (writer of the sent side).
///
/// Packet counts live in the sender's sequence space: a stream whose first packet has sequence
/// `start_seq` begins with sent = acknowledged = `start_seq`. Byte counts start at 0 and count
/// what the device counts (native: UDP payload bytes; CHDR: whole CHDR packets).
///
/// ```
/// use ringshot::flow::FlowState;
///
/// // A stream starting at sequence 1000: sent and acknowledged both start there.
/// let state = FlowState::new(1000);
/// assert_eq!((state.start_seq(), state.sent_packets(), state.acked_packets()), (1000, 1000, 1000));
/// // Before the device says anything, an explicit window alone grants credit...
/// assert_eq!(state.credit(1000, 0, Some(64), None, 1472), 64);
/// assert_eq!(state.credit(1040, 0, Some(64), None, 1472), 24); // 40 packets outstanding
/// // ...and without a window there is none: fail closed.
/// assert_eq!(state.credit(1000, 0, None, None, 1472), 0);
/// assert!(!state.bytes_reported());
/// ```
#[derive(Debug)]
pub struct FlowState {
    epoch: Instant,
    start_seq: u64,
    ack: AckSide,
    tx: TxSide,
    /// A window shared with other engines: the acknowledged packets go back to it as the
    /// count moves.
    shared: Option<Arc<SharedWindow>>,
}

impl FlowState {
    /// State for a stream whose first data packet has sequence number `start_seq`.
    pub fn new(start_seq: u64) -> FlowState {
        FlowState::with_shared(start_seq, None)
    }

    /// State for a stream that also claims credit from `shared`, a window shared with other
    /// engines: every packet the device acknowledges is given back to it.
    pub fn with_shared(start_seq: u64, shared: Option<Arc<SharedWindow>>) -> FlowState {
        let s = FlowState {
            epoch: Instant::now(),
            start_seq,
            ack: AckSide::default(),
            tx: TxSide::default(),
            shared,
        };
        s.ack.acked_packets.store(start_seq, Relaxed);
        s.tx.sent_packets.store(start_seq, Relaxed);
        s
    }

    /// The sequence number of the stream's first packet.
    pub fn start_seq(&self) -> u64 {
        self.start_seq
    }

    /// Monotonic nanoseconds since this state was created; the clock of [`FlowSnapshot::ack_rx_ns`].
    pub fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    // ---- TX side ----

    /// Publishes the cumulative packets and bytes the TX core has sent. Call it *before* handing
    /// those packets to the kernel: a device on loopback can answer before `send` returns, and an
    /// ACK for more than the published count is rejected as `beyond_sent`. The engine's one
    /// writer; an app publishes through a [`SentPublisher`].
    pub(crate) fn publish_sent(&self, packets: u64, bytes: u64) {
        self.tx.sent_bytes.store(bytes, Release);
        self.tx.sent_packets.store(packets, Release);
    }

    pub fn sent_packets(&self) -> u64 {
        self.tx.sent_packets.load(Acquire)
    }

    pub fn sent_bytes(&self) -> u64 {
        self.tx.sent_bytes.load(Acquire)
    }

    // ---- ACK side, read ----

    /// Cumulative packets acknowledged (sequence space: the next sequence the device expects).
    pub fn acked_packets(&self) -> u64 {
        self.ack.acked_packets.load(Acquire)
    }

    pub fn acked_bytes(&self) -> u64 {
        self.ack.acked_bytes.load(Acquire)
    }

    /// Device buffer size in bytes as last reported; 0 = unknown.
    pub fn capacity_bytes(&self) -> u64 {
        self.ack.capacity_bytes.load(Acquire)
    }

    /// Device buffer size in packets as last reported; 0 = unknown.
    pub fn capacity_packets(&self) -> u64 {
        self.ack.capacity_packets.load(Acquire)
    }

    /// [`FlowState::now_ns`] at the receive of the ACK that last advanced the packet count.
    pub fn ack_rx_ns(&self) -> u64 {
        self.ack.ack_rx_ns.load(Acquire)
    }

    /// Bumped each time the device reports a restart (its buffer and in-flight packets are lost).
    pub fn generation(&self) -> u64 {
        self.ack.generation.load(Acquire)
    }

    /// Whether the ACK format reports consumed bytes (otherwise byte windows are estimated).
    pub fn bytes_reported(&self) -> bool {
        self.ack.bytes_reported.load(Acquire)
    }

    pub fn snapshot(&self) -> FlowSnapshot {
        let acked_packets = self.acked_packets();
        FlowSnapshot {
            acked_packets,
            acked_bytes: self.acked_bytes(),
            capacity_bytes: self.capacity_bytes(),
            capacity_packets: self.capacity_packets(),
            ack_rx_ns: self.ack_rx_ns(),
            generation: self.generation(),
        }
    }

    /// Packets the TX core may send now, given what it has sent (cumulative, as published) and
    /// packets of `frame_bytes` each. Every limit that applies is honoured: the packet window,
    /// the byte window, and the capacity the device reports (bytes, packets). A byte limit is
    /// applied as `(limit − outstanding bytes) / frame_bytes`; when the ACK format does not report
    /// consumed bytes, outstanding bytes are estimated as outstanding packets × `frame_bytes`.
    ///
    /// Fail-closed: a reported capacity of 0 means no room, and with neither a reported
    /// capacity nor an explicit window the credit is 0 (a device that has said nothing yet is
    /// not a device with unlimited room). Before the first report an explicit window applies
    /// alone.
    ///
    /// ```
    /// use ringshot::flow::FlowState;
    ///
    /// let state = FlowState::new(0);
    /// // A byte window of 10 KB in 1472-byte packets, 3 packets out: (10_000 - 3 × 1472) / 1472.
    /// assert_eq!(state.credit(3, 3 * 1472, None, Some(10_000), 1472), 3);
    /// // Both windows: the tighter one wins.
    /// assert_eq!(state.credit(3, 3 * 1472, Some(4), Some(10_000), 1472), 1);
    /// ```
    pub fn credit(
        &self,
        sent_pkts: u64,
        sent_bytes: u64,
        window_packets: Option<u64>,
        window_bytes: Option<u64>,
        frame_bytes: u64,
    ) -> u64 {
        let s = self.snapshot();
        let frame = frame_bytes.max(1);
        let out_pkts = sent_pkts.saturating_sub(s.acked_packets);
        let out_bytes = if self.bytes_reported() {
            sent_bytes.saturating_sub(s.acked_bytes)
        } else {
            out_pkts.saturating_mul(frame)
        };
        let by_pkts = |limit: u64| limit.saturating_sub(out_pkts);
        let by_bytes = |limit: u64| limit.saturating_sub(out_bytes) / frame;
        let mut limited = false;
        let mut credit = u64::MAX;
        let mut apply = |c: u64| {
            limited = true;
            credit = credit.min(c);
        };
        if let Some(w) = window_packets {
            apply(by_pkts(w));
        }
        if let Some(w) = window_bytes {
            apply(by_bytes(w));
        }
        if self.ack.capacity_packets_known.load(Acquire) {
            apply(by_pkts(self.capacity_packets()));
        }
        if self.ack.capacity_bytes_known.load(Acquire) {
            apply(by_bytes(self.capacity_bytes()));
        }
        if limited {
            credit
        } else {
            0
        }
    }

    // ---- ACK side, write (one writer: the ACK core) ----

    /// Moves the acknowledged counts forward to `packets` (and `bytes`), never backwards, and
    /// records `rx_ns` as the receive time when the packet count moved. Returns whether it did.
    /// Only one thread may call the ACK-side writers (normally the [`super::AckCore`]).
    pub(crate) fn advance(&self, packets: u64, bytes: Option<u64>, rx_ns: u64) -> bool {
        if let Some(b) = bytes {
            if !self.ack.bytes_reported.load(Relaxed) {
                self.ack.bytes_reported.store(true, Release);
            }
            if b > self.ack.acked_bytes.load(Relaxed) {
                self.ack.acked_bytes.store(b, Release);
            }
        }
        let before = self.ack.acked_packets.load(Relaxed);
        if packets > before {
            self.ack.ack_rx_ns.store(rx_ns, Release);
            // Last: a reader that sees this count also sees the bytes and time stored above.
            self.ack.acked_packets.store(packets, Release);
            if let Some(w) = &self.shared {
                // Every acknowledged packet was claimed from the shared window before it was
                // sent (and an ACK beyond what was sent never gets here).
                w.release(packets - before);
            }
            true
        } else {
            false
        }
    }

    /// Records the device buffer size it reported (bytes, packets); `None` leaves a value as is.
    /// A reported 0 is a real capacity of 0 (no credit), not "unknown".
    pub(crate) fn set_capacity(&self, bytes: Option<u64>, packets: Option<u64>) {
        if let Some(b) = bytes {
            self.ack.capacity_bytes.store(b, Release);
            // After the value: a reader that sees the flag sees the value (or a newer one).
            self.ack.capacity_bytes_known.store(true, Release);
        }
        if let Some(p) = packets {
            self.ack.capacity_packets.store(p, Release);
            self.ack.capacity_packets_known.store(true, Release);
        }
    }

    /// The window shared with other engines, if this stream claims from one.
    pub fn shared_window(&self) -> Option<&Arc<SharedWindow>> {
        self.shared.as_ref()
    }

    /// Records a device restart; returns the new generation.
    pub(crate) fn bump_generation(&self) -> u64 {
        self.ack.generation.fetch_add(1, Release) + 1
    }
}

/// The one writer of a [`FlowState`]'s sent side, for an app that runs an [`AckCore`] of its
/// own (the engine publishes for the states it makes and never hands out a publisher): it owns
/// the state it publishes to, and it is not `Clone`, so no second writer can exist.
///
/// The ACK core accepts an ACK only up to the published counts (beyond them it counts the ACK
/// `beyond_sent` and ignores it), so what is published bounds how far the window can open.
/// Hence the rules, which keep the window from ever opening past what was really sent:
///
/// - publish the cumulative counts *including* the packets about to go, just before handing
///   them to the kernel (a device on loopback can answer before `send` returns), and never more
///   than that: a count published for packets that are never sent lets an ACK claiming them
///   count as progress;
/// - counts are cumulative and never go back: a count below the one published is ignored.
///
/// A standalone ACK core crediting the progress a device reports:
///
/// ```
/// use ringshot::flow::{AckCore, AckCoreConfig, SentPublisher};
/// use ringshot::wire::ack::{EventSet, Repr};
/// use std::time::{Duration, Instant};
/// # fn main() -> std::io::Result<()> {
/// let data = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// let device = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// data.connect(device.local_addr()?)?;
/// let mut sent = SentPublisher::new(0);
/// let state = sent.state().clone();
/// let cfg = AckCoreConfig { device: Some(device.local_addr()?), ..AckCoreConfig::default() };
/// let acks = AckCore::spawn(data.try_clone()?, state.clone(), cfg)?;
///
/// // Publish the ten packets, then send them.
/// sent.publish(10, 10 * 64);
/// for _ in 0..10 {
///     data.send(&[0u8; 64])?;
/// }
/// // The device has consumed four of them.
/// let ack = Repr { stream_id: 0, ack_number: 4, consumed: 4, consumed_bytes: None, credit: None, events: EventSet::NONE };
/// device.send_to(&ack.to_bytes(), data.local_addr()?)?;
/// let deadline = Instant::now() + Duration::from_secs(10);
/// while state.acked_packets() < 4 && Instant::now() < deadline {
///     std::thread::sleep(Duration::from_millis(1));
/// }
/// assert_eq!(state.acked_packets(), 4);
/// // A window of 8 packets with 6 outstanding leaves room for 2.
/// assert_eq!(state.credit(state.sent_packets(), state.sent_bytes(), Some(8), None, 64), 2);
/// let stats = acks.stop();
/// assert_eq!((stats.accepted, stats.beyond_sent), (1, 0));
/// # Ok(())
/// # }
/// ```
///
/// [`AckCore`]: super::AckCore
#[derive(Debug)]
pub struct SentPublisher {
    state: Arc<FlowState>,
}

impl SentPublisher {
    /// A new [`FlowState`] for a stream whose first packet has sequence `start_seq`, with its
    /// sent side's writer.
    ///
    /// ```
    /// use ringshot::flow::SentPublisher;
    ///
    /// let mut sent = SentPublisher::new(100);
    /// sent.publish(110, 1_000);
    /// sent.publish(105, 2_000); // packets going back: ignored, bytes still move on
    /// assert_eq!((sent.state().sent_packets(), sent.state().sent_bytes()), (110, 2_000));
    /// ```
    pub fn new(start_seq: u64) -> SentPublisher {
        SentPublisher {
            state: Arc::new(FlowState::new(start_seq)),
        }
    }

    /// The state this publisher writes: hand a clone to [`AckCore::spawn`] and read the credit
    /// from it.
    ///
    /// [`AckCore::spawn`]: super::AckCore::spawn
    pub fn state(&self) -> &Arc<FlowState> {
        &self.state
    }

    /// Publishes the cumulative `packets` (in the sequence space, as
    /// [`FlowState::sent_packets`]) and `bytes` sent, counting the packets about to be handed to
    /// the kernel; see the type's rules. Either count below the one already published is
    /// ignored.
    pub fn publish(&mut self, packets: u64, bytes: u64) {
        let packets = packets.max(self.state.sent_packets());
        let bytes = bytes.max(self.state.sent_bytes());
        self.state.publish_sent(packets, bytes);
    }
}

/// Measures ACK-to-TX visibility on the TX core: call [`AckWatch::poll`] where the engine reads
/// its credit; when the acknowledged count has moved since the last call it returns how long ago
/// (ns) the ACK core received the ACK that moved it.
///
/// ```
/// use ringshot::flow::{AckWatch, FlowState};
///
/// let state = FlowState::new(0);
/// let mut watch = AckWatch::new(&state);
/// assert_eq!(watch.poll(&state), None); // no ACK has moved the count
/// ```
#[derive(Debug, Clone, Copy)]
pub struct AckWatch {
    seen: u64,
}

impl AckWatch {
    pub fn new(state: &FlowState) -> AckWatch {
        AckWatch {
            seen: state.acked_packets(),
        }
    }

    pub fn poll(&mut self, state: &FlowState) -> Option<u64> {
        let acked = state.acked_packets();
        if acked == self.seen {
            return None;
        }
        self.seen = acked;
        let rx = state.ack_rx_ns();
        Some(state.now_ns().saturating_sub(rx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_in_sequence_space() {
        let s = FlowState::new(1 << 32);
        assert_eq!((s.sent_packets(), s.acked_packets()), (1 << 32, 1 << 32));
        assert_eq!(s.credit(1 << 32, 0, Some(8), None, 1000), 8);
        // Fail-closed: no window and no capacity report yet means no credit.
        assert_eq!(s.credit(1 << 32, 0, None, None, 1000), 0);
    }

    #[test]
    fn credit_fails_closed() {
        let s = FlowState::new(0);
        // Before any report: 0 without a window, the explicit window with one.
        assert_eq!(s.credit(0, 0, None, None, 1000), 0);
        assert_eq!(s.credit(0, 0, Some(16), None, 1000), 16);
        assert_eq!(s.credit(0, 0, None, Some(8_000), 1000), 8);
        // A reported capacity of 0 is 0, whatever the window says.
        s.set_capacity(None, Some(0));
        assert_eq!(s.credit(0, 0, None, None, 1000), 0);
        assert_eq!(s.credit(0, 0, Some(16), None, 1000), 0);
        s.set_capacity(Some(0), Some(32));
        assert_eq!(s.credit(0, 0, Some(16), None, 1000), 0);
        // Once both report room, the tightest limit applies.
        s.set_capacity(Some(1 << 20), None);
        assert_eq!(s.credit(0, 0, None, None, 1000), 32);
        assert_eq!(s.credit(0, 0, Some(16), None, 1000), 16);
    }

    #[test]
    fn never_moves_backwards() {
        let s = FlowState::new(0);
        assert!(s.advance(10, Some(100), 5));
        assert!(!s.advance(7, Some(50), 6));
        assert!(!s.advance(10, Some(120), 7));
        assert_eq!(s.snapshot().acked_packets, 10);
        assert_eq!(s.acked_bytes(), 120);
        // The receive time belongs to the last ACK that moved the packet count.
        assert_eq!(s.ack_rx_ns(), 5);
    }

    #[test]
    fn credit_takes_the_tightest_limit() {
        let s = FlowState::new(0);
        // 100 sent, 40 acknowledged: 60 outstanding.
        s.advance(40, None, 0);
        assert_eq!(s.credit(100, 0, Some(64), None, 1000), 4);
        assert_eq!(s.credit(100, 0, Some(50), None, 1000), 0);
        // Bytes not reported: 60 × 1000 outstanding estimated.
        assert_eq!(s.credit(100, 0, None, Some(65_500), 1000), 5);
        // Device capacity in packets and bytes, with bytes reported.
        s.advance(40, Some(40_000), 0);
        s.set_capacity(Some(64_000), Some(70));
        assert_eq!(s.credit(100, 100_000, None, None, 1000), 4);
        s.set_capacity(Some(1 << 30), None);
        assert_eq!(s.credit(100, 100_000, None, None, 1000), 10);
        // Frame size 0 does not divide by zero.
        assert_eq!(s.credit(100, 100_000, Some(61), None, 0), 1);
    }

    #[test]
    fn watch_reports_visibility_once_per_advance() {
        let s = FlowState::new(0);
        let mut w = AckWatch::new(&s);
        assert_eq!(w.poll(&s), None);
        s.advance(3, None, s.now_ns());
        std::thread::sleep(std::time::Duration::from_millis(2));
        let v = w.poll(&s).unwrap();
        assert!(v >= 2_000_000, "{v}");
        assert_eq!(w.poll(&s), None);
    }

    /// Loom-free stress of the hand-off: one writer publishes sent, then advances bytes and
    /// packets; one reader checks that what it sees is monotonic and never ahead of what was
    /// published before it.
    #[test]
    fn stress_handoff() {
        const N: u64 = 300_000;
        let s = Arc::new(FlowState::new(0));
        s.publish_sent(3, 30);
        let writer = {
            let s = s.clone();
            std::thread::spawn(move || {
                for v in 1..=N {
                    s.publish_sent(v + 3, 10 * (v + 3));
                    s.advance(v, Some(10 * v), v);
                }
            })
        };
        let mut last = 0;
        let mut observed_changes = 0u64;
        loop {
            let p = s.acked_packets();
            let b = s.acked_bytes();
            let rx = s.ack_rx_ns();
            let sent = s.sent_packets();
            assert!(p >= last, "went back from {last} to {p}");
            assert!(b >= 10 * p, "bytes {b} older than packets {p}");
            assert!(rx >= p, "rx time {rx} older than packets {p}");
            assert!(sent >= p + 3, "acked {p} beyond published {sent}");
            if p != last {
                observed_changes += 1;
            }
            last = p;
            if p == N {
                break;
            }
        }
        writer.join().unwrap();
        assert!(observed_changes > 0);
    }
}
