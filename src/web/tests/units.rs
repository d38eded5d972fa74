//! A POST as a unit (WEB-9, WEB-8): a password or code POST dropped at each of its awaits
//! (while its session is checked, waiting for a hashing permit, while hashing, while the store
//! write waits for the writer lock) leaves either nothing changed (the link still works) or the
//! change, its audit row, its notice and its counters all there; and dropped POSTs never run
//! more hashes at once than there are hashing permits.

use std::future::Future;
use std::time::{Duration, Instant};

use axum::http::StatusCode;

use super::{Harness, Link, csrf_in, form::form_html, post};
use crate::store::testing::{Backend, on_both_backends};

on_both_backends!(
    async
    a_post_dropped_at_its_first_await_changes_all_or_nothing,
    a_post_dropped_while_waiting_for_a_permit_still_changes_audits_and_notifies,
    a_post_dropped_while_hashing_still_changes_audits_and_notifies,
    a_post_dropped_while_the_store_is_locked_still_changes_audits_and_notifies,
    dropped_posts_never_hash_more_at_once_than_the_permits,
    wrong_codes_from_dropped_requests_count_for_the_client_and_the_link,
    a_blocked_clients_guesses_are_answered_without_the_writer_lock,
);

const GOOD: &str = "violet-harbour-tractor-41";

/// Poll `request` until `done_with` says to drop it (checked after each poll); panics when it
/// answers first or after 60 s.
async fn drop_when(request: impl Future, mut done_with: impl FnMut() -> bool) {
    let mut request = std::pin::pin!(request);
    let deadline = Instant::now() + Duration::from_secs(60);
    let first = std::future::poll_fn(|cx| std::task::Poll::Ready(request.as_mut().poll(cx))).await;
    assert!(first.is_pending(), "the request answered at its first poll");
    while !done_with() {
        let polled = tokio::time::timeout(Duration::from_millis(2), request.as_mut()).await;
        assert!(
            polled.is_err(),
            "the request answered before it was dropped"
        );
        assert!(Instant::now() < deadline, "never reached the drop point");
    }
}

/// Hold the store's writer lock from another connection until the guard is dropped.
struct WriterLock(
    Option<std::sync::mpsc::Sender<()>>,
    Option<std::thread::JoinHandle<()>>,
);

impl Harness {
    fn hold_writer_lock(&self) -> WriterLock {
        let open = self.web.deps.open_store.clone();
        let (locked, is_locked) = std::sync::mpsc::channel();
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let mut store = open().expect("open");
            let tx = store.write().expect("the writer lock");
            // On PostgreSQL the lock travels with the transaction's first statement.
            let users: i64 = tx
                .query_one("SELECT count(*) FROM users", &crate::vals![], |r| r.get(0))
                .expect("take the lock");
            assert!(users > 0);
            locked.send(()).expect("the test waits");
            let _ = wait.recv_timeout(Duration::from_secs(60));
            drop(tx);
        });
        is_locked.recv().expect("locked");
        WriterLock(Some(release), Some(thread))
    }
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        drop(self.0.take());
        if let Some(thread) = self.1.take() {
            thread.join().expect("the lock holder");
        }
    }
}

/// Wait (at most 60 s) until `ready`.
async fn until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Settings whose hashes take a while (about 0.5 s in a test build).
fn slow_hashing() -> crate::web::PageSettings {
    let mut settings = super::settings();
    settings.password.argon2_iterations = 30;
    settings
}

/// `user`'s link, and the form's POST of [`GOOD`] under its session (made again on each call).
async fn ready_to_post(
    h: &Harness,
    user: &str,
) -> (
    Link,
    impl Fn() -> axum::http::Request<axum::body::Body> + use<>,
) {
    let user = h.user(user);
    let link = h.link(&user);
    let session = h.session(&link).await;
    let csrf = csrf_in(&form_html(h, &session).await);
    let request = move || {
        post(
            "/reset-password",
            &format!("pwreset_session={session}"),
            &[("password", GOOD), ("confirm", GOOD), ("csrf", &csrf)],
            &[],
        )
    };
    (link, request)
}

/// The whole unit happened for `user`: the link used, one `token.redeem ok` row, the notice.
async fn assert_all_there(h: &Harness, link: &Link, user: &str) {
    until("the link to be used", || h.state(&link.token) == "used").await;
    until("the units to finish", || h.web.units.running() == 0).await;
    let rows = h.count(&format!(
        "SELECT count(*) FROM audit_log WHERE action = 'token.redeem' AND outcome = 'ok' \
         AND target = '{user}'"
    ));
    assert_eq!(rows, 1, "the audit row");
    let noticed = h.noticed_once(1).await;
    assert_eq!(noticed, [user], "the notice went out with the change");
}

async fn a_post_dropped_at_its_first_await_changes_all_or_nothing(backend: Backend) {
    let h = Harness::new(backend);
    let (link, request) = ready_to_post(&h, "alice").await;
    let mut polls = 0;
    drop_when(h.send(request()), || {
        polls += 1;
        true
    })
    .await;
    assert_eq!(polls, 1);
    until("the units to finish", || h.web.units.running() == 0).await;
    // Dropped while its session was checked: nothing changed, and the link still works; or
    // (when the check was done by then) the unit had started: all of it is there.
    if h.state(&link.token) == "live" {
        assert!(h.noticed().is_empty());
        let response = h.send(request()).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
    }
    assert_all_there(&h, &link, "alice").await;
}

