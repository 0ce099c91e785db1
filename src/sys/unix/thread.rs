//! Thread placement and real-time tuning, each refused setting a warning rather than a failure.

use std::io;

/// Pins the calling thread to `core`. Returns false (and the caller warns) if refused.
pub fn pin_current(core: usize) -> bool {
    core_affinity::set_for_current(core_affinity::CoreId { id: core })
}

/// Runs `f` on the calling thread while it is pinned to `core`, then gives the thread back the
/// CPUs it had. Linux caches a connected UDP socket's route per CPU at `connect`, and every
/// datagram sent takes and drops a reference on that entry: sockets connected on one CPU and
/// sending from others all bounce one cache line (two engines of a group lost about 30 % of
/// their rate to it). Connected on its sending core, each socket has its CPU's own entry. Where
/// the thread's CPUs cannot be read back (or elsewhere than Linux), `f` runs where it is.
pub fn on_core<T>(core: usize, f: impl FnOnce() -> T) -> T {
    #[cfg(target_os = "linux")]
    {
        use nix::sched::{sched_getaffinity, sched_setaffinity};
        use nix::unistd::Pid;
        // Pid 0: the calling thread.
        if let Ok(before) = sched_getaffinity(Pid::from_raw(0)) {
            if pin_current(core) {
                let out = f();
                let _ = sched_setaffinity(Pid::from_raw(0), &before);
                return out;
            }
        }
    }
    let _ = core;
    f()
}

/// Puts the calling thread under SCHED_FIFO at `priority`.
pub fn set_fifo(priority: i32) -> io::Result<()> {
    #[cfg(ringshot_rt)]
    {
        let param = libc::sched_param {
            sched_priority: priority,
        };
        syscall!(sched_setscheduler(0, libc::SCHED_FIFO, &param)).map(drop)
    }
    #[cfg(not(ringshot_rt))]
    {
        let _ = priority;
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
}

/// Locks current and future pages so the hot path never takes a major fault.
pub fn lock_memory() -> io::Result<()> {
    syscall!(mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE)).map(drop)
}

/// CPU time consumed by the calling thread, ns.
pub fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    match syscall!(clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts)) {
        Ok(_) => ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64,
        Err(_) => 0,
    }
}

/// Number of CPUs this process may run on.
pub fn available_cores() -> Vec<usize> {
    core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect()
}

/// Sets the calling thread's timer slack to `ns` nanoseconds, so the kernel wakes it close to
/// the deadline it asked for rather than batching the wake-up (the default slack is 50 µs).
pub fn set_timer_slack_ns(ns: u64) -> io::Result<()> {
    #[cfg(ringshot_rt)]
    {
        syscall!(prctl(libc::PR_SET_TIMERSLACK, ns as libc::c_ulong, 0, 0, 0)).map(drop)
    }
    #[cfg(not(ringshot_rt))]
    {
        let _ = ns;
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
}

/// Sleeps until `deadline` on the monotonic clock with an absolute timer, so a sleep cut short by
/// a signal or started late still ends at the same instant and no rounding accumulates. Returns at
/// once when the deadline has passed. Never spins.
pub fn sleep_until(deadline: std::time::Instant) {
    let now = std::time::Instant::now();
    let Some(left) = deadline.checked_duration_since(now) else {
        return;
    };
    #[cfg(ringshot_abs_sleep)]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        if syscall!(clock_gettime(libc::CLOCK_MONOTONIC, &mut ts)).is_err() {
            std::thread::sleep(left);
            return;
        }
        // `Instant` reads the same monotonic clock; carry the remaining time over to it.
        let nanos = ts.tv_nsec as u64 + u64::from(left.subsec_nanos());
        let target = libc::timespec {
            tv_sec: ts.tv_sec
                + left.as_secs() as libc::time_t
                + (nanos / 1_000_000_000) as libc::time_t,
            tv_nsec: (nanos % 1_000_000_000) as libc::c_long,
        };
        loop {
            // SAFETY: `target` is a valid timespec that outlives the call; the remaining-time
            // pointer may be null with TIMER_ABSTIME.
            let rc = unsafe {
                libc::clock_nanosleep(
                    libc::CLOCK_MONOTONIC,
                    libc::TIMER_ABSTIME,
                    &target,
                    std::ptr::null_mut(),
                )
            };
            // clock_nanosleep returns the error number itself; only EINTR is worth a retry.
            if rc != libc::EINTR {
                return;
            }
        }
    }
    #[cfg(not(ringshot_abs_sleep))]
    std::thread::sleep(left);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn sleep_until_is_not_early_and_does_not_spin() {
        set_timer_slack_ns(1).expect("PR_SET_TIMERSLACK");
        let cpu0 = thread_cpu_ns();
        let start = Instant::now();
        for i in 1..=20 {
            let d = start + Duration::from_millis(5 * i);
            sleep_until(d);
            assert!(Instant::now() >= d, "woke before the deadline");
        }
        let wall = start.elapsed().as_nanos() as u64;
        let cpu = thread_cpu_ns() - cpu0;
        // A spinning wait would burn ~100 ms of CPU here; sleeping burns microseconds.
        assert!(cpu < wall / 2, "cpu {cpu} ns over wall {wall} ns");
        sleep_until(start); // a past deadline returns at once
    }

    /// `on_core` runs its closure pinned to the core asked for, then gives the thread back
    /// exactly the CPUs it had (an app thread that opens a sender keeps its own affinity).
    #[cfg(target_os = "linux")]
    #[test]
    fn on_core_runs_pinned_and_gives_the_cpus_back() {
        use nix::sched::{sched_getaffinity, CpuSet};
        use nix::unistd::Pid;
        let cpus = |m: CpuSet| -> Vec<usize> {
            (0..CpuSet::count())
                .filter(|&c| m.is_set(c).unwrap_or(false))
                .collect()
        };
        let before = sched_getaffinity(Pid::from_raw(0)).unwrap();
        let core = *available_cores().last().unwrap();
        let inside = on_core(core, || sched_getaffinity(Pid::from_raw(0)).unwrap());
        assert_eq!(cpus(inside), vec![core]);
        let after = sched_getaffinity(Pid::from_raw(0)).unwrap();
        assert_eq!(cpus(after), cpus(before));
    }
}
