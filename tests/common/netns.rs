//! Two network namespaces joined by a veth pair, built for one test cell and always removed
//! (a `Drop` guard, so a panicking test removes them too): addresses, neighbours resolved for
//! good, the near end's UDP segmentation offload off (so each datagram crosses as its own packet
//! and is counted as one), and in the far namespace an nftables counter of the stream's datagrams
//! at the earliest prerouting hook plus an empty input chain for firewall rules. `ringshot` runs
//! inside either namespace under `ip netns exec`.
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

/// Tools the cells run (Debian packages iproute2, nftables, ethtool).
pub const TOOLS: [&str; 4] = ["ip", "nft", "tc", "ethtool"];
/// Prefix of every namespace this module creates: `rsf-<pid>-<cell>-near` / `-far`.
const NS_PREFIX: &str = "rsf-";
pub const NEAR_ADDR: &str = "10.233.0.1";
pub const FAR_ADDR: &str = "10.233.0.2";
/// The stream's UDP port: the far namespace's counter and firewall rules match it.
pub const PORT: u16 = 5000;

/// Runs `prog args` to the end; its stdout, or why it failed.
fn sh(prog: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{prog}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`{prog} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `prog` with `input` on its standard input.
fn sh_stdin(prog: &str, args: &[&str], input: &str) -> Result<(), String> {
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{prog}: {e}"))?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .map_err(|e| format!("{prog} stdin: {e}"))?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "`{prog} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

fn on_path(prog: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(prog).is_file()))
}

/// Why no cell can run here, if none can.
pub fn unavailable_reason() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("needs root (it creates network namespaces, veth pairs, qdiscs)".into());
    }
    let missing: Vec<&str> = TOOLS.iter().copied().filter(|t| !on_path(t)).collect();
    (!missing.is_empty()).then(|| {
        format!(
            "needs {} on PATH (Debian packages iproute2, nftables, ethtool)",
            missing.join(", ")
        )
    })
}

/// Two namespaces joined by a veth pair, for one cell; dropped (a panic included), removed.
pub struct Net {
    pub near: String,
    pub far: String,
    pub near_if: String,
    pub far_if: String,
}

impl Net {
    /// Namespaces `rsf-<pid>-<index>-near` / `-far` with the veth pair `rsf<pid>n<index>` /
    /// `rsf<pid>f<index>`, addresses, neighbours resolved for good, the near end's UDP
    /// segmentation offload off, and in the far one a counter of the stream's datagrams
    /// (`ip rsf pre`) and an empty input chain for the firewall cells (`ip rsf input`).
    pub fn new(index: usize) -> Result<Net, String> {
        let pid = std::process::id();
        let net = Net {
            near: format!("{NS_PREFIX}{pid}-{index}-near"),
            far: format!("{NS_PREFIX}{pid}-{index}-far"),
            near_if: format!("rsf{pid}n{index}"),
            far_if: format!("rsf{pid}f{index}"),
        };
        // From here on, dropping `net` removes whatever exists.
        net.build()?;
        Ok(net)
    }

