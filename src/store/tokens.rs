//! SQL for the `reset_tokens` table. Stores and compares SHA-256 digests only, never tokens.
//!
//! A token row is live while `used_at` and `revoked_at` are null and `expires_at` is in the
//! future. A row is written revoked with reason [`PENDING`] and made live only after the mail
//! carrying it was accepted, so no live token ever exists for a mail that was never sent.

use super::sql::{Conn, DbError, Row};
use crate::vals;

/// `revoked_reason` of a token whose mail has not been accepted yet.
pub const PENDING: &str = "pending delivery";
/// `revoked_reason` of a token whose mail was refused.
pub const UNDELIVERED: &str = "mail not delivered";

/// A token row (never the digest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    /// Primary key.
    pub id: i64,
    /// The user it resets.
    pub user_id: i64,
    /// That user's username.
    pub username: String,
    /// What it is for (`password-reset`).
    pub purpose: String,
    /// Issue time.
    pub created_at: i64,
    /// Expiry time.
    pub expires_at: i64,
    /// When it was redeemed.
    pub used_at: Option<i64>,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
    /// Why it was revoked.
    pub revoked_reason: Option<String>,
    /// Where the mail went.
    pub recipient: Option<String>,
    /// How often the reset page was opened with it, and when.
    pub opens: Opens,
    /// When the mail server accepted its mail (`None` before schema 6, or not accepted).
    pub sent_at: Option<i64>,
    /// The mail server's reply: the acceptance (`250 2.0.0 Ok: queued as ...`), or the
    /// refusal of an undelivered link.
    pub mail_reply: Option<String>,
    /// The `created_at` of the user it was issued for (schema 10): a row that later names a
    /// user with another `created_at` (an id reused, a row replaced) is not theirs (TOK-4).
    pub user_created_at: Option<i64>,
}

/// How often a link was opened on the reset page (never acted on, only shown).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Opens {
    /// First open.
    pub first_at: Option<i64>,
    /// Latest open.
    pub last_at: Option<i64>,
    /// Opens in all (GET and HEAD).
    pub count: i64,
    /// Of those, opens that looked like a mail scanner (HEAD, or no browser navigation).
    pub scanner: i64,
}

impl TokenRow {
    /// `live`, `used`, `expired`, `revoked` or `pending`.
    pub fn state(&self, now: i64) -> &'static str {
        if self.used_at.is_some() {
            "used"
        } else if self.revoked_reason.as_deref() == Some(PENDING) {
            "pending"
        } else if self.revoked_at.is_some() {
            "revoked"
        } else if self.expires_at <= now {
            "expired"
        } else {
            "live"
        }
    }
}

/// A token row's columns, on `reset_tokens t` joined to `users u` (see [`joined_at`]).
pub const COLUMNS: &str = "t.id, t.user_id, u.username, t.purpose, t.created_at, t.expires_at, t.used_at, \
     t.revoked_at, t.revoked_reason, t.recipient, t.opened_at, t.last_opened_at, t.opens, \
     t.scanner_opens, t.sent_at, t.mail_reply, t.user_created_at";

/// How many columns [`COLUMNS`] names.
pub const COLUMN_COUNT: usize = 17;

fn from_row(row: &Row<'_>) -> Result<TokenRow, DbError> {
    from_row_at(row, 0)
}

/// The token whose [`COLUMNS`] start at column `at` of a joined row, if the join found
/// one.
pub fn joined_at(row: &Row<'_>, at: usize) -> Result<Option<TokenRow>, DbError> {
    match row.get::<Option<i64>>(at)? {
        Some(_) => from_row_at(row, at).map(Some),
        None => Ok(None),
    }
}

fn from_row_at(row: &Row<'_>, at: usize) -> Result<TokenRow, DbError> {
    Ok(TokenRow {
        id: row.get(at)?,
        user_id: row.get(at + 1)?,
        username: row.get(at + 2)?,
        purpose: row.get(at + 3)?,
        created_at: row.get(at + 4)?,
        expires_at: row.get(at + 5)?,
        used_at: row.get(at + 6)?,
        revoked_at: row.get(at + 7)?,
        revoked_reason: row.get(at + 8)?,
        recipient: row.get(at + 9)?,
        opens: Opens {
            first_at: row.get(at + 10)?,
            last_at: row.get(at + 11)?,
            count: row.get(at + 12)?,
            scanner: row.get(at + 13)?,
        },
        sent_at: row.get(at + 14)?,
        mail_reply: row.get(at + 15)?,
        user_created_at: row.get(at + 16)?,
    })
}

