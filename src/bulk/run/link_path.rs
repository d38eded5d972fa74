//! The link path of a bulk run: the next users are claimed, given a pending token and a
//! rendered mail while earlier mails are on the wire (two SMTP connections); each user is
//! committed when the server's answer comes, and 4xx answers are retried once the pipeline
//! is empty.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;

use super::{
    Attempt, Begin, BulkError, Outcome, Report, Runner, Sender, TAKEN, attempt_after, begin,
    fail_item, for_each_item, outcome_after, recipient_for, with_retries,
};
use crate::links::{self, LinkRequest};
use crate::store::Store;
use crate::store::bulk::Item;
use crate::store::users::User;

pub(super) fn run_links(
    store: &mut Store,
    runner: &mut Runner<'_>,
    state: &mut Sender,
    report: &mut Report,
    on_item: &mut impl FnMut(&Item, Option<&User>, &Outcome),
) -> Result<(), BulkError> {
    let mut rng = rand::rng();
    let depth = runner.mailer.pipelined().map_or(0, |pipe| pipe.depth());
    let pipelined = depth > 0;
    let mut flights: VecDeque<Flight> = VecDeque::new();
    let mut retry: Vec<(Item, User, String)> = Vec::new();
    let mut emit = |item: &Item, user: Option<&User>, outcome: Outcome| {
        report.count(&outcome);
        on_item(item, user, &outcome);
    };
    for_each_item(
        store,
        runner.run_id,
        &["pending", "failed"],
        |store, item, user| {
            if runner.stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            let Some(user) = user else {
                let outcome = fail_item(
                    store,
                    item,
                    "the user no longer exists",
                    (runner.clock)().as_second(),
                )?;
                emit(item, None, outcome);
                return Ok(());
            };
            if !pipelined {
                if let Some(outcome) = send_link(store, runner, state, item, &user, 0, &mut rng)? {
                    emit(item, Some(&user), outcome);
                }
                return Ok(());
            }
            let next = prepare_flight(store, runner, state, item, user, &mut rng)?;
            // Collect the previous answer, put the next mail on the wire, and only then commit
            // the previous user, so that the server always has something to chew on.
            let answered = if flights.len() >= depth {
                flights
                    .pop_front()
                    .map(|previous| (previous, collect(runner)))
            } else {
                None
            };
            match next {
                Ok(Some(ready)) => match depart(runner, &ready) {
                    Ok(()) => flights.push_back(ready),
                    Err(err) => {
                        settle(store, runner, ready, Err(err), &mut retry, &mut emit)?;
                    }
                },
                Ok(None) => {}
                Err((user, outcome)) => emit(item, Some(&user), outcome),
            }
            if let Some((previous, answer)) = answered {
                settle(store, runner, previous, answer, &mut retry, &mut emit)?;
            }
            Ok(())
        },
    )?;
    while let Some(previous) = flights.pop_front() {
        let answer = collect(runner);
        settle(store, runner, previous, answer, &mut retry, &mut emit)?;
    }
    // 4xx replies and dropped connections, retried once the pipeline is empty, with backoff.
    for (item, user, err) in retry {
        let outcome = send_link(store, runner, state, &item, &user, 1, &mut rng)?
            .unwrap_or(Outcome::Failed(err));
        emit(&item, Some(&user), outcome);
    }
    Ok(())
}

/// A link mail on its way, with what is needed to finish that user when the answer comes.
struct Flight {
    item: Item,
    user: User,
    recipient: String,
    prepared: links::Prepared,
}

