//! How far apart two strings are: for "did you mean" suggestions, and for the simulator's
//! copy of Kratos's password-similarity check.

/// The candidate nearest to `s` by edit distance, when it is close enough to be a typo.
pub fn closest<'a>(s: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(s, c), *c))
        // Close, but not so short that every candidate would be "close".
        .filter(|(d, c)| *d <= 3.max(c.len() / 4) && *d < c.chars().count())
        .min()
        .map(|(_, c)| c)
}

/// Levenshtein distance in characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_suggests_typos_only() {
        let ops = ["kratos.login", "kratos.logout", "keto.check"];
        assert_eq!(closest("kratos.logn", &ops), Some("kratos.login"));
        assert_eq!(closest("keto.chek", &ops), Some("keto.check"));
        assert_eq!(closest("hydra.token", &ops), None);
        assert_eq!(closest("reads", &["read", "write"]), Some("read"));
        // Two short words are always within three edits: no suggestion for those.
        assert_eq!(closest("x", &["ok", "id"]), None);
    }

    #[test]
    fn edit_distance_counts_characters() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("é", "e"), 1);
    }
}
