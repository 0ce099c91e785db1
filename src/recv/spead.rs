//! [`SpeadReassembler`]: a sink that puts SPEAD packets back together into heaps, as a spead2
//! receiver does, and keeps spead2's statistics under spead2's names.
//!
//! A heap is keyed by its heap cnt and lives in substream `heap cnt mod substreams`, which keeps
//! at most `max_heaps` heaps under construction; a new heap in a full substream evicts the
//! oldest (`incomplete_heaps_evicted`). By default packets must arrive in heap-offset order, as
//! spead2 requires by default: one that does not is dropped (`out_of_order_packets`) and its heap
//! can no longer complete. A heap is complete once it holds `heap size` bytes. The stop item
//! (stream control 2) ends the stream: heaps still under construction are flushed
//! (`incomplete_heaps_flushed`) and later packets are ignored.
//!
//! Heap-level loss takes the place of sequence accounting (SPEAD packets carry no sequence
//! number): every heap begun is `heaps_seen`, and ends either complete (`heaps`) or incomplete
//! (`incomplete_heaps`, evicted or flushed), with `missing_bytes` the bytes of heap data that
//! never arrived for it (its heap size less the data bytes of the packets that did, in order or
//! not).
//!
//! Below the reassembler sits a [`StreamChecker`] for the SPEAD format, which counts what
//! arrived (packets, UDP payload bytes, first and last arrival, gaps, malformed datagrams, heap
//! timeline breaches) for the receiver's report and its streams, as it does for other formats.
//! It checks no payload pattern: a SPEAD receiver takes any sender's heaps.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "serde")]
use serde::Serialize;

use super::check::StreamChecker;
use super::sink::{DatagramSink, RxMeta};
use crate::framing::Format;
use crate::wire::spead::{Packet, Repr, CTRL_STOP};

/// Default heaps under construction per substream (spead2's default).
pub const DEFAULT_MAX_HEAPS: usize = 4;
/// Most heaps under construction over all substreams (a bound on memory).
pub const MAX_LIVE_HEAPS: usize = 65_536;

/// How heaps are reassembled.
///
/// ```
/// use ringshot::recv::spead::SpeadConfig;
///
/// let cfg = SpeadConfig { allow_out_of_order: true, substreams: 4, ..SpeadConfig::default() };
/// assert!(cfg.validate().is_ok());
/// let none = SpeadConfig { max_heaps: 0, ..SpeadConfig::default() };
/// assert_eq!(none.validate().unwrap_err().0, "max-heaps");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpeadConfig {
    /// Accept a heap's packets in any order.
    pub allow_out_of_order: bool,
    /// Heaps under construction per substream (at least 1).
    pub max_heaps: usize,
    /// Substreams (at least 1): heap cnt mod this picks one.
    pub substreams: usize,
}

impl Default for SpeadConfig {
    fn default() -> SpeadConfig {
        SpeadConfig {
            allow_out_of_order: false,
            max_heaps: DEFAULT_MAX_HEAPS,
            substreams: 1,
        }
    }
}

impl SpeadConfig {
    /// Refuses zero heaps or substreams, and more live heaps than [`MAX_LIVE_HEAPS`].
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.max_heaps == 0 {
            return Err(("max-heaps", "must be at least 1".into()));
        }
        if self.substreams == 0 {
            return Err(("substreams", "must be at least 1".into()));
        }
        if self.max_heaps.saturating_mul(self.substreams) > MAX_LIVE_HEAPS {
            return Err((
                "max-heaps",
                format!("max heaps × substreams must stay at or below {MAX_LIVE_HEAPS}"),
            ));
        }
        Ok(())
    }
}

