//! Why a sender configuration was refused.

use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddr;

use super::{BackendChoice, MAX_DURATION, MAX_RATE_PPS, MAX_TIMED_START_SEQ, MIN_RATE_PPS};
use crate::flow::AckFormat;
use crate::framing::Format;

/// Why a configuration was refused. [`field`](Self::field) names the builder option at fault (the
/// [`SenderConfigBuilder`](super::SenderConfigBuilder) method of that name); the message reads
/// `field: reason`, and [`FieldError`] carries the same pair for callers that only need those two.
///
/// ```
/// use ringshot::config::FieldError;
/// use ringshot::{ConfigError, SenderConfig};
///
/// let err = SenderConfig::builder("127.0.0.1:9000".parse().unwrap())
///     .batch(0)
///     .build()
///     .unwrap_err();
/// assert_eq!(err, ConfigError::ZeroBatch);
/// assert_eq!(err.field(), "batch");
/// assert_eq!(err.to_string(), format!("batch: {}", err.reason()));
/// let plain: FieldError = err.into();
/// assert_eq!(plain.field, "batch");
/// ```
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
    SpacingWithoutRate,
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
    ZeroTimeline,
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
        field: &'static str,
    },
    /// The ACK format reports no capacity, so the window must be given explicitly.
    WindowRequired(AckFormat),
    AckFromWithoutAck,
    /// `ack_from` must name one exact address and port.
    AckFromUnspecified(SocketAddr),
    /// ACKs from an address other than the destination need their own socket (`ack_bind`): the
    /// data socket is connected and hears only the destination.
    AckFromNeedsAckBind(SocketAddr),
    /// The stream's sequence numbers would wrap past `u64::MAX`.
    SequenceOverflow {
        start_seq: u64,
        count: Option<u64>,
    },
    /// A sample of 0 bytes (samples are counted for timestamps and sample rates).
    ZeroSampleBytes,
    /// A SPEAD option out of range: `field` is `heap_size` or `heap_cnt_step`.
    SpeadOutOfRange {
        field: &'static str,
        reason: &'static str,
    },
    /// A VRT integer timestamp the framing cannot carry: `field` is `tsi` (a format without
    /// one) or `sample_rate` (a TSI with a sample-count TSF needs the sample rate).
    Timestamps {
        field: &'static str,
        reason: &'static str,
    },
    /// A relaxed send order with a framing whose sequence numbers the device checks: a re-sent
    /// packet arriving after later ones would count as a sequence error there.
    RelaxedOrderWithSequencedFraming(Format),
}

