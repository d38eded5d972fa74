//! Claims on a run's items: which process holds a `sending` item. A process takes the next free
//! item ([`claim_next`]) or one it is retrying ([`claim`]), records itself as the holder, and
//! every other process leaves that item alone until it is finished, given back ([`release`]),
//! or taken over from a dead holder ([`take_over`]).
//!
//! Claims append no audit row and keep no invariant across rows, so on PostgreSQL they run in
//! a transaction without pwreset's writer lock (`Store::claim`): each claim locks only the row
//! it takes, and `FOR UPDATE SKIP LOCKED` lets several processes claim side by side instead of
//! queueing behind each other.

use super::super::intents::Owner;
use super::super::sql::many::{ints, list};
use super::super::sql::{Conn, DbError};
use super::super::users;
use super::{ITEM_COLUMNS, Item, USER_AT, item_from};
use crate::user::User;
use crate::vals;

/// Claim an item for sending: `pending` or `failed` becomes `sending` (cleared by
/// `finish_item`), held by `owner`. Returns false when another pwreset claimed or finished it
/// first, so two resumes of one run never mail the same user twice.
pub fn claim_item(conn: &Conn, item_id: i64, owner: &Owner, now: i64) -> Result<bool, DbError> {
    let changed = conn.execute(
        "UPDATE bulk_items SET status = 'sending', updated_at = ?2, claimed_host = ?3, \
         claimed_pid = ?4, claimed_started = ?5 WHERE id = ?1 AND status IN ('pending', 'failed')",
        &vals![item_id, now, owner.host, owner.pid, owner.started],
    )?;
    Ok(changed == 1)
}

/// The process holding a `sending` item and when it claimed it (`None` for an item claimed
/// before schema 3, or not sending).
pub fn holder(conn: &Conn, item_id: i64) -> Result<Option<(Owner, i64)>, DbError> {
    conn.query_opt(
        "SELECT claimed_host, claimed_pid, claimed_started, updated_at FROM bulk_items \
         WHERE id = ?1 AND status = 'sending' AND claimed_pid IS NOT NULL",
        &vals![item_id],
        |r| {
            let owner = Owner {
                host: r.get(0)?,
                pid: r.get(1)?,
                started: r.get(2)?,
            };
            Ok((owner, r.get(3)?))
        },
    )
}

/// Take a `sending` item from a process that died: to `status` (`pending` when no mail for it
/// can have left, `interrupted` otherwise) with `reason`. Returns false when someone else got
/// there first (it is no longer `sending`).
pub fn take_over(
    conn: &Conn,
    item_id: i64,
    status: &str,
    reason: Option<&str>,
    now: i64,
) -> Result<bool, DbError> {
    let changed = conn.execute(
        "UPDATE bulk_items SET status = ?2, reason = ?3, updated_at = ?4, claimed_host = NULL, \
         claimed_pid = NULL, claimed_started = NULL WHERE id = ?1 AND status = 'sending'",
        &vals![item_id, status, reason, now],
    )?;
    Ok(changed == 1)
}

/// What [`claim`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Claimed, with the user as they are at the claim (`None`: deleted since planning).
    Claimed(Option<User>),
    /// Another pwreset claimed or finished it first.
    Taken,
}

/// [`claim_item`], then the item's user read again on the same connection (call it inside the
/// claim's transaction): a user is mailed as they are when their turn comes, not as they were
/// when their item's page was read, which may be minutes earlier.
pub fn claim(conn: &Conn, item_id: i64, owner: &Owner, now: i64) -> Result<Claim, DbError> {
    if !claim_item(conn, item_id, owner, now)? {
        return Ok(Claim::Taken);
    }
    Ok(Claim::Claimed(user_of(conn, item_id)?))
}

/// The user of an item as they are now (`None`: deleted since planning): read again just before
/// mailing an item claimed a while ago (a `generate` run claims users before hashing).
pub fn user_of(conn: &Conn, item_id: i64) -> Result<Option<User>, DbError> {
    let sql = format!(
        "SELECT {} FROM bulk_items i LEFT JOIN users u ON u.id = i.user_id WHERE i.id = ?1",
        users::joined_columns("u")
    );
    conn.query_one(&sql, &vals![item_id], |row| users::joined_at(row, 0))
}

