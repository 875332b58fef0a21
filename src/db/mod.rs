//! Database-side statistics for `--db-stats`: what PostgreSQL (`pg_stat_statements`,
//! `pg_stat_database`) or CockroachDB (`crdb_internal`) itself counted during a run.
//!
//! Use: parse each `--db-stats` value into a [`DbTarget`], call [`DbProbe::before`] before the
//! load and [`DbProbe::after`] after it; store the [`DbStats`] in the report, print
//! [`summary_lines`], and compare two runs with [`statement_changes`]. Nothing here fails a run:
//! what cannot be read becomes a warning that says what to enable.

pub mod cockroach;
pub mod compare;
pub mod connect;
pub mod diff;
pub mod postgres;
pub mod probe;
pub mod snapshot;
pub mod stats;
pub mod summary;
pub mod target;
pub mod text;
pub(crate) mod tls;

pub use compare::{change_lines, statement_changes, StatementChange};
pub use probe::{DbProbe, ProbeOptions};
pub use stats::{DatabaseCounters, DbKind, DbStats, StatementStats, StatementTotals};
pub use summary::summary_lines;
pub use target::{check_unique_names, DbTarget, DbTargetError};
