//! `--segment`, `--run-id` and `--start-at`: which share of a split load this process runs,
//! which run it belongs to, and when its load starts. Checked here, once, so that the engine
//! only follows them and a mistake is one line before anything is sent.

use crate::ground::parse::{usage, UsageError};
use crate::scenario::model::split_users;
use crate::scenario::Scenario;
use crate::segment::Segment;
use std::time::{Duration, SystemTime};

/// How late a process may reach `--start-at` (after its setup) and still start: its schedule
/// stays anchored at the common time, and up to this much of it is caught up at once. Later,
/// its share would no longer run together with the others'.
pub const START_TOLERANCE: Duration = Duration::from_secs(2);

/// The longest `--start-at` may lie ahead: a bounded wait, so that a typo in the date does not
/// leave a pod waiting for a year.
pub const MAX_START_WAIT: Duration = Duration::from_secs(24 * 3600);

/// The longest run id: enough for a Job name and a timestamp.
pub const MAX_RUN_ID_LEN: usize = 128;

/// This process's place in a run split into segments; [`Split::default`] is a whole run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Split {
    pub segment: Segment,
    /// Shared by every segment of one run; stored in the report.
    pub run_id: Option<String>,
    /// The common wall-clock start of the load.
    pub start_at: Option<SystemTime>,
}

/// Reads the three flags. `completion_index` is `JOB_COMPLETION_INDEX` for `--segment job/N`.
pub fn resolve(
    segment: Option<&str>,
    run_id: Option<&str>,
    start_at: Option<&str>,
    completion_index: Option<&str>,
    now: SystemTime,
) -> Result<Split, UsageError> {
    let segment = match segment {
        Some(v) => Segment::from_arg(v, completion_index)?,
        None => Segment::WHOLE,
    };
    let run_id = run_id.map(check_run_id).transpose()?;
    if !segment.is_whole() && run_id.is_none() {
        return usage(format!(
            "--segment {segment} needs --run-id: the id all {} segments of the run share, so \
             that `orysim merge` can tell their reports from another run's",
            segment.count()
        ));
    }
    let start_at = start_at.map(|v| parse_start_at(v, now)).transpose()?;
    Ok(Split {
        segment,
        run_id,
        start_at,
    })
}

fn check_run_id(id: &str) -> Result<String, UsageError> {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if id.is_empty() || id.len() > MAX_RUN_ID_LEN || !id.chars().all(ok) {
        return usage(format!(
            "invalid --run-id '{}': 1 to {MAX_RUN_ID_LEN} letters, digits, `.`, `_` or `-`",
            crate::terminal_text::escape(id)
        ));
    }
    Ok(id.to_string())
}

/// RFC 3339 (`2026-12-04T18:00:00Z`, fractions and `+01:00`-style offsets accepted), no
/// further in the past than [`START_TOLERANCE`] and no further ahead than [`MAX_START_WAIT`].
pub fn parse_start_at(value: &str, now: SystemTime) -> Result<SystemTime, UsageError> {
    let bad = |why: &str| {
        usage(format!(
            "invalid --start-at '{}': {why}",
            crate::terminal_text::escape(value)
        ))
    };
    let Some(at) = parse_rfc3339(value.trim()) else {
        return bad("expected an RFC 3339 time such as 2026-12-04T18:00:00Z");
    };
    if let Ok(late) = now.duration_since(at) {
        if late > START_TOLERANCE {
            return bad(&format!(
                "it was {} ago; give a time ahead, leaving room for every segment's start \
                 (scheduling, image pull, setup)",
                humantime::format_duration(Duration::from_secs(late.as_secs()))
            ));
        }
    }
    if at
        .duration_since(now)
        .is_ok_and(|ahead| ahead > MAX_START_WAIT)
    {
        return bad("it is more than 24h ahead");
    }
    Ok(at)
}

/// A time with `Z` or a numeric offset; `None` when it is not one.
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    if let Some(local) = text.strip_suffix(['Z', 'z']) {
        return humantime::parse_rfc3339_weak(local).ok();
    }
    // `+HH:MM` / `-HH:MM`: the local time minus the offset is UTC.
    let (local, offset) = text.split_at_checked(text.len().checked_sub(6)?)?;
    let sign = match offset.as_bytes()[0] {
        b'+' => 1i64,
        b'-' => -1,
        _ => return None,
    };
    let (h, m) = offset[1..].split_once(':')?;
    let (h, m): (u64, u64) = (h.parse().ok()?, m.parse().ok()?);
    if h > 23 || m > 59 || !local.contains('T') {
        return None;
    }
    let local = humantime::parse_rfc3339_weak(local).ok()?;
    let shift = Duration::from_secs(h * 3600 + m * 60);
    if sign > 0 {
        local.checked_sub(shift)
    } else {
        local.checked_add(shift)
    }
}

