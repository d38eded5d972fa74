//! What the reset page (`pwreset serve`) does with tokens, beside [`super::verify`] and
//! [`super::redeem`]: count opens of a link without acting on them, work by row id (the page's
//! session cookie names the row, never the token), cancel a link ("this wasn't me"), and accept
//! the one-time code typed instead of clicking the link, at most [`codes::MAX_TRIES`] wrong
//! ones per link. Nothing here knows about HTTP: the page maps these results to responses.

use jiff::Timestamp;
use rand::CryptoRng;

use super::{Held, RedeemPolicy, TokenError, Verified, codes, digest, verify_held};
use crate::audit::{self, Actor, Event, Outcome};
use crate::secret::Secret;
use crate::store::Store;
use crate::store::sql::DbError;
use crate::store::tokens as sql;
use crate::store::users as users_sql;
use crate::user::User;

/// Who opened a link, roughly: enough to tell "opened by a person" from "fetched by a mail
/// scanner" in `tokens list`. Never acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenKind {
    /// A browser navigating to the page.
    Browser,
    /// A HEAD, or a GET without a browser's navigation headers.
    ScannerLike,
}

/// `revoked_reason` of links cancelled from the page.
pub const CANCELLED: &str = "cancelled by the user";
/// `revoked_reason` of links whose code was guessed wrong too often.
pub const TOO_MANY_CODES: &str = "too many wrong codes";
/// Wrong codes for a user without a live link audited per user per hour: enough to show the
/// probes, never a log that one client can grow without bound (wrong codes against a live link
/// are all audited: at most [`codes::MAX_TRIES`] per link).
pub const PROBES_AUDITED_PER_HOUR: usize = 20;

/// Count an open of the link carrying `token` (first and last time, count, scanner-like
/// count), whatever the token's state; an unknown or malformed token counts nothing. Returns
/// whether the token names a row at all (used, revoked and expired ones included): a guess
/// does not, an old link does.
pub fn record_open(
    store: &mut Store,
    token: &str,
    kind: OpenKind,
    now: Timestamp,
) -> Result<bool, TokenError> {
    if !super::well_formed(token) {
        return Ok(false);
    }
    let tx = store.write()?;
    let known = sql::record_open(
        &tx,
        &digest(token),
        kind == OpenKind::ScannerLike,
        now.as_second(),
    )?;
    tx.commit()?;
    Ok(known)
}

/// [`super::verify`] by row id; also returns the row's digest, which the page binds its
/// session cookie to (a cookie for a row cannot be made without the key).
pub fn verify_id(
    store: &Store,
    token_id: i64,
    now: Timestamp,
) -> Result<(Verified, String), TokenError> {
    let verified = verify_held(store, Held::Id(token_id), now)?;
    let digest = sql::digest_of(store.conn(), token_id)?.ok_or(TokenError::Invalid)?;
    Ok((verified, digest))
}

/// [`super::redeem`] by row id: the same policy, throttle, atomic use and audit row.
pub fn redeem_id(
    store: &mut Store,
    token_id: i64,
    new_password: &Secret,
    policy: RedeemPolicy<'_>,
    actor: &Actor,
    now: Timestamp,
    rng: &mut impl CryptoRng,
) -> Result<User, TokenError> {
    super::redeem_held(
        store,
        Held::Id(token_id),
        new_password,
        policy,
        actor,
        now,
        rng,
    )
}

/// "This wasn't me": revoke the user's outstanding links (this one included), audited as
/// `token.cancel`. Only a live link can cancel; others give the usual invalid or expired.
pub fn cancel_id(
    store: &mut Store,
    token_id: i64,
    actor: &Actor,
    now: Timestamp,
) -> Result<User, TokenError> {
    let verified = verify_held(store, Held::Id(token_id), now)?;
    let tx = store.write()?;
    let n = sql::revoke_outstanding(&tx, verified.user.id, now.as_second(), CANCELLED)?;
    let event = Event::new("token.cancel", Outcome::Ok)
        .target(&verified.user)
        .detail(Some(format!(
            "the user cancelled the reset; revoked {n} links"
        )));
    audit::append(&tx, actor, now, &event)?;
    tx.commit()?;
    Ok(verified.user)
}

/// Who a wrong code was counted against, so that the page can answer alike whoever it was
/// (WEB-6): the store counts tries per link, and the page counts the rest per user or login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// The live links with a code of the user with this id: the store counted the try.
    Link(i64),
    /// A known user without a live link with a code: audited, counted by nobody here.
    User(i64),
    /// A login that names no active user: counted by nobody here.
    Nobody,
}

/// Why a code was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum CodeError {
    /// Wrong code, unknown user, or no live link with a code: one answer for all, with who
    /// it was counted against.
    #[error("the code is wrong or no longer works")]
    Wrong(Counted),
    /// That was the last try: the user's links were revoked.
    #[error("too many wrong codes: the link was revoked")]
    Exhausted {
        /// The user whose links were revoked.
        user_id: i64,
    },
    /// The store or the audit log failed.
    #[error(transparent)]
    Token(#[from] TokenError),
}

