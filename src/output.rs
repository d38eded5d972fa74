//! Data on stdout: listings as a table, a JSON array or CSV, and single records as JSON or a
//! two-column table. JSON and CSV are written row by row, so listings need constant memory.
//!
//! Rows are dedicated structs (never internal types); their field names are the documented JSON
//! keys and CSV headers.
//!
//! Nothing here lets control characters reach a terminal (LOC-4): table cells are sanitised;
//! JSON always writes control characters, DEL, C1 controls and bidirectional overrides as
//! `\uXXXX` escapes (so the parsed values stay exact); CSV is neutralised by a
//! [`TerminalWriter`] when it goes to a terminal and written exactly to a pipe or a file.

use std::io::Write;

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
    sink: Sink<W>,
}

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
                    writeln!(out, "{table}")?;
                    *table = headed(headings, *terminal);
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
                    writeln!(out, "{table}")?;
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

/// Print one value as pretty JSON.
pub fn json(out: &mut impl Write, value: &impl Serialize) -> anyhow::Result<()> {
    let formatter = SafeJson(serde_json::ser::PrettyFormatter::new());
    value.serialize(&mut serde_json::Serializer::with_formatter(
        &mut *out, formatter,
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
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Row {
        id: i64,
        name: Option<String>,
    }

    impl Record for Row {
        const HEADINGS: &'static [&'static str] = &["ID", "NAME"];
        fn cells(&self) -> Vec<String> {
            vec![
                self.id.to_string(),
                self.name.clone().unwrap_or_else(|| "-".into()),
            ]
        }
    }

    fn render(format: Format, rows: &[Row]) -> String {
        render_to(format, rows, false)
    }

    fn render_to(format: Format, rows: &[Row], terminal: bool) -> String {
        let mut out = Vec::new();
        let mut writer = ListWriter::new::<Row>(format, &mut out, terminal);
        for row in rows {
            writer.row(row).expect("row");
        }
        writer.finish().expect("finish");
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn json_is_a_valid_array_even_when_empty() {
        assert_eq!(render(Format::Json, &[]), "[]\n");
        let text = render(
            Format::Json,
            &[
                Row { id: 1, name: None },
                Row {
                    id: 2,
                    name: Some("b".into()),
                },
            ],
        );
        let parsed: serde_json::Value = serde_json::from_str(&text).expect("valid json");
        assert_eq!(
            parsed,
            serde_json::json!([{"id": 1, "name": null}, {"id": 2, "name": "b"}])
        );
    }

    #[test]
    fn csv_has_a_header_and_quotes_fields() {
        let text = render(
            Format::Csv,
            &[Row {
                id: 1,
                name: Some("a, b".into()),
            }],
        );
        assert_eq!(text, "id,name\n1,\"a, b\"\n");
    }

    #[test]
    fn long_tables_are_printed_in_chunks() {
        let rows: Vec<Row> = (0..2500).map(|id| Row { id, name: None }).collect();
        let text = render(Format::Table, &rows);
        assert_eq!(
            text.matches("| ID").count(),
            3,
            "one header per chunk of {TABLE_CHUNK}"
        );
        assert!(text.contains("| 2499 |"));
        assert_eq!(
            render(Format::Table, &rows[..TABLE_CHUNK])
                .matches("| ID")
                .count(),
            1
        );
        assert_eq!(render(Format::Table, &[]), "");
    }

    #[test]
    fn table_sanitises_cells_and_is_ascii_off_terminal() {
        let text = render(
            Format::Table,
            &[Row {
                id: 1,
                name: Some("x\u{1b}[31m".into()),
            }],
        );
        assert!(text.contains("x\\u{1b}[31m"), "{text}");
        assert!(text.is_ascii(), "{text}");
    }

    fn evil() -> Vec<Row> {
        vec![Row {
            id: 1,
            name: Some("a\u{1b}[2J\u{9b}31m\u{7f}\u{202e}b".into()),
        }]
    }

    #[test]
    fn csv_is_neutralised_on_a_terminal_and_exact_elsewhere() {
        let on_terminal = render_to(Format::Csv, &evil(), true);
        assert_eq!(
            on_terminal,
            "id,name\n1,a\\u{1b}[2J\\u{9b}31m\\u{7f}\\u{202e}b\n"
        );
        let piped = render_to(Format::Csv, &evil(), false);
        assert_eq!(piped, "id,name\n1,a\u{1b}[2J\u{9b}31m\u{7f}\u{202e}b\n");
        let mut one = Vec::new();
        record(Format::Csv, &mut one, &evil()[0], true).expect("record");
        assert_eq!(String::from_utf8(one).expect("utf8"), on_terminal);
    }

    #[test]
    fn json_escapes_every_control_and_keeps_the_value() {
        for text in [
            render_to(Format::Json, &evil(), true),
            render_to(Format::Json, &evil(), false),
        ] {
            assert!(!text.chars().any(is_dangerous_but_newline), "{text:?}");
            assert!(text.contains(r"a\u001b[2J\u009b31m\u007f\u202eb"), "{text}");
            let parsed: serde_json::Value = serde_json::from_str(&text).expect("valid json");
            assert_eq!(parsed[0]["name"], evil()[0].name.clone().expect("name"));
        }
        let mut one = Vec::new();
        json(&mut one, &evil()[0]).expect("json");
        let text = String::from_utf8(one).expect("utf8");
        assert!(!text.chars().any(is_dangerous_but_newline), "{text:?}");
    }

    fn is_dangerous_but_newline(c: char) -> bool {
        c != '\n' && is_dangerous(c)
    }
}
