//! N pinned engines as one sender: [`SenderGroup`] and its builder.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::group_report::{EngineRow, GroupError, GroupReport, SharedWindowReport};
use super::{open_shared, EngineError, PacketSource, Sender, SourceSender, TxReport};
use crate::config::{SenderConfig, MIN_RATE_PPS};
use crate::flow::SharedWindow;
use crate::pacing::Rate;

/// An engine a group can run: [`Sender`] (push, one producer per engine) or [`SourceSender`]
/// (pull, one [`PacketSource`] per engine).
pub trait GroupEngine: Send + std::fmt::Debug + sealed::Sealed {
    #[doc(hidden)]
    fn stop_engine(&self);
    #[doc(hidden)]
    fn end_engine_input(&mut self);
    #[doc(hidden)]
    fn engine_finished(&self) -> bool;
    #[doc(hidden)]
    fn collect(self) -> Result<TxReport, EngineError>;
    #[doc(hidden)]
    fn source_addr(&self) -> Option<SocketAddr>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Sender {}
    impl Sealed for super::SourceSender {}
}

impl GroupEngine for Sender {
    fn stop_engine(&self) {
        self.stop();
    }
    fn end_engine_input(&mut self) {
        self.end_input();
    }
    fn engine_finished(&self) -> bool {
        self.is_finished()
    }
    fn collect(mut self) -> Result<TxReport, EngineError> {
        self.close()
    }
    fn source_addr(&self) -> Option<SocketAddr> {
        self.local_addr()
    }
}

impl GroupEngine for SourceSender {
    fn stop_engine(&self) {
        self.stop();
    }
    fn end_engine_input(&mut self) {}
    fn engine_finished(&self) -> bool {
        self.is_finished()
    }
    fn collect(self) -> Result<TxReport, EngineError> {
        self.finish()
    }
    fn source_addr(&self) -> Option<SocketAddr> {
        self.local_addr()
    }
}

/// Where and how each engine of a group runs (see [`SenderGroup::builder`]).
#[derive(Debug, Clone)]
pub struct GroupBuilder {
    cfg: SenderConfig,
    engines: Option<usize>,
    cores: Option<Vec<usize>>,
    dests: Option<Vec<SocketAddr>>,
    shared_window: Option<u64>,
    share_cores: bool,
}

/// What engine `index` of a group gets.
#[derive(Debug, Clone)]
struct Plan {
    cfg: SenderConfig,
    core: Option<usize>,
}

impl GroupBuilder {
    /// How many engines (default: one per core named with [`tx_cores`](Self::tx_cores), else 1).
    pub fn engines(mut self, n: usize) -> Self {
        self.engines = Some(n);
        self
    }

    /// The core of each engine, in order (a core may be named twice: those engines then share
    /// it). Without it, engine `i` runs on the `i`-th core of [`crate::available_cores`].
    pub fn tx_cores(mut self, cores: &[usize]) -> Self {
        self.cores = Some(cores.to_vec());
        self
    }

    /// Without a core list, more engines than available cores share them round-robin instead
    /// of being refused.
    pub fn allow_shared_cores(mut self) -> Self {
        self.share_cores = true;
        self
    }

    /// One destination per engine (for example one device each, each answering its own
    /// engine's ACK stream). Without it every engine sends to the configuration's destination.
    pub fn dests(mut self, dests: Vec<SocketAddr>) -> Self {
        self.dests = Some(dests);
        self
    }

    /// One flow-control window of `packets` shared by every engine (the configuration must ask
    /// for ACKs): an engine claims credit from it atomically before it sends, and its ACK core
    /// gives credit back as its device acknowledges, so the packets outstanding summed over the
    /// engines never exceed `packets`. Each engine's own window (if any) applies as well.
    /// Without it, each engine has its own window against its own ACK stream.
    pub fn shared_window(mut self, packets: u64) -> Self {
        self.shared_window = Some(packets);
        self
    }

