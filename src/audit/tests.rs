//! Unit tests of the audit log: the hash chain, its pinned hash, and verification.

use super::*;
use crate::store::audit::{COLUMNS, from_row};

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::create(&dir.path().join("a.db"), 1000).expect("store");
    (dir, store)
}

fn actor() -> Actor {
    Actor {
        os_user: "root".into(),
        actor: Some("ops".into()),
        reason: None,
    }
}

fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(secs).expect("valid time")
}

fn fill(store: &mut Store, n: i64) {
    for i in 0..n {
        let event = Event::new("user.add", Outcome::Ok).target_text(&format!("u{i}"));
        record(store, &actor(), at(1_000 + i), &event).expect("record");
    }
}

fn tamper(conn: &Connection, sql: &str) {
    conn.execute_batch("DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;")
        .expect("drop");
    conn.execute_batch(sql).expect("tamper");
}

#[test]
fn a_fresh_chain_verifies() {
    let (_dir, mut store) = store();
    assert_eq!(verify(store.conn()).expect("empty"), 0);
    fill(&mut store, 3);
    assert_eq!(verify(store.conn()).expect("three rows"), 3);
    let first_prev: String = store
        .conn()
        .query_row("SELECT prev_hash FROM audit_log WHERE id = 1", [], |r| {
            r.get(0)
        })
        .expect("row");
    assert_eq!(first_prev, GENESIS);
}

#[test]
fn an_edited_row_is_named() {
    let (_dir, mut store) = store();
    fill(&mut store, 3);
    tamper(
        store.conn(),
        "UPDATE audit_log SET target = 'mallory' WHERE id = 2",
    );
    match verify(store.conn()) {
        Err(AuditError::Broken { id, why }) => {
            assert_eq!(id, 2);
            assert!(why.contains("contents"), "{why}");
        }
        other => panic!("expected broken chain, got {other:?}"),
    }
}

#[test]
fn a_deleted_row_is_found() {
    let (_dir, mut store) = store();
    fill(&mut store, 3);
    tamper(store.conn(), "DELETE FROM audit_log WHERE id = 2");
    assert!(matches!(
        verify(store.conn()),
        Err(AuditError::Broken { id: 3, .. })
    ));
}

#[test]
fn a_rehashed_row_breaks_the_next_link() {
    let (_dir, mut store) = store();
    fill(&mut store, 3);
    let mut entry = store
        .conn()
        .query_row(
            &format!("SELECT {COLUMNS} FROM audit_log WHERE id = 2"),
            [],
            from_row,
        )
        .expect("row 2");
    entry.target = Some("mallory".into());
    let forged = row_hash(&entry);
    tamper(
        store.conn(),
        &format!("UPDATE audit_log SET target = 'mallory', hash = '{forged}' WHERE id = 2"),
    );
    assert!(matches!(
        verify(store.conn()),
        Err(AuditError::Broken { id: 3, .. })
    ));
}

#[test]
fn filter_by_action_prefix_since_and_limit() {
    let (_dir, mut store) = store();
    fill(&mut store, 5);
    record(
        &mut store,
        &actor(),
        at(2_000),
        &Event::new("store.init", Outcome::Ok),
    )
    .expect("record");
    let collect = |filter: &Filter| {
        let mut ids = Vec::new();
        for_each::<rusqlite::Error>(store.conn(), filter, |e| {
            ids.push(e.id);
            Ok(())
        })
        .expect("query");
        ids
    };
    assert_eq!(
        collect(&Filter {
            action: Some("user.*".into()),
            ..Filter::default()
        }),
        vec![1, 2, 3, 4, 5]
    );
    assert_eq!(
        collect(&Filter {
            action: Some("store.init".into()),
            ..Filter::default()
        }),
        vec![6]
    );
    assert_eq!(
        collect(&Filter {
            since: Some(1_003),
            ..Filter::default()
        }),
        vec![4, 5, 6]
    );
    assert_eq!(
        collect(&Filter {
            limit: Some(2),
            ..Filter::default()
        }),
        vec![5, 6]
    );
}

#[test]
fn the_hash_of_a_fixed_row_is_pinned() {
    // Existing stores must keep verifying: this hash was computed before the columns were
    // listed once, and must never change.
    let entry = Entry {
        id: 7,
        at: 1_800_000_000,
        os_user: "root".into(),
        actor: Some("ops".into()),
        reason: Some("ticket \"42\"".into()),
        action: "link.send".into(),
        target_user_id: Some(3),
        target: Some("alice".into()),
        recipient: Some("alice@example.com".into()),
        outcome: "ok".into(),
        detail: Some("token #9, expires \u{e9}\nnext".into()),
        run_id: None,
        prev_hash: "ab".repeat(32),
        hash: String::new(),
    };
    assert_eq!(
        row_hash(&entry),
        "50e6152809566780f0a78e1a1871c064e6e85e898bbd79b0304aef1b05fd4a34"
    );
}