/// A new token row, written pending.
#[derive(Debug, Clone)]
pub struct NewToken<'a> {
    /// The user it resets.
    pub user_id: i64,
    /// Hex SHA-256 of the token.
    pub digest: &'a str,
    /// Purpose.
    pub purpose: &'a str,
    /// Issue time.
    pub created_at: i64,
    /// Expiry time.
    pub expires_at: i64,
    /// Where the mail goes.
    pub recipient: &'a str,
    /// Who issued it.
    pub actor: &'a str,
    /// The keyed digest of its one-time code, if it has one.
    pub code_hmac: Option<&'a str>,
}

/// Insert a token in the pending state; returns its id: [`insert_pending_many`] of one.
pub fn insert_pending(conn: &Conn, token: &NewToken<'_>) -> Result<i64, DbError> {
    let mut ids = insert_pending_many(conn, std::slice::from_ref(token))?;
    ids.pop().ok_or_else(DbError::no_rows)
}

/// Make a pending token live, recording nothing about its mail (see [`activate_sent`]);
/// returns whether it was still pending.
pub fn activate(conn: &Conn, id: i64) -> Result<bool, DbError> {
    activate_sent(conn, id, None, None)
}

/// Make a pending token live, recording when its mail was accepted and the server's reply;
/// returns whether it was still pending: [`activate_sent_many`] of one.
pub fn activate_sent(
    conn: &Conn,
    id: i64,
    sent_at: Option<i64>,
    reply: Option<&str>,
) -> Result<bool, DbError> {
    Ok(activate_sent_many(conn, &[(id, reply)], sent_at)?.contains(&id))
}

/// Mark a pending token as undelivered, with the server's reply if there was one.
pub fn mark_undelivered(
    conn: &Conn,
    id: i64,
    now: i64,
    reply: Option<&str>,
) -> Result<(), DbError> {
    conn.execute(
        "UPDATE reset_tokens SET revoked_at = ?2, revoked_reason = ?3, mail_reply = ?5 \
         WHERE id = ?1 AND revoked_reason = ?4",
        &vals![id, now, UNDELIVERED, PENDING, reply],
    )?;
    Ok(())
}

/// Revoke every outstanding (unused, unexpired, live or still pending delivery) token of a user,
/// except `keep`; returns how many: [`revoke_outstanding_except_many`] of one. A pending one
/// revoked here never becomes live.
pub fn revoke_outstanding_except(
    conn: &Conn,
    user_id: i64,
    keep: Option<i64>,
    now: i64,
    reason: &str,
) -> Result<usize, DbError> {
    let revoked = revoke_outstanding_except_many(conn, &[user_id], keep.as_slice(), now, reason)?;
    Ok(revoked.values().sum())
}

/// Revoke every outstanding token of a user; returns how many. The user's row is locked first,
/// so a link being prepared for them (which holds that lock, not the writer lock:
/// [`Store::write_for_user`](super::Store::write_for_user)) is committed, and revoked here,
/// rather than missed.
pub fn revoke_outstanding(
    conn: &Conn,
    user_id: i64,
    now: i64,
    reason: &str,
) -> Result<usize, DbError> {
    super::users::lock(conn, user_id)?;
    revoke_outstanding_except(conn, user_id, None, now, reason)
}

/// Revoke every outstanding token of every user; returns how many. Every user's row is locked
/// first (see [`revoke_outstanding`]).
pub fn revoke_all(conn: &Conn, now: i64, reason: &str) -> Result<usize, DbError> {
    super::users::lock_all(conn)?;
    conn.execute(
        "UPDATE reset_tokens SET revoked_at = ?1, revoked_reason = ?2 \
         WHERE used_at IS NULL AND expires_at > ?1 AND (revoked_at IS NULL OR revoked_reason = ?3)",
        &vals![now, reason, PENDING],
    )
}

