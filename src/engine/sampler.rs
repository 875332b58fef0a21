//! The interval sampler: while the load runs, it drains the recorder at every tick, adds what
//! it drained to the run's cumulative snapshot, and cuts the time series into intervals. The
//! hot path does not know it exists: draining swaps each shard's vectors under its lock, and
//! every histogram operation happens here, on the sampler's own task.
//!
//! What it produces goes out through [`SamplerSinks`]: each finished interval to a channel (the
//! caller writes it to disk, prints a line, evaluates thresholds), and the cumulative view to a
//! [`LiveView`] that a metrics endpoint reads without touching the recorder.

use super::watch::{self, GeneratorWatch};
use crate::metrics::{LatencyHistogram, Recorder, Snapshot};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc;

/// One finished interval of the run.
#[derive(Clone, Debug)]
pub struct IntervalSample {
    /// 0 for the first interval of the measured run.
    pub index: u64,
    pub started_at: SystemTime,
    pub ended_at: SystemTime,
    /// Where the interval starts, from the start of the measured run.
    pub offset: Duration,
    /// Measured length (monotonic clock); the interval's rates divide by it.
    pub length: Duration,
    /// Everything recorded in the interval.
    pub snapshot: Snapshot,
    pub generator: IntervalGenerator,
    /// True for the last interval, cut short by the end of the run.
    pub last: bool,
}

/// What the generator measured about itself during one interval.
#[derive(Clone, Debug, Default)]
pub struct IntervalGenerator {
    /// CPU time the whole process used in the interval.
    pub cpu_time: Duration,
    pub cores: usize,
    /// Resident memory at the interval's end.
    pub rss_bytes: Option<u64>,
    /// Virtual users holding an iteration at the interval's end.
    pub active_vus: usize,
    /// Open model: iteration start minus scheduled start, for the interval's arrivals.
    pub start_lag: Option<LatencyHistogram>,
    pub arrivals: u64,
    pub delayed: u64,
    pub dropped: u64,
}

/// The run's cumulative figures so far, refreshed at every tick; read by the live metrics
/// endpoint. Readers take the mutex only to clone an `Arc`.
#[derive(Default)]
pub struct LiveView {
    current: Mutex<Arc<LiveState>>,
}

#[derive(Default)]
pub struct LiveState {
    pub snapshot: Snapshot,
    /// Cumulative generator figures since the measured run started.
    pub generator: IntervalGenerator,
    /// Time since the measured run started, at the last tick.
    pub elapsed: Duration,
}

impl LiveView {
    pub fn get(&self) -> Arc<LiveState> {
        Arc::clone(&self.current.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn set(&self, state: LiveState) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(state);
    }
}

/// Where the sampler's output goes; each part is optional.
#[derive(Clone, Default)]
pub struct SamplerSinks {
    /// Interval length; `None`: no time series.
    pub interval: Option<Duration>,
    pub intervals: Option<mpsc::UnboundedSender<IntervalSample>>,
    pub live: Option<Arc<LiveView>>,
}

impl SamplerSinks {
    /// How often the sampler drains: the interval, but at least every second when a live view
    /// is served, so that a scrape is never more than a second behind.
    fn tick(&self) -> Option<Duration> {
        match (self.interval, &self.live) {
            (Some(i), Some(_)) => Some(i.min(Duration::from_secs(1))),
            (Some(i), None) => Some(i),
            (None, Some(_)) => Some(Duration::from_secs(1)),
            (None, None) => None,
        }
    }
}

/// Counters of the generator watch at some moment, to take differences of.
#[derive(Clone, Default)]
struct WatchMark {
    cpu: Duration,
    start_lag: Option<LatencyHistogram>,
    arrivals: u64,
    delayed: u64,
    dropped: u64,
}

impl WatchMark {
    fn now(watch: &GeneratorWatch) -> Self {
        WatchMark {
            cpu: watch::process_cpu_time(),
            start_lag: watch.start_lag(),
            arrivals: watch.arrivals(),
            delayed: watch.delayed(),
            dropped: watch.dropped(),
        }
    }

