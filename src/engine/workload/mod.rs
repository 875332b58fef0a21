//! What the executors drive: a workload whose step is one iteration for one virtual user.
//! Scenario groups (`engine::interp`) are the workloads of every run, built-in or not.

use super::vu::Vu;
use std::future::Future;

pub trait Workload: Send + Sync + 'static {
    /// State a virtual user keeps between steps.
    type Local: Default + Send + 'static;

    /// One iteration for one virtual user.
    fn step(&self, vu: &mut Vu, local: &mut Self::Local) -> impl Future<Output = ()> + Send;
}
