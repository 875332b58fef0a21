//! Backing off a target that refuses connections. When an endpoint is down, every call fails
//! at once; without a pause each virtual user would retry in a tight loop (tens of thousands of
//! connections a second, one of which can even take the restarting target's own port), and a
//! connect that fails without ever waiting (no file descriptor left) would never yield, so the
//! deadline and the stop signals could not be served. After such a failure the virtual user
//! pauses, outside the measured call, for a jittered delay that doubles with the endpoint's
//! consecutive failures up to `MAX_PAUSE`; the first call to that endpoint that gets through
//! resets it, so the load recovers as soon as the target is back. Streaks are kept per endpoint,
//! not per service: with Keto's write API down and its read API up, the writes back off while
//! the reads keep their rate, and a read that succeeds does not cut the writes' streak short.

use crate::ground::{Endpoint, ErrorClass, Outcome, PerEndpoint};
use rand::Rng;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

const FIRST_PAUSE: Duration = Duration::from_millis(1);
/// Longest pause: bounds both the load a dead target sees and how long recovery can take.
pub const MAX_PAUSE: Duration = Duration::from_millis(500);

/// Failure streaks per endpoint and the pauses they caused.
pub struct Streaks {
    /// Consecutive connection failures per endpoint.
    failures: PerEndpoint<AtomicU32>,
    /// Pauses taken per endpoint.
    pauses: PerEndpoint<AtomicU64>,
}

/// The run's streaks (one run per process).
pub static RUN: Streaks = Streaks::new();

/// Whether an outcome means the connection itself could not be made.
fn is_connection_failure(outcome: Outcome) -> bool {
    matches!(
        outcome,
        Outcome::Err(ErrorClass::Connect | ErrorClass::Descriptors)
    )
}

/// The pause after `failures` consecutive failures: doubling, capped, jittered to half..full
/// so that the virtual users do not come back in lockstep.
pub fn pause_after(failures: u32, rng: &mut impl Rng) -> Duration {
    let full = FIRST_PAUSE
        .saturating_mul(1u32 << failures.min(16))
        .min(MAX_PAUSE);
    full.mul_f64(rng.gen_range(0.5..=1.0))
}

impl Streaks {
    pub const fn new() -> Streaks {
        Streaks {
            failures: PerEndpoint([const { AtomicU32::new(0) }; 6]),
            pauses: PerEndpoint([const { AtomicU64::new(0) }; 6]),
        }
    }

    /// Notes the outcome of a call to `endpoint`; the pause to take before the next call, if any.
    pub fn after(&self, endpoint: Endpoint, outcome: Outcome) -> Option<Duration> {
        let failures = &self.failures[endpoint];
        if !is_connection_failure(outcome) {
            // One load on the hot path; a store only when a failure streak ends.
            if failures.load(Ordering::Relaxed) != 0 {
                failures.store(0, Ordering::Relaxed);
            }
            return None;
        }
        let n = failures.fetch_add(1, Ordering::Relaxed);
        self.pauses[endpoint].fetch_add(1, Ordering::Relaxed);
        Some(pause_after(n, &mut rand::thread_rng()))
    }

    /// Pauses taken per endpoint since `reset`.
    pub fn pauses(&self) -> PerEndpoint<u64> {
        self.pauses.map(|_, p| p.load(Ordering::Relaxed))
    }

    /// Starts a run with no failure streak and no pause counted.
    pub fn reset(&self) {
        for e in Endpoint::ALL {
            self.failures[e].store(0, Ordering::Relaxed);
            self.pauses[e].store(0, Ordering::Relaxed);
        }
    }
}

/// The summary's line about pauses taken, if any, naming each endpoint that caused some.
pub fn warning(pauses: &PerEndpoint<u64>) -> Option<String> {
    let per_endpoint: Vec<String> = pauses
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(e, n)| format!("{n} to {} ({})", e.name(), e.describe()))
        .collect();
    (!per_endpoint.is_empty()).then(|| {
        format!(
            "pauses after connection failures: {} (down or refusing connections; each endpoint backed off on its own, up to {} ms)",
            per_endpoint.join(", "),
            MAX_PAUSE.as_millis()
        )
    })
}

impl Default for Streaks {
    fn default() -> Self {
        Streaks::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn pauses_double_up_to_the_cap_with_jitter() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let first = pause_after(0, &mut rng);
        assert!(first >= FIRST_PAUSE / 2 && first <= FIRST_PAUSE);
        let tenth = pause_after(9, &mut rng);
        assert!(tenth >= Duration::from_millis(256) && tenth <= MAX_PAUSE);
        for n in [20, 31, u32::MAX] {
            let p = pause_after(n, &mut rng);
            assert!(p <= MAX_PAUSE && p >= MAX_PAUSE / 2, "{n}: {p:?}");
        }
    }

    #[test]
    fn only_connection_failures_pause_and_a_success_ends_the_streak() {
        let down = Outcome::Err(ErrorClass::Connect);
        let streaks = Streaks::new();
        let s = Endpoint::HydraAdmin;
        assert_eq!(
            streaks.after(s, Outcome::Err(ErrorClass::Status(500))),
            None
        );
        let mut last = Duration::ZERO;
        for _ in 0..12 {
            last = streaks.after(s, down).expect("a connection failure pauses");
        }
        assert!(last >= Duration::from_millis(250), "{last:?}");
        assert_eq!(
            streaks.after(s, Outcome::Ok(crate::ground::Verdict::Ok)),
            None
        );
        let again = streaks.after(s, down).unwrap();
        assert!(again <= FIRST_PAUSE, "recovered: {again:?}");
        assert_eq!(streaks.pauses()[s], 13);
    }

    #[test]
    fn one_endpoint_down_backs_off_alone_and_the_warning_names_it() {
        let down = Outcome::Err(ErrorClass::Connect);
        let up = Outcome::Ok(crate::ground::Verdict::Ok);
        let streaks = Streaks::new();
        let mut last = Duration::ZERO;
        for _ in 0..12 {
            // Reads of the same service succeed in between: they neither pause nor cut the
            // writes' streak short.
            assert_eq!(streaks.after(Endpoint::KetoRead, up), None);
            last = streaks.after(Endpoint::KetoWrite, down).unwrap();
        }
        assert!(last >= Duration::from_millis(250), "{last:?}");
        let pauses = streaks.pauses();
        assert_eq!(
            (pauses[Endpoint::KetoWrite], pauses[Endpoint::KetoRead]),
            (12, 0)
        );
        let text = warning(&pauses).unwrap();
        assert!(text.contains("12 to keto_write (Keto write API)"), "{text}");
        assert!(!text.contains("keto_read"), "{text}");
        assert_eq!(warning(&PerEndpoint::default()), None);
        streaks.reset();
        assert_eq!(streaks.pauses(), PerEndpoint::default());
    }
}
