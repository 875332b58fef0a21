//! Text from users (scenario flow and step names, parameter values, flag values) and from
//! servers (bodies quoted in errors) is shown escaped on the terminal: an ANSI or OSC escape
//! could rewrite the screen or the window title, U+202E could reverse what follows, and a
//! newline could forge a line of the summary. Control and bidirectional formatting characters
//! become visible `\u{..}` escapes; everything else, emoji and accents included, stays.

use std::borrow::Cow;

/// Whether `c` must not reach a terminal raw.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// `text` with its control and bidirectional characters escaped (newlines too).
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `escape` for each line of a message whose own line breaks are meant.
pub fn escape_lines(text: &str) -> String {
    text.lines()
        .map(|line| escape(line).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_are_escaped_the_rest_kept() {
        assert!(matches!(escape("café 🚀 ok-name_1"), Cow::Borrowed(_)));
        assert_eq!(
            escape("a\u{1b}[2Jb\u{1b}]0;t\u{7}c\u{202e}d\ne\u{9b}"),
            "a\\u{1b}[2Jb\\u{1b}]0;t\\u{7}c\\u{202e}d\\ne\\u{9b}"
        );
        assert_eq!(escape_lines("one\u{1b}\ntwo"), "one\\u{1b}\ntwo");
    }
}
