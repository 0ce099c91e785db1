//! The app's handles on an engine: [`Sender`] (push) with its [`Reserved`] buffers, and
//! [`SourceSender`] (pull). This file holds the [`Sender`] and its blocking API; its async face,
//! the [`Reserved`] buffer and the [`SourceSender`] live in the files beside it.

mod asynch;
mod reserved;
mod source;

pub use asynch::ReserveFuture;
pub use reserved::Reserved;
pub use source::SourceSender;

use std::sync::atomic::{fence, Ordering};
use std::sync::Arc;

use super::wait::Backoff;
use super::{open, start, EngineError, EngineThread, Opened, ReadyPacket, Shared};
use super::{Supply, TxReport};
use crate::config::{IdlePolicy, SenderConfig};
use crate::flow::FlowState;
use crate::framing::{Format, Stamper, STAMP_END};
use crate::pacing::WaitMode;
use crate::sys::{Slab, SlotToken};

/// The app's handle on an engine fed in push mode.
///
/// ```
/// use ringshot::prelude::*;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let receiver = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// let mut tx = Sender::spawn(SenderConfig::builder(receiver.local_addr()?).payload(64).build()?)?;
/// assert_eq!(tx.max_app_payload(), 64 - ringshot::HEADER_LEN);
/// assert_eq!(tx.credit(), None); // no flow control configured
/// assert!(tx.ready());
/// for i in 0..10u8 {
///     tx.send(&[i; 8])?; // copies into a free slot, waiting for one if every slot is busy
/// }
/// let report = tx.finish()?;
/// assert_eq!((report.committed, report.packets + report.failed_packets), (10, 10));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Sender {
    slab: Arc<Slab>,
    ready: rtrb::Producer<ReadyPacket>,
    free: rtrb::Consumer<SlotToken>,
    spare: Option<SlotToken>,
    shared: Arc<Shared>,
    engine: EngineThread,
    payload: usize,
    /// Header room in front of the app's bytes, and the app's room after it.
    header_len: usize,
    app_room: usize,
    window: (Option<u64>, Option<u64>),
    /// SPEAD: a copy of the engine's stamper, moved on by every commit, so each buffer handed
    /// out holds at most what is left of the heap (the engine stamps the same lengths).
    heaps: Option<Stamper>,
    /// Packets queued for the engine so far (every commit, and the SPEAD stop packet): the
    /// report's `committed`, whether or not the engine took them before it ended.
    committed: u64,
}

impl Sender {
    /// Opens the socket and backend (so set-up errors come back here), starts the ACK core when
    /// flow control is configured, and starts the engine thread, `ringshot-tx`.
    ///
    /// ```
    /// use ringshot::{BackendChoice, Sender, SenderConfig};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let receiver = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// let cfg = SenderConfig::builder(receiver.local_addr()?).backend(BackendChoice::Send).build()?;
    /// let tx = Sender::spawn(cfg)?; // the socket is open and the engine thread runs
    /// let report = tx.finish()?;
    /// assert_eq!((report.backend, report.packets), ("send", 0));
    /// # Ok(())
    /// # }
    /// ```
    pub fn spawn(cfg: SenderConfig) -> Result<Sender, EngineError> {
        let opened = open(&cfg)?;
        Sender::spawn_opened(cfg, opened)
    }

    /// Starts the engine on a backend that is already open (tests drive a simulated one).
    pub(crate) fn spawn_opened(
        cfg: SenderConfig,
        mut opened: Opened,
    ) -> Result<Sender, EngineError> {
        let slab = opened.slab.clone();
        let slots = slab.slots() as usize;
        let (ready_tx, ready_rx) = rtrb::RingBuffer::new(slots);
        let (mut free_tx, free_rx) = rtrb::RingBuffer::new(slots);
        for t in std::mem::take(&mut opened.tokens) {
            free_tx.push(t).expect("free ring sized for every slot");
        }
        let payload = cfg.stream.payload;
        let (header_len, app_room) = (cfg.stream.framing.header_len(), cfg.max_app_payload());
        let window = (cfg.flow.window_packets, cfg.flow.window_bytes);
        let heaps = (cfg.stream.framing.format == Format::Spead)
            .then(|| Stamper::new(cfg.stream.framing, cfg.stream.stream_id));
        let supply = Supply::Rings {
            ready: ready_rx,
            free: free_tx,
        };
        let (engine, shared, _) = start(cfg, opened, supply)?;
        Ok(Sender {
            slab,
            ready: ready_tx,
            free: free_rx,
            spare: None,
            shared,
            engine,
            payload,
            header_len,
            app_room,
            window,
            heaps,
            committed: 0,
        })
    }

