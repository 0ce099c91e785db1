//! Why an engine stopped with an error. Every error after set-up carries the report of the
//! stream up to that point.

use std::io;
use std::time::Duration;

use super::TxReport;

/// Why the engine stopped with an error.
///
/// ```
/// use std::time::Duration;
/// use ringshot::{AckFormat, EngineError, Sender, SenderConfig};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // Flow control against a peer that never acknowledges: at most 64 packets leave, then the
/// // window stays closed and the stream ends after the stall timeout, its report attached.
/// let silent = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// let cfg = SenderConfig::builder(silent.local_addr()?)
///     .ack(AckFormat::Native)
///     .window_packets(64)
///     .stall_timeout(Duration::from_millis(100))
///     .build()?;
/// let mut tx = Sender::spawn(cfg)?;
/// for i in 0..100u32 {
///     if tx.send(&i.to_be_bytes()).is_err() {
///         break; // the engine has ended: finish says why
///     }
/// }
/// match tx.finish() {
///     Err(EngineError::Stalled { sent, acked, report, .. }) => {
///         assert!(sent <= 64 && acked == 0);
///         assert!(report.stalled);
///         assert_eq!(report.packets + report.failed_packets, report.committed);
///     }
///     other => panic!("expected a stall, got {other:?}"),
/// }
/// # Ok(())
/// # }
/// ```
#[non_exhaustive]
pub enum EngineError {
    /// Creating or configuring the socket failed.
    Socket(io::Error),
    /// The chosen backend cannot run here.
    BackendUnavailable {
        backend: &'static str,
        reason: String,
    },
    /// A send or completion syscall failed with an error that cannot be retried. What was in
    /// flight was cancelled; packets that never left are counted in `report.failed_packets`.
    Send {
        error: io::Error,
        report: Box<TxReport>,
    },
    /// The engine thread panicked.
    Panicked,
    /// The engine has ended without an error (`stop()` was called, or the stream finished):
    /// it takes no more packets.
    Closed,
    /// A packet of `len` bytes does not fit the `max` application bytes a slot holds (see
    /// [`Sender::max_app_payload`](crate::Sender::max_app_payload)). Nothing was queued.
    PacketTooLarge { len: usize, max: usize },
    /// The flow-control window stayed closed for the whole stall timeout. `sent` counts the
    /// packets that left the host, `acked` those the device acknowledged (both from the start
    /// of the stream) and `outstanding` the packets the window holds against the device: taken
    /// from the app but not acknowledged.
    Stalled {
        sent: u64,
        acked: u64,
        outstanding: u64,
        waited: Duration,
        report: Box<TxReport>,
    },
    /// The kernel accepted no packet (every send refused or saturated) for the whole stall
    /// timeout.
    NoProgress {
        waited: Duration,
        report: Box<TxReport>,
    },
    /// The device announced a restart: whatever it had buffered is gone, so the stream stops
    /// rather than losing packets silently.
    DeviceRestarted {
        sent: u64,
        acked: u64,
        report: Box<TxReport>,
    },
    /// The ACK core could not be started.
    AckCore(io::Error),
}

impl From<crate::sys::OpenError> for EngineError {
    fn from(e: crate::sys::OpenError) -> EngineError {
        match e {
            crate::sys::OpenError::Socket(e) => EngineError::Socket(e),
            crate::sys::OpenError::Unavailable { backend, reason } => {
                EngineError::BackendUnavailable { backend, reason }
            }
        }
    }
}

impl std::fmt::Debug for EngineError {
    // By hand: the reports inside carry whole histograms, too long for a panic message.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineError::Socket(e) => f.debug_tuple("Socket").field(e).finish(),
            EngineError::BackendUnavailable { backend, reason } => f
                .debug_struct("BackendUnavailable")
                .field("backend", backend)
                .field("reason", reason)
                .finish(),
            EngineError::Send { error, .. } => f.debug_tuple("Send").field(error).finish(),
            EngineError::Panicked => f.write_str("Panicked"),
            EngineError::Closed => f.write_str("Closed"),
            EngineError::PacketTooLarge { len, max } => f
                .debug_struct("PacketTooLarge")
                .field("len", len)
                .field("max", max)
                .finish(),
            EngineError::Stalled { .. }
            | EngineError::NoProgress { .. }
            | EngineError::DeviceRestarted { .. } => write!(f, "{self}"),
            EngineError::AckCore(e) => f.debug_tuple("AckCore").field(e).finish(),
        }
    }
}

