//! The item statements that take many items at once, one statement for all of them: writing
//! a plan's items (a chunk at a time) and finishing items (a bulk run's batch of users
//! together). The one-item functions of `store::bulk` (`insert_item`, `finish_item`) are these
//! with one item, so each statement is written once.

use super::super::sql::many::{Col, Many, rows};
use super::super::sql::{Conn, DbError};
use super::{Finish, Item};
use Col::{Int, Text};

/// Insert planned items of one run, in one statement (sent with the transaction's next
/// statement or its commit): each an [`Item`] as planned, `pending`, or `skipped` with its
/// `reason` (its id, status, recipient and expiry are not read).
pub fn insert_items(conn: &Conn, run_id: &str, items: &[Item], now: i64) -> Result<(), DbError> {
    if items.is_empty() {
        return Ok(());
    }
    let mut params = Many::new();
    params.text(run_id).int(now);
    let values = rows(params.next(), items.len(), &[Int, Text, Int, Text, Text]);
    for item in items {
        let status = if item.reason.is_some() {
            "skipped"
        } else {
            "pending"
        };
        params
            .int(item.position)
            .text(item.entry.as_str())
            .int(item.user_id);
        params.text(status).text(item.reason.as_deref());
    }
    let sql = format!(
        "INSERT INTO bulk_items (run_id, updated_at, position, entry, user_id, status, reason) \
             SELECT ?1, ?2, v.column1, v.column2, v.column3, v.column4, v.column5 \
             FROM (VALUES {values}) AS v"
    );
    conn.with_cached_plans(|| conn.defer(&sql, &params.params()))
}

/// Record items' outcomes and the link or temporary password each produced, in one statement
/// (sent with the transaction's next statement or its commit).
pub fn finish_items(conn: &Conn, ends: &[(i64, Finish<'_>)], now: i64) -> Result<(), DbError> {
    if ends.is_empty() {
        return Ok(());
    }
    let cols = [Int, Text, Text, Text, Int, Int, Int];
    let mut params = Many::new();
    params.int(now);
    let values = rows(params.next(), ends.len(), &cols);
    for (id, end) in ends {
        let (token_id, temp_password_id) = end.produced.ids();
        params
            .int(*id)
            .text(end.status)
            .text(end.reason)
            .text(end.recipient);
        params
            .int(end.expires_at)
            .int(token_id)
            .int(temp_password_id);
    }
    let sql = format!(
        "UPDATE bulk_items SET status = v.column2, reason = v.column3, \
         recipient = coalesce(v.column4, bulk_items.recipient), expires_at = v.column5, \
         updated_at = ?1, token_id = v.column6, temp_password_id = v.column7 \
         FROM (VALUES {values}) AS v WHERE bulk_items.id = v.column1"
    );
    conn.defer(&sql, &params.params())
}
