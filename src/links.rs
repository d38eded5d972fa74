//! Sending a reset link: who may get one, to which address, and the sequence that keeps the
//! store honest: write the token pending, render and send the mail, then make the token live
//! and supersede older links only if the mail was accepted, or mark it undelivered if not.
//! Every attempt (sent, refused, failed) is audited, never with the token or link.

use std::fmt::Write as _;

use jiff::Timestamp;
use rand::CryptoRng;

use crate::audit::{self, Actor, Event, Outcome};
use crate::config::Supersede;
use crate::mail::{Delivered, MailError, Mailer, Outgoing};
use crate::secret::Secret;
use crate::store::tokens as sql;
use crate::store::users::User;
use crate::store::{Store, StoreError, bulk};
use crate::templates::{TemplateError, Templates, UserVars, Vars};
use crate::timefmt;
use crate::tokens::{self, IssueRequest, TokenError};
use crate::users::has_valid_email;

/// The audit action of a link mail.
pub const ACTION: &str = "link.send";

/// Why a user gets no link; nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The user is inactive.
    #[error("{0} is inactive")]
    Inactive(String),
    /// The user has no email, or an invalid one.
    #[error("{0} has no valid email address")]
    NoValidEmail(String),
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
            Refusal::Cooldown { .. } => "in cooldown",
        }
    }
}

/// Why a link was not sent.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// Refused before anything changed.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The mail was not accepted; the new token was revoked, older links are untouched.
    #[error("{0}; the new link was revoked, nothing else changed")]
    Mail(#[from] MailError),
    /// The template failed; the new token was revoked.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// The token could not be written.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The audit row could not be written.
    #[error(transparent)]
    Audit(#[from] audit::AuditError),
    /// The mail went out, but the link was revoked (or the user deactivated) while it was on
    /// its way, so it will not work.
    #[error(
        "the mail was sent, but the link was revoked meanwhile (a revoke, deactivation or password change) and will not work"
    )]
    RevokedMeanwhile,
}

