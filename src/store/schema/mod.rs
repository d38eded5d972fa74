//! The store's schema: both backends' append-only migration lists side by side
//! ([`sqlite`], [`postgres`]), the version they reach written once ([`LATEST`]), and
//! [`apply`], which brings a store up to it.
//!
//! Adding a migration: append it to both lists, under the same version number, and raise
//! [`LATEST`]; the checks below refuse to build when the lists and the number disagree. The
//! tables are the contract with applications (docs/schema-contract.md): document a new column
//! there, add it to `store::copy`'s table lists, and ARCHITECTURE.md has the rest.

pub mod postgres;
pub mod sqlite;

use std::path::Path;

use super::StoreError;
use super::sql::Conn;
use postgres::PgSchemaError;

/// The schema version this binary writes, on both backends.
pub const LATEST: i64 = 10;

#[allow(clippy::cast_possible_wrap)] // a handful of migrations
const _: () = assert!(
    sqlite::MIGRATIONS.len() as i64 == LATEST,
    "the SQLite list must end at LATEST"
);
const _: () = assert!(
    postgres::MIGRATIONS[postgres::MIGRATIONS.len() - 1].0 == LATEST,
    "the PostgreSQL list must end at LATEST"
);

/// Apply every migration the store has not seen, in one exclusive transaction (PostgreSQL:
/// [`postgres::migrate`], under its advisory lock). Returns how
/// many were applied; applying to an up-to-date store is a no-op. `path` names the store in
/// errors.
pub fn apply(conn: &mut Conn, path: &Path) -> Result<usize, StoreError> {
    conn.with_raw(
        |conn| sqlite::apply(conn, path),
        |client| {
            postgres::migrate(client).map_err(|err| match err {
                PgSchemaError::NewerSchema { found, supported } => StoreError::NewerSchema {
                    path: path.to_path_buf(),
                    found,
                    supported,
                },
                PgSchemaError::Db(err) => StoreError::Db(err.into()),
            })
        },
    )
}
