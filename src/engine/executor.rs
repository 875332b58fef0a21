//! The two workload models.
//!
//! * Closed: a number of virtual users (constant, or following `--stages`), each running its
//!   workload's steps back to back. Users above the current stage target wait.
//! * Open: iterations arrive on a schedule (`--rate`, or rate `--stages`) whatever the server
//!   does. Each arrival goes to a queue served by a bounded pool of virtual users; when the
//!   queue is full the arrival is counted as dropped. Every iteration carries its intended start,
//!   so latency is measured from the schedule (coordinated-omission correction, as wrk2 does).
//!
//! Checking the stop flag is one relaxed atomic load per step. Where virtual users can park
//! (open model, closed model with stages), each iteration runs in a box taken from the group's
//! free list ([`IterationBoxes`]), so a parked virtual user costs a few hundred bytes, not the
//! size of an in-flight HTTP call, and no iteration allocates; a closed model without stages
//! never parks its users and awaits each iteration in place.

use super::arrival_timer::ArrivalTimer;
use super::arrivals::ArrivalSchedule;
use super::data::vu_rng;
use super::iteration_boxes::IterationBoxes;
use super::vu::Vu;
use super::watch::GeneratorWatch;
use super::workload::Workload;
use crate::config::profile::Profile;
use crate::metrics::Recorder;
use crate::segment::Segment;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinSet;

#[derive(Default)]
struct StopInner {
    raised: AtomicBool,
    notify: Notify,
}

/// Raised once to tell every virtual user to finish its current step and stop.
#[derive(Clone, Default)]
pub struct StopFlag(Arc<StopInner>);

impl StopFlag {
    pub fn raise(&self) {
        self.0.raised.store(true, Ordering::Relaxed);
        self.0.notify.notify_waiters();
    }

    pub fn is_raised(&self) -> bool {
        self.0.raised.load(Ordering::Relaxed)
    }

    /// Resolves once the flag is raised.
    pub async fn raised(&self) {
        loop {
            // Created before the check, so a raise in between is not missed.
            let notified = self.0.notify.notified();
            if self.is_raised() {
                return;
            }
            notified.await;
        }
    }
}

/// `--iterations`: how many iterations may still start, shared by every virtual user.
#[derive(Clone)]
pub struct IterationBudget(Option<Arc<AtomicI64>>);

impl IterationBudget {
    pub fn new(limit: Option<u64>) -> Self {
        IterationBudget(
            limit.map(|n| Arc::new(AtomicI64::new(i64::try_from(n).unwrap_or(i64::MAX)))),
        )
    }

    /// Claims one iteration; false once the budget is spent.
    pub fn take(&self) -> bool {
        match &self.0 {
            None => true,
            Some(left) => left.fetch_sub(1, Ordering::Relaxed) > 0,
        }
    }
}

/// What every virtual user of a run shares.
#[derive(Clone)]
pub struct Shared {
    pub seed: u64,
    /// The share of the load this process runs: its virtual-user ids, its arrivals.
    pub segment: Segment,
    pub recorder: Arc<Recorder>,
    pub stop: StopFlag,
    pub budget: IterationBudget,
    pub watch: Arc<GeneratorWatch>,
}

impl Shared {
    fn new_vu(&self, id: usize) -> Vu {
        Vu {
            id,
            rng: vu_rng(self.seed, id),
            rec: self.recorder.handle(id),
            seq: 0,
            intended: None,
        }
    }
}

/// Idle iteration boxes a group keeps: one per user that was busy at once, up to about 10 MiB.
fn boxes_to_keep(users: usize) -> usize {
    users.min(1_024)
}

/// One iteration of `workload` for a user that parks between iterations: it owns the user's
/// state while it runs (so that it can live in a box of [`IterationBoxes`]) and hands it back.
fn iteration<W: Workload>(
    workload: &Arc<W>,
    mut vu: Vu,
    mut local: W::Local,
) -> impl std::future::Future<Output = (Vu, W::Local)> + Send + 'static {
    let workload = Arc::clone(workload);
    async move {
        workload.step(&mut vu, &mut local).await;
        (vu, local)
    }
}

