//! The histograms behind one measured row of a benchmark: the sender's report (its time series
//! and whole-run histograms) and the receiver's inter-arrival gaps per interval. Rows carry them
//! (never in their JSON) so the report folder can write interval logs and plots.

use std::time::{Duration, SystemTime};

use ringshot::recv::{GapInterval, RecvReport};
use ringshot::TxReport;

/// The interval of every benchmark's time series: one per second, so the logs plot over time.
pub const SERIES_PERIOD: Duration = Duration::from_secs(1);

/// A row's histograms.
#[derive(Clone, Default)]
pub struct Series {
    /// Ringshot sent: its report (whole-run histograms and the time series).
    pub tx: Option<Box<TxReport>>,
    /// Ringshot received: the gaps per interval, and when the first packet arrived.
    pub rx: Vec<GapInterval>,
    pub rx_started: Option<SystemTime>,
}

impl Series {
    /// The histograms of a sender's report and, when ringshot received too, the receiver's.
    pub fn new(tx: Option<&TxReport>, rx: Option<&RecvReport>) -> Series {
        Series {
            tx: tx.map(|t| Box::new(t.clone())),
            rx: rx.map(|r| r.timeline.clone()).unwrap_or_default(),
            rx_started: rx.and_then(|r| r.first_packet_at),
        }
    }

    /// Nothing to log.
    pub fn is_empty(&self) -> bool {
        self.tx.is_none() && self.rx.is_empty()
    }
}

impl std::fmt::Debug for Series {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Series(tx: {} intervals, rx: {} intervals)",
            self.tx.as_ref().map_or(0, |t| t.timeline.len()),
            self.rx.len()
        )
    }
}
