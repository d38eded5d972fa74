#![expect(
    clippy::disallowed_methods,
    reason = "tests draw real tokens, salts and passwords from the OS RNG"
)]

use std::sync::LazyLock;

use super::*;
use crate::config::Supersede;
use crate::mail::Mailer;
use crate::store::testing::{Backend, TestStore, on_both_backends};
use crate::store::users::NewUser;
use crate::templates::Templates;

on_both_backends!(
    sent_link_redeems_and_supersedes_older_ones,
    keep_leaves_older_links_working,
    cooldown_refuses_unless_forced_and_is_audited,
    a_refused_mail_revokes_the_new_token_and_keeps_older_ones,
    inactive_and_emailless_users_are_refused,
    a_link_revoked_while_its_mail_is_on_the_way_never_becomes_live,
    a_link_prepared_for_an_old_address_never_becomes_live,
    a_lost_answer_leaves_the_link_dead_and_the_intent_resolved_as_interrupted,
);

const T0: i64 = 1_800_000_000;

pub(super) fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(secs).expect("time")
}

pub(super) fn actor() -> Actor {
    Actor {
        os_user: "root".into(),
        actor: None,
        reason: None,
        key: crate::keys::AuditKey::for_tests(),
    }
}

/// A mailer that records what it was given, or fails.
#[derive(Default)]
pub(super) struct Recorder {
    sent: Vec<(String, String)>,
    fail: Option<bool>,
}

impl Mailer for Recorder {
    fn send(&mut self, message: &Outgoing) -> Result<Delivered, MailError> {
        if let Some(transient) = self.fail {
            return Err(MailError::Refused {
                server: "test".into(),
                reply: "550 no".into(),
                transient,
            });
        }
        self.sent
            .push((message.to.clone(), message.body.text.expose().to_string()));
        Ok(Delivered {
            detail: "ok".into(),
        })
    }
}

pub(super) fn settings(supersede: Supersede) -> LinkSettings {
    LinkSettings {
        code: true,
        base_url: url::Url::parse("https://app.example.com/reset?lang=en").expect("url"),
        ttl_secs: 3600,
        supersede,
        cooldown_secs: 60,
        app_name: "Example".into(),
        support_contact: None,
        note: None,
    }
}

fn setup(backend: Backend) -> (TestStore, User) {
    let mut store = TestStore::new(backend);
    let new = NewUser {
        username: "alice".into(),
        email: Some("alice@example.com".into()),
        display_name: None,
        active: true,
        locale: None,
    };
    let user = crate::users::add(&mut store, &new, &actor(), at(T0)).expect("user");
    (store, user)
}

static ALICE: LazyLock<Recipient> =
    LazyLock::new(|| Recipient::new("alice@example.com").expect("an address"));

fn request(user: &User, force: bool) -> LinkRequest<'_> {
    LinkRequest {
        user,
        recipient: Some(&ALICE),
        force,
        bulk: None,
        note: None,
    }
}

pub(super) fn go(
    store: &mut Store,
    mailer: &mut Recorder,
    settings: &LinkSettings,
    user: &User,
    force: bool,
    now: i64,
) -> Result<Sent, LinkError> {
    let templates = Templates::new(None);
    let mut courier = Courier {
        mailer,
        templates: &templates,
        settings,
    };
    send(
        store,
        &mut courier,
        request(user, force),
        &actor(),
        at(now),
        &mut rand::rng(),
    )
}

/// A link to `user` through `mailer`, with the default settings, at `T0`.
fn send_through(
    store: &mut Store,
    mailer: &mut dyn Mailer,
    user: &User,
) -> Result<Sent, LinkError> {
    let templates = Templates::new(None);
    let settings = settings(Supersede::Revoke);
    let mut courier = Courier {
        mailer,
        templates: &templates,
        settings: &settings,
    };
    send(
        store,
        &mut courier,
        request(user, false),
        &actor(),
        at(T0),
        &mut rand::rng(),
    )
}

/// How many tokens are not revoked (live, or used).
pub(super) fn live_links(store: &TestStore) -> i64 {
    store
        .conn()
        .query_one(
            "SELECT count(*) FROM reset_tokens WHERE revoked_at IS NULL",
            &crate::vals![],
            |r| r.get(0),
        )
        .expect("count")
}

