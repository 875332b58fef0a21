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
