//! The benchmark suite's veth wire (`src/bench/wire/netns.rs`, part of the binary), compiled into
//! a test crate: two network namespaces joined by a veth pair, built for one test and removed when
//! dropped. That file names two things of the module around it, `WireError` and `which`; this
//! module provides them. Include it with `#[path = "common/wire.rs"] mod wire;`.
#![allow(dead_code)]

/// Why the wire could not be built (the suite's own error has more cases; the wire uses these).
#[derive(Debug)]
pub enum WireError {
    /// Not root, or a tool missing.
    Unavailable(String),
    /// Creating or reading the namespaces failed.
    Setup(String),
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::Unavailable(r) => write!(f, "the wire {r}"),
            WireError::Setup(r) => write!(f, "wire setup: {r}"),
        }
    }
}

/// Finds `prog` on `PATH`.
pub fn which(prog: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(prog))
        .find(|p| p.is_file())
}

#[path = "../../src/bench/wire/netns.rs"]
pub mod netns;

pub use netns::{unavailable_reason, Wire};
