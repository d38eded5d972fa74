//! pwreset's own SQL layer: one connection type, [`Conn`], over which every statement of the
//! store runs, whatever the backend. Statements are written once, in SQLite's dialect with
//! `?N` parameters, and [`pg_sql`] turns `?N` into `$N`. Where PostgreSQL's dialect differs,
//! the call site names what it means and the connection writes it for its backend:
//! [`Conn::equals_ignoring_case`], [`Conn::like_ignoring_case`], [`Conn::limit_or_all`],
//! [`Conn::for_update_skip_locked`], [`Conn::is_postgres`]. Booleans are stored as 0/1 on both
//! (PostgreSQL's `boolean` expressions are read back as 0/1 by [`FromValue`]). Parameters
//! are [`ToValue`]s (`vals![a, b]`), columns are read by index from a [`Row`] as
//! [`FromValue`]s, and every failure is a [`DbError`] whose [`ErrorKind`] says whether another
//! writer held the store.
//!
//! Nothing outside `store/` sees a backend's own types: the one escape hatch, `with_raw`, is
//! private to `store/` and used only by `schema::apply`.

mod dialect;
mod error;
pub mod many;
mod pgconn;
pub mod postgres;
mod rewrite;
mod sqlite;
mod value;

#[cfg(test)]
mod pg_tests;
#[cfg(test)]
mod tests;

use std::ops::Deref;
use std::path::Path;

pub use error::{DbError, ErrorKind};
pub use pgconn::WRITER_LOCK_KEY;
pub use rewrite::pg_sql;
pub use value::{FromValue, ToValue, Value, ValueRef};

/// Which database a [`Conn`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One SQLite file (rusqlite).
    Sqlite,
    /// A PostgreSQL database.
    Postgres,
}

/// An open connection to the store.
pub struct Conn {
    inner: Inner,
}

enum Inner {
    Sqlite(rusqlite::Connection),
    Pg(Box<pgconn::PgConn>),
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}

/// One row of a result, read by column index.
pub struct Row<'r> {
    inner: RowInner<'r>,
}

enum RowInner<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Pg(&'r tokio_postgres::Row),
}

impl Row<'_> {
    /// Column `i` (0-based) as a `T`.
    pub fn get<T: FromValue>(&self, i: usize) -> Result<T, DbError> {
        T::from_value(self.value(i)?)
    }

    /// Column `i` (0-based) as it is.
    pub fn value(&self, i: usize) -> Result<ValueRef<'_>, DbError> {
        match &self.inner {
            RowInner::Sqlite(row) => sqlite::column(row, i),
            RowInner::Pg(row) => pgconn::column(row, i),
        }
    }
}

impl Conn {
    /// Open an SQLite store file read-write (never creating it) in WAL mode with foreign keys
    /// on and `busy_timeout_ms` to wait for another writer.
    pub(super) fn open_sqlite(path: &Path, busy_timeout_ms: u32) -> Result<Conn, DbError> {
        sqlite::open(path, busy_timeout_ms).map(Conn::from_sqlite)
    }

    /// Open another application's SQLite database read-write (never creating it), waiting at
    /// most `busy_timeout_ms` for its writers. Unlike pwreset's own store, nothing of the file's
    /// settings is changed (no journal mode, no foreign-key switch): the database is the
    /// application's.
    pub fn open_application_sqlite(path: &Path, busy_timeout_ms: u32) -> Result<Conn, DbError> {
        sqlite::open_application(path, busy_timeout_ms).map(Conn::from_sqlite)
    }

    /// Wrap a connection to another application's PostgreSQL database (no pwreset migration
    /// runs on it); transactions wait at most `busy_timeout_ms` for a lock.
    pub fn application_pg(
        client: crate::store::sql::postgres::PgClient,
        busy_timeout_ms: u32,
    ) -> Conn {
        Conn::from_pg(client, busy_timeout_ms)
    }

    /// Wrap an open SQLite connection.
    pub(super) fn from_sqlite(conn: rusqlite::Connection) -> Conn {
        conn.set_prepared_statement_cache_capacity(sqlite::STATEMENT_CACHE);
        Conn {
            inner: Inner::Sqlite(conn),
        }
    }

    /// Wrap a connected (and migrated) PostgreSQL client; write transactions wait at most
    /// `busy_timeout_ms` for the writer lock.
    pub(super) fn from_pg(
        client: crate::store::sql::postgres::PgClient,
        busy_timeout_ms: u32,
    ) -> Conn {
        Conn {
            inner: Inner::Pg(Box::new(pgconn::PgConn::new(client, busy_timeout_ms))),
        }
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        match self.inner {
            Inner::Sqlite(_) => Backend::Sqlite,
            Inner::Pg(_) => Backend::Postgres,
        }
    }

    /// Whether this is a PostgreSQL store (row locks, `SKIP LOCKED`, identity sequences).
    pub fn is_postgres(&self) -> bool {
        self.backend() == Backend::Postgres
    }

