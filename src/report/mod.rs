//! Exporters: everything that turns a finished run (the engine's `RunInfo` and `Snapshot`) into
//! output. One file per format; they read what the engine produced and never call into it.

pub mod convert;
pub mod destination;
pub mod drift;
pub mod html;
pub mod intervals;
pub mod json;
pub mod merge;
pub mod observer;
pub mod prometheus;
pub mod summary;
pub mod thresholds;
