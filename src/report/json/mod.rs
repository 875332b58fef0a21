//! The versioned JSON report: a typed, documented schema (see `docs/report-schema.md`) that later
//! tools (compare, merge, thresholds) load back with [`load`] and turn into a mergeable
//! [`Snapshot`] with [`Report::snapshot`].
//!
//! The report types are deliberately separate from the engine's internal types: they are a
//! contract with readers of old and new files. Versioning rule: additive changes (a new field, a
//! new key in a map) keep `schema_version`; renaming or removing a field, or changing its type or
//! meaning, bumps it. Readers therefore ignore unknown fields.
//!
//! `schema` holds the types, `build` makes a report of a run, `codec` turns one back into a
//! snapshot, `io` writes and reads the files.

mod build;
mod codec;
mod io;
mod schema;
#[cfg(test)]
pub(crate) mod tests;

pub use build::{build, per_second, rfc3339, rfc3339_micros};
pub(crate) use build::{figures, headline_verdicts, services_in_order};
pub use codec::{decode_histogram, encode_histogram};
pub use io::{load, write_atomic, write_file_atomic};
pub use schema::*;