    /// Pick the piece of a statement for this backend. Private: table modules name what they
    /// mean through the helpers below instead of writing both dialects.
    fn dialect<T>(&self, sqlite: T, pg: T) -> T {
        match self.backend() {
            Backend::Sqlite => sqlite,
            Backend::Postgres => pg,
        }
    }

    /// The backend's own connection, for migrations only (SQLite: `PRAGMA user_version` and
    /// exclusive DDL transactions; PostgreSQL: the version table and advisory-locked DDL):
    /// `sqlite` or `pg` runs, whichever fits.
    pub(super) fn with_raw<R>(
        &mut self,
        sqlite: impl FnOnce(&mut rusqlite::Connection) -> R,
        pg: impl FnOnce(&mut crate::store::sql::postgres::PgClient) -> R,
    ) -> R {
        match &mut self.inner {
            Inner::Sqlite(conn) => sqlite(conn),
            Inner::Pg(conn) => pg(conn.client_mut()),
        }
    }

    /// Run a statement that returns no rows; how many rows it changed.
    pub fn execute(&self, sql: &str, params: &[&dyn ToValue]) -> Result<usize, DbError> {
        match &self.inner {
            Inner::Sqlite(conn) => sqlite::execute(conn, sql, params),
            Inner::Pg(conn) => conn.execute(sql, params),
        }
    }

    /// Run a statement whose row count nobody reads. Inside a PostgreSQL transaction it is sent
    /// with the next statement that is waited for, or with `COMMIT`, and a failure shows there
    /// (the transaction then rolls back whole); so use it only where no failure is expected to
    /// be told apart from others, e.g. a write under the writer lock to rows this transaction
    /// holds.
    pub fn defer(&self, sql: &str, params: &[&dyn ToValue]) -> Result<(), DbError> {
        match &self.inner {
            Inner::Sqlite(conn) => sqlite::execute(conn, sql, params).map(drop),
            Inner::Pg(conn) => conn.defer(sql, params),
        }
    }

    /// Run `f`, whose statements insert rows checked by foreign keys or triggers, with
    /// PostgreSQL's cached plans allowed for the queries those checks run per row. Sessions
    /// plan every statement afresh (`plan_cache_mode=force_custom_plan`, so that no plan made
    /// while a table was empty outlives it), and a per-row check planned afresh for each row
    /// made inserting a batch take 2.6 times as long. The switch and the switch back are queued
    /// with the statements (no round trip); a rollback undoes both. On SQLite, `f` alone.
    pub fn with_cached_plans<T>(
        &self,
        f: impl FnOnce() -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let Inner::Pg(conn) = &self.inner else {
            return f();
        };
        conn.defer_batch("SET plan_cache_mode = auto")?;
        let result = f();
        conn.defer_batch("SET plan_cache_mode = force_custom_plan")?;
        result
    }

    /// Run statements without parameters or results (DDL, transaction control).
    pub fn batch(&self, sql: &str) -> Result<(), DbError> {
        match &self.inner {
            Inner::Sqlite(conn) => Ok(conn.execute_batch(sql)?),
            Inner::Pg(conn) => conn.batch(sql),
        }
    }

