//! Setup, teardown and cleanup: steps run once per run (or once per pool entry with
//! `for_each`) around the load phase. Setup failures stop the run; teardown and cleanup
//! failures are counted and reported.

use super::{metric_id, Env, GroupWorkload, PhaseHandle, RuntimePool, StepEnv};
use crate::engine::data;
use crate::ground::{Outcome, Verdict};
use crate::metrics::Recorder;
use crate::scenario::model::{Group, Step};
use crate::scenario::template::Value;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Calls made by a teardown or cleanup phase, and how many failed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PhaseTotals {
    pub calls: u64,
    pub failed: u64,
}

impl PhaseTotals {
    fn add(&mut self, other: PhaseTotals) {
        self.calls += other.calls;
        self.failed += other.failed;
    }
}

/// Deletions run this many at a time: cleanup of a long run can be millions of calls.
const CLEANUP_CONCURRENCY: usize = 16;

/// Runs the group's setup steps (recorded like any call) and returns the run-wide values they
/// captured.
pub async fn run_setup(
    group: &Group,
    env: &Env,
    pools: &[RuntimePool],
    recorder: &Arc<Recorder>,
    seed: u64,
) -> Result<Vec<Value>, String> {
    let mut slots = vec![None; group.run_slots];
    let mut rng = data::vu_rng(seed, usize::MAX);
    let mut seq = 0;
    let step_env = StepEnv {
        env,
        pools,
        run: &[],
        vu: &[],
        vu_id: 0,
        iteration: 0,
    };
    let rec = recorder.handle(usize::MAX);
    for step in &group.setup {
        let done = step_env
            .run_step(step, &mut slots, &mut rng, &mut seq)
            .await;
        rec.record(
            metric_id(recorder, step),
            None,
            done.start,
            done.end,
            done.outcome,
        );
        if let super::exec::Produced::Batch(tally) = &done.produced {
            rec.record_checks(metric_id(recorder, step), &tally.checks);
        }
        if !done.outcome.is_ok() {
            return Err(format!(
                "setup of scenario `{}`: the {} step at line {} failed: {}",
                group.name,
                step.op.name(),
                step.line,
                describe(done.outcome)
            ));
        }
    }
    Ok(slots
        .into_iter()
        .map(|v| v.unwrap_or_else(|| Value::from("")))
        .collect())
}

fn describe(outcome: Outcome) -> String {
    match outcome {
        Outcome::Ok(Verdict::Ok) => "ok".to_string(),
        Outcome::Ok(v) => format!("unexpected result {}", v.name()),
        Outcome::Err(class) => class.key(),
    }
}

pub async fn run_teardown(workload: &GroupWorkload) -> PhaseTotals {
    run_phase(&workload.phase_handle(), Phase::Teardown).await
}

pub async fn run_cleanup(workload: &GroupWorkload) -> PhaseTotals {
    run_phase(&workload.phase_handle(), Phase::Cleanup).await
}

#[derive(Clone, Copy, PartialEq)]
enum Phase {
    Teardown,
    Cleanup,
}

fn steps(group: &Group, phase: Phase) -> &[Step] {
    match phase {
        Phase::Teardown => &group.teardown,
        Phase::Cleanup => &group.cleanup,
    }
}

async fn run_phase(w: &PhaseHandle, phase: Phase) -> PhaseTotals {
    let mut totals = PhaseTotals::default();
    for index in 0..steps(&w.group, phase).len() {
        totals.add(run_phase_step(w, phase, index).await);
    }
    totals
}

fn slots_needed(step: &Step) -> usize {
    let picked = step.for_each.iter().flat_map(|p| p.slots.iter().copied());
    let captured = step.captures.iter().map(|(_, s)| *s);
    picked.chain(captured).map(|s| s + 1).max().unwrap_or(0)
}

async fn run_phase_step(w: &PhaseHandle, phase: Phase, index: usize) -> PhaseTotals {
    let step = &steps(&w.group, phase)[index];
    let Some(pick) = &step.for_each else {
        let mut slots = vec![None; slots_needed(step)];
        return once(w, phase, index, &mut slots).await;
    };
    let pool = &w.pools[pick.pool];
    // Cleanup reads every entry ever pushed from the ledger; otherwise, or when the ledger
    // cannot be read, the entries the pool holds now.
    let ledger_rows = match (&pool.ledger, phase) {
        (Some(ledger), Phase::Cleanup) => ledger.reader().ok(),
        _ => None,
    };
    let rows: Box<dyn Iterator<Item = Vec<Value>> + Send + '_> = match ledger_rows {
        Some(rows) => Box::new(rows),
        None => Box::new(pool.entries().into_iter()),
    };
    let limit = Arc::new(Semaphore::new(CLEANUP_CONCURRENCY));
    let mut tasks = JoinSet::new();
    let mut totals = PhaseTotals::default();
    for row in rows {
        let Ok(permit) = Arc::clone(&limit).acquire_owned().await else {
            break;
        };
        let mut slots = vec![None; slots_needed(step)];
        for (slot, value) in pick.slots.iter().zip(row) {
            slots[*slot] = Some(value);
        }
        let w = w.clone();
        tasks.spawn(async move {
            let t = once(&w, phase, index, &mut slots).await;
            drop(permit);
            t
        });
        while let Some(Ok(t)) = tasks.try_join_next() {
            totals.add(t);
        }
    }
    while let Some(joined) = tasks.join_next().await {
        if let Ok(t) = joined {
            totals.add(t);
        }
    }
    totals
}

async fn once(
    w: &PhaseHandle,
    phase: Phase,
    index: usize,
    slots: &mut [Option<Value>],
) -> PhaseTotals {
    let step = &steps(&w.group, phase)[index];
    let step_env = StepEnv {
        env: &w.env,
        pools: &w.pools,
        run: &w.run_values,
        vu: &[],
        vu_id: 0,
        iteration: 0,
    };
    let mut rng = data::vu_rng(index as u64, usize::MAX - 1);
    let mut seq = 0;
    let done = step_env.run_step(step, slots, &mut rng, &mut seq).await;
    PhaseTotals {
        calls: 1,
        failed: u64::from(!done.outcome.is_ok()),
    }
}
