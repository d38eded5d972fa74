//! SQL for the `reset_tokens` table. Stores and compares SHA-256 digests only, never tokens.

use rusqlite::{Connection, params};

/// Revoke every outstanding (unused, unrevoked) token of a user; returns how many.
pub fn revoke_outstanding(
    conn: &Connection,
    user_id: i64,
    now: i64,
    reason: &str,
) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE reset_tokens SET revoked_at = ?2, revoked_reason = ?3 \
         WHERE user_id = ?1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?2",
        params![user_id, now, reason],
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
