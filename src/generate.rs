//! Temporary passwords (options B and C): generate, hash, and either email them (the admin never
//! sees them) or hand them to the operator once, or both.
//!
//! Order matters: when emailing, a mail intent is committed first, and the new hash is committed
//! only after the mail server accepted the mail (resolving the intent in the same transaction),
//! so a failed, unconfirmed or interrupted mail leaves the old password working. Hashing ([`prepare`]) is
//! separate so that bulk runs can hash on all cores while mail is being sent.

use jiff::Timestamp;
use rand::CryptoRng;

use crate::audit::Actor;
use crate::config::PasswordConfig;
use crate::delivery::{self, DeliveryError, FlowError, Job, Refusal};
use crate::mail::{Delivered, MailError, Recipient};
use crate::notice::{self, Notice};
use crate::password::{self, HashError};
use crate::secret::Secret;
use crate::store::Store;
use crate::templates::{UserVars, Vars};
use crate::user::User;

/// The audit action.
pub const ACTION: &str = "password.generate";

/// The template of the access-info mail.
const TEMPLATE: &str = "access-info";

/// Why a temporary password was not set.
pub type GenerateError = DeliveryError<GenerateFailure>;

/// The failures of a temporary password that a link cannot have.
#[derive(Debug, thiserror::Error)]
pub enum GenerateFailure {
    /// Hashing failed.
    #[error(transparent)]
    Hash(#[from] HashError),
}

impl FlowError for GenerateFailure {
    const UNDONE: &'static str = "the password was not changed, the old one still works";

    fn aborts_batch(&self) -> bool {
        false
    }
}

impl From<HashError> for GenerateError {
    fn from(err: HashError) -> Self {
        DeliveryError::Own(GenerateFailure::Hash(err))
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
    /// How the password reaches the user.
    pub handover: Handover<'a>,
    /// Whether the user must change it at next login.
    pub force_change: bool,
    /// The bulk run and item, if any.
    pub bulk: Option<(&'a str, i64)>,
}

/// An access-info mail that the server accepted.
#[derive(Debug)]
pub struct Emailed {
    /// Where it went.
    pub to: Recipient,
    /// What the transport said.
    pub delivered: Delivered,
}

/// How a temporary password reaches the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handover<'a> {
    /// Email it (option B) to this address; `None` when the user has no address, which is
    /// refused as having no valid email.
    Email(Option<&'a Recipient>),
    /// Only the operator sees it (option C); the "password was reset" notice goes to
    /// `notice_to`, if anywhere.
    Show {
        /// Where the notice goes (the user's address, or the `--to`/admin override).
        notice_to: Option<&'a Recipient>,
    },
}

impl<'a> Handover<'a> {
    /// Whether the password is mailed.
    pub fn emails(self) -> bool {
        matches!(self, Handover::Email(_))
    }

    /// Where the password is mailed, if it is.
    pub fn email_to(self) -> Option<&'a Recipient> {
        match self {
            Handover::Email(to) => to,
            Handover::Show { .. } => None,
        }
    }
}

/// What happened.
#[derive(Debug)]
pub struct Generated {
    /// When the temporary password stops working.
    pub expires_at: i64,
    /// The access-info mail, when emailed.
    pub emailed: Option<Emailed>,
    /// The notice in show-only mode: sent, failed (a warning), or not sent (`None`).
    pub notice: Option<Result<Delivered, MailError>>,
}

/// Mail and templates together.
pub type Courier<'a> = delivery::Courier<'a, GenerateSettings>;

impl GenerateSettings {
    /// The password-changed notice; `by_admin` picks the wording.
    pub fn notice(&self, by_admin: bool) -> Notice {
        Notice {
            names: self.notice_names.clone(),
            login_url: self.login_url.clone(),
            by_admin,
            expires: None,
            note: None,
        }
    }
}

/// Refuse inactive users, and users without a valid email when emailing them.
pub fn eligible(user: &User, emailing: bool) -> Result<(), Refusal> {
    if emailing {
        return delivery::eligible(user);
    }
    if user.active {
        Ok(())
    } else {
        Err(Refusal::Inactive(user.username.clone()))
    }
}

/// Eligible, and when mailing, with somewhere to send the mail: where that is.
pub fn check<'a>(request: &GenerateRequest<'a>) -> Result<Option<&'a Recipient>, Refusal> {
    eligible(request.user, request.handover.emails())?;
    match request.handover {
        Handover::Email(None) => Err(Refusal::NoValidEmail(request.user.username.clone())),
        Handover::Email(Some(to)) => Ok(Some(to)),
        Handover::Show { .. } => Ok(None),
    }
}

fn job<'a>(request: &GenerateRequest<'a>, actor: &'a Actor, now: Timestamp) -> Job<'a> {
    Job {
        action: ACTION,
        user: request.user,
        recipient: request.handover.email_to(),
        bulk: request.bulk,
        actor,
        now,
        intent: None,
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
    let mut job = job(&request, actor, now);
    let email_to = match check(&request) {
        Ok(to) => to,
        Err(refusal) => {
            job.refuse(store, &refusal, job.recipient.map(Recipient::as_str))?;
            return Err(refusal.into());
        }
    };
    if let Some(to) = email_to {
        job = job.intend(store, None, to)?;
    }
    let expires_at = now.as_second()
        + i64::try_from(courier.settings.password.temp_ttl.secs()).unwrap_or(86_400);
    let answer = match email_to {
        Some(to) => {
            let vars = access_vars(courier.settings, request.user, prepared, expires_at, now);
            courier.deliver(TEMPLATE, to, &vars).map(Some)
        }
        None => Ok(None),
    };
    let flow = GenerateFlow {
        request: &request,
        hash: &prepared.hash,
        expires_at,
    };
    let emailed = delivery::settle(store, &flow, &job, (), answer)?
        .zip(email_to)
        .map(|(delivered, to)| Emailed {
            to: to.clone(),
            delivered,
        });
    let notice = match request.handover {
        Handover::Show {
            notice_to: Some(to),
        } if courier.settings.notify_on_change => {
            let notice = Notice {
                by_admin: true,
                expires: Some((expires_at, now)),
                note: courier.settings.note.clone(),
                ..courier.settings.notice(true)
            };
            Some(notice::send(courier, &notice, request.user, to))
        }
        _ => None,
    };
    Ok(Generated {
        expires_at,
        emailed,
        notice,
    })
}

fn access_vars(
    settings: &GenerateSettings,
    user: &User,
    prepared: &Prepared,
    expires_at: i64,
    now: Timestamp,
) -> Vars {
    let (expires_at, expires_in) = delivery::expiry_vars(expires_at, now);
    Vars {
        user: UserVars::from(user),
        cancel_link: None,
        code: None,
        page_url: None,
        link: None,
        password: Some(prepared.password.expose().to_string()),
        expires_at,
        expires_in,
        app_name: settings.app_name.clone(),
        support_contact: settings.support_contact.clone(),
        login_url: settings.login_url.clone(),
        by_admin: true,
        note: settings.note.clone(),
        new_email: None,
    }
}

/// Audit a refusal found before anything was attempted (e.g. before a prompt).
pub fn record_refusal(
    store: &mut Store,
    request: &GenerateRequest<'_>,
    refusal: &Refusal,
    actor: &Actor,
    now: Timestamp,
) -> Result<(), GenerateError> {
    let job = job(request, actor, now);
    Ok(job.refuse(store, refusal, job.recipient.map(Recipient::as_str))?)
}

mod flow;
#[cfg(test)]
mod tests;

use flow::GenerateFlow;
