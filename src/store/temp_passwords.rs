//! SQL for `temp_passwords`: one row per temporary password pwreset set or tried to set (never
//! the password or its hash: those live in `users`), written in the transaction that commits or
//! undoes it, so each one can be followed to where it stands (`crate::tokens::state`).
//!
//! A row read back carries what its state needs from elsewhere: the user's
//! `password_changed_at`, and when a later temporary password of the same user superseded it.

use super::sql::{Conn, DbError, Row};
use crate::vals;

/// How a temporary password reached the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handover {
    /// Mailed to the user (or the `--to`/admin address), and perhaps also shown (`--show
    /// --email`).
    Email,
    /// Only shown once to the operator.
    Shown,
}

impl Handover {
    /// The stored name: `email` or `shown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Handover::Email => "email",
            Handover::Shown => "shown",
        }
    }
}

/// A new row.
#[derive(Debug, Clone)]
pub struct NewTempPassword<'a> {
    /// The user.
    pub user_id: i64,
    /// When it was set (or tried).
    pub created_at: i64,
    /// When it stops working.
    pub expires_at: i64,
    /// How it reached the user.
    pub handover: Handover,
    /// Where its mail went.
    pub recipient: Option<&'a str>,
    /// The bulk run, if any.
    pub run_id: Option<&'a str>,
    /// When the mail server accepted its mail.
    pub sent_at: Option<i64>,
    /// The mail server's reply (acceptance or refusal).
    pub mail_reply: Option<&'a str>,
    /// Why it was never set, if it was not.
    pub failure: Option<&'a str>,
}

/// Insert a row; returns its id.
pub fn insert(conn: &Conn, new: &NewTempPassword<'_>) -> Result<i64, DbError> {
    conn.insert_returning_id(
        "INSERT INTO temp_passwords (user_id, created_at, expires_at, handover, recipient, \
         run_id, sent_at, mail_reply, failure) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
         RETURNING id",
        &vals![
            new.user_id,
            new.created_at,
            new.expires_at,
            new.handover.as_str(),
            new.recipient,
            new.run_id,
            new.sent_at,
            new.mail_reply,
            new.failure
        ],
    )
}

/// A stored temporary password, with what its state needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TempPasswordRow {
    /// Primary key.
    pub id: i64,
    /// The user.
    pub user_id: i64,
    /// When it was set (or tried).
    pub created_at: i64,
    /// When it stops working.
    pub expires_at: i64,
    /// `email` or `shown`.
    pub handover: String,
    /// Where its mail went.
    pub recipient: Option<String>,
    /// The bulk run, if any.
    pub run_id: Option<String>,
    /// When the mail server accepted its mail.
    pub sent_at: Option<i64>,
    /// The mail server's reply.
    pub mail_reply: Option<String>,
    /// Why it was never set.
    pub failure: Option<String>,
    /// The user's last password change (`users.password_changed_at`).
    pub password_changed_at: Option<i64>,
    /// When a later temporary password of the same user was set, if one was.
    pub superseded_at: Option<i64>,
}

/// A row's columns, on `temp_passwords p` joined to `users u` (see [`joined_at`]).
pub const COLUMNS: &str = "p.id, p.user_id, p.created_at, p.expires_at, p.handover, \
     p.recipient, p.run_id, p.sent_at, p.mail_reply, p.failure, u.password_changed_at, \
     (SELECT min(l.created_at) FROM temp_passwords l WHERE l.user_id = p.user_id \
      AND l.id > p.id AND l.failure IS NULL)";

/// The temporary password whose [`COLUMNS`] start at column `at` of a joined row, if the join
/// found one.
pub fn joined_at(row: &Row<'_>, at: usize) -> Result<Option<TempPasswordRow>, DbError> {
    if row.get::<Option<i64>>(at)?.is_none() {
        return Ok(None);
    }
    Ok(Some(TempPasswordRow {
        id: row.get(at)?,
        user_id: row.get(at + 1)?,
        created_at: row.get(at + 2)?,
        expires_at: row.get(at + 3)?,
        handover: row.get(at + 4)?,
        recipient: row.get(at + 5)?,
        run_id: row.get(at + 6)?,
        sent_at: row.get(at + 7)?,
        mail_reply: row.get(at + 8)?,
        failure: row.get(at + 9)?,
        password_changed_at: row.get(at + 10)?,
        superseded_at: row.get(at + 11)?,
    }))
}

/// The user's latest temporary password, if pwreset ever set (or tried to set) one.
pub fn latest(conn: &Conn, user_id: i64) -> Result<Option<TempPasswordRow>, DbError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM temp_passwords p JOIN users u ON u.id = p.user_id \
         WHERE p.user_id = ?1 ORDER BY p.id DESC LIMIT 1"
    );
    conn.query_opt(&sql, &vals![user_id], |row| joined_at(row, 0))
        .map(Option::flatten)
}
