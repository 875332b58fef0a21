//! Bounded in-memory maps for the simulator.
//!
//! Every store is capped: inserting beyond the cap evicts the oldest entry first (FIFO by
//! insertion), so a multi-hour soak run cannot grow memory without bound. [`Sharded`] spreads
//! one logical map over a few independently locked shards; each shard evicts on its own, which
//! approximates global oldest-first eviction well enough for a simulator.

use super::byte_budget::ByteBudget;
use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash};
use std::sync::{Mutex, MutexGuard};

/// A hash map with a maximum size and oldest-first eviction.
pub(crate) struct BoundedMap<K, V> {
    map: HashMap<K, (u64, V)>,
    /// Insertion order as `(sequence, key)`; entries whose sequence no longer matches the
    /// map (removed or re-inserted keys) are stale and skipped.
    order: VecDeque<(u64, K)>,
    seq: u64,
    cap: usize,
    /// Bytes held, for maps whose values can be large (see `with_max_bytes`).
    bytes: ByteBudget,
    weigh: fn(&V) -> usize,
}

impl<K: Hash + Eq + Clone, V> BoundedMap<K, V> {
    /// A map bounded in entries only (every store of the simulator has a byte budget too).
    #[cfg(test)]
    pub(crate) fn new(cap: usize) -> Self {
        BoundedMap::with_max_bytes(cap, usize::MAX, |_| 0)
    }

    /// A map that also evicts its oldest entries while their `weigh`t exceeds `max_bytes`
    /// (the newest entry always stays).
    pub(crate) fn with_max_bytes(cap: usize, max_bytes: usize, weigh: fn(&V) -> usize) -> Self {
        BoundedMap {
            map: HashMap::new(),
            order: VecDeque::new(),
            seq: 0,
            cap: cap.max(1),
            bytes: ByteBudget::new(max_bytes),
            weigh,
        }
    }

    /// Inserts (or replaces) `key`, returning the entries evicted to stay within the cap.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Vec<(K, V)> {
        self.seq += 1;
        let seq = self.seq;
        self.order.push_back((seq, key.clone()));
        self.bytes.add((self.weigh)(&value));
        if let Some((_, replaced)) = self.map.insert(key, (seq, value)) {
            self.bytes.remove((self.weigh)(&replaced));
        }
        let mut evicted = Vec::new();
        while self.map.len() > self.cap || (self.bytes.over() && self.map.len() > 1) {
            match self.order.pop_front() {
                Some((s, k)) => {
                    if self.map.get(&k).map(|(cur, _)| *cur == s).unwrap_or(false) {
                        if let Some((_, v)) = self.map.remove(&k) {
                            self.bytes.remove((self.weigh)(&v));
                            evicted.push((k, v));
                        }
                    }
                }
                None => break,
            }
        }
        self.compact();
        evicted
    }

    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key).map(|(_, v)| v)
    }

    pub(crate) fn contains(&self, key: &K) -> bool {
        self.map.contains_key(key)
    }

    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        let removed = self.map.remove(key).map(|(_, v)| v);
        if let Some(v) = &removed {
            self.bytes.remove((self.weigh)(v));
            self.compact();
        }
        removed
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Values in insertion order (oldest first).
    pub(crate) fn values_in_order(&self) -> impl Iterator<Item = &V> {
        self.order
            .iter()
            .filter_map(move |(s, k)| match self.map.get(k) {
                Some((cur, v)) if cur == s => Some(v),
                _ => None,
            })
    }

    /// Drops stale order entries once they clearly outnumber live ones (amortised O(1)).
    fn compact(&mut self) {
        if self.order.len() > 2 * self.map.len() + 1024 {
            let map = &self.map;
            self.order
                .retain(|(s, k)| map.get(k).map(|(cur, _)| cur == s).unwrap_or(false));
        }
    }
}

/// Locks a mutex, recovering the data if a previous holder panicked (never expected; the
/// handlers do not panic, but a poisoned lock must not take the simulator down).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A [`BoundedMap`] split over independently locked shards.
pub(crate) struct Sharded<K, V> {
    shards: Vec<Mutex<BoundedMap<K, V>>>,
    hasher: RandomState,
}

const SHARDS: usize = 16;

impl<K: Hash + Eq + Clone, V> Sharded<K, V> {
    /// `cap` is the total capacity, divided evenly over the shards.
    #[cfg(test)]
    pub(crate) fn new(cap: usize) -> Self {
        Sharded::with_max_bytes(cap, usize::MAX, |_| 0)
    }

    /// Capacity `cap` and at most `max_bytes` of `weigh`t, both divided evenly over the shards.
    pub(crate) fn with_max_bytes(cap: usize, max_bytes: usize, weigh: fn(&V) -> usize) -> Self {
        let per_shard = cap.div_ceil(SHARDS).max(1);
        let bytes_per_shard = (max_bytes / SHARDS).max(1);
        Sharded {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(BoundedMap::with_max_bytes(
                        per_shard,
                        bytes_per_shard,
                        weigh,
                    ))
                })
                .collect(),
            hasher: RandomState::new(),
        }
    }

    fn shard(&self, key: &K) -> &Mutex<BoundedMap<K, V>> {
        let idx = (self.hasher.hash_one(key) as usize) % self.shards.len();
        &self.shards[idx]
    }

    /// Runs `f` with the shard that holds `key` locked. Never hold it across an `.await`.
    pub(crate) fn with<R>(&self, key: &K, f: impl FnOnce(&mut BoundedMap<K, V>) -> R) -> R {
        f(&mut lock(self.shard(key)))
    }

    pub(crate) fn insert(&self, key: K, value: V) -> Vec<(K, V)> {
        let shard = self.shard(&key);
        lock(shard).insert(key, value)
    }

    pub(crate) fn remove(&self, key: &K) -> Option<V> {
        lock(self.shard(key)).remove(key)
    }

    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// Bytes held over all shards.
    #[cfg(test)]
    pub(crate) fn bytes_used(&self) -> usize {
        self.shards.iter().map(|s| lock(s).bytes.used()).sum()
    }

    /// Visits shard after shard; stops when `f` returns false.
    pub(crate) fn for_each_shard(&self, mut f: impl FnMut(&BoundedMap<K, V>) -> bool) {
        for s in &self.shards {
            if !f(&lock(s)) {
                break;
            }
        }
    }
}

