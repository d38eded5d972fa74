//! The driver of a "mail a secret, then commit" action: after the mail (or its failure),
//! [`settle`] commits or [`abandon`] undoes, each in one transaction with the audit row and the
//! bulk item. [`settle_batch`] is the one commit path: it commits the users of a batch whose
//! mails were accepted (a bulk run on PostgreSQL commits 32 at a time) in one transaction, and
//! [`settle`] is a batch of one. What is committed or undone is the action's own [`Flow`]; this
//! file holds no SQL of its own and knows nothing of terminals, flags or exit codes.

use std::collections::HashMap;

use crate::store::sql::{Conn, DbError};

use super::crash::{self, CrashPoint};
use super::job::{Finished, finish_batch};
use super::{DeliveryError, FlowError, ItemEnd, Job};
use crate::audit::Outcome;
use crate::mail::Recipient;
use crate::store::bulk::Produced;
use crate::store::{Store, StoreError, users};
use crate::user::User;

/// How [`settle`] ends a committed action: the audit detail, the bulk item's reason and
/// expiry, and the result (audited `ok` if it is `Ok`, `failed` otherwise).
#[derive(Debug)]
pub struct Ending<T, E: FlowError> {
    /// The audit row's detail.
    pub detail: String,
    /// Why the bulk item failed, if it did.
    pub reason: Option<String>,
    /// When the link or password expires, if committed.
    pub expires_at: Option<i64>,
    /// The link or temporary password it produced, recorded on the bulk item.
    pub produced: Produced,
    /// What the caller gets.
    pub result: Result<T, DeliveryError<E>>,
}

/// How [`abandon`] ends an action whose mail was not rendered or not accepted (audited
/// `failed`).
#[derive(Debug)]
pub struct Undone<E: FlowError> {
    /// The audit row's detail.
    pub detail: String,
    /// Why the bulk item failed.
    pub reason: String,
    /// The (dead) link or temporary password it produced, recorded on the bulk item.
    pub produced: Produced,
    /// What the caller gets.
    pub err: DeliveryError<E>,
}

/// What [`Flow::commit`] returns: how the action ends, or a failure of the store.
pub type Committed<T, E> = Result<Ending<T, E>, DeliveryError<E>>;

/// What [`Flow::commit_batch`] returns: how each action ends, in order, or a failure of the
/// store.
pub type CommittedBatch<T, E> = Result<Vec<Ending<T, E>>, DeliveryError<E>>;

/// What [`settle_batch`] returns: each user's answer, in order, or a failure of the store
/// (then nothing was committed).
pub type Settled<T, E> = Result<Vec<Result<T, DeliveryError<E>>>, DeliveryError<E>>;

/// One user whose mail was accepted, to be committed by [`settle_batch`].
pub struct Accepted<'j, F: Flow + ?Sized> {
    /// The user's job (with the intent it resolves).
    pub job: Job<'j>,
    /// What was written or made before the mail.
    pub staged: F::Staged,
    /// What the transport's acceptance yielded.
    pub sent: F::Sent,
}

/// One "mail a secret, then commit" action, as [`settle`] drives it.
pub trait Flow {
    /// The failures of this action only.
    type Error: FlowError;
    /// What was written or made before the mail (e.g. a pending token).
    type Staged;
    /// What the transport's acceptance yields.
    type Sent;
    /// What a committed action returns.
    type Done;

    /// The mail was accepted: make the change inside `tx`, unless the user is no longer
    /// `current` (deactivated, deleted or at another email since the job began) or the change
    /// was overtaken meanwhile.
    fn commit(
        &self,
        tx: &Conn,
        job: &Job<'_>,
        staged: Self::Staged,
        sent: Self::Sent,
        current: bool,
    ) -> Committed<Self::Done, Self::Error>;

    /// [`Flow::commit`] for every user of `accepted`, each `current` or not (in order), inside
    /// one `tx`; one ending per user, in order. [`settle_batch`] calls this. By default one
    /// user after the other; a flow that writes a batch with one statement per kind of row
    /// overrides it (its `commit` is then a batch of one).
    fn commit_batch(
        &self,
        tx: &Conn,
        accepted: Vec<Accepted<'_, Self>>,
        current: &[bool],
    ) -> CommittedBatch<Self::Done, Self::Error> {
        accepted
            .into_iter()
            .zip(current)
            .map(|(a, current)| self.commit(tx, &a.job, a.staged, a.sent, *current))
            .collect()
    }

    /// The mail was not rendered or not accepted: undo what staging wrote, inside `tx`.
    fn undo(
        &self,
        tx: &Conn,
        job: &Job<'_>,
        staged: Self::Staged,
        err: DeliveryError<Self::Error>,
    ) -> Result<Undone<Self::Error>, DeliveryError<Self::Error>>;
}

