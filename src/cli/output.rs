//! Data on stdout: listings as a table, a JSON array or CSV, and single records as JSON or a
//! two-column table. JSON and CSV are written row by row, so listings need constant memory.
//!
//! Standard output is line-buffered (one `write` call per line, so per row); everything here
//! gathers its bytes in a [`BUFFER`]-sized buffer instead and hands them on in large writes,
//! flushed when a listing or record is finished (and, on a terminal, after each screen of
//! table rows). A listing dropped half-way, because reading the rows failed, still flushes
//! the rows it wrote before the error is reported.
//!
//! Rows are dedicated structs (never internal types); their field names are the documented JSON
//! keys and CSV headers.
//!
//! Nothing here lets control characters reach a terminal (LOC-4): table cells are sanitised;
//! JSON always writes control characters, DEL, C1 controls and bidirectional overrides as
//! `\uXXXX` escapes (so the parsed values stay exact); CSV is neutralised by a
//! [`TerminalWriter`] when it goes to a terminal and written exactly to a pipe or a file.

use std::io::{BufWriter, Write};

use comfy_table::{ContentArrangement, Table, presets};
use serde::Serialize;

use crate::settings::Format;
use crate::text::{TerminalWriter, is_dangerous, sanitize};

/// A row of a listing.
pub trait Record: Serialize {
    /// Table column headings.
    const HEADINGS: &'static [&'static str];
    /// The row's table cells, formatted for people.
    fn cells(&self) -> Vec<String>;
}

/// Writes one listing in the chosen format.
pub struct ListWriter<W: Write> {
    sink: Sink<BufWriter<W>>,
}

/// Bytes gathered before they are handed to the output in one write: 100,000 users in JSON
/// (about 15 MB) make a few hundred writes rather than one per row.
pub const BUFFER: usize = 64 * 1024;

/// Tables are printed in chunks of this many rows, each with its header, so that a long
/// listing never holds more than this in memory.
pub const TABLE_CHUNK: usize = 1000;

enum Sink<W: Write> {
    Table {
        table: Table,
        out: W,
        rows: usize,
        terminal: bool,
        headings: &'static [&'static str],
    },
    Json {
        out: W,
        rows: usize,
    },
    Csv(csv::Writer<TerminalWriter<W>>),
}

fn headed(headings: &[&str], terminal: bool) -> Table {
    let mut table = new_table(terminal);
    table.set_header(headings.to_vec());
    table
}

/// A table and its line end in one write: `writeln!` would pass a table larger than the buffer
/// through on its own and leave the line end for one more write.
fn print_table(out: &mut impl Write, table: &Table) -> std::io::Result<()> {
    let mut text = table.to_string();
    text.push('\n');
    out.write_all(text.as_bytes())
}

/// A table with the right borders for where it is going.
pub fn new_table(terminal: bool) -> Table {
    let mut table = Table::new();
    table.load_style(if terminal {
        presets::UTF8_FULL_CONDENSED
    } else {
        presets::ASCII_MARKDOWN
    });
    // Wrap cells to the terminal's width only when it reports a usable one: a terminal of
    // unknown or tiny width would squeeze every column to a single character.
    let wide_enough = table.width().is_some_and(|width| width >= 40);
    table.set_content_arrangement(if terminal && wide_enough {
        ContentArrangement::Dynamic
    } else {
        ContentArrangement::Disabled
    });
    table
}

impl<W: Write> ListWriter<W> {
    /// Start a listing. `terminal` chooses box drawing over plain ASCII for tables, and
    /// neutralises control characters in CSV.
    pub fn new<R: Record>(format: Format, out: W, terminal: bool) -> Self {
        let out = BufWriter::with_capacity(BUFFER, out);
        let sink = match format {
            Format::Table => Sink::Table {
                table: headed(R::HEADINGS, terminal),
                out,
                rows: 0,
                terminal,
                headings: R::HEADINGS,
            },
            Format::Json => Sink::Json { out, rows: 0 },
            Format::Csv => Sink::Csv(csv::Writer::from_writer(TerminalWriter::new(out, terminal))),
        };
        ListWriter { sink }
    }

