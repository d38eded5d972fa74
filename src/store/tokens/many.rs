//! The token statements that take many rows at once, one statement for all of them: the
//! users' cooldowns, pending tokens written, tokens made live once their mails were accepted,
//! and the older links those supersede. They serve a bulk run's batch of users and one user
//! alike: the one-row functions of `store::tokens` (`insert_pending`, `activate`,
//! `revoke_outstanding_except`) are these with one row, so each statement is written once.

use std::collections::{HashMap, HashSet};

use super::super::sql::many::{Col, Many, ints, list, rows};
use super::super::sql::{Conn, DbError};
use super::{NewToken, PENDING, UNDELIVERED};
use Col::{Int, Text};

/// When the last link whose mail was accepted, or is being sent, was issued to each of these
/// users, for those who have one; given `run_id`, only among links issued since that bulk run
/// was planned. One statement for all of them.
pub fn last_sent_at_many(
    conn: &Conn,
    user_ids: &[i64],
    run_id: Option<&str>,
) -> Result<HashMap<i64, i64>, DbError> {
    if user_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut params = Many::new();
    params.text(UNDELIVERED).text(run_id).int(i64::MIN);
    let sql = format!(
        "SELECT user_id, max(created_at) FROM reset_tokens WHERE user_id IN ({}) \
         AND (revoked_reason IS NULL OR revoked_reason <> ?1) \
         AND created_at >= coalesce((SELECT created_at FROM bulk_runs WHERE id = ?2), ?3) \
         GROUP BY user_id",
        params.int_list(user_ids)
    );
    let found = conn.query_vec(&sql, &params.params(), |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(found.into_iter().collect())
}

/// Insert tokens in the pending state: their ids, in the order given.
pub fn insert_pending_many(conn: &Conn, tokens: &[NewToken<'_>]) -> Result<Vec<i64>, DbError> {
    if tokens.is_empty() {
        return Ok(Vec::new());
    }
    let cols = [Int, Text, Text, Int, Int, Int, Text, Text, Text, Text];
    let mut params = Many::new();
    for t in tokens {
        params.int(t.user_id).text(t.digest).text(t.purpose);
        params.int(t.created_at).int(t.expires_at).int(t.created_at);
        params
            .text(PENDING)
            .text(t.recipient)
            .text(t.actor)
            .text(t.code_hmac);
    }
    let sql = format!(
        "INSERT INTO reset_tokens (user_id, token_sha256, purpose, created_at, expires_at, \
         revoked_at, revoked_reason, recipient, actor, code_hmac) VALUES {} \
         RETURNING id, token_sha256",
        rows(1, tokens.len(), &cols)
    );
    let ids: HashMap<String, i64> = conn
        .with_cached_plans(|| {
            conn.query_vec(&sql, &params.params(), |r| Ok((r.get(1)?, r.get(0)?)))
        })?
        .into_iter()
        .collect();
    let ids: Vec<i64> = tokens
        .iter()
        .map(|t| ids.get(t.digest).copied().ok_or_else(DbError::no_rows))
        .collect::<Result<_, _>>()?;
    bind_to_users(conn, &ids)?;
    Ok(ids)
}

/// Record on each of these tokens its user's `created_at`, which verifying compares with the
/// user the row names then (TOK-4). Sent with the transaction's next statement.
fn bind_to_users(conn: &Conn, ids: &[i64]) -> Result<(), DbError> {
    let sql = format!(
        "UPDATE reset_tokens SET user_created_at = \
         (SELECT u.created_at FROM users u WHERE u.id = reset_tokens.user_id) WHERE id IN ({})",
        list(1, ids.len())
    );
    conn.defer(&sql, &ints(ids))
}

/// Make pending tokens live, each with its mail's reply, all sent at `sent_at` (`None` for a
/// link that was never mailed): the ids of those that were still pending (and are live now).
pub fn activate_sent_many(
    conn: &Conn,
    tokens: &[(i64, Option<&str>)],
    sent_at: Option<i64>,
) -> Result<HashSet<i64>, DbError> {
    if tokens.is_empty() {
        return Ok(HashSet::new());
    }
    let mut params = Many::new();
    params.int(sent_at).text(PENDING);
    let values = rows(params.next(), tokens.len(), &[Int, Text]);
    for (id, reply) in tokens {
        params.int(*id).text(*reply);
    }
    let sql = format!(
        "UPDATE reset_tokens SET revoked_at = NULL, revoked_reason = NULL, sent_at = ?1, \
         mail_reply = v.column2 FROM (VALUES {values}) AS v \
         WHERE reset_tokens.id = v.column1 AND reset_tokens.revoked_reason = ?2 \
         RETURNING reset_tokens.id"
    );
    let live = conn.query_vec(&sql, &params.params(), |r| r.get(0))?;
    Ok(live.into_iter().collect())
}

/// Revoke every outstanding (unused, unexpired, live or still pending delivery) token of
/// these users, except the tokens in `keep` (e.g. their new ones): how many each user lost, for
/// users who lost any. Used as is to supersede older links when new ones go live: a newer link
/// still being prepared is not an older one, so it is not waited for.
pub fn revoke_outstanding_except_many(
    conn: &Conn,
    user_ids: &[i64],
    keep: &[i64],
    now: i64,
    reason: &str,
) -> Result<HashMap<i64, usize>, DbError> {
    let mut params = Many::new();
    params.int(now).text(reason).text(PENDING);
    let users = params.int_list(user_ids);
    // `NOT IN (NULL)` would match nothing: with nothing to keep, there is no such test.
    let kept = if keep.is_empty() {
        String::new()
    } else {
        format!("AND id NOT IN ({}) ", params.int_list(keep))
    };
    let sql = format!(
        "UPDATE reset_tokens SET revoked_at = ?1, revoked_reason = ?2 \
         WHERE user_id IN ({users}) {kept}AND used_at IS NULL \
         AND expires_at > ?1 AND (revoked_at IS NULL OR revoked_reason = ?3) RETURNING user_id"
    );
    let mut counts = HashMap::new();
    for user in conn.query_vec(&sql, &params.params(), |r| r.get::<i64>(0))? {
        *counts.entry(user).or_insert(0) += 1;
    }
    Ok(counts)
}