/// spead2's stream statistics (same names), plus what ringshot drops and why.
///
/// ```
/// use ringshot::framing::{Format, Framing, Spead, Stamper};
/// use ringshot::recv::spead::{SpeadConfig, SpeadReassembler};
/// use ringshot::recv::{DatagramSink, RxMeta};
///
/// // Heaps of 2000 bytes in packets of 1000: the second heap loses its last packet.
/// let framing = Framing { spead: Spead { heap_size: 2000, ..Spead::default() }, ..Framing::of(Format::Spead) };
/// let mut st = Stamper::new(framing, 0);
/// let mut rx = SpeadReassembler::new(SpeadConfig::default());
/// let meta = RxMeta { src: "10.0.0.1:4000".parse().unwrap(), at_ns: 0 };
/// let mut buf = [0u8; 1500];
/// for seq in 0..4 {
///     let len = st.stamp(&mut buf, seq, 0, 1000);
///     if seq != 3 {
///         rx.datagram(&buf[..len], &meta);
///     }
/// }
/// let len = st.stamp_end(&mut buf, 4).unwrap(); // the stop heap flushes what is left
/// rx.datagram(&buf[..len], &meta);
/// let s = rx.stats();
/// assert_eq!((s.heaps_seen, s.heaps, s.incomplete_heaps_flushed), (2, 1, 1));
/// assert_eq!((s.heap_bytes, s.missing_bytes, s.stopped), (2000, 1000, true));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct SpeadStats {
    /// Heaps begun: a data packet of a heap not under construction arrived. Once the run has
    /// ended, `heaps_seen == heaps + incomplete_heaps`.
    pub heaps_seen: u64,
    /// Complete data heaps.
    pub heaps: u64,
    /// Heaps that ended incomplete: `incomplete_heaps_evicted + incomplete_heaps_flushed`.
    pub incomplete_heaps: u64,
    pub incomplete_heaps_evicted: u64,
    pub incomplete_heaps_flushed: u64,
    /// Heap data bytes of the complete heaps.
    pub heap_bytes: u64,
    /// Heap data bytes the incomplete heaps lacked: each one's heap size less the data bytes of
    /// its packets that arrived (in order or not); 0 for one whose heap size never arrived.
    pub missing_bytes: u64,
    /// SPEAD packets accepted (the stop packet included).
    pub packets: u64,
    /// Receive batches that held at least one datagram.
    pub batches: u64,
    /// Most datagrams in one batch.
    pub max_batch: u64,
    /// Complete heaps that arrived in one packet.
    pub single_packet_heaps: u64,
    /// Packets dropped because they arrived out of heap-offset order.
    pub out_of_order_packets: u64,
    /// Whether the stop item arrived.
    pub stopped: bool,
    /// Packets after the stop item, ignored.
    pub after_stop: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct LiveHeap {
    in_use: bool,
    broken: bool,
    cnt: u64,
    size: Option<u64>,
    /// Data bytes taken into the heap (in order, unless out of order is allowed).
    received: u64,
    /// Data bytes of every packet of the heap that arrived, taken or not.
    arrived: u64,
    next_offset: u64,
    packets: u64,
    /// Arrival order of its first packet, for eviction.
    born: u64,
}

/// Reassembles SPEAD heaps; see the module documentation. No allocation per datagram.
///
/// ```
/// use std::sync::atomic::Ordering;
/// use ringshot::framing::{Format, Framing, Stamper};
/// use ringshot::recv::spead::{SpeadConfig, SpeadReassembler};
/// use ringshot::recv::{DatagramSink, RxMeta};
///
/// let mut rx = SpeadReassembler::new(SpeadConfig::default());
/// let stop = rx.stop_flag(); // a front end watches this to end the receiver
/// let meta = RxMeta { src: "10.0.0.1:4000".parse().unwrap(), at_ns: 0 };
/// rx.datagram(b"not SPEAD", &meta);
/// assert_eq!(rx.malformed().values().sum::<u64>(), 1);
/// let mut st = Stamper::new(Framing::of(Format::Spead), 0);
/// let mut buf = [0u8; 128];
/// let len = st.stamp_end(&mut buf, 0).unwrap();
/// rx.datagram(&buf[..len], &meta);
/// assert!(stop.load(Ordering::Relaxed));
/// assert!(rx.checker().is_some()); // the report's counts come from it
/// ```
#[derive(Debug)]
pub struct SpeadReassembler {
    cfg: SpeadConfig,
    live: Vec<LiveHeap>,
    births: u64,
    stats: SpeadStats,
    in_batch: u64,
    /// Counts what arrived, for the receiver's report.
    checker: StreamChecker,
    stop: Arc<AtomicBool>,
}

