//! A bounded pool of entities written earlier in the run (identities, sessions, tokens,
//! tuples), shared by the virtual users of one service so that one user's writes feed another
//! user's reads. When full, the oldest entry is dropped.
//!
//! Entries are packed into fixed-size slots of one buffer that is reserved, and written once,
//! when the first entry arrives: the pool's whole footprint is paid in the first seconds of a
//! run instead of creeping up while the pool fills (which at a realistic write rate takes most
//! of an hour), and a multi-hour soak run does not churn the allocator with millions of small
//! entries of different lifetimes. An entry larger than its slot is kept on the heap instead.
//! A pool too large to pay for up front ([`PREFAULT_LIMIT`]) gets the same buffer, but its
//! pages become resident only as slots are first used: memory then grows while it fills.

use rand::Rng;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Room for entries somewhat longer than the first one (emails and names vary in length).
const SLOT_HEADROOM_NUM: usize = 3;
const SLOT_HEADROOM_DEN: usize = 2;

/// Pools whose buffer and slot records fit in this are made resident when their first entry
/// arrives (10,000 entries of 100-200 bytes take a few MiB); a user's pool of millions of entries
/// must not take gigabytes at once.
pub const PREFAULT_LIMIT: usize = 64 << 20;

pub struct Pool {
    slots: Mutex<Slots>,
    capacity: usize,
    /// Entries older than this leave before each draw.
    max_age: Option<Duration>,
    fields: usize,
    /// The number of entries, kept beside the lock: choosing a flow asks every pool it reads
    /// whether it is empty, and that must not queue behind the writers on the mutex.
    len: AtomicUsize,
}

/// Slot storage. Each slot holds one entry: a little-endian `u32` length per field, then the
/// fields' bytes one after the other.
struct Slots {
    /// Bytes per slot, fixed by the first entry; 0 before it (nothing is reserved yet).
    slot_bytes: usize,
    data: Vec<u8>,
    /// Occupied slots, oldest first (`take` may reorder the middle).
    order: VecDeque<u32>,
    /// Slots emptied by `take` or by age, to be reused before fresh ones.
    free: Vec<u32>,
    /// Per slot ever used (slots `0..meta.len()`), or per slot of the pool when prefaulted.
    meta: Vec<SlotMeta>,
    /// Slots ever used; the next fresh slot.
    fresh: usize,
}

#[derive(Clone)]
struct SlotMeta {
    pushed: Instant,
    /// The entry, when it did not fit its slot.
    spilled: Option<Box<[u8]>>,
}

impl SlotMeta {
    fn vacant() -> Self {
        SlotMeta {
            pushed: Instant::now(),
            spilled: None,
        }
    }
}

impl Pool {
    pub fn new(capacity: usize, fields: usize) -> Self {
        Pool {
            slots: Mutex::new(Slots {
                slot_bytes: 0,
                data: Vec::new(),
                order: VecDeque::new(),
                free: Vec::new(),
                meta: Vec::new(),
                fresh: 0,
            }),
            capacity: capacity.max(1),
            max_age: None,
            fields,
            len: AtomicUsize::new(0),
        }
    }

