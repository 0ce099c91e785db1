//! [`DeviceModel`]: a device with a finite buffer drained at a fixed rate, as a [`DatagramSink`].

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use super::encode::AckEncoder;
use super::fault::{FaultCounts, Restart};
use super::link::{AckLink, SocketLink};
use super::report::{AckState, DeviceReport};
use super::DeviceConfig;
use crate::flow::EventSet;
use crate::pacing::Rate;
use crate::recv::formats::SeqReader;
use crate::recv::{DatagramSink, RxMeta, StreamChecker};
use crate::wire::header;

/// Heartbeat ACKs after the device's state last changed (one per ACK interval), so a lost final
/// ACK is repeated without the device chattering forever at an idle sender. Counted in ACKs, not
/// in time, so a receive thread that was descheduled for a while still sends them.
pub const HEARTBEATS: u64 = 16;
/// Shortest wake-up asked of the receive loop.
const MIN_WAIT: Duration = Duration::from_micros(10);
/// Longest stretch of the buffer scanned to find when the next ACK falls due.
const MAX_SCAN: usize = 1024;

/// One packet in the buffer.
#[derive(Debug, Clone, Copy)]
struct Entry {
    seq: u64,
    /// Sequence numbers skipped right before this one.
    gap: u64,
    len: u32,
}

/// A device as a [`DatagramSink`] over an inner sink `S` (normally the [`StreamChecker`]) that
/// sends its ACKs through `L` (normally a [`SocketLink`] on a clone of the receive socket).
///
/// # Model
///
/// Every datagram goes to the inner sink first, so the checker sees exactly what reached the
/// device's port. Then, for ringshot data packets:
///
/// - **Drain.** The buffer is drained like a DAC from the first packet on: each packet takes
///   `1/drain_pps` (or `len × 8 / drain_rate`) to consume, back to back on an absolute schedule
///   computed from the receive timestamps ([`RxMeta::at_ns`]) and the times `tick` is called; no
///   per-packet timers. A packet's bytes leave the buffer when it has been consumed. When the
///   buffer runs dry, the drain stops; the next packet restarts it at its arrival time.
/// - **Underflow.** The buffer ran dry and a packet then arrived (the stream went on): counted once
///   per dry spell and announced when the packet arrives. Running dry at the end of a stream is
///   not an underflow.
/// - **Overflow.** A packet arrives and does not fit (`fill + len > buffer`): dropped, counted,
///   announced. With correct flow control it never happens.
/// - **Sequence.** The device expects `start_seq` first and then +1 per packet. A packet beyond
///   the expected one opens a gap: a sequence error is announced and the gap is skipped (its
///   numbers are credited as consumed when this packet is consumed, in bytes at this packet's
///   size — exact for streams of equal-sized packets). A packet below the expected one (a
///   duplicate, or one that arrived after its successors) is discarded. A packet more than
///   `max_seq_jump` past the expected one is not believed: counted as `implausible`, it changes
///   nothing (no gap skipped, no ACK target, no sequence error), so one forged packet cannot make
///   the device discard the real stream that follows.
/// - **ACKs.** Cumulative, to the source address of the latest data packet: after every
///   `ack_every` packets consumed, whenever the buffer runs empty, and at least every
///   `ack_interval` while the device is active ([`HEARTBEATS`] heartbeats after the last
///   change). Events go out at once, each as its own ACK.
/// - **Restart** ([`Restart::restart`]). The device forgets everything: the buffered packets are
///   lost (counted), its consumed position goes back to `start_seq`, its byte count to 0, and it
///   announces a restart. Until a packet with `start_seq` arrives (the sender restarting its
///   stream) it discards data, and its ACKs report the reset position, which the sender sees as
///   stale, so a sender that missed the announcement stalls rather than believing anything it
///   sent was consumed. When the stream does restart, the inner checker restarts too.
///
/// ```
/// use std::net::SocketAddr;
/// use ringshot::device::{AckLink, DeviceConfig, DeviceModel};
/// use ringshot::flow::{AckParser, NativeParser};
/// use ringshot::recv::{DatagramSink, RxMeta, StreamChecker};
/// use ringshot::wire::header::pattern_packet;
///
/// /// Keeps the ACKs instead of sending them.
/// struct Recorder(Vec<Vec<u8>>);
///
/// impl AckLink for Recorder {
///     fn send(&mut self, ack: &[u8], _to: SocketAddr, _now_ns: u64) {
///         self.0.push(ack.to_vec());
///     }
///     fn sent(&self) -> u64 {
///         self.0.len() as u64
///     }
/// }
///
/// // 4 KB of buffer, an ACK every 2 packets consumed.
/// let cfg = DeviceConfig::builder().buffer_bytes(4096).drain_pps(1000.0).ack_every(2).build().unwrap();
/// let mut dev = DeviceModel::new(&cfg, StreamChecker::new(64, true), Recorder(Vec::new()));
/// let meta = RxMeta { src: "10.0.0.1:4000".parse().unwrap(), at_ns: 0 };
/// for seq in 0..5 {
///     dev.datagram(&pattern_packet(0, seq, 1000), &meta); // all at once: the 5th does not fit
/// }
/// assert_eq!((dev.report().overflows, dev.fill_bytes()), (1, 4000));
/// dev.finish(1_000_000_000);
/// let last = dev.link().0.last().unwrap();
/// assert_eq!(NativeParser.parse(last, 0).unwrap().acked_packets, Some(4));
/// assert_eq!(dev.ack_state().position, 4);
/// assert_eq!(dev.inner().packets(), 5); // the checker saw every packet that reached the port
/// assert_eq!(dev.ack_faults().drop_acks, 0);
/// ```
#[derive(Debug)]
pub struct DeviceModel<S, L = SocketLink> {
    inner: S,
    link: L,
    enc: AckEncoder,
    buffer_bytes: u64,
    /// Drain cost of a packet: `cost_fixed + cost_per_byte × len` ns.
    cost_fixed: f64,
    cost_per_byte: f64,
    ack_every: u64,
    interval_ns: u64,
    start_seq: u64,
    max_seq_jump: u64,
    /// Receive time of the first packet: times below are ns after it, as f64.
    t0: Option<u64>,
    last_now: u64,
    queue: VecDeque<Entry>,
    fill: u64,
    /// When the head of the queue will have been consumed.
    head_done: f64,
    /// When the buffer last ran dry while streaming.
    dry_at: Option<f64>,
    awaiting_resync: bool,
    /// Next sequence number expected on arrival.
    expected: u64,
    /// Sequence number after the last packet taken into the buffer.
    accepted_end: u64,
    position: u64,
    credited_bytes: u64,
    since_ack: u64,
    last_ack_ns: u64,
    heartbeats_left: u64,
    peer: Option<SocketAddr>,
    stream_id: u32,
    pending: EventSet,
    report: DeviceReport,
    /// Reads each arrival's sequence in the stream's data format.
    reader: SeqReader,
}

