//! Unit tests of the audit log: the hash chain, its pinned hash, and verification.

use super::*;
use crate::store::audit::{COLUMNS, from_row};
use crate::store::testing::{Backend, TestStore, on_both_backends};

on_both_backends!(
    a_fresh_chain_verifies,
    an_edited_row_is_named,
    a_deleted_row_is_found,
    a_rehashed_row_breaks_the_next_link,
    filter_by_action_prefix_since_and_limit,
    an_unkeyed_prefix_is_anchored_only_explicitly,
    a_chain_recomputed_without_the_key_is_named,
    without_a_key_nothing_is_appended,
    a_recorded_head_must_still_be_there,
);

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

/// Run `sql` as someone with write access to the file or database would: with the append-only
/// triggers out of the way.
fn tamper(conn: &Conn, sql: &str) {
    // dialect: PostgreSQL's triggers belong to their table.
    conn.batch(conn.dialect(
        "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;",
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update; \
         ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_delete;",
    ))
    .expect("drop");
    conn.batch(sql).expect("tamper");
}

fn a_fresh_chain_verifies(backend: Backend) {
    let mut store = TestStore::new(backend);
    // Every store starts with its init row: an empty log can only have been emptied.
    assert!(matches!(
        verify(store.conn(), None),
        Err(AuditError::Broken { id: 1, .. })
    ));
    fill(&mut store, 3);
    assert_eq!(verify(store.conn(), None).expect("three rows").rows, 3);
    let first_prev: String = store
        .conn()
        .query_one(
            "SELECT prev_hash FROM audit_log WHERE id = 1",
            &crate::vals![],
            |r| r.get(0),
        )
        .expect("row");
    assert_eq!(first_prev, GENESIS);
}

fn an_edited_row_is_named(backend: Backend) {
    let mut store = TestStore::new(backend);
    fill(&mut store, 3);
    tamper(
        store.conn(),
        "UPDATE audit_log SET target = 'mallory' WHERE id = 2",
    );
    match verify(store.conn(), None) {
        Err(AuditError::Broken { id, why }) => {
            assert_eq!(id, 2);
            assert!(why.contains("contents"), "{why}");
        }
        other => panic!("expected broken chain, got {other:?}"),
    }
}

fn a_deleted_row_is_found(backend: Backend) {
    let mut store = TestStore::new(backend);
    fill(&mut store, 3);
    tamper(store.conn(), "DELETE FROM audit_log WHERE id = 2");
    assert!(matches!(
        verify(store.conn(), None),
        Err(AuditError::Broken { id: 3, .. })
    ));
}

fn a_rehashed_row_breaks_the_next_link(backend: Backend) {
    let mut store = TestStore::new(backend);
    fill(&mut store, 3);
    let mut entry = store
        .conn()
        .query_one(
            &format!("SELECT {COLUMNS} FROM audit_log WHERE id = 2"),
            &crate::vals![],
            from_row,
        )
        .expect("row 2");
    entry.target = Some("mallory".into());
    let forged = keyed_hash(store.conn(), &entry).expect("mac");
    tamper(
        store.conn(),
        &format!("UPDATE audit_log SET target = 'mallory', hash = '{forged}' WHERE id = 2"),
    );
    assert!(matches!(
        verify(store.conn(), None),
        Err(AuditError::Broken { id: 3, .. })
    ));
}

