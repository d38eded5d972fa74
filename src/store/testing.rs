//! Unit tests' stores on both backends: [`TestStore`] is a fresh, migrated and keyed store in a
//! temp dir (SQLite) or in a scratch database on the throwaway server (PostgreSQL, dropped with
//! it), and [`on_both_backends!`] turns a test `fn name(backend: Backend)`
//! into two tests, `name::sqlite` and `name::postgres`.
//!
//! Without `PWRESET_TEST_PG` the PostgreSQL variant prints a loud note and returns, except under
//! `CI=true`, where it fails ([`scratch::configured`]). Tests that are about SQLite itself (file
//! modes, WAL, PRAGMAs, old SQLite schemas) do not use this and say why where they are.

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};

use super::Store;
use super::pg::scratch::{self, Scratch};

pub(crate) use super::db::Backend;

/// The busy timeout of test stores, unless a test asks for another.
const BUSY_MS: u32 = 5000;

/// A fresh store on one backend, with a temp dir for the test's other files; it derefs to the
/// [`Store`]. Dropping it removes the dir and (PostgreSQL) drops the database.
pub(crate) struct TestStore {
    // Field order is drop order: the connection closes before its database is dropped.
    store: Store,
    scratch: Option<Scratch>,
    dir: tempfile::TempDir,
}

impl TestStore {
    /// A new store on `backend` (busy timeout 5 s).
    pub(crate) fn new(backend: Backend) -> TestStore {
        Self::with_busy(backend, BUSY_MS)
    }

    /// A new store on `backend` whose writers wait at most `busy_ms` for the write lock.
    pub(crate) fn with_busy(backend: Backend, busy_ms: u32) -> TestStore {
        let dir = tempfile::tempdir().expect("tempdir");
        let scratch = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(Scratch::new().expect("PWRESET_TEST_PG is set")),
        };
        let store = open(&dir, scratch.as_ref(), busy_ms, true);
        TestStore {
            store,
            scratch,
            dir,
        }
    }

    /// Another connection to the same store (for concurrency tests and "a second process").
    pub(crate) fn reopen(&self, busy_ms: u32) -> Store {
        open(&self.dir, self.scratch.as_ref(), busy_ms, false)
    }

    /// The test's temp dir (the SQLite file lives in it; other files may too).
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }
}

fn sqlite_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("t.db")
}

fn open(dir: &tempfile::TempDir, scratch: Option<&Scratch>, busy_ms: u32, create: bool) -> Store {
    let store = match scratch {
        Some(db) => Store::open_pg(&db.target, Some(db.password()), busy_ms),
        None if create => Store::create(&sqlite_path(dir), busy_ms),
        None => Store::open(&sqlite_path(dir), busy_ms),
    };
    store.expect("open the test store")
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

/// Whether the PostgreSQL variant of a test runs (see the module comment).
pub(crate) fn postgres_configured() -> bool {
    scratch::configured()
}

/// For each test function `fn name(backend: Backend)`, a module `name` with the tests `sqlite`
/// and `postgres` calling it on each backend.
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[test]
            fn sqlite() {
                super::$name($crate::store::testing::Backend::Sqlite);
            }

            #[test]
            fn postgres() {
                if $crate::store::testing::postgres_configured() {
                    super::$name($crate::store::testing::Backend::Postgres);
                }
            }
        }
    )+};
}

pub(crate) use on_both_backends;
