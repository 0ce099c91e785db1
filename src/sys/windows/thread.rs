//! Thread placement and priority on Windows, each refused setting a warning rather than a failure.

use std::io;

use windows_sys::Win32::Foundation::FILETIME;
use windows_sys::Win32::System::Threading::{
    GetCurrentThread, GetThreadTimes, SetThreadPriority, THREAD_PRIORITY_TIME_CRITICAL,
};

/// Pins the calling thread to `core` (SetThreadAffinityMask through core_affinity). Returns false
/// (and the caller warns) if refused.
pub fn pin_current(core: usize) -> bool {
    core_affinity::set_for_current(core_affinity::CoreId { id: core })
}

/// Runs `f` on the calling thread (the Unix family pins it to `core` first, for the per-CPU
/// route cache a connected socket takes; Windows has no such cache to keep local).
pub fn on_core<T>(core: usize, f: impl FnOnce() -> T) -> T {
    let _ = core;
    f()
}

/// The counterpart of SCHED_FIFO: THREAD_PRIORITY_TIME_CRITICAL for the calling thread. Windows
/// has one time-critical level per priority class, so `priority` only says "asked for".
pub fn set_time_critical(priority: i32) -> io::Result<()> {
    let _ = priority;
    // SAFETY: GetCurrentThread returns a pseudo-handle that needs no closing; SetThreadPriority
    // only changes the scheduling of that thread.
    let ok = unsafe { SetThreadPriority(GetCurrentThread(), THREAD_PRIORITY_TIME_CRITICAL) };
    if ok == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Windows has no mlockall; VirtualLock works per range and is capped by the working set.
pub fn lock_memory() -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "Windows has no mlockall",
    ))
}

/// CPU time (kernel + user) consumed by the calling thread, ns.
pub fn thread_cpu_ns() -> u64 {
    let zero = FILETIME {
        dwLowDateTime: 0,
        dwHighDateTime: 0,
    };
    let (mut created, mut exited, mut kernel, mut user) = (zero, zero, zero, zero);
    // SAFETY: the four out-pointers are live FILETIMEs on this stack frame; the pseudo-handle of
    // the current thread needs no closing.
    let ok = unsafe {
        GetThreadTimes(
            GetCurrentThread(),
            &mut created,
            &mut exited,
            &mut kernel,
            &mut user,
        )
    };
    if ok == 0 {
        return 0;
    }
    let ticks = |t: FILETIME| (u64::from(t.dwHighDateTime) << 32) | u64::from(t.dwLowDateTime);
    // FILETIME counts 100 ns ticks.
    ticks(kernel)
        .saturating_add(ticks(user))
        .saturating_mul(100)
}

/// Number of CPUs this process may run on.
pub fn available_cores() -> Vec<usize> {
    core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect()
}

/// Windows has no per-thread timer slack: sleeps end on the system timer's tick.
pub fn set_timer_slack_ns(ns: u64) -> io::Result<()> {
    let _ = ns;
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "Windows has no timer slack",
    ))
}

/// Sleeps until `deadline`; returns at once when it has passed. Never spins.
pub fn sleep_until(deadline: std::time::Instant) {
    if let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        std::thread::sleep(left);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn sleep_until_is_not_early() {
        let start = Instant::now();
        for i in 1..=5 {
            let d = start + Duration::from_millis(5 * i);
            sleep_until(d);
            assert!(Instant::now() >= d, "woke before the deadline");
        }
        sleep_until(start); // a past deadline returns at once
    }

    #[test]
    fn thread_cpu_time_grows_with_work() {
        let t0 = thread_cpu_ns();
        let mut x = 0u64;
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(100) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        assert!(
            thread_cpu_ns() > t0,
            "no CPU time counted for 100 ms of work"
        );
    }

    #[test]
    fn time_critical_priority_is_set_on_the_calling_thread() {
        use windows_sys::Win32::System::Threading::GetThreadPriority;
        let prio = std::thread::spawn(|| {
            set_time_critical(1).expect("THREAD_PRIORITY_TIME_CRITICAL");
            // SAFETY: reads the priority of the current thread through its pseudo-handle.
            unsafe { GetThreadPriority(GetCurrentThread()) }
        })
        .join()
        .unwrap();
        assert_eq!(prio, THREAD_PRIORITY_TIME_CRITICAL);
    }
}