    /// Write one row (tables are buffered a chunk at a time).
    pub fn row<R: Record>(&mut self, record: &R) -> anyhow::Result<()> {
        match &mut self.sink {
            Sink::Table {
                table,
                out,
                rows,
                terminal,
                headings,
            } => {
                table.add_row(
                    record
                        .cells()
                        .iter()
                        .map(|c| sanitize(c).into_owned())
                        .collect::<Vec<_>>(),
                );
                *rows += 1;
                if *rows % TABLE_CHUNK == 0 {
                    print_table(out, table)?;
                    *table = headed(headings, *terminal);
                    if *terminal {
                        out.flush()?; // a screenful for the reader to see now
                    }
                }
            }
            Sink::Json { out, rows } => {
                out.write_all(if *rows == 0 { b"[\n  " } else { b",\n  " })?;
                serialize_compact(&mut *out, record)?;
                *rows += 1;
            }
            Sink::Csv(writer) => writer.serialize(record)?,
        }
        Ok(())
    }

    /// Finish the listing; returns the number of rows written (CSV: not counted, 0).
    pub fn finish(self) -> anyhow::Result<usize> {
        match self.sink {
            Sink::Table {
                table,
                mut out,
                rows,
                ..
            } => {
                if rows % TABLE_CHUNK != 0 {
                    print_table(&mut out, &table)?;
                }
                out.flush()?;
                Ok(rows)
            }
            Sink::Json { mut out, rows } => {
                out.write_all(if rows == 0 { b"[]\n" } else { b"\n]\n" })?;
                out.flush()?;
                Ok(rows)
            }
            Sink::Csv(mut writer) => {
                writer.flush()?;
                Ok(0)
            }
        }
    }
}

/// Print one value as pretty JSON, in one write when it is small.
pub fn json(out: &mut impl Write, value: &impl Serialize) -> anyhow::Result<()> {
    let mut out = BufWriter::new(out);
    let formatter = SafeJson(serde_json::ser::PrettyFormatter::new());
    value.serialize(&mut serde_json::Serializer::with_formatter(
        &mut out, formatter,
    ))?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// Print one value as a line of compact JSON (JSON lines), without flushing.
pub fn json_line(out: &mut impl Write, value: &impl Serialize) -> anyhow::Result<()> {
    serialize_compact(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Print one record: JSON object, a one-row CSV, or a two-column table of field and value.
pub fn record<R: Record>(
    format: Format,
    out: &mut impl Write,
    record: &R,
    terminal: bool,
) -> anyhow::Result<()> {
    match format {
        Format::Json => json(out, record),
        Format::Csv => {
            let mut writer = csv::Writer::from_writer(TerminalWriter::new(out, terminal));
            writer.serialize(record)?;
            writer.flush()?;
            Ok(())
        }
        Format::Table => {
            let mut table = new_table(terminal);
            for (heading, cell) in R::HEADINGS.iter().zip(record.cells()) {
                table.add_row(vec![(*heading).to_string(), sanitize(&cell).into_owned()]);
            }
            writeln!(out, "{table}")?;
            out.flush()?;
            Ok(())
        }
    }
}

fn serialize_compact(out: &mut impl Write, value: &impl Serialize) -> serde_json::Result<()> {
    let formatter = SafeJson(serde_json::ser::CompactFormatter);
    value.serialize(&mut serde_json::Serializer::with_formatter(out, formatter))
}

/// A JSON formatter that also escapes what `serde_json` writes raw but a terminal would act on
/// (DEL, C1 controls, bidirectional overrides) as `\uXXXX`: valid JSON with the exact values.
struct SafeJson<F>(F);

impl<F: serde_json::ser::Formatter> serde_json::ser::Formatter for SafeJson<F> {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        // Fast path (most cells): printable ASCII holds nothing dangerous; serde_json has
        // already escaped C0 controls, quotes and backslashes out of the fragment.
        if fragment.bytes().all(|b| b < 0x7f) {
            return writer.write_all(fragment.as_bytes());
        }
        let mut start = 0;
        for (at, c) in fragment.char_indices().filter(|(_, c)| is_dangerous(*c)) {
            writer.write_all(&fragment.as_bytes()[start..at])?;
            write!(writer, "\\u{:04x}", u32::from(c))?;
            start = at + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_array(w)
    }

    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array(w)
    }

    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_array_value(w, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array_value(w)
    }

    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object(w)
    }

    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object(w)
    }

    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_object_key(w, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object_value(w)
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_value(w)
    }
}

#[cfg(test)]
mod tests;
