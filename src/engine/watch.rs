//! The generator watching itself, so that a slow load generator is never reported as a slow
//! server: how late iterations were dispatched and started against their schedule, how many
//! arrivals were dropped, and how much CPU the process used.

use crate::metrics::{new_latency_histogram, LatencyHistogram};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Default)]
pub struct GeneratorWatch {
    /// Scheduler wake-up minus intended time: only the generator itself makes this grow.
    dispatch_lag: Mutex<Option<LatencyHistogram>>,
    /// Iteration start minus intended time: grows when no virtual user is free (slow server or
    /// too few virtual users) as well as when the generator is overloaded.
    start_lag: Mutex<Option<LatencyHistogram>>,
    arrivals: AtomicU64,
    /// Arrivals that found every virtual user busy and waited in the backlog.
    delayed: AtomicU64,
    dropped: AtomicU64,
    /// Virtual-user tasks alive; with `parked` and the open model's idle counters, what
    /// `active_vus` reports. Each changes per user or per state change, never per call.
    vus: AtomicU64,
    /// Closed model with stages: users waiting for the stage target to reach them.
    parked: AtomicU64,
    /// Open model: per group, users waiting for an arrival.
    idle: Mutex<Vec<std::sync::Arc<std::sync::atomic::AtomicUsize>>>,
}

fn record(slot: &Mutex<Option<LatencyHistogram>>, lag: Duration) {
    let us = u64::try_from(lag.as_micros()).unwrap_or(u64::MAX).max(1);
    slot.lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(new_latency_histogram)
        .saturating_record(us);
}

fn copy(slot: &Mutex<Option<LatencyHistogram>>) -> Option<LatencyHistogram> {
    slot.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

impl GeneratorWatch {
    pub fn record_dispatch_lag(&self, lag: Duration) {
        record(&self.dispatch_lag, lag);
    }

    pub fn record_start_lag(&self, lag: Duration) {
        record(&self.start_lag, lag);
    }

    pub fn count_arrival(&self) {
        self.arrivals.fetch_add(1, Relaxed);
    }

    pub fn count_delay(&self) {
        self.delayed.fetch_add(1, Relaxed);
    }

    pub fn delayed(&self) -> u64 {
        self.delayed.load(Relaxed)
    }

    pub fn count_drop(&self) {
        self.dropped.fetch_add(1, Relaxed);
    }

    pub fn arrivals(&self) -> u64 {
        self.arrivals.load(Relaxed)
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Relaxed)
    }

    pub fn dispatch_lag(&self) -> Option<LatencyHistogram> {
        copy(&self.dispatch_lag)
    }

    pub fn start_lag(&self) -> Option<LatencyHistogram> {
        copy(&self.start_lag)
    }

    pub fn user_started(&self) {
        self.vus.fetch_add(1, Relaxed);
    }

    pub fn user_stopped(&self) {
        self.vus.fetch_sub(1, Relaxed);
    }

    pub fn user_parked(&self, parked: bool) {
        if parked {
            self.parked.fetch_add(1, Relaxed);
        } else {
            self.parked.fetch_sub(1, Relaxed);
        }
    }

    /// The open model's count of users waiting for an arrival, for `active_vus`.
    pub fn watch_idle(&self, idle: std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(idle);
    }

    /// Virtual users holding (or looking for) an iteration now.
    pub fn active_vus(&self) -> usize {
        let idle: usize = self
            .idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|i| i.load(Relaxed))
            .sum();
        let busy = self
            .vus
            .load(Relaxed)
            .saturating_sub(self.parked.load(Relaxed));
        usize::try_from(busy)
            .unwrap_or(usize::MAX)
            .saturating_sub(idle)
    }

    /// Forgets the warm-up period.
    pub fn reset(&self) {
        *self.dispatch_lag.lock().unwrap_or_else(|e| e.into_inner()) = None;
        *self.start_lag.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.arrivals.store(0, Relaxed);
        self.delayed.store(0, Relaxed);
        self.dropped.store(0, Relaxed);
    }
}

/// CPU time (user + system) this process has used so far.
pub fn process_cpu_time() -> Duration {
    // SAFETY: getrusage only writes into the struct we pass.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return Duration::ZERO;
        }
        usage
    };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Peak resident memory of this process in bytes (Linux: VmHWM), if known.
pub fn peak_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Resident memory of this process now, in bytes (Linux: VmRSS), if known.
pub fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Hands freed heap memory back to the operating system. glibc's allocator keeps it otherwise,
/// so the resident size would stay at the high-water mark of any burst (hundreds of
/// connections opened while a server stalls) for the rest of a soak run.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks and trims the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// How often a run hands freed memory back (a trim of a few tens of MiB takes well under a
/// millisecond). Every second: at 1,000 requests/s the allocator otherwise holds tens of MiB
/// of freed blocks between trims, so the resident size seen from outside swings by that much
/// depending on when it is read.
pub const RELEASE_MEMORY_EVERY: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lags_and_counts_accumulate_and_reset() {
        let w = GeneratorWatch::default();
        w.record_dispatch_lag(Duration::from_millis(2));
        w.record_start_lag(Duration::from_millis(40));
        w.count_arrival();
        w.count_drop();
        assert_eq!(w.dispatch_lag().unwrap().len(), 1);
        assert!(w.start_lag().unwrap().max() >= 39_000);
        assert_eq!((w.arrivals(), w.dropped()), (1, 1));
        w.reset();
        assert!(w.dispatch_lag().is_none());
        assert_eq!((w.arrivals(), w.dropped()), (0, 0));
    }

    #[test]
    fn cpu_time_grows_with_work() {
        let before = process_cpu_time();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(process_cpu_time() > before);
        assert!(peak_memory_bytes().unwrap() > 0);
    }
}
