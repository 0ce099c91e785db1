//! ringshot: a pinned-core UDP send engine that streams packets at line rate with no stalls and no
//! loss.
//!
//! The portable engine ([`engine`]) owns a fixed slab of packet buffers and hands batches of them to
//! one of several OS backends (io_uring, sendmmsg, plain send) that live under [`sys`] behind the
//! [`sys::TxBackend`] trait. Every submit is timed into a pre-allocated HDR histogram ([`stats`]).
//! [`recv`] is the draining receiver that checks what arrived; [`device`] turns it into a device
//! emulator with a finite buffer, flow-control ACKs and seeded fault injection.
#![deny(unsafe_code)]
#![warn(missing_debug_implementations, rust_2018_idioms)]

#[cfg(feature = "cli")]
pub mod bench;
pub mod config;
pub mod device;
pub mod engine;
pub mod fault;
pub mod flow;
pub mod framing;
pub mod pacing;
pub mod recv;
pub mod stats;
pub mod sys;
pub mod wire;

pub use config::{BackendChoice, ConfigError, SenderConfig, SenderConfigBuilder};
pub use engine::{EngineError, PacketSource, Reserved, Sender, TxReport};
