//! SQL for the `audit_log` table: reading the chain's tail, appending a row, and streaming rows
//! back. The columns a row's hash covers are listed once, in [`Entry::hashed`], and the INSERT
//! is built from that list, so no column can be stored without being hashed. Hashing and
//! verifying the chain are the domain's (`crate::audit`); nothing here computes a hash.
//!
//! The audit key never enters the store: the domain computes each row's MAC with the key its
//! actor carries and hands this module the finished row.

use super::sql::{Conn, DbError, Row, ToValue, Value};
use crate::vals;

/// A stored audit row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Row id (1, 2, 3, ...).
    pub id: i64,
    /// When (Unix seconds, UTC).
    pub at: i64,
    /// The OS user.
    pub os_user: String,
    /// `--actor`.
    pub actor: Option<String>,
    /// `--reason`.
    pub reason: Option<String>,
    /// Action name.
    pub action: String,
    /// Target user id.
    pub target_user_id: Option<i64>,
    /// Target username (at the time).
    pub target: Option<String>,
    /// Mail recipient.
    pub recipient: Option<String>,
    /// `ok`, `refused`, `failed` or `interrupted`.
    pub outcome: String,
    /// Detail.
    pub detail: Option<String>,
    /// Bulk run id.
    pub run_id: Option<String>,
    /// The previous row's hash.
    pub prev_hash: String,
    /// This row's hash.
    pub hash: String,
}

/// How many columns [`Entry::hashed`] yields.
pub const HASHED: usize = 12;

impl Entry {
    /// Every column the chain's hash covers, with its value, in hashing order: the one list that
    /// both the INSERT and the hash are made from. Only `prev_hash` and `hash` are not in it.
    pub fn hashed(&self) -> [(&'static str, Value); HASHED] {
        [
            ("id", Value::Int(self.id)),
            ("at", Value::Int(self.at)),
            ("os_user", text(Some(&self.os_user))),
            ("actor", text(self.actor.as_ref())),
            ("reason", text(self.reason.as_ref())),
            ("action", text(Some(&self.action))),
            (
                "target_user_id",
                self.target_user_id.map_or(Value::Null, Value::Int),
            ),
            ("target", text(self.target.as_ref())),
            ("recipient", text(self.recipient.as_ref())),
            ("outcome", text(Some(&self.outcome))),
            ("detail", text(self.detail.as_ref())),
            ("run_id", text(self.run_id.as_ref())),
        ]
    }
}

/// A text column's value, NULL for none.
fn text(value: Option<&String>) -> Value {
    value.map_or(Value::Null, |text| Value::Text(text.clone()))
}

/// The columns [`from_row`] reads, in its order.
pub(crate) const COLUMNS: &str = "id, at, os_user, actor, reason, action, target_user_id, \
     target, recipient, outcome, detail, run_id, prev_hash, hash";

/// Read a row selected with [`COLUMNS`].
pub(crate) fn from_row(row: &Row<'_>) -> Result<Entry, DbError> {
    Ok(Entry {
        id: row.get(0)?,
        at: row.get(1)?,
        os_user: row.get(2)?,
        actor: row.get(3)?,
        reason: row.get(4)?,
        action: row.get(5)?,
        target_user_id: row.get(6)?,
        target: row.get(7)?,
        recipient: row.get(8)?,
        outcome: row.get(9)?,
        detail: row.get(10)?,
        run_id: row.get(11)?,
        prev_hash: row.get(12)?,
        hash: row.get(13)?,
    })
}

/// The last row, if any.
pub fn last_entry(conn: &Conn) -> Result<Option<Entry>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM audit_log ORDER BY id DESC LIMIT 1");
    conn.query_opt(&sql, &vals![], from_row)
}

