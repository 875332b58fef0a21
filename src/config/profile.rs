//! Load profiles: how many virtual users (closed model) or how many iterations per second (open
//! model) the run asks for at each moment, as stages with linear ramps, the vocabulary k6 users
//! know: `--stages "30s:10,5m:100,30s:0"` (virtual users) or `"30s:100/s,1m:500/s"` (rates).

use crate::ground::parse::{parse_duration, parse_rate, UsageError};
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
}
