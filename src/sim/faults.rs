//! Fault injection: stalls, added latency with jitter, and injected 500s.
//!
//! Draws are deterministic for a given seed and request order: each request takes the next
//! value of a per-service counter and hashes it with the seed (splitmix64), so the hot path
//! needs no lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Faults for one service. `Default` is no faults at all.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultSpec {
    /// Added to every non-health request.
    pub latency: Duration,
    /// The added latency varies uniformly within `latency ± jitter` (never below zero).
    pub jitter: Duration,
    /// Probability (0.0..=1.0) of answering 500 with the service's error envelope.
    pub error_rate: f64,
    /// Periodic stall, like a GC pause or a DB lock.
    pub stall: Option<Stall>,
}

/// Counted from server start: in every period of `every`, the last `length` of it is a stall;
/// requests arriving during a stall are held until it ends (the first stall therefore starts
/// at `every - length`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stall {
    pub every: Duration,
    pub length: Duration,
}

impl FaultSpec {
    pub fn is_none(&self) -> bool {
        self.latency.is_zero()
            && self.jitter.is_zero()
            && self.error_rate <= 0.0
            && self
                .stall
                .map(|s| s.every.is_zero() || s.length.is_zero())
                .unwrap_or(true)
    }
}

pub(crate) struct Faults {
    spec: FaultSpec,
    seed: u64,
    counter: AtomicU64,
    started: Instant,
}

impl Faults {
    pub(crate) fn new(spec: FaultSpec, seed: u64, started: Instant) -> Self {
        Faults {
            spec,
            seed,
            counter: AtomicU64::new(0),
            started,
        }
    }

    /// How long a request arriving now must wait for the current stall to end.
    fn stall_wait(&self) -> Duration {
        let Some(stall) = self.spec.stall else {
            return Duration::ZERO;
        };
        let every = stall.every.as_nanos();
        let length = stall.length.as_nanos().min(every);
        if every == 0 || length == 0 {
            return Duration::ZERO;
        }
        let phase = self.started.elapsed().as_nanos() % every;
        let stall_start = every - length;
        if phase >= stall_start {
            Duration::from_nanos((every - phase).min(u64::MAX as u128) as u64)
        } else {
            Duration::ZERO
        }
    }

    /// Applies stall and latency; returns true when this request must fail with a 500.
    pub(crate) async fn apply(&self) -> bool {
        if self.spec.is_none() {
            return false;
        }
        let wait = self.stall_wait();
        if !wait.is_zero() {
            crate::precise_sleep::sleep(wait).await;
        }
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let r1 = splitmix64(self.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let r2 = splitmix64(r1);
        let delay = self.latency(unit(r1));
        if !delay.is_zero() {
            crate::precise_sleep::sleep(delay).await;
        }
        self.spec.error_rate > 0.0 && unit(r2) < self.spec.error_rate
    }

    fn latency(&self, u: f64) -> Duration {
        let base = self.spec.latency.as_secs_f64();
        let jitter = self.spec.jitter.as_secs_f64();
        let secs = base + jitter * (2.0 * u - 1.0);
        if secs <= 0.0 {
            Duration::ZERO
        } else {
            Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
        }
    }
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform draw in [0, 1).
fn unit(r: u64) -> f64 {
    (r >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_faults_by_default() {
        assert!(FaultSpec::default().is_none());
    }

    #[test]
    fn latency_stays_within_jitter_bounds() {
        let f = Faults::new(
            FaultSpec {
                latency: Duration::from_millis(10),
                jitter: Duration::from_millis(4),
                ..FaultSpec::default()
            },
            7,
            Instant::now(),
        );
        for i in 0..1000u64 {
            let d = f.latency(unit(splitmix64(i)));
            assert!(
                d >= Duration::from_millis(6) && d <= Duration::from_millis(14),
                "{d:?}"
            );
        }
    }

    #[test]
    fn error_rate_is_roughly_honoured_and_deterministic() {
        let count = |seed| {
            let mut hits = 0;
            for n in 0..10_000u64 {
                let r1 = splitmix64(seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
                if unit(splitmix64(r1)) < 0.25 {
                    hits += 1;
                }
            }
            hits
        };
        let a = count(42);
        assert_eq!(a, count(42));
        assert!((2_200..2_800).contains(&a), "{a}");
    }

    #[test]
    fn stall_window_is_at_the_end_of_each_period() {
        let f = Faults::new(
            FaultSpec {
                stall: Some(Stall {
                    every: Duration::from_secs(3600),
                    length: Duration::from_secs(1),
                }),
                ..FaultSpec::default()
            },
            0,
            Instant::now(),
        );
        assert_eq!(f.stall_wait(), Duration::ZERO);
        let g = Faults::new(
            FaultSpec {
                stall: Some(Stall {
                    every: Duration::from_secs(3600),
                    length: Duration::from_secs(3600),
                }),
                ..FaultSpec::default()
            },
            0,
            Instant::now(),
        );
        let w = g.stall_wait();
        assert!(
            w > Duration::from_secs(3590) && w <= Duration::from_secs(3600),
            "{w:?}"
        );
    }
}