    /// Starts the engines in push mode: feed each through [`SenderGroup::engine_mut`] /
    /// [`SenderGroup::engines_mut`], one producer per engine.
    pub fn spawn(self) -> Result<SenderGroup<Sender>, GroupError> {
        let (plans, shared) = self.plan()?;
        SenderGroup::start(plans, shared, |_, cfg, shared| {
            let opened = open_shared(&cfg, shared)?;
            Sender::spawn_opened(cfg, opened)
        })
    }

    /// Starts the engines in pull mode: engine `i` pulls from `source(i, &its config)`.
    pub fn spawn_sources<S, F>(self, mut source: F) -> Result<SenderGroup<SourceSender>, GroupError>
    where
        S: PacketSource,
        F: FnMut(usize, &SenderConfig) -> S,
    {
        let (plans, shared) = self.plan()?;
        SenderGroup::start(plans, shared, |i, cfg, shared| {
            let src = source(i, &cfg);
            let opened = open_shared(&cfg, shared)?;
            SourceSender::spawn_opened(cfg, src, opened)
        })
    }

    /// Each engine's configuration and core, and the shared window if any.
    fn plan(self) -> Result<(Vec<Plan>, Option<Arc<SharedWindow>>), GroupError> {
        let bad = |m: String| Err(GroupError::Config(m));
        let n = self
            .engines
            .or(self.cores.as_ref().map(|c| c.len()))
            .unwrap_or(1);
        if n == 0 {
            return bad("a group needs at least one engine".into());
        }
        let cores = match self.cores {
            Some(c) if c.len() != n => {
                return bad(format!("{n} engines but {} cores named", c.len()));
            }
            Some(c) => c,
            None => {
                let avail = crate::available_cores();
                if avail.is_empty() {
                    return bad("no core is available to this process".into());
                }
                if n > avail.len() && !self.share_cores {
                    return bad(format!(
                        "{n} engines but only {} cores available; name the cores to share",
                        avail.len()
                    ));
                }
                (0..n).map(|i| avail[i % avail.len()]).collect()
            }
        };
        if let Some(d) = &self.dests {
            if d.len() != n {
                return bad(format!("{n} engines but {} destinations", d.len()));
            }
        }
        let base = self.cfg;
        if n > 1 && base.socket.bind.is_some_and(|a| a.port() != 0) {
            return bad("each engine needs its own source port: bind to port 0".into());
        }
        if n > 1 && base.flow.ack_bind.is_some_and(|a| a.port() != 0) {
            return bad("each engine needs its own ACK socket: bind ACKs to port 0".into());
        }
        let rate = match base.pacing.rate {
            Some(r) => Some(split_rate(r, n, base.stream.payload)?),
            None => None,
        };
        let shared = match self.shared_window {
            Some(_) if base.flow.ack.is_none() => {
                return bad("a shared window needs flow control (ACKs) configured".into());
            }
            Some(0) => return bad("a shared window must hold at least one packet".into()),
            Some(w) => Some(Arc::new(SharedWindow::new(w))),
            None => None,
        };
        let plans = (0..n)
            .map(|i| {
                let mut cfg = base.clone();
                cfg.thread.tx_core = Some(cores[i]);
                cfg.stream.stream_id = base.stream.stream_id.wrapping_add(i as u32);
                cfg.pacing.rate = rate;
                if let Some(d) = &self.dests {
                    cfg.socket.dest = d[i];
                }
                if let Some(w) = self.shared_window {
                    // The shared window bounds the sum; alone it bounds each engine too.
                    cfg.flow.window_packets =
                        Some(cfg.flow.window_packets.map_or(w, |own| own.min(w)));
                }
                Plan {
                    cfg,
                    core: Some(cores[i]),
                }
            })
            .collect();
        Ok((plans, shared))
    }
}

