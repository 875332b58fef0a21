//! Load profiles: how many virtual users (closed model) or how many iterations per second (open
//! model) the run asks for at each moment, as stages with linear ramps, the vocabulary k6 users
//! know: `--stages "30s:10,5m:100,30s:0"` (virtual users) or `"30s:100/s,1m:500/s"` (rates).

use crate::config::{parse_duration, UsageError};
use std::time::Duration;

/// Ramp linearly from the previous stage's target to `target` over `duration`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stage {
    pub duration: Duration,
    pub target: f64,
}

/// A piecewise-linear curve over time starting from `start`.
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    pub start: f64,
    pub stages: Vec<Stage>,
}

impl Profile {
    /// A constant level for `duration` (`None`: for ever).
    pub fn constant(level: f64, duration: Option<Duration>) -> Profile {
        Profile {
            start: level,
            stages: vec![Stage {
                duration: duration.unwrap_or(Duration::MAX),
                target: level,
            }],
        }
    }

    /// Total planned time; `None` when unbounded.
    pub fn duration(&self) -> Option<Duration> {
        let mut total = Duration::ZERO;
        for s in &self.stages {
            total = total.checked_add(s.duration)?;
            if s.duration == Duration::MAX {
                return None;
            }
        }
        Some(total)
    }

    /// Highest level the profile reaches.
    pub fn peak(&self) -> f64 {
        self.stages
            .iter()
            .map(|s| s.target)
            .fold(self.start, f64::max)
    }

    /// The level at time `t` since the start (the last target after the end).
    pub fn level_at(&self, t: Duration) -> f64 {
        let mut from = self.start;
        let mut elapsed = Duration::ZERO;
        for s in &self.stages {
            let end = elapsed.saturating_add(s.duration);
            if t < end {
                let frac = (t - elapsed).as_secs_f64() / s.duration.as_secs_f64();
                return from + (s.target - from) * frac;
            }
            from = s.target;
            elapsed = end;
        }
        from
    }

    /// The same profile with every level multiplied by `factor` (to split a load between
    /// services).
    pub fn scaled(&self, factor: f64) -> Profile {
        Profile {
            start: self.start * factor,
            stages: self
                .stages
                .iter()
                .map(|s| Stage {
                    duration: s.duration,
                    target: s.target * factor,
                })
                .collect(),
        }
    }
}

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

/// Parses `500/s`, `30/m`, `2/h` or a bare number (per second) into iterations per second.
pub fn parse_rate(what: &str, value: &str) -> Result<f64, UsageError> {
    let v = value.trim();
    let (num, per) = match v.split_once('/') {
        Some((n, unit)) => (n.trim(), unit.trim()),
        None => (v, "s"),
    };
    let seconds = match per {
        "s" | "sec" | "second" => 1.0,
        "m" | "min" | "minute" => 60.0,
        "h" | "hour" => 3600.0,
        other => {
            return Err(UsageError(format!(
                "invalid {what} '{value}': unknown unit '/{other}' (use /s, /m or /h)"
            )))
        }
    };
    match num.parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 => Ok(n / seconds),
        _ => Err(UsageError(format!(
            "invalid {what} '{value}': expected a rate such as 500/s"
        ))),
    }
}

/// Which model a `--stages` value describes.
#[derive(Clone, Debug, PartialEq)]
pub enum StagesSpec {
    VirtualUsers(Profile),
    Rate(Profile),
}

/// Parses `30s:10,5m:100,30s:0` (virtual users) or `30s:100/s,1m:500/s` (rates). Ramps start
/// from 0. Mixing the two forms is an error.
pub fn parse_stages(value: &str) -> Result<StagesSpec, UsageError> {
    let err = |msg: String| Err(UsageError(format!("invalid --stages '{value}': {msg}")));
    let mut stages = Vec::new();
    let mut rates = None;
    for (i, part) in value.split(',').map(str::trim).enumerate() {
        let Some((dur, target)) = part.split_once(':') else {
            return err(format!(
                "stage {} '{part}' is not DURATION:TARGET (e.g. 30s:10 or 30s:100/s)",
                i + 1
            ));
        };
        let duration = parse_duration("stage duration", dur).map_err(|e| {
            UsageError(format!(
                "invalid --stages '{value}': stage {}: {}",
                i + 1,
                e.0
            ))
        })?;
        if duration.is_zero() {
            return err(format!("stage {} has a zero duration", i + 1));
        }
        let is_rate = target.contains('/');
        if *rates.get_or_insert(is_rate) != is_rate {
            return err("mixes virtual-user targets and rates; use one kind".into());
        }
        let target = if is_rate {
            parse_rate("stage rate", target)?
        } else {
            match target.trim().parse::<u64>() {
                Ok(n) if n > crate::limits::MAX_VIRTUAL_USERS as u64 => {
                    return err(format!(
                        "stage {} target {n} is above {} virtual users, the most orysim runs",
                        i + 1,
                        crate::limits::MAX_VIRTUAL_USERS
                    ))
                }
                Ok(n) => n as f64,
                Err(_) => {
                    return err(format!(
                        "stage {} target '{target}' is not a whole number of virtual users",
                        i + 1
                    ))
                }
            }
        };
        stages.push(Stage { duration, target });
    }
    let profile = Profile { start: 0.0, stages };
    if profile.peak() <= 0.0 {
        return err("every target is 0, so nothing would run".into());
    }
    Ok(if rates == Some(true) {
        StagesSpec::Rate(profile)
    } else {
        StagesSpec::VirtualUsers(profile)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn stages_parse_both_forms_and_reject_mixtures() {
        match parse_stages("30s:10,5m:100,30s:0").unwrap() {
            StagesSpec::VirtualUsers(p) => {
                assert_eq!(p.stages.len(), 3);
                assert_eq!(p.duration(), Some(secs(30 + 300 + 30)));
                assert_eq!(p.peak(), 100.0);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_stages("10s:100/s,1m:500/s").unwrap(),
            StagesSpec::Rate(_)
        ));
        for bad in ["30s", "30s:10,1m:5/s", "x:1", "0s:5", "10s:-1", "10s:0"] {
            let e = parse_stages(bad).unwrap_err().0;
            assert!(e.starts_with("invalid --stages"), "{bad}: {e}");
        }
    }

    #[test]
    fn rates_parse_units() {
        assert_eq!(parse_rate("--rate", "500/s").unwrap(), 500.0);
        assert_eq!(parse_rate("--rate", "120/m").unwrap(), 2.0);
        assert_eq!(parse_rate("--rate", "50").unwrap(), 50.0);
        assert!(parse_rate("--rate", "5/fortnight").is_err());
        assert!(parse_rate("--rate", "fast").is_err());
    }

    #[test]
    fn level_interpolates_linearly() {
        let p = Profile {
            start: 0.0,
            stages: vec![
                Stage {
                    duration: secs(10),
                    target: 100.0,
                },
                Stage {
                    duration: secs(10),
                    target: 0.0,
                },
            ],
        };
        assert_eq!(p.level_at(secs(0)), 0.0);
        assert_eq!(p.level_at(secs(5)), 50.0);
        assert_eq!(p.level_at(secs(15)), 50.0);
        assert_eq!(p.level_at(secs(30)), 0.0);
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
