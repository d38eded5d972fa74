//! Reset tokens: issuing (two-phase, so a token is live only once its mail was accepted),
//! verifying, redeeming atomically with the password change, revoking and purging.
//!
//! This is also the API for a Rust application that links pwreset: [`verify`] and [`redeem`]
//! take a store, the raw token from the link, and the current time.

use base64::Engine as _;
use jiff::Timestamp;
use rand::CryptoRng;
use sha2::{Digest, Sha256};

use crate::audit::{self, Actor, Event, Outcome};
use crate::config::PasswordConfig;
use crate::password::{self, PolicyError};
use crate::secret::Secret;
use crate::store::intents;
use crate::store::sql::DbError;
use crate::store::tokens as sql;
use crate::store::users::{self as users_sql, PasswordChange};
use crate::store::{Store, StoreError};
use crate::user::User;

/// The `purpose` of password-reset tokens.
pub const PURPOSE: &str = "password-reset";
/// Raw token length in bytes (256 bits).
pub const TOKEN_BYTES: usize = 32;
/// Length of the base64url text of a token.
pub const TOKEN_CHARS: usize = 43;

/// A new random token: 32 bytes from a CSPRNG, base64url without padding.
pub fn generate(rng: &mut impl CryptoRng) -> Secret {
    let mut bytes = zeroize::Zeroizing::new([0_u8; TOKEN_BYTES]);
    rng.fill_bytes(bytes.as_mut());
    Secret::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_ref()))
}

/// Hex SHA-256 of the token text: the only form that is stored.
pub fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn well_formed(token: &str) -> bool {
    token.len() == TOKEN_CHARS
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Why a token was not accepted, or a redemption failed.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Unknown, tampered, used or revoked: one answer for all (TOK-9).
    #[error("the reset token is not valid")]
    Invalid,
    /// Past its expiry time.
    #[error("the reset token has expired")]
    Expired,
    /// Too many failed redemptions for this user in the last hour (TOK-10).
    #[error("too many failed attempts for this account; try again after {}", crate::timefmt::human(*.until))]
    Throttled {
        /// When the next attempt is allowed.
        until: i64,
    },
    /// The new password breaks the policy; nothing changed.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The password could not be hashed.
    #[error(transparent)]
    Hash(#[from] password::HashError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The audit row could not be written.
    #[error(transparent)]
    Audit(#[from] audit::AuditError),
}

impl From<DbError> for TokenError {
    fn from(err: DbError) -> Self {
        TokenError::Store(StoreError::Db(err))
    }
}

/// A live token and its user.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Token row id.
    pub token_id: i64,
    /// The user the token resets (taken from the row, never from the caller: TOK-4).
    pub user: User,
    /// Expiry time.
    pub expires_at: i64,
}

/// Check a token without using it. Unknown, tampered, used and revoked tokens all give
/// [`TokenError::Invalid`]; expired ones give [`TokenError::Expired`].
pub fn verify(store: &Store, token: &str, now: Timestamp) -> Result<Verified, TokenError> {
    verify_held(store, Held::Raw(token), now)
}

/// A token as the caller holds it: the raw token (from a link or stdin), or the id of its row
/// (the reset page's session names the row, never the token).
#[derive(Debug, Clone, Copy)]
enum Held<'a> {
    Raw(&'a str),
    Id(i64),
}

fn find(store: &Store, held: Held<'_>) -> Result<Option<sql::TokenRow>, TokenError> {
    Ok(match held {
        Held::Raw(token) if well_formed(token) => sql::by_digest(store.conn(), &digest(token))?,
        Held::Raw(_) => None,
        Held::Id(id) => sql::by_id(store.conn(), id)?,
    })
}

fn verify_held(store: &Store, held: Held<'_>, now: Timestamp) -> Result<Verified, TokenError> {
    let row = find(store, held)?.ok_or(TokenError::Invalid)?;
    match row.state(now.as_second()) {
        "live" => {}
        "expired" => return Err(TokenError::Expired),
        _ => return Err(TokenError::Invalid),
    }
    let user = users_sql::by_id(store.conn(), row.user_id)?
        .filter(|u| u.active && issued_for(&row, u))
        .ok_or(TokenError::Invalid)?;
    Ok(Verified {
        token_id: row.id,
        user,
        expires_at: row.expires_at,
    })
}

/// Whether `row` was issued for `user`, not for an earlier user under the same id (TOK-4): the
/// user's `created_at` recorded with the link must still be theirs. A row without one (written
/// before schema 10 for a user already gone) belongs to nobody.
fn issued_for(row: &sql::TokenRow, user: &User) -> bool {
    row.user_created_at == Some(user.created_at)
}

/// How redemption is limited and hashed.
#[derive(Debug, Clone, Copy)]
pub struct RedeemPolicy<'a> {
    /// argon2id parameters.
    pub password: &'a PasswordConfig,
    /// Failed redemptions allowed per user per hour.
    pub max_failures_per_hour: u32,
}

/// Redeem a token: in one transaction, mark it used (exactly one row), store the new
/// argon2id hash, stamp `password_changed_at`, clear `must_change_password`, and revoke the
/// user's other tokens (TOK-6, PW-6). Failures are audited and throttled per user.
pub fn redeem(
    store: &mut Store,
    token: &str,
    new_password: &Secret,
    policy: RedeemPolicy<'_>,
    actor: &Actor,
    now: Timestamp,
    rng: &mut impl CryptoRng,
) -> Result<User, TokenError> {
    redeem_held(
        store,
        Held::Raw(token),
        new_password,
        policy,
        actor,
        now,
        rng,
    )
}

