//! The temporary-password path of a bulk run: argon2 hashing on one worker thread per core,
//! feeding the thread that mails each password and commits its hash.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, mpsc};

use super::{
    Attempt, BulkError, Outcome, Report, Runner, Sender, attempt_after, fail_item, recipient_for,
    with_retries,
};
use crate::generate::{self, GenerateRequest, Prepared};
use crate::store::Store;
use crate::store::bulk::{Item, ItemPager};
use crate::store::users::User;

type Job = (Item, Option<User>);
type Hashed = (
    Item,
    Option<User>,
    Result<Prepared, crate::password::HashError>,
);

pub(super) fn run_generate(
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
    let (mut pager, mut in_flight) = (ItemPager::new(runner.run_id, &["pending", "failed"]), 0);
    loop {
        while in_flight < window && !runner.stop.load(Ordering::SeqCst) {
            let Some((item, user)) = pager.next_item(store.conn())? else {
                break;
            };
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
    with_retries(store, runner, state, item, 0, |store, runner| {
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
            Ok(done) => Ok(Attempt::Done(Outcome::Sent {
                recipient: recipient.clone(),
                expires_at: done.expires_at,
            })),
            Err(err) => attempt_after(err, true),
        }
    })
}
