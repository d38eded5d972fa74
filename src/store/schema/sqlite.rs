//! The schema in SQLite's dialect, as an append-only list of migrations tracked with
//! `PRAGMA user_version`.
//!
//! Never edit or reorder an entry that has shipped: add a new one at the end, and the same
//! version to `postgres.rs` (see `super`). docs/schema-contract.md documents the resulting
//! tables as the contract with the application.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use super::LATEST;
use crate::store::StoreError;

/// Migration `n` (1-based) brings the store from version `n - 1` to `n`.
pub(super) const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7, V8, V9, V10];

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

/// V6's trigger, as a macro so that V10, which rebuilds `users` (dropping its triggers), can
/// recreate it from the same text.
macro_rules! users_revoke_links {
    () => {
        r"
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
"
    };
}

/// The store protects itself (TOK-7): whoever changes a user's password hash or email
/// (pwreset, the application, an admin with plain SQL), that user's outstanding links die with
/// reason `password changed` or `email changed`. Every unused, unrevoked link is revoked, and so
/// is one still `pending delivery` (the settle step only makes a row live while its reason is
/// still that one, so the in-flight mail's link stays dead). Expiry is not looked at: the
/// writer's clock may not be the database's. `revoked_at` is the row's new `updated_at` when
/// the statement set one (the writer's clock), else the database's clock. `strftime` rather
/// than `unixepoch()`, so that an application linking an older SQLite can still write.
const V6: &str = users_revoke_links!();

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

/// Rules an application cannot break (TOK-4, TOK-7). `users` is rebuilt with `AUTOINCREMENT`,
/// ids and rows kept, so a deleted user's id is never given again; each link records its user's
/// `created_at` (`user_created_at`), which verifying checks; and triggers do what a connection
/// with foreign keys off would skip: a deleted user's links and temporary passwords go with
/// them, a new row under an old id (`REPLACE INTO users`) revokes the links left under it, and a
/// deactivation revokes the user's outstanding links, so reactivating revives none. Rows a
/// connection with foreign keys off left behind are removed first, as the cascade would have.
/// Runs with foreign keys off (see [`apply`]); the V6 trigger is recreated with the table.
const V10: &str = concat!(
    r"
DELETE FROM reset_tokens   WHERE user_id NOT IN (SELECT id FROM users);
DELETE FROM temp_passwords WHERE user_id NOT IN (SELECT id FROM users);
UPDATE bulk_items   SET user_id = NULL WHERE user_id NOT IN (SELECT id FROM users);
UPDATE mail_intents SET user_id = NULL WHERE user_id NOT IN (SELECT id FROM users);

CREATE TABLE users_v10 (
    id                       INTEGER PRIMARY KEY AUTOINCREMENT,
    username                 TEXT    NOT NULL COLLATE NOCASE UNIQUE,
    email                    TEXT             COLLATE NOCASE UNIQUE,
    display_name             TEXT,
    active                   INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    password_hash            TEXT,
    must_change_password     INTEGER NOT NULL DEFAULT 0 CHECK (must_change_password IN (0, 1)),
    temp_password_expires_at INTEGER,
    password_changed_at      INTEGER,
    created_at               INTEGER NOT NULL,
    updated_at               INTEGER NOT NULL,
    locale                   TEXT
);
INSERT INTO users_v10 SELECT id, username, email, display_name, active, password_hash,
    must_change_password, temp_password_expires_at, password_changed_at, created_at,
    updated_at, locale FROM users;
DROP TABLE users;
ALTER TABLE users_v10 RENAME TO users;

ALTER TABLE reset_tokens ADD COLUMN user_created_at INTEGER;
UPDATE reset_tokens
   SET user_created_at = (SELECT created_at FROM users WHERE users.id = reset_tokens.user_id);
",
    users_revoke_links!(),
    r"
CREATE TRIGGER users_deactivation_revokes_links AFTER UPDATE OF active ON users
WHEN OLD.active = 1 AND NEW.active = 0
BEGIN
    UPDATE reset_tokens
       SET revoked_at = CASE WHEN NEW.updated_at IS NOT OLD.updated_at THEN NEW.updated_at
                             ELSE CAST(strftime('%s', 'now') AS INTEGER) END,
           revoked_reason = 'user deactivated'
     WHERE user_id = NEW.id AND used_at IS NULL
       AND (revoked_at IS NULL OR revoked_reason = 'pending delivery');
END;
CREATE TRIGGER users_deletion_removes_links AFTER DELETE ON users
BEGIN
    DELETE FROM reset_tokens   WHERE user_id = OLD.id;
    DELETE FROM temp_passwords WHERE user_id = OLD.id;
END;
CREATE TRIGGER users_new_row_revokes_old_links AFTER INSERT ON users
BEGIN
    UPDATE reset_tokens
       SET revoked_at = CAST(strftime('%s', 'now') AS INTEGER), revoked_reason = 'user replaced'
     WHERE user_id = NEW.id AND used_at IS NULL
       AND (revoked_at IS NULL OR revoked_reason = 'pending delivery');
END;
"
);

/// The schema version recorded in the store.
pub fn version(conn: &Connection) -> Result<i64, rusqlite::Error> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// [`super::apply`] on SQLite, where the version is `PRAGMA user_version`. Migrations run with
/// foreign keys off (SQLite's way to rebuild a table, as V3 and V10 do, without its `DROP`
/// cascading), and the foreign keys are checked before the commit; the connection's setting is
/// restored afterwards.
pub(super) fn apply(conn: &mut Connection, path: &Path) -> Result<usize, StoreError> {
    let db = |err: rusqlite::Error| StoreError::Db(err.into());
    if version(conn).map_err(db)? == LATEST {
        return Ok(0);
    }
    let enforced: bool = conn
        .pragma_query_value(None, "foreign_keys", |row| row.get(0))
        .map_err(db)?;
    conn.pragma_update(None, "foreign_keys", false)
        .map_err(db)?;
    let applied = apply_pending(conn, path);
    conn.pragma_update(None, "foreign_keys", enforced)
        .map_err(db)?;
    applied
}

/// [`apply`]'s work, in one exclusive transaction.
fn apply_pending(conn: &mut Connection, path: &Path) -> Result<usize, StoreError> {
    let db = |err: rusqlite::Error| StoreError::Db(err.into());
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
    let dangling: Option<String> = tx
        .query_row("PRAGMA foreign_key_check", [], |row| row.get(0))
        .optional()
        .map_err(db)?;
    if let Some(table) = dangling {
        let why = format!("migrating left a row of {table} without its parent");
        let code = rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY);
        return Err(db(rusqlite::Error::SqliteFailure(code, Some(why))));
    }
    tx.pragma_update(None, "user_version", LATEST).map_err(db)?;
    tx.commit().map_err(db)?;
    Ok(pending.len())
}

// SQLite only: these test SQLite's migration list (`PRAGMA user_version`, stores of older
// SQLite versions, its triggers and `COLLATE NOCASE`). PostgreSQL's schema has its own list,
// tested on a real server in `store/schema/postgres.rs` and `tests/cli/pg_schema.rs`.
#[cfg(test)]
mod tests;
