//! Bytes held by a simulator store. Counting entries alone does not bound memory: with 1 MB
//! templated values, a million entries is a terabyte. A store adds each entry's weight when it
//! keeps it and removes it when the entry leaves, and evicts its oldest entries while over.
//! A value another entry keeps alive (a session's identity, a token's client) is counted in
//! both stores: eviction from one store must not leave memory that no budget sees.

/// The most a store holds, in bytes of its entries' text (indexes included).
pub(crate) const MAX_STORE_BYTES: usize = 256 << 20;

/// Fixed cost counted per entry besides its text: map nodes, index entries, reference counts.
pub(crate) const ENTRY_OVERHEAD: usize = 128;

/// Length of a string list's text.
pub(crate) fn strings_len(list: &[String]) -> usize {
    list.iter().map(String::len).sum()
}

/// Bytes of a JSON value's compact text, counted without building it.
pub(crate) fn json_len(value: &serde_json::Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing to a counter cannot fail.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

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

    #[test]
    fn json_len_is_the_compact_text_length() {
        let v = serde_json::json!({"a": [1, "x\"y"], "b": null});
        assert_eq!(json_len(&v), v.to_string().len());
        assert_eq!(strings_len(&["ab".into(), "c".into()]), 3);
    }
}
