//! Running a planned bulk run: each pending (or earlier failed) item in order, the user read
//! again when their item is claimed, mail first and the user's change committed with the
//! item's outcome; 4xx replies retried with backoff; a send rate cap; a stop flag (Ctrl-C,
//! SIGTERM) honoured between users and during every wait. Several processes may work one run
//! at once: each claims the next free user (recording itself as the holder), and only a dead
//! holder's `sending` items are taken over. For `generate`, argon2 hashing runs on worker
//! threads, one per core, while this thread sends mail.

mod claiming;
mod link_path;
mod password_path;

use claiming::{Claimer, First, pace_claimed, release, with_retries};

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use jiff::Timestamp;

use super::{Action, BulkError};
use crate::audit::{self, Actor, Event};
use crate::delivery::owner;
use crate::delivery::{DeliveryError, FlowError};
use crate::generate::GenerateSettings;
use crate::links::LinkSettings;
use crate::mail::{Mailer, Recipient, RecipientRule};
use crate::store::bulk::{self, Item, ItemPager};
use crate::store::{Store, StoreError, intents};
use crate::templates::Templates;
use crate::user::User;

/// How fast, and how persistently, to send.
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    /// At least this long between two sends (from `--rate`).
    pub min_interval: Option<Duration>,
    /// Retries of a 4xx reply or dropped connection, per user.
    pub retries: u32,
    /// Wait before the first retry; doubled for each further one.
    pub backoff: Duration,
}

/// How one user ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Mail accepted and the change committed.
    Sent {
        /// Where the mail went.
        recipient: String,
        /// When the link or password expires.
        expires_at: i64,
    },
    /// Not acted on, with the reason.
    Skipped(String),
    /// Tried and failed; nothing changed for this user.
    Failed(String),
}

/// Totals of a run (this invocation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    /// Users done.
    pub sent: u64,
    /// Users skipped.
    pub skipped: u64,
    /// Users failed.
    pub failed: u64,
    /// Stopped early by the stop flag.
    pub interrupted: bool,
}

impl Report {
    fn count(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Sent { .. } => self.sent += 1,
            Outcome::Skipped(_) => self.skipped += 1,
            Outcome::Failed(_) => self.failed += 1,
        }
    }
}

/// What a run does to each user, with the settings that takes: a link run cannot be without
/// link settings, nor a password run without password settings.
#[derive(Debug, Clone)]
pub enum RunAction {
    /// Send a reset link.
    Link(LinkSettings),
    /// Set and email a temporary password.
    Generate(GenerateSettings),
}

impl RunAction {
    /// The action, as stored with the run.
    pub fn action(&self) -> Action {
        match self {
            RunAction::Link(_) => Action::Link,
            RunAction::Generate(_) => Action::Generate,
        }
    }
}

/// The parameters of one run (or resume): what to do, to whom, through which transport, how
/// fast, and the run's clock, actor and RNG.
pub struct RunParams<'a> {
    /// The run.
    pub run_id: &'a str,
    /// What to do, with the settings it needs.
    pub action: &'a RunAction,
    /// Who receives the mails: each user, or one address instead (`--to`,
    /// `deliver_to = "admin"`), as stored with the run.
    pub recipients: &'a RecipientRule,
    /// The transport, reused for the whole run.
    pub mailer: &'a mut dyn Mailer,
    /// The templates.
    pub templates: &'a Templates,
    /// Pace and retries.
    pub pacing: Pacing,
    /// Set to stop after the user in progress.
    pub stop: &'a AtomicBool,
    /// The clock (links expire counting from when each one is sent).
    pub clock: &'a dyn Fn() -> Timestamp,
    /// Who acts.
    pub actor: &'a Actor,
    /// Makes an OS-seeded CSPRNG: one for the run, one per hashing thread.
    pub rng: fn() -> rand::rngs::ThreadRng,
    /// Also report the entries skipped when planning (a fresh run, not a resume).
    pub report_planned_skips: bool,
}

