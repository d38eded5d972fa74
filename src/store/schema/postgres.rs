//! The schema in PostgreSQL's dialect, as an append-only list of migrations tracked in the
//! `pwreset_schema_version` table.
//!
//! PostgreSQL stores start at schema 5 (the SQLite store's V1..V5 in one step, see
//! `postgres_v5.sql`); a later schema version adds one entry here and one to the SQLite list.
//! Migrations run in one transaction under their own advisory lock, so concurrent pwreset
//! processes apply them once, all or nothing (PostgreSQL DDL is transactional).

use super::LATEST;
use crate::store::sql::postgres::PgClient;

/// Each entry brings the store to the schema version it names, from the previous entry's.
pub(super) const MIGRATIONS: &[(i64, &str)] = &[
    (5, include_str!("postgres_v5.sql")),
    (6, include_str!("postgres_v6.sql")),
    (7, include_str!("postgres_v7.sql")),
    // The user's language tag (see the SQLite list's V8).
    (8, "ALTER TABLE users ADD COLUMN locale TEXT"),
    // A run's items in order whatever their status (see the SQLite list's V9).
    (
        9,
        "CREATE INDEX bulk_items_in_order ON bulk_items(run_id, position)",
    ),
    (10, include_str!("postgres_v10.sql")),
];

/// The advisory lock key (a session lock) under which migrations run ("pwreset" + 1).
pub const MIGRATION_LOCK_KEY: i64 = 0x7077_7265_7365_7401;

/// How long a migration waits for another process's migration or for a table lock.
const LOCK_TIMEOUT: &str = "60s";

const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS pwreset_schema_version (
    version    BIGINT PRIMARY KEY,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)";

/// A problem migrating a PostgreSQL store.
#[derive(Debug, thiserror::Error)]
pub enum PgSchemaError {
    /// The database was migrated by a newer pwreset.
    #[error(
        "the database has schema version {found}, newer than the {supported} this pwreset supports"
    )]
    NewerSchema {
        /// The version found.
        found: i64,
        /// The newest version this binary knows.
        supported: i64,
    },
    /// The server refused a statement.
    #[error("migrating the database failed: {0}")]
    Db(#[from] tokio_postgres::Error),
}

/// The schema version recorded in the database; 0 for a database pwreset never migrated.
pub fn version(client: &mut PgClient) -> Result<i64, tokio_postgres::Error> {
    let exists: bool = client
        .query_one(
            "SELECT to_regclass('pwreset_schema_version') IS NOT NULL",
            &[],
        )?
        .get(0);
    if !exists {
        return Ok(0);
    }
    client
        .query_one(
            "SELECT coalesce(max(version), 0) FROM pwreset_schema_version",
            &[],
        )
        .map(|row| row.get(0))
}

/// Apply every migration the database has not seen, in one transaction, holding
/// [`MIGRATION_LOCK_KEY`]. Returns how many were applied: 0 for an up-to-date database. A newer
/// schema is refused and left untouched.
///
/// The version is read first without the lock: an up-to-date database (every open but the
/// first after an upgrade) takes no lock at all, so opens never queue behind one another.
/// Only when a migration is due is the lock taken (a session lock, waited for at most
/// `LOCK_TIMEOUT`) and the version read again, in a transaction begun once the lock is held:
/// a transaction begun earlier would keep the catalog it saw before another process's
/// migration committed, and migrate again.
pub fn migrate(client: &mut PgClient) -> Result<usize, PgSchemaError> {
    match version(client)? {
        LATEST => return Ok(0),
        found if found > LATEST => {
            return Err(PgSchemaError::NewerSchema {
                found,
                supported: LATEST,
            });
        }
        _ => {}
    }
    client.batch_execute(&format!("SET lock_timeout = '{LOCK_TIMEOUT}'"))?;
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK_KEY])?;
    let result = migrate_in_transaction(client);
    // Closing the session releases the lock too, should this fail.
    let _ = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK_KEY]);
    result
}

/// [`migrate`]'s transaction, begun with the lock held.
fn migrate_in_transaction(client: &mut PgClient) -> Result<usize, PgSchemaError> {
    client.batch_execute("BEGIN")?;
    match migrate_locked(client) {
        Ok(applied) => {
            client.batch_execute("COMMIT")?;
            Ok(applied)
        }
        Err(err) => {
            // The error is what to report; a connection that cannot roll back is broken, and
            // the server rolls back when it closes.
            let _ = client.batch_execute("ROLLBACK");
            Err(err)
        }
    }
}

/// [`migrate`]'s work inside its transaction.
fn migrate_locked(tx: &mut PgClient) -> Result<usize, PgSchemaError> {
    let found = version(tx)?;
    if found > LATEST {
        return Err(PgSchemaError::NewerSchema {
            found,
            supported: LATEST,
        });
    }
    let pending: Vec<&(i64, &str)> = MIGRATIONS.iter().filter(|(v, _)| *v > found).collect();
    if pending.is_empty() {
        return Ok(0);
    }
    tx.batch_execute(VERSION_TABLE)?;
    for (to, sql) in &pending {
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO pwreset_schema_version (version) VALUES ($1)",
            &[to],
        )?;
    }
    Ok(pending.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_ends_at_latest_and_only_grows() {
        assert_eq!(MIGRATIONS.last().map(|(v, _)| *v), Some(LATEST));
        assert!(MIGRATIONS.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(LATEST, super::super::LATEST, "both stores share the number");
    }
}