/// After the mail (or its failure): commit (re-checking that the user is still current) or
/// undo, append the audit row and finish the bulk item, all in one transaction. A commit is
/// [`settle_batch`] of this one user.
pub fn settle<F: Flow>(
    store: &mut Store,
    flow: &F,
    job: &Job<'_>,
    staged: F::Staged,
    answer: Result<F::Sent, DeliveryError<F::Error>>,
) -> Result<F::Done, DeliveryError<F::Error>> {
    let sent = match answer {
        Ok(sent) => sent,
        Err(err) => return Err(abandon(store, flow, job, staged, err)),
    };
    let accepted = Accepted {
        job: *job,
        staged,
        sent,
    };
    let settled = settle_batch(store, flow, vec![accepted])?;
    // `settle_batch` answers every user it is given.
    settled
        .into_iter()
        .next()
        .unwrap_or_else(|| Err(StoreError::Db(DbError::no_rows()).into()))
}

/// Commit every user of `accepted` (their mails were accepted) in one transaction: re-check
/// that each user is still current, let the flow commit them, append their audit rows, finish
/// their bulk items and resolve their intents. One answer per user, in order; `Err` when the
/// store failed (then nothing was committed). All users share the flow, the actor and the time.
pub fn settle_batch<F: Flow>(
    store: &mut Store,
    flow: &F,
    accepted: Vec<Accepted<'_, F>>,
) -> Settled<F::Done, F::Error> {
    if accepted.is_empty() {
        return Ok(Vec::new());
    }
    crash::at(CrashPoint::AfterSend);
    let tx = store.write()?;
    let jobs: Vec<Job<'_>> = accepted.iter().map(|a| a.job).collect();
    let current = still_current(&tx, &jobs)?;
    let endings = flow.commit_batch(&tx, accepted, &current)?;
    let finished: Vec<Finished<'_>> = jobs
        .iter()
        .zip(&endings)
        .map(|(job, ending)| Finished {
            job: *job,
            outcome: if ending.result.is_ok() {
                Outcome::Ok
            } else {
                Outcome::Failed
            },
            detail: Some(&ending.detail),
            item: ItemEnd {
                reason: ending.reason.as_deref(),
                recipient: job.recipient.map(Recipient::as_str),
                expires_at: ending.expires_at,
                produced: ending.produced,
            },
        })
        .collect();
    finish_batch(&tx, &finished)?;
    drop(finished);
    crash::at(CrashPoint::BeforeCommit);
    tx.commit()?;
    Ok(endings.into_iter().map(|ending| ending.result).collect())
}

/// Whether each job's user still exists, is active and has the email they had when the job
/// began, in order (checked again at commit: a deactivation or an email change may have
/// happened while the mail was on its way, and a secret mailed to an old address must not take
/// effect). One query for all of them.
fn still_current(tx: &Conn, jobs: &[Job<'_>]) -> Result<Vec<bool>, StoreError> {
    let ids: Vec<i64> = jobs.iter().map(|job| job.user.id).collect();
    let found: HashMap<i64, User> = users::by_ids(tx, &ids)?
        .into_iter()
        .map(|user| (user.id, user))
        .collect();
    Ok(jobs
        .iter()
        .map(|job| {
            found
                .get(&job.user.id)
                .is_some_and(|u| u.active && u.email == job.user.email)
        })
        .collect())
}

/// The mail was not rendered or not accepted: undo, audit and finish the bulk item in one
/// transaction; returns the error to report (the store's, if that failed too).
pub fn abandon<F: Flow>(
    store: &mut Store,
    flow: &F,
    job: &Job<'_>,
    staged: F::Staged,
    err: DeliveryError<F::Error>,
) -> DeliveryError<F::Error> {
    let undo = || -> Result<DeliveryError<F::Error>, DeliveryError<F::Error>> {
        let tx = store.write()?;
        // A mail that may have been delivered ends `interrupted`, never retried: a retry would
        // send a second, different secret.
        let outcome = match &err {
            DeliveryError::Mail(mail) if mail.may_have_been_delivered() => Outcome::Interrupted,
            _ => Outcome::Failed,
        };
        let undone = flow.undo(&tx, job, staged, err)?;
        let item = ItemEnd {
            reason: Some(&undone.reason),
            recipient: job.recipient.map(Recipient::as_str),
            expires_at: None,
            produced: undone.produced,
        };
        job.finish(&tx, outcome, Some(undone.detail), item)?;
        tx.commit()?;
        Ok(undone.err)
    };
    match undo() {
        Ok(err) | Err(err) => err,
    }
}