impl From<rusqlite::Error> for LinkError {
    fn from(err: rusqlite::Error) -> Self {
        LinkError::Store(StoreError::Sqlite(err))
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

/// Whether a user may receive mail: active, with a valid email.
pub fn eligible(user: &User) -> Result<(), Refusal> {
    if !user.active {
        return Err(Refusal::Inactive(user.username.clone()));
    }
    if !has_valid_email(user) {
        return Err(Refusal::NoValidEmail(user.username.clone()));
    }
    Ok(())
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
pub struct Courier<'a> {
    /// The transport.
    pub mailer: &'a mut dyn Mailer,
    /// The templates.
    pub templates: &'a Templates,
    /// The link settings.
    pub settings: &'a LinkSettings,
}

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

/// The first half of [`send`]: refuse (audited) or write the pending token and render the mail.
/// Bulk runs prepare the next user while the previous mail is on the wire.
pub fn prepare(
    store: &mut Store,
    templates: &Templates,
    settings: &LinkSettings,
    request: LinkRequest<'_>,
    actor: &Actor,
    now: Timestamp,
    rng: &mut impl CryptoRng,
) -> Result<Prepared, LinkError> {
    let user = request.user;
    let checked = eligible(user).map_err(LinkError::from).and_then(|()| {
        if request.force {
            Ok(())
        } else {
            check_cooldown(store, user, settings.cooldown_secs, now)
        }
    });
    if let Err(LinkError::Refused(refusal)) = &checked {
        record(
            store,
            actor,
            now,
            &request,
            Outcome::Refused,
            Some(refusal.to_string()),
        )?;
    }
    checked?;
    let issued = IssueRequest {
        ttl_secs: settings.ttl_secs,
        recipient: request.recipient,
        actor: &actor.os_user,
    };
    let pending = tokens::issue_pending(store, user, issued, now, rng)?;
    let link = link_for(&settings.base_url, &pending.token);
    match templates.render(
        "password-change-link",
        &vars(user, &link, pending.expires_at, now, settings),
    ) {
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
            undelivered(store, &request, pending.id, &err, actor, now)?;
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
    match result {
        Ok(delivered) => {
            let superseded = activate(
                store,
                &request,
                prepared.token_id,
                prepared.expires_at,
                settings.supersede,
                actor,
                now,
            )?;
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
            undelivered(store, &request, prepared.token_id, &err, actor, now)?;
            Err(err)
        }
    }
}

fn activate(
    store: &mut Store,
    request: &LinkRequest<'_>,
    token_id: i64,
    expires_at: i64,
    supersede: Supersede,
    actor: &Actor,
    now: Timestamp,
) -> Result<usize, LinkError> {
    let tx = store.write()?;
    // Still pending, and the user still active? A revoke, deactivation or password change may
    // have happened while the mail was on its way: then the link must stay dead.
    let active = crate::store::users::by_id(&tx, request.user.id)?.is_some_and(|u| u.active);
    if !active {
        sql::revoke_outstanding(&tx, request.user.id, now.as_second(), "user deactivated")?;
    }
    if !active || !sql::activate(&tx, token_id)? {
        let detail =
            format!("token #{token_id}: the mail was sent, but the link was revoked meanwhile");
        audit::append(
            &tx,
            actor,
            now,
            &event(request, Outcome::Failed, Some(detail)),
        )?;
        if let Some((_, item)) = request.bulk {
            bulk::finish_item(
                &tx,
                item,
                "failed",
                Some("link revoked while its mail was being sent"),
                Some(request.recipient),
                None,
                now.as_second(),
            )?;
        }
        tx.commit()?;
        return Err(LinkError::RevokedMeanwhile);
    }
    let superseded = match supersede {
        Supersede::Revoke => sql::revoke_outstanding_except(
            &tx,
            request.user.id,
            Some(token_id),
            now.as_second(),
            "superseded",
        )?,
        Supersede::Keep => 0,
    };
    let mut detail = format!(
        "token #{token_id}, expires {}",
        timefmt::rfc3339(expires_at)
    );
    if superseded > 0 {
        let _ = write!(detail, ", revoked {superseded} older links");
    }
    if let Some(note) = request.note {
        let _ = write!(detail, ", {note}");
    }
    audit::append(&tx, actor, now, &event(request, Outcome::Ok, Some(detail)))?;
    if let Some((_, item)) = request.bulk {
        bulk::finish_item(
            &tx,
            item,
            "sent",
            None,
            Some(request.recipient),
            Some(expires_at),
            now.as_second(),
        )?;
    }
    tx.commit()?;
    Ok(superseded)
}

fn undelivered(
    store: &mut Store,
    request: &LinkRequest<'_>,
    token_id: i64,
    err: &LinkError,
    actor: &Actor,
    now: Timestamp,
) -> Result<(), LinkError> {
    let tx = store.write()?;
    sql::mark_undelivered(&tx, token_id, now.as_second())?;
    let detail = format!("token #{token_id} revoked: {err}");
    audit::append(
        &tx,
        actor,
        now,
        &event(request, Outcome::Failed, Some(detail)),
    )?;
    if let Some((_, item)) = request.bulk {
        let reason = err.to_string();
        bulk::finish_item(
            &tx,
            item,
            "failed",
            Some(&reason),
            Some(request.recipient),
            None,
            now.as_second(),
        )?;
    }
    tx.commit()?;
    Ok(())
}

fn event(request: &LinkRequest<'_>, outcome: Outcome, detail: Option<String>) -> Event {
    Event::new(ACTION, outcome)
        .target(request.user)
        .recipient(Some(request.recipient).filter(|r| !r.is_empty()))
        .detail(detail)
        .run_id(request.bulk.map(|(run, _)| run))
}

fn record(
    store: &mut Store,
    actor: &Actor,
    now: Timestamp,
    request: &LinkRequest<'_>,
    outcome: Outcome,
    detail: Option<String>,
) -> Result<(), LinkError> {
    let tx = store.write()?;
    audit::append(&tx, actor, now, &event(request, outcome, detail.clone()))?;
    if let Some((_, item)) = request.bulk {
        bulk::finish_item(
            &tx,
            item,
            "skipped",
            detail.as_deref(),
            None,
            None,
            now.as_second(),
        )?;
    }
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
    Vars {
        user: UserVars {
            name: user
                .display_name
                .clone()
                .unwrap_or_else(|| user.username.clone()),
            username: user.username.clone(),
            email: user.email.clone(),
        },
        link: Some(link.expose().to_string()),
        expires_at: Some(timefmt::human(expires_at)),
        expires_in: Some(timefmt::spoken(
            u64::try_from(expires_at - now.as_second()).unwrap_or(0),
        )),
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
