//! One user to mail ([`Job`]) and how their action is recorded once it ends: the audit row,
//! the bulk item and the mail intent, written inside the caller's transaction. A batch of jobs
//! (a bulk run's users committed together) is recorded by [`finish_batch`], each kind of row
//! in one statement; one job is a batch of one.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::crash::{self, CrashPoint};
use super::{RecordError, Refusal, owner};
use crate::audit::{self, Actor, Event, Outcome};
use crate::mail::Recipient;
use crate::store::sql::Conn;
use crate::store::{Store, StoreError, bulk, intents};
use crate::user::User;

/// One user to mail: who, where to, on whose behalf, when, and the bulk item if any.
#[derive(Debug, Clone, Copy)]
pub struct Job<'a> {
    /// The audit action, e.g. `link.send`.
    pub action: &'static str,
    /// The user.
    pub user: &'a User,
    /// Where the mail goes, if anywhere (recorded in the audit row).
    pub recipient: Option<&'a Recipient>,
    /// The bulk run and item, if any.
    pub bulk: Option<(&'a str, i64)>,
    /// Who acts.
    pub actor: &'a Actor,
    /// The time of the action.
    pub now: Timestamp,
    /// The mail intent recorded before the mail left ([`Job::intend`]), resolved with the
    /// change.
    pub intent: Option<i64>,
}

/// How the bulk item ends besides its status (which follows the audit outcome).
#[derive(Debug, Clone, Copy, Default)]
pub struct ItemEnd<'a> {
    /// Why it was skipped or failed.
    pub reason: Option<&'a str>,
    /// Where the mail went (`None` keeps the planned recipient).
    pub recipient: Option<&'a str>,
    /// When the link or password expires.
    pub expires_at: Option<i64>,
    /// The link or temporary password the item's mail produced.
    pub produced: bulk::Produced,
}

impl<'a> ItemEnd<'a> {
    /// The bulk item's end after `outcome`: `ok` is `sent`, `refused` is `skipped`, `failed`
    /// is `failed`.
    pub fn finish(&self, outcome: Outcome) -> bulk::Finish<'a> {
        let status = match outcome {
            Outcome::Ok => "sent",
            Outcome::Refused => "skipped",
            Outcome::Failed => "failed",
            Outcome::Interrupted => "interrupted",
        };
        bulk::Finish {
            status,
            reason: self.reason,
            recipient: self.recipient,
            expires_at: self.expires_at,
            produced: self.produced,
        }
    }
}

