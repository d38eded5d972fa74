//! Running a planned bulk run: each pending (or earlier failed) item in order, mail first and
//! the user's change committed with the item's outcome; 4xx replies retried with backoff; a send
//! rate cap; a stop flag (Ctrl-C) honoured between users. For `generate`, argon2 hashing runs on
//! worker threads, one per core, while this thread sends mail.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use jiff::Timestamp;

use super::{Action, BulkError};
use crate::audit::{self, Actor, Event};
use crate::generate::{self, GenerateError, GenerateRequest, GenerateSettings, Prepared};
use crate::links::{self, LinkError, LinkRequest, LinkSettings};
use crate::mail::Mailer;
use crate::store::Store;
use crate::store::bulk::{self, Item};
use crate::store::users::{self as users_sql, User};
use crate::templates::Templates;

/// Items fetched from the store at a time.
const PAGE: i64 = 256;

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

/// Everything a run needs.
pub struct Runner<'a> {
    /// The run.
    pub run_id: &'a str,
    /// What to do.
    pub action: Action,
    /// Send every mail here instead of to the users (`--to`, `deliver_to = "admin"`).
    pub deliver_to: Option<&'a str>,
    /// The transport, reused for the whole run.
    pub mailer: &'a mut dyn Mailer,
    /// The templates.
    pub templates: &'a Templates,
    /// Link settings (for `Action::Link`).
    pub link: Option<&'a LinkSettings>,
    /// Temporary-password settings (for `Action::Generate`).
    pub generate: Option<&'a GenerateSettings>,
    /// Pace and retries.
    pub pacing: Pacing,
    /// Set to stop after the user in progress.
    pub stop: &'a AtomicBool,
    /// The clock (links expire counting from when each one is sent).
    pub clock: &'a dyn Fn() -> Timestamp,
    /// Who acts.
    pub actor: &'a Actor,
    /// Also report the entries skipped when planning (a fresh run, not a resume).
    pub report_planned_skips: bool,
}

/// Run (or resume) a planned run. `on_item` hears about every user as they finish.
pub fn run(
    store: &mut Store,
    runner: &mut Runner<'_>,
    mut on_item: impl FnMut(&Item, Option<&User>, &Outcome),
) -> Result<Report, BulkError> {
    let mut report = Report::default();
    start(store, runner, &mut report, &mut on_item)?;
    let mut state = Sender { last_send: None };
    match runner.action {
        Action::Link => run_links(store, runner, &mut state, &mut report, &mut on_item)?,
        Action::Generate => run_generate(store, runner, &mut state, &mut report, &mut on_item)?,
    }
    report.interrupted = runner.stop.load(Ordering::SeqCst);
    finish(store, runner, &report)?;
    Ok(report)
}

fn start(
    store: &mut Store,
    runner: &Runner<'_>,
    report: &mut Report,
    on_item: &mut impl FnMut(&Item, Option<&User>, &Outcome),
) -> Result<(), BulkError> {
    let now = (runner.clock)().as_second();
    let tx = store.write()?;
    bulk::set_run_status(&tx, runner.run_id, "running", now)?;
    tx.commit()?;
    if runner.report_planned_skips {
        for_each_item(store, runner.run_id, &["skipped"], |store, item| {
            let user = load_user(store, item)?;
            let outcome = Outcome::Skipped(item.reason.clone().unwrap_or_default());
            report.count(&outcome);
            on_item(item, user.as_ref(), &outcome);
            Ok(())
        })?;
    }
    // A crash in the middle of a send leaves an item `sending`: the mail may have gone out, so
    // it is never sent again automatically.
    for_each_item(store, runner.run_id, &["sending"], |store, item| {
        let reason = "interrupted while sending: not resent, so nobody is mailed twice; check this user by hand";
        let tx = store.write()?;
        bulk::finish_item(&tx, item.id, "skipped", Some(reason), None, None, now)?;
        tx.commit()?;
        let user = load_user(store, item)?;
        let outcome = Outcome::Skipped(reason.to_string());
        report.count(&outcome);
        on_item(item, user.as_ref(), &outcome);
        Ok(())
    })
}

