//! When the iterations of the open model are due: the arrival times of a profile read as
//! iterations per second.

use crate::config::profile::Profile;
use std::time::Duration;

/// Arrival times of an open-model profile read as iterations per second: iteration `n`
/// (0-based) is due when the integral of the rate reaches `n`. Walks forward only, so each
/// step is O(1) amortised.
pub struct ArrivalSchedule {
    profile: Profile,
    stage: usize,
    /// Start time and rate at the beginning of the current stage, and iterations due before it.
    stage_start: f64,
    stage_from: f64,
    count_before: f64,
    next: u64,
}

impl ArrivalSchedule {
    pub fn new(profile: Profile) -> Self {
        let from = profile.start;
        ArrivalSchedule {
            profile,
            stage: 0,
            stage_start: 0.0,
            stage_from: from,
            count_before: 0.0,
            next: 0,
        }
    }

    /// Offset from the start at which the next iteration is due; `None` after the profile ends.
    pub fn next_arrival(&mut self) -> Option<Duration> {
        let n = self.next as f64;
        while let Some(stage) = self.profile.stages.get(self.stage) {
            let d = if stage.duration == Duration::MAX {
                f64::INFINITY
            } else {
                stage.duration.as_secs_f64()
            };
            let (r0, r1) = (self.stage_from, stage.target);
            let in_stage = if d.is_infinite() {
                f64::INFINITY
            } else {
                (r0 + r1) / 2.0 * d
            };
            let want = n - self.count_before;
            if want < in_stage {
                // Solve r0·t + (r1 − r0)·t²/(2d) = want for t in [0, d].
                let a = if d.is_infinite() {
                    0.0
                } else {
                    (r1 - r0) / (2.0 * d)
                };
                let t = if a.abs() < 1e-12 {
                    if r0 <= 0.0 {
                        return None;
                    }
                    want / r0
                } else {
                    let disc = (r0 * r0 + 4.0 * a * want).max(0.0);
                    (-r0 + disc.sqrt()) / (2.0 * a)
                };
                self.next += 1;
                return Some(Duration::from_secs_f64((self.stage_start + t).max(0.0)));
            }
            self.count_before += in_stage;
            self.stage_start += d;
            self.stage_from = r1;
            self.stage += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::profile::Stage;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn constant_rate_arrivals_are_evenly_spaced() {
        let mut s = ArrivalSchedule::new(Profile::constant(100.0, Some(secs(1))));
        let times: Vec<Duration> = std::iter::from_fn(|| s.next_arrival()).collect();
        assert_eq!(times.len(), 100);
        assert_eq!(times[0], Duration::ZERO);
        assert!((times[50].as_secs_f64() - 0.5).abs() < 1e-9);
    }

    #[test]
    fn a_ramp_delivers_its_integral() {
        // 0 → 100/s over 10 s: 500 arrivals, the first half of them after ~7.07 s.
        let p = Profile {
            start: 0.0,
            stages: vec![Stage {
                duration: secs(10),
                target: 100.0,
            }],
        };
        let mut s = ArrivalSchedule::new(p);
        let times: Vec<Duration> = std::iter::from_fn(|| s.next_arrival()).collect();
        assert!((499..=501).contains(&times.len()), "{}", times.len());
        let median = times[times.len() / 2].as_secs_f64();
        assert!((median - 7.07).abs() < 0.05, "{median}");
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn unbounded_constant_rate_never_ends() {
        let mut s = ArrivalSchedule::new(Profile::constant(1000.0, None));
        let mut last = Duration::ZERO;
        for _ in 0..10_000 {
            last = s.next_arrival().unwrap();
        }
        assert!((last.as_secs_f64() - 9.999).abs() < 1e-6);
    }
}
