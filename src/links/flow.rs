//! The link action as [`delivery::settle`] drives it: once the mail was accepted, make the
//! token live and supersede older links (unless it was revoked, or the user deactivated or
//! their email changed, meanwhile); if not, mark it undelivered. SQL lives in `store`;
//! nothing here prints.

use std::fmt::Write as _;

use crate::store::sql::Conn;

use super::{LinkError, LinkFailure, LinkRequest, LinkSettings, Sent};
use crate::config::Supersede;
use crate::delivery::{self, DeliveryError, Ending, Job, Undone};
use crate::mail::{Delivered, Recipient};
use crate::secret::Secret;
use crate::store::bulk::Produced;
use crate::store::intents;
use crate::store::tokens as sql;
use crate::timefmt;

/// A token written pending, and its link.
#[derive(Debug)]
pub(super) struct Pending {
    pub(super) token_id: i64,
    pub(super) expires_at: i64,
    pub(super) link: Secret,
    /// The "this wasn't me" link.
    pub(super) cancel_link: Secret,
    /// The one-time code, when links carry one.
    pub(super) code: Option<Secret>,
    pub(super) to: Recipient,
}

/// The link action as [`delivery::settle`] drives it.
pub(super) struct LinkFlow<'a> {
    supersede: Supersede,
    note: Option<&'a str>,
}

impl<'a> LinkFlow<'a> {
    pub(super) fn from(settings: &LinkSettings, request: &LinkRequest<'a>) -> Self {
        LinkFlow {
            supersede: settings.supersede,
            note: request.note,
        }
    }
}

impl LinkFlow<'_> {
    /// Whether going live supersedes (revokes) the user's older links.
    pub(super) fn supersedes(&self) -> bool {
        self.supersede == Supersede::Revoke
    }

    /// How a link ends that went live, with `superseded` older links revoked.
    pub(super) fn went_live(
        &self,
        pending: Pending,
        delivered: Delivered,
        superseded: usize,
    ) -> Ending<Sent, LinkFailure> {
        let token_id = pending.token_id;
        let mut detail = format!(
            "token #{token_id}, expires {}",
            timefmt::rfc3339(pending.expires_at)
        );
        if superseded > 0 {
            let _ = write!(detail, ", revoked {superseded} older links");
        }
        if let Some(note) = self.note {
            let _ = write!(detail, ", {note}");
        }
        Ending {
            detail,
            reason: None,
            expires_at: Some(pending.expires_at),
            produced: Produced::Token(token_id),
            result: Ok(Sent {
                token_id,
                expires_at: pending.expires_at,
                superseded,
                delivered,
                link: pending.link,
                recipient: pending.to,
            }),
        }
    }
}

/// How a link ends whose mail was accepted but which was revoked (or its user deactivated, or
/// their email changed) while the mail was on its way: it stays dead.
pub(super) fn revoked_meanwhile(token_id: i64) -> Ending<Sent, LinkFailure> {
    Ending {
        detail: format!("token #{token_id}: the mail was sent, but the link was revoked meanwhile"),
        reason: Some("link revoked while its mail was being sent".into()),
        expires_at: None,
        produced: Produced::Token(token_id),
        result: Err(DeliveryError::Own(LinkFailure::RevokedMeanwhile)),
    }
}

impl delivery::Flow for LinkFlow<'_> {
    type Error = LinkFailure;
    type Staged = Pending;
    type Sent = Delivered;
    type Done = Sent;

    /// Make the token live and supersede older links, unless it was revoked (or the user
    /// deactivated, or their email changed) while the mail was on its way: then the link must
    /// stay dead.
    fn commit(
        &self,
        tx: &Conn,
        job: &Job<'_>,
        pending: Pending,
        delivered: Delivered,
        current: bool,
    ) -> Result<Ending<Sent, LinkFailure>, LinkError> {
        let (token_id, user_id, now) = (pending.token_id, job.user.id, job.now.as_second());
        if !current {
            sql::revoke_outstanding(tx, user_id, now, "user deactivated or email changed")?;
        }
        let reply = Some(delivered.detail.as_str());
        if !current || !sql::activate_sent(tx, token_id, Some(now), reply)? {
            return Ok(revoked_meanwhile(token_id));
        }
        let superseded = match self.supersede {
            Supersede::Revoke => {
                sql::revoke_outstanding_except(tx, user_id, Some(token_id), now, "superseded")?
            }
            Supersede::Keep => 0,
        };
        Ok(self.went_live(pending, delivered, superseded))
    }

    /// Mark the token undelivered (or interrupted, when the mail may have been delivered): it
    /// never goes live, older links are untouched.
    fn undo(
        &self,
        tx: &Conn,
        job: &Job<'_>,
        pending: Pending,
        err: LinkError,
    ) -> Result<Undone<LinkFailure>, LinkError> {
        let now = job.now.as_second();
        match &err {
            DeliveryError::Mail(mail) if mail.may_have_been_delivered() => {
                intents::revoke_pending_token(tx, pending.token_id, now)?;
            }
            DeliveryError::Mail(mail) => {
                sql::mark_undelivered(tx, pending.token_id, now, Some(&mail.reply()))?;
            }
            _ => sql::mark_undelivered(tx, pending.token_id, now, None)?,
        }
        Ok(Undone {
            detail: format!("token #{} revoked: {err}", pending.token_id),
            reason: err.to_string(),
            produced: Produced::Token(pending.token_id),
            err,
        })
    }
}