fn token_of(body: &str) -> String {
    let start = body.find("token=").expect("link in body") + 6;
    body[start..start + crate::tokens::TOKEN_CHARS].to_string()
}

fn sent_link_redeems_and_supersedes_older_ones(backend: Backend) {
    let (mut store, user) = setup(backend);
    let mut mailer = Recorder::default();
    let first = go(
        &mut store,
        &mut mailer,
        &settings(Supersede::Revoke),
        &user,
        false,
        T0,
    )
    .expect("first");
    assert_eq!(first.expires_at, T0 + 3600);
    assert!(
        first
            .link
            .expose()
            .starts_with("https://app.example.com/reset?lang=en&token=")
    );
    let second = go(
        &mut store,
        &mut mailer,
        &settings(Supersede::Revoke),
        &user,
        false,
        T0 + 61,
    )
    .expect("second, after the cooldown");
    assert_eq!(second.superseded, 1);
    let old = token_of(&mailer.sent[0].1);
    let new = token_of(&mailer.sent[1].1);
    assert!(matches!(
        crate::tokens::verify(&store, &old, at(T0 + 62)),
        Err(TokenError::Invalid)
    ));
    assert_eq!(
        crate::tokens::verify(&store, &new, at(T0 + 62))
            .expect("live")
            .user
            .id,
        user.id
    );
}

fn keep_leaves_older_links_working(backend: Backend) {
    let (mut store, user) = setup(backend);
    let mut mailer = Recorder::default();
    let keep = settings(Supersede::Keep);
    go(&mut store, &mut mailer, &keep, &user, false, T0).expect("first");
    let second = go(&mut store, &mut mailer, &keep, &user, true, T0 + 1).expect("forced");
    assert_eq!(second.superseded, 0);
    assert!(crate::tokens::verify(&store, &token_of(&mailer.sent[0].1), at(T0 + 2)).is_ok());
}