/// Closed model: one task per virtual user id in `ids` that this process's segment owns.
/// With `level`, only the first `level` users of this group run (counted over the whole
/// group, so that the segments together follow the stage target exactly); the others wait
/// for the target to reach them.
pub fn spawn_closed<W: Workload>(
    set: &mut JoinSet<()>,
    workload: Arc<W>,
    ids: Range<usize>,
    level: Option<Arc<AtomicUsize>>,
    shared: &Shared,
) {
    let first = ids.start;
    let boxes = Arc::new(IterationBoxes::new(boxes_to_keep(ids.len())));
    for id in shared.segment.owned(ids) {
        let workload = Arc::clone(&workload);
        let shared = shared.clone();
        let mut vu = shared.new_vu(id);
        let Some(level) = level.clone() else {
            // Without stages a user never parks: it always holds an iteration, so a box would
            // not make it smaller, only cost an allocation and a copy per iteration. Its
            // iteration is awaited in place.
            set.spawn(async move {
                let _alive = UserAlive::new(&shared.watch);
                let mut local = W::Local::default();
                while !shared.stop.is_raised() {
                    if !shared.budget.take() {
                        shared.stop.raise();
                        break;
                    }
                    workload.step(&mut vu, &mut local).await;
                }
            });
            continue;
        };
        let boxes = Arc::clone(&boxes);
        set.spawn(async move {
            let alive = UserAlive::new(&shared.watch);
            let mut local = W::Local::default();
            while !shared.stop.is_raised() {
                let parked = id - first >= level.load(Ordering::Relaxed);
                alive.park(parked);
                if parked {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                        _ = shared.stop.raised() => {}
                    }
                    continue;
                }
                if !shared.budget.take() {
                    shared.stop.raise();
                    break;
                }
                // Two statements: the iteration's future is moved into its box before the
                // await, so the task does not keep room for it.
                let running = boxes.run(iteration(&workload, vu, local));
                (vu, local) = running.await;
            }
        });
    }
}

/// Counts a virtual-user task as alive for as long as it exists (also when it is aborted),
/// and whether it is parked below the stage target.
struct UserAlive {
    watch: Arc<GeneratorWatch>,
    parked: std::cell::Cell<bool>,
}

impl UserAlive {
    fn new(watch: &Arc<GeneratorWatch>) -> Self {
        watch.user_started();
        UserAlive {
            watch: Arc::clone(watch),
            parked: std::cell::Cell::new(false),
        }
    }

    fn park(&self, parked: bool) {
        if self.parked.replace(parked) != parked {
            self.watch.user_parked(parked);
        }
    }
}

impl Drop for UserAlive {
    fn drop(&mut self) {
        self.park(false);
        self.watch.user_stopped();
    }
}

/// Keeps `level` at the profile's virtual-user target, rounded, until stopped.
pub fn spawn_level_controller(
    set: &mut JoinSet<()>,
    profile: Profile,
    level: Arc<AtomicUsize>,
    start: Instant,
    stop: StopFlag,
) {
    set.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        while !stop.is_raised() {
            let target = profile.level_at(start.elapsed()).round().max(0.0) as usize;
            level.store(target, Ordering::Relaxed);
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.raised() => {}
            }
        }
    });
}

/// How many arrivals may wait for a free virtual user: one second of the peak rate, and at
/// least one per virtual user. Waiting is never silent: it is counted (`delayed`), shows in the
/// start lag, and is part of the corrected latency. Beyond the backlog, arrivals are dropped.
pub fn backlog_capacity(max_vus: usize, peak_rate: f64) -> usize {
    (peak_rate.ceil() as usize)
        .max(max_vus)
        .clamp(1, crate::limits::MAX_BACKLOG)
}

