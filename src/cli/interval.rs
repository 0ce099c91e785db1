//! Interval reports: one line per interval (as iperf3 prints one a second) and JSON
//! `intervals[]`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::output::{fmt_ns, fmt_rate};

/// Runs shorter than this print no interval lines when the interval is the terminal default.
const DEFAULT_QUIET: Duration = Duration::from_secs(2);

/// One interval. Counts are for the interval; `*_ns` figures are null where they do not apply
/// (unpaced, no flow control, a receiver) or when the engine made no batch in the interval.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IntervalRow {
    /// Seconds since the start of the run: the interval is `start..end`.
    pub start: f64,
    pub end: f64,
    pub packets: u64,
    pub bytes: u64,
    pub pps: f64,
    pub gbps: f64,
    /// Receivers: packets counted lost in the interval.
    pub lost: Option<u64>,
    pub submit_p99_ns: Option<u64>,
    pub lateness_max_ns: Option<u64>,
    pub window_waits: Option<u64>,
    pub ack_visibility_p99_ns: Option<u64>,
}

/// Running totals at one instant, and the interval figures measured by whoever sampled.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    pub packets: u64,
    pub bytes: u64,
    pub lost: Option<u64>,
    pub window_waits: Option<u64>,
    pub submit_p99_ns: Option<u64>,
    pub lateness_max_ns: Option<u64>,
    pub ack_visibility_p99_ns: Option<u64>,
}

/// Decides when an interval ends, keeps the rows and prints them.
#[derive(Debug)]
pub struct Intervals {
    every: Option<Duration>,
    /// Print lines (false with --json: the rows go into the JSON object only).
    print: bool,
    /// The terminal default: hold lines back until the run has lasted [`DEFAULT_QUIET`].
    quiet_until: Option<Instant>,
    start: Instant,
    next: Instant,
    prev: (f64, Sample),
    rows: Vec<IntervalRow>,
    printed: usize,
    /// A receiver's intervals: the clock starts at the first packet ([`observe`](Self::observe)),
    /// and rows without packets are held back until a later one has packets (dropped at the
    /// end), so the lines run from the first packet to the last.
    receiver: bool,
    /// A receiver that has seen no packet yet.
    waiting: bool,
}

impl Intervals {
    /// `flag`: `--interval` as given (`Some(ZERO)` turns reports off); without it, 1 s when
    /// stdout is a terminal.
    pub fn new(flag: Option<Duration>, json: bool) -> Intervals {
        let start = Instant::now();
        let (every, quiet_until) = match flag {
            Some(d) if d.is_zero() => (None, None),
            Some(d) => (Some(d), None),
            None if std::io::stdout().is_terminal() => {
                (Some(Duration::from_secs(1)), Some(start + DEFAULT_QUIET))
            }
            None => (None, None),
        };
        Intervals {
            every,
            print: !json,
            quiet_until,
            start,
            next: start + every.unwrap_or(Duration::MAX / 4),
            prev: (0.0, Sample::default()),
            rows: Vec::new(),
            printed: 0,
            receiver: false,
            waiting: false,
        }
    }

    /// A receiver's intervals: they start at the first packet (times are seconds since it) and
    /// end with the last interval that has packets.
    pub fn for_receiver(mut self) -> Intervals {
        self.receiver = true;
        self.waiting = true;
        self
    }

    /// A receiver has seen no packet yet (its clock has not started).
    pub fn waiting(&self) -> bool {
        self.waiting && self.every.is_some()
    }

    /// A receiver's running packet count: the clock starts when the first packet is seen.
    pub fn observe(&mut self, packets: u64) {
        if !self.waiting || packets == 0 {
            return;
        }
        self.waiting = false;
        let now = Instant::now();
        if let Some(q) = self.quiet_until.as_mut() {
            *q = now + DEFAULT_QUIET;
        }
        self.start = now;
        self.next = now + self.every.unwrap_or(Duration::MAX / 4);
    }

    /// Whether lines are printed (the live spinner stays off then).
    pub fn printing(&self) -> bool {
        self.every.is_some() && self.print
    }

    /// Whether an interval has ended by now.
    pub fn due(&self) -> bool {
        self.every.is_some() && !self.waiting && Instant::now() >= self.next
    }

    /// Closes the interval ending now with the running totals in `s`.
    pub fn close(&mut self, s: Sample) {
        let Some(every) = self.every else { return };
        let now = self.start.elapsed().as_secs_f64();
        while self.next <= Instant::now() {
            self.next += every;
        }
        self.push(now, s);
    }

