//! Temporary passwords (options B and C): generate, hash, and either email them (the admin never
//! sees them) or hand them to the operator once, or both.
//!
//! Order matters: when emailing, the new hash is committed only after the mail server accepted
//! the mail, so a failed mail leaves the old password working. Hashing ([`prepare`]) is
//! separate so that bulk runs can hash on all cores while mail is being sent.

use std::fmt::Write as _;

use jiff::Timestamp;
use rand::CryptoRng;

use crate::audit::{self, Actor, Event, Outcome};
use crate::config::PasswordConfig;
use crate::links::Refusal;
use crate::mail::{self, Delivered, MailError, Mailer, Outgoing};
use crate::password::{self, HashError};
use crate::secret::Secret;
use crate::store::users::{self as users_sql, PasswordChange, User};
use crate::store::{Store, StoreError, bulk, tokens as tokens_sql};
use crate::templates::{TemplateError, Templates, UserVars, Vars};
use crate::timefmt;

/// The audit action.
pub const ACTION: &str = "password.generate";

/// Why a temporary password was not set.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// Refused before anything changed.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The mail was not accepted; the password was not changed.
    #[error("{0}; the password was not changed, the old one still works")]
    Mail(MailError),
    /// The template failed; the password was not changed.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// Hashing failed.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The audit row could not be written.
    #[error(transparent)]
    Audit(#[from] audit::AuditError),
}

impl From<rusqlite::Error> for GenerateError {
    fn from(err: rusqlite::Error) -> Self {
        GenerateError::Store(StoreError::Sqlite(err))
    }
}

/// A generated password and its hash, not yet stored.
pub struct Prepared {
    /// The password itself.
    pub password: Secret,
    /// Its argon2id PHC string.
    pub hash: String,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Prepared([redacted])")
    }
}

/// Generate a password and hash it (the slow part: about 25 ms of one core).
pub fn prepare(config: &PasswordConfig, rng: &mut impl CryptoRng) -> Result<Prepared, HashError> {
    prepare_with(&mut password::Hasher::new(config)?, config.length, rng)
}

/// [`prepare`] with a hasher that is reused across users (bulk runs).
pub fn prepare_with(
    hasher: &mut password::Hasher,
    length: usize,
    rng: &mut impl CryptoRng,
) -> Result<Prepared, HashError> {
    let password = password::generate(length, rng);
    let hash = hasher.hash(password.expose(), rng)?;
    Ok(Prepared { password, hash })
}

/// What the mails need besides the user.
#[derive(Debug, Clone)]
pub struct GenerateSettings {
    /// Password length, hashing and lifetime.
    pub password: PasswordConfig,
    /// `app_name` for templates.
    pub app_name: String,
    /// `support_contact` for templates.
    pub support_contact: Option<String>,
    /// `login_url` for templates.
    pub login_url: Option<String>,
    /// `app_name` and `support_contact` for the password-changed notice (per-template values).
    pub notice_names: (String, Option<String>),
    /// A note from the administrator for the mails (`--note`).
    pub note: Option<String>,
    /// Send the "password was reset" notice in show-only mode.
    pub notify_on_change: bool,
}

/// One temporary password to set.
#[derive(Debug, Clone, Copy)]
pub struct GenerateRequest<'a> {
    /// The user.
    pub user: &'a User,
    /// Email the password to this address (option B); `None` shows it only (option C).
    pub email_to: Option<&'a str>,
    /// Where the "password was reset" notice goes in show-only mode (the user's address, or
    /// the `--to`/admin override); `None` sends none.
    pub notice_to: Option<&'a str>,
    /// Whether the user must change it at next login.
    pub force_change: bool,
    /// The bulk run and item, if any.
    pub bulk: Option<(&'a str, i64)>,
}

/// What happened.
#[derive(Debug)]
pub struct Generated {
    /// When the temporary password stops working.
    pub expires_at: i64,
    /// The access-info mail, when emailed.
    pub emailed: Option<Delivered>,
    /// The notice in show-only mode: sent, failed (a warning), or not sent (`None`).
    pub notice: Option<Result<Delivered, MailError>>,
}

