//! [`TestDb`]: a test's direct handle on its store, the same on every backend. It runs SQL
//! through pwreset's own layer (`pwreset::store::sql::Conn`), written in SQLite's dialect with
//! `?N` parameters, so a test reads and edits the store with one text whether the binary runs
//! on SQLite or on PostgreSQL. Every failure panics with the statement: these are tests.
//!
//! It knows nothing of how a test environment is laid out: `support` says where the store is
//! ([`StoreAt`]). SQLite's own mechanics (PRAGMAs, the WAL, forged old schemas) are not here:
//! tests of those use rusqlite through `TestEnv::sqlite`.

use std::path::PathBuf;

use pwreset::store::Store;
pub use pwreset::store::sql::Backend;
use pwreset::store::sql::{Conn, DbError, Row, ToValue, ValueRef};

use crate::pg_support::PgTestDb;

/// Where a test's store lives.
pub enum StoreAt<'a> {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database of the test's own.
    Postgres(&'a PgTestDb),
}

/// An open connection to a test's store.
pub struct TestDb {
    store: Store,
}

/// How long a test's own connection waits for a pwreset that holds the store.
const BUSY_TIMEOUT_MS: u32 = 5_000;

impl TestDb {
    /// Open the store at `at`. This is the one place that knows how to reach each backend.
    pub fn open(at: &StoreAt<'_>) -> TestDb {
        let store = match at {
            StoreAt::Sqlite(path) => Store::open(path, BUSY_TIMEOUT_MS)
                .unwrap_or_else(|e| panic!("open the test store {}: {e}", path.display())),
            StoreAt::Postgres(db) => {
                Store::open_pg(&db.target, Some(&db.server.password), BUSY_TIMEOUT_MS)
                    .unwrap_or_else(|e| panic!("open the test database {}: {e}", db.target))
            }
        };
        TestDb { store }
    }

    /// Run `held` while this connection holds pwreset's writer lock (SQLite `BEGIN IMMEDIATE`;
    /// PostgreSQL's advisory lock, taken with the transaction's first statement), so that
    /// pwreset's writes wait for it; the transaction is rolled back afterwards.
    pub fn while_writer_locked<T>(&mut self, held: impl FnOnce() -> T) -> T {
        let tx = self.store.write().expect("the writer lock");
        tx.query_one("SELECT count(*) FROM users", &[], |r| r.get::<i64>(0))
            .expect("take the lock");
        let value = held();
        drop(tx);
        value
    }

    /// The connection itself, for what the helpers below do not cover.
    pub fn conn(&self) -> &Conn {
        self.store.conn()
    }

    /// The integer in the first column of the first row of `sql` (no parameters).
    pub fn count(&self, sql: &str) -> i64 {
        self.query_one(sql, &[], |r| r.get(0))
    }

    /// The integer in the first column of the first row.
    pub fn int(&self, sql: &str, params: &[&dyn ToValue]) -> i64 {
        self.query_one(sql, params, |r| r.get(0))
    }

    /// The text in the first column of the first row.
    pub fn text(&self, sql: &str, params: &[&dyn ToValue]) -> String {
        self.query_one(sql, params, |r| r.get(0))
    }

    /// The first row, read with `f`; no row fails the test.
    pub fn query_one<T>(
        &self,
        sql: &str,
        params: &[&dyn ToValue],
        f: impl FnOnce(&Row<'_>) -> Result<T, DbError>,
    ) -> T {
        self.conn()
            .query_one(sql, params, f)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Every row, read with `f`.
    pub fn query_vec<T>(
        &self,
        sql: &str,
        params: &[&dyn ToValue],
        f: impl FnMut(&Row<'_>) -> Result<T, DbError>,
    ) -> Vec<T> {
        self.conn()
            .query_vec(sql, params, f)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The first column of every row, as text.
    pub fn texts(&self, sql: &str, params: &[&dyn ToValue]) -> Vec<String> {
        self.query_vec(sql, params, |r| r.get(0))
    }

    /// Run a statement; how many rows it changed.
    pub fn execute(&self, sql: &str, params: &[&dyn ToValue]) -> usize {
        self.try_execute(sql, params)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Run a statement the test expects may be refused.
    pub fn try_execute(&self, sql: &str, params: &[&dyn ToValue]) -> Result<usize, DbError> {
        self.conn().execute(sql, params)
    }

    /// Run statements without parameters.
    pub fn batch(&self, sql: &str) {
        self.conn()
            .batch(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// The names of `table`'s columns, in order.
    pub fn columns(&self, table: &str) -> Vec<String> {
        self.conn()
            .column_names(table)
            .unwrap_or_else(|e| panic!("columns of {table}: {e}"))
    }

    /// Every table of the store, as the database itself lists them: a new table is seen
    /// without anyone adding it to a list.
    pub fn tables(&self) -> Vec<String> {
        // PostgreSQL's list includes the migrations' bookkeeping table, which SQLite keeps in
        // `PRAGMA user_version`: every table is scanned.
        let sql = if self.conn().is_postgres() {
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
             ORDER BY table_name"
        } else {
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' ORDER BY name"
        };
        self.texts(sql, &[])
    }

    /// Every row of `table`, each column cast to text (whatever its type, the bookkeeping
    /// table's timestamps included), as `a|b|...`: for a test that scans the store for secrets.
    pub fn dump_as_text(&self, table: &str) -> Vec<String> {
        let columns: Vec<String> = (self.columns(table).iter())
            .map(|column| format!("CAST({column} AS TEXT)"))
            .collect();
        let sql = format!("SELECT {} FROM {table} ORDER BY 1", columns.join(", "));
        self.query_vec(&sql, &[], |row| {
            (0..columns.len())
                .map(|i| row.value(i).map(|v| show(v)))
                .collect::<Result<Vec<_>, _>>()
                .map(|cells| cells.join("|"))
        })
    }

    /// Every column of every row of `table` (ordered by `order`), each row as `a|b|...`.
    pub fn dump(&self, table: &str, order: &str) -> Vec<String> {
        let columns = self.columns(table);
        let sql = format!(
            "SELECT {} FROM {table} ORDER BY {order}",
            columns.join(", ")
        );
        self.query_vec(&sql, &[], |row| {
            (0..columns.len())
                .map(|i| row.value(i).map(|v| show(v)))
                .collect::<Result<Vec<_>, _>>()
                .map(|cells| cells.join("|"))
        })
    }
}

/// A cell as the dump shows it.
fn show(value: ValueRef<'_>) -> String {
    match value {
        ValueRef::Null => "NULL".to_string(),
        ValueRef::Int(n) => n.to_string(),
        ValueRef::Text(text) => format!("{text:?}"),
    }
}
