//! [`StoreOpener`]: the store a command resolved (SQLite file or PostgreSQL database, with its
//! password), checked once and then opened as often as needed: once by a command, once per
//! request thread by `serve`.
//!
//! Opening a PostgreSQL store connects with the sync `postgres` client, which must never run
//! on a thread inside a tokio runtime; [`StoreOpener::open_off_runtime`] connects on a thread
//! of its own for callers that may be on one.

use crate::db_url::StoreLocation;
use crate::secret::Secret;
use crate::store::{Store, StoreError};

/// A resolved store and how to open it.
#[derive(Debug, Clone)]
pub struct StoreOpener {
    /// Where the store is.
    pub location: StoreLocation,
    /// The PostgreSQL password, if one was found.
    pub password: Option<Secret>,
    /// `store.busy_timeout_ms`.
    pub busy_timeout_ms: u32,
}

impl StoreOpener {
    /// Open (and migrate) the store.
    pub fn open(&self) -> Result<Store, StoreError> {
        match &self.location {
            StoreLocation::Sqlite(path) => Store::open(path, self.busy_timeout_ms),
            StoreLocation::Postgres(target) => {
                Store::open_pg(target, self.password.as_ref(), self.busy_timeout_ms)
            }
        }
    }

    /// [`StoreOpener::open`] on a fresh thread that runs no tokio runtime (the connect and the
    /// migration block on the `postgres` client's own runtime); SQLite opens in place.
    pub fn open_off_runtime(&self) -> Result<Store, StoreError> {
        if matches!(self.location, StoreLocation::Sqlite(_)) {
            return self.open();
        }
        let opener = self.clone();
        std::thread::spawn(move || opener.open())
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }

    /// The store for messages: its path or URL, never a password.
    pub fn describe(&self) -> String {
        match &self.location {
            StoreLocation::Sqlite(path) => path.display().to_string(),
            StoreLocation::Postgres(target) => target.to_string(),
        }
    }
}
