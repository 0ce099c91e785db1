//! Thread placement and real-time tuning, each refused setting a warning rather than a failure.

use std::io;

/// Pins the calling thread to `core`. Returns false (and the caller warns) if refused.
pub fn pin_current(core: usize) -> bool {
    core_affinity::set_for_current(core_affinity::CoreId { id: core })
}

/// Puts the calling thread under SCHED_FIFO at `priority`.
pub fn set_fifo(priority: i32) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param {
            sched_priority: priority,
        };
        syscall!(sched_setscheduler(0, libc::SCHED_FIFO, &param)).map(drop)
    }
    #[cfg(not(target_os = "linux"))]
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
