//! The store: opening it safely (SQLite: 0600 files, WAL, foreign keys, busy timeout;
//! PostgreSQL: TLS per `sslmode`, a bounded connect) and applying migrations.
//!
//! Three layers, bottom up:
//! - [`sql`]: the SQL driver, one connection type over SQLite or PostgreSQL, with the
//!   dialect's differences named (`sql::postgres` holds PostgreSQL's connection setup: where
//!   a server is, TLS, `.pgpass`). It knows none of pwreset's tables.
//! - [`schema`]: both backends' migration lists side by side, the latest version written once.
//! - the table modules ([`users`], [`tokens`], [`audit`], [`bulk`], [`intents`],
//!   [`temp_passwords`], and [`copy`] across them): the SQL for each table, written once for
//!   both backends, so no domain module sees a backend's types.
//!
//! Nothing here knows about terminals or flags; all SQL in pwreset lives under this module and
//! is parameterised. ARCHITECTURE.md has the checklist for adding a column, a query or a
//! migration.

pub mod audit;
pub mod bulk;
pub mod copy;
pub mod intents;
pub mod schema;
pub mod sql;
pub mod temp_passwords;
#[cfg(test)]
pub(crate) mod testing;
pub mod tokens;
#[cfg(test)]
mod trigger_tests;
pub mod users;

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::db_url::PgTarget;
use sql::postgres::PgConnectError;
use sql::{Conn, DbError, Tx};

use crate::secret::Secret;

/// An open, migrated store.
#[derive(Debug)]
pub struct Store {
    conn: Conn,
    /// The SQLite file, or the PostgreSQL target's URL (no password), for messages.
    path: PathBuf,
}

