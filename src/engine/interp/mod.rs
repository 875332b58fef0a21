//! Runs compiled scenarios: the one engine path for built-in and user-written workloads.
//!
//! Each scenario group gets a `GroupWorkload`. A virtual user's step is one iteration of one
//! flow: chosen by weight (between read and write flows by the read/write mix first, when the
//! scenario uses one), with its `let` values generated, its `pick`/`take` entries drawn from
//! the shared pools, and its steps run in order until one fails.

mod batch;
mod exec;
mod ledger;
mod phases;
mod register;
pub mod render;

pub use exec::Clients;
pub use phases::{run_cleanup, run_setup, run_teardown, PhaseTotals};

use super::mix::ReadWriteMix;
use super::pool::Pool;
use super::vu::{judge, Vu};
use super::workload::Workload;
use crate::ground::MetricKey;
use crate::ground::{ErrorClass, Kind, Outcome, Service};
use crate::metrics::{FlowId, FlowInfo, FlowKey, MetricId, Recorder};
use crate::scenario::model::{Expect, Flow, Group, PoolDecl, Step};
use crate::scenario::template::Value;
use exec::Done;
use ledger::Ledger;
use rand::rngs::SmallRng;
use rand::Rng;
use render::{render, Context, Draws, Endpoints};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What every group of a run shares.
pub struct Env {
    pub clients: Clients,
    pub run_tag: String,
    pub endpoints: Endpoints,
}

/// A pool while the run goes on, with its ledger when cleanup needs every entry ever pushed.
pub struct RuntimePool {
    entries: Pool,
    ledger: Option<Ledger>,
}

impl RuntimePool {
    /// `ledger_fields`: which fields cleanup reads (only those are written to disk).
    pub fn new(decl: &PoolDecl, ledger_fields: Option<Vec<usize>>) -> std::io::Result<Self> {
        let ledger = match ledger_fields {
            Some(fields) if decl.ledger && !fields.is_empty() => {
                Some(Ledger::create(&decl.name, decl.fields.len(), fields)?)
            }
            _ => None,
        };
        Ok(RuntimePool {
            entries: Pool::new(decl.capacity, decl.fields.len()).with_max_age(decl.max_age),
            ledger,
        })
    }

    fn push(&self, values: &[Value]) {
        if let Some(ledger) = &self.ledger {
            ledger.append(values);
        }
        self.entries.push(values);
    }

    /// Draws an entry into `slots` (field i into `targets[i]`); false when the pool is empty.
    fn draw_into(
        &self,
        remove: bool,
        rng: &mut SmallRng,
        targets: &[usize],
        slots: &mut [Option<Value>],
    ) -> bool {
        self.entries.draw(rng, remove, |field, value| {
            if let Some(&slot) = targets.get(field) {
                slots[slot] = Some(Value::from(value));
            }
        })
    }

    /// Every entry, oldest first.
    fn entries(&self) -> Vec<Vec<Value>> {
        self.entries.entries()
    }

    fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

enum Choice {
    Flow(usize),
    /// Waited for a dedicated writer; try again.
    Waited,
    /// No flow can run now.
    Nothing,
}

/// The state one virtual user keeps between iterations.
#[derive(Default)]
pub struct GroupLocal {
    vu_values: Option<Vec<Value>>,
    iteration: u64,
    slots: Vec<Option<Value>>,
}

pub struct GroupWorkload {
    group: Arc<Group>,
    env: Arc<Env>,
    pools: Arc<Vec<RuntimePool>>,
    run_values: Arc<Vec<Value>>,
    /// One mix per service the flows start with.
    mixes: Vec<(Service, ReadWriteMix)>,
    /// Per flow: index into `mixes`.
    flow_mix: Vec<usize>,
    /// Per flow, per step: where its calls are recorded.
    metrics: Vec<Vec<MetricId>>,
    /// Per flow: where its iteration durations are recorded (registered flows only).
    flow_ids: Vec<Option<FlowId>>,
    /// The first virtual user of this group; users `first_id + i` for `i < dedicated.len()`
    /// run only flow `dedicated[i]`.
    first_id: usize,
    dedicated: Vec<usize>,
}

/// Every (operation, step name) the group records under, for `Recorder::with_steps`.
pub fn metric_keys(group: &Group) -> Vec<MetricKey> {
    group
        .setup
        .iter()
        .chain(group.flows.iter().flat_map(|f| &f.steps))
        .map(step_key)
        .collect()
}

/// Every flow of the group, in flow order, for `Recorder::with_steps_and_flows`.
pub fn flow_infos(group: &Group) -> Vec<FlowInfo> {
    group
        .flows
        .iter()
        .map(|flow| {
            let first = flow.steps.first().map(|s| s.op.service());
            let one_service = flow.steps.iter().all(|s| Some(s.op.service()) == first);
            FlowInfo {
                key: FlowKey::new(&group.name, &flow.name),
                service: first.filter(|_| one_service),
                steps: flow.steps.len(),
            }
        })
        .collect()
}

fn step_key(step: &Step) -> MetricKey {
    match &step.name {
        Some(name) => MetricKey::step(step.op, name),
        None => MetricKey::op(step.op),
    }
}

pub fn metric_id(recorder: &Recorder, step: &Step) -> MetricId {
    recorder
        .metric_id(&step_key(step))
        .unwrap_or_else(|| MetricId::from(step.op))
}

impl GroupWorkload {
    pub fn new(
        group: Arc<Group>,
        env: Arc<Env>,
        pools: Arc<Vec<RuntimePool>>,
        run_values: Arc<Vec<Value>>,
        read_ratio: f64,
        recorder: &Recorder,
        first_id: usize,
    ) -> Self {
        let mut mixes: Vec<(Service, ReadWriteMix)> = Vec::new();
        let mut flow_mix = Vec::new();
        for flow in &group.flows {
            let service = flow.steps[0].op.service();
            let i = match mixes.iter().position(|(s, _)| *s == service) {
                Some(i) => i,
                None => {
                    mixes.push((service, ReadWriteMix::new(read_ratio)));
                    mixes.len() - 1
                }
            };
            flow_mix.push(i);
        }
        let metrics = group
            .flows
            .iter()
            .map(|f| f.steps.iter().map(|s| metric_id(recorder, s)).collect())
            .collect();
        let flow_ids = flow_infos(&group)
            .iter()
            .map(|f| recorder.flow_id(&f.key))
            .collect();
        let dedicated = group
            .flows
            .iter()
            .enumerate()
            .flat_map(|(i, f)| std::iter::repeat_n(i, f.dedicated_vus.unwrap_or(0)))
            .collect();
        GroupWorkload {
            group,
            env,
            pools,
            run_values,
            mixes,
            flow_mix,
            metrics,
            flow_ids,
            first_id,
            dedicated,
        }
    }

    fn runnable(&self, flow: &Flow) -> bool {
        flow.picks.iter().all(|p| !self.pools[p.pool].is_empty())
    }

    /// A weighted draw among the shared flows `accept` allows and that can run now.
    fn draw(&self, rng: &mut SmallRng, accept: impl Fn(usize, &Flow) -> bool) -> Option<usize> {
        let candidates = || {
            self.group.flows.iter().enumerate().filter(|(i, f)| {
                f.dedicated_vus.is_none() && f.weight > 0.0 && accept(*i, f) && self.runnable(f)
            })
        };
        let total: f64 = candidates().map(|(_, f)| f.weight).sum();
        if total <= 0.0 {
            return None;
        }
        let mut x = rng.gen::<f64>() * total;
        let mut last = None;
        for (i, f) in candidates() {
            if x < f.weight {
                return Some(i);
            }
            x -= f.weight;
            last = Some(i);
        }
        last
    }

    /// The flow a shared virtual user runs next.
    async fn choose(&self, rng: &mut SmallRng) -> Choice {
        let Some(candidate) = self.draw(rng, |_, _| true) else {
            return Choice::Nothing;
        };
        if !self.group.uses_mix {
            return Choice::Flow(candidate);
        }
        let m = self.flow_mix[candidate];
        let (_, mix) = &self.mixes[m];
        let wanted = mix.wanted();
        if self.group.flows[candidate].mix == Some(wanted) {
            return Choice::Flow(candidate);
        }
        let same =
            |kind: Kind| move |i: usize, f: &Flow| self.flow_mix[i] == m && f.mix == Some(kind);
        if let Some(f) = self.draw(rng, same(wanted)) {
            return Choice::Flow(f);
        }
        // This service waits for its dedicated writer: serve another service whose mix wants
        // what the shared flows offer.
        let due = |i: usize, f: &Flow| f.mix == Some(self.mixes[self.flow_mix[i]].1.wanted());
        if let Some(f) = self.draw(rng, due) {
            return Choice::Flow(f);
        }
        let writers_are_dedicated = wanted == Kind::Write
            && self.group.flows.iter().enumerate().any(|(i, f)| {
                self.flow_mix[i] == m && f.mix == Some(Kind::Write) && f.dedicated_vus.is_some()
            });
        if writers_are_dedicated {
            // Reads are ahead of the ratio and only a dedicated writer can catch up: wait for
            // it rather than read more than the ratio allows.
            mix.wait_for_writes(Duration::from_millis(100)).await;
            return Choice::Waited;
        }
        Choice::Flow(candidate)
    }

