//! The link action as [`delivery::settle_batch`] drives it: once the mails of a batch of users
//! were accepted, make their tokens live and supersede older links (unless a token was
//! revoked, or its user deactivated or their email changed, meanwhile), one statement per
//! kind of row for the whole batch; one user is a batch of one. A mail not accepted marks its
//! token undelivered. SQL lives in `store`; nothing here prints.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use crate::store::sql::{Conn, DbError};

use super::{LinkError, LinkFailure, LinkRequest, LinkSettings, Sent};
use crate::config::Supersede;
use crate::delivery::{self, Accepted, CommittedBatch, DeliveryError, Ending, Job, Undone};
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
    /// With [`Supersede::Revoke`], revoke the older links of each user whose token is `live`
    /// now (keeping that token): how many each user lost, for users who lost any.
    fn supersede_older(
        &self,
        tx: &Conn,
        accepted: &[Accepted<'_, Self>],
        live: &HashSet<i64>,
        now: i64,
    ) -> Result<HashMap<i64, usize>, DbError> {
        let (users, keep): (Vec<i64>, Vec<i64>) = accepted
            .iter()
            .filter(|a| live.contains(&a.staged.token_id))
            .map(|a| (a.job.user.id, a.staged.token_id))
            .unzip();
        if self.supersede == Supersede::Keep || users.is_empty() {
            return Ok(HashMap::new());
        }
        sql::revoke_outstanding_except_many(tx, &users, &keep, now, "superseded")
    }

    /// How a link ends that went live, with `superseded` older links revoked.
    fn went_live(
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
fn revoked_meanwhile(token_id: i64) -> Ending<Sent, LinkFailure> {
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

    /// [`LinkFlow::commit_batch`] of this one user.
    fn commit(
        &self,
        tx: &Conn,
        job: &Job<'_>,
        pending: Pending,
        delivered: Delivered,
        current: bool,
    ) -> Result<Ending<Sent, LinkFailure>, LinkError> {
        let accepted = Accepted {
            job: *job,
            staged: pending,
            sent: delivered,
        };
        let mut endings = self.commit_batch(tx, vec![accepted], &[current])?;
        endings.pop().ok_or_else(|| DbError::no_rows().into())
    }

    /// Make each token live and supersede its user's older links, unless it was revoked (or
    /// its user is no longer `current`: deactivated, or at another email) while the mail was
    /// on its way: then the link must stay dead, and such a user's links are all revoked.
    /// Each kind of write is one statement for the whole batch.
    fn commit_batch(
        &self,
        tx: &Conn,
        accepted: Vec<Accepted<'_, Self>>,
        current: &[bool],
    ) -> CommittedBatch<Sent, LinkFailure> {
        let Some(first) = accepted.first() else {
            return Ok(Vec::new());
        };
        let now = first.job.now.as_second();
        let mut sending = Vec::with_capacity(accepted.len());
        for (a, current) in accepted.iter().zip(current) {
            if *current {
                sending.push((a.staged.token_id, Some(a.sent.detail.as_str())));
            } else {
                let reason = "user deactivated or email changed";
                sql::revoke_outstanding(tx, a.job.user.id, now, reason)?;
            }
        }
        let live = sql::activate_sent_many(tx, &sending, Some(now))?;
        let superseded = self.supersede_older(tx, &accepted, &live, now)?;
        let endings = accepted.into_iter().map(|a| {
            let token_id = a.staged.token_id;
            if live.contains(&token_id) {
                let count = superseded.get(&a.job.user.id).copied().unwrap_or(0);
                self.went_live(a.staged, a.sent, count)
            } else {
                revoked_meanwhile(token_id)
            }
        });
        Ok(endings.collect())
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
