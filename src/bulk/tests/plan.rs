//! Planning: resolving a selection, the reasons for skips, dry runs and the plan's audit row.

use super::*;

#[test]
fn plan_skips_with_reasons_and_collapses_duplicates() {
    let (_dir, mut store) = store_with(3);
    store
        .conn()
        .execute("UPDATE users SET active = 0 WHERE username = 'u1'", [])
        .expect("deactivate");
    store
        .conn()
        .execute("UPDATE users SET email = NULL WHERE username = 'u2'", [])
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

#[test]
fn csv_files_use_the_email_or_username_column() {
    let (_dir, mut store) = store_with(2);
    let (_, summary) = plan_file(
        &mut store,
        "name,email\nA,u0@example.com\nB,u1@example.com\n",
        Action::Link,
    );
    assert_eq!(summary.to_do, 2);
    let (_, summary) = plan_file(&mut store, "username,role\nu1,admin\n", Action::Generate);
    assert_eq!(summary.to_do, 1);
}

#[test]
fn plan_audits_with_its_actor_and_a_dry_run_changes_nothing() {
    let (_dir, mut store) = store_with(2);
    let count = |store: &Store, sql: &str| -> i64 {
        store
            .conn()
            .query_row(sql, [], |r| r.get(0))
            .expect("count")
    };
    let audit_rows = count(&store, "SELECT count(*) FROM audit_log");
    let request = Request {
        run_id: "dry",
        action: Action::Link,
        deliver_to: None,
        cooldown_secs: 60,
    };
    let mut rows = Vec::new();
    let file = Selection::File("u0\nnobody\nu1\n".as_bytes());
    let summary = dry_run(&store, file, &request, at(), |item, user| {
        rows.push((item.entry.clone(), user.map(|u| u.username.clone())));
        Ok::<_, BulkError>(())
    })
    .expect("dry run");
    assert_eq!((summary.to_do, summary.skipped), (2, 1));
    assert_eq!(rows[1], ("nobody".to_string(), None));
    assert_eq!(rows[2], ("u1".to_string(), Some("u1".to_string())));
    assert_eq!(count(&store, "SELECT count(*) FROM bulk_runs"), 0);
    assert_eq!(count(&store, "SELECT count(*) FROM audit_log"), audit_rows);
    let (id, _) = plan_file(&mut store, "u0\n", Action::Link);
    let (action, os_user): (String, String) = store
        .conn()
        .query_row(
            "SELECT action, os_user FROM audit_log WHERE run_id = ?1",
            [&id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("the plan is audited");
    assert_eq!((action.as_str(), os_user.as_str()), ("bulk.plan", "root"));
}
