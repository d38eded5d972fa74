//! [`StorePool`]: the store connections `serve` keeps between requests, at most a fixed number
//! open at once, each checked before it is kept and before it is handed out (DB-4). It knows
//! how to open a store only through the opener the CLI hands in, and nothing of requests.
//!
//! - A connection is kept only when it can serve other work ([`Store::is_reusable`]): never one
//!   left inside a transaction (later work would run in it, uncommitted), never one whose
//!   session the server ended.
//! - One handed out again is checked the same way (the server may have ended it meanwhile:
//!   `pg_terminate_backend`, a restart, an idle kill), and one idle longer than
//!   [`PING_AFTER`] also answers a query first.
//! - At most `cap` connections exist at once; work waits for one at most [`WAIT`].

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::OpenError;
use crate::store::Store;

/// How long work waits for a connection when all `cap` are busy.
pub const WAIT: Duration = Duration::from_secs(10);

/// An idle connection older than this answers a query before it is handed out.
pub const PING_AFTER: Duration = Duration::from_secs(30);

/// Opens a store (the CLI's opener).
pub type Open = Arc<dyn Fn() -> Result<Store, OpenError> + Send + Sync>;

/// Store connections kept between requests, at most `cap` open at once.
pub struct StorePool {
    idle: Mutex<Vec<(Store, Instant)>>,
    permits: Arc<Semaphore>,
    cap: usize,
    /// How long work waits for a connection ([`WAIT`]).
    wait: Duration,
}

impl std::fmt::Debug for StorePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorePool")
            .field("cap", &self.cap)
            .finish_non_exhaustive()
    }
}

/// The right to hold one of the pool's connections, until dropped.
#[derive(Debug)]
pub struct Permit(#[allow(dead_code, reason = "held for its drop")] OwnedSemaphorePermit);

impl StorePool {
    /// A pool of at most `cap` connections (at least one).
    pub fn new(cap: usize) -> StorePool {
        let cap = cap.max(1);
        StorePool {
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(cap)),
            cap,
            wait: WAIT,
        }
    }

    /// Every idle connection, taken out (to close them off the runtime).
    #[cfg(test)]
    pub fn drain(&self) -> Vec<Store> {
        self.idle
            .lock()
            .map(|mut idle| idle.drain(..).map(|(store, _)| store).collect())
            .unwrap_or_default()
    }

    /// Wait (at most [`WAIT`]) for the right to use a connection.
    pub async fn permit(&self) -> Result<Permit, OpenError> {
        let acquire = Arc::clone(&self.permits).acquire_owned();
        match tokio::time::timeout(self.wait, acquire).await {
            Ok(Ok(permit)) => Ok(Permit(permit)),
            Ok(Err(closed)) => Err(Box::new(closed)),
            Err(_) => Err(format!(
                "every store connection stayed busy for {}s (serve.store_connections = {})",
                self.wait.as_secs(),
                self.cap
            )
            .into()),
        }
    }

    /// A checked idle connection, or a new one (blocking; under a [`Permit`]).
    pub fn take(&self, _permit: &Permit, open: &Open) -> Result<Store, OpenError> {
        while let Some((mut store, since)) = self.pop() {
            let fresh = since.elapsed() < PING_AFTER;
            if store.is_reusable() && (fresh || store.ping().is_ok()) {
                return Ok(store);
            }
        }
        open()
    }

    /// Keep `store` for later work if it can serve it; drop it otherwise.
    pub fn give_back(&self, mut store: Store) {
        if !store.is_reusable() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < self.cap
        {
            idle.push((store, Instant::now()));
        }
    }

    fn pop(&self) -> Option<(Store, Instant)> {
        self.idle.lock().ok().and_then(|mut idle| idle.pop())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite_pool() -> (tempfile::TempDir, Open, StorePool) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.db");
        Store::create(&path, 1000).expect("create");
        let open: Open = Arc::new(move || Ok(Store::open(&path, 1000)?));
        (dir, open, StorePool::new(2))
    }

    #[tokio::test]
    async fn a_connection_left_inside_a_transaction_is_never_handed_out_again() {
        let (_dir, open, pool) = sqlite_pool();
        let permit = pool.permit().await.expect("permit");
        let store = pool.take(&permit, &open).expect("open");
        store.conn().batch("BEGIN IMMEDIATE").expect("begin");
        pool.give_back(store);
        let mut again = pool.take(&permit, &open).expect("take");
        assert!(again.is_reusable(), "handed out inside a transaction");
        again
            .conn()
            .batch("BEGIN IMMEDIATE; COMMIT")
            .expect("a transaction of its own, and the store is not held");
    }

    #[tokio::test]
    async fn at_most_cap_connections_and_the_wait_for_one_is_bounded() {
        let (_dir, _open, mut pool) = sqlite_pool();
        pool.wait = Duration::from_millis(50);
        let held = (pool.permit().await, pool.permit().await);
        assert!(held.0.is_ok() && held.1.is_ok());
        let err = pool.permit().await.expect_err("the cap");
        assert!(err.to_string().contains("store_connections = 2"), "{err}");
        drop(held);
        assert!(pool.permit().await.is_ok());
    }
}
