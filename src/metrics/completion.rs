//! How much of a run completed. A call still in flight when the run ended (its grace period
//! over) is recorded as `unfinished`: counting it, and refusing to call a run in which nothing
//! completed a success, keeps a stalled target from looking healthy.

use super::Snapshot;
use crate::ground::{ErrorClass, Service};

/// Calls still in flight when the run ended, in all or for one service.
pub fn unfinished(snap: &Snapshot, service: Option<Service>) -> u64 {
    snap.ops()
        .filter(|s| service.is_none_or(|want| s.op.service() == want))
        .map(|s| s.errors.get(&ErrorClass::Unfinished).copied().unwrap_or(0))
        .sum()
}

/// Calls that got an answer (or failed on their own), in all or for one service.
pub fn completed(snap: &Snapshot, service: Option<Service>) -> u64 {
    let all: u64 = snap
        .ops()
        .filter(|s| service.is_none_or(|want| s.op.service() == want))
        .map(|s| s.count())
        .sum();
    all - unfinished(snap, service)
}

/// The run's warning when calls were left in flight or nothing completed.
pub fn warning(snap: &Snapshot) -> Option<String> {
    let left = unfinished(snap, None);
    if completed(snap, None) == 0 {
        if left == 0 {
            return Some("NO REQUEST COMPLETED: the run sent nothing".to_string());
        }
        return Some(format!(
            "NO REQUEST COMPLETED: {left} still in flight when the run ended (counted as `unfinished`); the target accepted connections but did not answer"
        ));
    }
    (left > 0).then(|| {
        format!("{left} requests still in flight when the run ended were counted as `unfinished` errors: the target stalled")
    })
}
