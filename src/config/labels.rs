//! `--label KEY=VALUE` and `[labels]`: what a run is (`db=crdb`, `tuning=pipelining-off`), stored
//! in the report so that, months later, a report says what it measured.

use crate::ground::parse::{usage, UsageError};
use std::collections::BTreeMap;

/// Most labels on one run: enough to describe a setup, few enough to fit a summary header.
pub const MAX_LABELS: usize = 32;
pub const MAX_KEY_CHARS: usize = 64;
pub const MAX_VALUE_CHARS: usize = 256;

/// The run's labels: the config file's `[labels]`, then the flags (a flag replaces the file's
/// value for the same key; the same key twice among the flags is an error).
pub fn resolve(
    flags: &[String],
    file: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, UsageError> {
    let mut labels = BTreeMap::new();
    for (k, v) in file {
        check("[labels] in the config file", k, v)?;
        labels.insert(k.clone(), v.clone());
    }
    let mut from_flags = BTreeMap::new();
    for flag in flags {
        let Some((k, v)) = flag.split_once('=') else {
            return usage(format!(
                "invalid --label '{}': write KEY=VALUE, e.g. --label tuning=pool-16",
                crate::terminal_text::escape(flag)
            ));
        };
        check("--label", k, v)?;
        if from_flags.insert(k.to_string(), v.to_string()).is_some() {
            return usage(format!("--label {k} is given twice: keep one value"));
        }
    }
    labels.extend(from_flags);
    if labels.len() > MAX_LABELS {
        return usage(format!(
            "{} labels given: at most {MAX_LABELS}",
            labels.len()
        ));
    }
    Ok(labels)
}

/// Keys are identifiers (`db`, `crdb.nodes`, `pool-size`); values are one line of printable
/// text, so that both print safely in a summary and a Markdown table.
fn check(what: &str, key: &str, value: &str) -> Result<(), UsageError> {
    let shown = crate::terminal_text::escape(key);
    let key_ok = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && key.chars().count() <= MAX_KEY_CHARS;
    if !key_ok {
        return usage(format!(
            "invalid {what} key '{shown}': a letter, then letters, digits, '_', '-' or '.', at \
             most {MAX_KEY_CHARS} characters"
        ));
    }
    if value.trim().is_empty() {
        return usage(format!("invalid {what} {shown}=: the value is empty"));
    }
    if value.chars().any(char::is_control) || value.contains('|') {
        return usage(format!(
            "invalid {what} {shown}: the value holds a control character or '|'"
        ));
    }
    if value.chars().count() > MAX_VALUE_CHARS {
        return usage(format!(
            "invalid {what} {shown}: the value is longer than {MAX_VALUE_CHARS} characters"
        ));
    }
    Ok(())
}

/// `db=crdb, tuning=pool-16`, in key order.
pub fn describe(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_override_the_file_and_are_sorted() {
        let file: BTreeMap<String, String> = [("db", "pg"), ("nodes", "3")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let got = resolve(&flags(&["tuning=pool 16", "db=crdb"]), &file).unwrap();
        assert_eq!(describe(&got), "db=crdb, nodes=3, tuning=pool 16");
        // `=` inside the value is part of the value.
        let got = resolve(&flags(&["dsn.params=max_conns=1"]), &BTreeMap::new()).unwrap();
        assert_eq!(got["dsn.params"], "max_conns=1");
    }

    #[test]
    fn bad_labels_are_one_line_errors() {
        for (bad, says) in [
            ("novalue", "write KEY=VALUE"),
            ("=x", "invalid --label key ''"),
            ("1db=x", "a letter, then"),
            ("d b=x", "a letter, then"),
            ("db=", "the value is empty"),
            ("db=a\nb", "control character"),
            ("db=a|b", "'|'"),
        ] {
            let e = resolve(&flags(&[bad]), &BTreeMap::new()).unwrap_err().0;
            assert!(e.contains(says), "{bad:?}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
        let e = resolve(&flags(&["a=1", "a=2"]), &BTreeMap::new()).unwrap_err();
        assert!(e.0.contains("given twice"), "{e}");
        let long = format!("k={}", "x".repeat(MAX_VALUE_CHARS + 1));
        assert!(resolve(&flags(&[&long]), &BTreeMap::new()).is_err());
        let many: Vec<String> = (0..=MAX_LABELS).map(|i| format!("k{i}=v")).collect();
        assert!(resolve(&many, &BTreeMap::new())
            .unwrap_err()
            .0
            .contains("at most"));
    }
}
