//! Bytes held by a simulator store. Counting entries alone does not bound memory: with 1 MB
//! templated values, a million entries is a terabyte. A store adds each entry's weight when it
//! keeps it and removes it when the entry leaves, and evicts its oldest entries while over.

/// The most a store holds, in bytes of its entries' text (indexes included).
pub(crate) const MAX_STORE_BYTES: usize = 256 << 20;

/// Fixed cost counted per entry besides its text: map nodes, index entries, reference counts.
pub(crate) const ENTRY_OVERHEAD: usize = 128;

#[derive(Debug)]
pub(crate) struct ByteBudget {
    used: usize,
    max: usize,
}

impl ByteBudget {
    pub(crate) fn new(max: usize) -> Self {
        ByteBudget { used: 0, max }
    }

    pub(crate) fn add(&mut self, bytes: usize) {
        self.used = self.used.saturating_add(bytes);
    }

    pub(crate) fn remove(&mut self, bytes: usize) {
        self.used = self.used.saturating_sub(bytes);
    }

    /// Whether the store must evict.
    pub(crate) fn over(&self) -> bool {
        self.used > self.max
    }

    #[cfg(test)]
    pub(crate) fn used(&self) -> usize {
        self.used
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_only_beyond_the_maximum_and_never_negative() {
        let mut b = ByteBudget::new(100);
        b.add(100);
        assert!(!b.over());
        b.add(1);
        assert!(b.over());
        b.remove(500);
        assert_eq!(b.used(), 0);
    }
}
