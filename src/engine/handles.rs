//! The app's handles on an engine: [`Sender`] (push) with its [`Reserved`] buffers, and
//! [`SourceSender`] (pull).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{fence, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use super::wait::Backoff;
use super::{open, start, EngineError, EngineThread, Opened, PacketSource, ReadyPacket, Shared};
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

    /// A free slot's token, or `Pending` with `cx`'s waker registered: the engine wakes it
    /// when it hands slots back (once per reap, not per slot) and when it ends.
    fn poll_token(&mut self, cx: &mut Context<'_>) -> Poll<Result<SlotToken, EngineError>> {
        let ready = match self.take_token() {
            Ok(Some(t)) => Ok(t),
            Err(e) => Err(e),
            Ok(None) => {
                self.shared.waker.register(cx.waker());
                // Again: a slot (or the end) may have come between the first look and the
                // registration, and its wake-up gone to the waker registered before.
                match self.take_token() {
                    Ok(Some(t)) => Ok(t),
                    Err(e) => Err(e),
                    Ok(None) => return Poll::Pending,
                }
            }
        };
        // Served: a waker still registered would only wake the task for nothing later.
        drop(self.shared.waker.take());
        Poll::Ready(ready)
    }

    /// The async [`reserve`](Self::reserve): ready with a free buffer, or with the engine's
    /// error once it has ended; pending (with `cx` registered, no busy polling) while every
    /// slot is busy.
    ///
    /// ```
    /// use std::task::{Context, Poll, Waker};
    /// use ringshot::{Sender, SenderConfig};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let receiver = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// let mut tx = Sender::spawn(SenderConfig::builder(receiver.local_addr()?).build()?)?;
    /// let mut cx = Context::from_waker(Waker::noop());
    /// match tx.poll_reserve(&mut cx) {
    ///     Poll::Ready(Ok(mut slot)) => {
    ///         slot.payload_mut()[..2].copy_from_slice(b"hi");
    ///         slot.commit(2)?;
    ///     }
    ///     Poll::Ready(Err(e)) => return Err(e.into()),
    ///     Poll::Pending => {} // every slot busy: the waker is called when one comes back
    /// }
    /// tx.finish()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn poll_reserve(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Reserved<'_>, EngineError>> {
        match self.poll_token(cx) {
            Poll::Ready(Ok(token)) => Poll::Ready(Ok(Reserved {
                sender: self,
                token: Some(token),
                flags: 0,
            })),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Waits, without blocking the thread or polling in a loop, for a free buffer (or the
    /// engine's end), for async producers: the engine wakes the task when slots come back.
    ///
    /// ```no_run
    /// # async fn produce(tx: &mut ringshot::Sender) -> Result<(), ringshot::EngineError> {
    /// for i in 0..1000u32 {
    ///     let mut slot = tx.reserve_async().await?;
    ///     slot.payload_mut()[..4].copy_from_slice(&i.to_be_bytes());
    ///     slot.commit(4)?;
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn reserve_async(&mut self) -> ReserveFuture<'_> {
        ReserveFuture { sender: Some(self) }
    }

    /// The async [`send`](Self::send): waits for a free slot without blocking the thread.
    ///
    /// ```
    /// use ringshot::{Sender, SenderConfig};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let receiver = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// let mut tx = Sender::spawn(SenderConfig::builder(receiver.local_addr()?).build()?)?;
    /// let rt = tokio::runtime::Builder::new_current_thread().enable_time().build()?;
    /// let report = rt.block_on(async move {
    ///     for i in 0..100u32 {
    ///         tx.send_async(&i.to_be_bytes()).await?;
    ///     }
    ///     tx.finish_async().await
    /// })?;
    /// assert_eq!(report.committed, 100);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send_async(&mut self, data: &[u8]) -> Result<(), EngineError> {
        self.check_len(data.len())?;
        let mut rest = data;
        loop {
            let token = std::future::poll_fn(|cx| self.poll_token(cx)).await?;
            let r = Reserved {
                sender: self,
                token: Some(token),
                flags: 0,
            };
            rest = r.fill_from(rest)?;
            if rest.is_empty() {
                return Ok(());
            }
        }
    }

    /// The async [`finish`](Self::finish): tells the engine no more packets come, waits for it
    /// to send everything queued (without blocking the thread) and returns its report.
    ///
    /// ```
    /// use ringshot::{Sender, SenderConfig};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let receiver = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// let tx = Sender::spawn(SenderConfig::builder(receiver.local_addr()?).build()?)?;
    /// let rt = tokio::runtime::Builder::new_current_thread().build()?;
    /// let report = rt.block_on(tx.finish_async())?;
    /// assert_eq!(report.committed, 0);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn finish_async(mut self) -> Result<TxReport, EngineError> {
        if self.heaps.is_some() && !self.shared.stop.load(Ordering::Relaxed) {
            // SPEAD's stop packet, as `finish` queues it; none once the engine has ended.
            if let Ok(token) = std::future::poll_fn(|cx| self.poll_token(cx)).await {
                self.push_ready(token, self.header_len as u32, STAMP_END);
            }
        }
        self.abandon_ready();
        let shared = self.shared.clone();
        std::future::poll_fn(|cx| {
            if shared.ended.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            shared.waker.register(cx.waker());
            if shared.ended.load(Ordering::Acquire) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        // The thread has said its last word: joining it takes microseconds.
        self.close()
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

/// The future of [`Sender::reserve_async`]: a free buffer, or the engine's error once it has
/// ended. It borrows the sender until it completes.
///
/// ```
/// use ringshot::{Sender, SenderConfig};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let receiver = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// let mut tx = Sender::spawn(SenderConfig::builder(receiver.local_addr()?).build()?)?;
/// let rt = tokio::runtime::Builder::new_current_thread().build()?;
/// rt.block_on(async {
///     let mut slot = tx.reserve_async().await?; // a ReserveFuture
///     slot.payload_mut()[..3].copy_from_slice(b"abc");
///     slot.commit(3)
/// })?;
/// assert_eq!(tx.finish()?.committed, 1);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct ReserveFuture<'a> {
    sender: Option<&'a mut Sender>,
}

impl<'a> Future for ReserveFuture<'a> {
    type Output = Result<Reserved<'a>, EngineError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Polled again after it completed: the contract of futures says nothing useful comes.
        let Some(sender) = self.sender.take() else {
            return Poll::Ready(Err(EngineError::Closed));
        };
        match sender.poll_token(cx) {
            Poll::Ready(Ok(token)) => Poll::Ready(Ok(Reserved {
                sender,
                token: Some(token),
                flags: 0,
            })),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                self.sender = Some(sender);
                Poll::Pending
            }
        }
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

/// A reserved packet buffer. Write the application bytes, then [`commit`](Self::commit); dropping
/// it uncommitted gives the slot back.
///
/// ```
/// use ringshot::wire::header::{fill_pattern, FLAG_PATTERN};
/// use ringshot::{Sender, SenderConfig};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let receiver = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// let mut tx = Sender::spawn(SenderConfig::builder(receiver.local_addr()?).build()?)?;
/// let mut sent = 0;
/// while sent < 3 {
///     let Some(mut slot) = tx.reserve()? else { continue };
///     let room = slot.payload_mut().len();
///     fill_pattern(sent, &mut slot.payload_mut()[..room]); // written in place: no copy
///     slot.set_flags(FLAG_PATTERN); // receivers verify the pattern byte for byte
///     slot.commit(room)?;
///     sent += 1;
/// }
/// // A slot reserved and dropped uncommitted goes back; nothing is sent for it.
/// drop(tx.reserve()?);
/// assert_eq!(tx.finish()?.committed, 3);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Reserved<'a> {
    sender: &'a mut Sender,
    token: Option<SlotToken>,
    flags: u8,
}