impl<S: DatagramSink + Restart, L: AckLink> DeviceModel<S, L> {
    /// A device per `cfg` over `inner`, sending ACKs through `link`.
    pub fn new(cfg: &DeviceConfig, inner: S, link: L) -> DeviceModel<S, L> {
        let (cost_fixed, cost_per_byte) = match cfg.drain {
            Rate::Pps(p) => (1e9 / p, 0.0),
            Rate::Bps(b) => (0.0, 8e9 / b),
        };
        // Enough entries for a buffer of minimum-size packets, within reason: beyond that the
        // queue grows (once).
        let entries = (cfg.buffer_bytes / header::HEADER_LEN as u64 + 1).min(1 << 16) as usize;
        DeviceModel {
            inner,
            link,
            enc: AckEncoder::new(cfg.ack),
            buffer_bytes: cfg.buffer_bytes,
            cost_fixed,
            cost_per_byte,
            ack_every: cfg.ack_every,
            interval_ns: cfg.ack_interval.as_nanos() as u64,
            start_seq: cfg.start_seq,
            max_seq_jump: cfg.max_seq_jump,
            t0: None,
            last_now: 0,
            queue: VecDeque::with_capacity(entries),
            fill: 0,
            head_done: 0.0,
            dry_at: None,
            awaiting_resync: false,
            expected: cfg.start_seq,
            accepted_end: cfg.start_seq,
            position: cfg.start_seq,
            credited_bytes: 0,
            since_ack: 0,
            last_ack_ns: 0,
            heartbeats_left: 0,
            peer: None,
            stream_id: 0,
            pending: EventSet::NONE,
            report: DeviceReport::default(),
            reader: SeqReader::new(cfg.format, cfg.start_seq),
        }
    }

    /// The device's counters so far.
    pub fn report(&self) -> DeviceReport {
        DeviceReport {
            fill_bytes: self.fill,
            ack_datagrams: self.link.sent(),
            ack_send_errors: self.link.send_errors(),
            ..self.report
        }
    }

