//! Unit tests' stores on both backends: [`TestStore`] is a fresh, migrated and keyed store in a
//! temp dir (SQLite) or in a scratch database on the throwaway server (PostgreSQL, dropped with
//! it), and [`on_both_backends!`] turns a test `fn name(backend: Backend)` (or an `async fn`)
//! into two tests, `name::sqlite` and `name::postgres`.
//!
//! The PostgreSQL variant is `#[ignore]`d, with the reason, unless `cfg(pwreset_pg)` is on
//! (`build.rs`: `PWRESET_TEST_PG_TESTS=1`, which `.ci/pg-server start` exports, or `CI=true`);
//! when it is on, a missing server fails it (`pg::scratch::configured`). Tests that are about
//! SQLite itself (file modes, WAL, PRAGMAs, old SQLite schemas) do not use this and say why
//! where they are.
//!
//! The sync PostgreSQL client refuses to connect inside a tokio runtime (and panics if used
//! there), so everything here that connects does it on a thread of its own: a [`Place`] may be
//! made, opened and dropped from an async test.

use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::sync::Arc;

use super::sql::postgres::scratch::Scratch;
use super::{Store, StoreError};
use crate::db_url::PgTarget;
use crate::secret::Secret;

pub(crate) use super::sql::Backend;

/// The busy timeout of test stores, unless a test asks for another.
const BUSY_MS: u32 = 5000;

/// Where a test's store lives: a temp dir (which also holds the SQLite file) and, on
/// PostgreSQL, the scratch database. Dropping it removes both.
pub(crate) struct Place {
    // Field order is drop order: the database goes before the dir.
    scratch: Option<Scratch>,
    dir: tempfile::TempDir,
}

/// A function opening a new connection to a [`Place`]'s store, from any thread.
pub(crate) type Opener = Arc<dyn Fn() -> Result<Store, StoreError> + Send + Sync>;

impl Place {
    /// A new, migrated store on `backend`; its first connection, keyed, comes with it.
    pub(crate) fn new(backend: Backend, busy_ms: u32) -> (Place, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let scratch = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(off_runtime(|| {
                Scratch::new().expect("cfg(pwreset_pg) is on")
            })),
        };
        let place = Place { scratch, dir };
        let store = match &place.scratch {
            Some(_) => place.opener(busy_ms)(),
            None => Store::create(&place.sqlite_path(), busy_ms),
        };
        (place, store.expect("create the test store"))
    }

    /// Opens another connection to the store (a PostgreSQL one on a thread of its own, as
    /// `serve` does).
    pub(crate) fn opener(&self, busy_ms: u32) -> Opener {
        match &self.scratch {
            None => {
                let path = self.sqlite_path();
                Arc::new(move || Store::open(&path, busy_ms))
            }
            Some(db) => {
                let (target, password): (PgTarget, Secret) =
                    (db.target.clone(), db.password().clone());
                Arc::new(move || off_runtime(|| Store::open_pg(&target, Some(&password), busy_ms)))
            }
        }
    }

    /// Make the store disappear (SQLite: remove the file; PostgreSQL: drop the database).
    pub(crate) fn destroy(&self) {
        match &self.scratch {
            None => std::fs::remove_file(self.sqlite_path()).expect("remove the store"),
            Some(db) => db.drop_database().expect("drop the database"),
        }
    }

    fn sqlite_path(&self) -> PathBuf {
        self.dir.path().join("t.db")
    }
}

/// A fresh store on one backend and its [`Place`]; it derefs to the [`Store`].
pub(crate) struct TestStore {
    // Field order is drop order: the connection closes before its database is dropped.
    store: Store,
    place: Place,
}

impl TestStore {
    /// A new store on `backend` (busy timeout 5 s).
    pub(crate) fn new(backend: Backend) -> TestStore {
        let (place, store) = Place::new(backend, BUSY_MS);
        TestStore { store, place }
    }

    /// Another connection to the same store (for concurrency tests and "a second process").
    pub(crate) fn reopen(&self, busy_ms: u32) -> Store {
        self.place.opener(busy_ms)().expect("open the test store again")
    }
}

impl Deref for TestStore {
    type Target = Store;

    fn deref(&self) -> &Store {
        &self.store
    }
}

impl DerefMut for TestStore {
    fn deref_mut(&mut self) -> &mut Store {
        &mut self.store
    }
}

/// Run `f` on a thread of its own, outside any tokio runtime.
pub(crate) fn off_runtime<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(r) => r,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// For each test function `fn name(backend: Backend)`, a module `name` with the tests `sqlite`
/// and `postgres` calling it on each backend; `async` first: async functions, run by
/// `#[tokio::test]`.
macro_rules! on_both_backends {
    (async $($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name($crate::store::testing::Backend::Sqlite).await;
            }

            #[tokio::test]
            #[cfg_attr(not(pwreset_pg), ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\"")]
            async fn postgres() {
                super::$name($crate::store::testing::Backend::Postgres).await;
            }
        }
    )+};
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[test]
            fn sqlite() {
                super::$name($crate::store::testing::Backend::Sqlite);
            }

            #[test]
            #[cfg_attr(not(pwreset_pg), ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\"")]
            fn postgres() {
                super::$name($crate::store::testing::Backend::Postgres);
            }
        }
    )+};
}

pub(crate) use on_both_backends;
