//! The contract between the portable engine and the OS send backends: what the engine hands a
//! backend ([`TxDesc`]), what a backend implements ([`TxBackend`]), what a refused send means
//! whatever the OS ([`SendErrorKind`]), and the GSO arithmetic every backend shares.
//!
//! It serves both I/O models: readiness-style backends (`send`, `sendmmsg`) finish a submission
//! before `submit` returns, completion-style backends (io_uring; Windows overlapped I/O) keep the
//! packet buffers until the kernel reports them done through `reap`. Slot ownership stays in the
//! engine: a backend only sees slot indices and reads the slab through raw pointers while the
//! engine holds the tokens.

use std::io;

use super::Slab;
use crate::stats::TxMetrics;

/// What a failed send means, whatever the OS: each backend turns its OS's error codes into one
/// of these at the syscall boundary and reacts to the kind, never to a raw code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendErrorKind {
    /// The socket buffer is full: wait (bounded) until writable, then resend.
    WouldBlock,
    /// The queueing layer below the socket is full: resend later.
    NoBuffers,
    /// An ICMP port unreachable came back for an earlier datagram: resend later.
    Refused,
    /// A signal cut the call short before anything was sent.
    Interrupted,
    /// The path cannot segment a GSO super-packet: send one datagram per packet from now on.
    #[cfg_attr(windows, allow(dead_code))] // Windows sends no USO super-packets yet
    GsoRefused,
    /// Anything else ends the stream.
    Other,
}

/// One packet for a backend: the slot holding it and its UDP payload length.
///
/// ```
/// use ringshot::backend::{Slab, TxDesc};
///
/// let (slab, mut tokens) = Slab::new(4, 1472);
/// slab.bytes_mut(&mut tokens[2])[..5].copy_from_slice(b"hello");
/// // The engine hands a backend the slot's index and how many of its bytes to send.
/// let d = TxDesc { slot: tokens[2].index(), len: 5 };
/// assert_eq!(&slab.bytes(&tokens[d.slot as usize])[..d.len as usize], b"hello");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxDesc {
    /// Index of the [`Slab`] slot holding the packet.
    pub slot: u32,
    /// UDP payload bytes at the start of the slot (at most the slab's slot size).
    pub len: u32,
}

/// The contract between the engine and an OS send backend.
///
/// The engine's own backends are private and chosen with [`BackendChoice`]; the trait is public
/// so the contract can be read, tested against and mocked. A readiness-style backend that
/// "sends" into memory, counting what it is given, with the engine's part played by hand:
///
/// ```
/// use ringshot::backend::{Slab, TxBackend, TxDesc};
/// use ringshot::stats::TxMetrics;
///
/// /// Takes every packet at once and keeps only counts.
/// #[derive(Default)]
/// struct Counting {
///     packets: u64,
///     bytes: u64,
///     first_bytes: Vec<u8>,
///     finished: Vec<u32>,
/// }
///
/// impl TxBackend for Counting {
///     fn name(&self) -> &'static str {
///         "counting"
///     }
///     fn gso_active(&self) -> bool {
///         false
///     }
///     fn submit(&mut self, slab: &Slab, pkts: &[TxDesc], m: &mut TxMetrics) -> std::io::Result<usize> {
///         for p in pkts {
///             // A backend reads a slot through its pointer: the engine holds the slot's token
///             // for it until `reap` hands the slot back.
///             // SAFETY: `p.slot` is in range (`slot_ptr` checks) and the engine writes no slot
///             // it has submitted; the slot holds at least one byte.
///             self.first_bytes.push(unsafe { *slab.slot_ptr(p.slot) });
///             self.packets += 1;
///             self.bytes += u64::from(p.len);
///             self.finished.push(p.slot);
///         }
///         m.record_submit(1_000, pkts.len()); // one "syscall" for the batch, 1 µs
///         Ok(pkts.len())
///     }
///     fn reap(&mut self, _wait: bool, done: &mut dyn FnMut(u32), _m: &mut TxMetrics) -> std::io::Result<()> {
///         self.finished.drain(..).for_each(done); // all copied already: hand every slot back
///         Ok(())
///     }
///     fn in_flight(&self) -> usize {
///         self.finished.len()
///     }
/// }
///
/// let (slab, mut tokens) = Slab::new(8, 64);
/// for (i, t) in tokens.iter_mut().enumerate() {
///     slab.bytes_mut(t)[0] = i as u8;
/// }
/// let pkts: Vec<TxDesc> = tokens.iter().map(|t| TxDesc { slot: t.index(), len: 64 }).collect();
/// let mut backend = Counting::default();
/// let mut m = TxMetrics::new();
/// assert_eq!(backend.submit(&slab, &pkts[..5], &mut m).unwrap(), 5);
/// assert_eq!(backend.in_flight(), 5);
/// let mut back = Vec::new();
/// backend.reap(false, &mut |slot| back.push(slot), &mut m).unwrap();
/// assert_eq!((back, backend.in_flight()), (vec![0, 1, 2, 3, 4], 0));
/// // The provided `cancel` reaps what is left and reports nothing held by the kernel.
/// backend.submit(&slab, &pkts[5..], &mut m).unwrap();
/// assert_eq!(backend.cancel(std::time::Duration::ZERO, &mut |_| {}, &mut m), 0);
/// assert_eq!((backend.packets, backend.bytes, m.submits), (8, 512, 2));
/// assert_eq!(backend.first_bytes, [0, 1, 2, 3, 4, 5, 6, 7]);
/// ```
///
/// [`BackendChoice`]: crate::sys::BackendChoice
pub trait TxBackend: Send {
    /// Short name used in reports: `uring`, `mmsg` or `send`.
    fn name(&self) -> &'static str;

