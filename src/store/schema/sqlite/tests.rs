//! SQLite's migration list applied to real in-memory stores: twice, from older versions with
//! their data, a newer version refused, and the rules its triggers keep.

use super::*;

#[test]
fn applying_twice_is_a_no_op() {
    let mut conn = Connection::open_in_memory().expect("memory db");
    assert_eq!(
        apply(&mut conn, Path::new(":memory:")).expect("first"),
        MIGRATIONS.len()
    );
    assert_eq!(apply(&mut conn, Path::new(":memory:")).expect("second"), 0);
    assert_eq!(version(&conn).expect("version"), LATEST);
}

#[test]
fn a_version_2_store_keeps_its_bulk_items() {
    let mut conn = Connection::open_in_memory().expect("memory db");
    let tx = conn.transaction().expect("tx");
    tx.execute_batch(V1).expect("v1");
    tx.execute_batch(V2).expect("v2");
    tx.pragma_update(None, "user_version", 2).expect("version");
    tx.execute_batch(
        "INSERT INTO bulk_runs (id, created_at, action, os_user, status) VALUES ('r', 0, 'link', 'u', 'running');
         INSERT INTO bulk_items (run_id, position, entry, status, reason, updated_at) VALUES ('r', 1, 'alice', 'sending', NULL, 5);",
    )
    .expect("a v2 run");
    tx.commit().expect("commit");
    assert_eq!(
        apply(&mut conn, Path::new(":memory:")).expect("migrate"),
        MIGRATIONS.len() - 2
    );
    let (entry, status, pid): (String, String, Option<i64>) = conn
        .query_row(
            "SELECT entry, status, claimed_pid FROM bulk_items",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("the item survived");
    assert_eq!(
        (entry.as_str(), status.as_str(), pid),
        ("alice", "sending", None)
    );
    conn.execute("UPDATE bulk_items SET status = 'interrupted'", [])
        .expect("the new status is allowed");
    let open: i64 = conn
        .query_row("SELECT count(*) FROM mail_intents", [], |r| r.get(0))
        .expect("the intents table exists");
    assert_eq!(open, 0);
}

#[test]
fn a_version_5_store_keeps_its_users_without_a_locale() {
    let mut conn = Connection::open_in_memory().expect("memory db");
    let tx = conn.transaction().expect("tx");
    for sql in &MIGRATIONS[..5] {
        tx.execute_batch(sql).expect("v1..v5");
    }
    tx.pragma_update(None, "user_version", 5).expect("version");
    tx.execute(
        "INSERT INTO users (username, created_at, updated_at) VALUES ('alice', 0, 0)",
        [],
    )
    .expect("a v5 user");
    tx.commit().expect("commit");
    assert_eq!(
        apply(&mut conn, Path::new(":memory:")).expect("migrate"),
        MIGRATIONS.len() - 5
    );
    let locale: Option<String> = conn
        .query_row(
            "SELECT locale FROM users WHERE username = 'alice'",
            [],
            |r| r.get(0),
        )
        .expect("alice survived");
    assert_eq!(locale, None, "NULL: mail.default_locale");
}

#[test]
fn newer_schema_is_refused_and_left_alone() {
    let mut conn = Connection::open_in_memory().expect("memory db");
    conn.pragma_update(None, "user_version", LATEST + 1)
        .expect("set version");
    let err = apply(&mut conn, Path::new("x.db")).expect_err("newer");
    assert!(matches!(err, StoreError::NewerSchema { found, .. } if found == LATEST + 1));
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(tables, 0, "nothing was created in a newer store");
}

#[test]
fn audit_log_rejects_update_and_delete() {
    let mut conn = Connection::open_in_memory().expect("memory db");
    apply(&mut conn, Path::new(":memory:")).expect("migrate");
    conn.execute(
        "INSERT INTO audit_log (id, at, os_user, action, outcome, prev_hash, hash) VALUES (1, 1, 'u', 'a', 'ok', '', '')",
        [],
    )
    .expect("insert is allowed");
    let update = conn.execute("UPDATE audit_log SET outcome = 'x'", []);
    assert!(
        update
            .expect_err("update")
            .to_string()
            .contains("append-only")
    );
    let delete = conn.execute("DELETE FROM audit_log", []);
    assert!(
        delete
            .expect_err("delete")
            .to_string()
            .contains("append-only")
    );
}

#[test]
fn audit_log_rejects_replacement_and_id_reuse() {
    let mut conn = Connection::open_in_memory().expect("memory db");
    apply(&mut conn, Path::new(":memory:")).expect("migrate");
    let insert = |sql: &str, id: i64| {
        conn.execute(
            &format!("{sql} INTO audit_log (id, at, os_user, action, outcome, prev_hash, hash) VALUES (?1, 1, 'u', 'a', 'ok', '', '')"),
            [id],
        )
    };
    insert("INSERT", 1).expect("the first id");
    insert("INSERT", 2).expect("the next id");
    for (sql, id) in [
        ("INSERT OR REPLACE", 1),
        ("REPLACE", 2),
        ("INSERT", 2),
        ("INSERT", 4),
        ("INSERT OR IGNORE", 0),
    ] {
        let err = insert(sql, id).expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql} {id}: {err}");
    }
    let unnumbered = conn.execute(
        "INSERT INTO audit_log (at, os_user, action, outcome, prev_hash, hash) VALUES (1, 'u', 'a', 'ok', '', '')",
        [],
    );
    assert!(unnumbered.is_err(), "an insert must name its id");
    let count: i64 = conn
        .query_row("SELECT count(*) FROM audit_log", [], |r| r.get(0))
        .expect("count");
    assert_eq!(count, 2);
}

