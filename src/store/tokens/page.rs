//! SQL for what the reset page records on a token row: opens, and the one-time code's keyed
//! digest and wrong tries. Stores and compares digests only, never tokens or codes.

use crate::store::sql::{Conn, DbError};
use crate::vals;

/// The condition of a live token (unused, unrevoked, unexpired at `?2`).
const LIVE: &str = "used_at IS NULL AND revoked_at IS NULL AND expires_at > ?2";

/// Count one open of the token with this digest (whatever its state); returns whether a row
/// was found.
pub fn record_open(
    conn: &Conn,
    digest: &str,
    scanner_like: bool,
    now: i64,
) -> Result<bool, DbError> {
    let changed = conn.execute(
        "UPDATE reset_tokens SET opens = opens + 1, scanner_opens = scanner_opens + ?3, \
         opened_at = coalesce(opened_at, ?2), last_opened_at = ?2 WHERE token_sha256 = ?1",
        &vals![digest, now, scanner_like],
    )?;
    Ok(changed == 1)
}

/// The digest of the row with this id, if any.
pub fn digest_of(conn: &Conn, id: i64) -> Result<Option<String>, DbError> {
    conn.query_opt(
        "SELECT token_sha256 FROM reset_tokens WHERE id = ?1",
        &vals![id],
        |row| row.get(0),
    )
}

/// The id of the user's live token whose code has this keyed digest and fewer than
/// `max_tries` wrong tries, if any. Run it in the write transaction that acts on the answer.
pub fn live_with_code(
    conn: &Conn,
    user_id: i64,
    code_hmac: &str,
    max_tries: u32,
    now: i64,
) -> Result<Option<i64>, DbError> {
    conn.query_opt(
        &format!(
            "SELECT id FROM reset_tokens WHERE user_id = ?1 AND code_hmac = ?3 AND code_tries < ?4 \
             AND {LIVE} ORDER BY id DESC LIMIT 1"
        ),
        &vals![user_id, now, code_hmac, max_tries],
        |row| row.get(0),
    )
}

/// Count a wrong code against each of the user's live tokens that has a code; returns how
/// many tokens that was.
pub fn count_wrong_code(conn: &Conn, user_id: i64, now: i64) -> Result<usize, DbError> {
    conn.execute(
        &format!(
            "UPDATE reset_tokens SET code_tries = code_tries + 1 \
             WHERE user_id = ?1 AND code_hmac IS NOT NULL AND {LIVE}"
        ),
        &vals![user_id, now],
    )
}

/// Revoke the user's live tokens that reached `max_tries` wrong codes; returns how many.
pub fn revoke_exhausted(
    conn: &Conn,
    user_id: i64,
    max_tries: u32,
    now: i64,
    reason: &str,
) -> Result<usize, DbError> {
    conn.execute(
        &format!(
            "UPDATE reset_tokens SET revoked_at = ?2, revoked_reason = ?4 \
             WHERE user_id = ?1 AND code_tries >= ?3 AND {LIVE}"
        ),
        &vals![user_id, now, max_tries, reason],
    )
}