    /// What happened between `earlier` and `self`.
    fn since(&self, earlier: &WatchMark, watch: &GeneratorWatch) -> IntervalGenerator {
        let start_lag = match (&self.start_lag, &earlier.start_lag) {
            (Some(now), Some(before)) => {
                let mut h = now.clone();
                // `now` holds every value `before` holds: subtracting cannot underflow.
                let _ = h.subtract(before);
                (!h.is_empty()).then_some(h)
            }
            (Some(now), None) => Some(now.clone()),
            _ => None,
        };
        IntervalGenerator {
            cpu_time: self.cpu.saturating_sub(earlier.cpu),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            rss_bytes: watch::resident_memory_bytes(),
            active_vus: watch.active_vus(),
            start_lag,
            arrivals: self.arrivals.saturating_sub(earlier.arrivals),
            delayed: self.delayed.saturating_sub(earlier.delayed),
            dropped: self.dropped.saturating_sub(earlier.dropped),
        }
    }
}

/// The sampler's state between ticks; owned by the engine for one measured run.
pub struct Sampler {
    recorder: Arc<Recorder>,
    watch: Arc<GeneratorWatch>,
    sinks: SamplerSinks,
    start: Instant,
    start_wall: SystemTime,
    start_mark: WatchMark,
    cumulative: Snapshot,
    /// The interval being filled.
    current: Snapshot,
    current_start: Instant,
    current_mark: WatchMark,
    index: u64,
}

impl Sampler {
    /// Starts sampling now: the measured run starts here (after any warm-up).
    pub fn new(recorder: Arc<Recorder>, watch: Arc<GeneratorWatch>, sinks: SamplerSinks) -> Self {
        let start = Instant::now();
        let mark = WatchMark::now(&watch);
        Sampler {
            recorder,
            watch,
            sinks,
            start,
            start_wall: SystemTime::now(),
            start_mark: mark.clone(),
            cumulative: Snapshot::default(),
            current: Snapshot::default(),
            current_start: start,
            current_mark: mark,
            index: 0,
        }
    }

    /// Counts the measured run from `start` (a moment ago) rather than from now: the
    /// segments of a split run then cut their intervals at the same wall-clock instants,
    /// `--start-at` plus whole intervals.
    pub fn anchored(mut self, start: Instant) -> Self {
        let now = Instant::now();
        let start = start.min(now);
        self.start = start;
        self.current_start = start;
        self.start_wall = SystemTime::now()
            .checked_sub(now - start)
            .unwrap_or(self.start_wall);
        self
    }

    /// How long to wait before the next tick; `None` when nothing needs ticks.
    pub fn tick_every(&self) -> Option<Duration> {
        self.sinks.tick()
    }

    /// Drains the recorder; cuts an interval when its end has passed. Call it every
    /// [`Sampler::tick_every`].
    pub fn tick(&mut self) {
        let drained = self.recorder.drain();
        self.absorb(drained);
        if let Some(interval) = self.sinks.interval {
            let due = self.current_start + interval;
            // Ticks wake a little after the boundary; a tick just before it (a live view's
            // one-second tick) leaves the interval open.
            if Instant::now() + interval / 100 >= due {
                self.cut(false);
            }
        }
        self.publish();
    }

    fn absorb(&mut self, drained: Snapshot) {
        if self.sinks.interval.is_some() {
            self.current.merge(&drained);
        }
        self.cumulative.merge_resident(&drained);
    }

    fn cut(&mut self, last: bool) {
        let now = Instant::now();
        let mark = WatchMark::now(&self.watch);
        let generator = mark.since(&self.current_mark, &self.watch);
        let wall = |at: Instant| self.start_wall + at.saturating_duration_since(self.start);
        let sample = IntervalSample {
            index: self.index,
            started_at: wall(self.current_start),
            ended_at: wall(now),
            offset: self.current_start.saturating_duration_since(self.start),
            length: now.saturating_duration_since(self.current_start),
            snapshot: std::mem::take(&mut self.current),
            generator,
            last,
        };
        if let Some(tx) = &self.sinks.intervals {
            // The receiver only goes away when the caller stopped listening: nothing to do.
            let _ = tx.send(sample);
        }
        self.index += 1;
        self.current_start = now;
        self.current_mark = mark;
    }

