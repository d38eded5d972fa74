//! [`DbError`]: every failure of the layer, whatever the backend, with the one [`kind`] the
//! domain and the CLI care about. Its text comes from the backend's own message or names types
//! and positions; it never holds a parameter's value (a digest, an address, a hash).
//!
//! [`kind`]: DbError::kind

/// What kind of failure a [`DbError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Another writer holds the store (SQLite BUSY/LOCKED; PostgreSQL lock timeout,
    /// serialization failure or deadlock) and the busy timeout ran out.
    Busy,
    /// A unique or primary-key constraint refused a row.
    Unique,
    /// The database did not answer in time (DB-4): PostgreSQL's `statement_timeout` cancelled
    /// the statement, or the client gave up waiting and dropped the connection.
    Timeout,
    /// Anything else.
    Other,
}

/// A database failure.
#[derive(Debug)]
pub struct DbError {
    kind: ErrorKind,
    cause: Cause,
}

#[derive(Debug)]
enum Cause {
    Sqlite(rusqlite::Error),
    Pg(tokio_postgres::Error),
    Reentered,
    Aborted,
    ParamType {
        position: usize,
        given: &'static str,
        expected: String,
    },
    ColumnType(String),
    NoColumn(usize),
    WrongType {
        expected: &'static str,
        found: &'static str,
    },
    OutOfRange(&'static str),
    NoRows,
    ParamCount {
        expected: usize,
        given: usize,
    },
}

impl DbError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub(super) fn wrong_type(expected: &'static str, found: super::ValueRef<'_>) -> Self {
        Self::wrong_type_name(expected, found.type_name())
    }

    pub(super) fn wrong_type_name(expected: &'static str, found: &'static str) -> Self {
        Self::other(Cause::WrongType { expected, found })
    }

    pub(super) fn out_of_range(ty: &'static str) -> Self {
        Self::other(Cause::OutOfRange(ty))
    }

    /// A row that must exist was not found.
    pub fn no_rows() -> Self {
        Self::other(Cause::NoRows)
    }

    pub(super) fn param_count(expected: usize, given: usize) -> Self {
        Self::other(Cause::ParamCount { expected, given })
    }

    /// A query re-entered a connection that is still streaming another's rows.
    pub(super) fn reentered() -> Self {
        Self::other(Cause::Reentered)
    }

    /// A commit refused because a statement of the transaction had failed.
    pub(super) fn aborted() -> Self {
        Self::other(Cause::Aborted)
    }

    /// Parameter `position` (1-based) is a `given` where the server expects `expected`.
    pub(super) fn param_type(position: usize, given: &'static str, expected: String) -> Self {
        Self::other(Cause::ParamType {
            position,
            given,
            expected,
        })
    }

    /// A column of a type the layer does not read.
    pub(super) fn column_type(name: String) -> Self {
        Self::other(Cause::ColumnType(name))
    }

    /// A column index past the row's end.
    pub(super) fn no_column(index: usize) -> Self {
        Self::other(Cause::NoColumn(index))
    }

    /// A store still locked by another writer, as a test would meet it.
    #[cfg(test)]
    pub(crate) fn busy_for_tests() -> Self {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(5), None).into()
    }

    fn other(cause: Cause) -> Self {
        DbError {
            kind: ErrorKind::Other,
            cause,
        }
    }
}

impl From<rusqlite::Error> for DbError {
    fn from(err: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        let kind = match &err {
            rusqlite::Error::SqliteFailure(e, _) => match e.code {
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => ErrorKind::Busy,
                ErrorCode::ConstraintViolation
                    if matches!(
                        e.extended_code,
                        rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                            | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                    ) =>
                {
                    ErrorKind::Unique
                }
                _ => ErrorKind::Other,
            },
            _ => ErrorKind::Other,
        };
        DbError {
            kind,
            cause: Cause::Sqlite(err),
        }
    }
}

impl From<tokio_postgres::Error> for DbError {
    fn from(err: tokio_postgres::Error) -> Self {
        use tokio_postgres::error::SqlState;
        let kind = match err.code() {
            Some(code) if *code == SqlState::UNIQUE_VIOLATION => ErrorKind::Unique,
            Some(code)
                if *code == SqlState::LOCK_NOT_AVAILABLE
                    || *code == SqlState::T_R_SERIALIZATION_FAILURE
                    || *code == SqlState::T_R_DEADLOCK_DETECTED =>
            {
                ErrorKind::Busy
            }
            Some(code) if *code == SqlState::QUERY_CANCELED => ErrorKind::Timeout,
            // The client's own bound (`postgres::client`): the error's one fixed label.
            None if err.to_string() == "timeout waiting for server" => ErrorKind::Timeout,
            _ => ErrorKind::Other,
        };
        DbError {
            kind,
            cause: Cause::Pg(err),
        }
    }
}

/// A PostgreSQL error's text: the server's severity, message and SQLSTATE, never its DETAIL
/// (which quotes the values of a violating row, e.g. `Key (lower(email))=(...)`).
fn pg_text(err: &tokio_postgres::Error, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    match err.as_db_error() {
        Some(db) => write!(
            f,
            "{}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        ),
        None => std::fmt::Display::fmt(err, f),
    }
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.cause {
            Cause::Sqlite(err) => err.fmt(f),
            Cause::Pg(err) => pg_text(err, f),
            Cause::Reentered => {
                f.write_str("a query used the connection while another was still reading rows")
            }
            Cause::Aborted => {
                f.write_str("the transaction was not committed: a statement in it had failed")
            }
            Cause::ParamType {
                position,
                given,
                expected,
            } => write!(
                f,
                "parameter {position} is {given} where the server expects {expected}: cast it in the SQL"
            ),
            Cause::ColumnType(name) => {
                write!(
                    f,
                    "wrong column type: expected integer or text, found {name}"
                )
            }
            Cause::NoColumn(index) => write!(f, "no column {index} in the row"),
            Cause::WrongType { expected, found } => {
                write!(f, "wrong column type: expected {expected}, found {found}")
            }
            Cause::OutOfRange(ty) => write!(f, "value out of range for {ty}"),
            Cause::NoRows => f.write_str("Query returned no rows"),
            Cause::ParamCount { expected, given } => {
                write!(
                    f,
                    "wrong number of parameters: expected {expected}, given {given}"
                )
            }
        }
    }
}

impl std::error::Error for DbError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.cause {
            // Transparent: the backend's error is this error's text already.
            Cause::Sqlite(err) => err.source(),
            // Not the postgres error itself: its text carries the DETAIL this one leaves out.
            _ => None,
        }
    }
}
