//! The options in groups (stream shape, socket, io_uring, pacing, flow control, threads): the
//! one place each option is declared. The builder writes into these groups, `build` checks each
//! with its own function and moves them, unchanged, into the `SenderConfig` the engine reads. A
//! check that relates two groups (a window against the batch, a rate against the payload) takes
//! the other group's values as arguments.

use std::net::SocketAddr;
use std::time::Duration;

use super::{
    BackendChoice, ConfigError, IdlePolicy, OnRefused, SendOrder, XdpMode, DEFAULT_BURST,
    DEFAULT_SLOTS, DEFAULT_STALL_TIMEOUT, DEFAULT_ZC_THRESHOLD, MAX_BATCH, MAX_DURATION,
    MAX_RATE_PPS, MAX_SLOTS, MAX_UDP_PAYLOAD, MIN_RATE_PPS,
};
use crate::flow::AckFormat;
use crate::framing::{Format, Framing};
use crate::pacing::{Rate, Spacing};

/// Refuses a duration longer than [`MAX_DURATION`] (deadline arithmetic would overflow).
fn check_duration(field: &'static str, d: Option<Duration>) -> Result<(), ConfigError> {
    if d.is_some_and(|d| d > MAX_DURATION) {
        return Err(ConfigError::DurationTooLong { field });
    }
    Ok(())
}

/// What every stream has: packet size, batching, the slab, and the header's identity.
#[derive(Debug, Clone)]
pub(crate) struct StreamOptions {
    pub(crate) payload: usize,
    /// As set; `None` for a stream that sets none (`build` then chooses
    /// [`super::default_batch`], kept in [`super::SenderConfig`]'s `batch`).
    pub(crate) batch: Option<usize>,
    pub(crate) slots: u32,
    pub(crate) stream_id: u32,
    pub(crate) start_seq: u64,
    pub(crate) framing: Framing,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            payload: 1472,
            batch: None,
            slots: DEFAULT_SLOTS,
            stream_id: 0,
            start_seq: 0,
            framing: Framing::default(),
        }
    }
}

impl StreamOptions {
    /// `batch` is the one the stream sends with: as set, or the default `build` chose.
    pub(crate) fn validate(&self, batch: usize) -> Result<(), ConfigError> {
        if batch == 0 {
            return Err(ConfigError::ZeroBatch);
        }
        if batch > MAX_BATCH {
            return Err(ConfigError::BatchTooLarge {
                batch,
                max: MAX_BATCH,
            });
        }
        if self.payload > MAX_UDP_PAYLOAD {
            return Err(ConfigError::PayloadTooLarge {
                payload: self.payload,
                max: MAX_UDP_PAYLOAD,
            });
        }
        // At least one byte, and room for the framing's header.
        // At least one byte and the framing's header; SPEAD needs room for data too, or no
        // heap would ever fill.
        let min = match self.framing.format {
            crate::framing::Format::Spead => self.framing.header_len() + 8,
            _ => self.framing.header_len().max(1),
        };
        if self.payload < min {
            return Err(ConfigError::PayloadTooSmall {
                payload: self.payload,
                min,
            });
        }
        if self.framing.sample_bytes == 0 {
            return Err(ConfigError::ZeroSampleBytes);
        }
        self.check_timestamps()?;
        let s = &self.framing.spead;
        if s.heap_size == 0 || s.heap_size > s.flavour.max_value() {
            return Err(ConfigError::SpeadOutOfRange {
                field: "heap_size",
                reason: "must be at least 1 byte and within the flavour's heap addresses",
            });
        }
        if s.heap_cnt_step == 0 {
            return Err(ConfigError::SpeadOutOfRange {
                field: "heap_cnt_step",
                reason: "must be at least 1",
            });
        }
        // u32 → usize widens on every supported target.
        if (self.slots as usize) < batch {
            return Err(ConfigError::SlabSmallerThanBatch {
                slots: self.slots,
                batch,
            });
        }
        if self.slots > MAX_SLOTS {
            return Err(ConfigError::TooManySlots {
                slots: self.slots,
                max: MAX_SLOTS,
            });
        }
        Ok(())
    }

    /// An integer timestamp only in the VRT formats; with a sample-count TSF it needs the
    /// sample rate (the TSF then counts samples within the second).
    fn check_timestamps(&self) -> Result<(), ConfigError> {
        use crate::framing::Format;
        let f = &self.framing;
        if f.tsi.is_none() {
            return Ok(());
        }
        if !matches!(f.format, Format::Vrt | Format::Usrp2) {
            return Err(ConfigError::Timestamps {
                field: "tsi",
                reason: "only the vrt and usrp2 formats carry an integer timestamp",
            });
        }
        if f.sample_count_ts && f.sample_rate == 0 {
            return Err(ConfigError::Timestamps {
                field: "sample_rate",
                reason: "an integer timestamp with a sample-count fractional timestamp needs \
                         the sample rate",
            });
        }
        Ok(())
    }
}

