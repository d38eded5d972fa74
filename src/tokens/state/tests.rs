#![expect(
    clippy::disallowed_methods,
    reason = "tests draw real tokens from the OS RNG"
)]

use super::*;
use crate::audit::Actor;
use crate::store::Store;
use crate::store::temp_passwords::{self, Handover, NewTempPassword};
use crate::store::testing::{Backend, TestStore, on_both_backends};
use crate::store::tokens as sql;
use crate::store::users::{NewUser, PasswordChange};
use crate::tokens::{IssueRequest, digest, issue_pending};
use crate::user::User;

on_both_backends!(
    a_link_goes_from_pending_to_sent_opened_and_used,
    a_refused_link_is_failed_with_the_reply_and_others_revoked_or_expired,
    a_temporary_password_is_sent_then_changed_expired_or_superseded,
);

const T0: i64 = 1_800_000_000;
const REPLY: &str = "250 2.0.0 Ok: queued as 4XyZ";

fn at(secs: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(secs).expect("time")
}

fn user(store: &mut Store, name: &str) -> User {
    let new = NewUser {
        username: name.into(),
        email: Some(format!("{name}@example.com")),
        display_name: None,
        active: true,
        locale: None,
    };
    let actor = Actor {
        os_user: "root".into(),
        actor: None,
        reason: None,
        key: crate::keys::AuditKey::for_tests(),
    };
    crate::users::add(store, &new, &actor, at(T0)).expect("user")
}

/// A pending link of `user`, issued at T0 for an hour: its id and token text.
fn pending(store: &mut Store, user: &User) -> (i64, String) {
    let request = IssueRequest {
        ttl_secs: 3600,
        recipient: "a@example.com",
        actor: "root",
        code_key: None,
    };
    let issued = issue_pending(store, user, request, at(T0), &mut rand::rng()).expect("issue");
    (issued.id, issued.token.expose().to_string())
}

fn link(store: &Store, id: i64) -> TokenRow {
    sql::by_id(store.conn(), id).expect("read").expect("row")
}

fn state(store: &Store, id: i64, now: i64) -> (State, Option<String>) {
    let standing = of_link(&link(store, id), now);
    (standing.state, standing.reason)
}

fn a_link_goes_from_pending_to_sent_opened_and_used(backend: Backend) {
    let mut store = TestStore::new(backend);
    let alice = user(&mut store, "alice");
    let (id, token) = pending(&mut store, &alice);
    assert_eq!(state(&store, id, T0), (State::Pending, None));
    assert!(sql::activate_sent(store.conn(), id, Some(T0 + 1), Some(REPLY)).expect("activate"));
    let row = link(&store, id);
    assert_eq!(
        (row.sent_at, row.mail_reply.as_deref()),
        (Some(T0 + 1), Some(REPLY))
    );
    assert_eq!(state(&store, id, T0 + 2), (State::Sent, None));
    // A mail scanner's fetch is not an open by the user.
    sql::record_open(store.conn(), &digest(&token), true, T0 + 3).expect("scanner");
    assert_eq!(state(&store, id, T0 + 4).0, State::Sent);
    sql::record_open(store.conn(), &digest(&token), false, T0 + 5).expect("browser");
    assert_eq!(state(&store, id, T0 + 6).0, State::Opened);
    assert_eq!(state(&store, id, T0 + 3600).0, State::Expired, "at expiry");
    assert!(sql::consume(store.conn(), id, T0 + 7).expect("use"));
    assert_eq!(
        state(&store, id, T0 + 9999).0,
        State::Used,
        "used stays used"
    );
}

fn a_refused_link_is_failed_with_the_reply_and_others_revoked_or_expired(backend: Backend) {
    let mut store = TestStore::new(backend);
    let alice = user(&mut store, "alice");
    let (refused, _) = pending(&mut store, &alice);
    let reply = "550 5.1.1 <alice@example.com>: Recipient address rejected";
    sql::mark_undelivered(store.conn(), refused, T0 + 1, Some(reply)).expect("refused");
    assert_eq!(
        state(&store, refused, T0 + 2),
        (State::Failed, Some(reply.into()))
    );
    let (revoked, _) = pending(&mut store, &alice);
    sql::activate_sent(store.conn(), revoked, Some(T0 + 1), Some(REPLY)).expect("activate");
    sql::revoke_outstanding(store.conn(), alice.id, T0 + 2, "superseded").expect("revoke");
    assert_eq!(
        state(&store, revoked, T0 + 3),
        (State::Revoked, Some("superseded".into()))
    );
    assert_eq!(
        state(&store, revoked, T0 + 9999).0,
        State::Revoked,
        "revoked wins over expired"
    );
    let (interrupted, _) = pending(&mut store, &alice);
    crate::store::intents::revoke_pending_token(store.conn(), interrupted, T0 + 1).expect("x");
    assert_eq!(state(&store, interrupted, T0 + 2).0, State::Interrupted);
}

/// Record a temporary password of `user` set at `created` and read it back.
fn temp(
    store: &Store,
    user: &User,
    created: i64,
    handover: Handover,
    failure: Option<&str>,
) -> i64 {
    let new = NewTempPassword {
        user_id: user.id,
        created_at: created,
        expires_at: created + 86_400,
        handover,
        recipient: Some("a@example.com"),
        run_id: None,
        sent_at: failure.is_none().then_some(created),
        mail_reply: Some(REPLY),
        failure,
    };
    temp_passwords::insert(store.conn(), &new).expect("insert")
}

fn temp_state(store: &Store, user: &User, now: i64) -> State {
    let row = temp_passwords::latest(store.conn(), user.id)
        .expect("read")
        .expect("a row");
    of_temp_password(&row, now).state
}

fn a_temporary_password_is_sent_then_changed_expired_or_superseded(backend: Backend) {
    let mut store = TestStore::new(backend);
    let alice = user(&mut store, "alice");
    let first = temp(&store, &alice, T0, Handover::Email, None);
    assert_eq!(temp_state(&store, &alice, T0 + 1), State::Sent);
    assert_eq!(temp_state(&store, &alice, T0 + 86_400), State::Expired);
    let later = temp(&store, &alice, T0 + 10, Handover::Shown, None);
    assert_eq!(temp_state(&store, &alice, T0 + 11), State::Shown);
    let read = |id: i64| {
        let sql = format!(
            "SELECT {} FROM temp_passwords p JOIN users u ON u.id = p.user_id WHERE p.id = ?1",
            temp_passwords::COLUMNS
        );
        store
            .conn()
            .query_one(&sql, &crate::vals![id], |row| {
                temp_passwords::joined_at(row, 0)
            })
            .expect("read")
            .expect("row")
    };
    assert_eq!(
        of_temp_password(&read(first), T0 + 11).state,
        State::Superseded
    );
    // A failed one supersedes nothing and says why.
    let failed = temp(
        &store,
        &alice,
        T0 + 20,
        Handover::Email,
        Some("not changed: 550"),
    );
    let standing = of_temp_password(&read(failed), T0 + 21);
    assert_eq!(
        (standing.state, standing.reason.as_deref()),
        (State::Failed, Some("not changed: 550"))
    );
    assert_eq!(of_temp_password(&read(later), T0 + 21).state, State::Shown);
    // The user sets a password of their own.
    let change = PasswordChange {
        hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
        must_change: false,
        temp_expires_at: None,
    };
    crate::store::users::set_password(store.conn(), alice.id, &change, T0 + 30).expect("set");
    assert_eq!(
        of_temp_password(&read(later), T0 + 31).state,
        State::Changed
    );
}
