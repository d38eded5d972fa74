//! The PostgreSQL backend of [`Conn`](super::Conn): statements rewritten once by
//! [`pg_sql`](super::pg_sql) and kept prepared per connection, [`ToValue`] parameters converted
//! to the types the server inferred for them, rows read as [`ValueRef`]s, and write transactions
//! serialised by a transaction-level advisory lock.
//!
//! Parameters convert strictly: an integer binds to BIGINT, INTEGER or SMALLINT (checked), text
//! to TEXT, VARCHAR, CHAR or NAME, NULL to any of those. A parameter the server infers as
//! anything else is a programming error named in the message: cast it in the SQL
//! (`CAST(?1 AS BIGINT)`) where the statement is written, rather than guessing here.
//!
//! Rows stream. Outside a transaction a query reads its rows as they arrive and holds the
//! connection meanwhile; inside one it reads them through a cursor, a batch at a time, so the
//! callback may use the connection between rows (a bulk plan inserts its items while it walks
//! the users). Queries of a row or a few (`query_opt`, `query_vec`) skip the cursor inside a
//! transaction: one round trip instead of three, which a bulk run does several times a user.

use std::cell::{Cell, RefCell, RefMut};
use std::collections::HashMap;

use tokio_postgres::Statement;
use tokio_postgres::types::{ToSql, Type};

use super::{DbError, Row, RowInner, Size, ToValue, ValueRef, pg_sql};
use crate::store::sql::postgres::client::{Bound, Deferred, PgClient};

/// The `pg_advisory_xact_lock` key every write transaction takes: pwreset's one-writer lock
/// ("pwreset" + 0), distinct from the migration lock (`..7401`) and the tests' (`..7402`).
pub const WRITER_LOCK_KEY: i64 = 0x7077_7265_7365_7400;

/// Rows fetched per round trip when a query reads through a cursor.
pub(super) const CURSOR_BATCH: usize = 256;

/// Prepared statements kept per connection; past this the cache starts over (statement texts
/// are a fixed, small set, so this only bounds a mistake).
const STATEMENT_CACHE: usize = 256;

/// One PostgreSQL connection and what it keeps between statements.
pub(super) struct PgConn {
    client: RefCell<PgClient>,
    statements: RefCell<HashMap<String, Statement>>,
    /// Statements not sent yet (see the module's note), oldest first.
    queue: RefCell<Vec<Deferred>>,
    in_transaction: Cell<bool>,
    /// The open transaction's `BEGIN` has been sent (it may still sit in `queue` otherwise).
    begun: Cell<bool>,
    /// A statement failed inside the open transaction: PostgreSQL has aborted it, and would
    /// answer COMMIT with a silent rollback.
    aborted: Cell<bool>,
    cursors: Cell<usize>,
    /// A number per query read through a cursor: a prepared FETCH describes the rows of the
    /// cursor it was prepared for, so each query gets cursors (and `FETCH` statements) of its own.
    cursor_ids: RefCell<HashMap<String, usize>>,
    busy_timeout_ms: u32,
}

impl PgConn {
    /// Wrap a connected client; `busy_timeout_ms` bounds the wait for the writer lock.
    pub(super) fn new(client: PgClient, busy_timeout_ms: u32) -> PgConn {
        PgConn {
            client: RefCell::new(client),
            statements: RefCell::new(HashMap::new()),
            queue: RefCell::new(Vec::new()),
            in_transaction: Cell::new(false),
            begun: Cell::new(false),
            aborted: Cell::new(false),
            cursors: Cell::new(0),
            cursor_ids: RefCell::new(HashMap::new()),
            busy_timeout_ms,
        }
    }