/// Each engine's share of `rate`: `rate / n`, exactly (rates are real numbers, so there is no
/// remainder to hand out: the shares add up to the rate). Refused when a share falls below the
/// slowest rate an engine paces.
fn split_rate(rate: Rate, n: usize, payload: usize) -> Result<Rate, GroupError> {
    let share = match rate {
        Rate::Pps(p) => Rate::Pps(p / n as f64),
        Rate::Bps(b) => Rate::Bps(b / n as f64),
    };
    if share.pps(payload) < MIN_RATE_PPS {
        return Err(GroupError::Config(format!(
            "{n} engines would pace at {:.3} packets/s each, below the {MIN_RATE_PPS} an engine \
             paces",
            share.pps(payload)
        )));
    }
    Ok(share)
}

/// [`SenderGroup`]: N engines as one sender. Each engine is a whole [`Sender`] (or
/// [`SourceSender`]) pinned to a core of its own, with its own socket (so its own source port,
/// which lets a NIC's RSS spread the engines over its queues), its own slab and its own sequence
/// space; a receiver tells the streams apart by their source. The group splits the rate, can
/// share one flow-control window between the engines, and collects one [`GroupReport`] with a
/// row per engine.
///
/// ```
/// use ringshot::prelude::*;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let receiver = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// let cfg = SenderConfig::builder(receiver.local_addr()?).payload(64).build()?;
/// // Two engines, on the first two cores this process may use (or `spawn_on(cfg, &[2, 3])`).
/// let mut group = SenderGroup::builder(cfg).engines(2).allow_shared_cores().spawn()?;
/// std::thread::scope(|s| {
///     for tx in group.engines_mut() {
///         // One producer per engine.
///         s.spawn(move || -> Result<(), EngineError> {
///             for i in 0..100u32 {
///                 tx.send(&i.to_be_bytes())?;
///             }
///             Ok(())
///         });
///     }
/// });
/// let report: GroupReport = group.finish()?;
/// assert_eq!(report.total.committed, 200);
/// assert!(report.books_balance());
/// # Ok(())
/// # }
/// ```
///
/// Dropping a group stops every engine and waits only for them to wind down.
#[derive(Debug)]
pub struct SenderGroup<E: GroupEngine = Sender> {
    engines: Vec<E>,
    rows: Vec<(Option<usize>, u32, SocketAddr)>,
    shared: Option<Arc<SharedWindow>>,
}

impl SenderGroup<Sender> {
    /// A group set up from `cfg`: see [`GroupBuilder`].
    pub fn builder(cfg: SenderConfig) -> GroupBuilder {
        GroupBuilder {
            cfg,
            engines: None,
            cores: None,
            dests: None,
            shared_window: None,
            share_cores: false,
        }
    }

    /// `n` push engines on the first `n` available cores (refused when there are fewer).
    pub fn spawn(cfg: SenderConfig, n: usize) -> Result<SenderGroup<Sender>, GroupError> {
        SenderGroup::builder(cfg).engines(n).spawn()
    }

    /// One push engine on each of `cores`.
    pub fn spawn_on(cfg: SenderConfig, cores: &[usize]) -> Result<SenderGroup<Sender>, GroupError> {
        SenderGroup::builder(cfg).tx_cores(cores).spawn()
    }
}

impl<E: GroupEngine> SenderGroup<E> {
    fn start(
        plans: Vec<Plan>,
        shared: Option<Arc<SharedWindow>>,
        mut spawn: impl FnMut(usize, SenderConfig, Option<Arc<SharedWindow>>) -> Result<E, EngineError>,
    ) -> Result<SenderGroup<E>, GroupError> {
        let mut group = SenderGroup {
            engines: Vec::with_capacity(plans.len()),
            rows: Vec::with_capacity(plans.len()),
            shared: shared.clone(),
        };
        for (i, p) in plans.into_iter().enumerate() {
            group
                .rows
                .push((p.core, p.cfg.stream.stream_id, p.cfg.socket.dest));
            match spawn(i, p.cfg, shared.clone()) {
                Ok(e) => group.engines.push(e),
                // Dropping the group stops the engines already started.
                Err(error) => return Err(GroupError::Spawn { engine: i, error }),
            }
        }
        Ok(group)
    }