async fn a_post_dropped_while_waiting_for_a_permit_still_changes_audits_and_notifies(
    backend: Backend,
) {
    let h = Harness::new(backend);
    let (link, request) = ready_to_post(&h, "alice").await;
    let permits = h.web.hashing.available_permits();
    let held = h
        .web
        .hashing
        .acquire_many(u32::try_from(permits).expect("few"))
        .await
        .expect("permits");
    let started = Instant::now();
    // Waiting for a permit the test holds: dropped after 300 ms of that.
    drop_when(h.send(request()), || {
        started.elapsed() > Duration::from_millis(300)
    })
    .await;
    assert_eq!(h.state(&link.token), "live", "no permit, no change yet");
    drop(held);
    assert_all_there(&h, &link, "alice").await;
}

async fn a_post_dropped_while_hashing_still_changes_audits_and_notifies(backend: Backend) {
    let h = Harness::with(backend, slow_hashing());
    let (link, request) = ready_to_post(&h, "alice").await;
    drop_when(h.send(request()), || h.web.units.hashes_started() == 1).await;
    assert_all_there(&h, &link, "alice").await;
}

async fn a_post_dropped_while_the_store_is_locked_still_changes_audits_and_notifies(
    backend: Backend,
) {
    let h = Harness::new(backend);
    let (link, request) = ready_to_post(&h, "alice").await;
    let lock = h.hold_writer_lock();
    let started = Instant::now();
    drop_when(h.send(request()), || {
        h.web.units.hashes_started() == 1 && started.elapsed() > Duration::from_millis(500)
    })
    .await;
    assert_eq!(h.state(&link.token), "live", "the writer lock is held");
    drop(lock);
    assert_all_there(&h, &link, "alice").await;
}

async fn dropped_posts_never_hash_more_at_once_than_the_permits(backend: Backend) {
    let h = Harness::with(backend, slow_hashing());
    let permits = h.web.hashing.available_permits();
    let mut links = Vec::new();
    for n in 0..permits + 3 {
        let (link, request) = ready_to_post(&h, &format!("user{n}")).await;
        // Dropped once its hash started (or once it waits for a permit with the others).
        let since = Instant::now();
        drop_when(h.send(request()), || {
            h.web.units.hashes_started() > n || since.elapsed() > Duration::from_millis(300)
        })
        .await;
        links.push(link);
    }
    for link in &links {
        until("every link to be used", || h.state(&link.token) == "used").await;
    }
    until("the units to finish", || h.web.units.running() == 0).await;
    assert_eq!(h.web.units.hashes_started(), permits + 3);
    assert!(
        h.web.units.peak_hashes() <= permits,
        "{} hashes at once on {permits} permits",
        h.web.units.peak_hashes()
    );
    assert_eq!(h.noticed_once(permits + 3).await.len(), permits + 3);
}

async fn wrong_codes_from_dropped_requests_count_for_the_client_and_the_link(backend: Backend) {
    let mut settings = super::settings();
    settings.limits.max_failures_per_client = 3;
    let h = Harness::with(backend, settings);
    let alice = h.user("alice");
    let link = h.link(&alice);
    let (form, csrf) = super::code::code_form(&h).await;
    let wrong = || super::code::submit(&form, &csrf, "alice", "AAAA-AAAA");
    for _ in 0..3 {
        drop_when(h.send(wrong()), || true).await;
    }
    until("the units to finish", || h.web.units.running() == 0).await;
    let tries = "SELECT code_tries FROM reset_tokens";
    until("three tries counted", || h.count(tries) == 3).await;
    assert_eq!(
        h.send(wrong()).await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the dropped ones counted for the client"
    );
    assert_eq!(
        h.count(tries),
        4,
        "a refused wrong code still counts for the link"
    );
    let other = h.send_from("192.0.2.60:1", wrong()).await;
    assert_eq!(
        other.status(),
        StatusCode::GONE,
        "the fifth try revokes the link"
    );
    assert_eq!(h.state(&link.token), "revoked");
}

/// WEB-5: a client over its limit gets 429 for a guessed token after a read alone, so its
/// guesses cost no write transaction: answered while another connection holds the writer lock
/// (a write would wait for it, up to the store's 5 s busy timeout).
async fn a_blocked_clients_guesses_are_answered_without_the_writer_lock(backend: Backend) {
    let h = Harness::new(backend);
    h.user("alice");
    let guess = "/reset-password?token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    for _ in 0..5 {
        assert_eq!(
            h.send(super::browse(guess)).await.status(),
            StatusCode::GONE
        );
    }
    let lock = h.hold_writer_lock();
    let answer = tokio::time::timeout(Duration::from_secs(3), h.send(super::browse(guess))).await;
    drop(lock);
    let answer = answer.expect("answered while the writer lock was held");
    assert_eq!(answer.status(), StatusCode::TOO_MANY_REQUESTS);
}
