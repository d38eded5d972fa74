//! Finding mails that an earlier pwreset left unresolved: an intent still open whose process is
//! dead ([`super::owner::alive`]) marks a mail that may have gone out with nothing committed.
//! [`recover`] puts each such user in the safe state, once, in one transaction: the link stays
//! dead (revoked as `interrupted`), a temporary password is never set (the old one still
//! works), a bulk item ends `interrupted` (never resent), one audit row per intent with outcome
//! `interrupted` says what the user may have received, and the intent is resolved.
//!
//! What to tell the operator is the caller's business: it gets one [`Interrupted`] per user.

use crate::store::sql::Conn;
use jiff::Timestamp;

use super::{RecordError, owner};
use crate::audit::{self, Actor, Event, Outcome};
use crate::store::intents::{self, OpenIntent};
use crate::store::{Store, StoreError, bulk, users};

/// A mail that an earlier pwreset may have sent without committing what it carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interrupted {
    /// The user's name.
    pub username: String,
    /// `link.send` or `password.generate`.
    pub action: String,
    /// Where the mail went (masked).
    pub recipient: String,
    /// The bulk run, if any.
    pub run_id: Option<String>,
}

/// Resolve every open intent whose process is dead; returns them, oldest first. A store where
/// nothing was interrupted is only read, never locked for writing.
pub fn recover(
    store: &mut Store,
    actor: &Actor,
    now: Timestamp,
) -> Result<Vec<Interrupted>, RecordError> {
    let dead =
        |intent: &OpenIntent| !owner::alive(&intent.owner, intent.created_at, now.as_second());
    if !intents::open(store.conn())?.iter().any(dead) {
        return Ok(Vec::new());
    }
    let tx = store.write()?;
    let mut found = Vec::new();
    for intent in intents::open(&tx)?.into_iter().filter(dead) {
        found.push(resolve(&tx, &intent, actor, now)?);
    }
    tx.commit().map_err(StoreError::Db)?;
    Ok(found)
}

/// Put one user in the safe state, audit it and resolve the intent (inside `tx`).
fn resolve(
    tx: &Conn,
    intent: &OpenIntent,
    actor: &Actor,
    now: Timestamp,
) -> Result<Interrupted, RecordError> {
    let at = now.as_second();
    let masked = crate::mail::mask(&intent.recipient);
    let state = match (intent.action.as_str(), intent.token_id) {
        (super::LINK_ACTION, Some(token)) => {
            intents::revoke_pending_token(tx, token, at)?;
            format!("a reset link (token #{token}); the link was revoked and will not work")
        }
        _ => "a temporary password; it was never set, the old password still works".to_string(),
    };
    let pid = &intent.owner;
    let detail = format!(
        "interrupted: pwreset (pid {} on {}) stopped while mailing {masked} {state}; the mail may have been delivered",
        pid.pid, pid.host
    );
    if let Some(item) = intent.item_id {
        let reason = "interrupted while sending: the mail may have been delivered, so it is not resent; check this user by hand";
        bulk::take_over(tx, item, "interrupted", Some(reason), at)?;
    }
    let event = Event::new(&intent.action, Outcome::Interrupted)
        .recipient(Some(&intent.recipient))
        .detail(Some(detail))
        .run_id(intent.run_id.as_deref());
    let event = match intent.user_id.map(|id| users::by_id(tx, id)).transpose()? {
        Some(Some(user)) => event.target(&user),
        _ => event.target_text(&intent.username),
    };
    audit::append(tx, actor, now, &event)?;
    intents::resolve(tx, intent.id, Outcome::Interrupted.as_str(), at)?;
    Ok(Interrupted {
        username: intent.username.clone(),
        action: intent.action.clone(),
        recipient: masked,
        run_id: intent.run_id.clone(),
    })
}
