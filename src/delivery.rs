//! The skeleton shared by every "mail a secret, then commit" action (reset links, emailed
//! temporary passwords): who may be mailed ([`eligible`]), one [`Courier`] (transport and
//! templates), one [`Job`] (user, recipient, bulk item, actor, time) that appends the audit row
//! and finishes the bulk item in the same transaction, one error enum for the failures all
//! such actions share, to which each action adds only its own ([`FlowError`]), and [`settle`]:
//! after the mail, commit (re-checking that the user is still active) or undo, audit, and
//! finish the bulk item, in one transaction.
//!
//! What each action writes before the mail and how it commits or undoes is its own ([`Flow`]).
//! This module renders, sends and records, and knows nothing of terminals, flags or exit codes.

use crate::store::sql::{Conn, DbError};
use jiff::Timestamp;

use crate::audit::{self, Actor, AuditError, Event, Outcome};
use crate::mail::{Delivered, MailError, Mailer, Outgoing, Recipient};
use crate::store::{Store, StoreError, bulk, intents};
use crate::templates::{TemplateError, Templates, Vars};
use crate::timefmt;
use crate::user::User;
use crate::user::has_valid_email;

pub mod crash;
mod flow;
mod many;
pub mod owner;
mod recover;
pub use crash::CrashPoint;
pub use flow::{Committed, Ending, Flow, Undone, abandon, settle};
pub use many::{Finished, finish_all};
pub use recover::{Interrupted, recover};

/// The audit action of a link mail (`crate::links::ACTION`): recovery revokes the pending token
/// of an interrupted mail of this action.
pub const LINK_ACTION: &str = "link.send";

/// Why a user gets no mail; nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The user is inactive.
    #[error("{0} is inactive")]
    Inactive(String),
    /// The user has no email, or an invalid one.
    #[error("{0} has no valid email address")]
    NoValidEmail(String),
    /// MAIL-2: the user's display name or address in the store holds CR, LF or NUL (written
    /// there outside pwreset), which must never reach a mail header.
    #[error("{user}'s {field} contains CR, LF or NUL, which cannot go into a mail header")]
    BadHeader {
        /// The user.
        user: String,
        /// The user's id, to name them whatever their username holds.
        id: i64,
        /// `display name` or `email address`.
        field: &'static str,
    },
    /// A link was sent too recently.
    #[error("a reset link was sent to {user} moments ago; the next is allowed at {}", timefmt::human(*.until))]
    Cooldown {
        /// The user.
        user: String,
        /// When the next link is allowed.
        until: i64,
    },
}

impl Refusal {
    /// The short reason used in reports: `inactive`, `no valid email`, `in cooldown`.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Inactive(_) => "inactive",
            Refusal::NoValidEmail(_) => "no valid email",
            Refusal::BadHeader { .. } => "CR, LF or NUL in name or email",
            Refusal::Cooldown { .. } => "in cooldown",
        }
    }
}

/// Whether a user may receive mail: active, with a name and address fit for a mail header, and
/// a valid email.
pub fn eligible(user: &User) -> Result<(), Refusal> {
    if !user.active {
        return Err(Refusal::Inactive(user.username.clone()));
    }
    header_safe(user)?;
    if !has_valid_email(user) {
        return Err(Refusal::NoValidEmail(user.username.clone()));
    }
    Ok(())
}

/// MAIL-2, checked again at send time: the store may hold a display name or address that the
/// application wrote there, never checked by pwreset; CR, LF or NUL in either is refused.
pub fn header_safe(user: &User) -> Result<(), Refusal> {
    match unfit_for_header(user.display_name.as_deref(), user.email.as_deref()) {
        None => Ok(()),
        Some(field) => Err(Refusal::BadHeader {
            user: user.username.clone(),
            id: user.id,
            field,
        }),
    }
}

/// Which of a display name and an address holds CR, LF or NUL, if either does.
fn unfit_for_header(display_name: Option<&str>, email: Option<&str>) -> Option<&'static str> {
    let unfit = |text: Option<&str>| text.is_some_and(|t| t.contains(['\r', '\n', '\0']));
    if unfit(display_name) {
        Some("display name")
    } else if unfit(email) {
        Some("email address")
    } else {
        None
    }
}

/// The failures that belong to one action only (e.g. a link revoked in flight, a failed hash).
pub trait FlowError: std::error::Error + Send + Sync + 'static {
    /// What a refused mail left behind, appended to the mail error's message.
    const UNDONE: &'static str;

    /// Whether the failure is the store's or the program's rather than this user's, so that a
    /// batch of users cannot go on.
    fn aborts_batch(&self) -> bool;
}

