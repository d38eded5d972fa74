//! The temporary-password path of a bulk run: argon2 hashing on one worker thread per core,
//! feeding the thread that mails each password and commits its hash.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, mpsc};

use super::{
    Attempt, BulkError, Claimer, First, GONE, Outcome, Report, RunParams, Throttle, attempt_after,
    fail_item, recipient_for, release, with_retries,
};
use crate::generate::{self, GenerateRequest, GenerateSettings, Generated, Handover, Prepared};
use crate::password::HashError;
use crate::store::Store;
use crate::store::bulk::Item;
use crate::user::User;

type Job = (Item, Option<User>);
type Hashed = (Item, Option<User>, Result<Prepared, HashError>);

/// Set and mail a temporary password for each pending (or earlier failed) user.
pub(super) fn run_generate(
    store: &mut Store,
    params: &mut RunParams<'_>,
    settings: &GenerateSettings,
    throttle: &mut Throttle,
    report: &mut Report,
    on_item: &mut impl FnMut(&Item, Option<&User>, &Outcome),
) -> Result<(), BulkError> {
    let workers = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let (job_tx, job_rx) = mpsc::channel::<Job>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (done_tx, done_rx) = mpsc::channel::<Hashed>();
    let new_rng = params.rng;
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let (jobs, done, config) = (Arc::clone(&job_rx), done_tx.clone(), &settings.password);
            scope.spawn(move || hash_worker(&jobs, &done, config, new_rng));
        }
        drop(done_tx);
        let mut hashing = Hashing {
            jobs: job_tx,
            done: done_rx,
            window: workers * 2,
            in_flight: 0,
        };
        let result = feed_and_send(
            store,
            params,
            settings,
            throttle,
            report,
            on_item,
            &mut hashing,
        );
        drop(hashing); // closes the job queue, so the workers end
        result
    })
}

fn hash_worker(
    jobs: &Mutex<mpsc::Receiver<Job>>,
    done: &mpsc::Sender<Hashed>,
    config: &crate::config::PasswordConfig,
    new_rng: fn() -> rand::rngs::ThreadRng,
) {
    let mut rng = new_rng();
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
            Err(err) => Err(HashError(err.to_string())),
        };
        if done.send((item, user, prepared)).is_err() {
            return;
        }
    }
}

/// The hashing workers as the sending thread sees them: a queue of users to hash, kept
/// `window` deep, and the users hashed.
struct Hashing {
    jobs: mpsc::Sender<Job>,
    done: mpsc::Receiver<Hashed>,
    window: usize,
    in_flight: usize,
}

impl Hashing {
    /// Claim and queue the next users until `window` are in flight, the run has no more, or
    /// the stop flag is raised.
    fn feed(
        &mut self,
        store: &mut Store,
        params: &RunParams<'_>,
        claimer: &mut Claimer,
    ) -> Result<(), BulkError> {
        while self.in_flight < self.window && !params.stop.load(Ordering::SeqCst) {
            let Some(job) = claimer.next(store, params)? else {
                break;
            };
            if self.jobs.send(job).is_err() {
                return Err(workers_stopped());
            }
            self.in_flight += 1;
        }
        Ok(())
    }

    /// The next user hashed, in the order they finish; `None` when none is in flight.
    fn next(&mut self) -> Result<Option<Hashed>, BulkError> {
        if self.in_flight == 0 {
            return Ok(None);
        }
        let hashed = self.done.recv().map_err(|_| workers_stopped())?;
        self.in_flight -= 1;
        Ok(Some(hashed))
    }
}

fn workers_stopped() -> BulkError {
    BulkError::Run("the hashing threads stopped".into())
}

/// Keep the workers busy while this thread mails each hashed user and commits their hash.
fn feed_and_send(
    store: &mut Store,
    params: &mut RunParams<'_>,
    settings: &GenerateSettings,
    throttle: &mut Throttle,
    report: &mut Report,
    on_item: &mut impl FnMut(&Item, Option<&User>, &Outcome),
    hashing: &mut Hashing,
) -> Result<(), BulkError> {
    let mut claimer = Claimer::new();
    loop {
        hashing.feed(store, params, &mut claimer)?;
        let Some((item, user, prepared)) = hashing.next()? else {
            return Ok(());
        };
        if params.stop.load(Ordering::SeqCst) {
            // Hashed but not sent: pending again for --resume.
            release(store, params, &item)?;
            continue;
        }
        if let Some(outcome) = send_hashed(
            store,
            params,
            settings,
            throttle,
            &item,
            user.as_ref(),
            prepared,
        )? {
            report.count(&outcome);
            on_item(&item, user.as_ref(), &outcome);
        }
    }
}

/// One hashed user: failed if they were gone when their item was claimed or hashing failed,
/// otherwise mailed their password. `None`: stopped before the first attempt.
fn send_hashed(
    store: &mut Store,
    params: &mut RunParams<'_>,
    settings: &GenerateSettings,
    throttle: &mut Throttle,
    item: &Item,
    user: Option<&User>,
    prepared: Result<Prepared, HashError>,
) -> Result<Option<Outcome>, BulkError> {
    let now = (params.clock)().as_second();
    match (user, prepared) {
        (None, _) => Ok(Some(fail_item(store, item, GONE, now)?)),
        (Some(_), Err(e)) => Ok(Some(fail_item(store, item, &e.to_string(), now)?)),
        (Some(_), Ok(prepared)) => {
            send_password(store, params, settings, throttle, item, &prepared)
        }
    }
}

/// Mail one user their password and commit its hash, retrying as needed (each attempt with
/// the user as read when claiming the item).
fn send_password(
    store: &mut Store,
    params: &mut RunParams<'_>,
    settings: &GenerateSettings,
    throttle: &mut Throttle,
    item: &Item,
    prepared: &Prepared,
) -> Result<Option<Outcome>, BulkError> {
    with_retries(
        store,
        params,
        throttle,
        item,
        First::Held,
        |store, params, user| {
            let recipient = recipient_for(params, user);
            let request = GenerateRequest {
                user,
                handover: Handover::Email(recipient.as_ref()),
                force_change: true,
                bulk: Some((params.run_id, item.id)),
            };
            let mut courier = generate::Courier {
                mailer: &mut *params.mailer,
                templates: params.templates,
                settings,
            };
            match generate::apply(
                store,
                &mut courier,
                request,
                prepared,
                params.actor,
                (params.clock)(),
            ) {
                Ok(Generated {
                    emailed: Some(emailed),
                    expires_at,
                    ..
                }) => Ok(Attempt::Done(Outcome::Sent {
                    recipient: emailed.to.to_string(),
                    expires_at,
                })),
                // A mailed password either goes out or is refused: nothing else is possible.
                Ok(_) => Ok(Attempt::Done(Outcome::Failed("no mail was sent".into()))),
                Err(err) => attempt_after(err, true),
            }
        },
    )
}