    /// How many engines.
    pub fn len(&self) -> usize {
        self.engines.len()
    }

    /// Never true: a group has at least one engine.
    pub fn is_empty(&self) -> bool {
        self.engines.is_empty()
    }

    /// The engines, in order: hand each to its own producer thread.
    pub fn engines_mut(&mut self) -> &mut [E] {
        &mut self.engines
    }

    /// Engine `i`, if there is one.
    pub fn engine_mut(&mut self, i: usize) -> Option<&mut E> {
        self.engines.get_mut(i)
    }

    /// Engine `i`, if there is one.
    pub fn engine(&self, i: usize) -> Option<&E> {
        self.engines.get(i)
    }

    /// The core engine `i` was pinned to.
    pub fn core(&self, i: usize) -> Option<usize> {
        self.rows.get(i).and_then(|r| r.0)
    }

    /// The window shared by the engines, if one was configured.
    pub fn shared_window(&self) -> Option<&Arc<SharedWindow>> {
        self.shared.as_ref()
    }

    /// Whether every engine has ended.
    pub fn is_finished(&self) -> bool {
        self.engines.iter().all(|e| e.engine_finished())
    }

    /// Stops every engine at its next batch (for Ctrl-C handlers); [`finish`](Self::finish)
    /// then collects the report.
    pub fn stop(&self) {
        for e in &self.engines {
            e.stop_engine();
        }
    }

    /// Ends every engine's stream after what is queued is sent and returns the group's report:
    /// `Err(GroupError::Engines)` when any engine failed, with each error's engine index and
    /// the whole report (every engine's row; the others' books balance too).
    ///
    /// Every engine is told to end first, and only once all of them have ended are their ACK
    /// cores stopped: with a shared window, an engine that ended still gives back the credit
    /// of its packets as its device acknowledges them, so the others never wait on it.
    pub fn finish(mut self) -> Result<GroupReport, GroupError> {
        for e in &mut self.engines {
            e.end_engine_input();
        }
        while !self.is_finished() {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.collect()
    }

    /// Waits at most `timeout` for every engine to end, then [`stop`](Self::stop)s those
    /// still running and returns the report.
    pub fn finish_within(mut self, timeout: Duration) -> Result<GroupReport, GroupError> {
        for e in &mut self.engines {
            e.end_engine_input();
        }
        let deadline = Instant::now() + timeout;
        while !self.is_finished() {
            if Instant::now() >= deadline {
                self.stop();
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        self.collect()
    }

    fn collect(&mut self) -> Result<GroupReport, GroupError> {
        let mut rows = Vec::with_capacity(self.engines.len());
        let mut errors = Vec::new();
        for (i, e) in std::mem::take(&mut self.engines).into_iter().enumerate() {
            let (core, stream_id, dest) = self.rows[i];
            let source = e.source_addr();
            let (report, error) = match e.collect() {
                Ok(r) => (Some(r), None),
                Err(err) => {
                    let row = (err.report().cloned(), Some(err.to_string()));
                    errors.push((i, err));
                    row
                }
            };
            rows.push(EngineRow {
                index: i,
                core,
                stream_id,
                source,
                dest,
                report,
                error,
            });
        }
        let shared = self.shared.as_ref().map(|w| SharedWindowReport {
            window_packets: w.window(),
            peak_outstanding: w.peak(),
            refused_claims: w.refused_claims(),
        });
        let report = GroupReport::new(rows, shared);
        if errors.is_empty() {
            Ok(report)
        } else {
            Err(GroupError::Engines {
                errors,
                report: Box::new(report),
            })
        }
    }
}

impl<E: GroupEngine> Drop for SenderGroup<E> {
    /// Stops every engine first, so they wind down together rather than one after another.
    fn drop(&mut self) {
        self.stop();
        self.engines.clear();
    }
}
