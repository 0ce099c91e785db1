//! SIGINT, SIGTERM and SIGHUP (the terminal went away) as a request to stop: the handler only
//! records which signal came (an atomic store, async-signal-safe); the command's wait loop (or
//! the bench suite, through [`StopSignals::flag`]) sees it, stops the engine or receiver, prints
//! the report and exits 128 + the signal number. A second signal while the first is being
//! handled exits at once.
//!
//! The `signal-hook` crate registers the handlers: its `flag` API is safe and async-signal-safe,
//! whereas `nix`'s registration is not a safe function, and the command-line code calls only safe
//! ones.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

#[cfg(unix)]
use signal_hook::consts::SIGHUP;
use signal_hook::consts::{SIGINT, SIGTERM};

/// The signals that ask for a stop (Windows has no SIGHUP).
#[cfg(unix)]
const STOP_SIGNALS: [i32; 3] = [SIGINT, SIGTERM, SIGHUP];
#[cfg(not(unix))]
const STOP_SIGNALS: [i32; 2] = [SIGINT, SIGTERM];

/// Which stop signal has arrived, if any.
#[derive(Debug)]
pub struct StopSignals {
    which: Arc<AtomicUsize>,
    seen: Arc<AtomicBool>,
}

impl StopSignals {
    /// Installs the handlers for SIGINT, SIGTERM and SIGHUP.
    pub fn install() -> io::Result<StopSignals> {
        let which = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(AtomicBool::new(false));
        for sig in STOP_SIGNALS {
            // Registered first, so it runs before `seen` is set: exits only on a second signal.
            signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, seen.clone())?;
            signal_hook::flag::register(sig, seen.clone())?;
            // `sig` is a small positive signal number, so the cast is exact.
            signal_hook::flag::register_usize(sig, which.clone(), sig as usize)?;
        }
        Ok(StopSignals { which, seen })
    }

    /// The signal received (SIGINT, SIGTERM or SIGHUP), if one has been.
    pub fn received(&self) -> Option<StopSignal> {
        match self.which.load(Ordering::Relaxed) {
            0 => None,
            n if n == SIGTERM as usize => Some(StopSignal::Term),
            #[cfg(unix)]
            n if n == SIGHUP as usize => Some(StopSignal::Hup),
            _ => Some(StopSignal::Int),
        }
    }

    /// A flag the handlers set when a stop signal arrives, for code that polls a flag (the
    /// benchmark suites).
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.seen.clone()
    }
}

/// A signal that asked the command to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    Int,
    Term,
    // Windows has no SIGHUP: there the variant is never made.
    #[cfg_attr(not(unix), allow(dead_code))]
    Hup,
}

impl StopSignal {
    pub fn name(self) -> &'static str {
        match self {
            StopSignal::Int => "SIGINT",
            StopSignal::Term => "SIGTERM",
            StopSignal::Hup => "SIGHUP",
        }
    }

    /// The documented exit status: 130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP (128 + the
    /// signal number).
    pub fn exit_status(self) -> i32 {
        match self {
            StopSignal::Int => 128 + SIGINT,
            StopSignal::Term => 128 + SIGTERM,
            // SIGHUP is signal 1 wherever it exists.
            StopSignal::Hup => 128 + 1,
        }
    }
}