    /// Faults injected on the ACK path (zero without an [`AckFaults`](super::AckFaults) link).
    pub fn ack_faults(&self) -> FaultCounts {
        self.link.fault_counts()
    }

    /// What the next ACK would say.
    pub fn ack_state(&self) -> AckState {
        AckState {
            position: self.position,
            bytes: self.credited_bytes,
            capacity: self.buffer_bytes,
            start_seq: self.start_seq,
            stream_id: self.stream_id,
        }
    }

    /// Bytes in the buffer now (as of the last call).
    pub fn fill_bytes(&self) -> u64 {
        self.fill
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    pub fn link(&self) -> &L {
        &self.link
    }

    #[inline]
    fn cost(&self, len: u32) -> f64 {
        self.cost_fixed + self.cost_per_byte * f64::from(len)
    }

    #[inline]
    fn rel(&self, now_ns: u64) -> f64 {
        self.t0.map_or(0.0, |t0| now_ns.saturating_sub(t0) as f64)
    }

    /// The device's clock never goes backwards, whatever the timestamps say.
    #[inline]
    fn clock(&mut self, now_ns: u64) -> u64 {
        self.last_now = self.last_now.max(now_ns);
        self.last_now
    }

    /// Consumes everything the drain has finished by `now_ns`; ACKs when due.
    fn advance(&mut self, now_ns: u64) {
        if self.t0.is_none() {
            return;
        }
        let now = self.rel(now_ns);
        let mut consumed = false;
        while let Some(&head) = self.queue.front() {
            if self.head_done > now {
                break;
            }
            self.queue.pop_front();
            let len = u64::from(head.len);
            self.fill -= len;
            self.position = head.seq.saturating_add(1);
            self.credited_bytes = self
                .credited_bytes
                .saturating_add(len.saturating_mul(head.gap.saturating_add(1)));
            self.report.consumed += 1;
            self.report.consumed_bytes += len;
            self.report.skipped = self.report.skipped.saturating_add(head.gap);
            self.since_ack += 1;
            consumed = true;
            match self.queue.front() {
                Some(next) => self.head_done += self.cost(next.len),
                None => self.dry_at = Some(self.head_done),
            }
        }
        if consumed {
            self.heartbeats_left = HEARTBEATS;
            if self.since_ack >= self.ack_every || self.queue.is_empty() {
                self.send_flow(now_ns);
            }
        }
    }

    fn send_flow(&mut self, now_ns: u64) {
        let Some(peer) = self.peer else { return };
        let st = self.ack_state();
        let ack = self.enc.flow(&st);
        self.link.send(ack, peer, now_ns);
        self.report.acks_sent += 1;
        self.since_ack = 0;
        self.last_ack_ns = now_ns;
    }

    fn flush_events(&mut self, now_ns: u64) {
        if self.pending.is_empty() {
            return;
        }
        let Some(peer) = self.peer else { return };
        let events = std::mem::replace(&mut self.pending, EventSet::NONE);
        let st = self.ack_state();
        let link = &mut self.link;
        let mut n = 0;
        self.enc.events(&st, events, |b| {
            link.send(b, peer, now_ns);
            n += 1;
        });
        self.report.acks_sent += n;
    }

    /// Takes in one data packet.
    fn arrive(&mut self, seq: u64, len: u32, now_ns: u64) {
        if self.t0.is_none() {
            self.t0 = Some(now_ns);
            // The first heartbeat is due one interval after the first packet.
            self.last_ack_ns = now_ns;
        }
        let now = self.rel(now_ns);
        self.heartbeats_left = HEARTBEATS;
        if self.awaiting_resync {
            if seq != self.start_seq {
                self.report.discarded += 1;
                return;
            }
            self.awaiting_resync = false;
        }
        if seq < self.expected {
            self.report.discarded += 1;
            return;
        }
        if seq > self.expected {
            self.report.seq_errors += 1;
            self.pending = self.pending | EventSet::SEQ_ERROR;
        }
        self.expected = seq.saturating_add(1);
        let len64 = u64::from(len);
        if self.fill + len64 > self.buffer_bytes {
            self.report.overflows += 1;
            self.pending = self.pending | EventSet::OVERFLOW;
            return;
        }
        if self.queue.is_empty() {
            if let Some(dry) = self.dry_at.take() {
                if now > dry {
                    self.report.underflows += 1;
                    self.pending = self.pending | EventSet::UNDERFLOW;
                }
            }
            // The drain (re)starts with this packet.
            self.head_done = now + self.cost(len);
        }
        self.queue.push_back(Entry {
            seq,
            gap: seq.saturating_sub(self.accepted_end),
            len,
        });
        self.accepted_end = seq.saturating_add(1);
        self.fill += len64;
        self.report.max_fill_bytes = self.report.max_fill_bytes.max(self.fill);
    }

    /// Whether `seq` is too far past the expected number to believe. The first packet is where
    /// the stream starts; after a restart only `start_seq` is taken anyway.
    fn implausible(&self, seq: u64) -> bool {
        self.t0.is_some()
            && !self.awaiting_resync
            && seq.saturating_sub(self.expected) >= self.max_seq_jump
    }

    /// The device reboots: see the type's documentation.
    fn reboot(&mut self, now_ns: u64) {
        let now_ns = self.clock(now_ns);
        self.advance(now_ns);
        self.report.restarts += 1;
        self.report.lost_in_restart += self.queue.len() as u64;
        self.queue.clear();
        self.fill = 0;
        self.dry_at = None;
        self.awaiting_resync = true;
        self.expected = self.start_seq;
        self.accepted_end = self.start_seq;
        self.position = self.start_seq;
        self.credited_bytes = 0;
        self.since_ack = 0;
        self.heartbeats_left = HEARTBEATS;
        self.pending = self.pending | EventSet::RESTART;
        self.flush_events(now_ns);
    }

    /// When the next ACK falls due by consumption (the `ack_every`-th packet from now, or the
    /// last one in the buffer), as an absolute time.
    fn next_consumption_ack(&self) -> Option<u64> {
        let t0 = self.t0?;
        let len = self.queue.len();
        if len == 0 {
            return None;
        }
        let k = self.ack_every.saturating_sub(self.since_ack).max(1);
        let idx = (k.min(len as u64) as usize - 1).min(MAX_SCAN);
        let mut at = self.head_done;
        if self.cost_per_byte == 0.0 {
            at += self.cost_fixed * idx as f64;
        } else {
            for e in self.queue.iter().skip(1).take(idx) {
                at += self.cost(e.len);
            }
        }
        Some(t0.saturating_add(at.max(0.0).ceil() as u64))
    }
}

impl<S: DatagramSink + Restart, L: AckLink> DatagramSink for DeviceModel<S, L> {
    fn datagram(&mut self, payload: &[u8], meta: &RxMeta) {
        let (stream_id, seq) = match self.reader.read(payload, self.awaiting_resync) {
            Ok(r) => r,
            Err(_) => {
                // Not data: the checker counts it as malformed; the device ignores it.
                self.inner.datagram(payload, meta);
                return;
            }
        };
        if self.awaiting_resync && seq == self.start_seq {
            // The sender restarted its stream: so does the checker's sequence tracking.
            self.inner.restart(meta.at_ns);
        }
        self.inner.datagram(payload, meta);
        if self.implausible(seq) {
            self.report.implausible += 1;
            return;
        }
        let now = self.clock(meta.at_ns);
        self.advance(now);
        self.peer = Some(meta.src);
        self.stream_id = stream_id;
        let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
        self.arrive(seq, len, now);
        self.flush_events(now);
    }

