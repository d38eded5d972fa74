use super::*;
use crate::store::testing::{Backend, TestStore, on_both_backends};

on_both_backends!(
    good_rows_import_and_bad_rows_are_reported_by_line,
    reimporting_creates_no_duplicates,
    header_must_have_email_and_known_columns,
    derived_username_clash_is_a_bad_row,
    large_imports_span_several_batches,
    extra_fields_and_blank_lines,
    line_numbers_count_blank_lines_and_multiline_fields,
    a_bom_and_crlf_lines_read_like_plain_csv,
    an_over_long_field_is_a_bad_row_that_does_not_quote_it,
    input_past_a_limit_is_refused_before_any_row_is_written,
);

fn actor() -> Actor {
    Actor {
        os_user: "root".into(),
        actor: None,
        reason: None,
        key: crate::keys::AuditKey::for_tests(),
    }
}

fn run(store: &mut Store, csv: &[u8]) -> Result<Report, ImportError> {
    import(
        store,
        csv,
        &actor(),
        Timestamp::from_second(1_800_000_000).expect("time"),
    )
}

fn count(store: &Store) -> i64 {
    store
        .conn()
        .query_one("SELECT count(*) FROM users", &crate::vals![], |r| r.get(0))
        .expect("count")
}

fn good_rows_import_and_bad_rows_are_reported_by_line(backend: Backend) {
    let mut store = TestStore::new(backend);
    let mut csv = b"email,username,name,active\n\
        alice@example.com,alice,Alice,true\n\
        bob@example.com,,Bob,no\n\
        not-an-email,x,,\n\
        ALICE@example.com,alice2,,\n\
        \"carol@example.com\",carol,\"Carol\nSmith\",\n\
        dave@example.com,dave,,maybe\n"
        .to_vec();
    csv.extend_from_slice(b"erin@example.com,erin,\xff\xfe,\n");
    let report = run(&mut store, &csv).expect("import");
    assert_eq!(report.imported, 2);
    let lines: Vec<(u64, &str)> = report
        .rejected
        .iter()
        .map(|r| (r.line, r.reason.as_str()))
        .collect();
    assert_eq!(lines.len(), 5, "{lines:?}");
    assert_eq!(lines[0].0, 4);
    assert!(lines[0].1.contains("malformed email"));
    assert_eq!(lines[1], (5, "duplicate email, first seen on line 2"));
    assert_eq!(lines[2], (6, "contains CR/LF or control characters"));
    assert_eq!(lines[3].0, 8);
    assert!(lines[3].1.contains("active must be"));
    assert_eq!(lines[4], (9, "invalid UTF-8"));
    let bob = crate::users::resolve(store.conn(), "bob@example.com").expect("bob");
    assert_eq!((bob.username.as_str(), bob.active), ("bob", false));
}

fn reimporting_creates_no_duplicates(backend: Backend) {
    let mut store = TestStore::new(backend);
    let csv = b"email\nalice@example.com\nbob@example.com\n";
    assert_eq!(run(&mut store, csv).expect("first").imported, 2);
    let second = run(&mut store, csv).expect("second");
    assert_eq!(
        (second.imported, second.present, second.rejected.len()),
        (0, 2, 0)
    );
    assert_eq!(count(&store), 2);
}

fn header_must_have_email_and_known_columns(backend: Backend) {
    let mut store = TestStore::new(backend);
    assert!(matches!(
        run(&mut store, b"username\nalice\n"),
        Err(ImportError::Header(_))
    ));
    assert!(matches!(
        run(&mut store, b"email,role\na@example.com,x\n"),
        Err(ImportError::Header(_))
    ));
    assert!(matches!(run(&mut store, b""), Err(ImportError::Header(_))));
    assert_eq!(count(&store), 0);
}

fn derived_username_clash_is_a_bad_row(backend: Backend) {
    let mut store = TestStore::new(backend);
    run(&mut store, b"email\nalice@example.com\n").expect("first");
    let report = run(&mut store, b"email\nalice@other.example\n").expect("second");
    assert_eq!(report.rejected.len(), 1);
    assert!(
        report.rejected[0]
            .reason
            .contains("username \"alice\" is taken"),
        "{:?}",
        report.rejected
    );
}

