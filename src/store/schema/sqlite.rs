//! The schema in SQLite's dialect, as an append-only list of migrations tracked with
//! `PRAGMA user_version`.
//!
//! Never edit or reorder an entry that has shipped: add a new one at the end, and the same
//! version to `postgres.rs` (see `super`). docs/schema-contract.md documents the resulting
//! tables as the contract with the application.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::LATEST;
use crate::store::StoreError;

/// Migration `n` (1-based) brings the store from version `n - 1` to `n`.
pub(super) const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7, V8, V9];

const V1: &str = r"
CREATE TABLE users (
    id                       INTEGER PRIMARY KEY,
    username                 TEXT    NOT NULL COLLATE NOCASE UNIQUE,
    email                    TEXT             COLLATE NOCASE UNIQUE,
    display_name             TEXT,
    active                   INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    password_hash            TEXT,
    must_change_password     INTEGER NOT NULL DEFAULT 0 CHECK (must_change_password IN (0, 1)),
    temp_password_expires_at INTEGER,
    password_changed_at      INTEGER,
    created_at               INTEGER NOT NULL,
    updated_at               INTEGER NOT NULL
);

CREATE TABLE reset_tokens (
    id             INTEGER PRIMARY KEY,
    user_id        INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_sha256   TEXT    NOT NULL UNIQUE,
    purpose        TEXT    NOT NULL DEFAULT 'password-reset',
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER,
    revoked_at     INTEGER,
    revoked_reason TEXT,
    recipient      TEXT,
    actor          TEXT
);
CREATE INDEX reset_tokens_by_user    ON reset_tokens(user_id);
CREATE INDEX reset_tokens_by_expiry  ON reset_tokens(expires_at);

CREATE TABLE audit_log (
    id             INTEGER PRIMARY KEY,
    at             INTEGER NOT NULL,
    os_user        TEXT    NOT NULL,
    actor          TEXT,
    reason         TEXT,
    action         TEXT    NOT NULL,
    target_user_id INTEGER,
    target         TEXT,
    recipient      TEXT,
    outcome        TEXT    NOT NULL,
    detail         TEXT,
    run_id         TEXT,
    prev_hash      TEXT    NOT NULL,
    hash           TEXT    NOT NULL
);
CREATE INDEX audit_log_by_target ON audit_log(target_user_id);
CREATE INDEX audit_log_by_time   ON audit_log(at);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
";

/// Bulk runs and their per-user outcomes, so an interrupted run can be resumed.
const V2: &str = r"
CREATE TABLE bulk_runs (
    id          TEXT    PRIMARY KEY,
    created_at  INTEGER NOT NULL,
    action      TEXT    NOT NULL CHECK (action IN ('link', 'generate')),
    os_user     TEXT    NOT NULL,
    actor       TEXT,
    reason      TEXT,
    deliver_to  TEXT,
    status      TEXT    NOT NULL,
    finished_at INTEGER
);
CREATE TABLE bulk_items (
    id         INTEGER PRIMARY KEY,
    run_id     TEXT    NOT NULL REFERENCES bulk_runs(id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    entry      TEXT    NOT NULL,
    user_id    INTEGER REFERENCES users(id) ON DELETE SET NULL,
    status     TEXT    NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'skipped', 'failed')),
    reason     TEXT,
    recipient  TEXT,
    expires_at INTEGER,
    updated_at INTEGER NOT NULL
);
CREATE INDEX bulk_items_by_run ON bulk_items(run_id, status, position);
";

/// Mail intents (a mail carrying a secret is recorded before it leaves, and resolved with the
/// change it belongs to), and bulk items that know which process claimed them and can end
/// `interrupted`. SQLite cannot change a CHECK constraint, so `bulk_items` is rebuilt.
const V3: &str = r"
CREATE TABLE mail_intents (
    id            INTEGER PRIMARY KEY,
    created_at    INTEGER NOT NULL,
    action        TEXT    NOT NULL,
    user_id       INTEGER REFERENCES users(id) ON DELETE SET NULL,
    username      TEXT    NOT NULL,
    token_id      INTEGER,
    recipient     TEXT    NOT NULL,
    run_id        TEXT,
    item_id       INTEGER,
    os_user       TEXT    NOT NULL,
    owner_host    TEXT    NOT NULL,
    owner_pid     INTEGER NOT NULL,
    owner_started INTEGER,
    resolved_at   INTEGER,
    outcome       TEXT
);
CREATE INDEX mail_intents_open ON mail_intents(resolved_at) WHERE resolved_at IS NULL;

CREATE TABLE bulk_items_v3 (
    id              INTEGER PRIMARY KEY,
    run_id          TEXT    NOT NULL REFERENCES bulk_runs(id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    entry           TEXT    NOT NULL,
    user_id         INTEGER REFERENCES users(id) ON DELETE SET NULL,
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'skipped', 'failed', 'interrupted')),
    reason          TEXT,
    recipient       TEXT,
    expires_at      INTEGER,
    updated_at      INTEGER NOT NULL,
    claimed_host    TEXT,
    claimed_pid     INTEGER,
    claimed_started INTEGER
);
INSERT INTO bulk_items_v3 (id, run_id, position, entry, user_id, status, reason, recipient, expires_at, updated_at)
    SELECT id, run_id, position, entry, user_id, status, reason, recipient, expires_at, updated_at FROM bulk_items;
DROP TABLE bulk_items;
ALTER TABLE bulk_items_v3 RENAME TO bulk_items;
CREATE INDEX bulk_items_by_run ON bulk_items(run_id, status, position);
";

