//! The batched half of the link path (PostgreSQL without a rate cap): a batch of claimed users
//! gets its pending tokens and intents in one transaction, its mails put on the wire one after
//! another, and its accepted users committed in one transaction.

use super::{Flight, LinkPath, link_request};
use crate::bulk::run::{
    BulkError, Outcome, RunParams, Throttle, outcome_after, recipient_for, release,
};
use crate::links::{self, LinkSettings};
use crate::mail::Delivered;
use crate::store::Store;
use crate::store::bulk::Item;
use crate::user::User;

impl<R, F> LinkPath<'_, R, F>
where
    R: rand::CryptoRng,
    F: FnMut(&Item, Option<&User>, &Outcome),
{
    /// [`LinkPath::pipeline`] for a batch of claimed users: their tokens written in one
    /// transaction, their mails put on the wire one after another, and the answered users
    /// committed a batch at a time. The stop flag is checked once, before anything is written:
    /// a batch that started is sent whole.
    pub(super) fn pipeline_batch(
        &mut self,
        store: &mut Store,
        params: &mut RunParams<'_>,
        throttle: &mut Throttle,
        users: Vec<(Item, User)>,
    ) -> Result<(), BulkError> {
        if !throttle.pace(&params.pacing, params.stop) {
            for (item, _) in &users {
                release(store, params, item)?;
            }
            return Ok(());
        }
        // The previous batch's answered users first, so that at most one batch (and the mails
        // still on the wire) has intents open: what a crash would leave `interrupted`.
        self.settle_landed(store, params, true)?;
        for next in prepare_flights(store, params, self.settings, users, &mut self.rng)? {
            self.make_room(params);
            match next {
                Ok(ready) => self.take_off(store, params, ready)?,
                Err((item, user, outcome)) => self.emit(&item, Some(&user), outcome),
            }
            self.settle_landed(store, params, false)?;
        }
        Ok(())
    }

    /// Commit a batch of users whose mails were accepted, in one transaction.
    pub(super) fn settle_batch(
        &mut self,
        store: &mut Store,
        params: &mut RunParams<'_>,
        sent: Vec<(Flight, Delivered)>,
    ) -> Result<(), BulkError> {
        // Each flight's user and address stay here for the requests (and the report); its
        // written link and the answer go to `complete_batch`.
        let (users, answered): (Vec<_>, Vec<_>) = sent
            .into_iter()
            .map(|(f, delivered)| ((f.item, f.user, f.recipient), (f.prepared, delivered)))
            .unzip();
        let accepted: Vec<_> = users
            .iter()
            .zip(answered)
            .map(|((item, user, to), (prepared, delivered))| {
                let request = link_request(params.run_id, item, user, to.as_ref());
                (request, prepared, delivered)
            })
            .collect();
        let (actor, now) = (params.actor, (params.clock)());
        let results = links::complete_batch(store, self.settings, accepted, actor, now)
            .map_err(batch_failed)?;
        for ((item, user, _), result) in users.iter().zip(results) {
            let outcome = match result {
                Ok(sent) => Outcome::Sent {
                    recipient: sent.recipient.to_string(),
                    expires_at: sent.expires_at,
                },
                Err(err) => outcome_after(err)?,
            };
            self.emit(item, Some(user), outcome);
        }
        Ok(())
    }
}

/// A store failure that ends the run, from a step done for a whole batch.
fn batch_failed(err: links::LinkError) -> BulkError {
    let text = err.to_string();
    outcome_after(err).err().unwrap_or(BulkError::Run(text))
}

/// For a batch of claimed users (as read when claiming): write their pending tokens in one
/// transaction and render their mails. Each user gets a flight, or how they ended.
#[allow(clippy::type_complexity)]
fn prepare_flights(
    store: &mut Store,
    params: &mut RunParams<'_>,
    settings: &LinkSettings,
    users: Vec<(Item, User)>,
    rng: &mut impl rand::CryptoRng,
) -> Result<Vec<Result<Flight, (Item, User, Outcome)>>, BulkError> {
    let recipients: Vec<_> = users
        .iter()
        .map(|(_, u)| recipient_for(params, u))
        .collect();
    let requests: Vec<_> = users
        .iter()
        .zip(&recipients)
        .map(|((item, user), to)| link_request(params.run_id, item, user, to.as_ref()))
        .collect();
    let (templates, actor, now) = (params.templates, params.actor, (params.clock)());
    let answers = links::prepare_batch(store, templates, settings, &requests, actor, now, rng)
        .map_err(batch_failed)?;
    drop(requests);
    let mut flights = Vec::with_capacity(users.len());
    for (((item, user), recipient), answer) in users.into_iter().zip(recipients).zip(answers) {
        flights.push(match answer {
            Ok(prepared) => Ok(Flight {
                item,
                user,
                recipient,
                prepared,
            }),
            Err(err) => Err((item, user, outcome_after(err)?)),
        });
    }
    Ok(flights)
}
