//! The link path of a bulk run: the next users are claimed, given a pending token and a
//! rendered mail while earlier mails are on the wire (two SMTP connections); each user is
//! committed when the server's answer comes, and 4xx answers are retried once the pipeline
//! is empty. On a store where transactions cost round trips (PostgreSQL), users are claimed,
//! written and committed a batch at a time ([`crate::bulk::batching::users_per_transaction`]), unless a rate
//! cap spaces the mails out.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;

use super::{
    Attempt, BulkError, Claimer, First, GONE, Outcome, Report, RunParams, Throttle, attempt_after,
    fail_item, outcome_after, pace_claimed, recipient_for, with_retries,
};
use crate::links::{self, LinkRequest, LinkSettings};
use crate::mail::{Delivered, MailError, Recipient};
use crate::store::Store;
use crate::store::bulk::Item;
use crate::user::User;

mod batch;

/// Send a link to each pending (or earlier failed) user, pipelined when the transport can.
pub(super) fn run_links(
    store: &mut Store,
    params: &mut RunParams<'_>,
    settings: &LinkSettings,
    throttle: &mut Throttle,
    report: &mut Report,
    on_item: &mut impl FnMut(&Item, Option<&User>, &Outcome),
) -> Result<(), BulkError> {
    let depth = params.mailer.pipelined().map_or(0, |pipe| pipe.depth());
    // One user at a time when mails cannot be pipelined or are spaced out by a rate cap.
    let batch = if depth == 0 || params.pacing.min_interval.is_some() {
        1
    } else {
        crate::bulk::batching::users_per_transaction(store)
    };
    let mut path = LinkPath {
        depth,
        batch,
        settings,
        rng: (params.rng)(),
        flights: VecDeque::new(),
        landed: Vec::new(),
        retry: Vec::new(),
        report,
        on_item,
    };
    let mut claimer = Claimer::new();
    while !params.stop.load(Ordering::SeqCst) {
        let claimed = claimer.next_batch(store, params, batch)?;
        if claimed.is_empty() {
            break;
        }
        let mut users = Vec::with_capacity(claimed.len());
        for (item, user) in claimed {
            match user {
                None => path.gone(store, params, &item)?,
                Some(user) => users.push((item, user)),
            }
        }
        if users.len() > 1 {
            path.pipeline_batch(store, params, throttle, users)?;
        } else if let Some((item, user)) = users.pop() {
            if depth == 0 {
                path.send_now(store, params, throttle, &item, user)?;
            } else {
                path.pipeline(store, params, throttle, &item, user)?;
            }
        }
    }
    path.land_all(store, params)?;
    path.retry_queued(store, params, throttle)
}

/// The link path between users: the mails on the wire, the users to retry, the totals.
struct LinkPath<'p, R, F> {
    /// How many mails may be on the wire at once; 0 when the transport cannot pipeline.
    depth: usize,
    /// How many answered users are committed in one transaction.
    batch: usize,
    settings: &'p LinkSettings,
    rng: R,
    flights: VecDeque<Flight>,
    /// Mails answered but not yet committed.
    landed: Vec<(Flight, Answer)>,
    /// 4xx replies and dropped connections, with the error, retried at the end.
    retry: Vec<(Item, User, String)>,
    report: &'p mut Report,
    on_item: &'p mut F,
}

