//! Decides, once, what the target operating system offers; the code asks these names, never an OS
//! list. Each capability becomes a `--cfg` the crate tests with `#[cfg(ringshot_...)]`.
//!
//! | cfg                  | meaning                                                        |
//! |----------------------|----------------------------------------------------------------|
//! | `ringshot_uring`     | io_uring (send backend, multishot receive)                     |
//! | `ringshot_mmsg`      | `sendmmsg` and `recvmmsg`                                      |
//! | `ringshot_gso`       | UDP GSO/GRO and the receive control messages (drops, stamps)   |
//! | `ringshot_errqueue`  | IP_RECVERR and the socket error queue (MSG_ERRQUEUE)           |
//! | `ringshot_bufforce`  | SO_SNDBUFFORCE / SO_RCVBUFFORCE                                |
//! | `ringshot_rt`        | SCHED_FIFO through sched_setscheduler, PR_SET_TIMERSLACK       |
//! | `ringshot_abs_sleep` | clock_nanosleep with TIMER_ABSTIME on CLOCK_MONOTONIC          |
//! | `ringshot_cloexec`   | SOCK_CLOEXEC on socket(2)                                      |
//! | `ringshot_cpuset`    | sched_setaffinity on another process (nix `CpuSet`)            |
//! | `ringshot_ppoll`     | ppoll(2) (a poll with a nanosecond timeout)                    |
//! | `ringshot_sa_len`    | socket addresses start with a length byte (the BSDs, macOS)    |
//! | `ringshot_iocp`      | overlapped sockets and I/O completion ports (Windows)          |
//! | `ringshot_netns`     | network namespaces, veth and nftables (the wire benchmark)     |

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let os = os.as_str();
    let linux = matches!(os, "linux" | "android");
    let bsd_like = matches!(os, "freebsd" | "netbsd" | "openbsd" | "macos" | "ios");
    let caps: [(&str, bool); 13] = [
        ("ringshot_uring", os == "linux"),
        ("ringshot_mmsg", linux || matches!(os, "freebsd" | "netbsd")),
        ("ringshot_gso", os == "linux"),
        ("ringshot_errqueue", os == "linux"),
        ("ringshot_bufforce", os == "linux"),
        ("ringshot_rt", os == "linux"),
        ("ringshot_abs_sleep", matches!(os, "linux" | "freebsd")),
        (
            "ringshot_cloexec",
            linux || matches!(os, "freebsd" | "netbsd"),
        ),
        ("ringshot_cpuset", matches!(os, "linux" | "freebsd")),
        (
            "ringshot_ppoll",
            linux || matches!(os, "freebsd" | "netbsd"),
        ),
        ("ringshot_sa_len", bsd_like),
        ("ringshot_iocp", os == "windows"),
        ("ringshot_netns", os == "linux"),
    ];
    for (name, on) in caps {
        println!("cargo::rustc-check-cfg=cfg({name})");
        if on {
            println!("cargo::rustc-cfg={name}");
        }
    }
}