/// Open model: a scheduler task emitting arrivals on `profile` (iterations per second) into a
/// bounded backlog (see `backlog_capacity`), served by one task per virtual user id. A
/// segment serves its own ids and keeps its stride of the whole schedule, so that the
/// segments together send the whole schedule, arrival for arrival.
pub fn spawn_open<W: Workload>(
    set: &mut JoinSet<()>,
    workload: Arc<W>,
    ids: Range<usize>,
    profile: Profile,
    start: Instant,
    shared: &Shared,
) {
    let segment = shared.segment;
    let ids: Vec<usize> = segment.owned(ids).collect();
    let capacity = backlog_capacity(ids.len(), segment.rate(profile.peak()));
    let (tx, rx) = mpsc::channel::<Instant>(capacity);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let idle = Arc::new(AtomicUsize::new(0));
    shared.watch.watch_idle(Arc::clone(&idle));
    let boxes = Arc::new(IterationBoxes::new(boxes_to_keep(ids.len())));
    for id in ids {
        let workload = Arc::clone(&workload);
        let shared = shared.clone();
        let rx = Arc::clone(&rx);
        let idle = Arc::clone(&idle);
        let boxes = Arc::clone(&boxes);
        let mut vu = shared.new_vu(id);
        set.spawn(async move {
            let _alive = UserAlive::new(&shared.watch);
            let mut local = W::Local::default();
            loop {
                idle.fetch_add(1, Ordering::Relaxed);
                let intended = tokio::select! {
                    got = async { rx.lock().await.recv().await } => match got {
                        Some(at) => at,
                        None => break,
                    },
                    _ = shared.stop.raised() => break,
                };
                idle.fetch_sub(1, Ordering::Relaxed);
                if shared.stop.is_raised() {
                    break;
                }
                shared.watch.record_start_lag(intended.elapsed());
                vu.intended = Some(intended);
                // Two statements: the iteration's future is moved into its box before the
                // await, so the task does not keep room for it.
                let running = boxes.run(iteration(&workload, vu, local));
                (vu, local) = running.await;
            }
        });
    }
    let shared = shared.clone();
    set.spawn(async move {
        let mut schedule = ArrivalSchedule::new(profile);
        let mut timer = ArrivalTimer::new();
        let mut behind = 0u32;
        let arrivals = segment.stride(std::iter::from_fn(|| schedule.next_arrival()));
        for offset in arrivals {
            let Some(at) = start.checked_add(offset) else {
                break;
            };
            if at > Instant::now() {
                tokio::select! {
                    () = timer.sleep_until(at) => {}
                    _ = shared.stop.raised() => break,
                }
            } else {
                // Catching up never sleeps: yield now and then, so that the stop, the
                // deadline and the virtual users on this worker still get their turn.
                behind = behind.wrapping_add(1);
                if behind.is_multiple_of(256) {
                    tokio::task::yield_now().await;
                }
            }
            if shared.stop.is_raised() {
                break;
            }
            shared.watch.record_dispatch_lag(at.elapsed());
            if !shared.budget.take() {
                shared.stop.raise();
                break;
            }
            let all_busy = idle.load(Ordering::Relaxed) <= tx.max_capacity() - tx.capacity();
            match tx.try_send(at) {
                Ok(()) => {
                    shared.watch.count_arrival();
                    if all_busy {
                        shared.watch.count_delay();
                    }
                }
                Err(mpsc::error::TrySendError::Full(_)) => shared.watch.count_drop(),
                Err(mpsc::error::TrySendError::Closed(_)) => break,
            }
        }
        // Dropping the sender lets idle virtual users finish once the queue is empty.
    });
}

