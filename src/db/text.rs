//! Statement texts made safe to store and print: one line (SQL layout whitespace collapsed),
//! other control characters escaped so they cannot drive a terminal, and a bounded length.

/// The longest statement text kept in a report, in characters.
pub const MAX_CHARS: usize = 200;

/// `text` on one line, control characters escaped, at most `max` characters (an ellipsis
/// marks a cut).
pub fn one_line(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut chars = 0;
    let mut pending_space = false;
    for c in text.chars() {
        if chars > max {
            break; // enough to know it must be cut
        }
        if c.is_whitespace() {
            pending_space = chars > 0;
            continue;
        }
        if pending_space {
            out.push(' ');
            chars += 1;
            pending_space = false;
        }
        if c.is_control() {
            let escaped = format!("\\u{{{:x}}}", c as u32);
            chars += escaped.len();
            out.push_str(&escaped);
        } else {
            out.push(c);
            chars += 1;
        }
    }
    cut(&out, max)
}

/// `text` cut to `max` characters with an ellipsis (for an already one-line text).
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_whitespace_becomes_single_spaces() {
        assert_eq!(
            one_line("  SELECT *\n\tFROM t\r\n  WHERE id = $1  ", 100),
            "SELECT * FROM t WHERE id = $1"
        );
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(one_line("SELECT '\u{1b}[31m'", 100), "SELECT '\\u{1b}[31m'");
        assert_eq!(one_line("a\u{7f}b", 100), "a\\u{7f}b");
    }

    #[test]
    fn long_texts_are_cut_on_characters_with_an_ellipsis() {
        let long = "é".repeat(300);
        let short = one_line(&long, 10);
        assert_eq!(short, format!("{}…", "é".repeat(9)));
        assert_eq!(one_line("abc def", 5), "abc …");
        assert_eq!(one_line("abc def", 7), "abc def");
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
    }
}
