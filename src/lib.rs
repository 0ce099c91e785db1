//! ringshot: a pinned-core UDP send engine that streams packets at line rate with no stalls and no
//! loss.
//!
//! The portable engine ([`engine`]) owns a fixed slab of packet buffers and hands batches of them to
//! one of several OS backends (io_uring, sendmmsg, plain send) that live in a private `sys` module behind
//! the [`backend::TxBackend`] trait. Every submit is timed into a pre-allocated HDR histogram ([`stats`]).
//! [`recv`] is the draining receiver that checks what arrived; [`device`] turns it into a device
//! emulator with a finite buffer, flow-control ACKs and seeded fault injection.
#![deny(unsafe_code)]
#![warn(missing_debug_implementations, rust_2018_idioms)]

#[cfg(feature = "cli")]
pub mod bench;
pub mod caps;
pub mod config;
pub mod device;
pub mod engine;
pub mod fault;
pub mod flow;
pub mod framing;
pub mod pacing;
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
    pub use crate::sys::{default_sigpipe, set_recv_buffer};

    /// The CPUs this process may run on.
    pub fn available_cores() -> Vec<usize> {
        crate::sys::available_cores()
    }
}

pub use caps::{capabilities, Capabilities};
pub use config::{BackendChoice, ConfigError, SendOrder, SenderConfig, SenderConfigBuilder};
pub use engine::{EngineError, PacketSource, Reserved, Sender, TxReport};
