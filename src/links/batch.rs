//! Links for a batch of one bulk run's users at once, for stores where every transaction costs
//! round trips to a server (PostgreSQL): [`prepare_batch`] writes every user's pending token
//! and mail intent in one transaction (their rows locked, their cooldowns read in one
//! statement), and [`complete_batch`] makes the accepted ones live, supersedes older links,
//! appends the audit rows and finishes the items in one transaction. For each user it is the
//! sequence of [`send`](super::send), with the same checks; only the transactions are shared,
//! so a crash leaves at most the batch in flight `interrupted`.

use std::collections::HashMap;

use jiff::Timestamp;
use rand::CryptoRng;

use super::flow::{LinkFlow, revoked_meanwhile};
use super::{
    LinkError, LinkRequest, LinkSettings, Prepared, Sent, check, cooldown, job, pending, render,
};
use crate::audit::{Actor, Outcome};
use crate::delivery::crash::{self, CrashPoint};
use crate::delivery::{self, DeliveryError, Finished, ItemEnd, Job, Refusal};
use crate::keys::CodeKey;
use crate::mail::{Delivered, Recipient};
use crate::store::{Store, intents, tokens as sql, users};
use crate::templates::Templates;
use crate::tokens::{self, IssueRequest, Issued};
use crate::user::User;

/// [`prepare`](super::prepare) for each of `requests` (all items of one bulk run): refused
/// users are audited one by one; the others' pending tokens and intents are written in one
/// transaction. One answer per request, in order; `Err` when the store failed.
pub fn prepare_batch(
    store: &mut Store,
    templates: &Templates,
    settings: &LinkSettings,
    requests: &[LinkRequest<'_>],
    actor: &Actor,
    now: Timestamp,
    rng: &mut impl CryptoRng,
) -> Result<Vec<Result<Prepared, LinkError>>, LinkError> {
    let mut checked = Vec::with_capacity(requests.len());
    let mut eligible = Vec::new();
    for request in requests {
        let check = check(request);
        if let Err(DeliveryError::Refused(refusal)) = &check {
            job(request, actor, now).refuse(store, refusal, None)?;
        }
        if let Ok(to) = &check {
            eligible.push((request, *to));
        }
        checked.push(check.map(drop));
    }
    let mut issued = issue_batch(store, settings, &eligible, actor, now, rng)?.into_iter();
    let mut prepared = Vec::with_capacity(requests.len());
    for (request, check) in requests.iter().zip(checked) {
        let answer = match check {
            Err(err) => Err(err),
            Ok(()) => match issued.next() {
                Some(Ok((pending, job))) => {
                    render(store, templates, settings, request, &job, pending)
                }
                Some(Err(refusal)) => {
                    job(request, actor, now).refuse(store, &refusal, None)?;
                    Err(refusal.into())
                }
                // `issue_batch` answers every eligible request.
                None => Err(DeliveryError::Store(crate::store::StoreError::Db(
                    crate::store::sql::DbError::no_rows(),
                ))),
            },
        };
        prepared.push(answer);
    }
    Ok(prepared)
}

/// A link written pending for one user of a batch, or the cooldown that held it back.
type Issuing<'a> = Result<(super::Pending, Job<'a>), Refusal>;

/// Write the pending tokens and mail intents of `eligible` in one transaction that locks their
/// rows; a user in cooldown gets nothing written.
fn issue_batch<'a>(
    store: &mut Store,
    settings: &LinkSettings,
    eligible: &[(&LinkRequest<'a>, &'a Recipient)],
    actor: &'a Actor,
    now: Timestamp,
    rng: &mut impl CryptoRng,
) -> Result<Vec<Issuing<'a>>, LinkError> {
    let Some((first, _)) = eligible.first() else {
        return Ok(Vec::new());
    };
    let code_key = settings.code.then(|| CodeKey::from_audit(&actor.key));
    let asks: Vec<_> = eligible
        .iter()
        .map(|(request, to)| {
            let ask = IssueRequest {
                ttl_secs: settings.ttl_secs,
                recipient: to.as_str(),
                actor: &actor.os_user,
                code_key: code_key.as_ref(),
            };
            (request.user, ask)
        })
        .collect();
    let ids: Vec<i64> = eligible
        .iter()
        .map(|(request, _)| request.user.id)
        .collect();
    let jobs: Vec<Job<'a>> = eligible.iter().map(|(r, _)| job(r, actor, now)).collect();
    let tx = store.write_for_users(&ids)?;
    let cooldown = cooldown(first, settings.cooldown_secs);
    let issued = tokens::issue_pending_many_in(&tx, &asks, cooldown, now, rng)?;
    let new_intents: Vec<_> = issued
        .iter()
        .zip(&jobs)
        .zip(eligible)
        .filter_map(|((issued, job), (_, to))| match issued {
            Issued::Pending(p) => Some(job.new_intent(Some(p.id), to)),
            Issued::InCooldown { .. } => None,
        })
        .collect();
    let mut intent_ids = intents::insert_many(&tx, &new_intents)?.into_iter();
    tx.commit()?;
    let issuing = issued.into_iter().zip(jobs).zip(eligible).map(
        |((issued, job), (request, to))| match issued {
            Issued::Pending(p) => {
                let id = intent_ids.next().unwrap_or_default();
                Ok((pending(settings, p, to), job.intending(id)))
            }
            Issued::InCooldown { until } => Err(Refusal::Cooldown {
                user: request.user.username.clone(),
                until,
            }),
        },
    );
    Ok(issuing.collect())
}

