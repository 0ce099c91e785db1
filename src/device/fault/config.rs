//! [`FaultConfig`]: what to inject, validated once, with its builder.

use std::time::Duration;

use super::{MAX_ACK_DELAY, MAX_REORDER_DEPTH};
use crate::fault::SplitMix64;

/// A validated fault configuration. Build it with [`FaultConfig::builder`]; the default injects
/// nothing.
///
/// ```
/// use std::time::Duration;
/// use ringshot::device::FaultConfig;
///
/// let cfg = FaultConfig::builder()
///     .seed(7)
///     .drop_data(0.01)
///     .reorder_data(0.02)
///     .reorder_depth(4)
///     .delay_acks(Duration::from_micros(200))
///     .restart_after(100_000)
///     .build()
///     .unwrap();
/// assert_eq!((cfg.seed(), cfg.reorder_depth(), cfg.restart_after()), (7, 4, Some(100_000)));
/// assert!(cfg.data_faults() && cfg.ack_faults());
/// assert!(!FaultConfig::none().data_faults());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct FaultConfig {
    pub(crate) seed: u64,
    pub(crate) drop_data: f64,
    pub(crate) dup_data: f64,
    pub(crate) reorder_data: f64,
    pub(crate) reorder_depth: usize,
    pub(crate) drop_acks: f64,
    pub(crate) dup_acks: f64,
    pub(crate) reorder_acks: f64,
    pub(crate) corrupt_acks: f64,
    pub(crate) delay_acks: Duration,
    pub(crate) restart_after: Option<u64>,
}

impl Default for FaultConfig {
    fn default() -> FaultConfig {
        FaultConfig {
            seed: 0,
            drop_data: 0.0,
            dup_data: 0.0,
            reorder_data: 0.0,
            reorder_depth: 8,
            drop_acks: 0.0,
            dup_acks: 0.0,
            reorder_acks: 0.0,
            corrupt_acks: 0.0,
            delay_acks: Duration::ZERO,
            restart_after: None,
        }
    }
}

impl FaultConfig {
    /// No faults (seed 0, reorder depth 8).
    pub fn none() -> FaultConfig {
        FaultConfig::default()
    }

    pub fn builder() -> FaultConfigBuilder {
        FaultConfigBuilder {
            cfg: FaultConfig::default(),
        }
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }
    pub fn reorder_depth(&self) -> usize {
        self.reorder_depth
    }
    pub fn restart_after(&self) -> Option<u64> {
        self.restart_after
    }

    /// Whether any data-path fault (restart included) is configured.
    pub fn data_faults(&self) -> bool {
        self.drop_data + self.dup_data + self.reorder_data > 0.0 || self.restart_after.is_some()
    }

    /// Whether any ACK-path fault is configured.
    pub fn ack_faults(&self) -> bool {
        self.drop_acks + self.dup_acks + self.reorder_acks + self.corrupt_acks > 0.0
            || !self.delay_acks.is_zero()
    }

    /// The independent generators of the two paths, derived from the seed.
    pub(super) fn streams(&self) -> (SplitMix64, SplitMix64) {
        let mut root = SplitMix64::new(self.seed);
        (
            SplitMix64::new(root.next_u64()),
            SplitMix64::new(root.next_u64()),
        )
    }
}

/// Builder for [`FaultConfig`]; [`build`](Self::build) validates.
///
/// ```
/// use ringshot::device::FaultConfig;
///
/// let err = FaultConfig::builder().dup_acks(1.5).build().unwrap_err();
/// assert_eq!(err.field, "dup_acks");
/// // Each packet gets at most one fault.
/// let err = FaultConfig::builder().drop_data(0.6).dup_data(0.6).build().unwrap_err();
/// assert_eq!(err.field, "drop_data");
/// ```
#[derive(Debug, Clone)]
pub struct FaultConfigBuilder {
    cfg: FaultConfig,
}

