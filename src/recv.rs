//! The draining receiver (being written).
