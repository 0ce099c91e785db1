//! UDP send offload (USO): one WSASendMsg carries a run of equal-size packets (the last may be
//! shorter) as a gather of their slab buffers, with a UDP_SEND_MSG_SIZE control message giving
//! the segment size; the stack cuts it into one datagram per packet.
//!
//! Each slot owns one [`UsoMsg`] (the message header, the gather list and the control message),
//! used when a run starts at that slot. It lives in a boxed array that never moves, and is only
//! rewritten while its slot is idle, so the system may read it for as long as the send is in
//! flight.

use std::cell::UnsafeCell;

use windows_sys::Win32::Networking::WinSock::{
    IPPROTO_UDP, UDP_SEND_MSG_SIZE, WSABUF, WSAEINVAL, WSAEMSGSIZE, WSAEOPNOTSUPP, WSAMSG,
};

use crate::sys::{Slab, TxDesc, GSO_MAX_SEGMENTS};

/// The control message of a super-packet: a WSACMSGHDR (length, level, type) followed by the
/// segment size, padded to the header's alignment (WSA_CMSG_SPACE of a u32).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct UsoControl {
    /// WSA_CMSG_LEN(4): the header and the u32, without the padding.
    pub len: usize,
    pub level: i32,
    pub kind: i32,
    /// Bytes of every datagram but the last.
    pub segment: u32,
    pad: u32,
}

impl UsoControl {
    pub(crate) fn new(segment: u32) -> UsoControl {
        UsoControl {
            len: std::mem::size_of::<usize>() + 2 * std::mem::size_of::<i32>() + 4,
            level: IPPROTO_UDP,
            kind: UDP_SEND_MSG_SIZE,
            segment,
            pad: 0,
        }
    }
}

/// One super-packet's message: header, gather list, control message.
#[repr(C)]
pub(crate) struct UsoMsg {
    msg: WSAMSG,
    bufs: [WSABUF; GSO_MAX_SEGMENTS],
    control: UsoControl,
}

/// One [`UsoMsg`] per slot; the system may read it while the send it describes is in flight, so
/// it is only reached through raw pointers.
pub(crate) struct UsoCell(UnsafeCell<UsoMsg>);

impl UsoCell {
    pub(crate) fn new() -> UsoCell {
        UsoCell(UnsafeCell::new(UsoMsg {
            msg: WSAMSG::default(),
            bufs: [WSABUF {
                len: 0,
                buf: std::ptr::null_mut(),
            }; GSO_MAX_SEGMENTS],
            control: UsoControl::default(),
        }))
    }

    /// Fills the message for `run` (at most [`GSO_MAX_SEGMENTS`] packets, each `run[0].len` bytes
    /// but the last, which may be shorter) and returns it for WSASendMsg.
    ///
    /// # Safety
    ///
    /// No send that uses this message may be in flight, and every packet of `run` must lie in
    /// `slab` and stay untouched until the send it is part of has completed.
    pub(crate) unsafe fn fill(&self, slab: &Slab, run: &[TxDesc]) -> *const WSAMSG {
        debug_assert!(!run.is_empty() && run.len() <= GSO_MAX_SEGMENTS);
        let m = self.0.get();
        // SAFETY: no send using this message is in flight (the caller's promise), so nothing
        // else reads or writes it; the pointers stored point into the same boxed, unmoving cell.
        unsafe {
            // Packets whose bytes run on in the slab share one WSABUF (see `Slab::spans`).
            let mut next = (*m).bufs.iter_mut();
            let used = slab.spans(run, |buf, len| {
                let b = next.next().expect("at most one span per packet");
                *b = WSABUF {
                    len: len as u32,
                    buf,
                };
            });
            (*m).control = UsoControl::new(run[0].len);
            (*m).msg = WSAMSG {
                name: std::ptr::null_mut(),
                namelen: 0,
                lpBuffers: (*m).bufs.as_mut_ptr(),
                dwBufferCount: used as u32,
                Control: WSABUF {
                    len: std::mem::size_of::<UsoControl>() as u32,
                    buf: std::ptr::addr_of_mut!((*m).control).cast(),
                },
                dwFlags: 0,
            };
            std::ptr::addr_of!((*m).msg)
        }
    }
}

