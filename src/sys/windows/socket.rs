//! UDP sockets on Windows. std's sockets are created overlapped (WSA_FLAG_OVERLAPPED) and not
//! inheritable, which is what the completion-port backend needs; this file adds the options std
//! lacks.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::windows::io::AsRawSocket;

use windows_sys::Win32::Networking::WinSock::{
    getsockopt, setsockopt, WSAGetLastError, IPPROTO_UDP, SOCKET, SOCKET_ERROR, SOL_SOCKET,
    SO_RCVBUF, SO_SNDBUF, UDP_SEND_MSG_SIZE,
};

/// The WinSock handle of `sock`.
pub(crate) fn raw(sock: &UdpSocket) -> SOCKET {
    sock.as_raw_socket() as SOCKET
}

/// The last WinSock error of the calling thread, as an `io::Error` (its code is the WSA code).
pub(crate) fn last_wsa_error() -> io::Error {
    // SAFETY: reads the calling thread's last WinSock error; no arguments.
    io::Error::from_raw_os_error(unsafe { WSAGetLastError() })
}

fn set_int(sock: SOCKET, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: `value` is a live i32 and its exact size is passed; setsockopt only reads it.
    let rc = unsafe {
        setsockopt(
            sock,
            level,
            name,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>() as i32,
        )
    };
    if rc == SOCKET_ERROR {
        Err(last_wsa_error())
    } else {
        Ok(())
    }
}

fn get_int(sock: SOCKET, level: i32, name: i32) -> io::Result<i32> {
    let mut value: i32 = 0;
    let mut len = std::mem::size_of::<i32>() as i32;
    // SAFETY: `value` and `len` are live and `len` holds the size of `value`; getsockopt writes
    // at most that many bytes.
    let rc = unsafe { getsockopt(sock, level, name, (&mut value as *mut i32).cast(), &mut len) };
    if rc == SOCKET_ERROR {
        Err(last_wsa_error())
    } else {
        Ok(value)
    }
}

/// A UDP socket connected to `dest` (bound to `bind` or an ephemeral port) with a send buffer of
/// about `sndbuf` bytes. It stays in blocking mode: overlapped sends and receives ignore the mode.
pub fn connected_udp(
    dest: SocketAddr,
    bind: Option<SocketAddr>,
    sndbuf: usize,
) -> io::Result<UdpSocket> {
    let local = bind.unwrap_or_else(|| match dest {
        SocketAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
        SocketAddr::V6(_) => SocketAddr::from(([0u16; 8], 0)),
    });
    let sock = UdpSocket::bind(local)?;
    sock.connect(dest)?;
    set_send_buffer(&sock, sndbuf);
    Ok(sock)
}

/// A UDP socket bound to `addr` with a receive buffer of about `rcvbuf` bytes (set right after
/// the bind: std creates and binds in one call).
pub fn bound_udp(addr: SocketAddr, rcvbuf: usize) -> io::Result<UdpSocket> {
    let sock = UdpSocket::bind(addr)?;
    if rcvbuf > 0 {
        set_recv_buffer(&sock, rcvbuf);
    }
    Ok(sock)
}

/// Sets SO_SNDBUF (best effort).
pub fn set_send_buffer(sock: &UdpSocket, bytes: usize) {
    if bytes > 0 {
        let v = bytes.min(i32::MAX as usize) as i32;
        let _ = set_int(raw(sock), SOL_SOCKET, SO_SNDBUF, v);
    }
}

/// Sets SO_RCVBUF and returns what the system reports afterwards (0 if it cannot be read).
pub fn set_recv_buffer(sock: &UdpSocket, bytes: usize) -> usize {
    let v = bytes.min(i32::MAX as usize) as i32;
    let _ = set_int(raw(sock), SOL_SOCKET, SO_RCVBUF, v);
    get_int(raw(sock), SOL_SOCKET, SO_RCVBUF).map_or(0, |n| n.max(0) as usize)
}

/// Whether the stack takes UDP send offload (UDP_SEND_MSG_SIZE, "USO") on this socket. Asks for
/// 0 (off), which changes nothing where it is accepted.
pub fn uso_supported(sock: &UdpSocket) -> bool {
    set_int(raw(sock), IPPROTO_UDP, UDP_SEND_MSG_SIZE, 0).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connected_socket_reaches_its_peer() {
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        let sock = connected_udp(peer.local_addr().unwrap(), None, 1 << 20).unwrap();
        sock.send(b"hello").unwrap();
        let mut buf = [0u8; 16];
        peer.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let (n, from) = peer.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello");
        assert_eq!(from.port(), sock.local_addr().unwrap().port());
    }

    #[test]
    fn receive_buffer_is_set() {
        let sock = bound_udp("127.0.0.1:0".parse().unwrap(), 1 << 20).unwrap();
        assert!(set_recv_buffer(&sock, 1 << 20) >= 1 << 20);
    }
}
