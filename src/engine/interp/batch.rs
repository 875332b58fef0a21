//! A batch check's tuples: counted one by one, each held to its own expectation.

use crate::ground::{ErrorClass, Outcome, Verdict};
use crate::metrics::BatchChecks;
use crate::ory::keto::TupleVerdict;
use crate::scenario::model::BatchTupleT;

/// What the tuples answered, with those that differ from their `expect` counted as
/// mismatches in `failed`'s stead: see [`Tally`].
pub fn tally(tuples: &[BatchTupleT], verdicts: &[TupleVerdict]) -> Tally {
    let mut t = Tally::default();
    for (tuple, verdict) in tuples.iter().zip(verdicts) {
        match verdict {
            TupleVerdict::Allowed => t.checks.allowed += 1,
            TupleVerdict::Denied => t.checks.denied += 1,
            TupleVerdict::Failed => t.checks.failed += 1,
        }
        if let (Some(want), Some(got)) = (tuple.expect, verdict.verdict()) {
            if want != got {
                t.mismatched += 1;
            }
        }
    }
    t
}

/// The tuples' answers, and how many of them differ from what the step expected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub checks: BatchChecks,
    pub mismatched: u64,
}

/// The call's outcome from its tuples: a tuple the server could not check fails it as an
/// unexpected body, one that answered otherwise than expected as a failed expectation.
pub fn judge(t: &Tally) -> Outcome {
    if t.checks.failed > 0 {
        Outcome::Err(ErrorClass::UnexpectedBody)
    } else if t.mismatched > 0 {
        Outcome::Err(ErrorClass::Expectation)
    } else {
        Outcome::Ok(Verdict::Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::model::{SubjectT, TupleT};
    use crate::scenario::template::Template;

    fn tuple(expect: Option<Verdict>) -> BatchTupleT {
        let t = || Template::literal("x");
        BatchTupleT {
            tuple: TupleT {
                namespace: t(),
                object: t(),
                relation: t(),
                subject: SubjectT::Id(t()),
            },
            expect,
        }
    }

    #[test]
    fn every_tuple_counts_and_a_mismatch_or_a_failure_fails_the_call() {
        use TupleVerdict::*;
        let tuples = [
            tuple(Some(Verdict::Allowed)),
            tuple(Some(Verdict::Denied)),
            tuple(None),
        ];
        let t = tally(&tuples, &[Allowed, Denied, Allowed]);
        assert_eq!((t.checks.allowed, t.checks.denied, t.mismatched), (2, 1, 0));
        assert_eq!(judge(&t), Outcome::Ok(Verdict::Ok));

        let t = tally(&tuples, &[Denied, Denied, Denied]);
        assert_eq!((t.checks.denied, t.mismatched), (3, 1));
        assert_eq!(judge(&t), Outcome::Err(ErrorClass::Expectation));

        let t = tally(&tuples, &[Allowed, Failed, Denied]);
        assert_eq!(t.checks.failed, 1);
        assert_eq!(judge(&t), Outcome::Err(ErrorClass::UnexpectedBody));
    }
}
