//! The bench suite's slow tests: the wire suite across network namespaces (root, veth, nftables)
//! and live trials of the peers (iperf3, sockperf, spead2). `ci/test.sh --quick` leaves out every
//! test whose path has `::slow::`; the full run and `cargo test --bins` run them.

mod peers;
// The wire needs Linux network namespaces, veth and nftables.
#[cfg(ringshot_netns)]
mod wire;