    /// The client, unless a streaming query holds it (a callback re-entering the connection
    /// outside a transaction).
    fn client(&self) -> Result<RefMut<'_, PgClient>, DbError> {
        self.client
            .try_borrow_mut()
            .map_err(|_| DbError::reentered())
    }

    /// Whether the connection can be handed to other work (DB-4): no transaction open on it,
    /// nothing queued, and the server still there (read without a round trip).
    pub(super) fn is_reusable(&mut self) -> bool {
        !self.in_transaction.get()
            && self.queue.get_mut().is_empty()
            && self.client.get_mut().is_alive()
    }

    /// The client itself, for migrations; cached statements are forgotten (the schema may
    /// change under them).
    pub(super) fn client_mut(&mut self) -> &mut PgClient {
        self.statements.get_mut().clear();
        self.queue.get_mut().clear();
        self.client.get_mut()
    }

    /// The queued statements, to send now ahead of the one being sent; inside a transaction
    /// that sends its `BEGIN`.
    fn take_queue(&self) -> Vec<Deferred> {
        if self.in_transaction.get() {
            self.begun.set(true);
        }
        std::mem::take(&mut *self.queue.borrow_mut())
    }

    /// `result`, remembering a failure inside a transaction (see `aborted`).
    fn note<T>(&self, result: Result<T, DbError>) -> Result<T, DbError> {
        if result.is_err() && self.in_transaction.get() {
            self.aborted.set(true);
        }
        result
    }

    /// The prepared statement for `sql` (SQLite dialect), preparing it on first use.
    fn prepare(&self, client: &mut PgClient, sql: &str) -> Result<Statement, DbError> {
        if let Some(stmt) = self.statements.borrow().get(sql) {
            return Ok(stmt.clone());
        }
        let stmt = client.prepare_after(self.take_queue(), &pg_sql(sql))?;
        let mut cache = self.statements.borrow_mut();
        if cache.len() >= STATEMENT_CACHE {
            cache.clear();
        }
        cache.insert(sql.to_string(), stmt.clone());
        Ok(stmt)
    }

    /// Run a statement that returns no rows; how many rows it changed.
    pub(super) fn execute(&self, sql: &str, params: &[&dyn ToValue]) -> Result<usize, DbError> {
        self.note(self.execute_unnoted(sql, params))
    }

    fn execute_unnoted(&self, sql: &str, params: &[&dyn ToValue]) -> Result<usize, DbError> {
        let mut client = self.client()?;
        let stmt = self.prepare(&mut client, sql)?;
        let bound = bind(&stmt, params)?;
        let changed = client.execute_after(self.take_queue(), &stmt, &as_refs(&bound))?;
        usize::try_from(changed).map_err(|_| DbError::out_of_range("usize"))
    }

    /// Run a statement whose answer nobody reads: inside a transaction it is queued and sent
    /// with the next statement that is waited for (its failure is that statement's), outside
    /// one it runs at once.
    pub(super) fn defer(&self, sql: &str, params: &[&dyn ToValue]) -> Result<(), DbError> {
        if !self.in_transaction.get() {
            return self.execute(sql, params).map(drop);
        }
        let queued = self.client().and_then(|mut client| {
            let stmt = self.prepare(&mut client, sql)?;
            let bound = bind(&stmt, params)?;
            self.queue.borrow_mut().push(Deferred::Execute(stmt, bound));
            Ok(())
        });
        self.note(queued)
    }

    /// Run statements without parameters whose answer nobody reads: inside a transaction they
    /// are queued (see [`PgConn::defer`]), outside one they run at once.
    pub(super) fn defer_batch(&self, sql: &str) -> Result<(), DbError> {
        if !self.in_transaction.get() {
            return self.batch(sql);
        }
        self.queue
            .borrow_mut()
            .push(Deferred::Batch(sql.to_string()));
        Ok(())
    }

    /// Run statements without parameters (simple query protocol).
    pub(super) fn batch(&self, sql: &str) -> Result<(), DbError> {
        self.note(
            self.client()
                .and_then(|mut c| Ok(c.batch_after(self.take_queue(), sql)?)),
        )
    }

    /// Hand each row to `f` until it returns `false` or the rows run out. Inside a transaction a
    /// [`Size::Stream`] query reads through a cursor (DECLARE, FETCH, CLOSE), anything else in
    /// one round trip.
    pub(super) fn each<E: From<DbError>>(
        &self,
        sql: &str,
        params: &[&dyn ToValue],
        size: Size,
        f: impl FnMut(&Row<'_>) -> Result<bool, E>,
    ) -> Result<(), E> {
        if !self.in_transaction.get() {
            self.each_streamed(sql, params, f)
        } else if size == Size::Stream && is_query(sql) {
            self.each_by_cursor(sql, params, f)
        } else {
            self.each_collected(sql, params, f)
        }
    }

    /// The rows of a writing statement (`INSERT ... RETURNING`, which a cursor cannot hold) or
    /// of a small query: all read first, then handed to `f` with the connection free.
    fn each_collected<E: From<DbError>>(
        &self,
        sql: &str,
        params: &[&dyn ToValue],
        f: impl FnMut(&Row<'_>) -> Result<bool, E>,
    ) -> Result<(), E> {
        let rows = self.note(self.client().and_then(|mut client| {
            let stmt = self.prepare(&mut client, sql)?;
            let bound = bind(&stmt, params)?;
            Ok(client.query_after(self.take_queue(), &stmt, &as_refs(&bound))?)
        }))?;
        hand_over(&rows, f).map(drop)
    }

    /// Rows as they arrive, the connection held until the last one.
    fn each_streamed<E: From<DbError>>(
        &self,
        sql: &str,
        params: &[&dyn ToValue],
        mut f: impl FnMut(&Row<'_>) -> Result<bool, E>,
    ) -> Result<(), E> {
        let mut client = self.client()?;
        let stmt = self.prepare(&mut client, sql)?;
        let bound = bind(&stmt, params)?;
        let mut rows = client
            .query_raw_after(self.take_queue(), &stmt, as_refs(&bound))
            .map_err(DbError::from)?;
        loop {
            let (batch, more) = client
                .next_rows(&mut rows, CURSOR_BATCH)
                .map_err(DbError::from)?;
            if !hand_over(&batch, &mut f)? || !more {
                return Ok(());
            }
        }
    }

    /// Rows through a cursor of this transaction, [`CURSOR_BATCH`] at a time; the connection is
    /// free while `f` runs. Cursors nest (a query inside another's callback) by depth.
    fn each_by_cursor<E: From<DbError>>(
        &self,
        sql: &str,
        params: &[&dyn ToValue],
        f: impl FnMut(&Row<'_>) -> Result<bool, E>,
    ) -> Result<(), E> {
        let depth = self.cursors.get();
        let id = {
            let mut ids = self.cursor_ids.borrow_mut();
            let next = ids.len();
            *ids.entry(sql.to_string()).or_insert(next)
        };
        let name = format!("pwreset_cursor_{id}_{depth}");
        self.execute(
            &format!("DECLARE {name} NO SCROLL CURSOR FOR {sql}"),
            params,
        )?;
        self.cursors.set(depth + 1);
        let result = self.fetch_all(&name, f);
        self.cursors.set(depth);
        // After an error the transaction is aborted and will be rolled back: nothing to close.
        if result.is_ok() {
            self.batch(&format!("CLOSE {name}"))?;
        }
        result
    }

    fn fetch_all<E: From<DbError>>(
        &self,
        name: &str,
        mut f: impl FnMut(&Row<'_>) -> Result<bool, E>,
    ) -> Result<(), E> {
        let fetch = format!("FETCH {CURSOR_BATCH} FROM {name}");
        loop {
            let rows = self.note(self.client().and_then(|mut client| {
                let stmt = self.prepare(&mut client, &fetch)?;
                Ok(client.query_after(self.take_queue(), &stmt, &[])?)
            }))?;
            if !hand_over(&rows, &mut f)? || rows.len() < CURSOR_BATCH {
                return Ok(());
            }
        }
    }

    /// Begin a write transaction holding pwreset's writer lock, waiting at most the busy
    /// timeout for it (a lock timeout is [`ErrorKind::Busy`](super::ErrorKind::Busy), reported
    /// by the transaction's first statement, which the lock precedes on the server).
    pub(super) fn begin_write(&self) {
        self.begin(&format!(
            "BEGIN; SET LOCAL lock_timeout = '{}ms'; SELECT pg_advisory_xact_lock({WRITER_LOCK_KEY})",
            self.busy_timeout_ms
        ));
    }

    /// Begin a write transaction without the writer lock (row locks only), waiting at most
    /// the busy timeout for a row another transaction holds.
    pub(super) fn begin_row_write(&self) {
        self.begin(&format!(
            "BEGIN; SET LOCAL lock_timeout = '{}ms'",
            self.busy_timeout_ms
        ));
    }

    /// Begin a read transaction: one snapshot for every query in it.
    pub(super) fn begin_read(&self) {
        self.begin("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    }

    /// Queue `sql` (a `BEGIN ...`): it goes to the server with the transaction's first
    /// statement, whose failure its own failure (e.g. the lock timeout) becomes.
    fn begin(&self, sql: &str) {
        let mut queue = self.queue.borrow_mut();
        queue.clear();
        queue.push(Deferred::Batch(sql.to_string()));
        self.in_transaction.set(true);
        self.begun.set(false);
        self.aborted.set(false);
    }

    /// Commit the open transaction, sending what is still queued first; a transaction that
    /// never sent anything costs nothing.
    pub(super) fn commit(&self) -> Result<(), DbError> {
        if self.aborted.get() {
            return Err(DbError::aborted());
        }
        if !self.begun.get() && self.queue.borrow().len() <= 1 {
            self.queue.borrow_mut().clear();
            self.in_transaction.set(false);
            return Ok(());
        }
        self.batch("COMMIT")?;
        self.in_transaction.set(false);
        Ok(())
    }

    /// Roll back the open transaction, if any, dropping what is still queued.
    pub(super) fn rollback(&self) {
        if self.in_transaction.replace(false) {
            self.queue.borrow_mut().clear();
            if self.begun.replace(false) {
                // Nothing to report to: the caller is already returning an error or dropped
                // the transaction on purpose; a connection that cannot roll back is broken,
                // and the server rolls back when it closes.
                let _ = self.batch("ROLLBACK");
            }
        }
    }
}

/// Whether `sql` only reads (a cursor can hold it): a SELECT, VALUES or WITH query.
fn is_query(sql: &str) -> bool {
    let head: String = sql
        .trim_start()
        .chars()
        .take(6)
        .collect::<String>()
        .to_ascii_uppercase();
    ["SELECT", "VALUES", "WITH", "("]
        .iter()
        .any(|word| head.starts_with(word))
}

/// Hand `rows` to `f` in order; `false` once `f` asked to stop.
fn hand_over<E>(
    rows: &[tokio_postgres::Row],
    mut f: impl FnMut(&Row<'_>) -> Result<bool, E>,
) -> Result<bool, E> {
    for row in rows {
        let row = Row {
            inner: RowInner::Pg(row),
        };
        if !f(&row)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Each parameter as a value of the type the server inferred for it.
fn bind(stmt: &Statement, params: &[&dyn ToValue]) -> Result<Bound, DbError> {
    let types = stmt.params();
    if types.len() != params.len() {
        return Err(DbError::param_count(types.len(), params.len()));
    }
    types
        .iter()
        .zip(params)
        .enumerate()
        .map(|(i, (ty, param))| convert(i + 1, ty, param.to_value()?))
        .collect()
}

fn convert(
    position: usize,
    ty: &Type,
    value: ValueRef<'_>,
) -> Result<Box<dyn ToSql + Sync + Send>, DbError> {
    Ok(match (value, ty) {
        (ValueRef::Int(n), &Type::INT8) => Box::new(n),
        (ValueRef::Int(n), &Type::INT4) => {
            Box::new(i32::try_from(n).map_err(|_| DbError::out_of_range("integer"))?)
        }
        (ValueRef::Int(n), &Type::INT2) => {
            Box::new(i16::try_from(n).map_err(|_| DbError::out_of_range("smallint"))?)
        }
        (ValueRef::Text(text), t) if is_text(t) => Box::new(text.to_string()),
        (ValueRef::Null, &Type::INT8) => Box::new(None::<i64>),
        (ValueRef::Null, &Type::INT4) => Box::new(None::<i32>),
        (ValueRef::Null, &Type::INT2) => Box::new(None::<i16>),
        (ValueRef::Null, t) if is_text(t) => Box::new(None::<String>),
        (value, ty) => {
            return Err(DbError::param_type(
                position,
                value.type_name(),
                ty.name().to_string(),
            ));
        }
    })
}

fn is_text(ty: &Type) -> bool {
    [
        Type::TEXT,
        Type::VARCHAR,
        Type::BPCHAR,
        Type::NAME,
        Type::UNKNOWN,
    ]
    .contains(ty)
}

fn as_refs(bound: &[Box<dyn ToSql + Sync + Send>]) -> Vec<&(dyn ToSql + Sync)> {
    bound
        .iter()
        .map(|param| param.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

/// Column `i` of a row: integers (and booleans, as 0/1), text, NULL.
pub(super) fn column(row: &tokio_postgres::Row, i: usize) -> Result<ValueRef<'_>, DbError> {
    let Some(column) = row.columns().get(i) else {
        return Err(DbError::no_column(i));
    };
    let int = |n: Option<i64>| n.map_or(ValueRef::Null, ValueRef::Int);
    Ok(match *column.type_() {
        Type::INT8 => int(row.try_get::<_, Option<i64>>(i)?),
        Type::INT4 => int(row.try_get::<_, Option<i32>>(i)?.map(i64::from)),
        Type::INT2 => int(row.try_get::<_, Option<i16>>(i)?.map(i64::from)),
        Type::BOOL => int(row.try_get::<_, Option<bool>>(i)?.map(i64::from)),
        ref t if is_text(t) => row
            .try_get::<_, Option<&str>>(i)?
            .map_or(ValueRef::Null, ValueRef::Text),
        ref other => return Err(DbError::column_type(other.name().to_string())),
    })
}