fn large_imports_span_several_batches(backend: Backend) {
    let mut store = TestStore::new(backend);
    let rows: Vec<String> = (0..(BATCH * 2 + 7))
        .map(|i| format!("user{i}@example.com"))
        .collect();
    let csv = format!("email\n{}\n", rows.join("\n"));
    let report = run(&mut store, csv.as_bytes()).expect("import");
    assert_eq!(report.imported, (BATCH * 2 + 7) as u64);
    assert_eq!(count(&store), i64::try_from(BATCH * 2 + 7).expect("small"));
    assert_eq!(
        crate::audit::verify(store.conn(), &crate::keys::AuditKey::for_tests(), None)
            .expect("chain")
            .rows,
        (BATCH * 2 + 8) as u64
    );
}

fn extra_fields_and_blank_lines(backend: Backend) {
    let mut store = TestStore::new(backend);
    let report = run(
        &mut store,
        b"email,name\n\na@example.com,A,extra\nb@example.com,B\n",
    )
    .expect("import");
    assert_eq!(report.imported, 1);
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(report.rejected[0].line, 3);
}

fn line_numbers_count_blank_lines_and_multiline_fields(backend: Backend) {
    let mut store = TestStore::new(backend);
    let csv = b"email,name\n\n\nbad1\nok1@example.com,\"two\nlines\"\r\n\r\nbad2\n";
    let report = run(&mut store, csv).expect("import");
    let lines: Vec<u64> = report.rejected.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![4, 5, 8]);
}

fn a_bom_and_crlf_lines_read_like_plain_csv(backend: Backend) {
    let mut store = TestStore::new(backend);
    let report = run(
        &mut store,
        b"\xef\xbb\xbfemail,name\r\na@example.com,A\r\n\r\nb@example.com,B\nc@example.com,C",
    )
    .expect("import");
    assert_eq!(
        (report.imported, report.rejected.len()),
        (3, 0),
        "{report:?}"
    );
}

fn an_over_long_field_is_a_bad_row_that_does_not_quote_it(backend: Backend) {
    let mut store = TestStore::new(backend);
    let long = format!("{}@example.com\n", "a".repeat(5000));
    let report = run(&mut store, format!("email\n{long}").as_bytes()).expect("import");
    assert_eq!(
        report.rejected[0].reason,
        "a field is longer than 1024 bytes"
    );
}

fn input_past_a_limit_is_refused_before_any_row_is_written(backend: Backend) {
    let mut store = TestStore::new(backend);
    let mut csv = b"email\n".to_vec();
    for i in 0..(BATCH * 2) {
        csv.extend_from_slice(format!("u{i}@example.com\n").as_bytes());
    }
    csv.extend(std::iter::repeat_n(b'x', 70 * 1024));
    let err = run(&mut store, &csv).expect_err("too long a line");
    assert_eq!(
        err.to_string(),
        format!("line {} is longer than 64 KiB", BATCH * 2 + 2)
    );
    assert!(matches!(err, ImportError::Input(_)));
    assert_eq!(count(&store), 0, "nothing imported");
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Arbitrary bytes after a valid header never panic; every rejection and error is one
        /// short line.
        #[test]
        fn any_bytes_import_or_fail_in_one_line(
            header in prop_oneof![Just(&b"email,username,name,active\n"[..]), Just(&b""[..])],
            bytes in prop_oneof![
                proptest::collection::vec(
                    prop_oneof![any::<u8>(), Just(b'\n'), Just(b'\r'), Just(b','), Just(b'"'), Just(b'@')],
                    0..400,
                ),
                // One long field: its reason must not quote all of it.
                "[a-z@.]{200,3000}".prop_map(String::into_bytes),
            ],
        ) {
            // The CSV reader's messages under arbitrary input: SQLite only, as a store per
            // case on PostgreSQL would cost a database each; the tests above cover both.
            let mut store = TestStore::new(Backend::Sqlite);
            let csv = [header, &bytes].concat();
            let lines: Vec<String> = match run(&mut store, &csv) {
                Ok(report) => report.rejected.into_iter().map(|bad| bad.reason).collect(),
                Err(err) => vec![err.to_string()],
            };
            for text in lines {
                prop_assert!(!text.contains(['\n', '\r']), "{text:?}");
                prop_assert!(text.len() <= 1200, "{} bytes: {text:?}", text.len());
            }
        }
    }
}
