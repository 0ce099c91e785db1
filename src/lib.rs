//! ringshot: a pinned-core UDP send engine that streams packets at line rate with no stalls and no
//! loss.
//!
//! The portable engine ([`engine`]) owns a fixed slab of packet buffers and hands batches of them to
//! one of several OS backends (io_uring, sendmmsg, plain send) that live in a private `sys` module behind
//! the [`backend::TxBackend`] trait. Every submit is timed into a pre-allocated HDR histogram ([`stats`]).
//! [`recv`] is the draining receiver that checks what arrived; [`device`] turns it into a device
//! emulator with a finite buffer, flow-control ACKs and seeded fault injection.
//!
//! # A stream in ten lines
//!
//! Configure with [`SenderConfig::builder`], start the engine thread with [`Sender::spawn`], write
//! packets straight into its slots ([`Sender::reserve`], [`Reserved::commit`]) or copy them in
//! ([`Sender::send`]), and collect the report with [`Sender::finish`]. Every packet committed is
//! sent or counted failed: `packets + failed_packets == committed`, however the stream ends.
//!
//! ```
//! use ringshot::prelude::*;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let receiver = std::net::UdpSocket::bind("127.0.0.1:0")?;
//! let cfg = SenderConfig::builder(receiver.local_addr()?)
//!     .payload(1472)
//!     .rate(Rate::Pps(50_000.0)) // paced; leave out to send as fast as the kernel takes
//!     .build()?;
//! let mut tx = Sender::spawn(cfg)?;
//! for i in 0..100u32 {
//!     // Zero copy: write into a free slot. `None`: every slot is busy right now.
//!     let written = match tx.reserve()? {
//!         Some(mut slot) => {
//!             slot.payload_mut()[..4].copy_from_slice(&i.to_be_bytes());
//!             slot.commit(4)?;
//!             true
//!         }
//!         None => false,
//!     };
//!     if !written {
//!         tx.send(&i.to_be_bytes())?; // the copying call waits for a slot
//!     }
//! }
//! let report: TxReport = tx.finish()?;
//! assert_eq!(report.packets + report.failed_packets, report.committed);
//! assert_eq!(report.committed, 100);
//! # Ok(())
//! # }
//! ```
//!
//! Async producers use [`Sender::reserve_async`] and [`Sender::finish_async`] (no runtime is
//! needed by the library; the engine wakes the task when slots come back). Flow control against a
//! device's ACKs is [`SenderConfigBuilder::ack`] with a window; `examples/` has a paced stream, a
//! device with flow control and a tokio producer. Past one core, [`SenderGroup`] runs N pinned
//! engines as one sender (one report, a row per engine).
#![deny(unsafe_code)]
#![warn(missing_debug_implementations, rust_2018_idioms)]

pub mod caps;
pub mod config;
#[cfg(feature = "device")]
pub mod device;
pub mod engine;
pub mod fault;
pub mod flow;
pub mod framing;
pub mod pacing;
/// Linux, with the `rawloop` feature (the binary's `cli` feature turns it on): the loops
/// `ringshot bench --suite wire` measures each backend against.
#[cfg(all(ringshot_uring, feature = "rawloop"))]
pub use sys::rawloop;
#[cfg(feature = "recv")]
pub mod recv;
pub mod stats;
mod sys;
pub mod wire;

/// The contract between the portable engine and the OS backends (see `docs/architecture.md`):
/// what a send or receive backend implements. The backends themselves are private.
pub mod backend {
    pub use crate::sys::rx::{RxBackend, RxDatagram};
    pub use crate::sys::{gso_run_len, Slab, SlotToken, TxBackend, TxDesc};
    pub use crate::sys::{GSO_MAX_BYTES, GSO_MAX_SEGMENTS};
}

/// Small portable helpers around the OS for apps (and tests) that set up their own sockets.
pub mod os {
    pub use crate::sys::{default_sigpipe, errno_name, set_recv_buffer};

    /// The CPUs this process may run on.
    ///
    /// ```
    /// let cores = ringshot::available_cores();
    /// assert!(!cores.is_empty());
    /// // Pin the engine to the last core this process may use.
    /// let cfg = ringshot::SenderConfig::builder("127.0.0.1:9000".parse().unwrap())
    ///     .tx_core(*cores.last().unwrap())
    ///     .build();
    /// assert!(cfg.is_ok());
    /// ```
    pub fn available_cores() -> Vec<usize> {
        crate::sys::available_cores()
    }
}

/// The HdrHistogram crate the reports' histograms (`TxReport::submit_hist`, ...) come from:
/// use `ringshot::hdrhistogram` to name their type, so an app is never tied to another version
/// of the crate by accident.
pub use hdrhistogram;

pub use caps::{capabilities, Capabilities};
pub use config::{
    BackendChoice, ConfigError, OnRefused, SendOrder, SenderConfig, SenderConfigBuilder, XdpMode,
};
pub use engine::{
    EngineError, GroupError, GroupReport, PacketSource, PatternSource, ReserveFuture, Reserved,
    Sender, SenderGroup, SourceSender, TxReport,
};
pub use flow::AckFormat;
pub use os::available_cores;
pub use pacing::{Rate, Spacing};
pub use stats::{Percentiles, SendErrno};
pub use sys::KernelSendCounts;
pub use wire::header::HEADER_LEN;

// The README's and the embedding guide's examples compile (and run, where not `no_run`) as
// doctests, so the documents cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme_examples {}
#[cfg(doctest)]
#[doc = include_str!("../docs/embedding.md")]
mod embedding_examples {}

/// Everything an app that streams packets needs, in one import: `use ringshot::prelude::*;`.
pub mod prelude {
    pub use crate::{
        available_cores, AckFormat, BackendChoice, EngineError, GroupError, GroupReport,
        PacketSource, Percentiles, Rate, Reserved, Sender, SenderConfig, SenderGroup, SourceSender,
        Spacing, TxReport,
    };
}
