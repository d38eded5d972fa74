//! Planning: resolving a selection, the reasons for skips, dry runs and the plan's audit row.

use super::*;

on_both_backends!(
    plan_skips_with_reasons_and_collapses_duplicates,
    csv_files_use_the_email_or_username_column,
    plan_audits_with_its_actor_and_a_dry_run_changes_nothing,
    hash_then_digits_names_a_user_and_hash_then_blank_is_a_comment,
    crlf_lone_cr_and_lf_lines_all_end_entries,
    bad_bytes_refuse_the_selection_naming_the_line,
);

fn plan_skips_with_reasons_and_collapses_duplicates(backend: Backend) {
    let mut store = store_with(backend, 3);
    store
        .conn()
        .execute(
            "UPDATE users SET active = 0 WHERE username = 'u1'",
            &crate::vals![],
        )
        .expect("deactivate");
    store
        .conn()
        .execute(
            "UPDATE users SET email = NULL WHERE username = 'u2'",
            &crate::vals![],
        )
        .expect("no email");
    let (id, summary) = plan_file(
        &mut store,
        "# list\nu0\n\nu1\nu2\nnobody\nU0@example.com\nnobody\n",
        Action::Link,
    );
    assert_eq!(
        summary,
        PlanSummary {
            to_do: 1,
            skipped: 5
        }
    );
    let items = sql::items(store.conn(), &id, &["pending", "skipped"], 0, 100).expect("items");
    let reasons: Vec<(&str, Option<&str>)> = items
        .iter()
        .map(|i| (i.entry.as_str(), i.reason.as_deref()))
        .collect();
    assert_eq!(
        reasons,
        [
            ("u0", None),
            ("u1", Some("inactive")),
            ("u2", Some("no valid email")),
            ("nobody", Some("unknown")),
            ("U0@example.com", Some("duplicate")),
            ("nobody", Some("duplicate"))
        ]
    );
}

fn csv_files_use_the_email_or_username_column(backend: Backend) {
    let mut store = store_with(backend, 2);
    let (_, summary) = plan_file(
        &mut store,
        "name,email\nA,u0@example.com\nB,u1@example.com\n",
        Action::Link,
    );
    assert_eq!(summary.to_do, 2);
    let (_, summary) = plan_file(&mut store, "username,role\nu1,admin\n", Action::Generate);
    assert_eq!(summary.to_do, 1);
}

fn plan_audits_with_its_actor_and_a_dry_run_changes_nothing(backend: Backend) {
    let mut store = store_with(backend, 2);
    let count = |store: &Store, sql: &str| -> i64 {
        store
            .conn()
            .query_one(sql, &crate::vals![], |r| r.get(0))
            .expect("count")
    };
    let audit_rows = count(&store, "SELECT count(*) FROM audit_log");
    let (summary, rows) = dry_entries(&store, b"u0\nnobody\nu1\n").expect("dry run");
    assert_eq!((summary.to_do, summary.skipped), (2, 1));
    assert_eq!(rows[1], ("nobody".to_string(), None));
    assert_eq!(rows[2], ("u1".to_string(), Some("u1".to_string())));
    assert_eq!(count(&store, "SELECT count(*) FROM bulk_runs"), 0);
    assert_eq!(count(&store, "SELECT count(*) FROM audit_log"), audit_rows);
    let (id, _) = plan_file(&mut store, "u0\n", Action::Link);
    let (action, os_user): (String, String) = store
        .conn()
        .query_one(
            "SELECT action, os_user FROM audit_log WHERE run_id = ?1",
            &crate::vals![&id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("the plan is audited");
    assert_eq!((action.as_str(), os_user.as_str()), ("bulk.plan", "root"));
}

/// An entry and the username it resolved to.
type Row = (String, Option<String>);

/// Plan `text` as a dry run; returns the counts, the entries and what each resolved to.
fn dry_entries(store: &Store, text: &[u8]) -> Result<(PlanSummary, Vec<Row>), BulkError> {
    let request = Request {
        run_id: "dry",
        action: Action::Link,
        deliver_to: None,
        cooldown_secs: 60,
        reissue_of: None,
    };
    let mut rows = Vec::new();
    let summary = dry_run(
        store,
        Selection::File(text),
        &request,
        at(),
        |item, user| {
            rows.push((item.entry.clone(), user.map(|u| u.username.clone())));
            Ok::<_, BulkError>(())
        },
    )?;
    Ok((summary, rows))
}

fn hash_then_digits_names_a_user_and_hash_then_blank_is_a_comment(backend: Backend) {
    let store = store_with(backend, 3);
    let (_, rows) =
        dry_entries(&store, b"#\n# a comment\n  #\tanother\n#2\n  #3  \n##\n").expect("plan");
    let named: Vec<(&str, Option<&str>)> = rows
        .iter()
        .map(|(e, u)| (e.as_str(), u.as_deref()))
        .collect();
    assert_eq!(
        named,
        [("#2", Some("u1")), ("#3", Some("u2")), ("##", None)]
    );
}

fn crlf_lone_cr_and_lf_lines_all_end_entries(backend: Backend) {
    let store = store_with(backend, 4);
    let (_, rows) = dry_entries(&store, b"u0\r\nu1\ru2\n\r\nu3").expect("plan");
    let entries: Vec<&str> = rows.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(entries, ["u0", "u1", "u2", "u3"]);
    let (_, rows) =
        dry_entries(&store, b"email\r\nu0@example.com\r\n\r\nu1@example.com").expect("csv");
    assert_eq!(rows.len(), 2, "a CRLF CSV: {rows:?}");
    assert!(rows.iter().all(|(_, user)| user.is_some()), "{rows:?}");
    let (_, rows) = dry_entries(&store, b"username\ru2\ru3\r").expect("csv after a lone CR");
    let entries: Vec<&str> = rows.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(entries, ["u2", "u3"]);
}

fn bad_bytes_refuse_the_selection_naming_the_line(backend: Backend) {
    let store = store_with(backend, 1);
    for (text, message) in [
        (&b"u0\n\xff\xfe\n"[..], "line 2 is not valid UTF-8"),
        (b"u0\nu\x001\n", "line 2 contains control characters"),
        (b"\x1b[31mu0\n", "line 1 contains control characters"),
        (
            b"email\nu0@example.com\n\"a\x1bb\"\n",
            "line 3 contains control characters",
        ),
    ] {
        let err = dry_entries(&store, text).expect_err("refused");
        assert_eq!(
            err.to_string(),
            format!("cannot read the selection: {message}")
        );
    }
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Arbitrary bytes never panic; an error is one short line.
        #[test]
        fn any_bytes_plan_or_fail_in_one_line(
            bytes in proptest::collection::vec(
                prop_oneof![any::<u8>(), Just(b'\n'), Just(b'\r'), Just(b'#'), Just(b',')],
                0..400,
            ),
        ) {
            // The selection reader's messages under arbitrary input: SQLite only, as a store per
            // case on PostgreSQL would cost a database each; the tests above cover both.
            let store = store_with(Backend::Sqlite, 2);
            match dry_entries(&store, &bytes) {
                Ok((_, rows)) => prop_assert!(rows.len() <= bytes.len()),
                Err(err) => {
                    let text = err.to_string();
                    prop_assert!(!text.contains(['\n', '\r']), "{text:?}");
                    prop_assert!(text.len() <= 300, "{text:?}");
                }
            }
        }
    }
}
