//! The kernel's own count of what it dropped below a send socket, read when the stream starts
//! and again when it ends: the drop counters of the queueing disciplines on the device the
//! route to the destination leaves by, and the UDP send-error counter. Only Linux says; other
//! systems report nothing.

use std::net::SocketAddr;

#[cfg(feature = "serde")]
use serde::Serialize;

/// What the kernel counted below the socket during one stream. Every field is `None` where the
/// system does not tell. A stream's `TxReport::kernel`:
///
/// ```
/// use ringshot::{Sender, SenderConfig};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let receiver = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// let mut tx = Sender::spawn(SenderConfig::builder(receiver.local_addr()?).build()?)?;
/// tx.send(b"one datagram")?;
/// let k = tx.finish()?.kernel;
/// if cfg!(target_os = "linux") {
///     // Loopback, where nothing is queued below the socket and nothing was refused.
///     assert_eq!(k.device.as_deref(), Some("lo"));
///     assert_eq!(k.qdisc_drops, Some(0));
///     assert_eq!(k.udp_sndbuf_errors.is_some(), std::path::Path::new("/proc/net/snmp").exists());
/// } else {
///     assert_eq!(k, ringshot::KernelSendCounts::default());
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
#[non_exhaustive]
pub struct KernelSendCounts {
    /// The device the route to the destination leaves by (`lo` on loopback).
    pub device: Option<String>,
    /// The queueing disciplines on that device, root first (`tbf`, `pfifo`, ...); empty where
    /// it has none (`noqueue`).
    pub qdiscs: Vec<String>,
    /// Packets those queueing disciplines dropped during the stream: every sender's on that
    /// device, and each GSO segment on its own.
    pub qdisc_drops: Option<u64>,
    /// UDP sends that failed for want of buffer space during the stream (`SndbufErrors` in
    /// `/proc/net/snmp`), across the network namespace: with IP_RECVERR these are the ENOBUFS
    /// the senders were told of.
    pub udp_sndbuf_errors: Option<u64>,
}

/// The counters at the start of a stream.
#[derive(Debug)]
#[cfg_attr(not(target_os = "linux"), allow(dead_code))] // only Linux reads them back
pub(crate) struct EgressWatch {
    ifindex: Option<u32>,
    v6: bool,
    qdisc_drops: Option<u64>,
    sndbuf_errors: Option<u64>,
    /// A qdisc on the egress device that cuts GSO super-packets into segments before queueing
    /// them: it reports a partial drop of one as success.
    segmenting: Option<String>,
}

impl EgressWatch {
    /// Reads the counters for a stream to `dest` (best effort: what cannot be read is `None`).
    pub(crate) fn start(dest: SocketAddr) -> EgressWatch {
        #[cfg(target_os = "linux")]
        {
            use super::linux::egress;
            let ifindex = egress::egress_ifindex(dest).ok();
            let qdiscs = ifindex.and_then(|i| egress::qdiscs(i).ok());
            let segmenting = qdiscs.as_ref().and_then(|qs| {
                qs.iter()
                    .find(|q| egress::SEGMENTING_QDISCS.contains(&q.kind.as_str()))
                    .map(|q| format!("{} on {}", q.kind, egress::ifname(ifindex.unwrap_or(0))))
            });
            EgressWatch {
                ifindex,
                v6: dest.is_ipv6(),
                qdisc_drops: qdiscs.map(|qs| qs.iter().map(|q| q.drops).sum()),
                sndbuf_errors: egress::udp_sndbuf_errors(dest.is_ipv6()),
                segmenting,
            }
        }
        #[cfg(not(target_os = "linux"))]
        EgressWatch {
            ifindex: None,
            v6: dest.is_ipv6(),
            qdisc_drops: None,
            sndbuf_errors: None,
            segmenting: None,
        }
    }

    /// The qdisc (kind and device) that cuts GSO super-packets before queueing them, if one
    /// sits on the egress device.
    pub(crate) fn gso_segmenting_qdisc(&self) -> Option<&str> {
        self.segmenting.as_deref()
    }

    /// What the kernel counted since [`start`](Self::start).
    pub(crate) fn finish(&self) -> KernelSendCounts {
        #[cfg(target_os = "linux")]
        {
            use super::linux::egress;
            let qdiscs = self.ifindex.and_then(|i| egress::qdiscs(i).ok());
            let drops_now = qdiscs
                .as_ref()
                .map(|qs| qs.iter().map(|q| q.drops).sum::<u64>());
            KernelSendCounts {
                device: self.ifindex.map(egress::ifname),
                qdiscs: qdiscs
                    .unwrap_or_default()
                    .into_iter()
                    .map(|q| q.kind)
                    .collect(),
                qdisc_drops: drops_now
                    .zip(self.qdisc_drops)
                    .map(|(now, then)| now.saturating_sub(then)),
                udp_sndbuf_errors: egress::udp_sndbuf_errors(self.v6)
                    .zip(self.sndbuf_errors)
                    .map(|(now, then)| now.saturating_sub(then)),
            }
        }
        #[cfg(not(target_os = "linux"))]
        KernelSendCounts::default()
    }
}