/// A problem opening or using the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file does not exist.
    #[error("store {} does not exist", path.display())]
    Missing {
        /// The expected location.
        path: PathBuf,
    },
    /// The database file or its companions could not be created or opened.
    #[error("cannot open store {}: {source}", path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// The underlying error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The store was written by a newer pwreset.
    #[error("store {} has schema version {found}, newer than the {supported} this pwreset supports", path.display())]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// The version found in the file.
        found: i64,
        /// The newest version this binary knows.
        supported: i64,
    },
    /// No connection to the PostgreSQL store could be opened.
    #[error(transparent)]
    Connect(#[from] PgConnectError),
    /// Any other database error.
    #[error("store error: {0}")]
    Db(#[from] DbError),
}

impl Store {
    /// Create the store if needed (files 0600) and migrate it.
    pub fn create(path: &Path, busy_timeout_ms: u32) -> Result<Store, StoreError> {
        precreate_private(path)?;
        Self::open_migrated(path, busy_timeout_ms)
    }

    /// Open an existing store and migrate it; a missing file is an error.
    pub fn open(path: &Path, busy_timeout_ms: u32) -> Result<Store, StoreError> {
        if !path.is_file() {
            return Err(StoreError::Missing {
                path: path.to_path_buf(),
            });
        }
        precreate_private(path)?;
        Self::open_migrated(path, busy_timeout_ms)
    }

    fn open_migrated(path: &Path, busy_timeout_ms: u32) -> Result<Store, StoreError> {
        let open_err = |source: DbError| StoreError::Open {
            path: path.to_path_buf(),
            source: Box::new(source),
        };
        let mut conn = Conn::open_sqlite(path, busy_timeout_ms).map_err(open_err)?;
        schema::apply(&mut conn, path)?;
        Ok(Self::migrated(conn, path))
    }

    /// Connect to a PostgreSQL store (with `password` if the server asks for one) and migrate
    /// it if a migration is due; write transactions, and any statement that meets another
    /// session's lock, wait at most `busy_timeout_ms` (DB-4: as SQLite's busy timeout). Must
    /// not be called on a thread running a tokio runtime
    /// ([`PgConnectError::InsideAsyncRuntime`]).
    pub fn open_pg(
        target: &PgTarget,
        password: Option<&Secret>,
        busy_timeout_ms: u32,
    ) -> Result<Store, StoreError> {
        let client = sql::postgres::connect(target, password)?;
        let mut conn = Conn::from_pg(client, busy_timeout_ms);
        let name = PathBuf::from(target.to_string());
        schema::apply(&mut conn, &name)?;
        // After migrating, which waits for another's migration longer.
        conn.batch(&format!("SET lock_timeout = '{busy_timeout_ms}ms'"))?;
        Ok(Self::migrated(conn, &name))
    }

    /// The store around a migrated connection.
    fn migrated(conn: Conn, path: &Path) -> Store {
        Store {
            conn,
            path: path.to_path_buf(),
        }
    }

    /// The database file, or a PostgreSQL store's URL (without a password).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection, for reads.
    pub fn conn(&self) -> &Conn {
        &self.conn
    }

    /// Whether this store's connection can serve other work: no transaction left open on it,
    /// and the server still there ([`Conn::is_reusable`]). A pool checks it before keeping or
    /// handing out a connection (DB-4).
    pub fn is_reusable(&mut self) -> bool {
        self.conn.is_reusable()
    }

    /// Touch the store with a query of its own tables: a health check, and the check of a
    /// pooled connection that sat idle long. An SQLite store whose file is gone fails it too
    /// (an open handle would keep reading the deleted file).
    pub fn ping(&self) -> Result<(), StoreError> {
        if !self.conn.is_postgres() && !self.path.is_file() {
            return Err(StoreError::Missing {
                path: self.path.clone(),
            });
        }
        self.conn.query_one(
            "SELECT count(*) FROM users WHERE id = 0",
            &crate::vals![],
            |r| r.get::<i64>(0),
        )?;
        Ok(())
    }

    /// Limit SQLite's page cache (KiB). Bulk runs do point lookups and appends, so a small cache
    /// keeps their memory the same for a thousand users or a million.
    pub fn limit_cache(&self, kib: u32) -> Result<(), StoreError> {
        Ok(self.conn.limit_cache(kib)?)
    }

    /// Begin a write transaction that takes the write lock at once, so that read-then-write
    /// sequences (the audit chain, single-use tokens) cannot interleave with another process.
    pub fn write(&mut self) -> Result<Tx<'_>, StoreError> {
        Ok(self.conn.begin_write()?)
    }

    /// Begin a transaction that claims bulk items: it appends no audit row and keeps no
    /// invariant across rows, so on PostgreSQL it takes no writer lock and several processes
    /// claim at once (see [`bulk::claim_next`]); on SQLite it is [`Store::write`].
    pub fn claim(&mut self) -> Result<Tx<'_>, StoreError> {
        Ok(self.conn.begin_row_write()?)
    }

    /// Begin a transaction that writes for one user only and appends no audit row (a link's
    /// pending token and its mail intent): on PostgreSQL it locks that user's row instead of
    /// taking the writer lock, so its checks (the cooldown) and writes cannot interleave with
    /// another's for the same user while other users' go on; on SQLite it is [`Store::write`].
    pub fn write_for_user(&mut self, user_id: i64) -> Result<Tx<'_>, StoreError> {
        let tx = self.conn.begin_row_write()?;
        users::lock(&tx, user_id)?;
        Ok(tx)
    }

    /// [`Store::write_for_user`] for several users (a bulk run's batch): their rows locked
    /// together, in id order.
    pub fn write_for_users(&mut self, user_ids: &[i64]) -> Result<Tx<'_>, StoreError> {
        let tx = self.conn.begin_row_write()?;
        users::lock_many(&tx, user_ids)?;
        Ok(tx)
    }
}

/// The companion files SQLite may create beside the database.
pub fn companion_paths(path: &Path) -> Vec<PathBuf> {
    ["-wal", "-shm", "-journal"]
        .iter()
        .map(|suffix| {
            let mut name = path.as_os_str().to_os_string();
            name.push(suffix);
            PathBuf::from(name)
        })
        .collect()
}

/// Create the database and its WAL and shared-memory files with mode 0600 before SQLite first
/// opens them, so that no moment exists in which they are readable by others. Existing files are
/// left as they are.
fn precreate_private(path: &Path) -> Result<(), StoreError> {
    let companions = companion_paths(path);
    for file in std::iter::once(path).chain(companions.iter().take(2).map(PathBuf::as_path)) {
        OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(file)
            .map_err(|source| StoreError::Open {
                path: file.to_path_buf(),
                source: Box::new(source),
            })?;
    }
    Ok(())
}