fn redeem_held(
    store: &mut Store,
    held: Held<'_>,
    new_password: &Secret,
    policy: RedeemPolicy<'_>,
    actor: &Actor,
    now: Timestamp,
    rng: &mut impl CryptoRng,
) -> Result<User, TokenError> {
    let verified = match verify_held(store, held, now) {
        Ok(verified) => verified,
        Err(err) => return Err(record_failure(store, held, &err, policy, actor, now)?),
    };
    throttle(store, &verified.user, policy, actor, now)?;
    password::check_policy(new_password.expose(), &verified.user)?;
    let hash = password::hash(new_password.expose(), policy.password, rng)?;
    let tx = store.write()?;
    // The user's row before the link's: the one lock order (docs/schema-contract.md).
    users_sql::lock(&tx, verified.user.id)?;
    if !sql::consume(&tx, verified.token_id, now.as_second())? {
        drop(tx);
        return Err(record_failure(
            store,
            held,
            &TokenError::Invalid,
            policy,
            actor,
            now,
        )?);
    }
    let change = PasswordChange {
        hash: &hash,
        must_change: false,
        temp_expires_at: None,
    };
    // Revoke before the change: the store's trigger would revoke them too, uncounted.
    let revoked =
        sql::revoke_outstanding(&tx, verified.user.id, now.as_second(), "password changed")?;
    users_sql::set_password(&tx, verified.user.id, &change, now.as_second())?;
    let detail = (revoked > 0).then(|| format!("revoked {revoked} other links"));
    audit::append(
        &tx,
        actor,
        now,
        &Event::new("token.redeem", Outcome::Ok)
            .target(&verified.user)
            .detail(detail),
    )?;
    tx.commit()?;
    Ok(verified.user)
}

/// Audit a failed redemption against the token's user, if the token names one; returns the
/// error to give (throttled if the user is over the limit).
fn record_failure(
    store: &mut Store,
    held: Held<'_>,
    err: &TokenError,
    policy: RedeemPolicy<'_>,
    actor: &Actor,
    now: Timestamp,
) -> Result<TokenError, TokenError> {
    let row = find(store, held)?;
    let mut event = Event::new("token.redeem", Outcome::Failed).detail(Some(err.to_string()));
    if let Some(row) = &row {
        if let Some(user) = users_sql::by_id(store.conn(), row.user_id)? {
            throttle(store, &user, policy, actor, now)?;
            event = event.target(&user);
        }
    }
    audit::record(store, actor, now, &event)?;
    Ok(match err {
        TokenError::Expired => TokenError::Expired,
        _ => TokenError::Invalid,
    })
}

/// Revoke a user's outstanding links; returns how many.
pub fn revoke_user(
    store: &mut Store,
    user: &User,
    actor: &Actor,
    now: Timestamp,
) -> Result<usize, TokenError> {
    let tx = store.write()?;
    let n = sql::revoke_outstanding(&tx, user.id, now.as_second(), "revoked by operator")?;
    let event = Event::new("token.revoke", Outcome::Ok)
        .target(user)
        .detail(Some(format!("revoked {n} links")));
    audit::append(&tx, actor, now, &event)?;
    tx.commit()?;
    Ok(n)
}

/// Revoke every outstanding link of every user; returns how many.
pub fn revoke_all(store: &mut Store, actor: &Actor, now: Timestamp) -> Result<usize, TokenError> {
    let tx = store.write()?;
    let n = sql::revoke_all(&tx, now.as_second(), "revoked by operator (all)")?;
    let event =
        Event::new("token.revoke-all", Outcome::Ok).detail(Some(format!("revoked {n} links")));
    audit::append(&tx, actor, now, &event)?;
    tx.commit()?;
    Ok(n)
}

/// How long a resolved mail intent is kept (a day): it names a recipient, and it matters only
/// while its mail is in flight.
const INTENT_RETENTION_SECS: i64 = 86_400;

/// Delete used, revoked and expired tokens, never live ones (TOK-11), and mail intents resolved
/// more than a day ago; with `dry_run`, only count the tokens. Returns the number of tokens.
/// Audited only when something was deleted.
pub fn purge(
    store: &mut Store,
    actor: &Actor,
    now: Timestamp,
    dry_run: bool,
) -> Result<u64, TokenError> {
    if dry_run {
        return Ok(sql::count_purgeable(store.conn(), now.as_second())?);
    }
    let tx = store.write()?;
    let n = sql::purge(&tx, now.as_second())? as u64;
    let resolved = intents::purge_resolved(&tx, now.as_second() - INTENT_RETENTION_SECS)?;
    if n > 0 || resolved > 0 {
        let detail = format!("deleted {n} tokens and {resolved} resolved mail intents");
        let event = Event::new("token.purge", Outcome::Ok).detail(Some(detail));
        audit::append(&tx, actor, now, &event)?;
    }
    tx.commit()?;
    Ok(n)
}

pub mod cancel;
pub mod codes;
mod issue;
mod page;
pub mod state;
mod throttle;

use throttle::throttle;
#[cfg(test)]
mod tests;

pub use page::{
    CANCELLED, CodeError, Counted, OpenKind, PROBES_AUDITED_PER_HOUR, TOO_MANY_CODES, cancel_id,
    check_code, record_open, redeem_id, verify_id,
};

pub use issue::{
    Cooldown, IssueRequest, Issued, Pending, cooldown_until, issue_pending, issue_pending_checked,
    issue_pending_in, issue_pending_many_in,
};