    /// Entries pushed more than `max_age` ago are dropped when the pool is next drawn from,
    /// under the same lock as the draw.
    pub fn with_max_age(mut self, max_age: Option<Duration>) -> Self {
        self.max_age = max_age;
        self
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Publishes the length after a change made under the lock.
    fn settle(&self, slots: &Slots) {
        self.len.store(slots.order.len(), Ordering::Relaxed);
    }

    /// Adds an entry (one value per field), dropping the oldest when the pool is full.
    pub fn push<S: AsRef<str>>(&self, values: &[S]) {
        debug_assert_eq!(values.len(), self.fields);
        let encoded_len = encoded_len(values);
        let mut slots = self.lock();
        if slots.slot_bytes == 0 {
            slots.reserve(self.capacity, encoded_len);
        }
        let slot = if slots.order.len() >= self.capacity {
            slots.order.pop_front()
        } else {
            slots.free.pop()
        };
        // Every slot below `fresh` is either occupied or free, so a pool below capacity with
        // no free slot has a fresh one.
        let i = slot.map_or_else(|| slots.take_fresh(), |s| s as usize);
        let range = i * slots.slot_bytes..(i + 1) * slots.slot_bytes;
        let spilled = if encoded_len <= slots.slot_bytes {
            encode(values, &mut slots.data[range]);
            None
        } else {
            let mut own = vec![0; encoded_len].into_boxed_slice();
            encode(values, &mut own);
            Some(own)
        };
        slots.meta[i] = SlotMeta {
            pushed: Instant::now(),
            spilled,
        };
        slots.order.push_back(i as u32);
        self.settle(&slots);
    }

    /// Calls `each(field, value)` for every field of a uniformly chosen entry; `remove` takes the
    /// entry out of the pool (no one else will get it). False when the pool is empty.
    pub fn draw(&self, rng: &mut impl Rng, remove: bool, each: impl FnMut(usize, &str)) -> bool {
        let mut slots = self.lock();
        if let Some(max_age) = self.max_age {
            slots.evict_older_than(max_age);
            self.settle(&slots);
        }
        if slots.order.is_empty() {
            return false;
        }
        let at = rng.gen_range(0..slots.order.len());
        let slot = slots.order[at];
        slots.decode(slot, self.fields, each);
        if remove {
            slots.order.swap_remove_back(at);
            slots.release(slot);
            self.settle(&slots);
        }
        true
    }

    /// Drops entries from the oldest end that were pushed more than `max_age` ago (what a
    /// draw does first when the pool has a maximum age).
    #[cfg(test)]
    fn evict_older_than(&self, max_age: Duration) {
        let mut slots = self.lock();
        slots.evict_older_than(max_age);
        self.settle(&slots);
    }

    /// Every entry, oldest first, one value per field.
    pub fn entries<V: for<'a> From<&'a str>>(&self) -> Vec<Vec<V>> {
        let slots = self.lock();
        slots
            .order
            .iter()
            .map(|&slot| {
                let mut row = Vec::with_capacity(self.fields);
                slots.decode(slot, self.fields, |_, v| row.push(V::from(v)));
                row
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Slots {
    /// Sizes the slots after the first entry and writes the whole buffer once, so that its
    /// pages are resident from now on rather than faulted in while the pool fills.
    fn reserve(&mut self, capacity: usize, first_entry: usize) {
        let slot_bytes = (first_entry * SLOT_HEADROOM_NUM / SLOT_HEADROOM_DEN).next_multiple_of(8);
        self.slot_bytes = slot_bytes.max(8);
        let per_slot = self.slot_bytes + std::mem::size_of::<SlotMeta>() + 4;
        if capacity.saturating_mul(per_slot) <= PREFAULT_LIMIT {
            // A non-zero fill: zeroed memory would come from calloc as pages not yet resident.
            self.data = vec![0xa5; capacity * self.slot_bytes];
            self.meta = vec![SlotMeta::vacant(); capacity];
            self.order = VecDeque::with_capacity(capacity);
        } else {
            // Zeroed: the kernel makes each page resident on its first write.
            self.data = vec![0; capacity * self.slot_bytes];
        }
    }

    /// A slot never used before.
    fn take_fresh(&mut self) -> usize {
        let i = self.fresh;
        self.fresh += 1;
        if self.meta.len() < self.fresh {
            self.meta.push(SlotMeta::vacant());
        }
        i
    }

    fn evict_older_than(&mut self, max_age: Duration) {
        while let Some(&slot) = self.order.front() {
            if self.meta[slot as usize].pushed.elapsed() <= max_age {
                break;
            }
            self.order.pop_front();
            self.release(slot);
        }
    }

    fn release(&mut self, slot: u32) {
        self.meta[slot as usize].spilled = None;
        self.free.push(slot);
    }

    fn decode(&self, slot: u32, fields: usize, mut each: impl FnMut(usize, &str)) {
        let i = slot as usize;
        let bytes = match &self.meta[i].spilled {
            Some(own) => &own[..],
            None => &self.data[i * self.slot_bytes..(i + 1) * self.slot_bytes],
        };
        let (lens, mut rest) = bytes.split_at(4 * fields);
        for (field, len) in lens.chunks_exact(4).enumerate() {
            let len = u32::from_le_bytes(len.try_into().expect("4-byte chunk")) as usize;
            let (value, tail) = rest.split_at(len);
            // Written from `&str` by `encode`: always valid UTF-8.
            each(field, std::str::from_utf8(value).unwrap_or_default());
            rest = tail;
        }
    }
}

fn encoded_len<S: AsRef<str>>(values: &[S]) -> usize {
    values.iter().map(|v| 4 + v.as_ref().len()).sum()
}

fn encode<S: AsRef<str>>(values: &[S], out: &mut [u8]) {
    let (lens, body) = out.split_at_mut(4 * values.len());
    let mut at = 0;
    for (v, len) in values.iter().zip(lens.chunks_exact_mut(4)) {
        let v = v.as_ref().as_bytes();
        len.copy_from_slice(&(v.len() as u32).to_le_bytes());
        body[at..at + v.len()].copy_from_slice(v);
        at += v.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    fn one(pool: &Pool, rng: &mut SmallRng, remove: bool) -> Option<Vec<String>> {
        let mut row = Vec::new();
        pool.draw(rng, remove, |_, v| row.push(v.to_string()))
            .then_some(row)
    }

    fn firsts(pool: &Pool) -> Vec<String> {
        pool.entries::<String>()
            .into_iter()
            .map(|r| r[0].clone())
            .collect()
    }

    #[test]
    fn evicts_the_oldest_when_full() {
        let pool = Pool::new(3, 1);
        for i in 0..5 {
            pool.push(&[i.to_string()]);
        }
        assert_eq!(pool.len(), 3);
        assert_eq!(firsts(&pool), ["2", "3", "4"]);
        let mut rng = SmallRng::seed_from_u64(1);
        for _ in 0..100 {
            let v = one(&pool, &mut rng, false).unwrap();
            assert!(
                ["2", "3", "4"].contains(&v[0].as_str()),
                "{v:?} was evicted"
            );
        }
    }

    #[test]
    fn fields_come_back_whole_and_in_order() {
        let pool = Pool::new(4, 3);
        pool.push(&["id-1", "", "ünïcödé ✓"]);
        let row = one(&pool, &mut SmallRng::seed_from_u64(0), false).unwrap();
        assert_eq!(row, ["id-1", "", "ünïcödé ✓"]);
    }

    #[test]
    fn entries_longer_than_their_slot_are_kept_whole() {
        let pool = Pool::new(3, 2);
        pool.push(&["a", "b"]);
        let long = "x".repeat(10_000);
        pool.push(&[long.as_str(), "tail"]);
        pool.push(&["c", "d"]);
        let rows = pool.entries::<String>();
        assert_eq!(rows[1], [long.clone(), "tail".to_string()]);
        // The slot of the long entry is reused for a short one once it is evicted.
        for i in 0..3 {
            pool.push(&[format!("s{i}"), "t".to_string()]);
        }
        assert_eq!(firsts(&pool), ["s0", "s1", "s2"]);
    }

    #[test]
    fn take_removes_and_frees_the_slot() {
        let pool = Pool::new(10, 1);
        for i in 0..6 {
            pool.push(&[i.to_string()]);
        }
        let mut rng = SmallRng::seed_from_u64(2);
        let taken = one(&pool, &mut rng, true).unwrap().remove(0);
        assert_eq!(pool.len(), 5);
        assert!(!firsts(&pool).contains(&taken));
        // Filling up to the capacity again reuses the freed slot without evicting anyone.
        for i in 6..11 {
            pool.push(&[i.to_string()]);
        }
        assert_eq!(pool.len(), 10);
        let kept = firsts(&pool);
        for i in (0..11).map(|i| i.to_string()).filter(|i| *i != taken) {
            assert!(kept.contains(&i), "{i} was evicted: {kept:?}");
        }
    }

    #[test]
    fn taking_everything_empties_the_pool() {
        let pool = Pool::new(5, 1);
        for i in 0..5 {
            pool.push(&[i.to_string()]);
        }
        let mut rng = SmallRng::seed_from_u64(3);
        let mut seen: Vec<String> = (0..5)
            .map(|_| one(&pool, &mut rng, true).unwrap().remove(0))
            .collect();
        seen.sort();
        assert_eq!(seen, ["0", "1", "2", "3", "4"]);
        assert!(pool.is_empty());
        assert!(one(&pool, &mut rng, true).is_none());
    }

    #[test]
    fn eviction_by_age_drops_only_the_old_entries() {
        let pool = Pool::new(10, 1);
        pool.push(&["old"]);
        std::thread::sleep(Duration::from_millis(300));
        pool.push(&["new"]);
        pool.evict_older_than(Duration::from_millis(150));
        assert_eq!(firsts(&pool), ["new"]);
        pool.evict_older_than(Duration::from_secs(3600));
        assert_eq!(pool.len(), 1);
    }

    #[test]
    fn empty_pool_draws_nothing() {
        let pool = Pool::new(4, 1);
        assert!(one(&pool, &mut SmallRng::seed_from_u64(0), false).is_none());
        assert!(pool.is_empty());
        assert!(pool.entries::<String>().is_empty());
    }

    #[test]
    fn the_whole_buffer_is_reserved_with_the_first_entry() {
        let pool = Pool::new(1000, 2);
        pool.push(&["0123456789", "abcdef"]);
        let slots = pool.lock();
        assert!(slots.slot_bytes >= encoded_len(&["0123456789", "abcdef"]));
        assert_eq!(slots.data.len(), 1000 * slots.slot_bytes);
        assert_eq!(slots.meta.len(), 1000, "slot records made up front");
        assert_eq!(slots.fresh, 1);
    }

    #[test]
    fn a_pool_too_large_to_prefault_grows_its_slot_records_as_it_fills() {
        let capacity = PREFAULT_LIMIT / 8;
        let pool = Pool::new(capacity, 1);
        for i in 0..5 {
            pool.push(&[format!("entry-{i}")]);
        }
        {
            let slots = pool.lock();
            assert_eq!(slots.data.len(), capacity * slots.slot_bytes);
            assert_eq!(slots.meta.len(), 5);
        }
        let mut rng = SmallRng::seed_from_u64(4);
        let taken = one(&pool, &mut rng, true).unwrap().remove(0);
        pool.push(&["again"]);
        assert_eq!(pool.lock().meta.len(), 5, "the freed slot was reused");
        let kept = firsts(&pool);
        assert_eq!(kept.len(), 5);
        assert!(kept.contains(&"again".to_string()) && !kept.contains(&taken));
    }
}
