//! SQL for the `audit_log` table: reading the chain's tail, appending a row, and streaming rows
//! back. The columns a row's hash covers are listed once, in [`Entry::hashed`], and the INSERT
//! is built from that list, so no column can be stored without being hashed. Hashing and
//! verifying the chain are the domain's (`crate::audit`); nothing here computes a hash.
//!
//! The audit key never enters the store: the domain hands [`install_mac`] a closure holding it,
//! registered as the connection's SQL function `pwreset_audit_mac`, and [`mac`] calls it. So the
//! key travels with the connection (and every transaction on it) without a parameter, and a
//! connection without a key cannot append a row.

use rusqlite::functions::FunctionFlags;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

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
            ("id", self.id.into()),
            ("at", self.at.into()),
            ("os_user", self.os_user.clone().into()),
            ("actor", self.actor.clone().into()),
            ("reason", self.reason.clone().into()),
            ("action", self.action.clone().into()),
            ("target_user_id", self.target_user_id.into()),
            ("target", self.target.clone().into()),
            ("recipient", self.recipient.clone().into()),
            ("outcome", self.outcome.clone().into()),
            ("detail", self.detail.clone().into()),
            ("run_id", self.run_id.clone().into()),
        ]
    }
}

/// The columns [`from_row`] reads, in its order.
pub(crate) const COLUMNS: &str = "id, at, os_user, actor, reason, action, target_user_id, \
     target, recipient, outcome, detail, run_id, prev_hash, hash";

/// Read a row selected with [`COLUMNS`].
pub(crate) fn from_row(row: &Row<'_>) -> rusqlite::Result<Entry> {
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

/// The name of the connection's MAC function.
const MAC_FUNCTION: &str = "pwreset_audit_mac";

/// Register `f(prev, payload)` as this connection's MAC; `Err(text)` is the reason there is no
/// key, reported by [`mac`].
pub fn install_mac(
    conn: &Connection,
    f: impl Fn(&str, &str) -> Result<String, String> + Send + 'static,
) -> rusqlite::Result<()> {
    conn.create_scalar_function(
        MAC_FUNCTION,
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        move |ctx| {
            let (prev, payload): (String, String) = (ctx.get(0)?, ctx.get(1)?);
            f(&prev, &payload).map_err(|why| {
                rusqlite::Error::UserFunctionError(format!("{MAC_FUNCTION}: {why}").into())
            })
        },
    )
}

/// The MAC of `payload` after `prev`: `Ok(Err(why))` when the connection holds no key.
pub fn mac(
    conn: &Connection,
    prev: &str,
    payload: &str,
) -> rusqlite::Result<Result<String, String>> {
    let result = conn
        .prepare_cached("SELECT pwreset_audit_mac(?1, ?2)")
        .and_then(|mut stmt| stmt.query_row(params![prev, payload], |r| r.get(0)));
    match result {
        Ok(mac) => Ok(Ok(mac)),
        Err(rusqlite::Error::SqliteFailure(_, Some(message))) if message.contains(MAC_FUNCTION) => {
            let why = message
                .split_once(&format!("{MAC_FUNCTION}: "))
                .map_or("no audit key was loaded", |(_, why)| why);
            Ok(Err(why.to_string()))
        }
        Err(err) => Err(err),
    }
}

/// The last row, if any.
pub fn last_entry(conn: &Connection) -> rusqlite::Result<Option<Entry>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM audit_log ORDER BY id DESC LIMIT 1"
    ))?
    .query_row([], from_row)
    .optional()
}

/// The id and hash of the last row, if any.
pub fn last(conn: &Connection) -> rusqlite::Result<Option<(i64, String)>> {
    conn.prepare_cached("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
}

/// Insert a row whose `hash` is already computed: the columns of [`Entry::hashed`], then
/// `prev_hash` and `hash`.
pub fn insert(conn: &Connection, entry: &Entry) -> rusqlite::Result<()> {
    let (mut names, mut values): (Vec<&str>, Vec<Value>) = entry.hashed().into_iter().unzip();
    names.extend(["prev_hash", "hash"]);
    values.extend([entry.prev_hash.clone().into(), entry.hash.clone().into()]);
    let placeholders: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
    let sql = format!(
        "INSERT INTO audit_log ({}) VALUES ({})",
        names.join(", "),
        placeholders.join(", ")
    );
    conn.prepare_cached(&sql)?
        .execute(params_from_iter(values))?;
    Ok(())
}

/// Call `f` for every row, in id order, streaming from SQLite.
pub fn for_all<E: From<rusqlite::Error>>(
    conn: &Connection,
    mut f: impl FnMut(Entry) -> Result<(), E>,
) -> Result<(), E> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM audit_log ORDER BY id"))?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        f(from_row(row)?)?;
    }
    Ok(())
}

/// How many rows with this action and outcome concern a user since a time.
pub fn count_since(
    conn: &Connection,
    action: &str,
    outcome: &str,
    user_id: i64,
    since: i64,
) -> rusqlite::Result<u64> {
    let n: i64 = conn.prepare_cached(
        "SELECT count(*) FROM audit_log WHERE target_user_id = ?1 AND action = ?2 AND outcome = ?3 AND at >= ?4",
    )?
    .query_row(params![user_id, action, outcome, since], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
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

/// Call `f` for each matching row, oldest first, streaming from SQLite.
pub fn for_each<E: From<rusqlite::Error>>(
    conn: &Connection,
    filter: &Filter,
    mut f: impl FnMut(Entry) -> Result<(), E>,
) -> Result<(), E> {
    let sql = format!(
        "SELECT * FROM (SELECT {COLUMNS} FROM audit_log WHERE (?1 IS NULL OR target_user_id = ?1) \
         AND (?2 IS NULL OR action = ?2 OR (?3 IS NOT NULL AND substr(action, 1, length(?3)) = ?3)) \
         AND (?4 IS NULL OR at >= ?4) ORDER BY id DESC LIMIT ?5) ORDER BY id"
    );
    let prefix = filter.action.as_deref().and_then(|a| a.strip_suffix('*'));
    let limit = filter
        .limit
        .map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query(params![
        filter.user_id,
        filter.action,
        prefix,
        filter.since,
        limit
    ])?;
    while let Some(row) = rows.next()? {
        f(from_row(row)?)?;
    }
    Ok(())
}