impl Job<'_> {
    /// The audit event of this job.
    pub fn event(&self, outcome: Outcome, detail: Option<String>) -> Event {
        Event::new(self.action, outcome)
            .target(self.user)
            .recipient(self.recipient.map(Recipient::as_str))
            .detail(detail)
            .run_id(self.bulk.map(|(run, _)| run))
    }

    /// Append the audit row and, in a bulk run, finish the item (`ok` is `sent`, `refused` is
    /// `skipped`, `failed` is `failed`), inside the caller's transaction: [`finish_batch`] of
    /// this one job.
    pub fn finish(
        &self,
        tx: &Conn,
        outcome: Outcome,
        detail: Option<String>,
        item: ItemEnd<'_>,
    ) -> Result<(), RecordError> {
        let finished = Finished {
            job: *self,
            outcome,
            detail: detail.as_deref(),
            item,
        };
        finish_batch(tx, &[finished])
    }

    /// Durably record, before the mail carrying a secret leaves, that it is about to (see
    /// `store::intents`): committed in a transaction of its own, it is resolved by
    /// [`Job::finish`] or, if this process dies first, by [`recover`](super::recover()). Returns the job that
    /// resolves it.
    pub fn intend(
        self,
        store: &mut Store,
        token_id: Option<i64>,
        to: &Recipient,
    ) -> Result<Self, RecordError> {
        let tx = store.write()?;
        let id = self.write_intent(&tx, token_id, to)?;
        tx.commit().map_err(StoreError::Db)?;
        Ok(self.intending(id))
    }

    /// Write the intent inside the caller's transaction (e.g. with the token it mails); once
    /// that commits, [`Job::intending`] gives the job that resolves it.
    pub fn write_intent(
        &self,
        tx: &Conn,
        token_id: Option<i64>,
        to: &Recipient,
    ) -> Result<i64, RecordError> {
        Ok(intents::insert(tx, &self.new_intent(token_id, to))?)
    }

    /// The intent [`Job::write_intent`] writes.
    pub fn new_intent<'i>(
        &'i self,
        token_id: Option<i64>,
        to: &'i Recipient,
    ) -> intents::NewIntent<'i> {
        intents::NewIntent {
            action: self.action,
            user_id: self.user.id,
            username: &self.user.username,
            token_id,
            recipient: to.as_str(),
            bulk: self.bulk,
            os_user: &self.actor.os_user,
            owner: owner::me(),
            created_at: self.now.as_second(),
        }
    }

    /// This job, resolving intent `id` (committed).
    #[must_use]
    pub fn intending(self, id: i64) -> Self {
        crash::at(CrashPoint::AfterIntent);
        Job {
            intent: Some(id),
            ..self
        }
    }

    /// [`Job::finish`] in a transaction of its own (refusals and failures, where nothing else
    /// changes).
    pub fn record(
        &self,
        store: &mut Store,
        outcome: Outcome,
        detail: Option<String>,
        item: ItemEnd<'_>,
    ) -> Result<(), RecordError> {
        let tx = store.write()?;
        self.finish(&tx, outcome, detail, item)?;
        tx.commit().map_err(StoreError::Db)?;
        Ok(())
    }

    /// Audit a refusal (nothing changed) and skip the bulk item, with the refusal as its reason;
    /// `item_recipient` is stored on the item (`None` keeps the planned one).
    pub fn refuse(
        &self,
        store: &mut Store,
        refusal: &Refusal,
        item_recipient: Option<&str>,
    ) -> Result<(), RecordError> {
        let detail = refusal.to_string();
        let item = ItemEnd {
            reason: Some(&detail),
            recipient: item_recipient,
            ..ItemEnd::default()
        };
        self.record(store, Outcome::Refused, Some(detail.clone()), item)
    }
}

/// One job of a batch, finished: how it ended and what its audit row and item say.
#[derive(Debug)]
pub struct Finished<'j> {
    /// The job.
    pub job: Job<'j>,
    /// The audit outcome (and, from it, the item's status).
    pub outcome: Outcome,
    /// The audit row's detail.
    pub detail: Option<&'j str>,
    /// How the bulk item ends besides its status.
    pub item: ItemEnd<'j>,
}

/// [`Job::finish`] for every job of `finished`, in order, inside the caller's transaction: the
/// audit rows in one statement (the chain's head read once), then the items, then the intents.
/// All jobs of a batch share one actor and one time.
pub fn finish_batch(tx: &Conn, finished: &[Finished<'_>]) -> Result<(), RecordError> {
    let Some(first) = finished.first() else {
        return Ok(());
    };
    let (actor, now) = (first.job.actor, first.job.now);
    let events: Vec<_> = finished
        .iter()
        .map(|f| f.job.event(f.outcome, f.detail.map(str::to_string)))
        .collect();
    audit::append_all(tx, actor, now, &events)?;
    let items: Vec<_> = finished
        .iter()
        .filter_map(|f| Some((f.job.bulk?.1, f.item.finish(f.outcome))))
        .collect();
    bulk::finish_items(tx, &items, now.as_second())?;
    let mut by_outcome: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for f in finished {
        if let Some(intent) = f.job.intent {
            by_outcome
                .entry(f.outcome.as_str())
                .or_default()
                .push(intent);
        }
    }
    for (outcome, ids) in by_outcome {
        intents::resolve_many(tx, &ids, outcome, now.as_second())?;
    }
    Ok(())
}
