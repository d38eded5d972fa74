//! Work a POST starts, run as a unit that the connection cannot cut (WEB-9): the handler does
//! its cheap checks, hands the rest (the hashing permit, the store work, the notice, the
//! failure counters) to a task of the server's runtime, and only awaits its answer. A client
//! that goes away, or the request timeout, drops the handler, never the task. The units still
//! running are counted, so a stop waits for them. It also counts the argon2 hashes running at
//! once (WEB-8), which the tests hold to the number of hashing permits, and the "password
//! changed" notices being sent, so a stop can tell how many it abandons.
//!
//! Knows nothing of pages, stores or tokens: it runs futures and counts.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

use super::page_error::PageError;

/// The units in flight and the hashes running.
#[derive(Debug, Default)]
pub struct Units(Arc<Counts>);

#[derive(Debug, Default)]
struct Counts {
    /// Units started and not yet finished.
    running: AtomicUsize,
    /// Woken when `running` drops to zero.
    idle: Notify,
    /// Hashes running now.
    hashing: AtomicUsize,
    /// The most hashes that ever ran at once.
    peak: AtomicUsize,
    /// Hashes started in all.
    hashes: AtomicUsize,
    /// Notices being sent.
    notices: AtomicUsize,
}

/// What an [`InFlight`] guard counts.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Unit,
    Hash,
    Notice,
}

impl Counts {
    fn of(&self, kind: Kind) -> &AtomicUsize {
        match kind {
            Kind::Unit => &self.running,
            Kind::Hash => &self.hashing,
            Kind::Notice => &self.notices,
        }
    }
}

impl Units {
    /// Run `work` as a unit on the runtime and wait for its answer. Dropping the returned
    /// future leaves the unit running; a unit that panicked is a server error.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, PageError> {
        let running = InFlight::start(&self.0, Kind::Unit);
        let task = tokio::spawn(async move {
            let _running = running;
            work.await
        });
        task.await.map_err(|err| PageError::server(&err))
    }

    /// Units still running.
    pub fn running(&self) -> usize {
        self.0.running.load(Ordering::SeqCst)
    }

    /// Resolves once no unit is running.
    pub async fn finished(&self) {
        loop {
            let idle = self.0.idle.notified();
            if self.running() == 0 {
                return;
            }
            idle.await;
        }
    }

    /// Count a hash as running until the returned guard is dropped.
    pub fn hashing(&self) -> InFlight {
        let (hashing, now) = InFlight::counted(&self.0, Kind::Hash);
        self.0.peak.fetch_max(now, Ordering::SeqCst);
        self.0.hashes.fetch_add(1, Ordering::SeqCst);
        hashing
    }

    /// Count a notice as being sent until the returned guard is dropped.
    pub fn sending(&self) -> InFlight {
        InFlight::start(&self.0, Kind::Notice)
    }

    /// Notices still being sent.
    pub fn notices(&self) -> usize {
        self.0.notices.load(Ordering::SeqCst)
    }

    /// The most hashes that ran at once so far.
    #[cfg(test)]
    pub fn peak_hashes(&self) -> usize {
        self.0.peak.load(Ordering::SeqCst)
    }

    /// Hashes started so far.
    #[cfg(test)]
    pub fn hashes_started(&self) -> usize {
        self.0.hashes.load(Ordering::SeqCst)
    }
}

/// A unit, a hash or a notice in flight: counted from `start` until dropped (a panic
/// included). The last unit to end wakes [`Units::finished`].
pub struct InFlight(Arc<Counts>, Kind);

impl InFlight {
    fn start(counts: &Arc<Counts>, kind: Kind) -> InFlight {
        InFlight::counted(counts, kind).0
    }

    /// The guard, and how many of its kind are in flight with it.
    fn counted(counts: &Arc<Counts>, kind: Kind) -> (InFlight, usize) {
        let now = counts.of(kind).fetch_add(1, Ordering::SeqCst) + 1;
        (InFlight(counts.clone(), kind), now)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let before = self.0.of(self.1).fetch_sub(1, Ordering::SeqCst);
        if before == 1 && matches!(self.1, Kind::Unit) {
            self.0.idle.notify_waiters();
        }
    }
}