/// Run (or resume) a planned run. `on_item` hears about every user as they finish.
pub fn run(
    store: &mut Store,
    params: &mut RunParams<'_>,
    mut on_item: impl FnMut(&Item, Option<&User>, &Outcome),
) -> Result<Report, BulkError> {
    let mut report = Report::default();
    start(store, params, &mut report, &mut on_item)?;
    let throttle = &mut Throttle { last_send: None };
    match params.action {
        RunAction::Link(link) => {
            link_path::run_links(store, params, link, throttle, &mut report, &mut on_item)?;
        }
        RunAction::Generate(password) => {
            password_path::run_generate(
                store,
                params,
                password,
                throttle,
                &mut report,
                &mut on_item,
            )?;
        }
    }
    report.interrupted = params.stop.load(Ordering::SeqCst);
    finish(store, params, &report)?;
    Ok(report)
}

fn start(
    store: &mut Store,
    params: &RunParams<'_>,
    report: &mut Report,
    on_item: &mut impl FnMut(&Item, Option<&User>, &Outcome),
) -> Result<(), BulkError> {
    let now = (params.clock)().as_second();
    let tx = store.write()?;
    bulk::set_run_status(&tx, params.run_id, "running", now)?;
    tx.commit()?;
    if params.report_planned_skips {
        for_each_item(store, params.run_id, &["skipped"], |_, item, user| {
            let outcome = Outcome::Skipped(item.reason.clone().unwrap_or_default());
            report.count(&outcome);
            on_item(item, user.as_ref(), &outcome);
            Ok(())
        })?;
    }
    for_each_item(store, params.run_id, &["sending"], |store, item, user| {
        if let Some(outcome) = take_over_if_dead(store, item, (params.clock)().as_second())? {
            report.count(&outcome);
            on_item(item, user.as_ref(), &outcome);
        }
        Ok(())
    })
}

/// Why an item whose sender died is not resent.
const INTERRUPTED: &str = "interrupted while sending: the mail may have been delivered, so it is not resent; check this user by hand";

/// A `sending` item: left alone while the process holding it lives (several processes may work
/// one run, each claiming the next free user); if that process died, back to `pending` when no
/// mail intent exists for it (every mail is preceded by one, so none left), else `interrupted`
/// (never resent), which is reported here as failed. Items claimed before schema 3 name no
/// holder and count as interrupted.
fn take_over_if_dead(
    store: &mut Store,
    item: &Item,
    now: i64,
) -> Result<Option<Outcome>, BulkError> {
    let tx = store.write()?;
    let holder = bulk::holder(&tx, item.id)?;
    let unsent = match &holder {
        Some((owner, at)) if owner::alive(owner, *at, now) => return Ok(None),
        Some(_) => !intents::exists_for_item(&tx, item.id)?,
        None => false,
    };
    let (status, reason) = if unsent {
        ("pending", None)
    } else {
        ("interrupted", Some(INTERRUPTED))
    };
    let taken = bulk::take_over(&tx, item.id, status, reason, now)?;
    tx.commit().map_err(StoreError::Db)?;
    Ok((taken && !unsent).then(|| Outcome::Failed(INTERRUPTED.into())))
}

fn finish(store: &mut Store, params: &RunParams<'_>, report: &Report) -> Result<(), BulkError> {
    let now = (params.clock)();
    let status = if report.interrupted {
        "interrupted"
    } else {
        "done"
    };
    let detail = format!(
        "{}: {status}; sent {}, skipped {}, failed {}",
        params.action.action().as_str(),
        report.sent,
        report.skipped,
        report.failed
    );
    let outcome = if report.failed > 0 || report.interrupted {
        audit::Outcome::Failed
    } else {
        audit::Outcome::Ok
    };
    let tx = store.write()?;
    let left = bulk::counts(&tx, params.run_id)?;
    // Another process still working the run finishes it.
    let status = if status == "done" && left.pending + left.sending > 0 {
        "running"
    } else {
        status
    };
    bulk::set_run_status(&tx, params.run_id, status, now.as_second())?;
    audit::append(
        &tx,
        params.actor,
        now,
        &Event::new("bulk.run", outcome)
            .detail(Some(detail))
            .run_id(Some(params.run_id)),
    )?;
    tx.commit()?;
    Ok(())
}

