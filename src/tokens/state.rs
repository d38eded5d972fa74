//! Where each reset stands: one [`State`] for a reset link or a temporary password, computed
//! from its stored row and `now` (passed in), with the reason or the mail server's reply that
//! goes with it. `tokens list`, `users show` and a bulk run's report all use these functions;
//! nothing here reads the store, prints, or knows about flags.
//!
//! A link is, in this order of precedence: `used`, `pending` (its mail not accepted yet),
//! `failed` (the mail was refused: the reply), `interrupted` (the mail may have gone out, the
//! link never went live), `revoked` (with the reason), `expired`, `opened` (the reset page was
//! loaded with it by something that looked like a person's browser: `opens - scanner_opens >
//! 0`), else `sent`. A temporary password is `failed` (never set: why), `superseded` (a later
//! one was set), `changed` (the user has since set a password of their own:
//! `password_changed_at` after it was set), `expired`, else `sent` (mailed) or `shown`.

use serde::Serialize;

use crate::store::intents::INTERRUPTED_TOKEN;
use crate::store::temp_passwords::TempPasswordRow;
use crate::store::tokens::{PENDING, TokenRow, UNDELIVERED};

/// Where a link or a temporary password stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// Its mail was not accepted yet.
    Pending,
    /// Its mail was accepted (a link not opened yet, a temporary password not changed yet).
    Sent,
    /// A temporary password shown to the operator.
    Shown,
    /// A link loaded on the reset page by a browser, not used.
    Opened,
    /// A link a password was set through.
    Used,
    /// The user has since set a password of their own (temporary passwords).
    Changed,
    /// Past its expiry, unused.
    Expired,
    /// A link revoked (see the reason).
    Revoked,
    /// A temporary password replaced by a later one.
    Superseded,
    /// Not delivered, or never set (see the reason and the mail reply).
    Failed,
    /// Its mail may have gone out, but nothing was committed: the link never went live.
    Interrupted,
}

impl State {
    /// The name shown and stored in JSON, e.g. `opened`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Sent => "sent",
            State::Shown => "shown",
            State::Opened => "opened",
            State::Used => "used",
            State::Changed => "changed",
            State::Expired => "expired",
            State::Revoked => "revoked",
            State::Superseded => "superseded",
            State::Failed => "failed",
            State::Interrupted => "interrupted",
        }
    }
}

/// A state and what explains it (a revocation's reason, the reply that refused a mail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// The state.
    pub state: State,
    /// Why, when the state needs a why.
    pub reason: Option<String>,
}

impl Standing {
    fn new(state: State, reason: Option<String>) -> Self {
        Standing { state, reason }
    }
}

/// Whether a person's browser loaded the reset page with this link (scanner-like opens, a HEAD
/// or a GET without a browser's navigation, do not count).
pub fn opened(row: &TokenRow) -> bool {
    row.opens.count - row.opens.scanner > 0
}

/// Where a link stands at `now` (Unix seconds).
pub fn of_link(row: &TokenRow, now: i64) -> Standing {
    let reason = row.revoked_reason.as_deref();
    if row.used_at.is_some() {
        return Standing::new(State::Used, None);
    }
    match reason {
        Some(PENDING) => return Standing::new(State::Pending, None),
        Some(UNDELIVERED) => {
            let why = row.mail_reply.clone().unwrap_or_else(|| UNDELIVERED.into());
            return Standing::new(State::Failed, Some(why));
        }
        Some(INTERRUPTED_TOKEN) => {
            let why = "the mail may have been delivered; the link never went live";
            return Standing::new(State::Interrupted, Some(why.into()));
        }
        _ => {}
    }
    if row.revoked_at.is_some() {
        return Standing::new(State::Revoked, reason.map(str::to_string));
    }
    if row.expires_at <= now {
        Standing::new(State::Expired, None)
    } else if opened(row) {
        Standing::new(State::Opened, None)
    } else {
        Standing::new(State::Sent, None)
    }
}

/// Where a temporary password stands at `now` (Unix seconds).
pub fn of_temp_password(row: &TempPasswordRow, now: i64) -> Standing {
    if let Some(failure) = &row.failure {
        return Standing::new(State::Failed, Some(failure.clone()));
    }
    if row.superseded_at.is_some() {
        return Standing::new(State::Superseded, None);
    }
    if row
        .password_changed_at
        .is_some_and(|at| at > row.created_at)
    {
        return Standing::new(State::Changed, None);
    }
    if row.expires_at <= now {
        Standing::new(State::Expired, None)
    } else if row.handover == "shown" {
        Standing::new(State::Shown, None)
    } else {
        Standing::new(State::Sent, None)
    }
}

#[cfg(test)]
mod tests;
