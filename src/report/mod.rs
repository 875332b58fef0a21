//! Exporters: everything that turns a finished run (the engine's `RunInfo` and `Snapshot`) into
//! output. One file per format; they read what the engine produced and never call into it.

pub mod json;
pub mod summary;
