//! Stored runs after planning: closing one (`done`, or `aborted` at its prompt), checking that
//! one can be resumed, counting what is left, and reading its items back for a report.
//!
//! Returns domain values and [`BulkError`]s; how they are worded for an operator, and whether
//! anyone is asked anything, is the caller's business. No SQL here: it is in `store::bulk`.

use crate::store::sql::{Conn, DbError};
use jiff::Timestamp;

use super::{Action, BulkError};
use crate::store::Store;
use crate::store::bulk::{self, Counts, Item};
use crate::user::User;

/// How a run that is not sent ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// Nothing was left to do.
    Done,
    /// The operator said no at the prompt; the run cannot be resumed.
    Aborted,
}

/// Mark a run as finished without sending anything.
pub fn close(store: &mut Store, run_id: &str, how: Close, now: Timestamp) -> Result<(), BulkError> {
    let status = match how {
        Close::Done => "done",
        Close::Aborted => "aborted",
    };
    let tx = store.write()?;
    bulk::set_run_status(&tx, run_id, status, now.as_second())?;
    tx.commit()?;
    Ok(())
}

/// A stored run that can be resumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resumable {
    /// The run id.
    pub run_id: String,
    /// What the run does.
    pub action: Action,
    /// The recipient override the run was planned with.
    pub deliver_to: Option<String>,
    /// Its items by status.
    pub counts: Counts,
}

/// What resuming a run comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    /// Users are left to do.
    Ready(Resumable),
    /// Every user was done or skipped; `sent` of them were done.
    NothingLeft {
        /// Users done.
        sent: u64,
    },
}

/// Check that run `id` exists, has a known action and was not aborted, and count what is left.
pub fn resume(conn: &Conn, id: &str) -> Result<Resume, BulkError> {
    let run = bulk::run(conn, id)?.ok_or_else(|| BulkError::UnknownRun(id.to_string()))?;
    let action = Action::parse(&run.action).ok_or_else(|| BulkError::UnknownAction {
        run: id.to_string(),
        action: run.action.clone(),
    })?;
    if run.status == "aborted" {
        return Err(BulkError::Aborted(id.to_string()));
    }
    let counts = bulk::counts(conn, id)?;
    if counts.pending + counts.failed + counts.sending == 0 {
        return Ok(Resume::NothingLeft { sent: counts.sent });
    }
    Ok(Resume::Ready(Resumable {
        run_id: run.id,
        action,
        deliver_to: run.deliver_to,
        counts,
    }))
}

/// Users still to do in a run (pending, or failed and worth another try).
pub fn to_do(conn: &Conn, run_id: &str) -> Result<u64, BulkError> {
    let counts = bulk::counts(conn, run_id)?;
    Ok(counts.pending + counts.failed)
}

/// Which items of a run to read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Items {
    /// Those skipped when planning.
    Skipped,
    /// Every item, whatever its status (the report of a run).
    All,
}

impl Items {
    /// The statuses to read; none listed reads every item (`interrupted` ones too), in order.
    fn statuses(self) -> &'static [&'static str] {
        match self {
            Items::Skipped => &["skipped"],
            Items::All => &[],
        }
    }
}

/// Hand these items of a run to `f` in order, each with its user, streamed from one query
/// (`f` may not use the store meanwhile).
pub fn for_each_item<E: From<BulkError>>(
    conn: &Conn,
    run_id: &str,
    which: Items,
    mut f: impl FnMut(&Item, Option<&User>) -> Result<(), E>,
) -> Result<(), E> {
    let streamed = bulk::each_item(conn, run_id, which.statuses(), |item, user| {
        f(&item, user.as_ref()).map_err(Streamed::Caller)
    });
    streamed.map_err(Streamed::into_error)
}

/// While streaming items: the store's error, or the one the caller's function returned.
pub(super) enum Streamed<E> {
    Store(DbError),
    Caller(E),
}

impl<E: From<BulkError>> Streamed<E> {
    /// The caller's error type, either way.
    pub(super) fn into_error(self) -> E {
        match self {
            Streamed::Store(err) => E::from(BulkError::from(err)),
            Streamed::Caller(err) => err,
        }
    }
}

impl<E> From<DbError> for Streamed<E> {
    fn from(err: DbError) -> Self {
        Streamed::Store(err)
    }
}