/// How many live (unused, unrevoked, unexpired) tokens a user has.
pub fn count_live(conn: &Conn, user_id: i64, now: i64) -> Result<u64, DbError> {
    conn.query_one(
        "SELECT count(*) FROM reset_tokens \
         WHERE user_id = ?1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?2",
        &vals![user_id, now],
        |row| row.get::<i64>(0),
    )
    .map(|n| u64::try_from(n).unwrap_or(0))
}

/// The row with this digest, if any.
pub fn by_digest(conn: &Conn, digest: &str) -> Result<Option<TokenRow>, DbError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM reset_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_sha256 = ?1"
    );
    conn.query_opt(&sql, &vals![digest], from_row)
}

/// The row with this id, if any.
pub fn by_id(conn: &Conn, id: i64) -> Result<Option<TokenRow>, DbError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM reset_tokens t JOIN users u ON u.id = t.user_id WHERE t.id = ?1"
    );
    conn.query_opt(&sql, &vals![id], from_row)
}

/// The user's latest link, whatever its state, if they ever had one.
pub fn latest(conn: &Conn, user_id: i64) -> Result<Option<TokenRow>, DbError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM reset_tokens t JOIN users u ON u.id = t.user_id \
         WHERE t.user_id = ?1 ORDER BY t.id DESC LIMIT 1"
    );
    conn.query_opt(&sql, &vals![user_id], from_row)
}

/// Consume a live token: exactly one row changes, or none if it was used, revoked or expired
/// in the meantime (TOK-6).
pub fn consume(conn: &Conn, id: i64, now: i64) -> Result<bool, DbError> {
    let changed = conn.execute(
        "UPDATE reset_tokens SET used_at = ?2 WHERE id = ?1 \
         AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?2",
        &vals![id, now],
    )?;
    Ok(changed == 1)
}

mod many;
pub use many::{
    activate_sent_many, insert_pending_many, last_sent_at_many, revoke_outstanding_except_many,
};
mod page;
pub use page::{count_wrong_code, digest_of, live_with_code, record_open, revoke_exhausted};

/// Which tokens a listing shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct Filter {
    /// Only this user's.
    pub user_id: Option<i64>,
    /// Include used, revoked and expired ones.
    pub all: bool,
}

/// Call `f` for each matching token, newest first.
pub fn for_each<E: From<DbError>>(
    conn: &Conn,
    filter: Filter,
    now: i64,
    mut f: impl FnMut(TokenRow) -> Result<(), E>,
) -> Result<(), E> {
    let sql = format!(
        "SELECT {COLUMNS} FROM reset_tokens t JOIN users u ON u.id = t.user_id \
         WHERE (CAST(?1 AS BIGINT) IS NULL OR t.user_id = ?1) \
         AND (?2 <> 0 OR (t.used_at IS NULL AND t.revoked_at IS NULL AND t.expires_at > ?3)) \
         ORDER BY t.id DESC"
    );
    conn.query_each(&sql, &vals![filter.user_id, filter.all, now], |row| {
        f(from_row(row)?)
    })
}

/// What `purge` removes: used, revoked and expired tokens. Pending ones younger than a day
/// are kept, because a send may be in progress.
const PURGEABLE: &str = "(used_at IS NOT NULL OR expires_at <= ?1 \
     OR (revoked_at IS NOT NULL AND (revoked_reason IS DISTINCT FROM ?2 \
     OR created_at <= ?1 - 86400)))";

/// How many tokens `purge` would delete.
pub fn count_purgeable(conn: &Conn, now: i64) -> Result<u64, DbError> {
    conn.query_one(
        &format!("SELECT count(*) FROM reset_tokens WHERE {PURGEABLE}"),
        &vals![now, PENDING],
        |r| r.get::<i64>(0),
    )
    .map(|n| u64::try_from(n).unwrap_or(0))
}

/// Delete used, revoked and expired tokens; never live ones. Returns how many.
pub fn purge(conn: &Conn, now: i64) -> Result<usize, DbError> {
    conn.execute(
        &format!("DELETE FROM reset_tokens WHERE {PURGEABLE}"),
        &vals![now, PENDING],
    )
}