fn finish(store: &mut Store, runner: &Runner<'_>, report: &Report) -> Result<(), BulkError> {
    let now = (runner.clock)();
    let status = if report.interrupted {
        "interrupted"
    } else {
        "done"
    };
    let detail = format!(
        "{}: {status}; sent {}, skipped {}, failed {}",
        runner.action.as_str(),
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
    bulk::set_run_status(&tx, runner.run_id, status, now.as_second())?;
    audit::append(
        &tx,
        runner.actor,
        now,
        &Event::new("bulk.run", outcome)
            .detail(Some(detail))
            .run_id(Some(runner.run_id)),
    )?;
    tx.commit()?;
    Ok(())
}

/// Visit items with these statuses in order, a page at a time.
fn for_each_item(
    store: &mut Store,
    run_id: &str,
    statuses: &[&str],
    mut f: impl FnMut(&mut Store, &Item) -> Result<(), BulkError>,
) -> Result<(), BulkError> {
    let mut after = 0;
    loop {
        let page = bulk::items(store.conn(), run_id, statuses, after, PAGE)?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        after = last.position;
        for item in &page {
            f(store, item)?;
        }
    }
}

fn load_user(store: &Store, item: &Item) -> Result<Option<User>, BulkError> {
    Ok(match item.user_id {
        Some(id) => users_sql::by_id(store.conn(), id)?,
        None => None,
    })
}

/// Pacing state.
struct Sender {
    last_send: Option<Instant>,
}

impl Sender {
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

/// What another pwreset run holding an item looks like in the report.
const TAKEN: &str = "being sent by another pwreset run";

enum Begin {
    Go,
    Stopped,
    Taken,
}

/// Before each attempt at one user: back off after a failure, keep the rate, honour the stop
/// flag, then claim the item so no other run sends to this user at the same time.
fn begin(
    store: &mut Store,
    runner: &Runner<'_>,
    state: &mut Sender,
    item: &Item,
    attempt: u32,
) -> Result<Begin, BulkError> {
    if attempt > 0 && !sleep_unless_stopped(backoff(&runner.pacing, attempt - 1), runner.stop) {
        return Ok(Begin::Stopped);
    }
    if !state.pace(&runner.pacing, runner.stop) {
        return Ok(Begin::Stopped);
    }
    let tx = store.write()?;
    let claimed = bulk::claim_item(&tx, item.id, (runner.clock)().as_second())?;
    tx.commit()?;
    Ok(if claimed { Begin::Go } else { Begin::Taken })
}

fn backoff(pacing: &Pacing, attempt: u32) -> Duration {
    pacing
        .backoff
        .saturating_mul(1 << attempt.min(16))
        .min(Duration::from_secs(300))
}

fn recipient_for<'u>(runner: &'u Runner<'_>, user: &'u User) -> &'u str {
    runner
        .deliver_to
        .or(user.email.as_deref())
        .unwrap_or_default()
}

/// Record a user that could not be attempted (gone, or hashing failed) as failed.
fn fail_item(store: &mut Store, item: &Item, reason: &str, now: i64) -> Result<Outcome, BulkError> {
    let tx = store.write()?;
    bulk::finish_item(&tx, item.id, "failed", Some(reason), None, None, now)?;
    tx.commit()?;
    Ok(Outcome::Failed(reason.into()))
}