    async fn run_flow(&self, index: usize, vu: &mut Vu, local: &mut GroupLocal) {
        // The iteration's actual start, for the flow's uncorrected duration.
        let started = Instant::now();
        let flow = &self.group.flows[index];
        local.slots.clear();
        local.slots.resize(flow.slots, None);
        let vu_values = local.vu_values.as_deref().unwrap_or(&[]);
        let step_env = StepEnv {
            env: &self.env,
            pools: &self.pools,
            run: &self.run_values,
            vu: vu_values,
            vu_id: vu.id,
            iteration: local.iteration,
        };
        local.iteration += 1;
        for (slot, template) in &flow.lets {
            let value = {
                let cx = step_env.context(&local.slots);
                render(template, &cx, &mut draws(vu))
            };
            local.slots[*slot] = Some(value);
        }
        for pick in &flow.picks {
            // Another user may have emptied the pool since the flow was chosen.
            let pool = &self.pools[pick.pool];
            if !pool.draw_into(pick.remove, &mut vu.rng, &pick.slots, &mut local.slots) {
                return;
            }
        }
        // Counted once the iteration is sure to issue its calls, before the first of them.
        let (_, mix) = &self.mixes[self.flow_mix[index]];
        mix.commit(flow.reads, flow.writes);
        // Open model: the first step is due at the iteration's scheduled start; every later
        // step is due when its predecessor ended plus its think time. So a step's corrected
        // latency charges only the generator's own lateness in sending it, never the server's
        // time on the steps before it.
        let mut due = vu.intended;
        let mut last_end = started;
        let mut failed = None;
        for (step, metric) in flow.steps.iter().zip(&self.metrics[index]) {
            let in_flight = crate::engine::in_flight::InFlight::new(&vu.rec, *metric, due);
            let done = step_env
                .run_step(step, &mut local.slots, &mut vu.rng, &mut vu.seq)
                .await;
            in_flight.done();
            vu.rec
                .record(*metric, due, done.start, done.end, done.outcome);
            if let exec::Produced::Batch(tally) = &done.produced {
                vu.rec.record_checks(*metric, &tally.checks);
            }
            let pause = crate::engine::failure_backoff::RUN.after(step.endpoint(), done.outcome);
            if let Some(pause) = pause {
                tokio::time::sleep(pause).await;
            }
            // Taken after every step so that none is left for another call on this thread.
            let retry_after = crate::ory::retry_after::take();
            if let (Some(wait), None) = (retry_after, vu.intended) {
                tokio::time::sleep(wait).await;
            }
            last_end = done.end;
            if let Outcome::Err(class) = done.outcome {
                failed = Some(class);
                break;
            }
            let think = step
                .think
                .map(|think| crate::scenario::think_sample(think, &mut vu.rng));
            due = due.map(|_| done.end + think.unwrap_or_default());
            match (think, due) {
                // The next step's latency counts from this deadline: wake precisely.
                (Some(_), Some(at)) => crate::precise_sleep::sleep_until(at).await,
                (Some(pause), None) => tokio::time::sleep(pause).await,
                (None, _) => {}
            }
        }
        if let Some(id) = self.flow_ids[index] {
            vu.rec
                .record_flow(id, vu.intended, started, last_end, failed);
        }
        if failed.is_some() {
            return;
        }
        if let Some(think) = flow.think {
            tokio::time::sleep(crate::scenario::think_sample(think, &mut vu.rng)).await;
        }
    }
}

impl Workload for GroupWorkload {
    type Local = GroupLocal;