impl FaultConfigBuilder {
    pub fn seed(mut self, seed: u64) -> Self {
        self.cfg.seed = seed;
        self
    }
    /// Probability that a data packet is dropped.
    pub fn drop_data(mut self, p: f64) -> Self {
        self.cfg.drop_data = p;
        self
    }
    /// Probability that a data packet is delivered twice.
    pub fn dup_data(mut self, p: f64) -> Self {
        self.cfg.dup_data = p;
        self
    }
    /// Probability that a data packet is held back and delivered after
    /// [`reorder_depth`](Self::reorder_depth) later packets.
    pub fn reorder_data(mut self, p: f64) -> Self {
        self.cfg.reorder_data = p;
        self
    }
    /// How many later packets overtake a reordered one (1..=[`MAX_REORDER_DEPTH`]); at most this
    /// many packets are held at once.
    pub fn reorder_depth(mut self, n: usize) -> Self {
        self.cfg.reorder_depth = n;
        self
    }
    pub fn drop_acks(mut self, p: f64) -> Self {
        self.cfg.drop_acks = p;
        self
    }
    pub fn dup_acks(mut self, p: f64) -> Self {
        self.cfg.dup_acks = p;
        self
    }
    /// Probability that an ACK is held back and sent after the next one.
    pub fn reorder_acks(mut self, p: f64) -> Self {
        self.cfg.reorder_acks = p;
        self
    }
    /// Probability that an ACK is replaced by a damaged copy.
    pub fn corrupt_acks(mut self, p: f64) -> Self {
        self.cfg.corrupt_acks = p;
        self
    }
    /// Every ACK leaves this much later.
    pub fn delay_acks(mut self, d: Duration) -> Self {
        self.cfg.delay_acks = d;
        self
    }
    /// The device restarts after every `n` data packets it receives.
    pub fn restart_after(mut self, n: u64) -> Self {
        self.cfg.restart_after = Some(n);
        self
    }

    pub fn build(self) -> Result<FaultConfig, FaultConfigError> {
        let c = self.cfg;
        let err = |field, reason: String| Err(FaultConfigError::new(field, reason));
        for (field, p) in [
            ("drop_data", c.drop_data),
            ("dup_data", c.dup_data),
            ("reorder_data", c.reorder_data),
            ("drop_acks", c.drop_acks),
            ("dup_acks", c.dup_acks),
            ("reorder_acks", c.reorder_acks),
            ("corrupt_acks", c.corrupt_acks),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return err(field, format!("{p} is not a probability between 0 and 1"));
            }
        }
        if c.drop_data + c.dup_data + c.reorder_data > 1.0 {
            return err(
                "drop_data",
                "drop_data + dup_data + reorder_data exceed 1 (each packet gets at most one fault)"
                    .into(),
            );
        }
        if c.drop_acks + c.dup_acks + c.reorder_acks + c.corrupt_acks > 1.0 {
            return err(
                "drop_acks",
                "drop_acks + dup_acks + reorder_acks + corrupt_acks exceed 1 (each ACK gets at \
                 most one fault)"
                    .into(),
            );
        }
        if c.reorder_depth == 0 || c.reorder_depth > MAX_REORDER_DEPTH {
            return err(
                "reorder_depth",
                format!("must be between 1 and {MAX_REORDER_DEPTH} packets"),
            );
        }
        if c.delay_acks > MAX_ACK_DELAY {
            return err(
                "delay_acks",
                format!("must be at most {} µs", MAX_ACK_DELAY.as_micros()),
            );
        }
        if c.restart_after == Some(0) {
            return err("restart_after", "must be at least 1 packet".into());
        }
        Ok(c)
    }
}

/// A configuration value that cannot work: the builder option (`field`) and why.
///
/// ```
/// use ringshot::device::{FaultConfig, FaultConfigError};
///
/// let err: FaultConfigError = FaultConfig::builder().reorder_depth(0).build().unwrap_err();
/// assert_eq!(err.field, "reorder_depth");
/// ```
pub type FaultConfigError = crate::config::FieldError;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_validation_names_the_option() {
        let e = FaultConfig::builder().drop_data(1.5).build().unwrap_err();
        assert_eq!(e.field, "drop_data");
        assert!(e.to_string().starts_with("drop_data: "), "{e}");
        let e = FaultConfig::builder()
            .dup_acks(0.6)
            .corrupt_acks(0.6)
            .build()
            .unwrap_err();
        assert_eq!(e.field, "drop_acks");
        let e = FaultConfig::builder()
            .dup_data(f64::NAN)
            .build()
            .unwrap_err();
        assert_eq!(e.field, "dup_data");
        let e = FaultConfig::builder().reorder_depth(0).build().unwrap_err();
        assert_eq!(e.field, "reorder_depth");
        let e = FaultConfig::builder()
            .reorder_depth(MAX_REORDER_DEPTH + 1)
            .build()
            .unwrap_err();
        assert_eq!(e.field, "reorder_depth");
        let e = FaultConfig::builder().restart_after(0).build().unwrap_err();
        assert_eq!(e.field, "restart_after");
        let e = FaultConfig::builder()
            .delay_acks(Duration::from_secs(11))
            .build()
            .unwrap_err();
        assert_eq!(e.field, "delay_acks");
        let ok = FaultConfig::builder()
            .drop_data(0.5)
            .dup_data(0.25)
            .reorder_data(0.25)
            .build()
            .unwrap();
        assert!(ok.data_faults() && !ok.ack_faults());
        assert!(!FaultConfig::none().data_faults());
    }
}