/// What a segment needs of the load to run its share on its own: every segment gets at least
/// one of each flow's dedicated virtual users (its readers read what its own writers wrote),
/// in the open model at least one virtual user per scenario group (or its arrivals would all
/// be dropped), and at least one iteration of `--iterations`.
pub fn check_shares(
    segment: Segment,
    scenario: &Scenario,
    users: (&str, usize),
    open_model: bool,
    iterations: Option<u64>,
) -> Result<(), UsageError> {
    if segment.is_whole() {
        return Ok(());
    }
    for group in &scenario.groups {
        for flow in &group.flows {
            if let Some(n) = flow.dedicated_vus {
                segment.check_each_gets_one(
                    &format!(
                        "flow `{}` of scenario `{}`: its dedicated virtual users (vus)",
                        flow.name, group.name
                    ),
                    n as u64,
                )?;
            }
        }
    }
    if open_model {
        let (flag, total) = users;
        for count in split_users(total, scenario.groups.len()) {
            let what = if scenario.groups.len() > 1 {
                format!(
                    "{flag} {total} (split between {} groups)",
                    scenario.groups.len()
                )
            } else {
                flag.to_string()
            };
            segment.check_each_gets_one(&what, count as u64)?;
        }
    }
    if let Some(n) = iterations {
        segment.check_each_gets_one("--iterations", n)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> SystemTime {
        parse_rfc3339(text).unwrap()
    }

    #[test]
    fn start_times_with_z_fractions_and_offsets() {
        let base = t("2026-12-04T18:00:00Z");
        assert_eq!(
            base.duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
            1_796_407_200
        );
        assert_eq!(t("2026-12-04T19:30:00+01:30"), base);
        assert_eq!(t("2026-12-04T17:00:00-01:00"), base);
        assert_eq!(
            t("2026-12-04T18:00:00.250Z")
                .duration_since(base)
                .unwrap()
                .as_millis(),
            250
        );
        for bad in [
            "",
            "tomorrow",
            "2026-12-04",
            "2026-12-04T18:00:00+25:00",
            "18:00Z",
        ] {
            assert!(parse_rfc3339(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_start_far_in_the_past_or_the_future_is_one_line_of_usage() {
        let now = t("2026-12-04T18:00:00Z");
        let ok = |v: &str| parse_start_at(v, now).unwrap();
        assert_eq!(ok("2026-12-04T17:59:59Z"), t("2026-12-04T17:59:59Z"));
        assert_eq!(ok("2026-12-05T17:00:00Z"), t("2026-12-05T17:00:00Z"));
        let e = parse_start_at("2026-12-04T17:59:00Z", now).unwrap_err().0;
        assert_eq!(
            e,
            "invalid --start-at '2026-12-04T17:59:00Z': it was 1m ago; give a time ahead, \
             leaving room for every segment's start (scheduling, image pull, setup)"
        );
        let e = parse_start_at("2026-12-06T18:00:00Z", now).unwrap_err().0;
        assert!(e.ends_with("it is more than 24h ahead"), "{e}");
        let e = parse_start_at("soon", now).unwrap_err().0;
        assert!(e.contains("expected an RFC 3339 time"), "{e}");
    }

    #[test]
    fn a_segment_needs_a_run_id_and_run_ids_are_plain() {
        let now = SystemTime::now();
        let e = resolve(Some("2/4"), None, None, None, now).unwrap_err().0;
        assert!(e.starts_with("--segment 2/4 needs --run-id"), "{e}");
        let s = resolve(Some("job/4"), Some("nightly-1.a_b"), None, Some("3"), now).unwrap();
        assert_eq!(s.segment.to_string(), "4/4");
        assert_eq!(s.run_id.as_deref(), Some("nightly-1.a_b"));
        assert_eq!(
            resolve(None, None, None, None, now).unwrap(),
            Split::default()
        );
        for bad in ["", "a b", "x/y", "é", &"x".repeat(129)] {
            let e = resolve(None, Some(bad), None, None, now).unwrap_err().0;
            assert!(e.starts_with("invalid --run-id"), "{e}");
            assert!(!e.contains('\n'));
        }
    }
}
