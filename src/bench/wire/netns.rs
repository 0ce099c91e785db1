//! The "wire": two network namespaces joined by a veth pair, created for one run and always
//! removed.
//!
//! The near namespace holds the sender's end with UDP segmentation offload turned off, so every
//! GSO super-packet is cut into wire-size datagrams before it crosses (as a NIC without USO does in
//! software). The far namespace drops the stream to [`Wire::DROP_PORT`] as it arrives (an nftables
//! rule at the earliest prerouting hook), and its interface's `rx_packets` counts what crossed: the
//! sender-side rate. Any other port reaches a real socket in the far namespace: end-to-end.
//!
//! A thread enters a namespace with `setns(2)`; threads and processes it starts inherit it, so
//! [`Wire::in_near`] and [`Wire::in_far`] run a closure (which may spawn the engine's threads, a
//! receiver or a peer's process) on a thread inside one of them. Dropping the [`Wire`] deletes both
//! namespaces, which takes the veth pair and the rule with them. Namespaces left by a run that was
//! killed outright (its pid is gone) are removed by the next setup.

use std::fs::File;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};

// What this file names of the module around it: `WireError` and `which` (tests compile this
// file into their own crate through tests/common/wire.rs, which provides the same two names).
use super::{which, WireError};

/// Prefix of every namespace this module creates: `rsw-<pid>-near`, `rsw-<pid>-far`.
const NS_PREFIX: &str = "rsw-";

/// The tools the wire needs on `PATH`.
pub const TOOLS: [&str; 3] = ["ip", "ethtool", "nft"];

/// A live two-namespace veth wire; dropped, it is removed.
#[derive(Debug)]
pub struct Wire {
    pub near_ns: String,
    pub far_ns: String,
    pub near_if: String,
    pub far_if: String,
    pub near_addr: Ipv4Addr,
    pub far_addr: Ipv4Addr,
    removed: bool,
}

/// Why the wire cannot be built here, if it cannot: not root, or a tool missing.
pub fn unavailable_reason() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("needs root (it creates network namespaces and a veth pair)".into());
    }
    let missing: Vec<&str> = TOOLS
        .iter()
        .copied()
        .filter(|t| which(t).is_none())
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "needs {} on PATH (Debian packages iproute2, ethtool, nftables)",
            missing.join(", ")
        )
    })
}

