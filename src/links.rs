//! Sending a reset link: who may get one, to which address, and the sequence that keeps the
//! store honest: write the token pending, render and send the mail, then make the token live
//! and supersede older links only if the mail was accepted, or mark it undelivered if not.
//! The mail intent ([`delivery::Job::intend`]) is committed after the token and before the mail
//! leaves, and resolved with the outcome.
//! Every attempt (sent, refused, failed) is audited, never with the token or link.

use std::fmt::Write as _;

use jiff::Timestamp;
use rand::CryptoRng;
use rusqlite::Connection;

use crate::audit::Actor;
use crate::config::Supersede;
use crate::delivery::{self, DeliveryError, Ending, FlowError, Job, Undone};
pub use crate::delivery::{Refusal, eligible};
use crate::mail::{Delivered, MailError, Outgoing, Recipient};
use crate::secret::Secret;
use crate::store::tokens as sql;
use crate::store::users::User;
use crate::store::{Store, intents};
use crate::templates::{UserVars, Vars};
use crate::timefmt;
use crate::tokens::{self, Cooldown, IssueRequest, Issued, TokenError};

/// The audit action of a link mail.
pub const ACTION: &str = "link.send";

/// The template of a link mail.
const TEMPLATE: &str = "password-change-link";

/// Why a link was not sent.
pub type LinkError = DeliveryError<LinkFailure>;

/// The failures of a link mail that a temporary password cannot have.
#[derive(Debug, thiserror::Error)]
pub enum LinkFailure {
    /// The token could not be written.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The mail went out, but the link was revoked (or the user deactivated) while it was on
    /// its way, so it will not work.
    #[error(
        "the mail was sent, but the link was revoked meanwhile (a revoke, deactivation or password change) and will not work"
    )]
    RevokedMeanwhile,
}

impl FlowError for LinkFailure {
    const UNDONE: &'static str = "the new link was revoked, nothing else changed";

    fn aborts_batch(&self) -> bool {
        matches!(self, LinkFailure::Token(_))
    }
}

impl From<TokenError> for LinkError {
    fn from(err: TokenError) -> Self {
        DeliveryError::Own(LinkFailure::Token(err))
    }
}

/// The settings a link mail needs, resolved from the config.
#[derive(Debug, Clone)]
pub struct LinkSettings {
    /// The application's reset page.
    pub base_url: url::Url,
    /// Lifetime of a link, seconds.
    pub ttl_secs: u64,
    /// What happens to older links.
    pub supersede: Supersede,
    /// Minimum seconds between two links to one user.
    pub cooldown_secs: u64,
    /// `app_name` for the template.
    pub app_name: String,
    /// `support_contact` for the template.
    pub support_contact: Option<String>,
    /// A note from the administrator for the mail (`--note`).
    pub note: Option<String>,
}

/// One link to send.
#[derive(Debug, Clone, Copy)]
pub struct LinkRequest<'a> {
    /// The user.
    pub user: &'a User,
    /// Where the mail goes; `None` when the user has no address (refused: no valid email).
    pub recipient: Option<&'a Recipient>,
    /// Skip the cooldown.
    pub force: bool,
    /// The bulk run and item, if any.
    pub bulk: Option<(&'a str, i64)>,
    /// Extra audit detail (e.g. that the link was also printed).
    pub note: Option<&'a str>,
}

/// A link that was sent.
#[derive(Debug)]
pub struct Sent {
    /// Token row id.
    pub token_id: i64,
    /// Expiry time.
    pub expires_at: i64,
    /// Older links revoked.
    pub superseded: usize,
    /// What the transport said.
    pub delivered: Delivered,
    /// The link itself, for `--print-link` only.
    pub link: Secret,
    /// Where the mail went.
    pub recipient: Recipient,
}

/// What carries link mails: the transport, the templates and the link settings.
pub type Courier<'a> = delivery::Courier<'a, LinkSettings>;