impl Reserved<'_> {
    /// The application part of the packet (after the framing's header room),
    /// [`Sender::next_room`] bytes long ([`Sender::max_app_payload`] but for SPEAD near the end
    /// of a heap).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (h, room) = (self.sender.header_len, self.sender.next_room());
        let token = self.token.as_mut().expect("reserved slot");
        &mut self.sender.slab.bytes_mut(token)[h..h + room]
    }

    /// The room this buffer has (tests commit one byte more).
    #[cfg(test)]
    pub(crate) fn sender_room(&self) -> usize {
        self.sender.next_room()
    }

    /// Index of the slot this buffer lives in (tests check it against what the backend holds).
    #[cfg(test)]
    pub(crate) fn slot(&self) -> u32 {
        self.token.as_ref().expect("reserved slot").index()
    }

    /// Copies as much of `data` as the room holds, commits it, and returns the rest (with
    /// SPEAD, what runs past the end of the heap goes in the next packet).
    fn fill_from(mut self, data: &[u8]) -> Result<&[u8], EngineError> {
        let buf = self.payload_mut();
        let n = data.len().min(buf.len());
        buf[..n].copy_from_slice(&data[..n]);
        self.commit(n)?;
        Ok(&data[n..])
    }

    /// Sets header flags (for example [`crate::wire::header::FLAG_PATTERN`]).
    pub fn set_flags(&mut self, flags: u8) {
        self.flags = flags;
    }

    /// Queues the packet with `len` application bytes.
    ///
    /// # Errors
    ///
    /// [`EngineError::PacketTooLarge`] when `len` is beyond the room
    /// [`payload_mut`](Self::payload_mut) gave: nothing is queued and the slot goes back.
    ///
    /// ```
    /// use ringshot::{EngineError, Sender, SenderConfig};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let receiver = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// let mut tx = Sender::spawn(SenderConfig::builder(receiver.local_addr()?).build()?)?;
    /// let room = tx.max_app_payload();
    /// let slot = loop {
    ///     if let Some(s) = tx.reserve()? {
    ///         break s;
    ///     }
    /// };
    /// let err = slot.commit(room + 1).unwrap_err(); // more than the slot holds: nothing queued
    /// assert!(matches!(err, EngineError::PacketTooLarge { .. }));
    /// assert_eq!(tx.finish()?.committed, 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn commit(mut self, len: usize) -> Result<(), EngineError> {
        let room = self.sender.next_room();
        if len > room {
            return Err(EngineError::PacketTooLarge { len, max: room });
        }
        if let Some(s) = self.sender.heaps.as_mut() {
            s.skip(len);
        }
        let token = self.token.take().expect("reserved slot");
        let total = self.sender.header_len + len;
        // The end-of-stream flag is the sender's own, never the app's.
        self.sender
            .push_ready(token, total as u32, self.flags & !STAMP_END);
        Ok(())
    }
}

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        if let Some(t) = self.token.take() {
            self.sender.spare = Some(t);
        }
    }
}