    /// Packets sent so far (updated once per batch).
    pub fn progress(&self) -> u64 {
        self.shared.sent.load(Ordering::Relaxed)
    }

    /// The address the engine's socket sends from (its source port), where the OS says.
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.engine.local
    }

    /// Packets the device has room for now, per the latest ACK, or `None` without flow control.
    /// Packets committed but not yet sent are not subtracted.
    pub fn credit(&self) -> Option<u64> {
        self.engine.credit(self.window, self.payload as u64)
    }

    /// Whether the device can take at least one more packet now (always true without flow
    /// control): the original streamer's `ready()`.
    pub fn ready(&self) -> bool {
        self.credit().is_none_or(|c| c > 0)
    }

    /// The flow-control state shared with the ACK core, for apps that want to watch it.
    pub fn flow(&self) -> Option<&Arc<FlowState>> {
        self.engine.flow.as_ref()
    }

    /// Device events (underflow, sequence error, ...) queued by the ACK core. Never blocks.
    pub fn events(&mut self) -> impl Iterator<Item = crate::flow::AckEvent> + '_ {
        self.engine.ack.iter_mut().flat_map(|a| a.events())
    }

    /// Largest application payload per packet: the configured payload less the framing's header
    /// room (16 bytes for the ringshot header, none for raw), rounded down to whole 32-bit words
    /// for the VRT formats and to 8 bytes for SPEAD.
    pub fn max_app_payload(&self) -> usize {
        self.app_room
    }

    /// What the next packet may carry: [`max_app_payload`](Self::max_app_payload), or for
    /// SPEAD what is left of the current heap when that is less.
    pub fn next_room(&self) -> usize {
        self.heaps
            .as_ref()
            .map_or(self.app_room, |s| s.next_room(self.app_room))
    }

    /// Takes a free packet buffer: `Ok(Some(_))`; `Ok(None)` when every slot is queued or
    /// with the kernel (try again later); `Err(_)` once the engine has ended, with the reason
    /// (its error, carrying the report so far, or [`EngineError::Closed`] after
    /// [`stop`](Self::stop)). A dead engine never looks like a full one.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), ringshot::EngineError> {
    /// let cfg = ringshot::SenderConfig::builder("127.0.0.1:9000".parse().unwrap())
    ///     .build()
    ///     .unwrap();
    /// let mut tx = ringshot::Sender::spawn(cfg)?;
    /// let mut queued = 0;
    /// while queued < 1000 {
    ///     match tx.reserve()? {
    ///         Some(mut slot) => {
    ///             slot.payload_mut()[..5].copy_from_slice(b"hello");
    ///             slot.commit(5)?;
    ///             queued += 1;
    ///         }
    ///         None => std::thread::yield_now(), // full: the engine is behind
    ///     }
    /// }
    /// let report = tx.finish()?;
    /// assert_eq!(report.committed, report.packets + report.failed_packets);
    /// # Ok(())
    /// # }
    /// ```
    pub fn reserve(&mut self) -> Result<Option<Reserved<'_>>, EngineError> {
        Ok(self.take_token()?.map(|token| Reserved {
            sender: self,
            token: Some(token),
            flags: 0,
        }))
    }

    /// A free slot's token, `None` when every slot is busy, `Err` once the engine has ended.
    fn take_token(&mut self) -> Result<Option<SlotToken>, EngineError> {
        if let Some(e) = self.ended() {
            return Err(e);
        }
        Ok(self.spare.take().or_else(|| self.free.pop().ok()))
    }

    /// Whether the engine has ended (after [`stop`](Self::stop), a stall or a fatal error):
    /// it takes no more packets, and [`finish`](Self::finish) returns at once.
    pub fn is_finished(&self) -> bool {
        self.engine.ended.is_some() || self.engine.is_finished()
    }

    /// Why the engine ended, once it has (never blocks): its error with the books settled
    /// against every commit so far, or [`EngineError::Closed`].
    fn ended(&mut self) -> Option<EngineError> {
        let over = self.shared.ended.load(Ordering::Acquire);
        if !over && self.engine.ended.is_none() && !self.engine.is_finished() {
            return None;
        }
        let mut e = self.engine.ended_error(over)?;
        if let Some(r) = e.report_mut() {
            settle_books(r, self.committed);
        }
        Some(e)
    }

    /// Copies `data` into a slot and queues it, waiting for a free slot if needed. With SPEAD,
    /// data that runs past the end of the current heap is cut there: the rest goes out in the
    /// next packet, which starts the next heap.
    ///
    /// # Errors
    ///
    /// [`EngineError::PacketTooLarge`] when `data` is longer than
    /// [`max_app_payload`](Self::max_app_payload) (nothing is queued), and the engine's error
    /// (or [`EngineError::Closed`]) once it has ended.
    ///
    /// ```
    /// use ringshot::{EngineError, Sender, SenderConfig};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let receiver = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// let mut tx = Sender::spawn(SenderConfig::builder(receiver.local_addr()?).payload(100).build()?)?;
    /// tx.send(b"hello")?;
    /// let too_big = vec![0u8; tx.max_app_payload() + 1];
    /// assert!(matches!(tx.send(&too_big), Err(EngineError::PacketTooLarge { len: 85, max: 84 })));
    /// assert_eq!(tx.finish()?.committed, 1); // the packet too large was never queued
    /// # Ok(())
    /// # }
    /// ```
    pub fn send(&mut self, data: &[u8]) -> Result<(), EngineError> {
        self.check_len(data.len())?;
        let mut rest = data;
        let mut backoff = Backoff::new(IdlePolicy::Adaptive, WaitMode::SleepThenSpin);
        loop {
            if let Some(r) = self.reserve()? {
                rest = r.fill_from(rest)?;
                if rest.is_empty() {
                    return Ok(());
                }
                continue;
            }
            if backoff.step() {
                std::thread::yield_now();
            }
        }
    }

    /// `PacketTooLarge` for a packet of `len` application bytes that no slot holds.
    fn check_len(&self, len: usize) -> Result<(), EngineError> {
        if len > self.max_app_payload() {
            return Err(EngineError::PacketTooLarge {
                len,
                max: self.max_app_payload(),
            });
        }
        Ok(())
    }

    fn push_ready(&mut self, token: SlotToken, len: u32, flags: u8) {
        self.committed += 1;
        // The ready ring holds every slot, and every slot is either here or free: never full.
        self.ready
            .push(ReadyPacket { token, len, flags })
            .expect("ready ring sized for every slot");
        fence(Ordering::SeqCst);
        if self.shared.parked.load(Ordering::Relaxed) {
            self.engine.unpark();
        }
    }

    /// Ends the stream at the next batch: what is in flight is cancelled, and every packet
    /// committed that never left (still queued, or cancelled) is counted in `failed_packets`,
    /// so `committed == packets + failed_packets` still holds. The report says `interrupted`.
    /// Returns at once; [`finish`](Self::finish) collects the report.
    ///
    /// ```
    /// use ringshot::{EngineError, Sender, SenderConfig};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let receiver = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// let mut tx = Sender::spawn(SenderConfig::builder(receiver.local_addr()?).build()?)?;
    /// tx.send(b"first")?;
    /// tx.stop();
    /// while !tx.is_finished() {
    ///     std::thread::yield_now();
    /// }
    /// assert!(matches!(tx.send(b"late"), Err(EngineError::Closed)));
    /// let report = tx.finish()?;
    /// assert!(report.interrupted);
    /// assert_eq!(report.packets + report.failed_packets, report.committed);
    /// # Ok(())
    /// # }
    /// ```
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.engine.unpark();
    }

    /// Ends the stream after every queued packet is sent and returns the engine's report.
    /// After [`stop`](Self::stop) it returns as soon as the engine has wound down.
    ///
    /// ```
    /// use ringshot::{Sender, SenderConfig};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let receiver = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// let mut tx = Sender::spawn(SenderConfig::builder(receiver.local_addr()?).payload(64).build()?)?;
    /// tx.send(&[7; 48])?;
    /// let report = tx.finish()?; // waits until the queued packet has left
    /// assert_eq!((report.packets, report.bytes), (1, 64));
    /// # Ok(())
    /// # }
    /// ```
    pub fn finish(mut self) -> Result<TxReport, EngineError> {
        self.send_end();
        self.close()
    }

    /// Tells the engine no more packets will come and collects its outcome, with the books
    /// settled against every commit.
    pub(crate) fn close(&mut self) -> Result<TxReport, EngineError> {
        self.abandon_ready();
        let mut outcome = self.engine.outcome();
        let report = match &mut outcome {
            Ok(r) => Some(r),
            Err(e) => e.report_mut(),
        };
        if let Some(r) = report {
            settle_books(r, self.committed);
        }
        outcome
    }
}