impl ConfigError {
    /// The builder option at fault (a [`SenderConfigBuilder`](super::SenderConfigBuilder) method
    /// name, e.g. `"window_packets"`). A front end maps it to its own name for the option.
    pub fn field(&self) -> &'static str {
        match self {
            ConfigError::ZeroBatch | ConfigError::BatchTooLarge { .. } => "batch",
            ConfigError::PayloadTooLarge { .. } | ConfigError::PayloadTooSmall { .. } => "payload",
            ConfigError::SlabSmallerThanBatch { .. } | ConfigError::TooManySlots { .. } => "slots",
            ConfigError::WindowSmallerThanBatch { .. } => "window_packets",
            ConfigError::UnknownCore { .. } => "tx_core",
            ConfigError::BadPriority(_) => "sched_fifo",
            ConfigError::ZeroBurst => "burst",
            ConfigError::PrefillWithoutRate | ConfigError::PrefillBeyondWindow { .. } => "prefill",
            ConfigError::QuantumWithoutRate => "pace_quantum",
            ConfigError::SpacingWithoutRate => "spacing",
            ConfigError::SqpollCpuWithoutSqpoll => "sqpoll_cpu",
            ConfigError::WindowBytesSmallerThanPacket { .. } => "window_bytes",
            ConfigError::WindowWithoutAck | ConfigError::WindowRequired(_) => "ack",
            ConfigError::AckBindWithoutAck => "ack_bind",
            ConfigError::ZeroStallTimeout => "stall_timeout",
            ConfigError::ZeroTimeline => "timeline",
            ConfigError::UnknownAckCore { .. } => "ack_core",
            ConfigError::ZeroPort => "dest",
            ConfigError::BackendUnsupported(_) => "backend",
            ConfigError::ZeroZcThreshold => "zc_threshold",
            ConfigError::RateOutOfRange { .. } => "rate",
            ConfigError::DurationTooLong { field } => field,
            ConfigError::AckFromWithoutAck
            | ConfigError::AckFromUnspecified(_)
            | ConfigError::AckFromNeedsAckBind(_) => "ack_from",
            ConfigError::SequenceOverflow { .. } => "start_seq",
            ConfigError::ZeroSampleBytes => "sample_bytes",
            ConfigError::SpeadOutOfRange { field, .. } | ConfigError::Timestamps { field, .. } => {
                field
            }
            ConfigError::RelaxedOrderWithSequencedFraming(_) => "send_order",
        }
    }

    /// What is wrong with [`field`](Self::field)'s value, as one phrase. It names other options
    /// by what they are, never by a front end's spelling of them.
    pub fn reason(&self) -> Cow<'static, str> {
        let text = |s: &'static str| Cow::Borrowed(s);
        match self {
            ConfigError::ZeroBatch => text("must be at least 1 packet"),
            ConfigError::BatchTooLarge { batch, max } => {
                format!("{batch} packets is more than the maximum {max}").into()
            }
            ConfigError::PayloadTooLarge { payload, max } => {
                format!("{payload} bytes is more than the largest UDP payload, {max}").into()
            }
            ConfigError::PayloadTooSmall { payload, min } => {
                format!("{payload} bytes cannot hold the {min}-byte header of the framing").into()
            }
            ConfigError::SlabSmallerThanBatch { slots, batch } => {
                format!("{slots} packet buffers cannot hold one batch of {batch}").into()
            }
            ConfigError::TooManySlots { slots, max } => {
                format!("{slots} packet buffers is more than the maximum {max}").into()
            }
            ConfigError::WindowSmallerThanBatch { window, batch } => {
                format!("a window of {window} is smaller than one batch of {batch}").into()
            }
            ConfigError::UnknownCore { core, available }
            | ConfigError::UnknownAckCore { core, available } => {
                format!("core {core} does not exist (available: {available:?})").into()
            }
            ConfigError::BadPriority(p) => format!("priority {p} is outside 1..=99").into(),
            ConfigError::ZeroBurst => text("must be at least 1 packet"),
            ConfigError::PrefillWithoutRate
            | ConfigError::QuantumWithoutRate
            | ConfigError::SpacingWithoutRate => {
                text("only means something for a paced stream (one with a rate)")
            }
            ConfigError::SqpollCpuWithoutSqpoll => {
                text("needs an SQPOLL idle time (there is no SQPOLL thread to pin)")
            }
            ConfigError::PrefillBeyondWindow { prefill, window } => {
                format!("{prefill} packets do not fit in a window of {window}").into()
            }
            ConfigError::WindowBytesSmallerThanPacket { window, payload } => {
                format!("a window of {window} bytes cannot hold one {payload}-byte packet").into()
            }
            ConfigError::WindowWithoutAck => {
                text("a window needs an ACK format (native, usrp2 or chdr) to ever reopen")
            }
            ConfigError::AckBindWithoutAck => {
                text("needs an ACK format to say which ACKs arrive there")
            }
            ConfigError::ZeroStallTimeout => text("must be more than 0 ms"),
            ConfigError::ZeroTimeline => text("the interval must be more than 0 ms"),
            ConfigError::ZeroPort => text("destination port 0 is not sendable"),
            ConfigError::BackendUnsupported(b) => {
                format!("'{b}' is not available on this operating system").into()
            }
            ConfigError::ZeroZcThreshold => {
                text("0 bytes is not a datagram size (use 1 or more, or no zero copy)")
            }
            ConfigError::RateOutOfRange { pps, payload } => format!(
                "{pps} packets per second at {payload}-byte payloads is outside \
                 {MIN_RATE_PPS}..={MAX_RATE_PPS:e}"
            )
            .into(),
            ConfigError::DurationTooLong { .. } => format!(
                "longer than the maximum of one year ({} s)",
                MAX_DURATION.as_secs()
            )
            .into(),
            ConfigError::WindowRequired(format) => format!(
                "{format} ACKs report no device capacity; give a window in packets or bytes"
            )
            .into(),
            ConfigError::AckFromWithoutAck => {
                text("needs an ACK format (there are no ACKs to filter)")
            }
            ConfigError::AckFromUnspecified(a) => {
                format!("{a} is not one exact address and port").into()
            }
            ConfigError::AckFromNeedsAckBind(a) => format!(
                "ACKs from {a}, not the destination, need their own socket (ack_bind): the data \
                 socket hears only the destination"
            )
            .into(),
            ConfigError::SequenceOverflow { start_seq, count } => match count {
                Some(n) => format!("{start_seq} + {n} packets wraps past {}", u64::MAX).into(),
                None => format!(
                    "{start_seq} is above {MAX_TIMED_START_SEQ}, the largest start of a stream \
                     bounded by time"
                )
                .into(),
            },
            ConfigError::ZeroSampleBytes => text("a sample must be at least 1 byte"),
            ConfigError::SpeadOutOfRange { reason, .. }
            | ConfigError::Timestamps { reason, .. } => text(reason),
            ConfigError::RelaxedOrderWithSequencedFraming(format) => format!(
                "relaxed lets a re-sent packet arrive after later ones, which {format} devices \
                 count as a sequence error"
            )
            .into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field(), self.reason())
    }
}

impl std::error::Error for ConfigError {}

/// The shape every configuration error reduces to: the option at fault and why, printed as
/// `field: reason`. `field` is the library's name for the option; a front end that spells its
/// options differently maps it when it prints.
///
/// ```
/// use ringshot::config::FieldError;
///
/// let e = FieldError::new("rate", "must be positive");
/// assert_eq!(e.to_string(), "rate: must be positive");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        FieldError {
            field,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl std::error::Error for FieldError {}

impl From<ConfigError> for FieldError {
    fn from(e: ConfigError) -> Self {
        FieldError::new(e.field(), e.reason())
    }
}