    fn publish(&self) {
        if let Some(live) = &self.sinks.live {
            let mark = WatchMark::now(&self.watch);
            live.set(LiveState {
                snapshot: self.cumulative.clone(),
                generator: mark.since(&self.start_mark, &self.watch),
                elapsed: self.start.elapsed(),
            });
        }
    }

    /// Ends the run: drains what is left, cuts the last (partial) interval when it holds
    /// anything, and returns everything recorded since the sampler started.
    pub fn finish(mut self) -> Snapshot {
        let drained = self.recorder.drain();
        self.absorb(drained);
        if self.sinks.interval.is_some() {
            let has_data = self.current.total_requests() > 0 || self.current.flows().count() > 0;
            if has_data || self.index == 0 {
                self.cut(true);
            }
        }
        self.publish();
        self.cumulative
    }
}

/// Runs `sampler`'s ticks until `stop` resolves, then hands the sampler back for `finish`.
pub async fn run_ticks(
    mut sampler: Sampler,
    stop: impl std::future::Future<Output = ()>,
) -> Sampler {
    let Some(every) = sampler.tick_every() else {
        stop.await;
        return sampler;
    };
    tokio::pin!(stop);
    // Boundaries are kept on the run's clock: a slow tick does not shift the next ones.
    let mut next = sampler.start + every;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next.into()) => sampler.tick(),
            _ = &mut stop => return sampler,
        }
        next += every;
        let now = Instant::now();
        while next <= now {
            next += every;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ground::{Op, Outcome, Verdict};

    fn record(rec: &Arc<Recorder>, n: usize) {
        let t0 = Instant::now();
        for vu in 0..n {
            rec.handle(vu).record(
                Op::KetoCheck,
                None,
                t0,
                t0 + Duration::from_micros(300),
                Outcome::Ok(Verdict::Allowed),
            );
        }
    }

    #[test]
    fn intervals_partition_the_run_and_add_up_to_the_total() {
        let rec = Recorder::with_shards(2);
        let watch = Arc::new(GeneratorWatch::default());
        let (tx, mut rx) = mpsc::unbounded_channel();
        let sinks = SamplerSinks {
            interval: Some(Duration::from_millis(1)),
            intervals: Some(tx),
            live: None,
        };
        let mut sampler = Sampler::new(Arc::clone(&rec), watch, sinks);
        record(&rec, 4);
        std::thread::sleep(Duration::from_millis(2));
        sampler.tick();
        record(&rec, 3);
        std::thread::sleep(Duration::from_millis(2));
        sampler.tick();
        record(&rec, 2);
        let total = sampler.finish();
        let mut counts = Vec::new();
        let mut last_end = None;
        while let Ok(sample) = rx.try_recv() {
            if let Some(end) = last_end {
                assert_eq!(sample.started_at, end, "intervals are contiguous");
            }
            last_end = Some(sample.ended_at);
            counts.push((sample.index, sample.snapshot.total_requests(), sample.last));
        }
        assert_eq!(counts, vec![(0, 4, false), (1, 3, false), (2, 2, true)]);
        assert_eq!(total.total_requests(), 9);
    }

    #[test]
    fn a_live_view_sees_the_cumulative_figures() {
        let rec = Recorder::with_shards(1);
        let live = Arc::new(LiveView::default());
        let sinks = SamplerSinks {
            interval: None,
            intervals: None,
            live: Some(Arc::clone(&live)),
        };
        let mut sampler =
            Sampler::new(Arc::clone(&rec), Arc::new(GeneratorWatch::default()), sinks);
        record(&rec, 5);
        sampler.tick();
        record(&rec, 2);
        sampler.tick();
        assert_eq!(live.get().snapshot.total_requests(), 7);
        assert_eq!(sampler.finish().total_requests(), 7);
    }
}