impl<R, F> LinkPath<'_, R, F>
where
    R: rand::CryptoRng,
    F: FnMut(&Item, Option<&User>, &Outcome),
{
    /// Count a finished user and tell the caller.
    fn emit(&mut self, item: &Item, user: Option<&User>, outcome: Outcome) {
        self.report.count(&outcome);
        (self.on_item)(item, user, &outcome);
    }

    /// A user deleted since planning: failed without an attempt.
    fn gone(
        &mut self,
        store: &mut Store,
        params: &RunParams<'_>,
        item: &Item,
    ) -> Result<(), BulkError> {
        let outcome = fail_item(store, item, GONE, (params.clock)().as_second())?;
        self.emit(item, None, outcome);
        Ok(())
    }

    /// Without pipelining: mail the user and wait for the answer, retrying as needed.
    fn send_now(
        &mut self,
        store: &mut Store,
        params: &mut RunParams<'_>,
        throttle: &mut Throttle,
        item: &Item,
        user: User,
    ) -> Result<(), BulkError> {
        let listed = user.clone();
        let first = First::Claimed(user);
        let (settings, rng) = (self.settings, &mut self.rng);
        if let Some(outcome) = send_link(store, params, settings, throttle, item, first, rng)? {
            self.emit(item, Some(&listed), outcome);
        }
        Ok(())
    }

    /// With pipelining: prepare this user, collect the oldest answer if the pipe is full, put
    /// this mail on the wire, and only then commit the previous user, so that the server
    /// always has something to chew on.
    fn pipeline(
        &mut self,
        store: &mut Store,
        params: &mut RunParams<'_>,
        throttle: &mut Throttle,
        item: &Item,
        user: User,
    ) -> Result<(), BulkError> {
        let (settings, rng) = (self.settings, &mut self.rng);
        let next = prepare_flight(store, params, settings, throttle, item, user, rng)?;
        self.make_room(params);
        match next {
            Ok(Some(ready)) => self.take_off(store, params, ready)?,
            Ok(None) => {}
            Err((user, outcome)) => self.emit(item, Some(&user), outcome),
        }
        self.settle_landed(store, params, false)
    }

    /// With the pipe full, wait for the oldest mail's answer (committed later).
    fn make_room(&mut self, params: &mut RunParams<'_>) {
        if self.flights.len() >= self.depth {
            if let Some(previous) = self.flights.pop_front() {
                let answer = collect(params);
                self.landed.push((previous, answer));
            }
        }
    }

    /// Commit the answered users: refused mails at once, one by one; accepted ones once a
    /// batch of them is in (or whatever is in, when `all`).
    fn settle_landed(
        &mut self,
        store: &mut Store,
        params: &mut RunParams<'_>,
        all: bool,
    ) -> Result<(), BulkError> {
        let (accepted, refused): (Vec<_>, Vec<_>) = std::mem::take(&mut self.landed)
            .into_iter()
            .partition(|(_, answer)| answer.is_ok());
        for (flight, answer) in refused {
            self.settle(store, params, flight, answer)?;
        }
        if accepted.is_empty() || (accepted.len() < self.batch && !all) {
            self.landed = accepted;
            return Ok(());
        }
        let sent: Vec<_> = accepted
            .into_iter()
            .filter_map(|(flight, answer)| Some((flight, answer.ok()?)))
            .collect();
        if self.batch > 1 {
            return self.settle_batch(store, params, sent);
        }
        for (flight, delivered) in sent {
            self.settle(store, params, flight, Ok(delivered))?;
        }
        Ok(())
    }

    /// Put a prepared mail on the wire, or settle it at once if that fails.
    fn take_off(
        &mut self,
        store: &mut Store,
        params: &mut RunParams<'_>,
        flight: Flight,
    ) -> Result<(), BulkError> {
        match depart(params, &flight) {
            Ok(()) => {
                self.flights.push_back(flight);
                Ok(())
            }
            Err(err) => self.settle(store, params, flight, Err(err)),
        }
    }

    /// Collect and settle every mail still on the wire.
    fn land_all(&mut self, store: &mut Store, params: &mut RunParams<'_>) -> Result<(), BulkError> {
        while let Some(previous) = self.flights.pop_front() {
            let answer = collect(params);
            self.landed.push((previous, answer));
        }
        self.settle_landed(store, params, true)
    }

    /// 4xx replies and dropped connections, retried once the pipeline is empty, with backoff.
    fn retry_queued(
        mut self,
        store: &mut Store,
        params: &mut RunParams<'_>,
        throttle: &mut Throttle,
    ) -> Result<(), BulkError> {
        for (item, user, err) in std::mem::take(&mut self.retry) {
            // Nothing back: stopped (report the last error), or another process took the item
            // (it reports it).
            let first = First::Retry(1);
            let (settings, rng) = (self.settings, &mut self.rng);
            let outcome = match send_link(store, params, settings, throttle, &item, first, rng)? {
                Some(outcome) => outcome,
                None if params.stop.load(Ordering::SeqCst) => Outcome::Failed(err),
                None => continue,
            };
            self.emit(&item, Some(&user), outcome);
        }
        Ok(())
    }

    /// Finish a user with the transport's answer: the token goes live only if the server
    /// accepted the mail. A 4xx or a dropped connection is queued for a retry once the
    /// pipeline is empty.
    fn settle(
        &mut self,
        store: &mut Store,
        params: &mut RunParams<'_>,
        flight: Flight,
        answer: Answer,
    ) -> Result<(), BulkError> {
        let request = link_request(
            params.run_id,
            &flight.item,
            &flight.user,
            flight.recipient.as_ref(),
        );
        let completed = links::complete(
            store,
            self.settings,
            request,
            flight.prepared,
            answer,
            params.actor,
            (params.clock)(),
        );
        let outcome = match completed {
            Ok(sent) => Outcome::Sent {
                recipient: sent.recipient.to_string(),
                expires_at: sent.expires_at,
            },
            Err(err) => match attempt_after(err, params.pacing.retries > 0)? {
                Attempt::Done(outcome) => outcome,
                Attempt::Retry(err) => {
                    self.retry.push((flight.item, flight.user, err));
                    return Ok(());
                }
            },
        };
        self.emit(&flight.item, Some(&flight.user), outcome);
        Ok(())
    }
}

