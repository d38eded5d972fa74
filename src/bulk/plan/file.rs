//! Reading a selection file: one entry per line (blank lines and `# ` comments ignored, `#12`
//! naming user 12), or CSV with an `email` or `username` column, checked whole before planning
//! starts.

use std::io::{BufRead, Read};

use super::super::BulkError;
use crate::input::{Tape, true_line};

/// The entries of a selection file, in order, one per line (see [`Selection::File`]): one
/// string rather than a `Vec`, so a million entries cost little more than the file itself. An
/// entry holds no control character, so no line break.
pub(super) fn entries<R: BufRead>(mut reader: R) -> Result<String, BulkError> {
    let mut found = String::new();
    let mut raw = Vec::new();
    let mut number = 0u64;
    loop {
        raw.clear();
        let read = reader.read_until(b'\n', &mut raw);
        if read.map_err(|e| BulkError::Input(e.to_string()))? == 0 {
            return Ok(found);
        }
        number += 1;
        let line = std::str::from_utf8(&raw)
            .map_err(|_| BulkError::Input(format!("line {number} is not valid UTF-8")))?;
        // A lone CR ends a line too, so files with mixed line endings read as they look.
        let mut rest = Some(line.trim_end_matches(['\r', '\n']));
        while let Some(text) = rest {
            let (piece, tail) = text
                .split_once('\r')
                .map_or((text, None), |(piece, tail)| (piece, Some(tail)));
            rest = tail;
            let Some(entry) = entry_of(piece, number)? else {
                continue;
            };
            if let Some(column) = csv_column(entry) {
                // Records after a lone CR on the header's line start on that line.
                let first = if tail.is_some() { number } else { number + 1 };
                let tail = tail.map(|t| format!("{t}\n")).unwrap_or_default();
                let rest = std::io::Cursor::new(tail).chain(reader);
                csv_entries(rest, column, first, &mut found)?;
                return Ok(found);
            }
            push_line(&mut found, entry);
        }
    }
}

fn push_line(found: &mut String, entry: &str) {
    found.push_str(entry);
    found.push('\n');
}

/// The entry on one line of a plain selection, if it holds one: blank lines and comments (a
/// line whose first non-blank character is `#` followed by a blank, or a lone `#`) hold none;
/// `#12` names user 12. Control characters (NUL, escapes) refuse the file.
fn entry_of(line: &str, number: u64) -> Result<Option<&str>, BulkError> {
    let text = line.trim();
    let comment = text == "#" || text.starts_with("# ") || text.starts_with("#\t");
    if text.is_empty() || comment {
        return Ok(None);
    }
    if text.chars().any(char::is_control) {
        return Err(BulkError::Input(format!(
            "line {number} contains control characters"
        )));
    }
    Ok(Some(text))
}

/// The index of the `email` (preferred) or `username` column if `header` is a CSV header.
pub(super) fn csv_column(header: &str) -> Option<usize> {
    if !header.contains(',') {
        let name = header.trim().trim_matches('"').to_lowercase();
        return matches!(name.as_str(), "email" | "username").then_some(0);
    }
    let names: Vec<String> = header
        .split(',')
        .map(|n| n.trim().trim_matches('"').to_lowercase())
        .collect();
    names
        .iter()
        .position(|n| n == "email")
        .or_else(|| names.iter().position(|n| n == "username"))
}

fn csv_entries<R: BufRead>(
    reader: R,
    column: usize,
    first_line: u64,
    found: &mut String,
) -> Result<(), BulkError> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(Tape::new(reader));
    let mut record = csv::StringRecord::new();
    while csv
        .read_record(&mut record)
        .map_err(|e| BulkError::Input(format!("CSV: {e}")))?
    {
        let line = first_line + true_line(&mut csv, record.position()) - 1;
        if let Some(text) = entry_of(record.get(column).unwrap_or_default(), line)? {
            push_line(found, text);
        }
    }
    Ok(())
}
