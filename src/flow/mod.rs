//! Flow control: the device's ACKs, parsed on a core of their own, feeding an atomic window that
//! the TX core reads.
//!
//! - [`AckFormat`] / [`AckParser`]: one parser per wire format (native, usrp2, chdr), each turning a
//!   datagram into an [`AckUpdate`] with counts extended to 64 bits in the sender's sequence space.
//! - [`FlowState`]: the atomics shared by the two cores, and [`FlowState::credit`], the number of
//!   packets the TX core may send now.
//! - [`AckCore`]: the `ringshot-ack` thread that drains the ACK socket in recvmmsg batches, drops
//!   and counts whatever is foreign, malformed, stale or beyond what was sent, publishes the rest,
//!   and queues device events for [`AckCore::events`]. ICMP errors queued on the socket are read
//!   and counted by kind ([`IcmpErrors`]).
//! - [`SentPublisher`]: the one writer of a state's sent counts, for an app running its own
//!   [`AckCore`] (the engine publishes for the states it makes).
//! - [`SharedWindow`]: one window of packets shared by the engines of a
//!   [`SenderGroup`](crate::SenderGroup), credit claimed atomically, given back by each
//!   engine's ACK core as its device acknowledges.
//! - [`AckWatch`]: ACK-to-TX visibility, measured on the TX core.
//!
//! Typical wiring on the TX side:
//! ```no_run
//! # use std::sync::Arc;
//! # use ringshot::flow::*;
//! let data = std::net::UdpSocket::bind("0.0.0.0:0")?;
//! data.connect("192.168.10.2:49153")?;
//! let mut sent = SentPublisher::new(0);
//! let state = sent.state().clone();
//! let cfg = AckCoreConfig { format: "usrp2".parse().unwrap(), core: Some(1), ..Default::default() };
//! let mut acks = AckCore::spawn(data.try_clone()?, state.clone(), cfg)?;
//! // per batch: sent.publish(..) before sending, then trim the batch to
//! // state.credit(sent_pkts, sent_bytes, Some(712), None, 1472)
//! for ev in acks.events() { eprintln!("device event: {:?}", ev.events.names().collect::<Vec<_>>()); }
//! let stats = acks.stop();
//! # Ok::<(), std::io::Error>(())
//! ```

mod ack_core;
mod parse;
mod shared;
mod state;

pub use self::ack_core::{AckCore, AckCoreConfig, AckEvent, AckStats, AckWait, IcmpErrors};
pub use self::parse::{AckFormat, AckParser, AckUpdate, ChdrParser, NativeParser, Usrp2Parser};
pub use self::shared::SharedWindow;
pub use self::state::{AckWatch, FlowSnapshot, FlowState, SentPublisher};
pub use crate::wire::ack::EventSet;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod trust_tests;
