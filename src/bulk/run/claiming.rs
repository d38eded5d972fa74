//! Claiming a run's users and attempting each: [`Claimer`] takes the next free item for this
//! process (several processes may work one run, each on users no other holds), and
//! [`with_retries`] keeps the rate, backs off after a 4xx or a dropped connection, and claims
//! the item again for each retry. An item claimed but not started when the stop flag is raised
//! is given back.

use super::{
    Attempt, BulkError, GONE, Item, Outcome, RunParams, Throttle, backoff, fail_item,
    sleep_unless_stopped,
};
use crate::delivery::owner;
use crate::store::Store;
use crate::store::bulk::{self, Claim};
use crate::user::User;

/// This process's walk through the free items of a run: each [`Claimer::next`] claims the
/// first free item after the last one it claimed, skipping those other processes hold, so
/// several processes on one run each take the next free user rather than racing for the same
/// one.
pub(super) struct Claimer {
    after: i64,
}

impl Claimer {
    pub(super) fn new() -> Self {
        Claimer { after: 0 }
    }

    /// The next free item, claimed by this process, with its user as they are now (`None`:
    /// deleted since planning); `None` when the run has no free item left ahead.
    pub(super) fn next(
        &mut self,
        store: &mut Store,
        params: &RunParams<'_>,
    ) -> Result<Option<(Item, Option<User>)>, BulkError> {
        Ok(self.next_batch(store, params, 1)?.into_iter().next())
    }

    /// [`Claimer::next`] for up to `limit` items at once, in order; empty when the run has no
    /// free item left ahead.
    pub(super) fn next_batch(
        &mut self,
        store: &mut Store,
        params: &RunParams<'_>,
        limit: usize,
    ) -> Result<Vec<(Item, Option<User>)>, BulkError> {
        let now = (params.clock)().as_second();
        let tx = store.claim()?;
        let claimed = match limit {
            1 => bulk::claim_next(&tx, params.run_id, self.after, owner::me(), now)?
                .into_iter()
                .collect(),
            _ => bulk::claim_batch(&tx, params.run_id, self.after, owner::me(), now, limit)?,
        };
        tx.commit()?;
        if let Some((item, _)) = claimed.last() {
            self.after = item.position;
        }
        Ok(claimed)
    }
}

/// Wait for the rate cap before the first attempt at an item claimed by [`Claimer::next`];
/// false, the item given back, when the stop flag was raised meanwhile.
pub(super) fn pace_claimed(
    store: &mut Store,
    params: &RunParams<'_>,
    throttle: &mut Throttle,
    item: &Item,
) -> Result<bool, BulkError> {
    if throttle.pace(&params.pacing, params.stop) {
        return Ok(true);
    }
    release(store, params, item)?;
    Ok(false)
}

/// The user of an item this process holds, read again; a user deleted meanwhile fails the item.
fn read_again(store: &mut Store, params: &RunParams<'_>, item: &Item) -> Result<Begin, BulkError> {
    if let Some(user) = bulk::user_of(store.conn(), item.id)? {
        return Ok(Begin::Go(user));
    }
    fail_item(store, item, GONE, (params.clock)().as_second())?;
    Ok(Begin::Gone)
}

/// Give back an item claimed by [`Claimer::next`] that this process stopped before sending.
pub(super) fn release(
    store: &mut Store,
    params: &RunParams<'_>,
    item: &Item,
) -> Result<(), BulkError> {
    let now = (params.clock)().as_second();
    let tx = store.claim()?;
    bulk::release(&tx, item.id, owner::me(), now)?;
    tx.commit()?;
    Ok(())
}

/// Whether an attempt at one user may go ahead.
enum Begin {
    /// Claimed: go ahead with the user as they are now.
    Go(User),
    /// Claimed, but the user was deleted meanwhile: the item is recorded as failed.
    Gone,
    /// The stop flag was raised.
    Stopped,
    /// Another pwreset process claimed the item first: it reports it, this one does not.
    Taken,
}

/// Before each attempt at one user: back off after a failure, keep the rate, honour the stop
/// flag, then claim the item so no other run sends to this user at the same time, reading the
/// user in the claim's transaction so that the mail goes to their current address.
fn begin(
    store: &mut Store,
    params: &RunParams<'_>,
    throttle: &mut Throttle,
    item: &Item,
    attempt: u32,
) -> Result<Begin, BulkError> {
    if attempt > 0 && !sleep_unless_stopped(backoff(&params.pacing, attempt - 1), params.stop) {
        return Ok(Begin::Stopped);
    }
    if !throttle.pace(&params.pacing, params.stop) {
        return Ok(Begin::Stopped);
    }
    let now = (params.clock)().as_second();
    let tx = store.write()?;
    let begin = match bulk::claim(&tx, item.id, owner::me(), now)? {
        Claim::Claimed(Some(user)) => Begin::Go(user),
        Claim::Claimed(None) => {
            bulk::finish_item(&tx, item.id, "failed", Some(GONE), None, None, now)?;
            Begin::Gone
        }
        Claim::Taken => Begin::Taken,
    };
    tx.commit()?;
    Ok(begin)
}

/// How a user's first attempt starts.
pub(super) enum First {
    /// Claimed just now (by [`Claimer::next`]), with the user as read then.
    Claimed(User),
    /// Claimed by [`Claimer::next`] a while ago (before hashing): the user is read again.
    Held,
    /// Retry number `n` of an item this process let go: claimed again by [`begin`].
    Retry(u32),
}

/// Attempt one user until done, retrying with backoff (see [`begin`]) up to `pacing.retries`.
/// Each attempt gets the user as read when claiming it.
pub(super) fn with_retries<'r>(
    store: &mut Store,
    params: &mut RunParams<'r>,
    throttle: &mut Throttle,
    item: &Item,
    first: First,
    mut attempt_once: impl FnMut(&mut Store, &mut RunParams<'r>, &User) -> Result<Attempt, BulkError>,
) -> Result<Option<Outcome>, BulkError> {
    let mut attempt = match first {
        First::Retry(n) => n,
        First::Claimed(_) | First::Held => 0,
    };
    let (mut first, mut last_error) = (Some(first), None);
    loop {
        let begun = match first.take() {
            Some(First::Retry(_)) | None => begin(store, params, throttle, item, attempt)?,
            Some(_) if !pace_claimed(store, params, throttle, item)? => Begin::Stopped,
            Some(First::Claimed(user)) => Begin::Go(user),
            Some(First::Held) => read_again(store, params, item)?,
        };
        let user = match begun {
            Begin::Go(user) => user,
            Begin::Gone => return Ok(Some(Outcome::Failed(GONE.into()))),
            Begin::Stopped => return Ok(last_error.map(Outcome::Failed)),
            Begin::Taken => return Ok(None),
        };
        match attempt_once(store, params, &user)? {
            Attempt::Done(outcome) => return Ok(Some(outcome)),
            Attempt::Retry(err) if attempt < params.pacing.retries => {
                last_error = Some(err);
                attempt += 1;
            }
            Attempt::Retry(err) => return Ok(Some(Outcome::Failed(err))),
        }
    }
}