/// Visit items with these statuses in order, each with its user, a page at a time.
fn for_each_item(
    store: &mut Store,
    run_id: &str,
    statuses: &[&str],
    mut f: impl FnMut(&mut Store, &Item, Option<User>) -> Result<(), BulkError>,
) -> Result<(), BulkError> {
    let mut pager = ItemPager::new(run_id, statuses);
    while let Some((item, user)) = pager.next_item(store.conn())? {
        f(store, &item, user)?;
    }
    Ok(())
}

/// The rate cap as the run keeps it: when the last mail went, so the next one waits for
/// [`Pacing::min_interval`].
struct Throttle {
    last_send: Option<Instant>,
}

impl Throttle {
    /// Wait for the rate cap; false if the stop flag was raised meanwhile.
    fn pace(&mut self, pacing: &Pacing, stop: &AtomicBool) -> bool {
        if let (Some(interval), Some(last)) = (pacing.min_interval, self.last_send) {
            if !sleep_unless_stopped(interval.saturating_sub(last.elapsed()), stop) {
                return false;
            }
        }
        self.last_send = Some(Instant::now());
        !stop.load(Ordering::SeqCst)
    }
}

/// Sleep in short steps, returning false as soon as the stop flag is raised.
fn sleep_unless_stopped(duration: Duration, stop: &AtomicBool) -> bool {
    let until = Instant::now() + duration;
    while !stop.load(Ordering::SeqCst) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
    false
}

/// Why a user deleted since planning failed.
const GONE: &str = "the user no longer exists";

fn backoff(pacing: &Pacing, attempt: u32) -> Duration {
    pacing
        .backoff
        .saturating_mul(1 << attempt.min(16))
        .min(Duration::from_secs(300))
}

/// Where this user's mail goes, if anywhere (`None` is refused as having no valid email).
fn recipient_for(params: &RunParams<'_>, user: &User) -> Option<Recipient> {
    params.recipients.for_user(user.email.as_deref())
}

/// Record a user that could not be attempted (gone, or hashing failed) as failed.
fn fail_item(store: &mut Store, item: &Item, reason: &str, now: i64) -> Result<Outcome, BulkError> {
    let tx = store.write()?;
    bulk::finish_item(&tx, item.id, "failed", Some(reason), None, None, now)?;
    tx.commit()?;
    Ok(Outcome::Failed(reason.into()))
}

/// How a failed send ends a user: skipped (refused), failed, worth a retry (a 4xx reply or a
/// dropped connection, when `may_retry`), or (the store failing) the end of the run.
fn attempt_after<E: FlowError>(
    err: DeliveryError<E>,
    may_retry: bool,
) -> Result<Attempt, BulkError> {
    match err {
        DeliveryError::Mail(err) if may_retry && err.is_transient() => {
            Ok(Attempt::Retry(err.to_string()))
        }
        DeliveryError::Refused(refusal) => Ok(Attempt::Done(Outcome::Skipped(
            refusal.reason().to_string(),
        ))),
        DeliveryError::Store(e) => Err(e.into()),
        DeliveryError::Audit(e) => Err(e.into()),
        DeliveryError::Own(e) if e.aborts_batch() => Err(BulkError::Run(e.to_string())),
        err => Ok(Attempt::Done(Outcome::Failed(err.to_string()))),
    }
}

/// [`attempt_after`] where no retry is possible.
fn outcome_after<E: FlowError>(err: DeliveryError<E>) -> Result<Outcome, BulkError> {
    Ok(match attempt_after(err, false)? {
        Attempt::Done(outcome) => outcome,
        Attempt::Retry(err) => Outcome::Failed(err),
    })
}

/// What one attempt at a user came to.
enum Attempt {
    /// Finished, one way or another.
    Done(Outcome),
    /// A 4xx reply or dropped connection: worth another try.
    Retry(String),
}
