//! Why a sender configuration was refused.

use std::fmt;
use std::net::SocketAddr;

use super::{BackendChoice, MAX_DURATION, MAX_RATE_PPS, MAX_TIMED_START_SEQ, MIN_RATE_PPS};
use crate::flow::AckFormat;

/// Why a configuration was refused. Each message starts with the name of the flag at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    ZeroBatch,
    BatchTooLarge {
        batch: usize,
        max: usize,
    },
    PayloadTooLarge {
        payload: usize,
        max: usize,
    },
    PayloadTooSmall {
        payload: usize,
        min: usize,
    },
    SlabSmallerThanBatch {
        slots: u32,
        batch: usize,
    },
    TooManySlots {
        slots: u32,
        max: u32,
    },
    WindowSmallerThanBatch {
        window: u64,
        batch: usize,
    },
    UnknownCore {
        core: usize,
        available: Vec<usize>,
    },
    BadPriority(i32),
    ZeroBurst,
    PrefillWithoutRate,
    QuantumWithoutRate,
    SqpollCpuWithoutSqpoll,
    PrefillBeyondWindow {
        prefill: u64,
        window: u64,
    },
    WindowBytesSmallerThanPacket {
        window: u64,
        payload: usize,
    },
    WindowWithoutAck,
    AckBindWithoutAck,
    ZeroStallTimeout,
    UnknownAckCore {
        core: usize,
        available: Vec<usize>,
    },
    ZeroPort,
    BackendUnsupported(BackendChoice),
    /// A zero-copy threshold of 0 bytes (the threshold is a datagram size, at least 1).
    ZeroZcThreshold,
    /// A paced rate outside [`MIN_RATE_PPS`]..=[`MAX_RATE_PPS`] at the configured payload.
    RateOutOfRange {
        /// The rate in packets per second, as text (it may be NaN, so it is not kept as a float).
        pps: String,
        payload: usize,
    },
    /// A duration longer than [`MAX_DURATION`].
    DurationTooLong {
        flag: &'static str,
    },
    /// The ACK format reports no capacity, so the window must be given explicitly.
    WindowRequired(AckFormat),
    AckFromWithoutAck,
    /// `ack_from` must name one exact address and port.
    AckFromUnspecified(SocketAddr),
    /// The stream's sequence numbers would wrap past `u64::MAX`.
    SequenceOverflow {
        start_seq: u64,
        count: Option<u64>,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::ZeroBatch => write!(f, "batch: must be at least 1 packet"),
            ConfigError::BatchTooLarge { batch, max } => {
                write!(f, "batch: {batch} packets is more than the maximum {max}")
            }
            ConfigError::PayloadTooLarge { payload, max } => write!(
                f,
                "payload: {payload} bytes is more than the largest UDP payload, {max}"
            ),
            ConfigError::PayloadTooSmall { payload, min } => write!(
                f,
                "payload: {payload} bytes cannot hold the {min}-byte ringshot header"
            ),
            ConfigError::SlabSmallerThanBatch { slots, batch } => write!(
                f,
                "slots: {slots} packet buffers cannot hold one batch of {batch}"
            ),
            ConfigError::TooManySlots { slots, max } => {
                write!(
                    f,
                    "slots: {slots} packet buffers is more than the maximum {max}"
                )
            }
            ConfigError::WindowSmallerThanBatch { window, batch } => write!(
                f,
                "window-packets: a window of {window} is smaller than one batch of {batch}"
            ),
            ConfigError::UnknownCore { core, available } => {
                write!(
                    f,
                    "tx-core: core {core} does not exist (available: {available:?})"
                )
            }
            ConfigError::BadPriority(p) => {
                write!(f, "sched-fifo: priority {p} is outside 1..=99")
            }
            ConfigError::ZeroBurst => write!(f, "burst: must be at least 1 packet"),
            ConfigError::PrefillWithoutRate => {
                write!(
                    f,
                    "prefill: only means something for a paced stream (--rate)"
                )
            }
            ConfigError::SqpollCpuWithoutSqpoll => {
                write!(
                    f,
                    "sqpoll-cpu: needs --sqpoll-idle-ms (there is no SQPOLL thread to pin)"
                )
            }
            ConfigError::QuantumWithoutRate => {
                write!(
                    f,
                    "pace-quantum-us: only means something for a paced stream (--rate)"
                )
            }
            ConfigError::PrefillBeyondWindow { prefill, window } => write!(
                f,
                "prefill: {prefill} packets do not fit in a window of {window}"
            ),
            ConfigError::WindowBytesSmallerThanPacket { window, payload } => write!(
                f,
                "window-bytes: a window of {window} bytes cannot hold one {payload}-byte packet"
            ),
            ConfigError::WindowWithoutAck => write!(
                f,
                "ack: a window needs an ACK format (native, usrp2 or chdr) to ever reopen"
            ),
            ConfigError::AckBindWithoutAck => {
                write!(f, "ack-bind: needs --ack to say which format arrives there")
            }
            ConfigError::ZeroStallTimeout => write!(f, "stall-timeout: must be more than 0 ms"),
            ConfigError::UnknownAckCore { core, available } => write!(
                f,
                "ack-core: core {core} does not exist (available: {available:?})"
            ),
            ConfigError::ZeroPort => write!(f, "to: destination port 0 is not sendable"),
            ConfigError::BackendUnsupported(b) => {
                write!(
                    f,
                    "backend: '{b}' is not available on this operating system"
                )
            }
            ConfigError::ZeroZcThreshold => write!(
                f,
                "zc-threshold: 0 bytes is not a datagram size (use 1 or more, or 'off')"
            ),
            ConfigError::RateOutOfRange { pps, payload } => write!(
                f,
                "rate: {pps} packets per second at {payload}-byte payloads is outside \
                 {MIN_RATE_PPS}..={MAX_RATE_PPS:e}"
            ),
            ConfigError::DurationTooLong { flag } => write!(
                f,
                "{flag}: longer than the maximum of one year ({} s)",
                MAX_DURATION.as_secs()
            ),
            ConfigError::WindowRequired(format) => write!(
                f,
                "ack: {format} ACKs report no device capacity; give --window-packets or \
                 --window-bytes"
            ),
            ConfigError::AckFromWithoutAck => {
                write!(f, "ack-from: needs --ack (there are no ACKs to filter)")
            }
            ConfigError::AckFromUnspecified(a) => {
                write!(f, "ack-from: {a} is not one exact address and port")
            }
            ConfigError::SequenceOverflow { start_seq, count } => match count {
                Some(n) => write!(
                    f,
                    "start-seq: {start_seq} + {n} packets wraps past {}",
                    u64::MAX
                ),
                None => write!(
                    f,
                    "start-seq: {start_seq} is above {MAX_TIMED_START_SEQ}, the largest start of \
                     a stream bounded by --duration"
                ),
            },
        }
    }
}

impl std::error::Error for ConfigError {}
