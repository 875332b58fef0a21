//! `429 Too Many Requests` with `Retry-After`: the server says when to come back. The transport
//! notes the delay of the answer it just read, and the virtual user that made the call takes
//! it right after (no await in between, so on the same thread): in the closed model it waits
//! that long before its next call; the open model keeps its schedule and counts what is late.

use reqwest::header::{HeaderMap, RETRY_AFTER};
use std::cell::Cell;
use std::time::Duration;

/// The longest wait honoured: a run's stop must not wait on a server's whim.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

thread_local! {
    static NOTED: Cell<Option<Duration>> = const { Cell::new(None) };
}

/// Notes the `Retry-After` of a 429 answer (delay in seconds; an HTTP date counts as 1 s).
pub fn note(status: u16, headers: &HeaderMap) {
    if status != 429 {
        return;
    }
    if let Some(value) = headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok()) {
        note_wait(wait_of(value));
    }
}

/// The wait a `Retry-After` value asks for (delay in seconds; an HTTP date counts as 1 s),
/// capped at `MAX_WAIT`.
pub fn wait_of(value: &str) -> Duration {
    match value.trim().parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs).min(MAX_WAIT),
        Err(_) => Duration::from_secs(1),
    }
}

/// Notes a wait read from a 429 answer, for the virtual user that made the call to take.
pub fn note_wait(wait: Duration) {
    NOTED.with(|n| n.set(Some(wait.min(MAX_WAIT))));
}

/// The wait noted by the last call on this thread, cleared.
pub fn take() -> Option<Duration> {
    NOTED.with(Cell::take)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn only_a_429_with_retry_after_is_noted_and_capped() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        note(503, &h);
        assert_eq!(take(), None);
        note(429, &h);
        assert_eq!(take(), Some(Duration::from_secs(3)));
        assert_eq!(take(), None, "taken once");
        h.insert(RETRY_AFTER, HeaderValue::from_static("86400"));
        note(429, &h);
        assert_eq!(take(), Some(MAX_WAIT));
        note(429, &HeaderMap::new());
        assert_eq!(take(), None);
    }
}