/// The audit log refuses row replacement and id reuse: an INSERT must carry the next id
/// (`INSERT OR REPLACE` of an existing row does not fire the DELETE trigger, so it is caught
/// here). Rows already stored keep their plain SHA-256 hashes; the first keyed append anchors
/// them (see `crate::audit::append`), since the key is not known to a migration.
const V4: &str = r"
CREATE TRIGGER audit_log_append_only BEFORE INSERT ON audit_log
WHEN NEW.id IS NOT (SELECT coalesce(max(id), 0) + 1 FROM audit_log)
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: a new row must take the next id'); END;
";

/// What the reset page records on a link: the keyed digest of its one-time code and the wrong
/// tries against it, and how often the link was opened (first and last time, how many opens,
/// how many of them looked like a mail scanner rather than a person's browser).
const V5: &str = r"
ALTER TABLE reset_tokens ADD COLUMN code_hmac      TEXT;
ALTER TABLE reset_tokens ADD COLUMN code_tries     INTEGER NOT NULL DEFAULT 0;
ALTER TABLE reset_tokens ADD COLUMN opened_at      INTEGER;
ALTER TABLE reset_tokens ADD COLUMN last_opened_at INTEGER;
ALTER TABLE reset_tokens ADD COLUMN opens          INTEGER NOT NULL DEFAULT 0;
ALTER TABLE reset_tokens ADD COLUMN scanner_opens  INTEGER NOT NULL DEFAULT 0;
";

/// The store protects itself (TOK-7): whoever changes a user's password hash or email
/// (pwreset, the application, an admin with plain SQL), that user's outstanding links die with
/// reason `password changed` or `email changed`. Every unused, unrevoked link is revoked, and so
/// is one still `pending delivery` (the settle step only makes a row live while its reason is
/// still that one, so the in-flight mail's link stays dead). Expiry is not looked at: the
/// writer's clock may not be the database's. `revoked_at` is the row's new `updated_at` when
/// the statement set one (the writer's clock), else the database's clock. `strftime` rather
/// than `unixepoch()`, so that an application linking an older SQLite can still write.
const V6: &str = r"
CREATE TRIGGER users_revoke_links AFTER UPDATE OF password_hash, email ON users
WHEN OLD.password_hash IS NOT NEW.password_hash OR OLD.email IS NOT NEW.email COLLATE BINARY
BEGIN
    UPDATE reset_tokens
       SET revoked_at = CASE WHEN NEW.updated_at IS NOT OLD.updated_at THEN NEW.updated_at
                             ELSE CAST(strftime('%s', 'now') AS INTEGER) END,
           revoked_reason = CASE WHEN OLD.password_hash IS NOT NEW.password_hash
                                 THEN 'password changed' ELSE 'email changed' END
     WHERE user_id = NEW.id AND used_at IS NULL
       AND (revoked_at IS NULL OR revoked_reason = 'pending delivery');
END;
";

/// Where each reset stands: when a link's mail was accepted and the server's reply (or the
/// reply that refused it); one row per temporary password, with its handover and mail reply;
/// which link or temporary password each bulk item produced; and which run a run reissues.
/// One self-contained entry (PostgreSQL: `postgres_v7.sql`), so it can be renumbered at a merge.
const V7: &str = r"
ALTER TABLE reset_tokens ADD COLUMN sent_at    INTEGER;
ALTER TABLE reset_tokens ADD COLUMN mail_reply TEXT;
CREATE TABLE temp_passwords (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    handover   TEXT    NOT NULL CHECK (handover IN ('email', 'shown')),
    recipient  TEXT,
    run_id     TEXT,
    sent_at    INTEGER,
    mail_reply TEXT,
    failure    TEXT
);
CREATE INDEX temp_passwords_by_user ON temp_passwords(user_id, id);
ALTER TABLE bulk_runs  ADD COLUMN reissue_of       TEXT;
ALTER TABLE bulk_items ADD COLUMN token_id         INTEGER;
ALTER TABLE bulk_items ADD COLUMN temp_password_id INTEGER;
";

/// The user's language (a BCP 47 tag in canonical form, e.g. `pt-BR`), for the mails and the
/// reset page; NULL means `mail.default_locale`.
const V8: &str = r"
ALTER TABLE users ADD COLUMN locale TEXT;
";

/// A run's items in order whatever their status, for paging through a whole run (its report,
/// the listing after a run) without sorting every item for each page.
const V9: &str = r"
CREATE INDEX bulk_items_in_order ON bulk_items(run_id, position);
";

/// The schema version recorded in the store.
pub fn version(conn: &Connection) -> Result<i64, rusqlite::Error> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// [`super::apply`] on SQLite, where the version is `PRAGMA user_version`.
pub(super) fn apply(conn: &mut Connection, path: &Path) -> Result<usize, StoreError> {
    let db = |err: rusqlite::Error| StoreError::Db(err.into());
    if version(conn).map_err(db)? == LATEST {
        return Ok(0);
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Exclusive)
        .map_err(db)?;
    let found = version(&tx).map_err(db)?;
    if found > LATEST {
        return Err(StoreError::NewerSchema {
            path: path.to_path_buf(),
            found,
            supported: LATEST,
        });
    }
    let pending: Vec<&str> = MIGRATIONS
        .iter()
        .skip(usize::try_from(found).unwrap_or(0))
        .copied()
        .collect();
    for sql in &pending {
        tx.execute_batch(sql).map_err(db)?;
    }
    tx.pragma_update(None, "user_version", LATEST).map_err(db)?;
    tx.commit().map_err(db)?;
    Ok(pending.len())
}

// SQLite only: these test SQLite's migration list (`PRAGMA user_version`, stores of older
// SQLite versions, its triggers and `COLLATE NOCASE`). PostgreSQL's schema has its own list,
// tested on a real server in `store/schema/postgres.rs` and `tests/cli/pg_schema.rs`.
#[cfg(test)]
mod tests {
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
}
