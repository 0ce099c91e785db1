//! The io_uring backend (placeholder until the real one lands).
use std::io;
use std::net::UdpSocket;
use std::sync::Arc;

use super::{Slab, TxBackend};

#[derive(Debug)]
pub struct UringBackend;

impl UringBackend {
    pub fn new(
        _sock: UdpSocket,
        _gso: bool,
        _cfg: &crate::SenderConfig,
        _slab: Arc<Slab>,
    ) -> io::Result<UringBackend> {
        Err(io::Error::new(io::ErrorKind::Unsupported, "not yet"))
    }
}
impl TxBackend for UringBackend {
    fn name(&self) -> &'static str {
        "uring"
    }
    fn gso_active(&self) -> bool {
        false
    }
    fn submit(
        &mut self,
        _: &Slab,
        _: &[super::TxDesc],
        _: &mut crate::stats::TxMetrics,
    ) -> io::Result<usize> {
        Ok(0)
    }
    fn reap(
        &mut self,
        _: bool,
        _: &mut dyn FnMut(u32),
        _: &mut crate::stats::TxMetrics,
    ) -> io::Result<()> {
        Ok(())
    }
    fn in_flight(&self) -> usize {
        0
    }
}
