//! Line numbers of byte offsets in one source text, found by binary search over the offsets of
//! its line starts (computed once). Counting newlines from the start for each compiled step made
//! compiling a scenario quadratic in its size.

pub struct LineIndex {
    /// Byte offset at which each line after the first starts.
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(source: &str) -> LineIndex {
        LineIndex {
            starts: source
                .bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1)
                .collect(),
        }
    }

    /// 1-based line of byte `offset`.
    pub fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|&start| start <= offset) + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_match_counting_newlines() {
        let text = "a\nbc\n\nd\u{e9}\ne";
        let index = LineIndex::new(text);
        for offset in 0..=text.len() {
            let counted = text.as_bytes()[..offset]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1;
            assert_eq!(index.line(offset), counted, "offset {offset}");
        }
    }
}
