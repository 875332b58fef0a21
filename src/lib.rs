//! orysim: a load-testing workload simulator for the Ory identity stack (Kratos, Hydra, Keto).
//!
//! Data flows one way: `cli` → `config` → `engine` (virtual users calling `ory` clients) →
//! `metrics` (recorder → snapshot) → `report` (summary, JSON). `sim` is a built-in Ory
//! simulator that the engine can target when no endpoint is configured.

pub mod cli;
pub mod commands;
pub mod compare;
pub mod config;
pub mod db;
pub mod engine;
pub mod ground;
pub mod heap;
pub(crate) mod limits;
pub mod metrics;
pub mod ory;
pub(crate) mod precise_sleep;
pub mod report;
pub mod scenario;
pub mod secret;
pub(crate) mod segment;
pub mod signals;
pub mod sim;
pub(crate) mod temp_files;
pub mod terminal_text;
pub(crate) mod tls_verify;