/// Send a reset link: check, issue pending, mail, then activate (or mark undelivered).
pub fn send(
    store: &mut Store,
    courier: &mut Courier<'_>,
    request: LinkRequest<'_>,
    actor: &Actor,
    now: Timestamp,
    rng: &mut impl CryptoRng,
) -> Result<Sent, LinkError> {
    let prepared = prepare(
        store,
        courier.templates,
        courier.settings,
        request,
        actor,
        now,
        rng,
    )?;
    let result = courier.mailer.send(&prepared.outgoing);
    complete(
        store,
        courier.settings,
        request,
        prepared,
        result,
        actor,
        now,
    )
}

/// A link whose token is written (still pending) and whose mail is rendered, not yet sent.
#[derive(Debug)]
pub struct Prepared {
    pending: Pending,
    /// The mail intent, recorded before the mail leaves.
    intent: Option<i64>,
    /// The mail to send.
    pub outgoing: Outgoing,
}

/// A token written pending, and its link.
#[derive(Debug)]
struct Pending {
    token_id: i64,
    expires_at: i64,
    link: Secret,
    to: Recipient,
}

/// The link action as [`delivery::settle`] drives it.
struct LinkFlow<'a> {
    supersede: Supersede,
    note: Option<&'a str>,
}

fn job<'a>(request: &LinkRequest<'a>, actor: &'a Actor, now: Timestamp) -> Job<'a> {
    Job {
        action: ACTION,
        user: request.user,
        recipient: request.recipient,
        bulk: request.bulk,
        actor,
        now,
        intent: None,
    }
}

/// Eligible, and with somewhere to send the mail.
fn check<'a>(request: &LinkRequest<'a>) -> Result<&'a Recipient, LinkError> {
    eligible(request.user)?;
    Ok(request
        .recipient
        .ok_or_else(|| Refusal::NoValidEmail(request.user.username.clone()))?)
}

/// The cooldown this request is held to: none when forced; for a bulk run's item, links sent
/// by others since the run was planned; otherwise any link.
fn cooldown<'a>(request: &LinkRequest<'a>, secs: u64) -> Option<Cooldown<'a>> {
    match request.bulk {
        _ if request.force => None,
        Some((run_id, _)) => Some(Cooldown::SinceRun { secs, run_id }),
        None => Some(Cooldown::Any { secs }),
    }
}

/// The first half of [`send`]: refuse (audited) or write the pending token and render the mail.
/// Bulk runs prepare the next user while the previous mail is on the wire.
pub fn prepare(
    store: &mut Store,
    templates: &crate::templates::Templates,
    settings: &LinkSettings,
    request: LinkRequest<'_>,
    actor: &Actor,
    now: Timestamp,
    rng: &mut impl CryptoRng,
) -> Result<Prepared, LinkError> {
    let job = job(&request, actor, now);
    let checked = check(&request);
    if let Err(DeliveryError::Refused(refusal)) = &checked {
        job.refuse(store, refusal, None)?;
    }
    let to = checked?;
    let issued = IssueRequest {
        ttl_secs: settings.ttl_secs,
        recipient: to.as_str(),
        actor: &actor.os_user,
    };
    let cooldown = cooldown(&request, settings.cooldown_secs);
    // The token and the intent to mail it commit together: a crash leaves both or neither.
    let tx = store.write()?;
    let issued = match tokens::issue_pending_in(&tx, request.user, issued, cooldown, now, rng)? {
        Issued::Pending(issued) => issued,
        Issued::InCooldown { until } => {
            drop(tx);
            let refusal = Refusal::Cooldown {
                user: request.user.username.clone(),
                until,
            };
            job.refuse(store, &refusal, None)?;
            return Err(refusal.into());
        }
    };
    let intent = job.write_intent(&tx, Some(issued.id), to)?;
    tx.commit()?;
    let job = job.intending(intent);
    let pending = Pending {
        token_id: issued.id,
        expires_at: issued.expires_at,
        link: link_for(&settings.base_url, &issued.token),
        to: to.clone(),
    };
    let vars = vars(
        request.user,
        &pending.link,
        pending.expires_at,
        now,
        settings,
    );
    match templates.render(TEMPLATE, &vars) {
        Ok(body) => Ok(Prepared {
            pending,
            intent: job.intent,
            outgoing: Outgoing {
                to: to.to_string(),
                body,
            },
        }),
        Err(err) => {
            let flow = LinkFlow::from(settings, &request);
            Err(delivery::abandon(store, &flow, &job, pending, err.into()))
        }
    }
}