impl SpeadReassembler {
    /// A reassembler over a checker that keeps no timeline and checks the heap cnt step 1.
    pub fn new(cfg: SpeadConfig) -> SpeadReassembler {
        let n = cfg.max_heaps.max(1) * cfg.substreams.max(1);
        SpeadReassembler {
            cfg,
            live: vec![LiveHeap::default(); n.min(MAX_LIVE_HEAPS)],
            births: 0,
            stats: SpeadStats::default(),
            in_batch: 0,
            checker: StreamChecker::new(64, false).with_format(Format::Spead),
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Counts what arrives with `checker` (e.g. [`super::RecvConfig::checker`], for its
    /// timeline; [`StreamChecker::with_heap_cnt_step`] for the heap timeline check). It is set
    /// to the SPEAD format; a SPEAD payload is never pattern-checked.
    pub fn with_checker(mut self, checker: StreamChecker) -> SpeadReassembler {
        self.checker = checker.with_format(Format::Spead).with_verify(false);
        self
    }

    /// Set once the stop item has arrived (a front end stops the receiver on it).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    pub fn stats(&self) -> SpeadStats {
        self.stats
    }

    /// Rejected datagrams by reason name, non-zero ones only.
    pub fn malformed(&self) -> std::collections::BTreeMap<String, u64> {
        self.checker.malformed()
    }

    fn substream(&mut self, cnt: u64) -> &mut [LiveHeap] {
        let per = self.cfg.max_heaps.max(1);
        let subs = (self.live.len() / per).max(1);
        let s = (cnt % subs as u64) as usize;
        &mut self.live[s * per..(s + 1) * per]
    }

    /// The slot of heap `cnt`, making one (evicting the oldest if need be).
    fn heap(&mut self, cnt: u64) -> &mut LiveHeap {
        let births = self.births;
        let sub = self.substream(cnt);
        let i = match sub.iter().position(|h| h.in_use && h.cnt == cnt) {
            Some(i) => i,
            None => {
                let (i, evicted) = match sub.iter().position(|h| !h.in_use) {
                    Some(i) => (i, false),
                    None => {
                        let (i, _) = sub
                            .iter()
                            .enumerate()
                            .min_by_key(|(_, h)| h.born)
                            .expect("max_heaps is at least 1");
                        (i, true)
                    }
                };
                let lacked = if evicted { missing(&sub[i]) } else { 0 };
                sub[i] = LiveHeap {
                    in_use: true,
                    cnt,
                    born: births,
                    ..LiveHeap::default()
                };
                self.births += 1;
                self.stats.heaps_seen += 1;
                if evicted {
                    self.stats.incomplete_heaps_evicted += 1;
                    self.stats.incomplete_heaps += 1;
                    self.stats.missing_bytes += lacked;
                }
                i
            }
        };
        &mut self.substream(cnt)[i]
    }

    fn packet(&mut self, r: &Repr) {
        let in_order = self.cfg.allow_out_of_order;
        let h = self.heap(r.heap_cnt);
        if h.size.is_none() {
            h.size = r.heap_size;
        }
        h.arrived = h.arrived.saturating_add(r.payload_len);
        if !in_order && (h.broken || r.heap_offset != h.next_offset) {
            h.broken = true;
            self.stats.out_of_order_packets += 1;
            return;
        }
        h.received += r.payload_len;
        h.next_offset = r.heap_offset.saturating_add(r.payload_len);
        h.packets += 1;
        if let Some(size) = h.size.filter(|s| h.received >= *s) {
            let single = h.packets == 1;
            *h = LiveHeap::default();
            self.stats.heaps += 1;
            self.stats.heap_bytes += size;
            self.stats.single_packet_heaps += u64::from(single);
        }
    }

    fn flush(&mut self) {
        for h in &mut self.live {
            if h.in_use {
                self.stats.incomplete_heaps_flushed += 1;
                self.stats.incomplete_heaps += 1;
                self.stats.missing_bytes += missing(h);
                *h = LiveHeap::default();
            }
        }
    }
}

/// The heap data bytes an incomplete heap lacks (0 when its heap size is unknown).
fn missing(h: &LiveHeap) -> u64 {
    h.size.map_or(0, |s| s.saturating_sub(h.arrived))
}

impl DatagramSink for SpeadReassembler {
    fn datagram(&mut self, payload: &[u8], meta: &RxMeta) {
        self.in_batch += 1;
        if self.stats.stopped {
            self.stats.after_stop += 1;
            return;
        }
        // The checker counts the datagram, or why it is malformed.
        self.checker.datagram(payload, meta);
        let Ok(r) = Repr::parse(&Packet::new_unchecked(payload)) else {
            return;
        };
        self.stats.packets += 1;
        if r.stream_ctrl == Some(CTRL_STOP) {
            self.stats.stopped = true;
            self.flush();
            self.stop.store(true, Ordering::Relaxed);
            return;
        }
        if r.payload_len > 0 || r.heap_size.is_some() {
            self.packet(&r);
        }
    }

    fn tick(&mut self, _now_ns: u64) -> Option<Duration> {
        if self.in_batch > 0 {
            self.stats.batches += 1;
            self.stats.max_batch = self.stats.max_batch.max(self.in_batch);
            self.in_batch = 0;
        }
        None
    }

    fn finish(&mut self, now_ns: u64) {
        self.tick(now_ns);
        self.flush();
        self.checker.finish(now_ns);
    }

    fn checker(&self) -> Option<&StreamChecker> {
        Some(&self.checker)
    }

    fn new_stream(&mut self) {
        self.checker.new_stream();
    }
}

#[cfg(test)]
mod tests;
