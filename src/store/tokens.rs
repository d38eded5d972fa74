//! SQL for the `reset_tokens` table. Stores and compares SHA-256 digests only, never tokens.
//!
//! A token row is live while `used_at` and `revoked_at` are null and `expires_at` is in the
//! future. A row is written revoked with reason [`PENDING`] and made live only after the mail
//! carrying it was accepted, so no live token ever exists for a mail that was never sent.

use rusqlite::{Connection, OptionalExtension, Row, params};

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

const COLUMNS: &str = "t.id, t.user_id, u.username, t.purpose, t.created_at, t.expires_at, t.used_at, \
     t.revoked_at, t.revoked_reason, t.recipient, t.opened_at, t.last_opened_at, t.opens, \
     t.scanner_opens";

fn from_row(row: &Row<'_>) -> rusqlite::Result<TokenRow> {
    Ok(TokenRow {
        id: row.get(0)?,
        user_id: row.get(1)?,
        username: row.get(2)?,
        purpose: row.get(3)?,
        created_at: row.get(4)?,
        expires_at: row.get(5)?,
        used_at: row.get(6)?,
        revoked_at: row.get(7)?,
        revoked_reason: row.get(8)?,
        recipient: row.get(9)?,
        opens: Opens {
            first_at: row.get(10)?,
            last_at: row.get(11)?,
            count: row.get(12)?,
            scanner: row.get(13)?,
        },
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

/// Insert a token in the pending state; returns its id.
pub fn insert_pending(conn: &Connection, token: &NewToken<'_>) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "INSERT INTO reset_tokens (user_id, token_sha256, purpose, created_at, expires_at, \
         revoked_at, revoked_reason, recipient, actor, code_hmac) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?4, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        token.user_id,
        token.digest,
        token.purpose,
        token.created_at,
        token.expires_at,
        PENDING,
        token.recipient,
        token.actor,
        token.code_hmac
    ])?;
    Ok(conn.last_insert_rowid())
}

/// Make a pending token live; returns whether it was still pending.
pub fn activate(conn: &Connection, id: i64) -> rusqlite::Result<bool> {
    let changed = conn.prepare_cached(
        "UPDATE reset_tokens SET revoked_at = NULL, revoked_reason = NULL WHERE id = ?1 AND revoked_reason = ?2",
    )?
    .execute(params![id, PENDING])?;
    Ok(changed == 1)
}

/// Mark a pending token as undelivered.
pub fn mark_undelivered(conn: &Connection, id: i64, now: i64) -> rusqlite::Result<()> {
    conn.prepare_cached("UPDATE reset_tokens SET revoked_at = ?2, revoked_reason = ?3 WHERE id = ?1 AND revoked_reason = ?4")?
        .execute(params![id, now, UNDELIVERED, PENDING])?;
    Ok(())
}

/// Revoke every outstanding (unused, unexpired, live or still pending delivery) token of a user,
/// except `keep`; returns how many. A pending one revoked here never becomes live.
pub fn revoke_outstanding_except(
    conn: &Connection,
    user_id: i64,
    keep: Option<i64>,
    now: i64,
    reason: &str,
) -> rusqlite::Result<usize> {
    conn.prepare_cached(
        "UPDATE reset_tokens SET revoked_at = ?2, revoked_reason = ?3 \
         WHERE user_id = ?1 AND used_at IS NULL AND expires_at > ?2 \
         AND (revoked_at IS NULL OR revoked_reason = ?5) AND (?4 IS NULL OR id <> ?4)",
    )?
    .execute(params![user_id, now, reason, keep, PENDING])
}

/// Revoke every outstanding token of a user; returns how many.
pub fn revoke_outstanding(
    conn: &Connection,
    user_id: i64,
    now: i64,
    reason: &str,
) -> rusqlite::Result<usize> {
    revoke_outstanding_except(conn, user_id, None, now, reason)
}

/// Revoke every outstanding token of every user; returns how many.
pub fn revoke_all(conn: &Connection, now: i64, reason: &str) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE reset_tokens SET revoked_at = ?1, revoked_reason = ?2 \
         WHERE used_at IS NULL AND expires_at > ?1 AND (revoked_at IS NULL OR revoked_reason = ?3)",
        params![now, reason, PENDING],
    )
}

