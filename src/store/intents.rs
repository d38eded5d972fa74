//! SQL for `mail_intents`: a mail carrying a secret (a reset link, an emailed temporary
//! password) is recorded here, committed, before it is handed to the transport, and resolved in
//! the transaction that commits or undoes the change it belongs to. An intent still open after
//! its process died marks a mail that may have gone out with nothing committed.
//!
//! Which process holds an intent is its [`Owner`]; whether that process still lives is the
//! caller's business (`delivery::owner`).

use std::collections::HashMap;

use super::sql::many::{Col, Many, rows};
use super::sql::{Conn, DbError, Row};
use crate::vals;
use Col::{Int, Text};

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

fn open_from(row: &Row<'_>) -> Result<OpenIntent, DbError> {
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
pub fn insert(conn: &Conn, intent: &NewIntent<'_>) -> Result<i64, DbError> {
    let (run_id, item_id) = intent.bulk.unzip();
    conn.insert_returning_id(
        "INSERT INTO mail_intents (created_at, action, user_id, username, token_id, recipient, \
         run_id, item_id, os_user, owner_host, owner_pid, owner_started) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) RETURNING id",
        &vals![
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
        ],
    )
}

/// Resolve an open intent with its outcome (`ok`, `failed`, `unconfirmed`, `interrupted`); an
/// intent already resolved keeps its first outcome. Sent with the transaction's next
/// statement or its commit ([`Conn::defer`]).
pub fn resolve(conn: &Conn, id: i64, outcome: &str, now: i64) -> Result<(), DbError> {
    conn.defer(
        "UPDATE mail_intents SET resolved_at = ?2, outcome = ?3 \
         WHERE id = ?1 AND resolved_at IS NULL",
        &vals![id, now, outcome],
    )
}

/// [`insert`] for several intents, each for a different token: their ids, in the order given.
pub fn insert_many(conn: &Conn, intents: &[NewIntent<'_>]) -> Result<Vec<i64>, DbError> {
    if intents.is_empty() {
        return Ok(Vec::new());
    }
    let cols = [
        Int, Text, Int, Text, Int, Text, Text, Int, Text, Text, Int, Int,
    ];
    let mut params = Many::new();
    for i in intents {
        let (run_id, item_id) = i.bulk.unzip();
        params
            .int(i.created_at)
            .text(i.action)
            .int(i.user_id)
            .text(i.username);
        params
            .int(i.token_id)
            .text(i.recipient)
            .text(run_id)
            .int(item_id);
        params.text(i.os_user).text(i.owner.host.as_str());
        params.int(i64::from(i.owner.pid)).int(i.owner.started);
    }
    let sql = format!(
        "INSERT INTO mail_intents (created_at, action, user_id, username, token_id, recipient, \
         run_id, item_id, os_user, owner_host, owner_pid, owner_started) VALUES {} \
         RETURNING id, token_id",
        rows(1, intents.len(), &cols)
    );
    let ids: HashMap<Option<i64>, i64> = conn
        .with_cached_plans(|| {
            conn.query_vec(&sql, &params.params(), |r| Ok((r.get(1)?, r.get(0)?)))
        })?
        .into_iter()
        .collect();
    if ids.len() != intents.len() {
        return Err(DbError::no_rows());
    }
    intents
        .iter()
        .map(|i| ids.get(&i.token_id).copied().ok_or_else(DbError::no_rows))
        .collect()
}

/// [`resolve`] for several intents with one outcome (sent with the transaction's next
/// statement or its commit).
pub fn resolve_many(conn: &Conn, ids: &[i64], outcome: &str, now: i64) -> Result<(), DbError> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut params = Many::new();
    params.int(now).text(outcome);
    let sql = format!(
        "UPDATE mail_intents SET resolved_at = ?1, outcome = ?2 \
         WHERE id IN ({}) AND resolved_at IS NULL",
        params.int_list(ids)
    );
    conn.defer(&sql, &params.params())
}

/// Delete intents resolved before `before` (they only matter while their mail is in flight);
/// returns how many. Open intents are never deleted.
pub fn purge_resolved(conn: &Conn, before: i64) -> Result<usize, DbError> {
    conn.execute(
        "DELETE FROM mail_intents WHERE resolved_at IS NOT NULL AND resolved_at < ?1",
        &vals![before],
    )
}

/// Revoke a token still pending delivery as interrupted; returns whether it was pending (it
/// may have been revoked meanwhile, e.g. superseded).
pub fn revoke_pending_token(conn: &Conn, token_id: i64, now: i64) -> Result<bool, DbError> {
    let changed = conn.execute(
        "UPDATE reset_tokens SET revoked_at = ?2, revoked_reason = ?3 \
         WHERE id = ?1 AND revoked_reason = ?4",
        &vals![token_id, now, INTERRUPTED_TOKEN, super::tokens::PENDING],
    )?;
    Ok(changed == 1)
}

/// Every intent not resolved yet, oldest first.
pub fn open(conn: &Conn) -> Result<Vec<OpenIntent>, DbError> {
    conn.query_vec(
        "SELECT id, created_at, action, user_id, username, token_id, recipient, run_id, item_id, \
         owner_host, owner_pid, owner_started FROM mail_intents WHERE resolved_at IS NULL ORDER BY id",
        &vals![],
        open_from,
    )
}

/// Whether a bulk item has an intent (open or resolved): a mail for it may have left.
pub fn exists_for_item(conn: &Conn, item_id: i64) -> Result<bool, DbError> {
    // Counted rather than `EXISTS`, which PostgreSQL returns as a boolean, not 0/1.
    conn.query_one(
        "SELECT count(*) FROM (SELECT 1 FROM mail_intents WHERE item_id = ?1 LIMIT 1) AS found",
        &vals![item_id],
        |r| r.get(0),
    )
}

/// The latest intent about a user that ended `interrupted`: when it was recorded, its action and
/// its recipient.
pub fn last_interrupted(
    conn: &Conn,
    user_id: i64,
) -> Result<Option<(i64, String, String)>, DbError> {
    conn.query_opt(
        "SELECT created_at, action, recipient FROM mail_intents \
         WHERE user_id = ?1 AND outcome = 'interrupted' ORDER BY id DESC LIMIT 1",
        &vals![user_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{Backend, TestStore, on_both_backends};

    on_both_backends!(an_intent_is_open_until_resolved_once);

    fn store(backend: Backend) -> TestStore {
        let store = TestStore::new(backend);
        store
            .conn()
            .execute(
                "INSERT INTO users (id, username, created_at, updated_at) VALUES (1, 'alice', 0, 0)",
                &vals![],
            )
            .expect("alice");
        store
    }

    fn an_intent_is_open_until_resolved_once(backend: Backend) {
        let store = store(backend);
        let conn = store.conn();
        let owner = Owner {
            host: "h".into(),
            pid: 42,
            started: Some(7),
        };
        let id = insert(
            conn,
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
        let found = open(conn).expect("open");
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].id, found[0].token_id), (id, Some(3)));
        assert_eq!(found[0].owner, owner);
        resolve(conn, id, "interrupted", 200).expect("resolve");
        resolve(conn, id, "ok", 300).expect("again, a no-op");
        assert!(open(conn).expect("open").is_empty());
        let last = last_interrupted(conn, 1).expect("last");
        assert_eq!(
            last,
            Some((100, "link.send".into(), "alice@example.com".into()))
        );
    }
}
