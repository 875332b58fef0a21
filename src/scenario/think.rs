//! Think times: `250ms`, `uniform(100ms, 2s)`, `exponential(500ms)` (mean).

use super::model::Think;
use rand::Rng;
use std::time::Duration;

pub fn parse(s: &str) -> Result<Think, String> {
    let s = s.trim();
    let dur = |v: &str| -> Result<Duration, String> {
        crate::ground::parse::duration(v).map_err(|_| format!("`{}` is not a duration", v.trim()))
    };
    let inner = |prefix: &str| {
        s.strip_prefix(prefix)
            .and_then(|r| r.trim_start().strip_prefix('('))
            .and_then(|r| r.strip_suffix(')'))
    };
    if let Some(args) = inner("uniform") {
        let Some((lo, hi)) = args.split_once(',') else {
            return Err("uniform needs two durations, a minimum and a maximum".into());
        };
        let (lo, hi) = (dur(lo)?, dur(hi)?);
        if lo > hi {
            return Err(format!("uniform({lo:?}, {hi:?}): the first is larger"));
        }
        return Ok(Think::Uniform(lo, hi));
    }
    if let Some(mean) = inner("exponential") {
        return Ok(Think::Exponential(dur(mean)?));
    }
    dur(s).map(Think::Fixed)
}

/// One draw of the pause.
pub fn sample(think: Think, rng: &mut impl Rng) -> Duration {
    match think {
        Think::Fixed(d) => d,
        Think::Uniform(lo, hi) if lo == hi => lo,
        Think::Uniform(lo, hi) => rng.gen_range(lo..=hi),
        Think::Exponential(mean) => {
            // Inverse transform; capped at 20 means so one draw cannot stall a user for hours.
            let u: f64 = rng.gen_range(f64::EPSILON..1.0);
            // Saturating: `mul_f64` panics when a huge mean (which a file may give) overflows.
            Duration::try_from_secs_f64(mean.as_secs_f64() * (-u.ln()).min(20.0))
                .unwrap_or(Duration::MAX)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    #[test]
    fn parses_the_three_shapes_and_rejects_nonsense() {
        assert_eq!(parse("250ms"), Ok(Think::Fixed(Duration::from_millis(250))));
        assert_eq!(
            parse("uniform(100ms, 2s)"),
            Ok(Think::Uniform(
                Duration::from_millis(100),
                Duration::from_secs(2)
            ))
        );
        assert_eq!(
            parse("exponential(1s)"),
            Ok(Think::Exponential(Duration::from_secs(1)))
        );
        assert!(parse("uniform(2s, 1s)").is_err());
        assert!(parse("uniform(1s)").is_err());
        assert!(parse("soon").is_err());
    }

    #[test]
    fn samples_stay_in_range_and_the_exponential_mean_is_right() {
        let mut rng = SmallRng::seed_from_u64(3);
        let (lo, hi) = (Duration::from_millis(10), Duration::from_millis(20));
        for _ in 0..1000 {
            let d = sample(Think::Uniform(lo, hi), &mut rng);
            assert!(d >= lo && d <= hi);
        }
        let n = 20_000;
        let total: Duration = (0..n)
            .map(|_| sample(Think::Exponential(Duration::from_millis(100)), &mut rng))
            .sum();
        let mean_ms = total.as_secs_f64() * 1000.0 / n as f64;
        assert!((95.0..105.0).contains(&mean_ms), "mean {mean_ms} ms");
    }

    #[test]
    fn a_huge_mean_saturates_instead_of_panicking() {
        let Ok(Think::Exponential(mean)) = parse("exponential(500000000000years)") else {
            panic!("a valid think time");
        };
        let mut rng = SmallRng::seed_from_u64(1);
        for _ in 0..100 {
            assert!(sample(Think::Exponential(mean), &mut rng) >= Duration::ZERO);
        }
        for _ in 0..100 {
            sample(Think::Exponential(Duration::MAX), &mut rng);
        }
    }
}