/// How many live (unused, unrevoked, unexpired) tokens a user has.
pub fn count_live(conn: &Connection, user_id: i64, now: i64) -> rusqlite::Result<u64> {
    conn.query_row(
        "SELECT count(*) FROM reset_tokens \
         WHERE user_id = ?1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?2",
        params![user_id, now],
        |row| row.get::<_, i64>(0),
    )
    .map(|n| u64::try_from(n).unwrap_or(0))
}

/// When the last link whose mail was accepted, or is being sent, was issued to a user.
pub fn last_sent_at(conn: &Connection, user_id: i64, since: i64) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        "SELECT max(created_at) FROM reset_tokens WHERE user_id = ?1 \
         AND (revoked_reason IS NULL OR revoked_reason <> ?2) AND created_at >= ?3",
        params![user_id, UNDELIVERED, since],
        |row| row.get(0),
    )
}

/// The row with this digest, if any.
pub fn by_digest(conn: &Connection, digest: &str) -> rusqlite::Result<Option<TokenRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM reset_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_sha256 = ?1"
    );
    conn.prepare_cached(&sql)?
        .query_row([digest], from_row)
        .optional()
}

/// The row with this id, if any.
pub fn by_id(conn: &Connection, id: i64) -> rusqlite::Result<Option<TokenRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM reset_tokens t JOIN users u ON u.id = t.user_id WHERE t.id = ?1"
    );
    conn.prepare_cached(&sql)?
        .query_row([id], from_row)
        .optional()
}

/// Consume a live token: exactly one row changes, or none if it was used, revoked or expired
/// in the meantime (TOK-6).
pub fn consume(conn: &Connection, id: i64, now: i64) -> rusqlite::Result<bool> {
    let changed = conn
        .prepare_cached(
            "UPDATE reset_tokens SET used_at = ?2 WHERE id = ?1 \
         AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?2",
        )?
        .execute(params![id, now])?;
    Ok(changed == 1)
}

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
pub fn for_each<E: From<rusqlite::Error>>(
    conn: &Connection,
    filter: Filter,
    now: i64,
    mut f: impl FnMut(TokenRow) -> Result<(), E>,
) -> Result<(), E> {
    let sql = format!(
        "SELECT {COLUMNS} FROM reset_tokens t JOIN users u ON u.id = t.user_id \
         WHERE (?1 IS NULL OR t.user_id = ?1) \
         AND (?2 OR (t.used_at IS NULL AND t.revoked_at IS NULL AND t.expires_at > ?3)) ORDER BY t.id DESC"
    );
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query(params![filter.user_id, filter.all, now])?;
    while let Some(row) = rows.next()? {
        f(from_row(row)?)?;
    }
    Ok(())
}

/// What `purge` removes: used, revoked and expired tokens. Pending ones younger than a day
/// are kept, because a send may be in progress.
const PURGEABLE: &str = "(used_at IS NOT NULL OR expires_at <= ?1 \
     OR (revoked_at IS NOT NULL AND (revoked_reason IS NOT ?2 OR created_at <= ?1 - 86400)))";

/// How many tokens `purge` would delete.
pub fn count_purgeable(conn: &Connection, now: i64) -> rusqlite::Result<u64> {
    conn.query_row(
        &format!("SELECT count(*) FROM reset_tokens WHERE {PURGEABLE}"),
        params![now, PENDING],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| u64::try_from(n).unwrap_or(0))
}

/// Delete used, revoked and expired tokens; never live ones. Returns how many.
pub fn purge(conn: &Connection, now: i64) -> rusqlite::Result<usize> {
    conn.execute(
        &format!("DELETE FROM reset_tokens WHERE {PURGEABLE}"),
        params![now, PENDING],
    )
}