// `create` and `open` are SQLite's (file modes, a missing file); PostgreSQL's opening has its
// own test here and the store's behaviour runs on both through `testing`.
#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn create_makes_private_files_and_open_finds_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.db");
        let store = Store::create(&path, 1000).expect("create");
        store
            .conn()
            .batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            .expect("write");
        for file in std::iter::once(path.clone()).chain(companion_paths(&path).into_iter().take(2))
        {
            let mode = std::fs::metadata(&file)
                .expect("exists")
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(mode, 0o600, "{}", file.display());
        }
        drop(store);
        assert!(Store::open(&path, 1000).is_ok());
        assert_eq!(crate::fsmode::loose_mode(&path), None);
    }

    #[test]
    fn open_refuses_a_missing_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = Store::open(&dir.path().join("none.db"), 1000).expect_err("missing");
        assert!(matches!(err, StoreError::Missing { .. }));
        assert!(
            !dir.path().join("none.db").exists(),
            "open must not create the file"
        );
    }

    #[test]
    #[cfg_attr(
        not(pwreset_pg),
        ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
    )]
    fn a_postgres_store_is_migrated_once_and_named_by_its_url() {
        let Some(db) = sql::postgres::scratch::Scratch::new() else {
            return;
        };
        let password = db.password();
        let store = Store::open_pg(&db.target, Some(password), 1000).expect("open");
        assert_eq!(store.conn().backend(), sql::Backend::Postgres);
        assert_eq!(store.path(), Path::new(&db.target.to_string()));
        drop(store);
        let again = Store::open_pg(&db.target, Some(password), 1000).expect("reopen");
        let version: i64 = again
            .conn()
            .query_one(
                "SELECT max(version) FROM pwreset_schema_version",
                &crate::vals![],
                |r| r.get(0),
            )
            .expect("version");
        assert_eq!(version, schema::LATEST);
    }

    #[test]
    #[cfg_attr(
        not(pwreset_pg),
        ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
    )]
    fn on_postgres_every_statement_is_planned_for_the_tables_as_they_are() {
        let Some(db) = sql::postgres::scratch::Scratch::new() else {
            return;
        };
        let mut store = Store::open_pg(&db.target, Some(db.password()), 100).expect("open");
        let mode_now = |conn: &sql::Conn| -> String {
            conn.query_one(
                "SELECT current_setting('plan_cache_mode')",
                &crate::vals![],
                |r| r.get(0),
            )
            .expect("plan_cache_mode")
        };
        assert_eq!(mode_now(store.conn()), "force_custom_plan");
        for commit in [true, false] {
            let tx = store.write().expect("write");
            let inside = tx.with_cached_plans(|| Ok(mode_now(&tx))).expect("inside");
            assert_eq!(inside, "auto", "inserts may use cached plans");
            if commit {
                tx.commit().expect("commit");
            } else {
                drop(tx);
            }
            assert_eq!(
                mode_now(store.conn()),
                "force_custom_plan",
                "and then no more"
            );
        }
    }

    #[test]
    #[cfg_attr(
        not(pwreset_pg),
        ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
    )]
    fn on_postgres_writing_for_a_user_waits_only_for_that_user() {
        let Some(db) = sql::postgres::scratch::Scratch::new() else {
            return;
        };
        let open = || Store::open_pg(&db.target, Some(db.password()), 100).expect("open");
        let (mut one, mut two) = (open(), open());
        for name in ["alice", "bob"] {
            one.conn()
                .execute(
                    "INSERT INTO users (username, created_at, updated_at) VALUES (?1, 0, 0)",
                    &crate::vals![name],
                )
                .expect("user");
        }
        let held = one.write_for_user(1).expect("begin");
        held.query_vec("SELECT id FROM users", &crate::vals![], |r| r.get::<i64>(0))
            .expect("the row lock is taken with the first statement");
        let other = two.write_for_user(2).expect("begin");
        other
            .query_vec("SELECT 1", &crate::vals![], |r| r.get::<i64>(0))
            .expect("another user's row is free, and no writer lock is held");
        other.commit().expect("commit");
        let busy = two.write_for_user(1).expect("begin");
        let err = busy
            .query_vec("SELECT 1", &crate::vals![], |r| r.get::<i64>(0))
            .expect_err("the same user waits, at most the busy timeout");
        assert_eq!(err.kind(), sql::ErrorKind::Busy, "{err}");
        drop(busy);
        let writer = two.write().expect("begin");
        writer
            .query_vec("SELECT 1", &crate::vals![], |r| r.get::<i64>(0))
            .expect("the writer lock is not held by a user's transaction");
        assert_eq!(
            tokens::revoke_outstanding(&writer, 2, 0, "test").expect("another user's links"),
            0
        );
        let revoke = tokens::revoke_outstanding(&writer, 1, 0, "test")
            .expect_err("revoking the user's links waits for the link being prepared");
        assert_eq!(revoke.kind(), sql::ErrorKind::Busy, "{revoke}");
        drop(writer);
        let writer = two.write().expect("begin");
        let all = tokens::revoke_all(&writer, 0, "test").expect_err("so does revoking all");
        assert_eq!(all.kind(), sql::ErrorKind::Busy, "{all}");
        drop(writer);
        held.commit().expect("commit");
    }
}
