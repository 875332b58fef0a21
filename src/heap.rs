//! Heap settings for long runs.
//!
//! A latency histogram is about 190 KiB. glibc serves an allocation that size with `mmap` at
//! first, but after the first such block is freed it raises its threshold and serves later ones
//! from the heap arenas, where blocks freed at different times fragment the heap: a multi-hour
//! run that cuts an interval every few seconds then grows a little with every hour. Fixing the
//! threshold keeps every histogram-sized block in its own mapping, returned to the system when
//! freed, so memory stays flat however long the run is. A fresh mapping is also sparse: only
//! the pages of the buckets a run's latencies fall in become resident, which is why histograms
//! are allocated afresh after each drain rather than cleared and reused (clearing writes every
//! page). Small allocations (the hot path's) are unaffected.

/// Blocks of at least this size always get their own mapping.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD_BYTES: libc::c_int = 128 * 1024;

/// Applies the settings; call once at start-up, before the runtime's threads exist.
pub fn tune_for_long_runs() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before any other thread
    // exists. A refusal (return 0) leaves glibc's defaults, which are correct, only less flat.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
    }
}