impl From<crate::store::StoreError> for CodeError {
    fn from(err: crate::store::StoreError) -> Self {
        CodeError::Token(err.into())
    }
}

impl From<DbError> for CodeError {
    fn from(err: DbError) -> Self {
        CodeError::Token(err.into())
    }
}

/// The code path of the page: `login` is the user's username or email (any case), `code` what
/// they typed. A right code returns the live link it belongs to (counted as an open); a wrong
/// one counts a try against each of the user's live links with a code, and the try that
/// reaches [`codes::MAX_TRIES`] revokes them (WEB-6). Every wrong code for a known user is
/// audited (`token.code`, failed, never the code), with a live link or without one, so probes
/// for who has a pending reset show in the log; both cases run the same statements.
///
/// The lookup runs in the write transaction that acts on it, and only matches a link with
/// tries left, so concurrent tries never accept a code after the last wrong one. An unknown
/// login gets the same `Wrong` after the code's HMAC and a lookup in a write transaction, but
/// skips the counting and the audit row, so timing may tell that it names nobody.
pub fn check_code(
    store: &mut Store,
    key: &codes::CodeKey,
    login: &str,
    code: &str,
    actor: &Actor,
    now: Timestamp,
) -> Result<Verified, CodeError> {
    let user = find_user(store, login)?;
    // A code that does not normalise is still hashed, so it costs the same; its digest matches
    // nothing (stored digests are of normalised codes, which have no `:`).
    let hmac = codes::normalize(code).map_or_else(
        || key.digest(&format!("unusable:{code}")),
        |code| key.digest(&code),
    );
    let user_id = user.as_ref().map_or(0, |u| u.id);
    let tx = store.write()?;
    // The user's row before their links: the one lock order (docs/schema-contract.md), which the
    // application's redeem keeps too, so the two never deadlock. Id 0 locks nothing.
    users_sql::lock(&tx, user_id)?;
    let found = sql::live_with_code(&tx, user_id, &hmac, codes::MAX_TRIES, now.as_second())?;
    let Some(user) = user else {
        return Err(CodeError::Wrong(Counted::Nobody));
    };
    let Some(id) = found else {
        return wrong_code(tx, &user, actor, now);
    };
    if let Some(digest) = sql::digest_of(&tx, id)? {
        sql::record_open(&tx, &digest, false, now.as_second())?;
    }
    tx.commit()?;
    Ok(verify_held(store, Held::Id(id), now)?)
}

/// The active user a login names, by username or else by email.
fn find_user(store: &Store, login: &str) -> Result<Option<User>, CodeError> {
    let login = login.trim();
    if login.is_empty() {
        return Ok(None);
    }
    let user = match users_sql::by_username(store.conn(), login)? {
        Some(user) => Some(user),
        None => users_sql::by_email(store.conn(), login)?,
    };
    Ok(user.filter(|u| u.active))
}

/// Count a wrong code in `tx` (the transaction that looked the code up) and audit it. A user
/// without a live link with a code runs the same statements, which change nothing but the
/// audit log.
fn wrong_code(
    tx: crate::store::sql::Tx<'_>,
    user: &User,
    actor: &Actor,
    now: Timestamp,
) -> Result<Verified, CodeError> {
    let counted = sql::count_wrong_code(&tx, user.id, now.as_second())? > 0;
    let revoked = sql::revoke_exhausted(
        &tx,
        user.id,
        codes::MAX_TRIES,
        now.as_second(),
        TOO_MANY_CODES,
    )?;
    let detail = match (counted, revoked) {
        (false, _) => "wrong code; no live link with a code".to_string(),
        (true, 0) => "wrong code".to_string(),
        (true, n) => format!("wrong code; {TOO_MANY_CODES}: revoked {n} links"),
    };
    let event = Event::new("token.code", Outcome::Failed)
        .target(user)
        .detail(Some(detail));
    // Both cases read the hour's rows, so they do the same work; a probe without a link is
    // audited only up to the cap, so nobody can grow the log without bound.
    let hour = now.as_second() - 3600;
    let logged = audit::signed_times(&tx, &actor.key, &event, hour, now.as_second())
        .map_err(TokenError::from)?;
    if counted || logged.len() < PROBES_AUDITED_PER_HOUR {
        audit::append(&tx, actor, now, &event).map_err(TokenError::from)?;
    }
    tx.commit()?;
    Err(match (counted, revoked) {
        (false, _) => CodeError::Wrong(Counted::User(user.id)),
        (true, 0) => CodeError::Wrong(Counted::Link(user.id)),
        (true, _) => CodeError::Exhausted { user_id: user.id },
    })
}