    /// Closes the last, partial interval at the end of the run (if it has any length).
    pub fn finish(&mut self, s: Sample) {
        if self.every.is_none() {
            return;
        }
        self.observe(s.packets);
        let now = self.start.elapsed().as_secs_f64();
        if !self.waiting && now - self.prev.0 >= 0.05 && s.packets > self.prev.1.packets {
            self.push(now, s);
        }
        if self.receiver {
            // Nothing came after these: the run ended idle.
            let keep = self
                .rows
                .iter()
                .rposition(|r| r.packets > 0)
                .map_or(0, |i| i + 1);
            self.rows.truncate(keep.max(self.printed));
        }
        if self.quiet_until.is_some_and(|q| Instant::now() < q) {
            self.printed = self.rows.len(); // a short run: no lines
        }
        self.flush();
    }

    fn push(&mut self, now: f64, s: Sample) {
        let (t0, p) = self.prev;
        let dt = (now - t0).max(1e-9);
        let packets = s.packets.saturating_sub(p.packets);
        let bytes = s.bytes.saturating_sub(p.bytes);
        let sub = |a: Option<u64>, b: Option<u64>| a.map(|a| a.saturating_sub(b.unwrap_or(0)));
        self.rows.push(IntervalRow {
            start: t0,
            end: now,
            packets,
            bytes,
            pps: packets as f64 / dt,
            gbps: bytes as f64 * 8.0 / dt / 1e9,
            lost: sub(s.lost, p.lost),
            submit_p99_ns: s.submit_p99_ns,
            lateness_max_ns: s.lateness_max_ns,
            window_waits: sub(s.window_waits, p.window_waits),
            ack_visibility_p99_ns: s.ack_visibility_p99_ns,
        });
        self.prev = (now, s);
        if self.quiet_until.is_none_or(|q| Instant::now() >= q) {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if !self.print {
            return;
        }
        // A receiver holds back rows without packets until a later row has some.
        let end = if self.receiver {
            let last = self.rows.iter().rposition(|r| r.packets > 0);
            last.map_or(self.printed, |i| i + 1).max(self.printed)
        } else {
            self.rows.len()
        };
        for r in &self.rows[self.printed..end] {
            println!("{}", line(r));
        }
        self.printed = end;
    }

    pub fn rows(&self) -> &[IntervalRow] {
        &self.rows
    }
}

/// One interval as a line: `[  1.0-  2.0 s]  68870 packets  68.9 kpps  0.76 Gbit/s ...`.
pub fn line(r: &IntervalRow) -> String {
    let mut s = format!(
        "[{:>6.1}-{:>6.1} s] {:>10} packets {:>12} {:>7.3} Gbit/s",
        r.start,
        r.end,
        r.packets,
        fmt_rate(r.pps),
        r.gbps
    );
    if let Some(l) = r.lost {
        s += &format!("  lost {l}");
    }
    if let Some(v) = r.submit_p99_ns.filter(|v| *v > 0) {
        s += &format!("  submit p99 {}", fmt_ns(v));
    }
    if let Some(v) = r.lateness_max_ns {
        s += &format!("  late max {}", fmt_ns(v));
    }
    if let Some(v) = r.window_waits {
        s += &format!("  window waits {v}");
    }
    if let Some(v) = r.ack_visibility_p99_ns {
        s += &format!("  ACK vis p99 {}", fmt_ns(v));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(packets: u64) -> Sample {
        Sample {
            packets,
            bytes: packets * 100,
            ..Sample::default()
        }
    }

    /// A receiver's clock waits for the first packet, and rows without packets after the last
    /// one are dropped; a quiet row between packets stays.
    #[test]
    fn receiver_rows_run_from_the_first_packet_to_the_last() {
        let every = Duration::from_millis(20);
        let mut iv = Intervals::new(Some(every), true).for_receiver();
        std::thread::sleep(every * 2);
        iv.observe(0);
        assert!(
            iv.waiting() && !iv.due(),
            "no interval before the first packet"
        );
        iv.observe(3);
        assert!(!iv.waiting() && !iv.due());
        for total in [5, 5, 9, 9, 9] {
            std::thread::sleep(every);
            assert!(iv.due());
            iv.close(at(total));
        }
        iv.finish(at(9));
        let rows = iv.rows();
        let packets: Vec<u64> = rows.iter().map(|r| r.packets).collect();
        assert_eq!(packets, [5, 0, 4], "{rows:?}");
        assert_eq!(rows[0].start, 0.0);
        assert!(rows[0].end >= every.as_secs_f64(), "{rows:?}");
    }

    /// A sender's rows are all kept, quiet ones included.
    #[test]
    fn sender_rows_are_all_kept() {
        let every = Duration::from_millis(10);
        let mut iv = Intervals::new(Some(every), true);
        for total in [4, 4] {
            std::thread::sleep(every);
            iv.close(at(total));
        }
        iv.finish(at(4));
        let packets: Vec<u64> = iv.rows().iter().map(|r| r.packets).collect();
        assert_eq!(packets, [4, 0]);
    }
}
