//! Short live trials of the peers through ringshot's runner, on loopback. A peer that is not
//! installed is skipped with its reason printed (run with `--nocapture` to see it).

use std::time::Duration;

use crate::bench::peers::{Peer, PeerError, PeerOptions};
use crate::bench::Placement;

/// 20 Mbit/s of 1472-byte packets, in packets per second.
const LOW_RATE: f64 = 20e6 / (1472.0 * 8.0);

fn options() -> PeerOptions {
    let mut o = PeerOptions::new(&Placement::auto());
    // Small heaps so a short spead2 trial still has many of them.
    o.spead2_heap_size = 64 << 10;
    o
}

fn installed(peer: Peer) -> bool {
    match peer.locate() {
        Ok(_) => true,
        Err(e) => {
            eprintln!("skipped: {}: {e}", peer.name());
            false
        }
    }
}

fn low_rate_trial(peer: Peer, secs: Duration) {
    if !installed(peer) {
        return;
    }
    let t = match peer.trial(Some(LOW_RATE), secs, &options()) {
        Ok(t) => t,
        Err(e @ PeerError::NotInstalled { .. }) => {
            eprintln!("skipped: {}: {e}", peer.name());
            return;
        }
        Err(e) => panic!("{} trial: {e}", peer.name()),
    };
    eprintln!("{}: {t:?}", peer.name());
    assert!(t.delivered > 0, "{t:?}");
    assert_eq!(t.lost, 0, "{t:?}");
    assert!(t.receiver_zero_loss, "{t:?}");
    // iperf3's server can stop counting before the last paced burst is read (its end-of-test
    // race); that tail is excused, not lost.
    assert_eq!(t.delivered + t.uncounted_tail, t.sent, "{t:?}");
    assert!(t.passes(), "{t:?}");
}

#[test]
fn iperf3_low_rate_trial_is_lossless() {
    low_rate_trial(Peer::Iperf3, Duration::from_millis(500));
}

#[test]
fn sockperf_low_rate_trial_is_lossless() {
    // sockperf's -t takes whole seconds.
    low_rate_trial(Peer::Sockperf, Duration::from_secs(1));
}

#[test]
fn spead2_low_rate_trial_is_lossless() {
    low_rate_trial(Peer::Spead2, Duration::from_millis(500));
}