impl<K: Hash + Eq + Clone, V: Clone> Sharded<K, V> {
    pub(crate) fn get(&self, key: &K) -> Option<V> {
        lock(self.shard(key)).get(key).cloned()
    }
}

/// Inserts a hundred values made by `make` under keys 0..100; the bytes the store then holds
/// and the keys it kept (for the byte-budget tests of the stores).
#[cfg(test)]
pub(crate) fn fill_hundred<V>(
    store: &Sharded<u32, V>,
    mut make: impl FnMut() -> V,
) -> (usize, Vec<u32>) {
    for i in 0..100 {
        store.insert(i, make());
    }
    let kept: Vec<u32> = (0..100)
        .filter(|i| store.with(i, |m| m.contains(i)))
        .collect();
    // Eviction is oldest first within each shard (keys land on shards by a seeded hash, so an
    // old key alone on its shard may rightly stay): in every shard, what is kept is the newest
    // of what it was given.
    let mut by_shard: std::collections::BTreeMap<usize, Vec<u32>> = Default::default();
    for i in 0..100u32 {
        let shard = store.with(&i, |m| m as *const BoundedMap<u32, V> as usize);
        by_shard.entry(shard).or_default().push(i);
    }
    for keys in by_shard.values() {
        let kept_here = keys.iter().filter(|k| kept.contains(k)).count();
        assert!(
            keys[keys.len() - kept_here..]
                .iter()
                .all(|k| kept.contains(k)),
            "a shard given {keys:?} kept an older entry over a newer one: {kept:?}"
        );
    }
    (store.bytes_used(), kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_map_with_a_byte_maximum_evicts_the_oldest_while_over() {
        let mut m: BoundedMap<u32, String> = BoundedMap::with_max_bytes(1000, 3 << 20, String::len);
        let mut evicted = 0;
        for i in 0..10 {
            evicted += m.insert(i, "x".repeat(1 << 20)).len();
        }
        assert_eq!(m.len(), 3);
        assert_eq!(evicted, 7);
        assert!(m.contains(&9) && !m.contains(&6));
        m.insert(9, String::new());
        m.remove(&8);
        assert_eq!(
            m.bytes.used(),
            1 << 20,
            "replaced and removed values are no longer counted"
        );
        let huge = "y".repeat(5 << 20);
        m.insert(10, huge);
        assert_eq!(m.len(), 1, "the newest entry stays, however large");
    }

    #[test]
    fn evicts_oldest_first_and_stays_bounded() {
        let mut m = BoundedMap::new(3);
        for i in 0..3 {
            assert!(m.insert(i, i * 10).is_empty());
        }
        let evicted = m.insert(3, 30);
        assert_eq!(evicted, vec![(0, 0)]);
        assert_eq!(m.len(), 3);
        assert!(m.get(&0).is_none());
        assert_eq!(m.get(&3), Some(&30));
    }

    #[test]
    fn reinserted_keys_move_to_the_back_and_churn_does_not_grow_the_order_log() {
        let mut m = BoundedMap::new(2);
        m.insert("a", 1);
        m.insert("b", 2);
        m.insert("a", 3); // "a" is now the newest
        let evicted = m.insert("c", 4);
        assert_eq!(evicted, vec![("b", 2)]);
        for i in 0..100_000u32 {
            m.insert("x", i);
            m.remove(&"x");
        }
        assert!(m.order.len() < 5000, "order log grew to {}", m.order.len());
        assert_eq!(m.values_in_order().count(), m.len());
    }

    #[test]
    fn a_sharded_map_with_a_byte_maximum_stays_under_it_and_keeps_the_newest() {
        let s: Sharded<u32, String> = Sharded::with_max_bytes(1_000_000, 16 << 20, String::len);
        for i in 0..200 {
            s.insert(i, "x".repeat(1 << 20));
        }
        let used = s.bytes_used();
        // Each shard may hold its newest entry beyond its share.
        assert!(used <= (16 << 20) + SHARDS * (1 << 20), "{used} bytes held");
        assert!(s.len() < 40, "{} entries held", s.len());
        assert!(s.get(&199).is_some(), "the newest entry stays");
        // Oldest first: of the first 100, none is left.
        assert!((0..100).all(|i| s.get(&i).is_none()));
    }

    #[test]
    fn sharded_total_capacity_is_respected() {
        let s: Sharded<u64, u64> = Sharded::new(64);
        for i in 0..10_000 {
            s.insert(i, i);
        }
        assert!(s.len() <= 64 + SHARDS, "len {}", s.len());
        assert_eq!(s.get(&9_999), Some(9_999));
    }
}
