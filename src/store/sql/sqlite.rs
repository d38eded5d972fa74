//! The SQLite backend of [`Conn`](super::Conn): binding [`ToValue`] parameters to cached
//! rusqlite statements and reading rows as [`ValueRef`]s. The only place besides migrations
//! that touches rusqlite.

use std::path::Path;
use std::time::Duration;

use rusqlite::OpenFlags;
use rusqlite::types::{ToSqlOutput, ValueRef as SqliteRef};

use super::{DbError, Row, RowInner, ToValue, ValueRef};

/// Statements kept prepared per connection: a bulk run cycles through a few dozen on every
/// user, and a smaller cache would re-prepare them each time.
pub(super) const STATEMENT_CACHE: usize = 64;

impl rusqlite::ToSql for ValueRef<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match *self {
            ValueRef::Null => SqliteRef::Null,
            ValueRef::Int(n) => SqliteRef::Integer(n),
            ValueRef::Text(text) => SqliteRef::Text(text.as_bytes()),
        }))
    }
}

/// Open the store file read-write (never creating it: the store made it 0600 first) and set
/// the busy timeout, WAL, foreign keys and `synchronous = NORMAL`.
pub(super) fn open(path: &Path, busy_timeout_ms: u32) -> Result<rusqlite::Connection, DbError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = rusqlite::Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_millis(u64::from(busy_timeout_ms)))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}

/// Open another application's database file read-write (never creating it) with a busy
/// timeout, and nothing else: its journal mode and pragmas stay the application's.
pub(super) fn open_application(
    path: &Path,
    busy_timeout_ms: u32,
) -> Result<rusqlite::Connection, DbError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = rusqlite::Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_millis(u64::from(busy_timeout_ms)))?;
    Ok(conn)
}

/// A cached statement with every parameter bound (checked against the statement's count).
fn bound<'c>(
    conn: &'c rusqlite::Connection,
    sql: &str,
    params: &[&dyn ToValue],
) -> Result<rusqlite::CachedStatement<'c>, DbError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let expected = stmt.parameter_count();
    if expected != params.len() {
        return Err(DbError::param_count(expected, params.len()));
    }
    for (i, param) in params.iter().enumerate() {
        stmt.raw_bind_parameter(i + 1, param.to_value()?)?;
    }
    Ok(stmt)
}

/// Run a statement that returns no rows; how many rows it changed.
pub(super) fn execute(
    conn: &rusqlite::Connection,
    sql: &str,
    params: &[&dyn ToValue],
) -> Result<usize, DbError> {
    Ok(bound(conn, sql, params)?.raw_execute()?)
}

/// Hand each row to `f` until it returns `false` or the rows run out.
pub(super) fn each<E: From<DbError>>(
    conn: &rusqlite::Connection,
    sql: &str,
    params: &[&dyn ToValue],
    mut f: impl FnMut(&Row<'_>) -> Result<bool, E>,
) -> Result<(), E> {
    let mut stmt = bound(conn, sql, params)?;
    let mut rows = stmt.raw_query();
    while let Some(row) = rows.next().map_err(DbError::from)? {
        let row = Row {
            inner: RowInner::Sqlite(row),
        };
        if !f(&row)? {
            break;
        }
    }
    Ok(())
}

/// Column `i` of a row.
pub(super) fn column<'r>(row: &'r rusqlite::Row<'r>, i: usize) -> Result<ValueRef<'r>, DbError> {
    Ok(match row.get_ref(i)? {
        SqliteRef::Null => ValueRef::Null,
        SqliteRef::Integer(n) => ValueRef::Int(n),
        SqliteRef::Text(bytes) => ValueRef::Text(
            std::str::from_utf8(bytes).map_err(|e| rusqlite::Error::Utf8Error(i, e))?,
        ),
        SqliteRef::Real(_) => return Err(DbError::wrong_type_name("integer or text", "real")),
        SqliteRef::Blob(_) => return Err(DbError::wrong_type_name("integer or text", "blob")),
    })
}

/// Roll back an open transaction, if one is open (after a failed COMMIT, or none at all).
pub(super) fn rollback(conn: &rusqlite::Connection) {
    if !conn.is_autocommit() {
        // Nothing to report to: the caller is already returning an error, or dropped the
        // transaction on purpose; a failed rollback leaves SQLite rolling back on close.
        let _ = conn.execute_batch("ROLLBACK");
    }
}