/// Mail and templates together.
pub struct Courier<'a> {
    /// The transport.
    pub mailer: &'a mut dyn Mailer,
    /// The templates.
    pub templates: &'a Templates,
    /// The settings.
    pub settings: &'a GenerateSettings,
}

/// Refuse inactive users, and users without a valid email when emailing them.
pub fn eligible(user: &User, emailing: bool) -> Result<(), Refusal> {
    if emailing {
        return crate::links::eligible(user);
    }
    if user.active {
        Ok(())
    } else {
        Err(Refusal::Inactive(user.username.clone()))
    }
}

/// Set a prepared temporary password: mail first when emailing, then commit.
pub fn apply(
    store: &mut Store,
    courier: &mut Courier<'_>,
    request: GenerateRequest<'_>,
    prepared: &Prepared,
    actor: &Actor,
    now: Timestamp,
) -> Result<Generated, GenerateError> {
    let user = request.user;
    if let Err(refusal) = eligible(user, request.email_to.is_some()) {
        record(
            store,
            actor,
            now,
            &request,
            Outcome::Refused,
            refusal.to_string(),
        )?;
        return Err(refusal.into());
    }
    let expires_at = now.as_second()
        + i64::try_from(courier.settings.password.temp_ttl.secs()).unwrap_or(86_400);
    let emailed = match request.email_to {
        Some(to) => match send(
            courier,
            "access-info",
            user,
            to,
            Some(&prepared.password),
            expires_at,
            now,
        ) {
            Ok(delivered) => Some(delivered),
            Err(err) => {
                record(
                    store,
                    actor,
                    now,
                    &request,
                    Outcome::Failed,
                    format!("not changed: {err}"),
                )?;
                return Err(err);
            }
        },
        None => None,
    };
    commit(store, &request, &prepared.hash, expires_at, actor, now)?;
    let notice = match (request.email_to, request.notice_to) {
        (None, Some(to)) if courier.settings.notify_on_change && !to.is_empty() => Some(
            send(courier, "password-changed", user, to, None, expires_at, now)
                .map_err(as_mail_error),
        ),
        _ => None,
    };
    Ok(Generated {
        expires_at,
        emailed,
        notice,
    })
}

fn as_mail_error(err: GenerateError) -> MailError {
    match err {
        GenerateError::Mail(m) => m,
        other => MailError::Local(other.to_string()),
    }
}

/// Tell a user their password was changed (PW-6): the "password-changed" notice, no secret in
/// it. `by_admin` picks the wording. Used after a user redeemed a reset link.
pub fn notify_changed(
    courier: &mut Courier<'_>,
    user: &User,
    to: &str,
    by_admin: bool,
) -> Result<Delivered, MailError> {
    let settings = courier.settings;
    let vars = Vars {
        user: UserVars {
            name: user
                .display_name
                .clone()
                .unwrap_or_else(|| user.username.clone()),
            username: user.username.clone(),
            email: user.email.clone(),
        },
        link: None,
        password: None,
        expires_at: None,
        expires_in: None,
        app_name: settings.notice_names.0.clone(),
        support_contact: settings.notice_names.1.clone(),
        login_url: settings.login_url.clone(),
        by_admin,
        note: None,
    };
    send_vars(courier, "password-changed", to, &vars).map_err(as_mail_error)
}

fn send(
    courier: &mut Courier<'_>,
    template: &str,
    user: &User,
    to: &str,
    password: Option<&Secret>,
    expires_at: i64,
    now: Timestamp,
) -> Result<Delivered, GenerateError> {
    let settings = courier.settings;
    let vars = Vars {
        user: UserVars {
            name: user
                .display_name
                .clone()
                .unwrap_or_else(|| user.username.clone()),
            username: user.username.clone(),
            email: user.email.clone(),
        },
        link: None,
        password: password.map(|p| p.expose().to_string()),
        expires_at: Some(timefmt::human(expires_at)),
        expires_in: Some(timefmt::spoken(
            u64::try_from(expires_at - now.as_second()).unwrap_or(0),
        )),
        app_name: if template == "password-changed" {
            settings.notice_names.0.clone()
        } else {
            settings.app_name.clone()
        },
        support_contact: if template == "password-changed" {
            settings.notice_names.1.clone()
        } else {
            settings.support_contact.clone()
        },
        login_url: settings.login_url.clone(),
        by_admin: true,
        note: settings.note.clone(),
    };
    send_vars(courier, template, to, &vars)
}