/// The sending socket and the backend that drives it.
#[derive(Debug, Clone)]
pub(crate) struct SocketOptions {
    pub(crate) dest: SocketAddr,
    pub(crate) bind: Option<SocketAddr>,
    pub(crate) sndbuf: usize,
    pub(crate) backend: BackendChoice,
    pub(crate) gso: bool,
    pub(crate) zc_threshold: Option<usize>,
    pub(crate) on_refused: OnRefused,
    pub(crate) xdp_queue: u32,
    pub(crate) xdp_mode: XdpMode,
}

impl SocketOptions {
    pub(crate) fn new(dest: SocketAddr) -> Self {
        SocketOptions {
            dest,
            bind: None,
            sndbuf: 8 << 20,
            backend: BackendChoice::Auto,
            gso: true,
            zc_threshold: Some(DEFAULT_ZC_THRESHOLD),
            on_refused: OnRefused::Count,
            xdp_queue: 0,
            xdp_mode: XdpMode::Auto,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.zc_threshold == Some(0) {
            return Err(ConfigError::ZeroZcThreshold);
        }
        if self.dest.port() == 0 {
            return Err(ConfigError::ZeroPort);
        }
        let unsupported = match self.backend {
            BackendChoice::Uring => !crate::sys::HAS_URING,
            BackendChoice::Mmsg => !crate::sys::HAS_SENDMMSG,
            BackendChoice::Iocp => !crate::sys::HAS_IOCP,
            BackendChoice::Xdp => !crate::sys::HAS_XDP,
            BackendChoice::Auto | BackendChoice::Send => false,
        };
        if unsupported {
            return Err(ConfigError::BackendUnsupported(self.backend));
        }
        Ok(())
    }
}

/// io_uring's kernel submission thread (SQPOLL), and whether its batches may reorder.
#[derive(Debug, Clone, Default)]
pub(crate) struct UringOptions {
    pub(crate) sqpoll_idle: Option<Duration>,
    pub(crate) sqpoll_cpu: Option<u32>,
    pub(crate) send_order: SendOrder,
}

impl UringOptions {
    pub(crate) fn validate(&self, framing: &Framing) -> Result<(), ConfigError> {
        check_duration("sqpoll", self.sqpoll_idle)?;
        if self.sqpoll_cpu.is_some() && self.sqpoll_idle.is_none() {
            return Err(ConfigError::SqpollCpuWithoutSqpoll);
        }
        // These devices count a packet that arrives after a later one as a sequence error.
        let sequenced = matches!(framing.format, Format::Usrp2 | Format::Vrt | Format::Chdr);
        if self.send_order == SendOrder::Relaxed && sequenced {
            return Err(ConfigError::RelaxedOrderWithSequencedFraming(
                framing.format,
            ));
        }
        Ok(())
    }
}

/// The departure schedule of a paced stream.
#[derive(Debug, Clone)]
pub(crate) struct PacingOptions {
    pub(crate) rate: Option<Rate>,
    pub(crate) burst: u64,
    pub(crate) prefill: u64,
    pub(crate) quantum: Duration,
    pub(crate) spacing: Spacing,
}

impl Default for PacingOptions {
    fn default() -> Self {
        PacingOptions {
            rate: None,
            burst: DEFAULT_BURST,
            prefill: 0,
            quantum: Duration::ZERO,
            spacing: Spacing::Auto,
        }
    }
}

impl PacingOptions {
    /// `payload` turns a bit rate into packets per second.
    pub(crate) fn validate(&self, payload: usize) -> Result<(), ConfigError> {
        if let Some(rate) = self.rate {
            let pps = rate.pps(payload);
            // Written so that NaN fails too.
            if !(MIN_RATE_PPS..=MAX_RATE_PPS).contains(&pps) {
                return Err(ConfigError::RateOutOfRange {
                    pps: format!("{pps:.3e}"),
                    payload,
                });
            }
        } else if self.prefill > 0 {
            return Err(ConfigError::PrefillWithoutRate);
        } else if !self.quantum.is_zero() {
            return Err(ConfigError::QuantumWithoutRate);
        } else if self.spacing != Spacing::Auto {
            return Err(ConfigError::SpacingWithoutRate);
        }
        if self.burst == 0 {
            return Err(ConfigError::ZeroBurst);
        }
        check_duration("pace_quantum", Some(self.quantum))
    }
}

/// Flow control: the window, the ACKs that reopen it, and the ACK core that reads them.
#[derive(Debug, Clone)]
pub(crate) struct FlowOptions {
    pub(crate) window_packets: Option<u64>,
    pub(crate) window_bytes: Option<u64>,
    pub(crate) ack: Option<AckFormat>,
    pub(crate) ack_bind: Option<SocketAddr>,
    pub(crate) ack_from: Option<SocketAddr>,
    pub(crate) ack_core: Option<usize>,
    pub(crate) ack_busy_poll: bool,
    pub(crate) window_wait: IdlePolicy,
    pub(crate) stall_timeout: Duration,
}

impl Default for FlowOptions {
    fn default() -> Self {
        FlowOptions {
            window_packets: None,
            window_bytes: None,
            ack: None,
            ack_bind: None,
            ack_from: None,
            ack_core: None,
            ack_busy_poll: false,
            window_wait: IdlePolicy::Adaptive,
            stall_timeout: DEFAULT_STALL_TIMEOUT,
        }
    }
}

impl FlowOptions {
    /// The window must hold one `batch` and the paced stream's `prefill`.
    pub(crate) fn validate(
        &self,
        stream: &StreamOptions,
        batch: usize,
        prefill: u64,
    ) -> Result<(), ConfigError> {
        self.validate_window(stream, batch, prefill)?;
        self.validate_acks()?;
        if self.stall_timeout.is_zero() {
            return Err(ConfigError::ZeroStallTimeout);
        }
        check_duration("stall_timeout", Some(self.stall_timeout))?;
        if let Some(core) = self.ack_core {
            let available = crate::sys::available_cores();
            if !available.contains(&core) {
                return Err(ConfigError::UnknownAckCore { core, available });
            }
        }
        Ok(())
    }

