//! The async face of [`Sender`]: [`Sender::poll_reserve`], [`Sender::reserve_async`] (with its
//! [`ReserveFuture`]), [`Sender::send_async`] and [`Sender::finish_async`].

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use super::{Reserved, Sender};
use crate::engine::{EngineError, TxReport};
use crate::framing::STAMP_END;
use crate::sys::SlotToken;

impl Sender {
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
