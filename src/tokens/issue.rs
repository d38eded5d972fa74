//! Issuing reset tokens: a new token written pending (TOK-1..5), with the cooldown (MAIL-5)
//! checked in the same write transaction, so that of several pwreset processes sending to one
//! user at once exactly one gets past it. No mail, no printing.

use jiff::Timestamp;
use rand::CryptoRng;

use super::{PURPOSE, TokenError, digest, generate};
use crate::secret::Secret;
use crate::store::Store;
use crate::store::tokens::{self as sql, NewToken};
use crate::store::users::User;

/// A token written but not yet live: its mail has still to be accepted.
#[derive(Debug)]
pub struct Pending {
    /// The row id.
    pub id: i64,
    /// The token itself, for the link (never stored).
    pub token: Secret,
    /// Its one-time code as shown to the user (only its keyed digest is stored), if it has one.
    pub code: Option<Secret>,
    /// Expiry time (Unix seconds).
    pub expires_at: i64,
}

/// What a new token needs to know besides the user.
#[derive(Debug, Clone, Copy)]
pub struct IssueRequest<'a> {
    /// Lifetime in seconds.
    pub ttl_secs: u64,
    /// Where the mail goes.
    pub recipient: &'a str,
    /// Who issues it (recorded on the row).
    pub actor: &'a str,
    /// The key of a one-time code to go with the link; `None`: no code.
    pub code_key: Option<&'a super::codes::CodeKey>,
}

/// Write a new token for `user` in the pending state (TOK-1..5), with no cooldown check.
pub fn issue_pending(
    store: &mut Store,
    user: &User,
    request: IssueRequest<'_>,
    now: Timestamp,
    rng: &mut impl CryptoRng,
) -> Result<Pending, TokenError> {
    let tx = store.write()?;
    let pending = insert_pending(&tx, user, request, now, rng)?;
    tx.commit()?;
    Ok(pending)
}

/// What [`issue_pending_checked`] did.
#[derive(Debug)]
pub enum Issued {
    /// The token was written, pending.
    Pending(Pending),
    /// Nothing was written: a link was sent within the cooldown.
    InCooldown {
        /// When the next link is allowed.
        until: i64,
    },
}

/// Which earlier links hold back a new one (MAIL-5). Links whose mail was not delivered never
/// count; links whose mail is on its way (pending) do.
#[derive(Debug, Clone, Copy)]
pub enum Cooldown<'a> {
    /// Any link sent to the user within `secs` (`send-link`).
    Any {
        /// The cooldown, seconds.
        secs: u64,
    },
    /// Links sent within `secs` since bulk run `run_id` was planned: those sent before were
    /// checked when planning, and the run's own earlier attempts at this user were not
    /// delivered (a user is only attempted again after a failure), so what counts is a link
    /// sent by someone else (by hand, another run) during the run.
    SinceRun {
        /// The cooldown, seconds.
        secs: u64,
        /// The run.
        run_id: &'a str,
    },
}

impl Cooldown<'_> {
    /// When the next link to `user_id` is allowed, if a link that counts was sent within the
    /// cooldown. Run it in the transaction that writes the new token.
    pub fn until(
        self,
        conn: &crate::store::db::Conn,
        user_id: i64,
        now: Timestamp,
    ) -> Result<Option<i64>, crate::store::db::DbError> {
        let (secs, run_id) = match self {
            Cooldown::Any { secs } => (secs, None),
            Cooldown::SinceRun { secs, run_id } => (secs, Some(run_id)),
        };
        let cooldown = i64::try_from(secs).unwrap_or(i64::MAX / 2);
        Ok(sql::last_sent_at(conn, user_id, run_id)?
            .map(|at| at.saturating_add(cooldown))
            .filter(|&next| next > now.as_second()))
    }
}

/// Write a new token for `user` in the pending state (TOK-1..5), unless `cooldown` holds it
/// back: the check and the insert are one write transaction, so of several pwreset processes
/// sending to one user at once, exactly one gets past the cooldown.
pub fn issue_pending_checked(
    store: &mut Store,
    user: &User,
    request: IssueRequest<'_>,
    cooldown: Option<Cooldown<'_>>,
    now: Timestamp,
    rng: &mut impl CryptoRng,
) -> Result<Issued, TokenError> {
    let tx = store.write()?;
    let issued = issue_pending_in(&tx, user, request, cooldown, now, rng)?;
    tx.commit()?;
    Ok(issued)
}

/// [`issue_pending_checked`] inside the caller's write transaction, so that what else the
/// caller writes (e.g. the intent to mail the link) commits with the token or not at all.
pub fn issue_pending_in(
    tx: &crate::store::db::Conn,
    user: &User,
    request: IssueRequest<'_>,
    cooldown: Option<Cooldown<'_>>,
    now: Timestamp,
    rng: &mut impl CryptoRng,
) -> Result<Issued, TokenError> {
    if let Some(cooldown) = cooldown {
        if let Some(until) = cooldown.until(tx, user.id, now)? {
            return Ok(Issued::InCooldown { until });
        }
    }
    Ok(Issued::Pending(insert_pending(
        tx, user, request, now, rng,
    )?))
}

fn insert_pending(
    tx: &crate::store::db::Conn,
    user: &User,
    request: IssueRequest<'_>,
    now: Timestamp,
    rng: &mut impl CryptoRng,
) -> Result<Pending, TokenError> {
    let token = generate(rng);
    let created_at = now.as_second();
    let expires_at = created_at + i64::try_from(request.ttl_secs).unwrap_or(i64::MAX / 2);
    let digest = digest(token.expose());
    let code = request.code_key.map(|key| {
        let code = super::codes::generate(rng);
        let normalized = super::codes::normalize(code.expose()).unwrap_or_default();
        (code, key.digest(&normalized))
    });
    let row = NewToken {
        user_id: user.id,
        digest: &digest,
        purpose: PURPOSE,
        created_at,
        expires_at,
        recipient: request.recipient,
        actor: request.actor,
        code_hmac: code.as_ref().map(|(_, hmac)| hmac.as_str()),
    };
    let id = sql::insert_pending(tx, &row)?;
    Ok(Pending {
        id,
        token,
        code: code.map(|(code, _)| code),
        expires_at,
    })
}

/// When the next link to this user is allowed, if a link was sent within `cooldown_secs`.
pub fn cooldown_until(
    store: &Store,
    user: &User,
    cooldown_secs: u64,
    now: Timestamp,
) -> Result<Option<i64>, TokenError> {
    Ok(Cooldown::Any {
        secs: cooldown_secs,
    }
    .until(store.conn(), user.id, now)?)
}