fn run_links(
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
        |store, item| {
            if runner.stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            let Some(user) = load_user(store, item)? else {
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
        Err(LinkError::Refused(refusal)) => {
            Ok(Err((user, Outcome::Skipped(refusal.reason().to_string()))))
        }
        Err(err @ LinkError::Template(_)) => Ok(Err((user, Outcome::Failed(err.to_string())))),
        Err(LinkError::Store(e)) => Err(e.into()),
        Err(LinkError::Audit(e)) => Err(e.into()),
        Err(err) => Err(BulkError::Run(err.to_string())),
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
        Err(LinkError::Mail(err)) if err.is_transient() && runner.pacing.retries > 0 => {
            retry.push((item, user, err.to_string()));
            return Ok(());
        }
        Err(err @ (LinkError::Mail(_) | LinkError::Template(_) | LinkError::RevokedMeanwhile)) => {
            Outcome::Failed(err.to_string())
        }
        Err(LinkError::Store(e)) => return Err(e.into()),
        Err(LinkError::Audit(e)) => return Err(e.into()),
        Err(err) => return Err(BulkError::Run(err.to_string())),
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
    let (mut attempt, mut last_error) = (first_attempt, None);
    loop {
        match begin(store, runner, state, item, attempt)? {
            Begin::Go => {}
            Begin::Stopped => return Ok(last_error.map(Outcome::Failed)),
            Begin::Taken => return Ok(Some(Outcome::Skipped(TAKEN.into()))),
        }
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
            Ok(sent) => {
                return Ok(Some(Outcome::Sent {
                    recipient,
                    expires_at: sent.expires_at,
                }));
            }
            Err(LinkError::Mail(err)) if err.is_transient() && attempt < runner.pacing.retries => {
                last_error = Some(err.to_string());
                attempt += 1;
            }
            Err(LinkError::Refused(refusal)) => {
                return Ok(Some(Outcome::Skipped(refusal.reason().to_string())));
            }
            Err(
                err @ (LinkError::Mail(_) | LinkError::Template(_) | LinkError::RevokedMeanwhile),
            ) => {
                return Ok(Some(Outcome::Failed(err.to_string())));
            }
            Err(LinkError::Store(e)) => return Err(e.into()),
            Err(LinkError::Audit(e)) => return Err(e.into()),
            Err(LinkError::Token(e)) => return Err(BulkError::Run(e.to_string())),
        }
    }
}

type Job = (Item, Option<User>);
type Hashed = (
    Item,
    Option<User>,
    Result<Prepared, crate::password::HashError>,
);

fn run_generate(
    store: &mut Store,
    runner: &mut Runner<'_>,
    state: &mut Sender,
    report: &mut Report,
    on_item: &mut impl FnMut(&Item, Option<&User>, &Outcome),
) -> Result<(), BulkError> {
    let settings = runner
        .generate
        .ok_or_else(|| BulkError::Run("password settings missing".into()))?;
    let workers = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let (job_tx, job_rx) = mpsc::channel::<Job>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (done_tx, done_rx) = mpsc::channel::<Hashed>();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let (jobs, done, config) = (Arc::clone(&job_rx), done_tx.clone(), &settings.password);
            scope.spawn(move || hash_worker(&jobs, &done, config));
        }
        drop(done_tx);
        let result = feed_and_send(
            store,
            runner,
            state,
            report,
            on_item,
            &job_tx,
            &done_rx,
            workers * 2,
        );
        drop(job_tx);
        result
    })
}

