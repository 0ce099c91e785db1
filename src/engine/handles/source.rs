//! [`SourceSender`]: the app's handle on an engine fed in pull mode by a [`PacketSource`].

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::config::SenderConfig;
use crate::engine::{open, start, EngineError, EngineThread, Opened, PacketSource, Shared};
use crate::engine::{Held, Supply, TxReport};
use crate::flow::FlowState;

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
        let held = Held::new(source.period(), opened.tokens.len());
        let supply = Supply::Source {
            source: Box::new(source),
            free: std::mem::take(&mut opened.tokens)
                .into_iter()
                .rev()
                .collect(),
            flags,
            ended: false,
            held,
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
