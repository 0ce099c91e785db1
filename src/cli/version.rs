//! `ringshot --version`: this build's and this kernel's features.

use ringshot::Capabilities;

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// The `--version` text.
pub fn text(c: &Capabilities) -> String {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| std::env::consts::OS.to_string());
    let ops = c
        .uring_opcodes
        .iter()
        .map(|(name, on)| format!("{name}={}", yes(*on)))
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "ringshot {}\n\
         build:  backends {}; {} {}\n\
         kernel: {kernel}\n\
         \x20 io_uring    {}{}\n\
         \x20 UDP GSO     {}\n\
         \x20 UDP GRO     {}\n\
         \x20 zero copy   {} (io_uring SEND_ZC / SENDMSG_ZC)\n\
         \x20 SQPOLL      {} (for this user)\n",
        env!("CARGO_PKG_VERSION"),
        c.backends.join(" "),
        std::env::consts::OS,
        std::env::consts::ARCH,
        yes(c.io_uring),
        if ops.is_empty() {
            String::new()
        } else {
            format!(" ({ops})")
        },
        yes(c.gso),
        yes(c.gro),
        yes(c.zero_copy),
        yes(c.sqpoll),
    )
}