fn hash_worker(
    jobs: &Mutex<mpsc::Receiver<Job>>,
    done: &mpsc::Sender<Hashed>,
    config: &crate::config::PasswordConfig,
) {
    let mut rng = rand::rng();
    // One hasher per worker: its 19 MiB of argon2 memory is reused for every user.
    let mut hasher = crate::password::Hasher::new(config);
    loop {
        let job = match jobs.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok((item, user)) = job else { return };
        let prepared = match &mut hasher {
            Ok(hasher) => generate::prepare_with(hasher, config.length, &mut rng),
            Err(err) => Err(crate::password::HashError(err.to_string())),
        };
        if done.send((item, user, prepared)).is_err() {
            return;
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn feed_and_send(
    store: &mut Store,
    runner: &mut Runner<'_>,
    state: &mut Sender,
    report: &mut Report,
    on_item: &mut impl FnMut(&Item, Option<&User>, &Outcome),
    jobs: &mpsc::Sender<Job>,
    done: &mpsc::Receiver<Hashed>,
    window: usize,
) -> Result<(), BulkError> {
    let (mut queue, mut after, mut exhausted, mut in_flight) = (VecDeque::new(), 0, false, 0_usize);
    loop {
        while in_flight < window && !runner.stop.load(Ordering::SeqCst) {
            if queue.is_empty() && !exhausted {
                let page = bulk::items(
                    store.conn(),
                    runner.run_id,
                    &["pending", "failed"],
                    after,
                    PAGE,
                )?;
                exhausted = page.is_empty();
                after = page.last().map_or(after, |i| i.position);
                queue.extend(page);
            }
            let Some(item) = queue.pop_front() else { break };
            let user = load_user(store, &item)?;
            if jobs.send((item, user)).is_err() {
                return Err(BulkError::Run("the hashing threads stopped".into()));
            }
            in_flight += 1;
        }
        if in_flight == 0 {
            return Ok(());
        }
        let Ok((item, user, prepared)) = done.recv() else {
            return Err(BulkError::Run("the hashing threads stopped".into()));
        };
        in_flight -= 1;
        if runner.stop.load(Ordering::SeqCst) {
            continue; // hashed but not sent: stays pending for --resume
        }
        let now = (runner.clock)().as_second();
        let outcome = match (&user, prepared) {
            (None, _) => Some(fail_item(store, &item, "the user no longer exists", now)?),
            (Some(_), Err(e)) => Some(fail_item(store, &item, &e.to_string(), now)?),
            (Some(user), Ok(prepared)) => {
                send_password(store, runner, state, &item, user, &prepared)?
            }
        };
        if let Some(outcome) = outcome {
            report.count(&outcome);
            on_item(&item, user.as_ref(), &outcome);
        }
    }
}

fn send_password(
    store: &mut Store,
    runner: &mut Runner<'_>,
    state: &mut Sender,
    item: &Item,
    user: &User,
    prepared: &Prepared,
) -> Result<Option<Outcome>, BulkError> {
    let settings = runner
        .generate
        .ok_or_else(|| BulkError::Run("password settings missing".into()))?;
    let recipient = recipient_for(runner, user).to_string();
    let (mut attempt, mut last_error) = (0, None);
    loop {
        match begin(store, runner, state, item, attempt)? {
            Begin::Go => {}
            Begin::Stopped => return Ok(last_error.map(Outcome::Failed)),
            Begin::Taken => return Ok(Some(Outcome::Skipped(TAKEN.into()))),
        }
        let request = GenerateRequest {
            user,
            email_to: Some(&recipient),
            notice_to: None,
            force_change: true,
            bulk: Some((runner.run_id, item.id)),
        };
        let mut courier = generate::Courier {
            mailer: &mut *runner.mailer,
            templates: runner.templates,
            settings,
        };
        match generate::apply(
            store,
            &mut courier,
            request,
            prepared,
            runner.actor,
            (runner.clock)(),
        ) {
            Ok(done) => {
                return Ok(Some(Outcome::Sent {
                    recipient,
                    expires_at: done.expires_at,
                }));
            }
            Err(GenerateError::Mail(err))
                if err.is_transient() && attempt < runner.pacing.retries =>
            {
                last_error = Some(err.to_string());
                attempt += 1;
            }
            Err(GenerateError::Refused(refusal)) => {
                return Ok(Some(Outcome::Skipped(refusal.reason().to_string())));
            }
            Err(
                err
                @ (GenerateError::Mail(_) | GenerateError::Template(_) | GenerateError::Hash(_)),
            ) => {
                return Ok(Some(Outcome::Failed(err.to_string())));
            }
            Err(GenerateError::Store(e)) => return Err(e.into()),
            Err(GenerateError::Audit(e)) => return Err(e.into()),
        }
    }
}
