//! Text that is safe to show: user data (names, emails, entries of a selection) and server
//! replies with control characters and bidirectional overrides turned into visible escapes
//! (LOC-4, CWE-150).
//!
//! Pure functions over strings, used by the terminal output and by the domain where it records
//! text that an operator typed (e.g. an unknown user's name in the audit log), plus
//! [`TerminalWriter`], the stream form for whole outputs (CSV, previews) bound for a terminal.

use std::borrow::Cow;
use std::io::{self, Write};

/// Replace control characters (C0, DEL, C1, and bidirectional overrides) with visible escapes,
/// so that user data cannot move the cursor, change colors or reorder text on a terminal.
pub fn sanitize(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_dangerous) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    push_escaped(&mut out, text, |_| false);
    Cow::Owned(out)
}

/// [`sanitize`], but line feeds stay line feeds: for messages and documents of several lines.
pub fn sanitize_lines(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c != '\n' && is_dangerous(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    push_escaped(&mut out, text, |c| c == '\n');
    Cow::Owned(out)
}

/// Whether `c` can act on a terminal rather than show: a C0 or C1 control, DEL, or a
/// bidirectional embedding, override or isolate.
pub fn is_dangerous(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn push_escaped(out: &mut String, text: &str, keep: impl Fn(char) -> bool) {
    for c in text.chars() {
        if is_dangerous(c) && !keep(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
}

/// A writer for a whole output (CSV, a preview) that neutralises it when `active` (the output
/// is a terminal): every character [`sanitize`] escapes is escaped, except line feeds, and bytes
/// that are not UTF-8 are shown as `\x..`. Inactive (a pipe or a file) it passes bytes exactly.
pub struct TerminalWriter<W: Write> {
    inner: W,
    active: bool,
    /// The start of a UTF-8 sequence split across two writes.
    pending: Vec<u8>,
}

impl<W: Write> TerminalWriter<W> {
    /// Wrap `inner`; `active` when it is a terminal.
    pub fn new(inner: W, active: bool) -> Self {
        TerminalWriter {
            inner,
            active,
            pending: Vec::new(),
        }
    }

    /// Neutralise and pass on what is pending; at the `end`, a split sequence too.
    fn drain(&mut self, end: bool) -> io::Result<()> {
        let mut out = String::with_capacity(self.pending.len());
        let mut rest: &[u8] = &self.pending;
        while !rest.is_empty() {
            let (valid, error) = match std::str::from_utf8(rest) {
                Ok(text) => (text, None),
                Err(err) => (
                    std::str::from_utf8(&rest[..err.valid_up_to()]).unwrap_or_default(),
                    Some(err),
                ),
            };
            out.push_str(&sanitize_lines(valid));
            rest = &rest[valid.len()..];
            // An invalid sequence is shown; one cut off at the end waits for the next write.
            let bad = match error.map(|e| e.error_len()) {
                Some(Some(len)) => len,
                Some(None) if end => rest.len(),
                _ => break,
            };
            for byte in &rest[..bad] {
                out.extend(std::ascii::escape_default(*byte).map(char::from));
            }
            rest = &rest[bad..];
        }
        let kept = rest.len();
        self.pending.drain(..self.pending.len() - kept);
        self.inner.write_all(out.as_bytes())
    }
}

impl<W: Write> Write for TerminalWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.active {
            return self.inner.write(buf);
        }
        self.pending.extend_from_slice(buf);
        self.drain(false)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.active {
            self.drain(true)?;
        }
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn sanitize_neutralises_escapes_and_keeps_text() {
        assert_eq!(sanitize("Zoë Smith"), "Zoë Smith");
        assert_eq!(sanitize("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(sanitize("x\ry"), "x\\u{d}y");
        assert_eq!(sanitize("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(sanitize("evil\u{202e}txt"), "evil\\u{202e}txt");
        assert_eq!(sanitize_lines("a\nb\u{1b}c"), "a\nb\\u{1b}c");
    }

    fn written(active: bool, chunks: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut writer = TerminalWriter::new(&mut out, active);
        for chunk in chunks {
            writer.write_all(chunk).expect("write");
        }
        writer.flush().expect("flush");
        out
    }

    #[test]
    fn terminal_writer_neutralises_only_when_active() {
        let evil = "a,\u{1b}[31mred\n\u{202e}x\n".as_bytes();
        assert_eq!(written(false, &[evil]), evil);
        assert_eq!(
            written(true, &[evil]),
            b"a,\\u{1b}[31mred\n\\u{202e}x\n".to_vec()
        );
    }

    #[test]
    fn terminal_writer_joins_split_characters_and_shows_bad_bytes() {
        let csi = "\u{9b}".as_bytes();
        assert_eq!(written(true, &[&csi[..1], &csi[1..]]), b"\\u{9b}".to_vec());
        let e = "é".as_bytes();
        assert_eq!(written(true, &[&e[..1], &e[1..]]), e.to_vec());
        assert_eq!(written(true, &[b"a\x9bb"]), b"a\\x9bb".to_vec());
        assert_eq!(written(true, &[b"a\xc3"]), b"a\\xc3".to_vec());
    }

    /// Whether `c` must never reach a terminal raw.
    fn forbidden(c: char) -> bool {
        c.is_ascii_control()
            || ('\u{80}'..='\u{9f}').contains(&c)
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn sanitize_lets_no_control_through(text in any::<String>()) {
            let clean = sanitize(&text);
            prop_assert!(!clean.chars().any(forbidden), "{clean:?}");
            let lines = sanitize_lines(&text);
            prop_assert!(!lines.chars().any(|c| c != '\n' && forbidden(c)), "{lines:?}");
        }

        #[test]
        fn sanitize_lets_no_control_through_in_control_heavy_text(
            text in "[\\x00-\\x20\\x7f-\\u{a0}\\u{202a}-\\u{202e}\\u{2066}-\\u{2069}a]{0,40}"
        ) {
            let clean = sanitize(&text);
            prop_assert!(!clean.chars().any(forbidden), "{clean:?}");
        }

        #[test]
        fn terminal_writer_lets_no_control_through(
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
            split in 0_usize..200,
        ) {
            let split = split.min(bytes.len());
            let out = written(true, &[&bytes[..split], &bytes[split..]]);
            let text = String::from_utf8(out).expect("the output is UTF-8");
            prop_assert!(!text.chars().any(|c| c != '\n' && forbidden(c)), "{text:?}");
        }
    }
}
