//! The SQLite store's own mechanics, which a PostgreSQL store does not have: a store from
//! before schema 4 (schema versions below 5 exist only in SQLite), SQLite's write lock held by
//! another connection, and the store file's owner. Each runs once, on SQLite; their
//! PostgreSQL counterparts are in the `pg_*` modules.

use crate::audit::{rechain_without_key, rows};
use crate::concurrency::store::busy_timeout;
use crate::support::*;
use crate::trust::give_away;

#[test]
fn a_missing_key_refuses_to_append_and_rekey_anchors_an_old_store() {
    let env = TestEnv::with_samples();
    // What a store from before schema 4 looks like: plain SHA-256 chain, no key file. Schema
    // versions below 5 exist only in SQLite (the PostgreSQL store starts at 5).
    let conn = env.sqlite("forges a schema-3 store");
    rechain_without_key(&env.db(), 1, "");
    // Schema 3: without the v4 trigger (dropped above), the v5 columns, the v6 trigger and the
    // v7, v8, v9 and v10 additions.
    conn.execute_batch("DROP TRIGGER users_revoke_links")
        .expect("drop the v6 trigger");
    // Nor the v10 triggers and column (its users table keeps AUTOINCREMENT: V10 rebuilds it
    // again the same).
    conn.execute_batch(
        "DROP TRIGGER users_deactivation_revokes_links; \
         DROP TRIGGER users_deletion_removes_links; \
         DROP TRIGGER users_new_row_revokes_old_links; \
         ALTER TABLE reset_tokens DROP COLUMN user_created_at;",
    )
    .expect("drop the v10 additions");
    let v5 = [
        "code_hmac",
        "code_tries",
        "opened_at",
        "last_opened_at",
        "opens",
        "scanner_opens",
    ];
    for column in v5 {
        conn.execute_batch(&format!("ALTER TABLE reset_tokens DROP COLUMN {column}"))
            .expect("drop a v5 column");
    }
    // Nor the v7 ones.
    conn.execute_batch(
        "DROP TABLE temp_passwords; \
         ALTER TABLE reset_tokens DROP COLUMN sent_at; \
         ALTER TABLE reset_tokens DROP COLUMN mail_reply; \
         ALTER TABLE bulk_runs DROP COLUMN reissue_of; \
         ALTER TABLE bulk_items DROP COLUMN token_id; \
         ALTER TABLE bulk_items DROP COLUMN temp_password_id;",
    )
    .expect("drop the v7 additions");
    conn.execute_batch("ALTER TABLE users DROP COLUMN locale")
        .expect("drop the v8 column");
    conn.execute_batch("DROP INDEX bulk_items_in_order")
        .expect("drop the v9 index");
    conn.execute_batch("PRAGMA user_version = 3")
        .expect("version");
    drop(conn);
    std::fs::remove_file(env.path("audit.key")).expect("remove key");
    let out = env.run(&["users", "deactivate", "bob", "--yes"]);
    assert_fails(&out, 8, "audit key");
    assert!(
        stderr(&out).contains("pwreset audit rekey"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        env.count("SELECT count(*) FROM users WHERE active = 0"),
        1,
        "bob untouched"
    );
    assert_fails(&env.run(&["audit"]), 8, "audit key");
    let out = env.run(&["audit", "rekey"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(crate::support::mode(&env.path("audit.key")), 0o600);
    let out = env.run(&["audit", "verify"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("7 rows verified; rows 1..5 were written without a key"),
        "{}",
        stderr(&out)
    );
    let anchor = rows(&env, &[]).remove(5);
    assert_eq!(anchor["action"], "audit.anchor");
    env.ok(&["users", "deactivate", "bob", "--yes"]);
    env.ok(&["audit", "verify"]);
}

/// A writer that finds the store locked past `store.busy_timeout_ms` is exit 8 with a hint;
/// read-only commands (listings, the audit log, a dry run) work all the while.
#[test]
fn a_locked_store_is_exit_8_for_writers_and_no_obstacle_for_readers() {
    let env = TestEnv::with_samples();
    busy_timeout(&env, 100);
    // SQLite's write lock, held by a plain connection; the PostgreSQL store's advisory lock has
    // its own test in `pg_connect`.
    let holder = env.sqlite("holds SQLite's write lock");
    holder
        .execute_batch("BEGIN IMMEDIATE")
        .expect("hold the write lock");
    let out = crate::support::run_bounded(&env, &["send-link", "alice"]);
    assert_fails(
        &out,
        8,
        "hint: another pwreset holds the store; try again, or raise store.busy_timeout_ms",
    );
    assert!(env.outbox().is_empty(), "{}", stderr(&out));
    for read in [
        &["users", "list"][..],
        &["users", "show", "alice"],
        &["tokens", "list"],
        &["audit"],
        &["reset", "bulk", "--link", "--all", "--dry-run"],
    ] {
        let out = crate::support::run_bounded(&env, read);
        assert_exit(&out, 0);
    }
    holder.execute_batch("ROLLBACK").expect("release the lock");
    assert_exit(
        &crate::support::run_bounded(&env, &["send-link", "alice"]),
        0,
    );
}

/// The store's ownership is an SQLite file's; a PostgreSQL store is no file of ours.
#[test]
fn a_store_file_owned_by_another_user_is_refused() {
    let env = TestEnv::with_samples();
    give_away(&env.path("pwreset.db"));
    let out = env.run(&["users", "list"]);
    assert_eq!(code(&out), 8, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("store pwreset.db is owned by another user"),
        "{}",
        stderr(&out)
    );
}

/// A raw connection to the store with foreign keys off, as the sqlite3 shell and most
/// applications open it: `ON DELETE CASCADE` does nothing there.
fn without_foreign_keys(env: &TestEnv) -> rusqlite::Connection {
    let conn = env.sqlite("a connection with foreign keys off is SQLite's");
    conn.pragma_update(None, "foreign_keys", false)
        .expect("the sqlite3 shell's default");
    conn
}

/// TOK-4: a deleted user's link dies with them and never passes to the next user added, even
/// when the deleting connection had foreign keys off (issue 21, item 12).
#[test]
fn a_deleted_users_link_never_passes_to_the_next_user() {
    let env = TestEnv::with_samples();
    env.ok(&["users", "add", "erin@example.com"]);
    let token = env.link_for("erin");
    without_foreign_keys(&env)
        .execute("DELETE FROM users WHERE username = 'erin'", [])
        .expect("the application deletes erin");
    env.ok(&["users", "add", "frank@example.com"]);
    let verify = env.run_stdin(&["tokens", "verify", "-v"], &format!("{token}\n"));
    assert_fails(&verify, 7, "not valid");
    let redeem = env.run_stdin(
        &["tokens", "redeem"],
        &format!("{token}\nviolet-harbour-tractor-41\n"),
    );
    assert_fails(&redeem, 7, "not valid");
    assert_eq!(
        env.count("SELECT count(*) FROM users WHERE username = 'frank' AND password_hash IS NULL"),
        1,
        "frank's password untouched"
    );
    assert_eq!(
        env.count("SELECT count(*) FROM reset_tokens WHERE user_id NOT IN (SELECT id FROM users)"),
        0
    );
}

/// TOK-4, TOK-7: `REPLACE INTO users` with foreign keys off deletes the row without firing any
/// delete trigger; the new row under the same id never inherits the old one's links.
#[test]
fn a_replaced_user_row_never_inherits_the_links() {
    let env = TestEnv::with_samples();
    let token = env.link_for("alice");
    without_foreign_keys(&env)
        .execute(
            "REPLACE INTO users (id, username, email, created_at, updated_at) \
             SELECT id, 'mallory', 'mallory@example.com', created_at, updated_at \
             FROM users WHERE username = 'alice'",
            [],
        )
        .expect("the application replaces alice's row");
    let verify = env.run_stdin(&["tokens", "verify"], &format!("{token}\n"));
    assert_fails(&verify, 7, "not valid");
}
