//! A batch of links ([`prepare_batch`], [`complete_batch`]) on both backends does for each user
//! what [`send`] does for one: refusals audited, the cooldown honoured, older links superseded,
//! a link revoked in flight left dead, every intent resolved and the audit chain whole.

#![expect(
    clippy::disallowed_methods,
    reason = "tests draw real tokens from the OS RNG"
)]

use super::tests::{actor, at, go, live_links, settings};
use super::*;
use crate::config::Supersede;
use crate::store::testing::{Backend, TestStore, on_both_backends};
use crate::store::users::NewUser;
use crate::templates::Templates;

on_both_backends!(a_batch_does_for_each_user_what_one_send_does);

const T0: i64 = 1_800_000_000;

fn add(store: &mut TestStore, name: &str, active: bool) -> User {
    let new = NewUser {
        username: name.into(),
        email: Some(format!("{name}@example.com")),
        display_name: None,
        active,
        locale: None,
    };
    crate::users::add(store, &new, &actor(), at(T0)).expect("user")
}

fn count(store: &TestStore, sql: &str) -> i64 {
    store
        .conn()
        .query_one(sql, &crate::vals![], |r| r.get(0))
        .expect("count")
}

fn a_batch_does_for_each_user_what_one_send_does(backend: Backend) {
    let mut store = TestStore::new(backend);
    let names = ["alice", "bob", "carol", "dave"];
    let users: Vec<User> = names
        .iter()
        .map(|name| add(&mut store, name, *name != "bob"))
        .collect();
    let settings = settings(Supersede::Revoke);
    let mut mailer = super::tests::Recorder::default();
    // Alice has an older link (superseded by the batch's); dave one sent moments ago (cooldown).
    go(
        &mut store,
        &mut mailer,
        &settings,
        &users[0],
        false,
        T0 - 600,
    )
    .expect("alice's old link");
    go(
        &mut store,
        &mut mailer,
        &settings,
        &users[3],
        false,
        T0 - 10,
    )
    .expect("dave's link");
    let recipients: Vec<Option<Recipient>> = users
        .iter()
        .map(|u| Recipient::new(u.email.as_deref().unwrap_or_default()))
        .collect();
    let requests: Vec<LinkRequest<'_>> = users
        .iter()
        .zip(&recipients)
        .map(|(user, to)| LinkRequest {
            user,
            recipient: to.as_ref(),
            force: false,
            bulk: None,
            note: None,
        })
        .collect();
    let templates = Templates::new(None);
    let now = at(T0);
    let prepared = prepare_batch(
        &mut store,
        &templates,
        &settings,
        &requests,
        &actor(),
        now,
        &mut rand::rng(),
    )
    .expect("prepared");
    let refusals: Vec<Option<&str>> = prepared
        .iter()
        .map(|p| match p {
            Err(DeliveryError::Refused(refusal)) => Some(refusal.reason()),
            _ => None,
        })
        .collect();
    assert_eq!(
        refusals,
        [None, Some("inactive"), None, Some("in cooldown")]
    );
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM mail_intents WHERE resolved_at IS NULL"
        ),
        2,
        "an intent for each link written"
    );
    // Carol is deactivated while her mail is on its way.
    crate::users::set_active(&mut store, &users[2], false, &actor(), now).expect("deactivate");
    let accepted: Vec<_> = requests
        .into_iter()
        .zip(prepared)
        .filter_map(|(request, prepared)| {
            let delivered = Delivered {
                detail: format!("250 queued for {}", request.user.username),
            };
            Some((request, prepared.ok()?, delivered))
        })
        .collect();
    let done = complete_batch(&mut store, &settings, accepted, &actor(), now).expect("completed");
    let alice = done[0].as_ref().expect("alice's link is live");
    assert_eq!((alice.superseded, alice.expires_at), (1, T0 + 3600));
    assert!(matches!(
        done[1],
        Err(DeliveryError::Own(LinkFailure::RevokedMeanwhile))
    ));
    assert_eq!(live_links(&store), 2, "alice's new link and dave's");
    each_was_recorded(&store, alice.token_id);
}

/// Alice's reply is stored, every intent resolved, and the audit log holds each outcome in a
/// chain that verifies.
fn each_was_recorded(store: &TestStore, alice_token: i64) {
    let reply: String = store
        .conn()
        .query_one(
            "SELECT mail_reply FROM reset_tokens WHERE id = ?1",
            &crate::vals![alice_token],
            |r| r.get(0),
        )
        .expect("reply");
    assert_eq!(reply, "250 queued for alice");
    assert_eq!(
        count(
            store,
            "SELECT count(*) FROM mail_intents WHERE resolved_at IS NULL"
        ),
        0
    );
    let outcomes = |outcome: &str| {
        count(
            store,
            &format!(
                "SELECT count(*) FROM audit_log WHERE action = 'link.send' AND outcome = '{outcome}'"
            ),
        )
    };
    assert_eq!(
        (outcomes("ok"), outcomes("refused"), outcomes("failed")),
        (3, 2, 1)
    );
    let verified = crate::audit::verify(store.conn(), &crate::keys::AuditKey::for_tests(), None)
        .expect("the chain verifies");
    assert!(verified.rows >= 10, "{verified:?}");
}
