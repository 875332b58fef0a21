//! `--start-at`: the load of every segment of a split run starts at one wall-clock time. The
//! wait comes after setup (which takes a different time in every process) and before the
//! first virtual user starts.

use crate::config::split::START_TOLERANCE;
use std::time::{Duration, Instant, SystemTime};

/// How the wait for the common start ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Start {
    /// The load starts now. `anchor` is the monotonic instant of the common start: now, or up
    /// to [`START_TOLERANCE`] ago when setup ended a little late, so that the schedule and the
    /// deadline stay those of the other segments (the missed arrivals are caught up at once).
    Go { anchor: Instant },
    /// Setup ended later than the tolerance allows: this segment would run beside the others
    /// rather than with them.
    TooLate { late: Duration },
    /// A stop signal came during the wait.
    Interrupted,
}

/// Waits for `at` unless `interrupt` comes first.
pub async fn wait_for(at: SystemTime, interrupt: impl std::future::Future<Output = ()>) -> Start {
    if let Ok(ahead) = at.duration_since(SystemTime::now()) {
        tokio::select! {
            _ = tokio::time::sleep(ahead) => {}
            _ = interrupt => return Start::Interrupted,
        }
    }
    // The sleep ends a little after `at` (timer granularity); measure where the clock is now.
    let late = SystemTime::now()
        .duration_since(at)
        .unwrap_or(Duration::ZERO);
    if late > START_TOLERANCE {
        return Start::TooLate { late };
    }
    let now = Instant::now();
    Start::Go {
        anchor: now.checked_sub(late).unwrap_or(now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_for_the_time_and_anchors_at_it() {
        let at = SystemTime::now() + Duration::from_millis(150);
        let before = Instant::now();
        let Start::Go { anchor } = wait_for(at, std::future::pending()).await else {
            panic!("expected to start");
        };
        let waited = anchor - before;
        assert!(
            waited >= Duration::from_millis(140) && waited < Duration::from_millis(400),
            "{waited:?}"
        );
    }

    #[tokio::test]
    async fn a_little_late_anchors_in_the_past_and_too_late_is_refused() {
        let at = SystemTime::now() - Duration::from_millis(500);
        let Start::Go { anchor } = wait_for(at, std::future::pending()).await else {
            panic!("within the tolerance");
        };
        let behind = anchor.elapsed();
        assert!(behind >= Duration::from_millis(500), "{behind:?}");
        assert!(behind < Duration::from_millis(900), "{behind:?}");
        let at = SystemTime::now() - START_TOLERANCE - Duration::from_secs(1);
        assert!(matches!(
            wait_for(at, std::future::pending()).await,
            Start::TooLate { late } if late > START_TOLERANCE
        ));
    }

    #[tokio::test]
    async fn a_stop_signal_ends_the_wait() {
        let at = SystemTime::now() + Duration::from_secs(3600);
        let start = Instant::now();
        assert_eq!(wait_for(at, async {}).await, Start::Interrupted);
        assert!(start.elapsed() < Duration::from_secs(1));
    }
}
