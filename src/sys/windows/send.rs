//! The per-packet baseline on Windows: one blocking `send` per datagram on the connected socket,
//! finished before `submit` returns (the readiness model). A write timeout bounds a send that
//! would block, so `submit` never waits long.

use std::io;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use crate::fault::{FaultInjector, FaultPlan};
use crate::stats::TxMetrics;
use crate::sys::{SendErrorKind, Slab, TxBackend, TxDesc};

/// Longest a single send may block before `submit` hands control back.
const SEND_TIMEOUT: Duration = Duration::from_millis(5);

/// One `send` per packet. See the module documentation.
pub(crate) struct SendBackend {
    sock: UdpSocket,
    /// Slots sent and not yet reported (allocated once, the slot count).
    done: Vec<u32>,
    faults: Option<FaultInjector>,
}

impl SendBackend {
    pub(crate) fn new(sock: UdpSocket, slots: usize, plan: Option<FaultPlan>) -> io::Result<Self> {
        sock.set_nonblocking(false)?;
        sock.set_write_timeout(Some(SEND_TIMEOUT))?;
        Ok(SendBackend {
            sock,
            done: Vec::with_capacity(slots),
            faults: plan.map(FaultInjector::new),
        })
    }

    /// One datagram; `Ok(false)` when refused for now (counted).
    fn send_one(&mut self, slab: &Slab, p: TxDesc, m: &mut TxMetrics) -> io::Result<bool> {
        let injected = self.faults.as_mut().and_then(|f| f.send_error(false));
        let result = match injected {
            Some(errno) => Err(io::Error::from_raw_os_error(super::seam::wsa_for(errno))),
            None => {
                debug_assert!(p.len as usize <= slab.slot_size());
                // SAFETY: the engine leaves this slot alone until `reap`; it holds ≥ `p.len` bytes.
                let bytes =
                    unsafe { std::slice::from_raw_parts(slab.slot_ptr(p.slot), p.len as usize) };
                m.syscalls += 1;
                self.sock.send(bytes)
            }
        };
        match result {
            Ok(_) => {
                m.packets += 1;
                m.bytes += u64::from(p.len);
                self.done.push(p.slot);
                Ok(true)
            }
            Err(e) => {
                let code = e.raw_os_error().unwrap_or(0);
                m.record_error(super::errno::send_errno(code));
                match super::errno::send_error_kind(code) {
                    SendErrorKind::Other => Err(e),
                    // Socket buffer full: the same packet goes again once there is room.
                    SendErrorKind::WouldBlock => Ok(false),
                    // Refused for a transient reason: the packet is re-sent on the next call.
                    _ => {
                        m.resent_packets += 1;
                        Ok(false)
                    }
                }
            }
        }
    }
}

impl TxBackend for SendBackend {
    fn name(&self) -> &'static str {
        "send"
    }

    fn gso_active(&self) -> bool {
        false
    }

    fn submit(&mut self, slab: &Slab, pkts: &[TxDesc], m: &mut TxMetrics) -> io::Result<usize> {
        let mut sent = 0;
        for &p in pkts {
            let t0 = Instant::now();
            let r = self.send_one(slab, p, m);
            m.record_submit(
                t0.elapsed().as_nanos() as u64,
                usize::from(matches!(r, Ok(true))),
            );
            if let Some(f) = &self.faults {
                m.injected = f.injected();
            }
            match r {
                Ok(true) => sent += 1,
                Ok(false) => break,
                Err(e) if sent == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(sent)
    }

    fn reap(
        &mut self,
        _wait: bool,
        done: &mut dyn FnMut(u32),
        _m: &mut TxMetrics,
    ) -> io::Result<()> {
        crate::sys::hand_back(&mut self.done, done);
        Ok(())
    }

    fn in_flight(&self) -> usize {
        self.done.len()
    }
}
