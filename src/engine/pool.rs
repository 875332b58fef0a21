//! A bounded pool of entities written earlier in the run (identities, sessions, tokens,
//! tuples), shared by the virtual users of one service so that one user's writes feed another
//! user's reads. When full, the oldest entry is dropped: memory stays flat however long the run.

use rand::Rng;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

pub const DEFAULT_POOL_CAPACITY: usize = 10_000;

pub struct Pool<T> {
    items: Mutex<VecDeque<T>>,
    capacity: usize,
    /// The number of entries, kept beside the lock: choosing a flow asks every pool it reads
    /// whether it is empty, and that must not queue behind the writers on the mutex.
    len: AtomicUsize,
}

impl<T: Clone> Pool<T> {
    pub fn new(capacity: usize) -> Self {
        Pool {
            items: Mutex::new(VecDeque::with_capacity(capacity.min(1024))),
            capacity: capacity.max(1),
            len: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<T>> {
        self.items.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Publishes the length after a change made under the lock.
    fn settle(&self, items: &MutexGuard<'_, VecDeque<T>>) {
        self.len.store(items.len(), Ordering::Relaxed);
    }

    pub fn push(&self, item: T) {
        let mut items = self.lock();
        if items.len() == self.capacity {
            items.pop_front();
        }
        items.push_back(item);
        self.settle(&items);
    }

    /// A copy of a uniformly chosen entry, leaving it in the pool.
    pub fn pick(&self, rng: &mut impl Rng) -> Option<T> {
        let items = self.lock();
        if items.is_empty() {
            return None;
        }
        let i = rng.gen_range(0..items.len());
        items.get(i).cloned()
    }

    /// Removes and returns a uniformly chosen entry: no one else will get it.
    pub fn take(&self, rng: &mut impl Rng) -> Option<T> {
        let mut items = self.lock();
        if items.is_empty() {
            return None;
        }
        let i = rng.gen_range(0..items.len());
        let taken = items.swap_remove_back(i);
        self.settle(&items);
        taken
    }

    /// Drops entries from the oldest end while `expired` says so.
    pub fn evict_oldest_while(&self, expired: impl Fn(&T) -> bool) {
        let mut items = self.lock();
        while items.front().is_some_and(&expired) {
            items.pop_front();
        }
        self.settle(&items);
    }

    /// A copy of every entry, oldest first.
    pub fn entries(&self) -> Vec<T> {
        self.lock().iter().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    #[test]
    fn evicts_the_oldest_when_full() {
        let pool = Pool::new(3);
        for i in 0..5 {
            pool.push(i);
        }
        assert_eq!(pool.len(), 3);
        let mut rng = SmallRng::seed_from_u64(1);
        for _ in 0..100 {
            let v = pool.pick(&mut rng).unwrap();
            assert!((2..5).contains(&v), "{v} should have been evicted");
        }
    }

    #[test]
    fn take_removes_and_eviction_drops_the_oldest() {
        let pool = Pool::new(10);
        for i in 0..6 {
            pool.push(i);
        }
        let mut rng = SmallRng::seed_from_u64(2);
        let taken = pool.take(&mut rng).unwrap();
        assert_eq!(pool.len(), 5);
        assert!(!pool.entries().contains(&taken));
        pool.evict_oldest_while(|v| *v < 3);
        assert!(
            pool.entries().iter().all(|v| *v >= 3),
            "{:?}",
            pool.entries()
        );
    }

    #[test]
    fn empty_pool_picks_nothing() {
        let pool: Pool<u8> = Pool::new(4);
        assert!(pool.pick(&mut SmallRng::seed_from_u64(0)).is_none());
        assert!(pool.is_empty());
    }
}