#[test]
fn emails_are_unique_ignoring_case() {
    let mut conn = Connection::open_in_memory().expect("memory db");
    apply(&mut conn, Path::new(":memory:")).expect("migrate");
    let insert =
        "INSERT INTO users (username, email, created_at, updated_at) VALUES (?1, ?2, 0, 0)";
    conn.execute(insert, ["a", "Alice@Example.com"])
        .expect("first");
    assert!(conn.execute(insert, ["b", "alice@example.COM"]).is_err());
}

/// Schema 10 keeps every user and id, binds the links to their users, never gives a deleted
/// user's id again, and leaves the connection's foreign keys as they were.
#[test]
fn a_version_9_store_keeps_its_users_and_never_reuses_an_id() {
    let mut conn = Connection::open_in_memory().expect("memory db");
    conn.pragma_update(None, "foreign_keys", true)
        .expect("foreign keys on, as pwreset opens a store");
    let tx = conn.transaction().expect("tx");
    for sql in &MIGRATIONS[..9] {
        tx.execute_batch(sql).expect("v1..v9");
    }
    tx.pragma_update(None, "user_version", 9).expect("version");
    tx.execute_batch(
        "INSERT INTO users (id, username, created_at, updated_at) VALUES (1, 'alice', 7, 7), (2, 'bob', 8, 8);
         INSERT INTO reset_tokens (user_id, token_sha256, created_at, expires_at) VALUES (1, 'a1', 9, 99);",
    )
    .expect("a v9 store");
    tx.commit().expect("commit");
    assert_eq!(apply(&mut conn, Path::new(":memory:")).expect("migrate"), 1);
    let bound: i64 = conn
        .query_row(
            "SELECT user_created_at FROM reset_tokens WHERE token_sha256 = 'a1'",
            [],
            |r| r.get(0),
        )
        .expect("alice's link");
    assert_eq!(bound, 7, "bound to alice");
    conn.execute("DELETE FROM users WHERE id = 2", [])
        .expect("bob goes");
    conn.execute(
        "INSERT INTO users (username, created_at, updated_at) VALUES ('carol', 0, 0)",
        [],
    )
    .expect("carol");
    let carol: i64 = conn
        .query_row("SELECT id FROM users WHERE username = 'carol'", [], |r| {
            r.get(0)
        })
        .expect("carol's id");
    assert_eq!(carol, 3, "bob's id is not given again");
    let enforced: bool = conn
        .pragma_query_value(None, "foreign_keys", |r| r.get(0))
        .expect("pragma");
    assert!(enforced, "foreign keys back on");
}
