//! UDP socket set-up and the small socket syscalls the backends share.

use std::io;
use std::mem::size_of;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};

fn setsockopt_int(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    syscall!(setsockopt(
        fd,
        level,
        name,
        &value as *const libc::c_int as *const libc::c_void,
        size_of::<libc::c_int>() as libc::socklen_t,
    ))
    .map(drop)
}

fn getsockopt_int(fd: RawFd, level: libc::c_int, name: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    syscall!(getsockopt(
        fd,
        level,
        name,
        &mut value as *mut libc::c_int as *mut libc::c_void,
        &mut len,
    ))?;
    Ok(value)
}

/// A non-blocking UDP socket connected to `dest` (bound to `bind` or an ephemeral port), with a
/// send buffer of about `sndbuf` bytes and, on Linux, IP_RECVERR so that ENOBUFS from the qdisc
/// and ICMP errors reach the sender instead of being swallowed.
pub fn connected_udp(
    dest: SocketAddr,
    bind: Option<SocketAddr>,
    sndbuf: usize,
) -> io::Result<UdpSocket> {
    let local = bind.unwrap_or_else(|| match dest {
        SocketAddr::V4(_) => "0.0.0.0:0".parse().unwrap(),
        SocketAddr::V6(_) => "[::]:0".parse().unwrap(),
    });
    let sock = UdpSocket::bind(local)?;
    sock.connect(dest)?;
    sock.set_nonblocking(true)?;
    set_send_buffer(sock.as_raw_fd(), sndbuf);
    #[cfg(ringshot_errqueue)]
    {
        let (level, name) = match dest {
            SocketAddr::V4(_) => (libc::IPPROTO_IP, libc::IP_RECVERR),
            SocketAddr::V6(_) => (libc::IPPROTO_IPV6, libc::IPV6_RECVERR),
        };
        setsockopt_int(sock.as_raw_fd(), level, name, 1)?;
    }
    Ok(sock)
}

/// A UDP socket bound to `addr` whose receive buffer is sized to about `rcvbuf` bytes *before*
/// the bind: a datagram that arrives between bind and a later resize would otherwise meet the
/// default buffer (a few 64 KiB datagrams) and could be dropped.
pub fn bound_udp(addr: SocketAddr, rcvbuf: usize) -> io::Result<UdpSocket> {
    use super::cmsg::{write_sockaddr, NameBuf};
    use crate::sys::rx::NAME_LEN;
    use std::os::fd::{FromRawFd, OwnedFd};
    let family = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    #[cfg(ringshot_cloexec)]
    let kind = libc::SOCK_DGRAM | libc::SOCK_CLOEXEC;
    #[cfg(not(ringshot_cloexec))]
    let kind = libc::SOCK_DGRAM;
    let raw = syscall!(socket(family, kind, 0))?;
    // SAFETY: socket(2) just returned this descriptor; nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    #[cfg(not(ringshot_cloexec))]
    syscall!(fcntl(raw, libc::F_SETFD, libc::FD_CLOEXEC))?;
    if rcvbuf > 0 {
        set_recv_buffer(fd.as_raw_fd(), rcvbuf);
    }
    let mut name = NameBuf([0; NAME_LEN]);
    let len = write_sockaddr(addr, &mut name.0);
    // `name` is an aligned buffer holding a sockaddr of `len` bytes; bind only reads it.
    syscall!(bind(
        fd.as_raw_fd(),
        name.0.as_ptr().cast::<libc::sockaddr>(),
        len as libc::socklen_t
    ))?;
    Ok(UdpSocket::from(fd))
}

/// Sets SO_SNDBUF, trying SO_SNDBUFFORCE first (root may exceed wmem_max). Best effort.
pub fn set_send_buffer(fd: RawFd, bytes: usize) {
    let v = bytes.min(i32::MAX as usize) as libc::c_int;
    #[cfg(ringshot_bufforce)]
    if setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, v).is_ok() {
        return;
    }
    let _ = setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, v);
}

/// Sets SO_RCVBUF, trying SO_RCVBUFFORCE first. Returns the size the kernel reports afterwards
/// (Linux doubles the request for bookkeeping).
pub fn set_recv_buffer(fd: RawFd, bytes: usize) -> usize {
    let v = bytes.min(i32::MAX as usize) as libc::c_int;
    #[cfg(ringshot_bufforce)]
    let forced = setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, v).is_ok();
    #[cfg(not(ringshot_bufforce))]
    let forced = false;
    if !forced {
        let _ = setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, v);
    }
    getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF).map_or(0, |v| v as usize)
}

/// SO_SNDBUF as the kernel reports it.
#[cfg(test)]
pub fn send_buffer(fd: RawFd) -> usize {
    getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUF).map_or(0, |v| v as usize)
}

/// Whether this socket accepts the UDP_SEGMENT option (UDP GSO, Linux 4.18+).
pub fn gso_supported(fd: RawFd) -> bool {
    #[cfg(ringshot_gso)]
    {
        getsockopt_int(fd, libc::SOL_UDP, libc::UDP_SEGMENT).is_ok()
    }
    #[cfg(not(ringshot_gso))]
    {
        let _ = fd;
        false
    }
}

/// Waits up to `timeout_ms` for the socket to accept more data. Queued socket errors (IP_RECVERR)
/// are drained so they do not keep the socket permanently "ready".
pub fn wait_writable(fd: RawFd, timeout_ms: i32) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    let n = match syscall!(poll(&mut pfd, 1, timeout_ms)) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(false),
        Err(e) => return Err(e),
    };
    if pfd.revents & libc::POLLERR != 0 {
        drain_error_queue(fd);
    }
    Ok(n > 0 && pfd.revents & libc::POLLOUT != 0)
}

/// Reads and discards everything on the socket's error queue (IP_RECVERR reports). The pending
/// socket error itself is returned by the next send, where it is counted.
pub fn drain_error_queue(fd: RawFd) {
    #[cfg(ringshot_errqueue)]
    {
        let mut data = [0u8; 256];
        let mut control = [0u64; 64];
        for _ in 0..64 {
            let mut iov = libc::iovec {
                iov_base: data.as_mut_ptr().cast(),
                iov_len: data.len(),
            };
            // SAFETY: msghdr is plain data; all-zero is a valid empty header.
            let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
            hdr.msg_iov = &mut iov;
            hdr.msg_iovlen = 1;
            hdr.msg_control = control.as_mut_ptr().cast();
            hdr.msg_controllen = std::mem::size_of_val(&control) as _;
            if syscall!(recvmsg(
                fd,
                &mut hdr,
                libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT
            ))
            .is_err()
            {
                break;
            }
        }
    }
    #[cfg(not(ringshot_errqueue))]
    let _ = fd;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connected_socket_has_buffers_and_probe_answers() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = connected_udp(rx.local_addr().unwrap(), None, 4 << 20).unwrap();
        // SO_SNDBUFFORCE needs CAP_NET_ADMIN; without it the size is capped by wmem_max.
        if nix::unistd::geteuid().is_root() {
            assert!(
                send_buffer(tx.as_raw_fd()) >= 4 << 20,
                "SO_SNDBUFFORCE not applied"
            );
        } else {
            eprintln!("skipping the SO_SNDBUFFORCE check: not root");
            assert!(send_buffer(tx.as_raw_fd()) > 0);
        }
        if cfg!(ringshot_gso) {
            assert!(
                gso_supported(tx.as_raw_fd()),
                "kernel 4.18+ has UDP_SEGMENT"
            );
        }
        assert!(wait_writable(tx.as_raw_fd(), 100).unwrap());
    }
}