/// [`complete`](super::complete) for every user of a batch whose mail was accepted: in one
/// transaction, each link goes live and supersedes older ones unless it was revoked (or the
/// user deactivated, or their email changed) meanwhile, and the audit rows, bulk items and
/// intents are written. One answer per user, in order; `Err` when the store failed.
pub fn complete_batch(
    store: &mut Store,
    settings: &LinkSettings,
    accepted: Vec<(LinkRequest<'_>, Prepared, Delivered)>,
    actor: &Actor,
    now: Timestamp,
) -> Result<Vec<Result<Sent, LinkError>>, LinkError> {
    let Some((first, _, _)) = accepted.first() else {
        return Ok(Vec::new());
    };
    let flow = LinkFlow::from(settings, first);
    crash::at(CrashPoint::AfterSend);
    let secs = now.as_second();
    let tx = store.write()?;
    let ids: Vec<i64> = accepted.iter().map(|(r, _, _)| r.user.id).collect();
    let found: HashMap<i64, User> = users::by_ids(&tx, &ids)?
        .into_iter()
        .map(|user| (user.id, user))
        .collect();
    let mut sending = Vec::new();
    for (request, prepared, delivered) in &accepted {
        let current = found
            .get(&request.user.id)
            .is_some_and(|u| u.active && u.email == request.user.email);
        if current {
            sending.push((prepared.pending.token_id, delivered.detail.as_str()));
        } else {
            let reason = "user deactivated or email changed";
            sql::revoke_outstanding(&tx, request.user.id, secs, reason)?;
        }
    }
    let live = sql::activate_sent_many(&tx, &sending, secs)?;
    let superseded = if flow.supersedes() {
        let (users, keep): (Vec<i64>, Vec<i64>) = accepted
            .iter()
            .filter(|(_, p, _)| live.contains(&p.pending.token_id))
            .map(|(r, p, _)| (r.user.id, p.pending.token_id))
            .unzip();
        sql::revoke_outstanding_except_many(&tx, &users, &keep, secs, "superseded")?
    } else {
        HashMap::new()
    };
    let endings: Vec<_> = accepted
        .into_iter()
        .map(|(request, prepared, delivered)| {
            let token_id = prepared.pending.token_id;
            let ending = if live.contains(&token_id) {
                let count = superseded.get(&request.user.id).copied().unwrap_or(0);
                flow.went_live(prepared.pending, delivered, count)
            } else {
                revoked_meanwhile(token_id)
            };
            let job = Job {
                intent: prepared.intent,
                ..job(&request, actor, now)
            };
            (job, ending)
        })
        .collect();
    let finished: Vec<Finished<'_>> = endings
        .iter()
        .map(|(job, ending)| Finished {
            job: *job,
            outcome: if ending.result.is_ok() {
                Outcome::Ok
            } else {
                Outcome::Failed
            },
            detail: &ending.detail,
            item: ItemEnd {
                reason: ending.reason.as_deref(),
                recipient: job.recipient.map(Recipient::as_str),
                expires_at: ending.expires_at,
                produced: ending.produced,
            },
        })
        .collect();
    delivery::finish_all(&tx, &finished)?;
    crash::at(CrashPoint::BeforeCommit);
    tx.commit()?;
    Ok(endings
        .into_iter()
        .map(|(_, ending)| ending.result)
        .collect())
}
