//! The built-in workloads, one per Ory service. Each decides per step whether to read or write
//! (through its `ReadWriteMix`), picks earlier-written entities from bounded shared pools, and
//! records every call through `Vu::call`.

mod hydra;
mod keto;
mod kratos;

pub use hydra::HydraWorkload;
pub use keto::KetoWorkload;
pub use kratos::KratosWorkload;

use super::vu::Vu;
use std::future::Future;

/// Settings every workload shares.
#[derive(Clone, Debug)]
pub struct WorkloadOptions {
    pub read_ratio: f64,
    /// Share of reads aimed at entities that must come back inactive or denied.
    pub negative_share: f64,
    /// Unique per run; goes into generated identifiers.
    pub run_tag: String,
    pub pool_capacity: usize,
}

pub trait Workload: Send + Sync + 'static {
    /// State a virtual user keeps between steps (e.g. a session only it will log out).
    type Local: Default + Send + 'static;

    /// One operation: exactly one recorded call, read or write as the mix decides.
    fn step(&self, vu: &mut Vu, local: &mut Self::Local) -> impl Future<Output = ()> + Send;
}