    async fn step(&self, vu: &mut Vu, local: &mut GroupLocal) {
        if local.vu_values.is_none() {
            local.vu_values = Some(self.vu_values(vu));
        }
        let choice = match self.dedicated.get(vu.id.wrapping_sub(self.first_id)) {
            Some(&f) if self.runnable(&self.group.flows[f]) => Choice::Flow(f),
            Some(_) => Choice::Nothing,
            None => self.choose(&mut vu.rng).await,
        };
        match choice {
            Choice::Flow(f) => self.run_flow(f, vu, local).await,
            Choice::Waited => {}
            // Nothing can run yet (pools still empty, e.g. every write failed so far): do not
            // spin.
            Choice::Nothing => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// What teardown and cleanup tasks need of a group, cheap to clone into each task.
#[derive(Clone)]
pub(crate) struct PhaseHandle {
    group: Arc<Group>,
    env: Arc<Env>,
    pools: Arc<Vec<RuntimePool>>,
    run_values: Arc<Vec<Value>>,
}

/// Which fields of pool `pool` the cleanup steps read: only those go to the ledger file.
pub fn ledger_fields(group: &Group, pool: usize) -> Vec<usize> {
    let mut fields = Vec::new();
    for step in &group.cleanup {
        let Some(pick) = step.for_each.as_ref().filter(|p| p.pool == pool) else {
            continue;
        };
        for template in step.action.templates() {
            for slot in template.slots() {
                if let crate::scenario::names::Slot::Iter(i) = slot {
                    if let Some(field) = pick.slots.iter().position(|s| *s == i) {
                        fields.push(field);
                    }
                }
            }
        }
    }
    fields.sort_unstable();
    fields.dedup();
    fields
}

impl GroupWorkload {
    pub fn group(&self) -> &Group {
        &self.group
    }

    pub(crate) fn phase_handle(&self) -> PhaseHandle {
        PhaseHandle {
            group: Arc::clone(&self.group),
            env: Arc::clone(&self.env),
            pools: Arc::clone(&self.pools),
            run_values: Arc::clone(&self.run_values),
        }
    }

    fn vu_values(&self, vu: &mut Vu) -> Vec<Value> {
        let mut values: Vec<Value> = Vec::with_capacity(self.group.vu_values.len());
        for template in &self.group.vu_values {
            let v = {
                let cx = Context {
                    run: &self.run_values,
                    vu: &values,
                    iter: &[],
                    vu_id: vu.id,
                    iteration: 0,
                    run_tag: &self.env.run_tag,
                    endpoints: &self.env.endpoints,
                };
                render(template, &cx, &mut draws(vu))
            };
            values.push(v);
        }
        values
    }
}

/// The virtual user's random draws for rendering.
fn draws(vu: &mut Vu) -> Draws<'_> {
    Draws {
        rng: &mut vu.rng,
        seq: &mut vu.seq,
    }
}

/// Everything a step reads besides the iteration's slots.
pub(crate) struct StepEnv<'a> {
    pub env: &'a Env,
    pub pools: &'a [RuntimePool],
    pub run: &'a [Value],
    pub vu: &'a [Value],
    pub vu_id: usize,
    pub iteration: u64,
}

impl StepEnv<'_> {
    fn context<'a>(&'a self, slots: &'a [Option<Value>]) -> Context<'a> {
        Context {
            run: self.run,
            vu: self.vu,
            iter: slots,
            vu_id: self.vu_id,
            iteration: self.iteration,
            run_tag: &self.env.run_tag,
            endpoints: &self.env.endpoints,
        }
    }

    /// Runs one step: the call, its expectation, its captures and its pushes. The outcome is
    /// what gets recorded: a capture the answer lacks fails the step as `unexpected_body`.
    pub async fn run_step(
        &self,
        step: &Step,
        slots: &mut [Option<Value>],
        rng: &mut SmallRng,
        seq: &mut u64,
    ) -> Done {
        let mut done = {
            let cx = self.context(slots);
            exec::execute(
                &step.action,
                &step.expect,
                &self.env.clients,
                &cx,
                &mut Draws { rng, seq },
            )
            .await
        };
        if let Expect::Verdict(v) = step.expect {
            done.outcome = judge(done.outcome, Some(v));
        }
        if !done.outcome.is_ok() {
            return done;
        }
        for (output, slot) in &step.captures {
            match done.produced.get(output) {
                Some(v) => slots[*slot] = Some(v),
                None => {
                    done.outcome = Outcome::Err(ErrorClass::UnexpectedBody);
                    return done;
                }
            }
        }
        for (pool, templates) in &step.pushes {
            let cx = self.context(slots);
            let mut draws = Draws { rng, seq };
            let values: Vec<Value> = templates
                .iter()
                .map(|t| render(t, &cx, &mut draws))
                .collect();
            self.pools[*pool].push(&values);
        }
        done
    }
}