    /// Whether UDP GSO is in use now (it can be switched off for good after a kernel refusal).
    fn gso_active(&self) -> bool;

    /// Hands a prefix of `pkts` to the kernel and returns how many were accepted (0 when the
    /// backend is saturated or a recoverable error stopped it: reap with `wait`, then call
    /// again). Packets are sent in order and none is dropped: recoverable errors (EAGAIN,
    /// ENOBUFS, ECONNREFUSED, a GSO refusal) are counted and the packets kept for the next call.
    /// Never blocks for long (a wait for writability is bounded to a few milliseconds) and never
    /// loops on an error: the engine decides whether to call again, so it can honour its stop
    /// flag and stall timeout. Every submit syscall is timed into `m`.
    fn submit(&mut self, slab: &Slab, pkts: &[TxDesc], m: &mut TxMetrics) -> io::Result<usize>;

    /// Calls `done` for every slot the kernel has finished with (for SEND_ZC: after the
    /// notification). With `wait`, blocks until at least one slot is done if any is in flight,
    /// but never longer than a few milliseconds: the caller loops, checking stop and timeouts.
    fn reap(&mut self, wait: bool, done: &mut dyn FnMut(u32), m: &mut TxMetrics) -> io::Result<()>;

    /// Slots accepted by `submit` and not yet reported by `reap`.
    fn in_flight(&self) -> usize;

    /// Hands the kernel again, now, what the backend holds for a re-send (packets a
    /// recoverable error sent back after `submit` accepted them). The engine calls it while it
    /// waits for the flow-control window: those packets are inside the window already, so they
    /// must not wait for it. Backends that re-send inside `submit` hold nothing: a no-op.
    fn flush(&mut self, m: &mut TxMetrics) -> io::Result<()> {
        let _ = m;
        Ok(())
    }

    /// Ends the stream early: cancels every request still in flight and waits, at most
    /// `timeout`, for each one's final completion (for zero-copy sends, the notification),
    /// reporting every finished slot through `done`. Returns how many slots the kernel still
    /// held when the time ran out (0 on a clean end); a backend that returns more than 0 keeps
    /// the slab alive for good rather than free memory the kernel may still read.
    ///
    /// The books: once `cancel` returns, every packet `submit` ever accepted is counted exactly
    /// once, in `packets` if it left, else in `failed_packets` (a fatal error, a re-send the end
    /// overtook, a request cancelled or still held by the kernel when the time ran out). The
    /// engine counts only the packets no `submit` accepted.
    fn cancel(
        &mut self,
        timeout: std::time::Duration,
        done: &mut dyn FnMut(u32),
        m: &mut TxMetrics,
    ) -> usize {
        // Readiness backends finish every send inside `submit` and count it there: nothing to
        // cancel, nothing left to count.
        let _ = timeout;
        let _ = self.reap(false, done, m);
        self.in_flight()
    }
}

/// A backend ready to send, what set-up had to say, and a second handle on its socket (for the
/// ACK core: devices answer the source port). What [`open_tx`] returns.
pub type OpenedTx = (Box<dyn TxBackend>, Vec<String>, std::net::UdpSocket);

/// Readiness backends (`send`, `mmsg`, the Windows `send`): the kernel copied every accepted
/// datagram before the call returned, so `reap` hands every listed slot back at once.
pub(crate) fn hand_back(finished: &mut Vec<u32>, done: &mut dyn FnMut(u32)) {
    finished.drain(..).for_each(done);
}