fn filter_by_action_prefix_since_and_limit(backend: Backend) {
    let mut store = TestStore::new(backend);
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
        for_each::<crate::store::db::DbError>(store.conn(), filter, |e| {
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
    // Stores from before schema 4 must keep verifying: this plain hash was computed before the
    // columns were listed once, and must never change.
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
        plain_hash(&entry),
        "50e6152809566780f0a78e1a1871c064e6e85e898bbd79b0304aef1b05fd4a34"
    );
    assert_eq!(
        Key::for_tests().mac(&entry.prev_hash, &payload(&entry)),
        "7db1441dc268c68b06fe69b2cd9d0aa66c1de369f16c365ed1c6ba79f104eba5",
        "the keyed MAC of the same row"
    );
}

/// Rows as a store from before schema 4 holds them: plain SHA-256, no key.
fn fill_unkeyed(store: &Store, n: i64) {
    let mut prev = GENESIS.to_string();
    for id in 1..=n {
        let mut entry = Entry {
            id,
            at: 500 + id,
            os_user: "root".into(),
            actor: None,
            reason: None,
            action: "user.add".into(),
            target_user_id: None,
            target: Some(format!("old{id}")),
            recipient: None,
            outcome: "ok".into(),
            detail: None,
            run_id: None,
            prev_hash: prev,
            hash: String::new(),
        };
        entry.hash = plain_hash(&entry);
        sql::insert(store.conn(), &entry).expect("insert");
        prev = entry.hash;
    }
}

fn an_unkeyed_prefix_is_anchored_only_explicitly(backend: Backend) {
    let mut store = TestStore::new(backend);
    fill_unkeyed(&store, 3);
    assert!(matches!(
        verify(store.conn(), None),
        Err(AuditError::Unanchored { rows: 3 })
    ));
    // An ordinary command never vouches for rows written without the key: a store-only
    // attacker could otherwise rewrite the log as unkeyed rows and have them anchored.
    let event = Event::new("user.add", Outcome::Ok).target_text("u");
    assert!(matches!(
        record(&mut store, &actor(), at(1_000), &event),
        Err(AuditError::Unanchored { rows: 3 })
    ));
    assert_eq!(
        anchor(store.conn(), &actor(), at(1_000)).expect("anchor"),
        Some(4)
    );
    assert_eq!(
        anchor(store.conn(), &actor(), at(1_000)).expect("anchor"),
        None
    );
    fill(&mut store, 2);
    let found = verify(store.conn(), None).expect("anchored");
    assert_eq!(
        found,
        Verified {
            rows: 6,
            unkeyed: 3
        }
    );
    let anchor: (String, String) = store
        .conn()
        .query_one(
            "SELECT action, detail FROM audit_log WHERE id = 4",
            &crate::vals![],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("row 4");
    assert_eq!(anchor.0, ANCHOR);
    assert!(
        anchor.1.contains("rows 1..3 were hashed without a key"),
        "{}",
        anchor.1
    );
}

fn a_chain_recomputed_without_the_key_is_named(backend: Backend) {
    let mut store = TestStore::new(backend);
    fill(&mut store, 4);
    let mut prev: String = store
        .conn()
        .query_one(
            "SELECT hash FROM audit_log WHERE id = 1",
            &crate::vals![],
            |r| r.get(0),
        )
        .expect("row 1");
    let conn = store.conn();
    tamper(conn, "SELECT 1");
    for id in 2..=4 {
        let mut entry = conn
            .query_one(
                &format!("SELECT {COLUMNS} FROM audit_log WHERE id = {id}"),
                &crate::vals![],
                from_row,
            )
            .expect("row");
        if id == 2 {
            entry.target = Some("mallory".into());
        }
        entry.prev_hash = prev;
        entry.hash = plain_hash(&entry);
        conn.execute(
            "UPDATE audit_log SET target = ?1, prev_hash = ?2, hash = ?3 WHERE id = ?4",
            &crate::vals![entry.target, entry.prev_hash, entry.hash, id],
        )
        .expect("rewrite");
        prev = entry.hash;
    }
    match verify(conn, None) {
        Err(AuditError::Broken { id, why }) => {
            assert_eq!(id, 2);
            assert!(why.contains("MAC"), "{why}");
        }
        other => panic!("expected row 2 named, got {other:?}"),
    }
}

fn without_a_key_nothing_is_appended(backend: Backend) {
    let mut store = TestStore::new(backend);
    fill(&mut store, 1);
    let missing = KeyError::Missing {
        path: store.dir().join("audit.key"),
    };
    use_key(store.conn(), Err(missing)).expect("install");
    let event = Event::new("user.add", Outcome::Ok);
    match record(&mut store, &actor(), at(5_000), &event) {
        Err(AuditError::NoKey { why }) => {
            assert!(why.contains("audit.key does not exist"), "{why}");
        }
        other => panic!("expected NoKey, got {other:?}"),
    }
    assert!(matches!(
        verify(store.conn(), None),
        Err(AuditError::NoKey { .. })
    ));
    let rows: i64 = store
        .conn()
        .query_one("SELECT count(*) FROM audit_log", &crate::vals![], |r| {
            r.get(0)
        })
        .expect("count");
    assert_eq!(rows, 1);
}

fn a_recorded_head_must_still_be_there(backend: Backend) {
    let mut store = TestStore::new(backend);
    fill(&mut store, 3);
    let recorded = head(store.conn()).expect("head").expect("a row");
    assert_eq!(recorded.id, 3);
    let parsed: Head = recorded.to_string().parse().expect("round trip");
    assert_eq!(parsed, recorded);
    assert!(verify(store.conn(), Some(&recorded)).is_ok());
    fill(&mut store, 1);
    assert!(
        verify(store.conn(), Some(&recorded)).is_ok(),
        "newer rows are fine"
    );
    tamper(store.conn(), "DELETE FROM audit_log WHERE id >= 3");
    match verify(store.conn(), Some(&recorded)) {
        Err(AuditError::HeadMissing { why, .. }) => assert!(why.contains("ends at row 2"), "{why}"),
        other => panic!("expected HeadMissing, got {other:?}"),
    }
    for bad in ["3", "x:ab", "0:ab", &format!("3:{}", "g".repeat(64))] {
        assert!(bad.parse::<Head>().is_err(), "{bad}");
    }
}

#[test]
fn the_key_file_is_private_and_round_trips() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.key");
    assert!(matches!(Key::load(&path), Err(KeyError::Missing { .. })));
    #[expect(
        clippy::disallowed_methods,
        reason = "the test draws a real key from the OS RNG"
    )]
    let key = Key::generate(&mut rand::rng());
    key.create(&path).expect("create");
    let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(key.create(&path).is_err(), "never replaced");
    let loaded = Key::load(&path).expect("load");
    assert_eq!(loaded.mac("a", "b"), key.mac("a", "b"));
    assert_eq!(format!("{loaded:?}"), "Key([redacted])");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    assert!(matches!(
        Key::load(&path),
        Err(KeyError::ReadableByOthers { mode: 0o640, .. })
    ));
    std::fs::write(&path, "not hex\n").expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    assert!(matches!(Key::load(&path), Err(KeyError::Malformed { .. })));
}
