//! SQL for `mail_intents`: a mail carrying a secret (a reset link, an emailed temporary
//! password) is recorded here, committed, before it is handed to the transport, and resolved in
//! the transaction that commits or undoes the change it belongs to. An intent still open after
//! its process died marks a mail that may have gone out with nothing committed.
//!
//! Which process holds an intent is its [`Owner`]; whether that process still lives is the
//! caller's business (`delivery::owner`).

use rusqlite::{Connection, Row, params};

/// `revoked_reason` of a link whose mail may have gone out but whose sender died or lost the
/// server's answer: it stays dead (the user asks again).
pub const INTERRUPTED_TOKEN: &str = "interrupted";

/// The process that wrote an intent or claimed a bulk item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The host name.
    pub host: String,
    /// The process id.
    pub pid: u32,
    /// When the process started, in the OS's own units (clock ticks since boot on Linux), to
    /// tell a reused pid from the original; `None` where the OS does not say.
    pub started: Option<i64>,
}

/// A new intent.
#[derive(Debug, Clone)]
pub struct NewIntent<'a> {
    /// `link.send` or `password.generate`.
    pub action: &'a str,
    /// The user.
    pub user_id: i64,
    /// The user's name, kept in case the user is deleted.
    pub username: &'a str,
    /// The token the mail carries (links only).
    pub token_id: Option<i64>,
    /// Where the mail goes.
    pub recipient: &'a str,
    /// The bulk run and item, if any.
    pub bulk: Option<(&'a str, i64)>,
    /// The operator, for the audit row written if the intent is found interrupted.
    pub os_user: &'a str,
    /// The process sending the mail.
    pub owner: &'a Owner,
    /// When it was recorded.
    pub created_at: i64,
}

/// An intent that was never resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenIntent {
    /// Row id.
    pub id: i64,
    /// When it was recorded.
    pub created_at: i64,
    /// `link.send` or `password.generate`.
    pub action: String,
    /// The user, unless deleted since.
    pub user_id: Option<i64>,
    /// The user's name.
    pub username: String,
    /// The token the mail carried (links only).
    pub token_id: Option<i64>,
    /// Where the mail went.
    pub recipient: String,
    /// The bulk run, if any.
    pub run_id: Option<String>,
    /// The bulk item, if any.
    pub item_id: Option<i64>,
    /// The process that was sending it.
    pub owner: Owner,
}

fn open_from(row: &Row<'_>) -> rusqlite::Result<OpenIntent> {
    Ok(OpenIntent {
        id: row.get(0)?,
        created_at: row.get(1)?,
        action: row.get(2)?,
        user_id: row.get(3)?,
        username: row.get(4)?,
        token_id: row.get(5)?,
        recipient: row.get(6)?,
        run_id: row.get(7)?,
        item_id: row.get(8)?,
        owner: Owner {
            host: row.get(9)?,
            pid: row.get(10)?,
            started: row.get(11)?,
        },
    })
}

/// Record an intent; returns its id.
pub fn insert(conn: &Connection, intent: &NewIntent<'_>) -> rusqlite::Result<i64> {
    let (run_id, item_id) = intent.bulk.unzip();
    conn.prepare_cached(
        "INSERT INTO mail_intents (created_at, action, user_id, username, token_id, recipient, \
         run_id, item_id, os_user, owner_host, owner_pid, owner_started) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        intent.created_at,
        intent.action,
        intent.user_id,
        intent.username,
        intent.token_id,
        intent.recipient,
        run_id,
        item_id,
        intent.os_user,
        intent.owner.host,
        intent.owner.pid,
        intent.owner.started,
    ])?;
    Ok(conn.last_insert_rowid())
}

/// Resolve an open intent with its outcome (`ok`, `failed`, `unconfirmed`, `interrupted`);
/// returns whether it was still open.
pub fn resolve(conn: &Connection, id: i64, outcome: &str, now: i64) -> rusqlite::Result<bool> {
    let changed = conn
        .prepare_cached(
            "UPDATE mail_intents SET resolved_at = ?2, outcome = ?3 WHERE id = ?1 AND resolved_at IS NULL",
        )?
        .execute(params![id, now, outcome])?;
    Ok(changed == 1)
}

