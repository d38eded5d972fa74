//! Links for a batch of one bulk run's users at once, for stores where every transaction costs
//! round trips to a server (PostgreSQL): [`prepare_batch`] writes every user's pending token
//! and mail intent in one transaction (their rows locked, their cooldowns read in one
//! statement), and [`complete_batch`] hands the accepted ones to [`delivery::settle_batch`],
//! the commit path that [`complete`](super::complete) takes for one user, which makes them
//! live, supersedes older links, appends the audit rows and finishes the items in one
//! transaction. For each user it is the sequence of [`send`](super::send), with the same
//! checks; only the transactions are shared, so a crash leaves at most the batch in flight
//! `interrupted`.

use jiff::Timestamp;
use rand::CryptoRng;

use super::flow::LinkFlow;
use super::{
    LinkError, LinkFailure, LinkRequest, LinkSettings, Prepared, Sent, check, cooldown, job,
    pending, prepared_job, render,
};
use crate::audit::Actor;
use crate::delivery::{self, Accepted, DeliveryError, Job, Refusal};
use crate::keys::CodeKey;
use crate::mail::{Delivered, Recipient};
use crate::store::{Store, intents};
use crate::templates::Templates;
use crate::tokens::cancel::CancelKey;
use crate::tokens::{self, IssueRequest, Issued};

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
                let cancel_key = CancelKey::from_audit(&job.actor.key);
                Ok((pending(settings, &cancel_key, p, to), job.intending(id)))
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
/// transaction ([`delivery::settle_batch`]), each link goes live and supersedes older ones
/// unless it was revoked (or the user deactivated, or their email changed) meanwhile, and the
/// audit rows, bulk items and intents are written. One answer per user, in order; `Err` when
/// the store failed.
pub fn complete_batch(
    store: &mut Store,
    settings: &LinkSettings,
    accepted: Vec<(LinkRequest<'_>, Prepared, Delivered)>,
    actor: &Actor,
    now: Timestamp,
) -> delivery::Settled<Sent, LinkFailure> {
    let Some((first, _, _)) = accepted.first() else {
        return Ok(Vec::new());
    };
    let flow = LinkFlow::from(settings, first);
    let accepted = accepted
        .into_iter()
        .map(|(request, prepared, delivered)| Accepted {
            job: prepared_job(&request, &prepared, actor, now),
            staged: prepared.pending,
            sent: delivered,
        })
        .collect();
    delivery::settle_batch(store, &flow, accepted)
}