/// The second half of [`send`]: with the transport's answer, make the token live and supersede
/// older links, or mark it undelivered.
pub fn complete(
    store: &mut Store,
    settings: &LinkSettings,
    request: LinkRequest<'_>,
    prepared: Prepared,
    result: Result<Delivered, MailError>,
    actor: &Actor,
    now: Timestamp,
) -> Result<Sent, LinkError> {
    let job = Job {
        intent: prepared.intent,
        ..job(&request, actor, now)
    };
    let flow = LinkFlow::from(settings, &request);
    let answer = result.map_err(LinkError::from);
    delivery::settle(store, &flow, &job, prepared.pending, answer)
}

impl<'a> LinkFlow<'a> {
    fn from(settings: &LinkSettings, request: &LinkRequest<'a>) -> Self {
        LinkFlow {
            supersede: settings.supersede,
            note: request.note,
        }
    }
}

impl delivery::Flow for LinkFlow<'_> {
    type Error = LinkFailure;
    type Staged = Pending;
    type Sent = Delivered;
    type Done = Sent;

    /// Make the token live and supersede older links, unless it was revoked (or the user
    /// deactivated) while the mail was on its way: then the link must stay dead.
    fn commit(
        &self,
        tx: &Connection,
        job: &Job<'_>,
        pending: Pending,
        delivered: Delivered,
        active: bool,
    ) -> Result<Ending<Sent, LinkFailure>, LinkError> {
        let (token_id, user_id, now) = (pending.token_id, job.user.id, job.now.as_second());
        if !active {
            sql::revoke_outstanding(tx, user_id, now, "user deactivated")?;
        }
        if !active || !sql::activate(tx, token_id)? {
            return Ok(Ending {
                detail: format!(
                    "token #{token_id}: the mail was sent, but the link was revoked meanwhile"
                ),
                reason: Some("link revoked while its mail was being sent".into()),
                expires_at: None,
                result: Err(DeliveryError::Own(LinkFailure::RevokedMeanwhile)),
            });
        }
        let superseded = match self.supersede {
            Supersede::Revoke => {
                sql::revoke_outstanding_except(tx, user_id, Some(token_id), now, "superseded")?
            }
            Supersede::Keep => 0,
        };
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
        Ok(Ending {
            detail,
            reason: None,
            expires_at: Some(pending.expires_at),
            result: Ok(Sent {
                token_id,
                expires_at: pending.expires_at,
                superseded,
                delivered,
                link: pending.link,
                recipient: pending.to,
            }),
        })
    }

    /// Mark the token undelivered (or interrupted, when the mail may have been delivered): it
    /// never goes live, older links are untouched.
    fn undo(
        &self,
        tx: &Connection,
        job: &Job<'_>,
        pending: Pending,
        err: LinkError,
    ) -> Result<Undone<LinkFailure>, LinkError> {
        let now = job.now.as_second();
        match &err {
            DeliveryError::Mail(mail) if mail.may_have_been_delivered() => {
                intents::revoke_pending_token(tx, pending.token_id, now)?;
            }
            _ => sql::mark_undelivered(tx, pending.token_id, now)?,
        }
        Ok(Undone {
            detail: format!("token #{} revoked: {err}", pending.token_id),
            reason: err.to_string(),
            err,
        })
    }
}

/// The link: `base_url` with `token=...` added to its query.
pub fn link_for(base: &url::Url, token: &Secret) -> Secret {
    let mut url = base.clone();
    url.query_pairs_mut().append_pair("token", token.expose());
    Secret::new(url.into())
}

fn vars(
    user: &User,
    link: &Secret,
    expires_at: i64,
    now: Timestamp,
    settings: &LinkSettings,
) -> Vars {
    let (expires_at, expires_in) = delivery::expiry_vars(expires_at, now);
    Vars {
        user: UserVars::from(user),
        link: Some(link.expose().to_string()),
        expires_at,
        expires_in,
        app_name: settings.app_name.clone(),
        support_contact: settings.support_contact.clone(),
        password: None,
        login_url: None,
        by_admin: false,
        note: settings.note.clone(),
    }
}

#[cfg(test)]
mod tests;
