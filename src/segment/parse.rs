//! Reading a segment from the command line (`--segment 2/8`) or from a Kubernetes Indexed
//! Job (`--segment job/8` with `JOB_COMPLETION_INDEX`, which counts from 0, in the
//! environment). Every mistake is one line saying what is accepted.

use super::Segment;
use crate::ground::parse::UsageError;
use std::str::FromStr;

/// The most segments a load can be split into. Every segment computes the whole run's arrival
/// schedule and keeps its N-th part: about 20-25 ns per arrival computed (measured with the
/// test profile), so at 10 000/s per segment, 1000 segments would spend a quarter of each
/// pod's core on other segments' arrivals. That is far beyond any deployment this tool
/// drives; a larger N is almost certainly a typo.
pub const MAX_SEGMENTS: u32 = 1000;

/// What the environment variable is called that Kubernetes sets in the pods of an Indexed
/// Job.
pub const COMPLETION_INDEX_VAR: &str = "JOB_COMPLETION_INDEX";

impl Segment {
    /// Segment `index` (0-based) of `count`.
    pub fn new(index: u32, count: u32) -> Result<Segment, String> {
        if count == 0 {
            return Err("the number of segments must be at least 1".into());
        }
        if count > MAX_SEGMENTS {
            return Err(format!(
                "{count} segments is more than the {MAX_SEGMENTS} orysim allows"
            ));
        }
        if index >= count {
            return Err(format!(
                "there is no segment {} of {count} (1/{count} to {count}/{count})",
                u64::from(index) + 1
            ));
        }
        Ok(Segment { count, index })
    }

    /// The value of `--segment`: `I/N` (1-based, `2/8`), or `job/N` in a Kubernetes Indexed
    /// Job, where `completion_index` (the value of `JOB_COMPLETION_INDEX`, 0-based) gives the
    /// segment.
    pub fn from_arg(value: &str, completion_index: Option<&str>) -> Result<Segment, UsageError> {
        let bad = |why: String| UsageError(format!("invalid --segment '{value}': {why}"));
        let (i, n) = value.split_once('/').ok_or_else(|| bad(FORM.into()))?;
        let count = parse_count(n).map_err(bad)?;
        if i.trim() == "job" {
            let Some(index) = completion_index else {
                return Err(bad(format!(
                    "{COMPLETION_INDEX_VAR} is not set (Kubernetes sets it in the pods of an \
                     Indexed Job; elsewhere give I/N)"
                )));
            };
            return Segment::from_completion_index(index, count);
        }
        let number = parse_number(i).map_err(bad)?;
        if number == 0 {
            return Err(bad(format!(
                "segments count from 1 (1/{count} to {count}/{count})"
            )));
        }
        Segment::new(number - 1, count).map_err(bad)
    }

    /// Segment `JOB_COMPLETION_INDEX + 1` of `count`.
    pub fn from_completion_index(index: &str, count: u32) -> Result<Segment, UsageError> {
        let bad = |why: String| {
            UsageError(format!(
                "invalid {COMPLETION_INDEX_VAR} '{index}' for {count} segments: {why}"
            ))
        };
        let i = parse_number(index).map_err(bad)?;
        Segment::new(i, count).map_err(|_| {
            bad(format!(
                "indexes run from 0 to {} (set completions: {count} in the Job)",
                count.saturating_sub(1)
            ))
        })
    }
}

impl FromStr for Segment {
    type Err = UsageError;

    /// `I/N` only (what a report stores); `job/N` needs the environment, see
    /// [`Segment::from_arg`].
    fn from_str(value: &str) -> Result<Segment, UsageError> {
        if value.trim_start().starts_with("job/") {
            return Err(UsageError(format!(
                "invalid segment '{value}': expected I/N such as 2/8"
            )));
        }
        Segment::from_arg(value, None)
    }
}

const FORM: &str =
    "expected I/N such as 2/8 (segment 2 of 8), or job/N in a Kubernetes Indexed Job";

fn parse_number(text: &str) -> Result<u32, String> {
    let t = text.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FORM.into());
    }
    // All digits, so the only failure left is size: a number that large is past the cap.
    Ok(t.parse().unwrap_or(u32::MAX))
}

fn parse_count(text: &str) -> Result<u32, String> {
    match parse_number(text)? {
        0 => Err("the number of segments must be at least 1".into()),
        n if n > MAX_SEGMENTS => Err(format!(
            "at most {MAX_SEGMENTS} segments (got {})",
            text.trim()
        )),
        n => Ok(n),
    }
}