/// Largest number of segments the kernel takes in one UDP GSO send.
///
/// ```
/// use ringshot::backend::{gso_run_len, TxDesc, GSO_MAX_SEGMENTS};
///
/// // Small packets: the segment limit, not the byte limit, ends a run.
/// let pkts = vec![TxDesc { slot: 0, len: 64 }; 100];
/// assert_eq!(gso_run_len(&pkts), GSO_MAX_SEGMENTS);
/// ```
pub const GSO_MAX_SEGMENTS: usize = 64;
/// Largest UDP payload of one GSO super-packet.
///
/// ```
/// use ringshot::backend::{gso_run_len, TxDesc, GSO_MAX_BYTES};
///
/// // 1472-byte packets: 44 of them fit in 65,507 bytes, 45 would not.
/// let pkts = vec![TxDesc { slot: 0, len: 1472 }; 100];
/// assert_eq!(gso_run_len(&pkts), 44);
/// assert!(44 * 1472 <= GSO_MAX_BYTES && 45 * 1472 > GSO_MAX_BYTES);
/// ```
pub const GSO_MAX_BYTES: usize = 65_507;

/// Most segments one GSO super-packet of `payload`-byte datagrams may carry: 64, fewer where 64
/// would pass 65,507 bytes (44 at 1472 B), at least 1.
pub fn gso_segments_max(payload: usize) -> usize {
    GSO_MAX_SEGMENTS.min(GSO_MAX_BYTES / payload.max(1)).max(1)
}

/// Length of the run of packets at the start of `pkts` that can go out as one GSO super-packet:
/// all the same size except the last, which may be shorter; at most 64 segments and 65,507 bytes.
/// 0 for no packets; a zero-length packet goes alone.
///
/// ```
/// use ringshot::backend::{gso_run_len, TxDesc};
///
/// let d = |lens: &[u32]| -> Vec<TxDesc> {
///     lens.iter().enumerate().map(|(i, &len)| TxDesc { slot: i as u32, len }).collect()
/// };
/// assert_eq!(gso_run_len(&d(&[1000, 1000, 1000])), 3);
/// assert_eq!(gso_run_len(&d(&[1000, 1000, 400, 1000])), 3); // a shorter one ends the run
/// assert_eq!(gso_run_len(&d(&[1000, 1200])), 1); // a longer one starts the next
/// assert_eq!(gso_run_len(&d(&[])), 0);
/// ```
pub fn gso_run_len(pkts: &[TxDesc]) -> usize {
    let Some(first) = pkts.first() else { return 0 };
    let seg = first.len as usize;
    if seg == 0 {
        return 1;
    }
    let max = gso_segments_max(seg);
    let mut n = 1;
    while n < pkts.len() && n < max {
        let len = pkts[n].len as usize;
        if len > seg || len == 0 {
            break;
        }
        n += 1;
        if len < seg {
            break; // a shorter segment must be the last one
        }
    }
    n
}

/// The one place a negative io_uring CQE result becomes an `io::Error`.
#[cfg(ringshot_uring)]
pub fn cqe_result(res: i32) -> io::Result<u32> {
    if res < 0 {
        Err(io::Error::from_raw_os_error(-res))
    } else {
        Ok(res as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(lens: &[u32]) -> Vec<TxDesc> {
        lens.iter()
            .enumerate()
            .map(|(i, &len)| TxDesc {
                slot: i as u32,
                len,
            })
            .collect()
    }

    #[test]
    fn gso_runs() {
        assert_eq!(gso_run_len(&d(&[])), 0);
        assert_eq!(gso_run_len(&d(&[100])), 1);
        assert_eq!(gso_run_len(&d(&[100, 100, 100])), 3);
        assert_eq!(gso_run_len(&d(&[100, 100, 50, 100])), 3);
        assert_eq!(gso_run_len(&d(&[100, 200])), 1);
        assert_eq!(gso_run_len(&d(&[1472; 100])), 44);
        assert_eq!(gso_run_len(&d(&[64; 100])), 64);
        assert_eq!(gso_run_len(&d(&[65_507, 65_507])), 1);
        assert_eq!(gso_segments_max(1472), 44);
        assert_eq!(gso_segments_max(1500), 43);
        assert_eq!(gso_segments_max(64), 64);
        assert_eq!(gso_segments_max(65_507), 1);
        assert_eq!(gso_segments_max(0), 64);
    }

    #[cfg(ringshot_uring)]
    #[test]
    fn negative_cqe_is_errno() {
        assert_eq!(cqe_result(5).unwrap(), 5);
        assert_eq!(
            cqe_result(-libc::ENOBUFS).unwrap_err().raw_os_error(),
            Some(libc::ENOBUFS)
        );
    }
}
