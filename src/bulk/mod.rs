//! Bulk resets: plan first (every entry resolved, each skip given a reason, the plan stored as a
//! run), then send, one user at a time, each in its own transaction, so that one user's failure
//! never stops the others nor leaves that user half-changed, and an interrupted run can be
//! resumed without mailing anyone twice.
//!
//! Planning streams the selection and the run streams its items from the store, so memory stays
//! flat in the number of users. Nothing here prints: callers get each outcome through a callback.

pub mod batching;
mod plan;
pub mod reissue;
pub mod report;
mod run;
mod runs;

pub use plan::{Entry, PlanSummary, Request, Selection, dry_run, plan};
pub use run::{Outcome, Pacing, Report, RunAction, RunParams, run};
pub use runs::{Close, Items, Resumable, Resume, close, for_each_item, resume, to_do};

use crate::store::StoreError;
use crate::store::sql::DbError;

/// What a bulk run does to each user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send a reset link.
    Link,
    /// Set and email a temporary password.
    Generate,
}

impl Action {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Link => "link",
            Action::Generate => "generate",
        }
    }

    /// Parse a stored name.
    pub fn parse(text: &str) -> Option<Action> {
        match text {
            "link" => Some(Action::Link),
            "generate" => Some(Action::Generate),
            _ => None,
        }
    }
}

/// A bulk run could not be planned or run.
#[derive(Debug, thiserror::Error)]
pub enum BulkError {
    /// The selection could not be read.
    #[error("cannot read the selection: {0}")]
    Input(String),
    /// No run has this id, or it cannot be resumed.
    #[error("{0}")]
    Run(String),
    /// No run has this id.
    #[error("no bulk run {0:?}")]
    UnknownRun(String),
    /// The stored run names an action this pwreset does not know.
    #[error("run {run} has unknown action {action}")]
    UnknownAction {
        /// The run id.
        run: String,
        /// The stored action.
        action: String,
    },
    /// The run was aborted at its prompt, so it cannot be resumed.
    #[error("run {0} was aborted at its prompt and cannot be resumed")]
    Aborted(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An audit row could not be written.
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
}

impl From<DbError> for BulkError {
    fn from(err: DbError) -> Self {
        BulkError::Store(StoreError::Db(err))
    }
}

/// A new run id: UTC time and 4 random hex digits, e.g. `20261122-100000-3f2a`.
pub fn new_run_id(now: jiff::Timestamp, rng: &mut impl rand::CryptoRng) -> String {
    let mut tag = [0_u8; 2];
    rng.fill_bytes(&mut tag);
    format!("{}-{}", now.strftime("%Y%m%d-%H%M%S"), hex::encode(tag))
}

#[cfg(test)]
mod tests;