/// Whether a super-packet's failure with WinSock error `code` means the path cannot take USO
/// (the packets then go again one datagram each, and USO stays off).
pub(crate) fn uso_refused(code: i32) -> bool {
    matches!(code, WSAEINVAL | WSAEMSGSIZE | WSAEOPNOTSUPP)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The control message's bytes: a 16-byte WSACMSGHDR (cmsg_len = 20, IPPROTO_UDP,
    /// UDP_SEND_MSG_SIZE), the segment size, 4 bytes of padding: WSA_CMSG_SPACE(4) = 24.
    #[test]
    fn control_message_bytes() {
        let c = UsoControl::new(1200);
        assert_eq!(std::mem::size_of::<UsoControl>(), 24);
        // SAFETY: UsoControl is repr(C) plain data of 24 bytes with no uninitialised padding
        // (the padding is a field).
        let bytes: [u8; 24] = unsafe { std::mem::transmute(c) };
        let want: [u8; 24] = [
            20, 0, 0, 0, 0, 0, 0, 0, // cmsg_len
            17, 0, 0, 0, // IPPROTO_UDP
            2, 0, 0, 0, // UDP_SEND_MSG_SIZE
            0xb0, 0x04, 0, 0, // 1200
            0, 0, 0, 0,
        ];
        assert_eq!(bytes, want);
    }

    #[test]
    fn message_gathers_the_run() {
        let (slab, _tokens) = Slab::new(8, 2048);
        let run = [
            TxDesc { slot: 5, len: 1000 },
            TxDesc { slot: 2, len: 1000 },
            TxDesc { slot: 7, len: 300 },
        ];
        let cell = UsoCell::new();
        // SAFETY: nothing is in flight; the slots are in the slab.
        let msg = unsafe { &*cell.fill(&slab, &run) };
        assert_eq!(msg.dwBufferCount, 3);
        assert!(msg.name.is_null());
        // SAFETY: the gather list has dwBufferCount entries inside the cell.
        let bufs = unsafe { std::slice::from_raw_parts(msg.lpBuffers, 3) };
        for (b, p) in bufs.iter().zip(&run) {
            assert_eq!(b.len, p.len);
            assert_eq!(b.buf, slab.slot_ptr(p.slot));
        }
        // SAFETY: Control points at the cell's UsoControl.
        let c = unsafe { *msg.Control.buf.cast::<UsoControl>() };
        assert_eq!(c, UsoControl::new(1000));
        assert_eq!(msg.Control.len, 24);
    }

    #[test]
    fn consecutive_full_slots_share_one_buffer() {
        let (slab, _tokens) = Slab::new(8, 64);
        let run: Vec<TxDesc> = (2..6).map(|slot| TxDesc { slot, len: 64 }).collect();
        let cell = UsoCell::new();
        // SAFETY: nothing is in flight; the slots are in the slab.
        let msg = unsafe { &*cell.fill(&slab, &run) };
        assert_eq!(msg.dwBufferCount, 1);
        // SAFETY: the gather list has dwBufferCount entries inside the cell.
        let b = unsafe { *msg.lpBuffers };
        assert_eq!((b.buf, b.len), (slab.slot_ptr(2), 4 * 64));
        // SAFETY: Control points at the cell's UsoControl.
        let c = unsafe { *msg.Control.buf.cast::<UsoControl>() };
        assert_eq!(c, UsoControl::new(64), "the segment size is the packet's");
    }

    #[test]
    fn refusals() {
        assert!(uso_refused(WSAEINVAL));
        assert!(uso_refused(WSAEMSGSIZE));
        assert!(!uso_refused(
            windows_sys::Win32::Networking::WinSock::WSAENOBUFS
        ));
    }
}
