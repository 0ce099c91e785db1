//! Stable storage for `msghdr`s that point into the slab, with an optional UDP_SEGMENT (GSO)
//! control message. Used by the sendmsg, sendmmsg and io_uring SENDMSG paths alike.

use crate::sys::{Slab, TxDesc};

/// Control-message space for one u16 cmsg, 8-byte aligned (CMSG_SPACE(2) is 24 on 64-bit Linux).
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(8))]
pub struct CmsgBuf([u8; 32]);

/// Writes a UDP_SEGMENT cmsg carrying `segment_size` into `buf` and returns the control length.
#[cfg(ringshot_gso)]
pub fn write_gso_cmsg(buf: &mut CmsgBuf, segment_size: u16) -> usize {
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<u16>() as u32) } as usize;
    assert!(space <= buf.0.len());
    buf.0 = [0; 32];
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
    hdr.msg_control = buf.0.as_mut_ptr().cast();
    hdr.msg_controllen = space as _;
    // SAFETY: hdr points at `buf`, which is aligned and at least `space` bytes long, so
    // CMSG_FIRSTHDR returns a pointer inside it with room for a header and a u16.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&hdr);
        (*cmsg).cmsg_level = libc::SOL_UDP;
        (*cmsg).cmsg_type = libc::UDP_SEGMENT;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<u16>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<u16>(), segment_size);
    }
    space
}

#[cfg(not(ringshot_gso))]
pub fn write_gso_cmsg(_buf: &mut CmsgBuf, _segment_size: u16) -> usize {
    0
}

/// An all-zero msghdr.
pub fn empty_msghdr() -> libc::msghdr {
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    unsafe { std::mem::zeroed() }
}

/// An iovec pointing nowhere.
pub fn empty_iovec() -> libc::iovec {
    libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }
}

/// Points `hdr` at `pkts` (at most one iovec per packet in `iovs`; packets whose bytes run on in
/// the slab share one, see [`Slab::spans`]) with, when `gso` is set and there is more than one
/// packet, a UDP_SEGMENT cmsg in `cmsg` sized to the first packet. The kernel cuts segments by
/// that size whatever the iovecs, so sharing changes nothing on the wire.
///
/// The caller keeps `iovs` and `cmsg` alive and unmoved until the kernel is done with `hdr`.
pub fn fill_msghdr(
    hdr: &mut libc::msghdr,
    iovs: &mut [libc::iovec],
    cmsg: &mut CmsgBuf,
    slab: &Slab,
    pkts: &[TxDesc],
    gso: bool,
) {
    debug_assert!(!pkts.is_empty() && pkts.len() <= iovs.len());
    let mut next = iovs.iter_mut();
    let used = slab.spans(pkts, |base, len| {
        let iov = next.next().expect("at most one span per packet");
        iov.iov_base = base.cast();
        iov.iov_len = len;
    });
    *hdr = empty_msghdr();
    hdr.msg_iov = iovs.as_mut_ptr();
    hdr.msg_iovlen = used as _;
    if gso && pkts.len() > 1 {
        let len = write_gso_cmsg(cmsg, pkts[0].len as u16);
        hdr.msg_control = cmsg.0.as_mut_ptr().cast();
        hdr.msg_controllen = len as _;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn descs(slots: impl Iterator<Item = u32>, len: u32) -> Vec<TxDesc> {
        slots.map(|slot| TxDesc { slot, len }).collect()
    }

    #[test]
    fn a_super_packet_of_consecutive_full_slots_is_one_iovec() {
        let (slab, _tokens) = Slab::new(64, 64);
        let mut iovs = vec![empty_iovec(); 64];
        let mut hdr = empty_msghdr();
        let mut cmsg = CmsgBuf::default();
        fill_msghdr(
            &mut hdr,
            &mut iovs,
            &mut cmsg,
            &slab,
            &descs(0..64, 64),
            true,
        );
        assert_eq!(hdr.msg_iovlen, 1);
        assert_eq!(iovs[0].iov_base as usize, slab.region().0 as usize);
        assert_eq!(iovs[0].iov_len, 64 * 64);
        #[cfg(target_os = "linux")]
        assert!(hdr.msg_controllen > 0, "the segment size still goes along");

        // Handed out in reverse, the same slots need one iovec each, in packet order.
        fill_msghdr(
            &mut hdr,
            &mut iovs,
            &mut cmsg,
            &slab,
            &descs((0..64).rev(), 64),
            true,
        );
        assert_eq!(hdr.msg_iovlen, 64);
        let base = slab.region().0 as usize;
        assert_eq!(iovs[0].iov_base as usize, base + 63 * 64);
        assert_eq!(iovs[63].iov_base as usize, base);
    }
}