/// What the transport said of one mail.
type Answer = Result<Delivered, MailError>;

/// A link mail on its way, with what is needed to finish that user when the answer comes.
struct Flight {
    item: Item,
    /// The user as read when claiming the item.
    user: User,
    recipient: Option<Recipient>,
    prepared: links::Prepared,
}

/// What this path asks of `links` for one user: a link recorded against the run's item, held
/// back only by links others sent the user since the run was planned (the plan checked the
/// cooldown before that).
fn link_request<'a>(
    run_id: &'a str,
    item: &Item,
    user: &'a User,
    recipient: Option<&'a Recipient>,
) -> LinkRequest<'a> {
    LinkRequest {
        user,
        recipient,
        force: false,
        bulk: Some((run_id, item.id)),
        note: None,
    }
}

/// For a claimed user (as read when claiming): keep the rate, write their pending token and
/// render the mail, while the previous user's mail may still be on its way. `Ok(None)`:
/// stopped before starting (the item given back); `Err`: the user and how they ended.
#[allow(clippy::type_complexity)]
fn prepare_flight(
    store: &mut Store,
    params: &mut RunParams<'_>,
    settings: &LinkSettings,
    throttle: &mut Throttle,
    item: &Item,
    user: User,
    rng: &mut impl rand::CryptoRng,
) -> Result<Result<Option<Flight>, (User, Outcome)>, BulkError> {
    if !pace_claimed(store, params, throttle, item)? {
        return Ok(Ok(None));
    }
    let recipient = recipient_for(params, &user);
    let request = link_request(params.run_id, item, &user, recipient.as_ref());
    let now = (params.clock)();
    match links::prepare(
        store,
        params.templates,
        settings,
        request,
        params.actor,
        now,
        rng,
    ) {
        Ok(prepared) => Ok(Ok(Some(Flight {
            item: item.clone(),
            user,
            recipient,
            prepared,
        }))),
        Err(err) => Ok(Err((user, outcome_after(err)?))),
    }
}

/// Put a prepared mail on the wire; on failure hand it back with the error.
fn depart(params: &mut RunParams<'_>, flight: &Flight) -> Result<(), crate::mail::MailError> {
    match params.mailer.pipelined() {
        Some(pipe) => pipe.submit(&flight.prepared.outgoing),
        None => Err(crate::mail::MailError::Local(
            "the transport cannot pipeline".into(),
        )),
    }
}

/// Wait for the answer about the mail on the wire.
fn collect(params: &mut RunParams<'_>) -> Answer {
    match params.mailer.pipelined() {
        Some(pipe) => pipe.collect(),
        None => Err(crate::mail::MailError::Local(
            "the transport cannot pipeline".into(),
        )),
    }
}

/// Mail one user and wait for the answer, retrying as needed (each attempt with the user as
/// read when claiming the item).
fn send_link(
    store: &mut Store,
    params: &mut RunParams<'_>,
    settings: &LinkSettings,
    throttle: &mut Throttle,
    item: &Item,
    first: First,
    rng: &mut impl rand::CryptoRng,
) -> Result<Option<Outcome>, BulkError> {
    with_retries(
        store,
        params,
        throttle,
        item,
        first,
        |store, params, user| {
            let recipient = recipient_for(params, user);
            let request = link_request(params.run_id, item, user, recipient.as_ref());
            let (actor, now) = (params.actor, (params.clock)());
            let mut courier = links::Courier {
                mailer: &mut *params.mailer,
                templates: params.templates,
                settings,
            };
            match links::send(store, &mut courier, request, actor, now, rng) {
                Ok(sent) => Ok(Attempt::Done(Outcome::Sent {
                    recipient: sent.recipient.to_string(),
                    expires_at: sent.expires_at,
                })),
                Err(err) => attempt_after(err, true),
            }
        },
    )
}
