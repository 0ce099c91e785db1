//! What the device model tells: [`AckState`], the state each ACK carries, and [`DeviceReport`],
//! the totals of what it did with the packets.

#[cfg(feature = "serde")]
use serde::Serialize;

/// What the device reports in an ACK.
///
/// ```
/// use ringshot::device::{AckEncoder, AckState};
/// use ringshot::flow::{AckParser, NativeParser};
/// use ringshot::AckFormat;
///
/// let st = AckState { position: 100, bytes: 147_200, capacity: 1 << 20, start_seq: 0, stream_id: 1 };
/// let mut enc = AckEncoder::new(AckFormat::Native);
/// let update = NativeParser.parse(enc.flow(&st), 0).unwrap();
/// assert_eq!((update.acked_packets, update.acked_bytes), (Some(100), Some(147_200)));
/// assert_eq!(update.capacity_bytes, Some(1 << 20));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckState {
    /// Consumed position in the sender's sequence space: the sequence number after the last
    /// packet consumed (gaps before it are credited as consumed).
    pub position: u64,
    /// UDP payload bytes consumed since the stream (re)started, gaps credited (see the model).
    pub bytes: u64,
    /// Buffer size in bytes.
    pub capacity: u64,
    /// The sequence number the stream starts at.
    pub start_seq: u64,
    /// Native: the data stream id; CHDR: the source endpoint (low 16 bits).
    pub stream_id: u32,
}

/// The `device` object of `ringshot recv --device --json`: what the device did with the packets.
///
/// ```
/// use ringshot::device::{DeviceConfig, DeviceModel, SocketLink};
/// use ringshot::recv::{DatagramSink, RxMeta, StreamChecker};
/// use ringshot::wire::header::pattern_packet;
///
/// // Packets 0, 1 and 3 reach a device draining 1000 packets a second, 1 ms apart.
/// let cfg = DeviceConfig::builder().drain_pps(1000.0).build().unwrap();
/// let ack_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
/// let mut dev = DeviceModel::new(&cfg, StreamChecker::new(64, true), SocketLink::new(ack_socket));
/// let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
/// let src = peer.local_addr().unwrap(); // where the ACKs go
/// for (i, seq) in [0u64, 1, 3].into_iter().enumerate() {
///     dev.datagram(&pattern_packet(0, seq, 1000), &RxMeta { src, at_ns: i as u64 * 1_000_000 });
/// }
/// dev.finish(1_000_000_000); // a second later: all played out
/// let r = dev.report();
/// assert_eq!((r.consumed, r.seq_errors, r.skipped, r.overflows), (3, 1, 1, 0));
/// assert!(r.acks_sent > 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
#[non_exhaustive]
pub struct DeviceReport {
    /// Packets consumed (played out), over all restarts.
    pub consumed: u64,
    /// Packets that arrived with no room in the buffer and were dropped. Never, with correct
    /// flow control.
    pub overflows: u64,
    /// Times the buffer ran dry while the stream went on (once per dry spell; the drain at the
    /// end of a stream is not an underflow).
    pub underflows: u64,
    /// Highest buffer fill, bytes.
    pub max_fill_bytes: u64,
    /// ACKs the device emitted (flow updates, events, heartbeats), before any ACK fault.
    pub acks_sent: u64,
    /// UDP payload bytes consumed.
    pub consumed_bytes: u64,
    /// Gaps in the sequence (each announced with a sequence-error event).
    pub seq_errors: u64,
    /// Sequence numbers that never arrived in time and were credited as consumed when the packet
    /// after them was.
    pub skipped: u64,
    /// Packets thrown away on arrival: duplicates, packets older than one already taken, and
    /// packets after a restart until the stream restarts at its first sequence number.
    pub discarded: u64,
    /// Packets not believed because their sequence number was implausibly far past the one
    /// expected (more than the configured `max_seq_jump`); they change nothing.
    pub implausible: u64,
    /// Device restarts.
    pub restarts: u64,
    /// Packets that were in the buffer when the device restarted (lost with it).
    pub lost_in_restart: u64,
    /// Buffer fill when the device stopped, bytes.
    pub fill_bytes: u64,
    /// ACK datagrams that left the socket (after ACK faults).
    pub ack_datagrams: u64,
    /// ACK sends that failed.
    pub ack_send_errors: u64,
}