fn run(prog: &str, args: &[&str]) -> Result<String, WireError> {
    let out = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| WireError::Setup(format!("{prog}: {e}")))?;
    if !out.status.success() {
        return Err(WireError::Setup(format!(
            "`{prog} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Names of the namespaces that exist now.
pub fn list_namespaces() -> Vec<String> {
    run("ip", &["netns", "list"])
        .map(|s| {
            s.lines()
                .filter_map(|l| l.split_whitespace().next().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Deletes namespaces of this module whose creating process is gone.
fn remove_stale() {
    for ns in list_namespaces() {
        let Some(pid) = ns
            .strip_prefix(NS_PREFIX)
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            log::info!("wire: removing namespace {ns} left by a run that is gone");
            let _ = run("ip", &["netns", "del", &ns]);
        }
    }
}

impl Wire {
    /// The UDP port the far namespace drops on arrival.
    pub const DROP_PORT: u16 = 9;

    /// Creates the namespaces, the veth pair, the addresses and the drop rule. On any error what
    /// was created is removed before it returns.
    pub fn setup() -> Result<Wire, WireError> {
        if let Some(r) = unavailable_reason() {
            return Err(WireError::Unavailable(r));
        }
        remove_stale();
        let pid = std::process::id();
        // One wire per process at a time: a second one would collide on the names.
        let w = Wire {
            near_ns: format!("{NS_PREFIX}{pid}-near"),
            far_ns: format!("{NS_PREFIX}{pid}-far"),
            near_if: format!("rsw{pid}a"),
            far_if: format!("rsw{pid}b"),
            near_addr: Ipv4Addr::new(10, 231, 0, 1),
            far_addr: Ipv4Addr::new(10, 231, 0, 2),
            removed: false,
        };
        // From here on, dropping `w` removes whatever exists.
        w.build()?;
        Ok(w)
    }

    fn build(&self) -> Result<(), WireError> {
        let (n, f) = (self.near_ns.as_str(), self.far_ns.as_str());
        let (a, b) = (self.near_if.as_str(), self.far_if.as_str());
        run("ip", &["netns", "add", n])?;
        run("ip", &["netns", "add", f])?;
        run(
            "ip",
            &[
                "link", "add", a, "netns", n, "type", "veth", "peer", "name", b, "netns", f,
            ],
        )?;
        let near = format!("{}/24", self.near_addr);
        let far = format!("{}/24", self.far_addr);
        for (ns, dev, addr) in [(n, a, near.as_str()), (f, b, far.as_str())] {
            run("ip", &["-n", ns, "addr", "add", addr, "dev", dev])?;
            run("ip", &["-n", ns, "link", "set", dev, "up"])?;
            run("ip", &["-n", ns, "link", "set", "lo", "up"])?;
        }
        run(
            "ip",
            &[
                "netns",
                "exec",
                n,
                "ethtool",
                "-K",
                a,
                "tx-udp-segmentation",
                "off",
            ],
        )?;
        let port = Self::DROP_PORT.to_string();
        run(
            "ip",
            &["netns", "exec", f, "nft", "add", "table", "ip", "raw"],
        )?;
        run(
            "ip",
            &[
                "netns",
                "exec",
                f,
                "nft",
                "add",
                "chain",
                "ip",
                "raw",
                "pre",
                "{ type filter hook prerouting priority -300; }",
            ],
        )?;
        run(
            "ip",
            &[
                "netns", "exec", f, "nft", "add", "rule", "ip", "raw", "pre", "udp", "dport",
                &port, "counter", "drop",
            ],
        )?;
        // Resolve the far address once, so no case starts with an ARP exchange.
        let mac = self.far_mac()?;
        run(
            "ip",
            &[
                "-n",
                n,
                "neigh",
                "replace",
                &self.far_addr.to_string(),
                "lladdr",
                &mac,
                "dev",
                a,
                "nud",
                "permanent",
            ],
        )?;
        Ok(())
    }

    fn far_mac(&self) -> Result<String, WireError> {
        let out = run(
            "ip",
            &[
                "-n",
                &self.far_ns,
                "-j",
                "link",
                "show",
                "dev",
                &self.far_if,
            ],
        )?;
        let v: serde_json::Value =
            serde_json::from_str(&out).map_err(|e| WireError::Setup(format!("ip -j link: {e}")))?;
        v[0]["address"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| WireError::Setup("ip -j link: no address".into()))
    }

    /// Packets the far interface has received (what crossed the wire).
    pub fn far_rx_packets(&self) -> Result<u64, WireError> {
        let out = run(
            "ip",
            &[
                "-n",
                &self.far_ns,
                "-j",
                "-s",
                "link",
                "show",
                "dev",
                &self.far_if,
            ],
        )?;
        let v: serde_json::Value = serde_json::from_str(&out)
            .map_err(|e| WireError::Setup(format!("ip -j -s link: {e}")))?;
        v[0]["stats64"]["rx"]["packets"]
            .as_u64()
            .ok_or_else(|| WireError::Setup("ip -j -s link: no stats64.rx.packets".into()))
    }

    /// Packets the far end's drop rule has counted (UDP to [`Wire::DROP_PORT`] only; the
    /// interface's `rx_packets` also counts the odd IGMP report a new link sends). The suite
    /// reads `far_rx_packets`; a test checks the two agree.
    #[cfg(test)]
    pub fn dropped_packets(&self) -> Result<u64, WireError> {
        let out = run(
            "ip",
            &[
                "netns",
                "exec",
                &self.far_ns,
                "nft",
                "-j",
                "list",
                "chain",
                "ip",
                "raw",
                "pre",
            ],
        )?;
        let v: serde_json::Value =
            serde_json::from_str(&out).map_err(|e| WireError::Setup(format!("nft -j: {e}")))?;
        v["nftables"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|o| o["rule"]["expr"].as_array())
            .flatten()
            .find_map(|e| e["counter"]["packets"].as_u64())
            .ok_or_else(|| WireError::Setup("nft -j: no counter in the drop rule".into()))
    }

    /// Runs `f` on a new thread inside the near (sender's) namespace.
    pub fn in_near<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T, WireError> {
        in_namespace(&self.near_ns, f)
    }

    /// Runs `f` on a new thread inside the far (receiver's) namespace.
    pub fn in_far<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T, WireError> {
        in_namespace(&self.far_ns, f)
    }

    /// Removes the namespaces (and with them the veth pair and the rule). Idempotent.
    pub fn teardown(&mut self) -> Result<(), WireError> {
        if self.removed {
            return Ok(());
        }
        self.removed = true;
        let existing = list_namespaces();
        let mut first_err = None;
        for ns in [&self.near_ns, &self.far_ns] {
            if existing.contains(ns) {
                if let Err(e) = run("ip", &["netns", "del", ns]) {
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            log::warn!("wire: teardown: {e}");
        }
    }
}

/// Runs `f` on a scoped thread that has entered network namespace `ns` first.
fn in_namespace<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> Result<T, WireError> {
    let file = File::open(format!("/run/netns/{ns}"))
        .map_err(|e| WireError::Setup(format!("namespace {ns}: {e}")))?;
    std::thread::scope(|s| {
        s.spawn(move || {
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|e| WireError::Setup(format!("setns {ns}: {e}")))?;
            Ok(f())
        })
        .join()
        .unwrap_or_else(|_| Err(WireError::Setup(format!("a thread in {ns} panicked"))))
    })
}