/// Why a secret was not mailed and committed.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError<E: FlowError> {
    /// Refused before anything changed.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The mail was not accepted; what that left behind is the action's [`FlowError::UNDONE`].
    #[error("{0}; {undone}", undone = E::UNDONE)]
    Mail(#[from] MailError),
    /// The template failed; nothing was committed.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The audit row could not be written.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// A failure of this action only.
    #[error(transparent)]
    Own(E),
}

impl<E: FlowError> From<DbError> for DeliveryError<E> {
    fn from(err: DbError) -> Self {
        DeliveryError::Store(StoreError::Db(err))
    }
}

impl<E: FlowError> From<RecordError> for DeliveryError<E> {
    fn from(err: RecordError) -> Self {
        match err {
            RecordError::Store(e) => DeliveryError::Store(e),
            RecordError::Audit(e) => DeliveryError::Audit(e),
        }
    }
}

/// The audit row or the bulk item could not be written.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The audit row could not be written.
    #[error(transparent)]
    Audit(#[from] AuditError),
}

impl From<DbError> for RecordError {
    fn from(err: DbError) -> Self {
        RecordError::Store(StoreError::Db(err))
    }
}

/// What carries the mails: the transport, the templates, and the action's settings.
pub struct Courier<'a, S> {
    /// The transport.
    pub mailer: &'a mut dyn Mailer,
    /// The templates.
    pub templates: &'a Templates,
    /// The action's settings.
    pub settings: &'a S,
}

impl<S> Courier<'_, S> {
    /// Render `template` into a mail to `to`.
    pub fn render(
        &self,
        template: &str,
        to: &Recipient,
        vars: &Vars,
    ) -> Result<Outgoing, TemplateError> {
        Ok(Outgoing {
            to: to.to_string(),
            body: self.templates.render(template, vars)?,
        })
    }

    /// Render `template` and send it to `to`.
    pub fn deliver<E: FlowError>(
        &mut self,
        template: &str,
        to: &Recipient,
        vars: &Vars,
    ) -> Result<Delivered, DeliveryError<E>> {
        let outgoing = self.render(template, to, vars)?;
        Ok(self.mailer.send(&outgoing)?)
    }
}

/// `expires_at` and `expires_in` for the templates: when, and how many seconds from `now`
/// (the templates say it in words of the reader's language).
pub fn expiry_vars(expires_at: i64, now: Timestamp) -> (Option<String>, Option<u64>) {
    (
        Some(timefmt::human(expires_at)),
        Some(u64::try_from(expires_at - now.as_second()).unwrap_or(0)),
    )
}

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
    /// `skipped`, `failed` is `failed`), inside the caller's transaction.
    pub fn finish(
        &self,
        tx: &Conn,
        outcome: Outcome,
        detail: Option<String>,
        item: ItemEnd<'_>,
    ) -> Result<(), RecordError> {
        audit::append(tx, self.actor, self.now, &self.event(outcome, detail))?;
        if let Some((_, id)) = self.bulk {
            bulk::finish_item_producing(tx, id, &item.finish(outcome), self.now.as_second())?;
        }
        if let Some(intent) = self.intent {
            intents::resolve(tx, intent, outcome.as_str(), self.now.as_second())?;
        }
        Ok(())
    }

    /// Durably record, before the mail carrying a secret leaves, that it is about to (see
    /// `store::intents`): committed in a transaction of its own, it is resolved by
    /// [`Job::finish`] or, if this process dies first, by [`recover`]. Returns the job that
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

    /// Whether the user still exists, is active and has the email they had when the job began
    /// (checked again at commit: a deactivation or an email change may have happened while the
    /// mail was on its way, and a secret mailed to an old address must not take effect).
    pub fn still_current(&self, tx: &Conn) -> Result<bool, StoreError> {
        Ok(crate::store::users::by_id(tx, self.user.id)?
            .is_some_and(|u| u.active && u.email == self.user.email))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cr_lf_or_nul_in_a_stored_name_or_address_is_unfit_for_a_header() {
        let ok = Some("m@example.com");
        for bad in [
            "Mal\r\nBcc: x@evil.example",
            "Mal\nlory",
            "Mal\rlory",
            "Mal\0lory",
        ] {
            assert_eq!(unfit_for_header(Some(bad), ok), Some("display name"));
            let address = format!("m@example.com{bad}");
            assert_eq!(
                unfit_for_header(None, Some(&address)),
                Some("email address")
            );
        }
        assert_eq!(unfit_for_header(Some("Mallory O'Neil, \u{e9}"), ok), None);
        assert_eq!(unfit_for_header(None, None), None);
    }

    #[test]
    fn the_refusal_names_the_user_and_field_not_the_value() {
        let refusal = Refusal::BadHeader {
            user: "mallory".into(),
            id: 7,
            field: "display name",
        };
        assert_eq!(
            refusal.to_string(),
            "mallory's display name contains CR, LF or NUL, which cannot go into a mail header"
        );
        assert_eq!(refusal.reason(), "CR, LF or NUL in name or email");
    }
}
