//! What this build and this kernel can do: [`capabilities`] for `ringshot --version` and for
//! apps that want to choose a backend before they start one. The report, [`Capabilities`], is
//! defined and filled in by the platform floor (`src/sys/probe.rs`), the one place that knows
//! both what was compiled in and how to ask the kernel; it is re-exported here.

pub use crate::sys::probe::Capabilities;

/// Probes the kernel (a few sockets and small rings, opened and closed at once).
///
/// ```
/// use ringshot::{capabilities, BackendChoice, SenderConfig};
///
/// let caps = capabilities();
/// let backend = if caps.io_uring { BackendChoice::Uring } else { BackendChoice::Send };
/// let cfg = SenderConfig::builder("127.0.0.1:9000".parse().unwrap())
///     .backend(backend)
///     .gso(caps.gso)
///     .build();
/// assert!(cfg.is_ok());
/// assert!(caps.backends.contains(&"send"));
/// ```
pub fn capabilities() -> Capabilities {
    crate::sys::probe::capabilities()
}
