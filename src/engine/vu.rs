//! A virtual user: its own RNG, its handle on the recorder, and the one helper every workload
//! uses to time a call, hold it to its expected result and record it.

use crate::ground::{ErrorClass, Op, Outcome, Verdict};
use crate::metrics::RecorderHandle;
use crate::ory::Call;
use rand::rngs::SmallRng;
use std::future::Future;
use std::time::Instant;

pub struct Vu {
    pub id: usize,
    pub rng: SmallRng,
    pub rec: RecorderHandle,
    /// Per-user sequence number for generated entity names.
    pub seq: u64,
    /// Open model: when the current iteration was scheduled to start.
    pub intended: Option<Instant>,
}

impl Vu {
    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Runs one Ory call, times it on the monotonic clock and records it. A call that worked
    /// but whose verdict differs from `expect` is recorded as a failed expectation. Returns
    /// whether the call worked as expected, and its value if it brought one.
    pub async fn measure<T>(
        &self,
        op: Op,
        expect: Option<Verdict>,
        call: impl Future<Output = Call<T>>,
    ) -> (bool, Option<T>) {
        let start = Instant::now();
        let Call { outcome, value } = call.await;
        let end = Instant::now();
        let outcome = judge(outcome, expect);
        self.rec.record(op, self.intended, start, end, outcome);
        if outcome.is_ok() {
            (true, value)
        } else {
            (false, None)
        }
    }

    /// `measure` for calls whose value matters: the value when the call worked as expected.
    pub async fn call<T>(
        &self,
        op: Op,
        expect: Option<Verdict>,
        call: impl Future<Output = Call<T>>,
    ) -> Option<T> {
        self.measure(op, expect, call).await.1
    }

    /// `measure` for calls without a value: whether the call worked as expected.
    pub async fn check<T>(
        &self,
        op: Op,
        expect: Option<Verdict>,
        call: impl Future<Output = Call<T>>,
    ) -> bool {
        self.measure(op, expect, call).await.0
    }
}

/// Holds an outcome to the verdict the workload expected.
pub fn judge(outcome: Outcome, expect: Option<Verdict>) -> Outcome {
    match (outcome, expect) {
        (Outcome::Ok(got), Some(want)) if got != want => Outcome::Err(ErrorClass::Expectation),
        _ => outcome,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verdict_other_than_expected_is_a_failed_expectation() {
        let ok = Outcome::Ok(Verdict::Inactive);
        assert_eq!(judge(ok, Some(Verdict::Inactive)), ok);
        assert_eq!(
            judge(ok, Some(Verdict::Active)),
            Outcome::Err(ErrorClass::Expectation)
        );
        assert_eq!(judge(ok, None), ok);
        let err = Outcome::Err(ErrorClass::Timeout);
        assert_eq!(judge(err, Some(Verdict::Active)), err);
    }
}
