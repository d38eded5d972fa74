//! The skeleton shared by every "mail a secret, then commit" action (reset links, emailed
//! temporary passwords): who may be mailed ([`eligible`]), one [`Courier`] (transport and
//! templates), one [`Job`] (user, recipient, bulk item, actor, time) that appends the audit row
//! and finishes the bulk item in the same transaction, one error enum for the failures all
//! such actions share, to which each action adds only its own ([`FlowError`]), and [`settle`]:
//! after the mail, commit (re-checking that the user is still active) or undo, audit, and
//! finish the bulk item, in one transaction. A batch of users whose mails were accepted
//! together is committed by [`settle_batch`], the one commit path; [`settle`] is a batch of one.
//!
//! What each action writes before the mail and how it commits or undoes is its own ([`Flow`]).
//! This module renders, sends and records, and knows nothing of terminals, flags or exit codes.

use crate::store::sql::DbError;
use jiff::Timestamp;

use crate::audit::AuditError;
use crate::mail::{Delivered, MailError, Mailer, Outgoing, Recipient};
use crate::store::StoreError;
use crate::templates::{TemplateError, Templates, Vars};
use crate::timefmt;
use crate::user::User;
use crate::user::has_valid_email;

pub mod crash;
mod flow;
mod job;
pub mod owner;
mod recover;
pub use crash::CrashPoint;
pub use flow::{
    Accepted, Committed, CommittedBatch, Ending, Flow, Settled, Undone, abandon, settle,
    settle_batch,
};
pub use job::{ItemEnd, Job};
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