/// Delete intents resolved before `before` (they only matter while their mail is in flight);
/// returns how many. Open intents are never deleted.
pub fn purge_resolved(conn: &Connection, before: i64) -> rusqlite::Result<usize> {
    conn.prepare_cached(
        "DELETE FROM mail_intents WHERE resolved_at IS NOT NULL AND resolved_at < ?1",
    )?
    .execute(params![before])
}

/// Revoke a token still pending delivery as interrupted; returns whether it was pending (it
/// may have been revoked meanwhile, e.g. superseded).
pub fn revoke_pending_token(conn: &Connection, token_id: i64, now: i64) -> rusqlite::Result<bool> {
    let changed = conn
        .prepare_cached(
            "UPDATE reset_tokens SET revoked_at = ?2, revoked_reason = ?3 WHERE id = ?1 AND revoked_reason = ?4",
        )?
        .execute(params![token_id, now, INTERRUPTED_TOKEN, super::tokens::PENDING])?;
    Ok(changed == 1)
}

/// Every intent not resolved yet, oldest first.
pub fn open(conn: &Connection) -> rusqlite::Result<Vec<OpenIntent>> {
    conn.prepare_cached(
        "SELECT id, created_at, action, user_id, username, token_id, recipient, run_id, item_id, \
         owner_host, owner_pid, owner_started FROM mail_intents WHERE resolved_at IS NULL ORDER BY id",
    )?
    .query_map([], open_from)?
    .collect()
}

/// Whether a bulk item has an intent (open or resolved): a mail for it may have left.
pub fn exists_for_item(conn: &Connection, item_id: i64) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM mail_intents WHERE item_id = ?1)")?
        .query_row([item_id], |r| r.get(0))
}

/// The latest intent about a user that ended `interrupted`: when it was recorded, its action and
/// its recipient.
pub fn last_interrupted(
    conn: &Connection,
    user_id: i64,
) -> rusqlite::Result<Option<(i64, String, String)>> {
    use rusqlite::OptionalExtension;
    conn.prepare_cached(
        "SELECT created_at, action, recipient FROM mail_intents \
         WHERE user_id = ?1 AND outcome = 'interrupted' ORDER BY id DESC LIMIT 1",
    )?
    .query_row([user_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
    .optional()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::migrations;

    fn store() -> Connection {
        let mut conn = Connection::open_in_memory().expect("memory db");
        migrations::apply(&mut conn, std::path::Path::new(":memory:")).expect("migrate");
        conn.execute(
            "INSERT INTO users (id, username, created_at, updated_at) VALUES (1, 'alice', 0, 0)",
            [],
        )
        .expect("alice");
        conn
    }

    #[test]
    fn an_intent_is_open_until_resolved_once() {
        let conn = store();
        let owner = Owner {
            host: "h".into(),
            pid: 42,
            started: Some(7),
        };
        let id = insert(
            &conn,
            &NewIntent {
                action: "link.send",
                user_id: 1,
                username: "alice",
                token_id: Some(3),
                recipient: "alice@example.com",
                bulk: None,
                os_user: "root",
                owner: &owner,
                created_at: 100,
            },
        )
        .expect("insert");
        let found = open(&conn).expect("open");
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].id, found[0].token_id), (id, Some(3)));
        assert_eq!(found[0].owner, owner);
        assert!(resolve(&conn, id, "interrupted", 200).expect("resolve"));
        assert!(
            !resolve(&conn, id, "ok", 300).expect("again"),
            "resolved once"
        );
        assert!(open(&conn).expect("open").is_empty());
        let last = last_interrupted(&conn, 1).expect("last");
        assert_eq!(
            last,
            Some((100, "link.send".into(), "alice@example.com".into()))
        );
    }
}