impl EngineError {
    /// The report of a stream that ended early (send error, stall, device restart); `None` for
    /// set-up errors and a panicked engine.
    ///
    /// ```
    /// use ringshot::EngineError;
    ///
    /// // Errors from before the stream started carry no report.
    /// assert!(EngineError::Closed.report().is_none());
    /// assert!(EngineError::PacketTooLarge { len: 2000, max: 1456 }.report().is_none());
    /// ```
    pub fn report(&self) -> Option<&TxReport> {
        match self {
            EngineError::Send { report, .. }
            | EngineError::Stalled { report, .. }
            | EngineError::NoProgress { report, .. }
            | EngineError::DeviceRestarted { report, .. } => Some(report),
            _ => None,
        }
    }

    /// A copy of this error for a second caller (an engine's ending is reported both by
    /// `reserve`/`send` and by `finish`): the same variant, fields and report.
    pub(super) fn duplicate(&self) -> EngineError {
        match self {
            EngineError::Socket(e) => EngineError::Socket(copy_io(e)),
            EngineError::BackendUnavailable { backend, reason } => {
                EngineError::BackendUnavailable {
                    backend,
                    reason: reason.clone(),
                }
            }
            EngineError::Send { error, report } => EngineError::Send {
                error: copy_io(error),
                report: report.clone(),
            },
            EngineError::Panicked => EngineError::Panicked,
            EngineError::Closed => EngineError::Closed,
            EngineError::PacketTooLarge { len, max } => EngineError::PacketTooLarge {
                len: *len,
                max: *max,
            },
            EngineError::Stalled {
                sent,
                acked,
                outstanding,
                waited,
                report,
            } => EngineError::Stalled {
                sent: *sent,
                acked: *acked,
                outstanding: *outstanding,
                waited: *waited,
                report: report.clone(),
            },
            EngineError::NoProgress { waited, report } => EngineError::NoProgress {
                waited: *waited,
                report: report.clone(),
            },
            EngineError::DeviceRestarted {
                sent,
                acked,
                report,
            } => EngineError::DeviceRestarted {
                sent: *sent,
                acked: *acked,
                report: report.clone(),
            },
            EngineError::AckCore(e) => EngineError::AckCore(copy_io(e)),
        }
    }

    pub(super) fn report_mut(&mut self) -> Option<&mut TxReport> {
        match self {
            EngineError::Send { report, .. }
            | EngineError::Stalled { report, .. }
            | EngineError::NoProgress { report, .. }
            | EngineError::DeviceRestarted { report, .. } => Some(report),
            _ => None,
        }
    }
}

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineError::Socket(e) => write!(f, "socket set-up failed: {e}"),
            EngineError::BackendUnavailable { backend, reason } => {
                write!(f, "backend {backend} is unavailable: {reason}")
            }
            EngineError::Send { error, .. } => write!(f, "send failed: {error}"),
            EngineError::Panicked => write!(f, "the engine thread panicked"),
            EngineError::Closed => write!(f, "the engine has stopped"),
            EngineError::PacketTooLarge { len, max } => write!(
                f,
                "a packet of {len} bytes does not fit the {max} application bytes of a slot"
            ),
            EngineError::Stalled {
                sent,
                acked,
                outstanding,
                waited,
                ..
            } => write!(
                f,
                "stalled: the device opened no window for {:.1} ms (sent {sent}, acknowledged \
                 {acked}, {outstanding} outstanding)",
                waited.as_secs_f64() * 1e3,
            ),
            EngineError::NoProgress { waited, .. } => write!(
                f,
                "stalled: the kernel accepted no packet for {:.1} ms",
                waited.as_secs_f64() * 1e3
            ),
            EngineError::DeviceRestarted { sent, acked, .. } => write!(
                f,
                "the device restarted (sent {sent}, acknowledged {acked}); the {} packets it \
                 had not consumed are lost, so the stream stops",
                sent.saturating_sub(*acked)
            ),
            EngineError::AckCore(e) => write!(f, "starting the ACK core failed: {e}"),
        }
    }
}

impl std::error::Error for EngineError {}

/// An `io::Error` with the same OS code (or kind and message) as `e`.
fn copy_io(e: &io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(e.kind(), e.to_string()),
    }
}