    fn build(&self) -> Result<(), String> {
        let (n, f, a, b) = (&*self.near, &*self.far, &*self.near_if, &*self.far_if);
        sh("ip", &["netns", "add", n])?;
        sh("ip", &["netns", "add", f])?;
        let veth = [
            "link", "add", a, "netns", n, "type", "veth", "peer", "name", b,
        ];
        sh("ip", &[&veth[..], &["netns", f]].concat())?;
        for (ns, dev, addr) in [(n, a, NEAR_ADDR), (f, b, FAR_ADDR)] {
            sh(
                "ip",
                &["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev],
            )?;
            sh("ip", &["-n", ns, "link", "set", dev, "up"])?;
            sh("ip", &["-n", ns, "link", "set", "lo", "up"])?;
        }
        let off = ["tx-udp-segmentation", "off"];
        sh(
            "ip",
            &[&["netns", "exec", n, "ethtool", "-K", a][..], &off].concat(),
        )?;
        self.resolve_neighbours()?;
        let rules = format!(
            "table ip rsf {{\n\
             chain pre {{ type filter hook prerouting priority -300; udp dport {PORT} counter; }}\n\
             chain input {{ type filter hook input priority 0; }}\n}}\n"
        );
        sh_stdin("ip", &["netns", "exec", f, "nft", "-f", "-"], &rules)
    }

    /// Permanent neighbour entries both ways, so no packet waits on (or is dropped by) ARP.
    fn resolve_neighbours(&self) -> Result<(), String> {
        let near_mac = mac(&self.near, &self.near_if)?;
        let far_mac = mac(&self.far, &self.far_if)?;
        for (ns, dev, peer, lladdr) in [
            (&*self.near, &*self.near_if, FAR_ADDR, &*far_mac),
            (&*self.far, &*self.far_if, NEAR_ADDR, &*near_mac),
        ] {
            let args = ["-n", ns, "neigh", "replace", peer, "lladdr", lladdr];
            sh(
                "ip",
                &[&args[..], &["dev", dev, "nud", "permanent"]].concat(),
            )?;
        }
        Ok(())
    }

    /// Both veth ends at `mtu`.
    pub fn set_mtu(&self, mtu: u32) -> Result<(), String> {
        let m = mtu.to_string();
        sh(
            "ip",
            &["-n", &self.near, "link", "set", &self.near_if, "mtu", &m],
        )?;
        sh(
            "ip",
            &["-n", &self.far, "link", "set", &self.far_if, "mtu", &m],
        )?;
        Ok(())
    }

    pub fn set_link(&self, up: bool) -> Result<(), String> {
        let state = if up { "up" } else { "down" };
        sh(
            "ip",
            &["-n", &self.near, "link", "set", &self.near_if, state],
        )?;
        if up {
            // Taking a link down flushes its neighbours, permanent ones included.
            self.resolve_neighbours()?;
        }
        Ok(())
    }

    /// A tbf shaper as the near end's root qdisc.
    pub fn shape(&self, rate: &str, burst: &str) -> Result<(), String> {
        let tbf = ["tbf", "rate", rate, "burst", burst, "latency", "50ms"];
        let dev = [
            "-n",
            &*self.near,
            "qdisc",
            "add",
            "dev",
            &*self.near_if,
            "root",
        ];
        sh("tc", &[&dev[..], &tbf].concat()).map(drop)
    }

    /// Adds `verdict` (reject, drop) for the stream to the far namespace's input chain.
    pub fn firewall(&self, verdict: &str) -> Result<(), String> {
        let rule = ["add", "rule", "ip", "rsf", "input", "udp", "dport"];
        let port = PORT.to_string();
        let args = [
            &["netns", "exec", &*self.far, "nft"][..],
            &rule,
            &[&port, verdict],
        ];
        sh("ip", &args.concat()).map(drop)
    }

    /// Datagrams of the stream that have reached the far namespace.
    pub fn wire_packets(&self) -> Result<u64, String> {
        let args = ["netns", "exec", &self.far, "nft", "-j", "list", "chain"];
        let out = sh("ip", &[&args[..], &["ip", "rsf", "pre"]].concat())?;
        let v: Value = serde_json::from_str(&out).map_err(|e| format!("nft -j: {e}"))?;
        v["nftables"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|o| o["rule"]["expr"].as_array())
            .flatten()
            .find_map(|e| e["counter"]["packets"].as_u64())
            .ok_or_else(|| format!("nft -j: no counter in {out}"))
    }

    /// Packets the near end's root qdisc dropped.
    pub fn qdisc_drops(&self) -> Result<u64, String> {
        let out = sh(
            "tc",
            &[
                "-n",
                &self.near,
                "-s",
                "-j",
                "qdisc",
                "show",
                "dev",
                &self.near_if,
            ],
        )?;
        let v: Value = serde_json::from_str(&out).map_err(|e| format!("tc -j: {e}"))?;
        v.as_array()
            .into_iter()
            .flatten()
            .find_map(|q| q["drops"].as_u64())
            .ok_or_else(|| format!("tc -j: no drops in {out}"))
    }

    /// `ringshot args` in namespace `ns`.
    pub fn ringshot(ns: &str, args: &[String]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_ringshot")]);
        cmd.args(args);
        cmd
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        // Deleting a namespace takes its end of the veth pair, the peer, qdiscs and rules along.
        for ns in [&self.near, &self.far] {
            let _ = sh("ip", &["netns", "del", ns]);
        }
    }
}

fn mac(ns: &str, dev: &str) -> Result<String, String> {
    let out = sh("ip", &["-n", ns, "-j", "link", "show", "dev", dev])?;
    let v: Value = serde_json::from_str(&out).map_err(|e| format!("ip -j link: {e}"))?;
    v[0]["address"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("ip -j link: no address in {out}"))
}

/// Deletes namespaces of this file left by a run that is gone (killed outright, so no Drop ran).
pub fn remove_stale() {
    let Ok(list) = sh("ip", &["netns", "list"]) else {
        return;
    };
    for ns in list.lines().filter_map(|l| l.split_whitespace().next()) {
        let pid = ns
            .strip_prefix(NS_PREFIX)
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists()) {
            let _ = sh("ip", &["netns", "del", ns]);
        }
    }
}
