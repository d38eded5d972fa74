//! Sending a reset link: who may get one, to which address, and the sequence that keeps the
//! store honest: write the token pending, render and send the mail, then make the token live
//! and supersede older links only if the mail was accepted, or mark it undelivered if not.
//! The mail intent is committed with the pending token, in one transaction, before the mail
//! leaves, and resolved with the outcome. What happens after the mail is in `flow`.
//! Every attempt (sent, refused, failed) is audited, never with the token or link.

use jiff::Timestamp;
use rand::CryptoRng;

use crate::audit::Actor;
use crate::config::Supersede;
use crate::delivery::{self, DeliveryError, FlowError, Job};
pub use crate::delivery::{Refusal, eligible};
use crate::keys::CodeKey;
use crate::mail::{Delivered, MailError, Outgoing, Recipient};
use crate::secret::Secret;
use crate::store::Store;
use crate::templates::{UserVars, Vars};
use crate::tokens::cancel::CancelKey;
use crate::tokens::{self, Cooldown, IssueRequest, Issued, TokenError};
use crate::user::User;

/// The audit action of a link mail.
pub const ACTION: &str = delivery::LINK_ACTION;

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
    /// The mail went out, but the link was revoked (or the user deactivated, or their email
    /// changed) while it was on its way, so it will not work.
    #[error(
        "the mail was sent, but the link was revoked meanwhile (a revoke, deactivation, password or email change) and will not work"
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
    /// Whether the mail carries a one-time code besides the link (`links.code`).
    pub code: bool,
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

/// Write the pending token and the intent to mail it in one transaction, so that a crash
/// leaves both or neither; a link sent within the cooldown is refused (audited) instead.
fn issue<'a>(
    store: &mut Store,
    settings: &LinkSettings,
    request: &LinkRequest<'a>,
    job: Job<'a>,
    to: &Recipient,
    rng: &mut impl CryptoRng,
) -> Result<(Pending, Job<'a>), LinkError> {
    let code_key = settings.code.then(|| CodeKey::from_audit(&job.actor.key));
    let issued = IssueRequest {
        ttl_secs: settings.ttl_secs,
        recipient: to.as_str(),
        actor: &job.actor.os_user,
        code_key: code_key.as_ref(),
    };
    let cooldown = cooldown(request, settings.cooldown_secs);
    let tx = store.write_for_user(request.user.id)?;
    let issued = match tokens::issue_pending_in(&tx, request.user, issued, cooldown, job.now, rng)?
    {
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
    let cancel_key = CancelKey::from_audit(&job.actor.key);
    Ok((
        pending(settings, &cancel_key, issued, to),
        job.intending(intent),
    ))
}

/// A token written pending, with its links, for `to`. The cancel link carries the token's
/// cancel value, never the token (see [`tokens::cancel`]).
fn pending(
    settings: &LinkSettings,
    cancel_key: &CancelKey,
    issued: tokens::Pending,
    to: &Recipient,
) -> Pending {
    let cancel = cancel_key.value(issued.id, &tokens::digest(issued.token.expose()));
    Pending {
        token_id: issued.id,
        expires_at: issued.expires_at,
        link: link_for(&settings.base_url, &issued.token),
        cancel_link: cancel_link_for(&settings.base_url, &cancel),
        code: issued.code,
        to: to.clone(),
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
    let (pending, job) = issue(store, settings, &request, job, to, rng)?;
    render(store, templates, settings, &request, &job, pending)
}

/// Render the mail of a written link; if that fails, undo (audited) as for a refused mail.
fn render(
    store: &mut Store,
    templates: &crate::templates::Templates,
    settings: &LinkSettings,
    request: &LinkRequest<'_>,
    job: &Job<'_>,
    pending: Pending,
) -> Result<Prepared, LinkError> {
    let vars = vars(request.user, &pending, job.now, settings);
    match templates.render(TEMPLATE, &vars) {
        Ok(body) => Ok(Prepared {
            outgoing: Outgoing {
                to: pending.to.to_string(),
                body,
            },
            pending,
            intent: job.intent,
        }),
        Err(err) => {
            let flow = LinkFlow::from(settings, request);
            Err(delivery::abandon(store, &flow, job, pending, err.into()))
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
    let job = prepared_job(&request, &prepared, actor, now);
    let flow = LinkFlow::from(settings, &request);
    let answer = result.map_err(LinkError::from);
    delivery::settle(store, &flow, &job, prepared.pending, answer)
}

/// The job of a prepared link: it resolves the link's intent.
fn prepared_job<'a>(
    request: &LinkRequest<'a>,
    prepared: &Prepared,
    actor: &'a Actor,
    now: Timestamp,
) -> Job<'a> {
    Job {
        intent: prepared.intent,
        ..job(request, actor, now)
    }
}

/// The page that cancels a reset ("this wasn't me"): `cancel` under the reset page's path.
pub fn cancel_url(base: &url::Url) -> url::Url {
    let mut url = base.clone();
    let path = format!("{}/cancel", base.path().trim_end_matches('/'));
    url.set_path(&path);
    url
}

/// The cancel link: [`cancel_url`] with `cancel=...` added to its query.
pub fn cancel_link_for(base: &url::Url, cancel: &Secret) -> Secret {
    let mut url = cancel_url(base);
    url.query_pairs_mut()
        .append_pair(CANCEL_PARAM, cancel.expose());
    Secret::new(url.into())
}

/// The query parameter of the cancel link's value.
pub const CANCEL_PARAM: &str = "cancel";

/// The link: `base_url` with `token=...` added to its query.
pub fn link_for(base: &url::Url, token: &Secret) -> Secret {
    let mut url = base.clone();
    url.query_pairs_mut().append_pair("token", token.expose());
    Secret::new(url.into())
}

fn vars(user: &User, pending: &Pending, now: Timestamp, settings: &LinkSettings) -> Vars {
    let (expires_at, expires_in) = delivery::expiry_vars(pending.expires_at, now);
    Vars {
        user: UserVars::from(user),
        link: Some(pending.link.expose().to_string()),
        cancel_link: Some(pending.cancel_link.expose().to_string()),
        code: pending.code.as_ref().map(|code| code.expose().to_string()),
        page_url: Some(settings.base_url.to_string()),
        expires_at,
        expires_in,
        app_name: settings.app_name.clone(),
        support_contact: settings.support_contact.clone(),
        password: None,
        login_url: None,
        by_admin: false,
        note: settings.note.clone(),
        new_email: None,
    }
}

mod batch;
#[cfg(test)]
mod batch_tests;
mod flow;
#[cfg(test)]
mod tests;

pub use batch::{complete_batch, prepare_batch};

use flow::{LinkFlow, Pending};
