//! A string that must never leave the process: passwords, client secrets, session and access
//! tokens, admin API keys. Its `Debug` and `Display` print a fixed placeholder, and it does not
//! implement `Serialize`, so it cannot end up in a report by accident.

use std::fmt;
use std::sync::Arc;

pub const REDACTED: &str = "[redacted]";

/// Shared, not copied: a token drawn from a pool or captured from an answer is handed to every
/// call that sends it without an allocation per call.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Secret(Arc<str>);

impl Secret {
    pub fn new(value: impl Into<Arc<str>>) -> Self {
        Secret(value.into())
    }

    /// The real value, for building a request. Never format it into a message.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_never_shows_the_value() {
        let s = Secret::new("ory_st_abc123");
        assert_eq!(format!("{s}"), REDACTED);
        assert_eq!(format!("{s:?}"), REDACTED);
        assert_eq!(format!("{:?}", Some(&s)), format!("Some({REDACTED})"));
        assert_eq!(s.expose(), "ory_st_abc123");
    }
}