    /// Hand each row to `f`, streaming: rows are read one at a time, never collected.
    pub fn query_each<E: From<DbError>>(
        &self,
        sql: &str,
        params: &[&dyn ToValue],
        mut f: impl FnMut(&Row<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.each(sql, params, Size::Stream, |row| f(row).map(|()| true))
    }

    /// The first row read with `f`, if there is one (for queries of a row or a few: inside a
    /// PostgreSQL transaction every row is read before `f` runs).
    pub fn query_opt<T>(
        &self,
        sql: &str,
        params: &[&dyn ToValue],
        f: impl FnOnce(&Row<'_>) -> Result<T, DbError>,
    ) -> Result<Option<T>, DbError> {
        let mut f = Some(f);
        let mut found = None;
        self.each(sql, params, Size::Small, |row| {
            if let Some(f) = f.take() {
                found = Some(f(row)?);
            }
            Ok::<_, DbError>(false)
        })?;
        Ok(found)
    }

    /// The first row read with `f`; no row is an error.
    pub fn query_one<T>(
        &self,
        sql: &str,
        params: &[&dyn ToValue],
        f: impl FnOnce(&Row<'_>) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        self.query_opt(sql, params, f)?.ok_or_else(DbError::no_rows)
    }

    /// Every row read with `f` (for results known to be small).
    pub fn query_vec<T>(
        &self,
        sql: &str,
        params: &[&dyn ToValue],
        mut f: impl FnMut(&Row<'_>) -> Result<T, DbError>,
    ) -> Result<Vec<T>, DbError> {
        let mut all = Vec::new();
        self.each(sql, params, Size::Small, |row| {
            all.push(f(row)?);
            Ok::<_, DbError>(true)
        })?;
        Ok(all)
    }

    /// Run an `INSERT ... RETURNING id` and return the id.
    pub fn insert_returning_id(&self, sql: &str, params: &[&dyn ToValue]) -> Result<i64, DbError> {
        self.query_one(sql, params, |row| row.get(0))
    }

    /// Begin a write transaction that takes the write lock at once (SQLite `BEGIN IMMEDIATE`;
    /// on PostgreSQL a transaction holding pwreset's advisory writer lock, waiting at most the
    /// busy timeout), so read-then-write sequences cannot interleave with another writer. On
    /// PostgreSQL the `BEGIN` and the lock travel with the first statement, so a busy store is
    /// reported by that statement (before anything it does).
    pub fn begin_write(&mut self) -> Result<Tx<'_>, DbError> {
        match &self.inner {
            Inner::Sqlite(_) => self.batch("BEGIN IMMEDIATE")?,
            Inner::Pg(conn) => conn.begin_write(),
        }
        Ok(self.tx())
    }

    /// Begin a write transaction that relies on row locks alone, for the few that append no
    /// audit row and keep no invariant across rows (claiming a bulk item): on PostgreSQL
    /// without the writer lock, so such transactions run side by side with each other and with
    /// the writers (waiting at most the busy timeout for a row); on SQLite the same as
    /// [`Conn::begin_write`], as SQLite has one writer at a time anyway.
    pub fn begin_row_write(&mut self) -> Result<Tx<'_>, DbError> {
        match &self.inner {
            Inner::Sqlite(_) => self.batch("BEGIN IMMEDIATE")?,
            Inner::Pg(conn) => conn.begin_row_write(),
        }
        Ok(self.tx())
    }

    /// Begin a read transaction: one consistent view of the store for several queries
    /// (PostgreSQL: repeatable read, read only).
    pub fn begin_read(&self) -> Result<Tx<'_>, DbError> {
        match &self.inner {
            Inner::Sqlite(_) => self.batch("BEGIN DEFERRED")?,
            Inner::Pg(conn) => conn.begin_read(),
        }
        Ok(self.tx())
    }

    /// Whether this connection can be handed to other work: no transaction is open on it (one
    /// left open would hold later work uncommitted), and on PostgreSQL the server has not ended
    /// the session (DB-4). Costs no round trip.
    pub fn is_reusable(&mut self) -> bool {
        match &mut self.inner {
            Inner::Sqlite(conn) => conn.is_autocommit(),
            Inner::Pg(conn) => conn.is_reusable(),
        }
    }

    /// Limit the page cache to `kib` KiB, where the backend has one per connection.
    pub fn limit_cache(&self, kib: u32) -> Result<(), DbError> {
        match &self.inner {
            Inner::Sqlite(conn) => Ok(conn.pragma_update(None, "cache_size", -i64::from(kib))?),
            // The server's buffers are shared and sized by its own settings.
            Inner::Pg(_) => Ok(()),
        }
    }

    fn tx(&self) -> Tx<'_> {
        Tx {
            conn: self,
            open: true,
        }
    }

    fn commit(&self) -> Result<(), DbError> {
        match &self.inner {
            Inner::Sqlite(_) => self.batch("COMMIT"),
            Inner::Pg(conn) => conn.commit(),
        }
    }

    fn each<E: From<DbError>>(
        &self,
        sql: &str,
        params: &[&dyn ToValue],
        size: Size,
        f: impl FnMut(&Row<'_>) -> Result<bool, E>,
    ) -> Result<(), E> {
        match &self.inner {
            Inner::Sqlite(conn) => sqlite::each(conn, sql, params, f),
            Inner::Pg(conn) => conn.each(sql, params, size, f),
        }
    }

    fn rollback(&self) {
        match &self.inner {
            Inner::Sqlite(conn) => sqlite::rollback(conn),
            Inner::Pg(conn) => conn.rollback(),
        }
    }
}

/// How many rows a query is expected to return, which picks how PostgreSQL reads them inside
/// a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Size {
    /// Any number, handed over as they come (through a cursor, so the caller may use the
    /// connection between rows).
    Stream,
    /// A row or a few (`query_opt`, `query_vec`): read in one round trip, not three.
    Small,
}

/// A transaction on a [`Conn`] (which it derefs to): [`Tx::commit`] keeps its changes;
/// dropping it without committing rolls them back.
#[derive(Debug)]
pub struct Tx<'c> {
    conn: &'c Conn,
    open: bool,
}

impl Tx<'_> {
    /// Commit. On failure the transaction is rolled back when dropped.
    pub fn commit(mut self) -> Result<(), DbError> {
        self.conn.commit()?;
        self.open = false;
        Ok(())
    }
}

impl Deref for Tx<'_> {
    type Target = Conn;

    fn deref(&self) -> &Conn {
        self.conn
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if self.open {
            self.conn.rollback();
        }
    }
}