/// Claim the first free (`pending` or `failed`) item of the run after position `after`, held
/// by `owner`, with its user as they are now (`None`: deleted since planning); `None` when no
/// free item is left after `after`. See [`claim_batch`].
pub fn claim_next(
    conn: &Conn,
    run_id: &str,
    after: i64,
    owner: &Owner,
    now: i64,
) -> Result<Option<(Item, Option<User>)>, DbError> {
    let skip_locked = conn.for_update_skip_locked();
    let first = |status: &str| {
        format!(
            "(SELECT id FROM bulk_items WHERE run_id = ?1 AND status = '{status}' \
             AND position > ?2 ORDER BY position LIMIT 1{skip_locked})"
        )
    };
    // Scalar subqueries, not `claim_batch`'s derived tables: on SQLite this shape is the
    // faster one for a single item (a 20,000-user run spent a third more CPU the other way).
    let sql = format!(
        "UPDATE bulk_items SET status = 'sending', updated_at = ?3, claimed_host = ?4, \
         claimed_pid = ?5, claimed_started = ?6 WHERE id = (SELECT id FROM bulk_items \
         WHERE id IN ({}, {}) ORDER BY position LIMIT 1) RETURNING id",
        first("pending"),
        first("failed")
    );
    let claimed: Option<i64> = conn.query_opt(
        &sql,
        &vals![run_id, after, now, owner.host, owner.pid, owner.started],
        |r| r.get(0),
    )?;
    match claimed {
        Some(id) => Ok(items_with_users(conn, &[id])?.into_iter().next()),
        None => Ok(None),
    }
}

/// Claim the first `limit` free (`pending` or `failed`) items of the run after position
/// `after`, held by `owner`, in order, each with its user as they are now (`None`: deleted
/// since planning); empty when no free item is left after `after`. Items another process holds
/// in an open claim are skipped, not waited for (call it in a `Store::claim` transaction). The
/// free items of each status are looked up on their own, so each lookup walks the
/// `(run_id, status, position)` index from `after` instead of sorting every free item left
/// (which made a run quadratic).
pub fn claim_batch(
    conn: &Conn,
    run_id: &str,
    after: i64,
    owner: &Owner,
    now: i64,
    limit: usize,
) -> Result<Vec<(Item, Option<User>)>, DbError> {
    // PostgreSQL skips the rows other claimers have locked.
    let skip_locked = conn.for_update_skip_locked();
    let free = |status: &str| {
        format!(
            "SELECT id, position FROM (SELECT id, position FROM bulk_items WHERE run_id = ?1 \
             AND status = '{status}' AND position > ?2 ORDER BY position LIMIT ?7{skip_locked}) \
             AS {status}_free"
        )
    };
    let sql = format!(
        "UPDATE bulk_items SET status = 'sending', updated_at = ?3, claimed_host = ?4, \
         claimed_pid = ?5, claimed_started = ?6 WHERE id IN (SELECT id FROM ({} UNION ALL {}) \
         AS free ORDER BY position LIMIT ?7) RETURNING id",
        free("pending"),
        free("failed")
    );
    let params = vals![
        run_id,
        after,
        now,
        owner.host,
        owner.pid,
        owner.started,
        limit
    ];
    let claimed: Vec<i64> = conn.query_vec(&sql, &params, |r| r.get(0))?;
    items_with_users(conn, &claimed)
}

/// These items, in order, each with its user as they are now.
fn items_with_users(conn: &Conn, ids: &[i64]) -> Result<Vec<(Item, Option<User>)>, DbError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {ITEM_COLUMNS}, {} FROM bulk_items i LEFT JOIN users u ON u.id = i.user_id \
         WHERE i.id IN ({}) ORDER BY i.position",
        users::joined_columns("u"),
        list(1, ids.len())
    );
    conn.query_vec(&sql, &ints(ids), |row| {
        Ok((item_from(row)?, users::joined_at(row, USER_AT)?))
    })
}

/// Give back an item this process claimed but never started to send (stopped first): it is
/// `pending` again for whoever resumes the run. Returns false when it was not held by `owner`.
pub fn release(conn: &Conn, item_id: i64, owner: &Owner, now: i64) -> Result<bool, DbError> {
    let changed = conn.execute(
        "UPDATE bulk_items SET status = 'pending', updated_at = ?2, claimed_host = NULL, \
         claimed_pid = NULL, claimed_started = NULL WHERE id = ?1 AND status = 'sending' \
         AND claimed_host = ?3 AND claimed_pid = ?4",
        &vals![item_id, now, owner.host, owner.pid],
    )?;
    Ok(changed == 1)
}

#[cfg(test)]
mod tests;