/// Claim the user, write their pending token and render the mail, while the previous user's
/// mail may still be on its way. `Ok(None)`: stopped before starting.
#[allow(clippy::type_complexity)]
fn prepare_flight(
    store: &mut Store,
    runner: &mut Runner<'_>,
    state: &mut Sender,
    item: &Item,
    user: User,
    rng: &mut impl rand::CryptoRng,
) -> Result<Result<Option<Flight>, (User, Outcome)>, BulkError> {
    let settings = runner
        .link
        .ok_or_else(|| BulkError::Run("link settings missing".into()))?;
    match begin(store, runner, state, item, 0)? {
        Begin::Go => {}
        Begin::Stopped => return Ok(Ok(None)),
        Begin::Taken => return Ok(Err((user, Outcome::Skipped(TAKEN.into())))),
    }
    let recipient = recipient_for(runner, &user).to_string();
    let request = LinkRequest {
        user: &user,
        recipient: &recipient,
        force: true,
        bulk: Some((runner.run_id, item.id)),
        note: None,
    };
    match links::prepare(
        store,
        runner.templates,
        settings,
        request,
        runner.actor,
        (runner.clock)(),
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
fn depart(runner: &mut Runner<'_>, flight: &Flight) -> Result<(), crate::mail::MailError> {
    match runner.mailer.pipelined() {
        Some(pipe) => pipe.submit(&flight.prepared.outgoing),
        None => Err(crate::mail::MailError::Local(
            "the transport cannot pipeline".into(),
        )),
    }
}

/// Wait for the answer about the mail on the wire.
fn collect(runner: &mut Runner<'_>) -> Result<crate::mail::Delivered, crate::mail::MailError> {
    match runner.mailer.pipelined() {
        Some(pipe) => pipe.collect(),
        None => Err(crate::mail::MailError::Local(
            "the transport cannot pipeline".into(),
        )),
    }
}

/// Finish a user with the transport's answer: the token goes live only if the server accepted
/// the mail. A 4xx or a dropped connection is queued for a retry once the pipeline is empty.
fn settle(
    store: &mut Store,
    runner: &mut Runner<'_>,
    flight: Flight,
    answer: Result<crate::mail::Delivered, crate::mail::MailError>,
    retry: &mut Vec<(Item, User, String)>,
    emit: &mut impl FnMut(&Item, Option<&User>, Outcome),
) -> Result<(), BulkError> {
    let settings = runner
        .link
        .ok_or_else(|| BulkError::Run("link settings missing".into()))?;
    let Flight {
        item,
        user,
        recipient,
        prepared,
    } = flight;
    let request = LinkRequest {
        user: &user,
        recipient: &recipient,
        force: true,
        bulk: Some((runner.run_id, item.id)),
        note: None,
    };
    let outcome = match links::complete(
        store,
        settings,
        request,
        prepared,
        answer,
        runner.actor,
        (runner.clock)(),
    ) {
        Ok(sent) => Outcome::Sent {
            recipient,
            expires_at: sent.expires_at,
        },
        Err(err) => match attempt_after(err, runner.pacing.retries > 0)? {
            Attempt::Done(outcome) => outcome,
            Attempt::Retry(err) => {
                retry.push((item, user, err));
                return Ok(());
            }
        },
    };
    emit(&item, Some(&user), outcome);
    Ok(())
}

fn send_link(
    store: &mut Store,
    runner: &mut Runner<'_>,
    state: &mut Sender,
    item: &Item,
    user: &User,
    first_attempt: u32,
    rng: &mut impl rand::CryptoRng,
) -> Result<Option<Outcome>, BulkError> {
    let settings = runner
        .link
        .ok_or_else(|| BulkError::Run("link settings missing".into()))?;
    let recipient = recipient_for(runner, user).to_string();
    with_retries(
        store,
        runner,
        state,
        item,
        first_attempt,
        |store, runner| {
            let request = LinkRequest {
                user,
                recipient: &recipient,
                force: true,
                bulk: Some((runner.run_id, item.id)),
                note: None,
            };
            let mut courier = links::Courier {
                mailer: &mut *runner.mailer,
                templates: runner.templates,
                settings,
            };
            match links::send(
                store,
                &mut courier,
                request,
                runner.actor,
                (runner.clock)(),
                rng,
            ) {
                Ok(sent) => Ok(Attempt::Done(Outcome::Sent {
                    recipient: recipient.clone(),
                    expires_at: sent.expires_at,
                })),
                Err(err) => attempt_after(err, true),
            }
        },
    )
}
