//! Sending a reset link: who may get one, to which address, and the sequence that keeps the
//! store honest: write the token pending, render and send the mail, then make the token live
//! and supersede older links only if the mail was accepted, or mark it undelivered if not.
//! Every attempt (sent, refused, failed) is audited, never with the token or link.

use std::fmt::Write as _;

use jiff::Timestamp;
use rand::CryptoRng;

use crate::audit::{Actor, Outcome};
use crate::config::Supersede;
use crate::delivery::{self, DeliveryError, FlowError, ItemEnd, Job};
pub use crate::delivery::{Refusal, eligible};
use crate::exit::{Classify, Exit};
use crate::mail::{Delivered, MailError, Outgoing};
use crate::secret::Secret;
use crate::store::Store;
use crate::store::tokens as sql;
use crate::store::users::User;
use crate::templates::{UserVars, Vars};
use crate::timefmt;
use crate::tokens::{self, IssueRequest, TokenError};

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

impl Classify for LinkFailure {
    fn exit(&self) -> Exit {
        match self {
            LinkFailure::Token(e) => e.exit(),
            LinkFailure::RevokedMeanwhile => Exit::Refused,
        }
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
    /// Where the mail goes (validated).
    pub recipient: &'a str,
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
}

/// Refuse if a link was sent within the cooldown.
pub fn check_cooldown(
    store: &Store,
    user: &User,
    cooldown_secs: u64,
    now: Timestamp,
) -> Result<(), LinkError> {
    match tokens::cooldown_until(store, user, cooldown_secs, now)? {
        Some(until) => Err(Refusal::Cooldown {
            user: user.username.clone(),
            until,
        }
        .into()),
        None => Ok(()),
    }
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
    token_id: i64,
    expires_at: i64,
    link: Secret,
    /// The mail to send.
    pub outgoing: Outgoing,
}

fn job<'a>(request: &LinkRequest<'a>, actor: &'a Actor, now: Timestamp) -> Job<'a> {
    Job {
        action: ACTION,
        user: request.user,
        recipient: Some(request.recipient),
        bulk: request.bulk,
        actor,
        now,
    }
}

/// Eligible, and (unless forced) out of the cooldown.
fn check(
    store: &Store,
    request: &LinkRequest<'_>,
    cooldown_secs: u64,
    now: Timestamp,
) -> Result<(), LinkError> {
    eligible(request.user)?;
    if request.force {
        Ok(())
    } else {
        check_cooldown(store, request.user, cooldown_secs, now)
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
    let checked = check(store, &request, settings.cooldown_secs, now);
    if let Err(DeliveryError::Refused(refusal)) = &checked {
        let detail = refusal.to_string();
        let item = ItemEnd {
            reason: Some(&detail),
            ..ItemEnd::default()
        };
        job.record(store, Outcome::Refused, Some(detail.clone()), item)?;
    }
    checked?;
    let issued = IssueRequest {
        ttl_secs: settings.ttl_secs,
        recipient: request.recipient,
        actor: &actor.os_user,
    };
    let pending = tokens::issue_pending(store, request.user, issued, now, rng)?;
    let link = link_for(&settings.base_url, &pending.token);
    let vars = vars(request.user, &link, pending.expires_at, now, settings);
    match templates.render(TEMPLATE, &vars) {
        Ok(body) => Ok(Prepared {
            token_id: pending.id,
            expires_at: pending.expires_at,
            link,
            outgoing: Outgoing {
                to: request.recipient.to_string(),
                body,
            },
        }),
        Err(err) => {
            let err = LinkError::from(err);
            undelivered(store, &job, pending.id, &err)?;
            Err(err)
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
    let job = job(&request, actor, now);
    match result {
        Ok(delivered) => {
            let superseded = activate(store, &job, &prepared, settings.supersede, request.note)?;
            Ok(Sent {
                token_id: prepared.token_id,
                expires_at: prepared.expires_at,
                superseded,
                delivered,
                link: prepared.link,
            })
        }
        Err(err) => {
            let err = LinkError::from(err);
            undelivered(store, &job, prepared.token_id, &err)?;
            Err(err)
        }
    }
}

fn activate(
    store: &mut Store,
    job: &Job<'_>,
    prepared: &Prepared,
    supersede: Supersede,
    note: Option<&str>,
) -> Result<usize, LinkError> {
    let (token_id, user_id, now) = (prepared.token_id, job.user.id, job.now.as_second());
    let tx = store.write()?;
    // Still pending, and the user still active? A revoke, deactivation or password change may
    // have happened while the mail was on its way: then the link must stay dead.
    let active = job.still_active(&tx)?;
    if !active {
        sql::revoke_outstanding(&tx, user_id, now, "user deactivated")?;
    }
    if !active || !sql::activate(&tx, token_id)? {
        let detail =
            format!("token #{token_id}: the mail was sent, but the link was revoked meanwhile");
        let item = ItemEnd {
            reason: Some("link revoked while its mail was being sent"),
            recipient: job.recipient,
            expires_at: None,
        };
        job.finish(&tx, Outcome::Failed, Some(detail), item)?;
        tx.commit()?;
        return Err(DeliveryError::Own(LinkFailure::RevokedMeanwhile));
    }
    let superseded = match supersede {
        Supersede::Revoke => {
            sql::revoke_outstanding_except(&tx, user_id, Some(token_id), now, "superseded")?
        }
        Supersede::Keep => 0,
    };
    let mut detail = format!(
        "token #{token_id}, expires {}",
        timefmt::rfc3339(prepared.expires_at)
    );
    if superseded > 0 {
        let _ = write!(detail, ", revoked {superseded} older links");
    }
    if let Some(note) = note {
        let _ = write!(detail, ", {note}");
    }
    let item = ItemEnd {
        reason: None,
        recipient: job.recipient,
        expires_at: Some(prepared.expires_at),
    };
    job.finish(&tx, Outcome::Ok, Some(detail), item)?;
    tx.commit()?;
    Ok(superseded)
}

fn undelivered(
    store: &mut Store,
    job: &Job<'_>,
    token_id: i64,
    err: &LinkError,
) -> Result<(), LinkError> {
    let tx = store.write()?;
    sql::mark_undelivered(&tx, token_id, job.now.as_second())?;
    let detail = format!("token #{token_id} revoked: {err}");
    let reason = err.to_string();
    let item = ItemEnd {
        reason: Some(&reason),
        recipient: job.recipient,
        expires_at: None,
    };
    job.finish(&tx, Outcome::Failed, Some(detail), item)?;
    tx.commit()?;
    Ok(())
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
