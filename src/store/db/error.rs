//! [`DbError`]: every failure of the layer, whatever the backend, with the one [`kind`] the
//! domain and the CLI care about. Its text comes from the backend's own message or names types
//! and positions; it never holds a parameter's value (a digest, an address, a hash).
//!
//! [`kind`]: DbError::kind

/// What kind of failure a [`DbError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Another writer holds the store (SQLite BUSY/LOCKED) and the busy timeout ran out.
    Busy,
    /// A unique or primary-key constraint refused a row.
    Unique,
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

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.cause {
            Cause::Sqlite(err) => err.fmt(f),
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
            _ => None,
        }
    }
}
