//! The async runtime a command runs on. On one core (a process pinned with `taskset`, a
//! container with one CPU) tokio's multi-thread scheduler still pays for work stealing it can
//! never use: an injection queue, atomics on every wake-up, and a worker thread beside the one
//! blocked in `block_on`, so that every hand-over between the main future and the tasks is a
//! thread switch. A current-thread runtime runs everything on the calling thread, as wrk's event
//! loop does. The simulator (`orysim sim`) keeps the multi-thread runtime: it serves many
//! clients and is not what the generator's figures measure.

use std::io;
use tokio::runtime::{Builder, Runtime};

/// Which scheduler fits `cores` available cores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    CurrentThread,
    MultiThread,
}

impl Flavor {
    /// One core: the current-thread scheduler; more: work stealing across them.
    pub fn for_cores(cores: usize) -> Flavor {
        if cores <= 1 {
            Flavor::CurrentThread
        } else {
            Flavor::MultiThread
        }
    }

    /// For the cores this process may run on (its CPU affinity and cgroup quota).
    pub fn for_this_process() -> Flavor {
        Flavor::for_cores(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}

/// Builds a runtime of `flavor` with every driver (I/O, time) enabled.
pub fn build(flavor: Flavor) -> io::Result<Runtime> {
    let mut builder = match flavor {
        Flavor::CurrentThread => Builder::new_current_thread(),
        Flavor::MultiThread => Builder::new_multi_thread(),
    };
    builder.enable_all().build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_core_gets_the_current_thread_scheduler() {
        assert_eq!(Flavor::for_cores(0), Flavor::CurrentThread);
        assert_eq!(Flavor::for_cores(1), Flavor::CurrentThread);
        assert_eq!(Flavor::for_cores(2), Flavor::MultiThread);
        let rt = build(Flavor::CurrentThread).unwrap();
        assert_eq!(
            rt.handle().runtime_flavor(),
            tokio::runtime::RuntimeFlavor::CurrentThread
        );
        let rt = build(Flavor::MultiThread).unwrap();
        assert_eq!(
            rt.handle().runtime_flavor(),
            tokio::runtime::RuntimeFlavor::MultiThread
        );
    }
}
