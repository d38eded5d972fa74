//! The driver of a "mail a secret, then commit" action: after the mail (or its failure),
//! [`settle`] commits or [`abandon`] undoes, each in one transaction with the audit row and the
//! bulk item. What is committed or undone is the action's own [`Flow`]; this file holds no SQL
//! of its own and knows nothing of terminals, flags or exit codes.

use crate::store::sql::Conn;

use super::crash::{self, CrashPoint};
use super::{DeliveryError, FlowError, ItemEnd, Job};
use crate::audit::Outcome;
use crate::mail::Recipient;
use crate::store::Store;
use crate::store::bulk::Produced;

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
/// undo, append the audit row and finish the bulk item, all in one transaction.
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
    crash::at(CrashPoint::AfterSend);
    let tx = store.write()?;
    let current = job.still_current(&tx)?;
    let ending = flow.commit(&tx, job, staged, sent, current)?;
    let outcome = if ending.result.is_ok() {
        Outcome::Ok
    } else {
        Outcome::Failed
    };
    let item = ItemEnd {
        reason: ending.reason.as_deref(),
        recipient: job.recipient.map(Recipient::as_str),
        expires_at: ending.expires_at,
        produced: ending.produced,
    };
    job.finish(&tx, outcome, Some(ending.detail), item)?;
    crash::at(CrashPoint::BeforeCommit);
    tx.commit()?;
    ending.result
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