/// An engine fed in pull mode by a [`PacketSource`] on its own thread.
///
/// ```
/// use ringshot::{PatternSource, SenderConfig, SourceSender};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let receiver = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// let cfg = SenderConfig::builder(receiver.local_addr()?).payload(256).build()?;
/// let source = PatternSource::new(256, Some(1000), None);
/// let tx = SourceSender::spawn(cfg, source)?; // the engine pulls packets on its own thread
/// for n in tx.notices() {
///     eprintln!("set-up: {n}"); // backend fallbacks and the like
/// }
/// tx.request_cut();
/// let live = tx.live(); // cheap: safe to call from a progress display
/// assert!(live.packets <= 1000);
/// let report = tx.finish()?;
/// assert_eq!((report.committed, report.packets + report.failed_packets), (1000, 1000));
/// assert!(report.pps > 0.0);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct SourceSender {
    shared: Arc<Shared>,
    engine: EngineThread,
    notices: Vec<String>,
}

impl SourceSender {
    /// Opens the socket and backend, starts the ACK core when flow control is configured, and
    /// starts `ringshot-tx` pulling from `source`.
    pub fn spawn<S: PacketSource>(
        cfg: SenderConfig,
        source: S,
    ) -> Result<SourceSender, EngineError> {
        let opened = open(&cfg)?;
        SourceSender::spawn_opened(cfg, source, opened)
    }

