//! Linux: the io_uring and AF_XDP send backends, the io_uring and recvmmsg receive backends (with UDP GRO,
//! the SO_RXQ_OVFL drop counter and receive timestamps read from control messages).

pub(crate) mod egress;
#[cfg(ringshot_uring)]
pub(crate) mod uring;
#[cfg(ringshot_uring)]
pub(crate) mod uring_rx;
pub(crate) mod xdp;
