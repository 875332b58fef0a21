//! The scenario file as written: TOML deserialised with every value's position kept, so that
//! each later check can point at the exact line and column it is about.

use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

pub type SpannedMap<T> = BTreeMap<Spanned<String>, Spanned<T>>;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Other scenarios run side by side with their own virtual users (the `all` built-in).
    #[serde(default)]
    pub include: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    pub params: SpannedMap<toml::Value>,
    #[serde(default)]
    pub pools: SpannedMap<RawPool>,
    /// Values generated once per virtual user.
    #[serde(default)]
    pub vu: SpannedMap<String>,
    #[serde(default)]
    pub setup: Option<RawPhase>,
    #[serde(default)]
    pub teardown: Option<RawPhase>,
    #[serde(default)]
    pub cleanup: Option<RawPhase>,
    #[serde(default)]
    pub flow: Vec<Spanned<RawFlow>>,
    /// Pass/fail conditions on the run (`--threshold` syntax), e.g. `keto.check:p99<50ms`.
    #[serde(default)]
    pub thresholds: Vec<Spanned<String>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawPool {
    #[serde(default)]
    pub capacity: Option<Spanned<i64>>,
    /// Also append every entry to a file for the run's cleanup, however many there are.
    #[serde(default)]
    pub ledger: bool,
    /// Entries older than this leave the pool (e.g. tokens near their expiry).
    #[serde(default)]
    pub max_age: Option<Spanned<String>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawPhase {
    #[serde(default)]
    pub step: Vec<Spanned<RawStep>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawFlow {
    #[serde(default)]
    pub name: Option<Spanned<String>>,
    /// A positive number, or an arithmetic expression over parameters.
    #[serde(default)]
    pub weight: Option<Spanned<toml::Value>>,
    /// `read` or `write`: lets `--read-ratio` choose between the two groups of flows.
    #[serde(default)]
    pub mix: Option<Spanned<String>>,
    /// Virtual users that run only this flow, apart from the weighted draw.
    #[serde(default)]
    pub vus: Option<Spanned<i64>>,
    /// Pause after each iteration.
    #[serde(default)]
    pub think: Option<Spanned<String>>,
    #[serde(default, rename = "let")]
    pub let_: SpannedMap<String>,
    /// alias = pool: a copy of a random entry, bound as `alias.field`.
    #[serde(default)]
    pub pick: SpannedMap<String>,
    /// alias = pool: like `pick`, but the entry leaves the pool (no one else gets it).
    #[serde(default)]
    pub take: SpannedMap<String>,
    #[serde(default)]
    pub step: Vec<Spanned<RawStep>>,
}

/// A step: `op` plus the operation's own fields, checked against the operation once `op` is
/// known.
pub type RawStep = SpannedMap<toml::Value>;

/// Entries of a map in the order they appear in the file (serde's maps are sorted by key).
pub fn in_file_order<T>(map: &SpannedMap<T>) -> Vec<(&Spanned<String>, &Spanned<T>)> {
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    entries
}
