//! Text that is safe to show: user data (names, emails, entries of a selection) with control
//! characters and bidirectional overrides turned into visible escapes (LOC-4, CWE-150).
//!
//! Pure functions over strings, used by the terminal output and by the domain where it records
//! text that an operator typed (e.g. an unknown user's name in the audit log).

use std::borrow::Cow;

/// Replace control characters (C0, DEL, C1, and bidirectional overrides) with visible escapes,
/// so that user data cannot move the cursor, change colors or reorder text on a terminal.
pub fn sanitize(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_dangerous) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_dangerous(c) {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn is_dangerous(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_neutralises_escapes_and_keeps_text() {
        assert_eq!(sanitize("Zoë Smith"), "Zoë Smith");
        assert_eq!(sanitize("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(sanitize("x\ry"), "x\\u{d}y");
        assert_eq!(sanitize("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(sanitize("evil\u{202e}txt"), "evil\\u{202e}txt");
    }
}
