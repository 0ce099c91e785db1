//! The draining receiver (being written).
pub mod seq;
