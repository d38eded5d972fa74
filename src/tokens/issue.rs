//! Issuing reset tokens: a new token written pending (TOK-1..5), with the cooldown (MAIL-5)
//! checked in the same write transaction, so that of several pwreset processes sending to one
//! user at once exactly one gets past it. No mail, no printing.

use jiff::Timestamp;
use rand::CryptoRng;

use super::{PURPOSE, TokenError, digest, generate};
use crate::secret::Secret;
use crate::store::Store;
use crate::store::tokens::{self as sql, NewToken};
use crate::user::User;

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
    /// [`Cooldown::until`] for several users: when each held-back user's next link is allowed.
    pub fn until_many(
        self,
        conn: &crate::store::sql::Conn,
        user_ids: &[i64],
        now: Timestamp,
    ) -> Result<std::collections::HashMap<i64, i64>, crate::store::sql::DbError> {
        let (secs, run_id) = match self {
            Cooldown::Any { secs } => (secs, None),
            Cooldown::SinceRun { secs, run_id } => (secs, Some(run_id)),
        };
        let secs = i64::try_from(secs).unwrap_or(i64::MAX / 2);
        let last = sql::last_sent_at_many(conn, user_ids, run_id)?;
        Ok(last
            .into_iter()
            .map(|(user, at)| (user, at.saturating_add(secs)))
            .filter(|&(_, next)| next > now.as_second())
            .collect())
    }

    /// When the next link to `user_id` is allowed, if a link that counts was sent within the
    /// cooldown. Run it in the transaction that writes the new token.
    pub fn until(
        self,
        conn: &crate::store::sql::Conn,
        user_id: i64,
        now: Timestamp,
    ) -> Result<Option<i64>, crate::store::sql::DbError> {
        Ok(self.until_many(conn, &[user_id], now)?.remove(&user_id))
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
    tx: &crate::store::sql::Conn,
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
    tx: &crate::store::sql::Conn,
    user: &User,
    request: IssueRequest<'_>,
    now: Timestamp,
    rng: &mut impl CryptoRng,
) -> Result<Pending, TokenError> {
    let fresh = Fresh::new(request, now, rng);
    let id = sql::insert_pending(tx, &fresh.row(user.id, request))?;
    Ok(fresh.pending(id))
}

/// [`issue_pending_in`] for several users at once (a bulk run's batch), each with its request,
/// all held to one cooldown: two statements for the whole batch (the cooldowns, then the
/// inserts), run in the caller's write transaction, which has locked these users' rows.
pub fn issue_pending_many_in(
    tx: &crate::store::sql::Conn,
    users: &[(&User, IssueRequest<'_>)],
    cooldown: Option<Cooldown<'_>>,
    now: Timestamp,
    rng: &mut impl CryptoRng,
) -> Result<Vec<Issued>, TokenError> {
    let ids: Vec<i64> = users.iter().map(|(user, _)| user.id).collect();
    let held = match cooldown {
        Some(cooldown) => cooldown.until_many(tx, &ids, now)?,
        None => std::collections::HashMap::new(),
    };
    let fresh: Vec<Option<Fresh>> = users
        .iter()
        .map(|(user, request)| {
            (!held.contains_key(&user.id)).then(|| Fresh::new(*request, now, rng))
        })
        .collect();
    let rows: Vec<NewToken<'_>> = users
        .iter()
        .zip(&fresh)
        .filter_map(|((user, request), fresh)| Some(fresh.as_ref()?.row(user.id, *request)))
        .collect();
    let mut new_ids = sql::insert_pending_many(tx, &rows)?.into_iter();
    let issued = users
        .iter()
        .zip(fresh)
        .map(|((user, _), fresh)| match fresh {
            Some(fresh) => Ok(Issued::Pending(
                fresh.pending(
                    new_ids
                        .next()
                        .ok_or_else(crate::store::sql::DbError::no_rows)?,
                ),
            )),
            None => Ok(Issued::InCooldown {
                until: held[&user.id],
            }),
        });
    issued.collect()
}

/// A new token and its code, made but not yet written.
struct Fresh {
    token: Secret,
    digest: String,
    /// The code as shown, and its keyed digest.
    code: Option<(Secret, String)>,
    created_at: i64,
    expires_at: i64,
}

impl Fresh {
    fn new(request: IssueRequest<'_>, now: Timestamp, rng: &mut impl CryptoRng) -> Fresh {
        let token = generate(rng);
        let created_at = now.as_second();
        let digest = digest(token.expose());
        let code = request.code_key.map(|key| {
            let code = super::codes::generate(rng);
            let normalized = super::codes::normalize(code.expose()).unwrap_or_default();
            (code, key.digest(&normalized))
        });
        Fresh {
            token,
            digest,
            code,
            created_at,
            expires_at: created_at + i64::try_from(request.ttl_secs).unwrap_or(i64::MAX / 2),
        }
    }

    /// The row to write for `user_id`.
    fn row<'a>(&'a self, user_id: i64, request: IssueRequest<'a>) -> NewToken<'a> {
        NewToken {
            user_id,
            digest: &self.digest,
            purpose: PURPOSE,
            created_at: self.created_at,
            expires_at: self.expires_at,
            recipient: request.recipient,
            actor: request.actor,
            code_hmac: self.code.as_ref().map(|(_, hmac)| hmac.as_str()),
        }
    }

    /// Written as row `id`.
    fn pending(self, id: i64) -> Pending {
        Pending {
            id,
            token: self.token,
            code: self.code.map(|(code, _)| code),
            expires_at: self.expires_at,
        }
    }
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