    /// Starts the engine on a backend that is already open (tests drive a simulated one).
    pub(crate) fn spawn_opened<S: PacketSource>(
        cfg: SenderConfig,
        source: S,
        mut opened: Opened,
    ) -> Result<SourceSender, EngineError> {
        let flags = source.flags();
        let supply = Supply::Source {
            source: Box::new(source),
            free: std::mem::take(&mut opened.tokens)
                .into_iter()
                .rev()
                .collect(),
            flags,
            ended: false,
        };
        let (engine, shared, notices) = start(cfg, opened, supply)?;
        Ok(SourceSender {
            shared,
            engine,
            notices,
        })
    }

    /// One-line messages from set-up: backend fallbacks, features the kernel lacks.
    pub fn notices(&self) -> &[String] {
        &self.notices
    }

    /// The address the engine's socket sends from (its source port), where the OS says.
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.engine.local
    }

    /// The flow-control state shared with the ACK core.
    pub fn flow(&self) -> Option<&Arc<FlowState>> {
        self.engine.flow.as_ref()
    }

    /// Device events queued by the ACK core. Never blocks.
    pub fn events(&mut self) -> impl Iterator<Item = crate::flow::AckEvent> + '_ {
        self.engine.ack.iter_mut().flat_map(|a| a.events())
    }

    /// Ends the stream at the next batch (for Ctrl-C handlers): what is in flight is cancelled
    /// and counted in `failed_packets`, and the report says `interrupted`.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.engine.unpark();
    }

    /// Packets sent so far (updated once per batch).
    pub fn progress(&self) -> u64 {
        self.shared.sent.load(Ordering::Relaxed)
    }

    /// The running totals and the figures of the latest interval cut (see
    /// [`request_cut`](Self::request_cut)). Cheap: a few relaxed loads.
    ///
    /// ```
    /// use ringshot::{PatternSource, SenderConfig, SourceSender};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let receiver = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// let cfg = SenderConfig::builder(receiver.local_addr()?).build()?;
    /// let tx = SourceSender::spawn(cfg, PatternSource::new(1472, Some(10_000), None))?;
    /// let before = tx.live();
    /// tx.request_cut();
    /// while !tx.is_finished() && tx.live().cuts == before.cuts {
    ///     std::thread::yield_now(); // the engine cuts at its next batch
    /// }
    /// let after = tx.live();
    /// assert!(after.packets >= before.packets);
    /// assert_eq!(after.lateness_max_ns, 0); // unpaced
    /// tx.finish()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn live(&self) -> crate::engine::LiveSnapshot {
        self.shared.live.snapshot(self.progress())
    }

    /// Asks the engine to close an interval at its next batch: the interval figures of
    /// [`live`](Self::live) then cover the time since the previous cut (`cuts` goes up by one).
    pub fn request_cut(&self) {
        self.shared.live.request_cut();
    }

    /// Whether the engine has finished.
    pub fn is_finished(&self) -> bool {
        self.engine.is_finished()
    }

    /// Waits for the stream to end (the source says it is over, or [`stop`](Self::stop) was
    /// called) and returns the report.
    pub fn finish(mut self) -> Result<TxReport, EngineError> {
        self.engine.join()
    }
}

impl Drop for SourceSender {
    fn drop(&mut self) {
        if self.engine.thread.is_some() {
            self.stop();
            let _ = self.engine.join();
        }
    }
}
