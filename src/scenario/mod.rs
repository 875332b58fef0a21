//! Scenario files: users describe their Ory traffic in TOML (weighted flows of typed steps,
//! generated data, captures, shared pools, setup/teardown/cleanup), and the built-in workloads
//! are such files, embedded in the binary. See docs/scenarios.md for the format.

mod builtin;
mod compile;
mod file;
mod line_index;
pub mod model;
pub mod names;
pub mod template;
mod think;
mod weight;

pub use builtin::{builtin_source, BUILTINS};
pub use model::Scenario;
pub use think::sample as think_sample;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// Something wrong with a scenario: where (when it is about a place in a file), what, and how
/// to fix it. Displayed as one line: `path:line:col: what (hint)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioError {
    pub origin: String,
    /// 1-based line and column.
    pub position: Option<(usize, usize)>,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin)?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioError {}

/// Parameter values set on the command line, by name.
pub type Overrides = BTreeMap<String, String>;

/// Loads a built-in by name, or a file by path (anything with a `/` or ending in `.toml`).
pub fn load(spec: &str, overrides: &Overrides) -> Result<Scenario, ScenarioError> {
    if let Some(source) = builtin_source(spec) {
        return compile::compile(&format!("builtin:{spec}"), source, None, overrides);
    }
    if !looks_like_path(spec) {
        return Err(ScenarioError {
            origin: spec.to_string(),
            position: None,
            message: "no built-in scenario by that name and not a path".into(),
            hint: Some(format!(
                "built-ins: {}; a file path must end in .toml or contain a /",
                BUILTINS.map(|(n, _)| n).join(", ")
            )),
        });
    }
    let path = Path::new(spec);
    let source =
        crate::limits::read_text(path, crate::limits::MAX_SCENARIO_BYTES).map_err(|e| {
            let position = match e {
                crate::limits::ReadError::NotUtf8 { line, col } => Some((line, col)),
                _ => None,
            };
            ScenarioError {
                origin: spec.to_string(),
                position,
                message: format!("cannot read the scenario file: {e}"),
                hint: None,
            }
        })?;
    compile::compile(spec, &source, path.parent(), overrides)
}

/// Compiles scenario text that is not in a file (`origin` names it in messages); includes of
/// other files are not resolved, built-in ones are.
pub fn compile_text(
    origin: &str,
    source: &str,
    overrides: &Overrides,
) -> Result<Scenario, ScenarioError> {
    compile::compile(origin, source, None, overrides)
}

fn looks_like_path(spec: &str) -> bool {
    spec.contains('/') || spec.ends_with(".toml") || Path::new(spec).exists()
}

#[cfg(test)]
mod tests;