fn cooldown_refuses_unless_forced_and_is_audited(backend: Backend) {
    let (mut store, user) = setup(backend);
    let mut mailer = Recorder::default();
    let s = settings(Supersede::Revoke);
    go(&mut store, &mut mailer, &s, &user, false, T0).expect("first");
    let err = go(&mut store, &mut mailer, &s, &user, false, T0 + 30).expect_err("cooldown");
    assert!(matches!(err, LinkError::Refused(Refusal::Cooldown { until, .. }) if until == T0 + 60));
    assert_eq!(mailer.sent.len(), 1);
    go(&mut store, &mut mailer, &s, &user, true, T0 + 31).expect("forced");
    let refused: i64 = store
        .conn()
        .query_one(
            "SELECT count(*) FROM audit_log WHERE action = 'link.send' AND outcome = 'refused'",
            &crate::vals![],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(refused, 1);
}

fn a_refused_mail_revokes_the_new_token_and_keeps_older_ones(backend: Backend) {
    let (mut store, user) = setup(backend);
    let s = settings(Supersede::Revoke);
    let mut good = Recorder::default();
    go(&mut store, &mut good, &s, &user, false, T0).expect("first");
    let mut bad = Recorder {
        fail: Some(false),
        ..Recorder::default()
    };
    let err = go(&mut store, &mut bad, &s, &user, true, T0 + 1).expect_err("refused");
    assert!(matches!(err, LinkError::Mail(_)), "{err}");
    assert!(err.to_string().contains("550 no"), "{err}");
    assert!(
        crate::tokens::verify(&store, &token_of(&good.sent[0].1), at(T0 + 2)).is_ok(),
        "older link untouched"
    );
    let live = live_links(&store);
    assert_eq!(live, 1);
    let failed: String = store
        .conn()
        .query_one(
            "SELECT detail FROM audit_log WHERE outcome = 'failed'",
            &crate::vals![],
            |r| r.get(0),
        )
        .expect("row");
    assert!(
        failed.contains("revoked") && !failed.contains("token="),
        "{failed}"
    );
}

fn inactive_and_emailless_users_are_refused(backend: Backend) {
    let (mut store, mut user) = setup(backend);
    let mut mailer = Recorder::default();
    user.active = false;
    let err = go(
        &mut store,
        &mut mailer,
        &settings(Supersede::Revoke),
        &user,
        true,
        T0,
    );
    assert!(matches!(err, Err(LinkError::Refused(Refusal::Inactive(_)))));
    user.active = true;
    user.email = None;
    let err = go(
        &mut store,
        &mut mailer,
        &settings(Supersede::Revoke),
        &user,
        true,
        T0,
    );
    assert!(matches!(
        err,
        Err(LinkError::Refused(Refusal::NoValidEmail(_)))
    ));
    assert!(mailer.sent.is_empty());
    let tokens: i64 = store
        .conn()
        .query_one("SELECT count(*) FROM reset_tokens", &crate::vals![], |r| {
            r.get(0)
        })
        .expect("count");
    assert_eq!(tokens, 0);
}

/// A mailer that, while "sending", deactivates the user from another connection, the way a
/// concurrent `pwreset users deactivate` would.
struct DeactivateWhileSending {
    other: Store,
}

impl Mailer for DeactivateWhileSending {
    fn send(&mut self, _: &Outgoing) -> Result<Delivered, MailError> {
        let other = &mut self.other;
        let user = crate::users::resolve(other.conn(), "alice").expect("alice");
        crate::users::set_active(other, &user, false, &actor(), at(T0)).expect("deactivate");
        Ok(Delivered {
            detail: "ok".into(),
        })
    }
}

fn a_link_revoked_while_its_mail_is_on_the_way_never_becomes_live(backend: Backend) {
    let (mut store, user) = setup(backend);
    let mut mailer = DeactivateWhileSending {
        other: store.reopen(5000),
    };
    let err = send_through(&mut store, &mut mailer, &user).expect_err("revoked meanwhile");
    assert!(
        matches!(err, LinkError::Own(LinkFailure::RevokedMeanwhile)),
        "{err}"
    );
    let live = live_links(&store);
    assert_eq!(live, 0, "the pending token stays dead");
}

/// The race the store's trigger cannot close: the user was read, their email changed (nothing
/// pending to revoke yet), then the link was prepared for the old address. It must not go live.
fn a_link_prepared_for_an_old_address_never_becomes_live(backend: Backend) {
    let (mut store, user) = setup(backend);
    store
        .conn()
        .execute(
            "UPDATE users SET email = 'alice@new.example.com' WHERE id = ?1",
            &crate::vals![user.id],
        )
        .expect("email changed meanwhile");
    let mut mailer = Recorder::default();
    let err = send_through(&mut store, &mut mailer, &user).expect_err("changed meanwhile");
    assert_eq!(
        mailer.sent.len(),
        1,
        "the mail went out to the address read before"
    );
    assert!(
        matches!(err, LinkError::Own(LinkFailure::RevokedMeanwhile)),
        "{err}"
    );
    let live = live_links(&store);
    assert_eq!(live, 0, "the link mailed to the old address stays dead");
}

/// A mailer whose server took the message but whose answer was lost.
struct AnswerLost;

impl Mailer for AnswerLost {
    fn send(&mut self, _: &Outgoing) -> Result<Delivered, MailError> {
        Err(MailError::Unconfirmed {
            server: "test".into(),
            detail: "no answer within 2s".into(),
        })
    }
}

fn a_lost_answer_leaves_the_link_dead_and_the_intent_resolved_as_interrupted(backend: Backend) {
    let (mut store, user) = setup(backend);
    let err = send_through(&mut store, &mut AnswerLost, &user).expect_err("unconfirmed");
    assert!(err.to_string().contains("may have been delivered"), "{err}");
    let one = |sql: &str| -> String {
        store
            .conn()
            .query_one(sql, &crate::vals![], |r| r.get(0))
            .expect("one value")
    };
    assert_eq!(
        one("SELECT revoked_reason FROM reset_tokens"),
        "interrupted"
    );
    assert_eq!(
        one("SELECT outcome FROM audit_log WHERE action = 'link.send'"),
        "interrupted"
    );
    assert_eq!(one("SELECT outcome FROM mail_intents"), "interrupted");
    assert!(
        crate::tokens::cooldown_until(&store, &user, 60, at(T0))
            .expect("cooldown")
            .is_some(),
        "a mail may have arrived: the cooldown runs"
    );
}
