//! Name resolution while a scenario is compiled: which names are set at a given point of a
//! flow, and where their values will live at run time.

use std::collections::BTreeMap;

/// Where a value lives while a virtual user runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Slot {
    /// Captured by a setup step; shared by the whole run.
    Run(usize),
    /// Generated once per virtual user (`[vu]`).
    Vu(usize),
    /// Set during one iteration of a flow (`let`, `pick`, `take`, captures).
    Iter(usize),
}

/// What a template may refer to.
pub trait Scope {
    /// The slot of a name set so far, or a hint saying how to set it.
    fn lookup(&self, name: &str) -> Result<Slot, String>;
    /// A parameter's value as text.
    fn param(&self, name: &str) -> Option<String>;
    /// Every parameter's name, for hints.
    fn param_names(&self) -> Vec<&str> {
        Vec::new()
    }
}

/// The names visible at one point while compiling, in three layers.
#[derive(Clone, Debug, Default)]
pub struct Names {
    pub run: BTreeMap<String, usize>,
    pub vu: BTreeMap<String, usize>,
    pub iter: BTreeMap<String, usize>,
    /// Names that some later step sets: used to make "used before it is set" precise.
    pub later: BTreeMap<String, String>,
    pub params: BTreeMap<String, String>,
}

impl Names {
    /// Binds `name` in the iteration layer, reusing its slot if it is rebound.
    pub fn bind_iter(&mut self, name: &str) -> usize {
        let next = self.iter_len();
        *self.iter.entry(name.to_string()).or_insert(next)
    }

    pub fn iter_len(&self) -> usize {
        self.iter.values().map(|i| i + 1).max().unwrap_or(0)
    }
}

impl Scope for Names {
    fn lookup(&self, name: &str) -> Result<Slot, String> {
        if let Some(i) = self.iter.get(name) {
            return Ok(Slot::Iter(*i));
        }
        if let Some(i) = self.vu.get(name) {
            return Ok(Slot::Vu(*i));
        }
        if let Some(i) = self.run.get(name) {
            return Ok(Slot::Run(*i));
        }
        Err(match self.later.get(name) {
            Some(where_) => format!("it is set later, {where_}; move that step before this one"),
            None => format!(
                "set it under `let`, `[vu]`, with `pick`, or capture it in an earlier step: \
                 capture = [\"{name}\"]"
            ),
        })
    }

    fn param(&self, name: &str) -> Option<String> {
        self.params.get(name).cloned()
    }

    fn param_names(&self) -> Vec<&str> {
        self.params.keys().map(String::as_str).collect()
    }
}

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

fn edit_distance(a: &str, b: &str) -> usize {
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
}
