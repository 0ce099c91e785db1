//! The in-test sender: sends ringshot pattern packets only while fewer than its window are
//! unacknowledged, and reads and checks every ACK the way the engine's ACK core does, so the
//! tests can compare ACK-side counts exactly.

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use ringshot::device::{Emulator, USRP2_CODE_RESTART};
use ringshot::flow::{AckFormat, AckParser, EventSet};
use ringshot::wire::header::{fill_pattern, Packet, Repr, FLAG_PATTERN};

use super::PAYLOAD;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Finished,
    Stalled,
    Restarted,
}

#[derive(Debug)]
pub struct TestTx {
    pub sent: u64,
    /// Acknowledged position, in sequence space.
    pub acked: u64,
    pub accepted: u64,
    pub stale: u64,
    pub beyond: u64,
    pub malformed: u64,
    pub events: BTreeMap<&'static str, u64>,
    pub restarts: u64,
    pub outcome: Outcome,
}

/// Sends ringshot pattern packets only while fewer than `window` are unacknowledged; reads and
/// checks every ACK like the engine's ACK core. Its restart policy is the engine's: stop.
pub struct TestSender {
    sock: UdpSocket,
    dest: SocketAddr,
    format: AckFormat,
    parser: Box<dyn AckParser>,
    start: u64,
    window: u64,
    buf: Vec<u8>,
    rx: Vec<u8>,
    pub st: TestTx,
}

impl TestSender {
    pub fn new(dest: SocketAddr, format: AckFormat, start: u64, window: u64) -> TestSender {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        TestSender::on(sock, dest, format, start, window)
    }

    /// A sender on a socket of the caller's (the emulator follows one source address).
    pub fn on(
        sock: UdpSocket,
        dest: SocketAddr,
        format: AckFormat,
        start: u64,
        window: u64,
    ) -> TestSender {
        sock.set_nonblocking(true).unwrap();
        ringshot::os::set_recv_buffer(&sock, 16 << 20);
        TestSender {
            sock,
            dest,
            format,
            parser: format.parser(start),
            start,
            window,
            buf: vec![0u8; PAYLOAD],
            rx: vec![0u8; 2048],
            st: TestTx {
                sent: 0,
                acked: start,
                accepted: 0,
                stale: 0,
                beyond: 0,
                malformed: 0,
                events: BTreeMap::new(),
                restarts: 0,
                outcome: Outcome::Finished,
            },
        }
    }

    pub fn send_next(&mut self) {
        let seq = self.start + self.st.sent;
        let mut p = Packet::new_unchecked(&mut self.buf[..]);
        Repr {
            flags: FLAG_PATTERN,
            stream_id: 0,
            seq,
        }
        .emit(&mut p);
        fill_pattern(seq, p.payload_mut());
        loop {
            match self.sock.send_to(&self.buf, self.dest) {
                Ok(_) => break,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) => panic!("send: {e}"),
            }
        }
        self.st.sent += 1;
    }

    /// Reads every ACK queued; returns whether one announced a device restart.
    pub fn drain_acks(&mut self) -> bool {
        let mut restarted = false;
        loop {
            let n = match self.sock.recv_from(&mut self.rx) {
                Ok((n, _)) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return restarted,
                Err(e) => panic!("recv: {e}"),
            };
            let st = &mut self.st;
            let u = match self.parser.parse(&self.rx[..n], st.acked) {
                Ok(u) => u,
                Err(_) => {
                    st.malformed += 1;
                    continue;
                }
            };
            match u.acked_packets {
                Some(p) if p > self.start + st.sent => st.beyond += 1,
                Some(p) if p < st.acked => st.stale += 1,
                Some(p) => {
                    st.accepted += 1;
                    st.acked = p;
                }
                None => st.accepted += 1,
            }
            for (e, name) in EventSet::NAMED {
                if u.events.contains_any(e) {
                    *st.events.entry(name).or_default() += 1;
                }
            }
            // RESTART (native), the emulator's USRP2 restart code, CMDERR (CHDR).
            let restart = u.events.contains_any(EventSet::RESTART)
                || u.events.contains_any(EventSet::CMD_ERROR)
                || (self.format != AckFormat::Native
                    && self.format != AckFormat::Chdr
                    && u.events.0 == u16::from(USRP2_CODE_RESTART));
            if restart {
                st.restarts += 1;
                restarted = true;
            }
        }
    }

    /// Streams `n` packets (or stops on a restart or a 2 s stall), then keeps reading ACKs until
    /// the emulator has stopped.
    pub fn run(mut self, n: u64, emu: &Emulator) -> TestTx {
        let mut progress = (self.st.acked, Instant::now());
        while self.st.sent < n {
            if self.drain_acks() {
                self.st.outcome = Outcome::Restarted;
                break;
            }
            if self.st.acked != progress.0 {
                progress = (self.st.acked, Instant::now());
            }
            if self.start + self.st.sent - self.st.acked < self.window {
                self.send_next();
            } else if progress.1.elapsed() > Duration::from_secs(2) {
                self.st.outcome = Outcome::Stalled;
                break;
            } else {
                std::thread::sleep(Duration::from_micros(50));
            }
        }
        while !emu.is_finished() {
            self.drain_acks();
            std::thread::sleep(Duration::from_millis(1));
        }
        self.drain_acks();
        self.st
    }
}