/// Waits for every task to finish its step after the stop flag was raised, at most `grace`;
/// whatever is still in flight then is aborted and not recorded. Returns when the last task
/// stopped (or was aborted), which is where the measured elapsed time ends.
pub async fn drain(set: &mut JoinSet<()>, grace: Duration) -> Instant {
    let deadline = tokio::time::Instant::now() + grace;
    loop {
        match tokio::time::timeout_at(deadline, set.join_next()).await {
            Ok(Some(_)) => continue,
            Ok(None) => break,
            Err(_) => {
                set.abort_all();
                while set.join_next().await.is_some() {}
                break;
            }
        }
    }
    Instant::now()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn the_budget_allows_exactly_its_iterations() {
        let b = IterationBudget::new(Some(3));
        assert_eq!((0..10).filter(|_| b.take()).count(), 3);
        let unlimited = IterationBudget::new(None);
        assert!((0..1000).all(|_| unlimited.take()));
    }

    fn shared(limit: Option<u64>) -> Shared {
        shared_segment(limit, Segment::WHOLE)
    }

    fn shared_segment(limit: Option<u64>, segment: Segment) -> Shared {
        Shared {
            seed: 1,
            segment,
            recorder: Recorder::with_shards(2),
            stop: StopFlag::default(),
            budget: IterationBudget::new(limit),
            watch: Arc::new(GeneratorWatch::default()),
        }
    }

    struct Counting {
        steps: AtomicU64,
        delay: Duration,
        starts: std::sync::Mutex<Vec<Option<Instant>>>,
    }

    impl Counting {
        fn new(delay: Duration) -> Arc<Self> {
            Arc::new(Counting {
                steps: AtomicU64::new(0),
                delay,
                starts: Default::default(),
            })
        }
    }

    impl Workload for Counting {
        type Local = ();
        async fn step(&self, vu: &mut Vu, _l: &mut ()) {
            self.steps.fetch_add(1, Ordering::Relaxed);
            self.starts.lock().unwrap().push(vu.intended);
            tokio::time::sleep(self.delay).await;
        }
    }

    #[tokio::test]
    async fn closed_users_stop_when_the_flag_is_raised() {
        let sh = shared(None);
        let work = Counting::new(Duration::from_millis(1));
        let mut set = JoinSet::new();
        spawn_closed(&mut set, work.clone(), 0..4, None, &sh);
        tokio::time::sleep(Duration::from_millis(50)).await;
        sh.stop.raise();
        drain(&mut set, Duration::from_secs(5)).await;
        assert!(set.is_empty());
        let steps = work.steps.load(Ordering::Relaxed);
        assert!(steps >= 4, "{steps}");
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            work.steps.load(Ordering::Relaxed),
            steps,
            "no step after stop"
        );
    }

    #[tokio::test]
    async fn an_iteration_limit_stops_the_run_after_exactly_that_many() {
        let sh = shared(Some(25));
        let work = Counting::new(Duration::from_millis(1));
        let mut set = JoinSet::new();
        spawn_closed(&mut set, work.clone(), 0..4, None, &sh);
        tokio::time::timeout(Duration::from_secs(10), sh.stop.raised())
            .await
            .expect("the budget raises the stop flag");
        drain(&mut set, Duration::from_secs(5)).await;
        assert_eq!(work.steps.load(Ordering::Relaxed), 25);
    }

    #[tokio::test]
    async fn users_above_the_level_wait() {
        let sh = shared(None);
        let work = Counting::new(Duration::from_millis(2));
        let level = Arc::new(AtomicUsize::new(0));
        let mut set = JoinSet::new();
        spawn_closed(&mut set, work.clone(), 10..14, Some(level.clone()), &sh);
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(work.steps.load(Ordering::Relaxed), 0, "level 0 runs nobody");
        level.store(2, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(100)).await;
        sh.stop.raise();
        drain(&mut set, Duration::from_secs(5)).await;
        assert!(work.steps.load(Ordering::Relaxed) > 0);
    }

    #[tokio::test]
    async fn open_model_follows_the_schedule_and_stamps_intended_starts() {
        let sh = shared(None);
        let work = Counting::new(Duration::from_millis(1));
        let mut set = JoinSet::new();
        let start = Instant::now();
        spawn_open(
            &mut set,
            work.clone(),
            0..8,
            Profile::constant(200.0, Some(Duration::from_millis(500))),
            start,
            &sh,
        );
        tokio::time::sleep(Duration::from_millis(800)).await;
        sh.stop.raise();
        drain(&mut set, Duration::from_secs(5)).await;
        let steps = work.steps.load(Ordering::Relaxed);
        assert_eq!(steps, 100, "200/s for 0.5 s");
        let starts = work.starts.lock().unwrap();
        assert!(starts.iter().all(Option::is_some));
        assert_eq!(sh.watch.dropped(), 0);
    }

    /// The whole load once, and split into `n` segments run side by side from the same start:
    /// each run's intended starts as offsets from the start, sorted.
    async fn open_offsets(n: u32, limit: Option<u64>) -> (Vec<Duration>, Vec<Duration>) {
        let profile = Profile {
            start: 0.0,
            stages: vec![crate::config::profile::Stage {
                duration: Duration::from_millis(600),
                target: 400.0,
            }],
        };
        let start = Instant::now();
        let mut runs = Vec::new();
        let mut set = JoinSet::new();
        for segment in
            std::iter::once(Segment::WHOLE).chain((0..n).map(|i| Segment::new(i, n).unwrap()))
        {
            let sh = shared_segment(limit.map(|l| segment.share(l)), segment);
            let work = Counting::new(Duration::from_millis(1));
            spawn_open(&mut set, work.clone(), 0..8, profile.clone(), start, &sh);
            runs.push((sh, work));
        }
        tokio::time::sleep(Duration::from_millis(900)).await;
        for (sh, _) in &runs {
            sh.stop.raise();
        }
        drain(&mut set, Duration::from_secs(5)).await;
        let offsets = |work: &Counting| {
            let mut v: Vec<Duration> = work
                .starts
                .lock()
                .unwrap()
                .iter()
                .map(|at| at.unwrap() - start)
                .collect();
            v.sort();
            v
        };
        let whole = offsets(&runs[0].1);
        let mut union: Vec<Duration> = runs[1..].iter().flat_map(|(_, w)| offsets(w)).collect();
        union.sort();
        (whole, union)
    }

    #[tokio::test]
    async fn open_segments_together_send_the_whole_schedule_arrival_for_arrival() {
        // A ramp 0 → 400/s over 0.6 s: 120 arrivals, unevenly spaced.
        let (whole, union) = open_offsets(3, None).await;
        assert_eq!(whole.len(), 120);
        assert_eq!(union, whole);
        // An iteration limit part-way through the schedule splits exactly as well.
        let (whole, union) = open_offsets(4, Some(50)).await;
        assert_eq!(whole.len(), 50);
        assert_eq!(union, whole);
    }

    struct SeenIds(std::sync::Mutex<Vec<usize>>);

    impl Workload for SeenIds {
        type Local = ();
        async fn step(&self, vu: &mut Vu, _l: &mut ()) {
            self.0.lock().unwrap().push(vu.id);
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    #[tokio::test]
    async fn closed_segments_run_disjoint_user_ids_that_cover_the_group() {
        let mut ids = Vec::new();
        let mut iterations = Vec::new();
        for i in 0..3 {
            let segment = Segment::new(i, 3).unwrap();
            let sh = shared_segment(Some(segment.share(40)), segment);
            let work = Arc::new(SeenIds(Default::default()));
            let mut set = JoinSet::new();
            spawn_closed(&mut set, work.clone(), 10..21, None, &sh);
            drain(&mut set, Duration::from_secs(5)).await;
            let mut seen = work.0.lock().unwrap().clone();
            iterations.push(seen.len());
            seen.sort();
            seen.dedup();
            assert!(seen.iter().all(|&id| segment.owns(id as u64)), "{seen:?}");
            ids.extend(seen);
        }
        // 40 iterations in all, split 14/13/13 by the budget shares; users 10..21 once each.
        assert_eq!(iterations, vec![14, 13, 13]);
        ids.sort();
        assert_eq!(ids, (10..21).collect::<Vec<_>>());
    }

    #[test]
    fn the_backlog_holds_a_second_of_arrivals_and_at_least_one_per_user() {
        assert_eq!(backlog_capacity(10, 200.0), 200);
        assert_eq!(backlog_capacity(500, 200.0), 500);
        assert_eq!(backlog_capacity(0, 0.0), 1);
        assert_eq!(backlog_capacity(2, 2.5), 3);
    }

    #[tokio::test]
    async fn open_model_drops_arrivals_when_every_user_is_busy_and_the_backlog_is_full() {
        let sh = shared(None);
        // Two users busy for a long time at 10/s: two run, ten (one second) wait, the rest drop.
        let work = Counting::new(Duration::from_secs(30));
        let mut set = JoinSet::new();
        spawn_open(
            &mut set,
            work.clone(),
            0..2,
            Profile::constant(10.0, Some(Duration::from_millis(2000))),
            Instant::now(),
            &sh,
        );
        tokio::time::sleep(Duration::from_millis(2300)).await;
        sh.stop.raise();
        drain(&mut set, Duration::from_millis(100)).await;
        assert_eq!(work.steps.load(Ordering::Relaxed), 2);
        assert_eq!(sh.watch.arrivals() + sh.watch.dropped(), 20);
        assert_eq!(sh.watch.arrivals(), 12, "2 running + 10 waiting");
        assert_eq!(sh.watch.dropped(), 8);
        assert!(sh.watch.delayed() >= 10, "{}", sh.watch.delayed());
    }
}
