//! Unit tests of listings and records: exact bytes per format, terminal neutralisation, and
//! that a listing reaches its output in a few large writes rather than one per row.

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

/// An output that records what reached it and in how many `write` calls.
#[derive(Clone, Default)]
struct Recorder(std::rc::Rc<std::cell::RefCell<(Vec<u8>, usize)>>);

impl Recorder {
    fn bytes(&self) -> Vec<u8> {
        self.0.borrow().0.clone()
    }

    fn writes(&self) -> usize {
        self.0.borrow().1
    }
}

impl Write for Recorder {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut state = self.0.borrow_mut();
        state.0.extend_from_slice(buf);
        state.1 += 1;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn many(n: i64) -> Vec<Row> {
    (0..n)
        .map(|id| Row {
            id,
            name: Some(format!("user number {id}")),
        })
        .collect()
}

#[test]
fn a_listing_reaches_a_line_buffered_output_in_a_few_large_writes() {
    // Standard output is a `LineWriter`: written to row by row, it makes one write per row.
    let rows = many(20_000);
    for format in [Format::Json, Format::Csv, Format::Table] {
        let recorder = Recorder::default();
        let mut writer =
            ListWriter::new::<Row>(format, std::io::LineWriter::new(recorder.clone()), false);
        for row in &rows {
            writer.row(row).expect("row");
        }
        writer.finish().expect("finish");
        let bytes = recorder.bytes().len();
        assert_eq!(recorder.bytes(), render(format, &rows).into_bytes());
        // At most two writes per buffer (the line writer splits at the last newline).
        let bound = 2 * (bytes / BUFFER + 2);
        assert!(
            recorder.writes() <= bound,
            "{format:?}: {} writes for {} rows ({bytes} bytes), expected at most {bound}",
            recorder.writes(),
            rows.len()
        );
    }
}

#[test]
fn json_and_csv_bytes_are_exact() {
    // Quotes escaped; other text raw, non-ASCII included (JSON's fast path), except DEL.
    let names = [None, Some("b \"q\""), Some("Zoë ~ 名前"), Some("del\u{7f}")];
    let rows: Vec<Row> = (1..)
        .zip(names)
        .map(|(id, name)| Row {
            id,
            name: name.map(Into::into),
        })
        .collect();
    assert_eq!(
        render(Format::Json, &rows),
        "[\n  {\"id\":1,\"name\":null},\n  {\"id\":2,\"name\":\"b \\\"q\\\"\"},\n  \
         {\"id\":3,\"name\":\"Zoë ~ 名前\"},\n  {\"id\":4,\"name\":\"del\\u007f\"}\n]\n"
    );
    assert_eq!(
        render(Format::Csv, &rows),
        "id,name\n1,\n2,\"b \"\"q\"\"\"\n3,Zoë ~ 名前\n4,del\u{7f}\n"
    );
}

#[test]
fn a_listing_abandoned_after_an_error_still_delivers_its_rows() {
    let recorder = Recorder::default();
    let mut writer = ListWriter::new::<Row>(Format::Json, recorder.clone(), false);
    writer.row(&Row { id: 7, name: None }).expect("row");
    assert!(recorder.bytes().is_empty(), "buffered, not yet written");
    drop(writer); // reading the next row failed: the command returns its error
    assert_eq!(recorder.bytes(), b"[\n  {\"id\":7,\"name\":null}");
}

#[test]
fn a_terminal_sees_each_screen_of_table_rows_at_once() {
    let recorder = Recorder::default();
    let mut writer = ListWriter::new::<Row>(Format::Table, recorder.clone(), true);
    for row in &many(i64::try_from(TABLE_CHUNK).expect("small")) {
        writer.row(row).expect("row");
    }
    let shown = String::from_utf8(recorder.bytes()).expect("utf8");
    assert!(shown.contains(&format!(" {} ", TABLE_CHUNK - 1)), "{shown}");
    writer.row(&Row { id: -1, name: None }).expect("row");
    assert_eq!(recorder.bytes().len(), shown.len(), "the next screen waits");
    writer.finish().expect("finish");
    assert!(
        String::from_utf8(recorder.bytes())
            .expect("utf8")
            .contains(" -1 ")
    );
}

#[test]
fn one_pretty_record_is_one_write() {
    let recorder = Recorder::default();
    let mut out = std::io::LineWriter::new(recorder.clone());
    json(&mut out, &Row { id: 3, name: None }).expect("json");
    assert_eq!(recorder.bytes(), b"{\n  \"id\": 3,\n  \"name\": null\n}\n");
    assert_eq!(recorder.writes(), 1);
}
