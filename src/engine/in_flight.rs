//! A call being measured. Dropped while still armed, the call was abandoned: the run ended
//! (its grace period over) while the target had not answered. It is then recorded as
//! `unfinished`, so that a stalled target is counted instead of leaving no trace.

use crate::ground::{ErrorClass, Outcome};
use crate::metrics::{MetricId, RecorderHandle};
use std::time::Instant;

pub struct InFlight<'a> {
    rec: &'a RecorderHandle,
    metric: MetricId,
    intended: Option<Instant>,
    start: Instant,
    armed: bool,
}

impl<'a> InFlight<'a> {
    /// Armed until `done`; `intended` as for `RecorderHandle::record`.
    pub fn new(rec: &'a RecorderHandle, metric: MetricId, intended: Option<Instant>) -> Self {
        InFlight {
            rec,
            metric,
            intended,
            start: Instant::now(),
            armed: true,
        }
    }

    /// The call ended and is recorded by its caller.
    pub fn done(mut self) {
        self.armed = false;
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.armed {
            let outcome = Outcome::Err(ErrorClass::Unfinished);
            let now = Instant::now();
            self.rec
                .record(self.metric, self.intended, self.start, now, outcome);
        }
    }
}
