//! Decides, for one service, whether the next operation is a read or a write so that the
//! service's reads:writes converges to the configured ratio, whatever the virtual users' speed.
//!
//! The decision compares what has been issued so far with the target, instead of drawing at
//! random: the ratio is then exact up to the number of in-flight decisions, not just in
//! expectation.

use crate::ground::Kind;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;
use tokio::sync::Notify;

pub struct ReadWriteMix {
    reads_per_write: f64,
    reads: AtomicU64,
    writes: AtomicU64,
    /// Woken when writes are issued, for readers that must wait for a dedicated writer.
    wrote: Notify,
}

impl ReadWriteMix {
    pub fn new(reads_per_write: f64) -> Self {
        ReadWriteMix {
            reads_per_write,
            reads: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            wrote: Notify::new(),
        }
    }

    /// What the next iteration should be to move towards the ratio, without counting it.
    pub fn wanted(&self) -> Kind {
        let writes = self.writes.load(Relaxed) as f64;
        let reads = self.reads.load(Relaxed) as f64;
        if reads < self.reads_per_write * writes {
            Kind::Read
        } else {
            Kind::Write
        }
    }

    /// Counts the operations an iteration is about to issue.
    pub fn commit(&self, reads: u64, writes: u64) {
        if reads > 0 {
            self.reads.fetch_add(reads, Relaxed);
        }
        if writes > 0 {
            self.writes.fetch_add(writes, Relaxed);
            self.wrote.notify_waiters();
        }
    }

    /// Waits until some write is issued, or `at_most`.
    pub async fn wait_for_writes(&self, at_most: Duration) {
        let _ = tokio::time::timeout(at_most, self.wrote.notified()).await;
    }

    /// `can_read` is false while nothing has been written that a read could target: the
    /// operation is then a write.
    pub fn next(&self, can_read: bool) -> Kind {
        if can_read {
            let writes = self.writes.load(Relaxed) as f64;
            let reads = self.reads.load(Relaxed) as f64;
            if reads < self.reads_per_write * writes {
                self.reads.fetch_add(1, Relaxed);
                return Kind::Read;
            }
        }
        self.writes.fetch_add(1, Relaxed);
        Kind::Write
    }

    pub fn issued(&self) -> (u64, u64) {
        (self.reads.load(Relaxed), self.writes.load(Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(ratio: f64, n: usize) -> (u64, u64) {
        let mix = ReadWriteMix::new(ratio);
        let mut written = false;
        for _ in 0..n {
            if mix.next(written) == Kind::Write {
                written = true;
            }
        }
        mix.issued()
    }

    #[test]
    fn converges_to_the_ratio() {
        let (r, w) = run(100.0, 10_100);
        assert_eq!((r, w), (10_000, 100));
        let (r, w) = run(3.0, 4000);
        assert_eq!((r, w), (3000, 1000));
        let (r, w) = run(0.5, 3000);
        assert_eq!((r, w), (1000, 2000));
    }

    #[test]
    fn zero_ratio_means_writes_only() {
        assert_eq!(run(0.0, 50), (0, 50));
    }

    #[test]
    fn first_operation_is_a_write_until_something_exists() {
        let mix = ReadWriteMix::new(100.0);
        assert_eq!(mix.next(false), Kind::Write);
        assert_eq!(mix.next(false), Kind::Write);
        assert_eq!(mix.next(true), Kind::Read);
    }

    #[test]
    fn concurrent_callers_stay_within_a_few_operations_of_the_ratio() {
        let mix = std::sync::Arc::new(ReadWriteMix::new(10.0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let mix = mix.clone();
                std::thread::spawn(move || {
                    for _ in 0..25_000 {
                        mix.next(true);
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let (r, w) = mix.issued();
        assert_eq!(r + w, 100_000);
        let ratio = r as f64 / w as f64;
        assert!((ratio - 10.0).abs() < 0.1, "ratio {ratio}");
    }
}