impl Sender {
    /// Abandoning the ready ring tells the engine no more packets will come.
    fn abandon_ready(&mut self) {
        let (dead, _) = rtrb::RingBuffer::new(1);
        drop(std::mem::replace(&mut self.ready, dead));
        self.engine.unpark();
    }
}

/// Counts the packets the app committed that the engine never took (still queued when it
/// ended) as failed, so `committed == packets + failed_packets` covers every commit.
fn settle_books(r: &mut TxReport, committed: u64) {
    let untaken = committed.saturating_sub(r.committed);
    if untaken > 0 {
        r.failed_packets += untaken;
        r.committed = committed;
        r.notices.push(format!(
            "{untaken} committed packets were still queued when the stream ended; they were \
             never sent"
        ));
    }
}

impl Sender {
    /// Tells the engine no more packets come (SPEAD's stop heap queued first) without waiting
    /// for it: a group ends every engine's input before it collects any outcome.
    pub(crate) fn end_input(&mut self) {
        self.send_end();
        self.abandon_ready();
    }

    /// SPEAD: queues the stop heap (the engine stamps it), unless the stream was stopped or the
    /// engine is gone.
    fn send_end(&mut self) {
        if self.heaps.is_none() {
            return;
        }
        let mut backoff = Backoff::new(IdlePolicy::Adaptive, WaitMode::SleepThenSpin);
        while !self.shared.stop.load(Ordering::Relaxed) && !self.engine.is_finished() {
            let token = match self.spare.take() {
                Some(t) => Some(t),
                None => self.free.pop().ok(),
            };
            if let Some(token) = token {
                self.push_ready(token, self.header_len as u32, STAMP_END);
                return;
            }
            if backoff.step() {
                std::thread::yield_now();
            }
        }
    }
}

impl Drop for Sender {
    /// Stops the engine (it does not wait for queued packets to drain, nor for a closed window:
    /// [`finish`](Sender::finish) is the way to drain) and waits only for it to wind down. What
    /// was abandoned is logged.
    fn drop(&mut self) {
        if self.engine.thread.is_none() && self.engine.ended.is_none() {
            return; // finished already
        }
        self.stop();
        match self.close() {
            Ok(r) if r.failed_packets > 0 => log::warn!(
                "a Sender was dropped: {} of {} committed packets never left (call finish() \
                 to drain)",
                r.failed_packets,
                r.committed
            ),
            Ok(r) => log::info!(
                "a Sender was dropped after sending all {} committed packets",
                r.committed
            ),
            Err(e) => log::warn!("a Sender was dropped after its engine ended: {e}"),
        }
    }
}