    fn tick(&mut self, now_ns: u64) -> Option<Duration> {
        let now = self.clock(now_ns);
        self.advance(now);
        let active = self.t0.is_some() && self.heartbeats_left > 0;
        if active && now.saturating_sub(self.last_ack_ns) >= self.interval_ns {
            self.send_flow(now);
            self.heartbeats_left -= 1;
        }
        let active = self.heartbeats_left > 0;
        let mut due: Option<u64> = self.link.poll(now);
        let mut earliest = |t: Option<u64>| {
            if let Some(t) = t {
                due = Some(due.map_or(t, |d| d.min(t)));
            }
        };
        earliest(self.next_consumption_ack());
        if active {
            earliest(Some(self.last_ack_ns.saturating_add(self.interval_ns)));
        }
        let own = due.map(|d| Duration::from_nanos(d.saturating_sub(now)).max(MIN_WAIT));
        match (own, self.inner.tick(now)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn finish(&mut self, now_ns: u64) {
        let now = self.clock(now_ns);
        self.advance(now);
        self.link.finish(now);
        self.inner.finish(now);
    }

    fn checker(&self) -> Option<&StreamChecker> {
        self.inner.checker()
    }
}

impl<S: DatagramSink + Restart, L: AckLink> Restart for DeviceModel<S, L> {
    fn restart(&mut self, now_ns: u64) {
        self.reboot(now_ns);
    }
}

#[cfg(test)]
mod tests;