/// The id and hash of the last row, if any.
pub fn last(conn: &Conn) -> Result<Option<(i64, String)>, DbError> {
    conn.query_opt(
        "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1",
        &vals![],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// Insert a row whose `hash` is already computed: the columns of [`Entry::hashed`], then
/// `prev_hash` and `hash`.
pub fn insert(conn: &Conn, entry: &Entry) -> Result<(), DbError> {
    insert_many(conn, std::slice::from_ref(entry))
}

/// [`insert`] for several rows, in one statement. Under the writer lock the next ids are free,
/// so nothing reads the answer: it goes with the transaction's next statement or its commit.
pub fn insert_many(conn: &Conn, entries: &[Entry]) -> Result<(), DbError> {
    let Some(first) = entries.first() else {
        return Ok(());
    };
    let mut names: Vec<&str> = first.hashed().iter().map(|(name, _)| *name).collect();
    names.extend(["prev_hash", "hash"]);
    let mut values = Vec::with_capacity(entries.len() * names.len());
    let mut rows = Vec::with_capacity(entries.len());
    for entry in entries {
        let start = values.len() + 1;
        values.extend(entry.hashed().into_iter().map(|(_, value)| value));
        values.extend([
            Value::Text(entry.prev_hash.clone()),
            Value::Text(entry.hash.clone()),
        ]);
        let cells: Vec<String> = (start..=values.len()).map(|i| format!("?{i}")).collect();
        rows.push(format!("({})", cells.join(", ")));
    }
    let sql = format!(
        "INSERT INTO audit_log ({}) VALUES {}",
        names.join(", "),
        rows.join(", ")
    );
    let params: Vec<&dyn ToValue> = values.iter().map(|v| v as &dyn ToValue).collect();
    // The append-only trigger checks each row's id with a query of its own.
    conn.with_cached_plans(|| conn.defer(&sql, &params))
}

/// Call `f` for every row, in id order, streaming.
pub fn for_all<E: From<DbError>>(
    conn: &Conn,
    mut f: impl FnMut(Entry) -> Result<(), E>,
) -> Result<(), E> {
    let sql = format!("SELECT {COLUMNS} FROM audit_log ORDER BY id");
    conn.query_each(&sql, &vals![], |row| f(from_row(row)?))
}

/// How many rows with this action and outcome concern a user since a time.
pub fn count_since(
    conn: &Conn,
    action: &str,
    outcome: &str,
    user_id: i64,
    since: i64,
) -> Result<u64, DbError> {
    let n: i64 = conn.query_one(
        "SELECT count(*) FROM audit_log \
         WHERE target_user_id = ?1 AND action = ?2 AND outcome = ?3 AND at >= ?4",
        &vals![user_id, action, outcome, since],
        |r| r.get(0),
    )?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The rows about one user with one action and outcome, within a time span.
#[derive(Debug, Clone, Copy)]
pub struct Window<'a> {
    /// The action.
    pub action: &'a str,
    /// The outcome.
    pub outcome: &'a str,
    /// The target user.
    pub user_id: i64,
    /// From this time...
    pub since: i64,
    /// ...up to this one, both included.
    pub until: i64,
}

/// The rows in `window`, oldest first.
pub fn rows_between(conn: &Conn, window: &Window<'_>) -> Result<Vec<Entry>, DbError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM audit_log WHERE target_user_id = ?1 AND action = ?2 \
         AND outcome = ?3 AND at >= ?4 AND at <= ?5 ORDER BY at, id"
    );
    let w = window;
    let params = vals![w.user_id, w.action, w.outcome, w.since, w.until];
    conn.query_vec(&sql, &params, from_row)
}

/// Which rows `for_each` returns.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only rows about this user id.
    pub user_id: Option<i64>,
    /// Only this action; a trailing `*` matches a prefix (`user.*`).
    pub action: Option<String>,
    /// Only rows at or after this time (Unix seconds).
    pub since: Option<i64>,
    /// Only the last N matching rows.
    pub limit: Option<u64>,
}

/// Call `f` for each matching row, oldest first, streaming.
pub fn for_each<E: From<DbError>>(
    conn: &Conn,
    filter: &Filter,
    mut f: impl FnMut(Entry) -> Result<(), E>,
) -> Result<(), E> {
    let limit_clause = conn.limit_or_all("?5");
    let sql = format!(
        "SELECT * FROM (SELECT {COLUMNS} FROM audit_log \
         WHERE (CAST(?1 AS BIGINT) IS NULL OR target_user_id = ?1) \
         AND (CAST(?2 AS TEXT) IS NULL OR action = ?2 OR (CAST(?3 AS TEXT) IS NOT NULL \
         AND substr(action, 1, length(CAST(?3 AS TEXT))) = ?3)) \
         AND (CAST(?4 AS BIGINT) IS NULL OR at >= ?4) ORDER BY id DESC {limit_clause}) AS recent \
         ORDER BY id"
    );
    let prefix = filter.action.as_deref().and_then(|a| a.strip_suffix('*'));
    let limit = filter.limit.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
    let params = vals![filter.user_id, filter.action, prefix, filter.since, limit];
    conn.query_each(&sql, &params, |row| f(from_row(row)?))
}
