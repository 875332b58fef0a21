//! A virtual user: its own RNG, its handle on the recorder, its sequence of generated names, and
//! how a call's outcome is held to the verdict its step expects.

use crate::ground::{ErrorClass, Outcome, Verdict};
use crate::metrics::RecorderHandle;
use rand::rngs::SmallRng;
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