    fn validate_window(
        &self,
        stream: &StreamOptions,
        batch: usize,
        prefill: u64,
    ) -> Result<(), ConfigError> {
        if let Some(window) = self.window_packets {
            if window < batch as u64 {
                return Err(ConfigError::WindowSmallerThanBatch { window, batch });
            }
            if prefill > window {
                return Err(ConfigError::PrefillBeyondWindow { prefill, window });
            }
        }
        if let Some(window) = self.window_bytes {
            if window < stream.payload as u64 {
                return Err(ConfigError::WindowBytesSmallerThanPacket {
                    window,
                    payload: stream.payload,
                });
            }
        }
        Ok(())
    }

    fn validate_acks(&self) -> Result<(), ConfigError> {
        let explicit_window = self.window_packets.is_some() || self.window_bytes.is_some();
        match self.ack {
            None if explicit_window => return Err(ConfigError::WindowWithoutAck),
            None if self.ack_bind.is_some() => return Err(ConfigError::AckBindWithoutAck),
            None if self.ack_from.is_some() => return Err(ConfigError::AckFromWithoutAck),
            // USRP2 ACKs carry a position but never the device's capacity: without an explicit
            // window nothing would ever bound what is outstanding, so refuse rather than overflow.
            Some(format @ AckFormat::Usrp2 { .. }) if !explicit_window => {
                return Err(ConfigError::WindowRequired(format))
            }
            _ => {}
        }
        if let Some(from) = self.ack_from {
            if from.port() == 0 || from.ip().is_unspecified() {
                return Err(ConfigError::AckFromUnspecified(from));
            }
        }
        Ok(())
    }
}

/// The engine thread: where it runs, at what priority, and how it idles.
#[derive(Debug, Clone, Default)]
pub(crate) struct ThreadOptions {
    pub(crate) tx_core: Option<usize>,
    pub(crate) sched_fifo: Option<i32>,
    pub(crate) mlockall: bool,
    pub(crate) idle: IdlePolicy,
    /// Cut the engine's histograms into intervals of this length (see `TxReport::timeline`).
    pub(crate) timeline: Option<Duration>,
}

impl ThreadOptions {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.timeline.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::ZeroTimeline);
        }
        if let Some(core) = self.tx_core {
            let available: Vec<usize> = core_affinity::get_core_ids()
                .unwrap_or_default()
                .into_iter()
                .map(|c| c.id)
                .collect();
            if !available.contains(&core) {
                return Err(ConfigError::UnknownCore { core, available });
            }
        }
        if let Some(p) = self.sched_fifo {
            if !(1..=99).contains(&p) {
                return Err(ConfigError::BadPriority(p));
            }
        }
        Ok(())
    }
}