fn send_vars(
    courier: &mut Courier<'_>,
    template: &str,
    to: &str,
    vars: &Vars,
) -> Result<Delivered, GenerateError> {
    let body = courier.templates.render(template, vars)?;
    courier
        .mailer
        .send(&Outgoing {
            to: to.to_string(),
            body,
        })
        .map_err(GenerateError::Mail)
}

fn commit(
    store: &mut Store,
    request: &GenerateRequest<'_>,
    hash: &str,
    expires_at: i64,
    actor: &Actor,
    now: Timestamp,
) -> Result<(), GenerateError> {
    let user = request.user;
    let tx = store.write()?;
    if !users_sql::by_id(&tx, user.id)?.is_some_and(|u| u.active) {
        // Deactivated while the mail was on its way: the new password is not set.
        drop(tx);
        let refusal = Refusal::Inactive(user.username.clone());
        let detail = format!("not changed: {refusal} (deactivated while the mail was being sent)");
        record(store, actor, now, request, Outcome::Failed, detail)?;
        return Err(refusal.into());
    }
    let change = PasswordChange {
        hash,
        must_change: request.force_change,
        temp_expires_at: Some(expires_at),
    };
    users_sql::set_password(&tx, user.id, &change, now.as_second())?;
    let revoked = tokens_sql::revoke_outstanding(
        &tx,
        user.id,
        now.as_second(),
        "password reset by administrator",
    )?;
    let mut detail = match request.email_to {
        Some(to) => format!("emailed to {}", mail::mask(to)),
        None => "shown to the operator".to_string(),
    };
    let _ = write!(detail, ", temporary until {}", timefmt::rfc3339(expires_at));
    if !request.force_change {
        detail.push_str(", no forced change");
    }
    if revoked > 0 {
        let _ = write!(detail, ", revoked {revoked} reset links");
    }
    audit::append(&tx, actor, now, &event(request, Outcome::Ok, detail))?;
    if let Some((_, item)) = request.bulk {
        bulk::finish_item(
            &tx,
            item,
            "sent",
            None,
            request.email_to,
            Some(expires_at),
            now.as_second(),
        )?;
    }
    tx.commit()?;
    Ok(())
}

fn event(request: &GenerateRequest<'_>, outcome: Outcome, detail: String) -> Event {
    Event::new(ACTION, outcome)
        .target(request.user)
        .recipient(request.email_to.filter(|r| !r.is_empty()))
        .detail(Some(detail))
        .run_id(request.bulk.map(|(run, _)| run))
}

/// Audit a refusal found before anything was attempted (e.g. before a prompt).
pub fn record_refusal(
    store: &mut Store,
    request: &GenerateRequest<'_>,
    refusal: &Refusal,
    actor: &Actor,
    now: Timestamp,
) -> Result<(), GenerateError> {
    record(
        store,
        actor,
        now,
        request,
        Outcome::Refused,
        refusal.to_string(),
    )
}

fn record(
    store: &mut Store,
    actor: &Actor,
    now: Timestamp,
    request: &GenerateRequest<'_>,
    outcome: Outcome,
    detail: String,
) -> Result<(), GenerateError> {
    let tx = store.write()?;
    audit::append(&tx, actor, now, &event(request, outcome, detail.clone()))?;
    if let Some((_, item)) = request.bulk {
        let status = if outcome == Outcome::Refused {
            "skipped"
        } else {
            "failed"
        };
        bulk::finish_item(
            &tx,
            item,
            status,
            Some(&detail),
            request.email_to,
            None,
            now.as_second(),
        )?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests;
