#![expect(
    clippy::disallowed_methods,
    reason = "tests draw real tokens, salts and passwords from the OS RNG"
)]

use super::*;
use std::sync::LazyLock;

use crate::mail::{Mailer, Outgoing};
use crate::store::testing::{Backend, TestStore, on_both_backends};
use crate::store::tokens as tokens_sql;
use crate::store::users::{self as users_sql, NewUser};
use crate::templates::Templates;
use crate::tokens::state;

on_both_backends!(
    emailed_password_is_committed_after_the_mail_and_verifies,
    a_refused_mail_leaves_the_old_password_working,
    shown_password_sends_a_notice_without_the_secret,
    refusals_change_nothing,
    a_new_password_revokes_outstanding_links,
);

const T0: i64 = 1_800_000_000;

static ALICE: LazyLock<Recipient> =
    LazyLock::new(|| Recipient::new("alice@example.com").expect("an address"));
static X: LazyLock<Recipient> =
    LazyLock::new(|| Recipient::new("x@example.com").expect("an address"));

fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(secs).expect("time")
}

fn actor() -> Actor {
    Actor {
        os_user: "root".into(),
        actor: None,
        reason: None,
        key: crate::keys::AuditKey::for_tests(),
    }
}

#[derive(Default)]
struct Recorder {
    sent: Vec<(String, String)>,
    fail: bool,
}

impl Mailer for Recorder {
    fn send(&mut self, message: &Outgoing) -> Result<Delivered, MailError> {
        if self.fail {
            return Err(MailError::Refused {
                server: "test".into(),
                reply: "550 no".into(),
                transient: false,
            });
        }
        self.sent
            .push((message.to.clone(), message.body.text.expose().to_string()));
        Ok(Delivered {
            detail: "ok".into(),
        })
    }
}

/// The user's latest `temp_passwords` row.
fn latest_temp(store: &Store, user: &User) -> crate::store::temp_passwords::TempPasswordRow {
    crate::store::temp_passwords::latest(store.conn(), user.id)
        .expect("read")
        .expect("a temporary password row")
}

fn settings(notify: bool) -> GenerateSettings {
    GenerateSettings {
        password: PasswordConfig::default(),
        app_name: "Example".into(),
        support_contact: None,
        login_url: Some("https://app.example.com/login".into()),
        notify_on_change: notify,
        notice_names: ("Example".into(), None),
        note: None,
    }
}

fn setup(backend: Backend, email: Option<&str>) -> (TestStore, User) {
    let mut store = TestStore::new(backend);
    let new = NewUser {
        username: "alice".into(),
        email: email.map(str::to_string),
        display_name: None,
        active: true,
        locale: None,
    };
    let user = crate::users::add(&mut store, &new, &actor(), at(T0)).expect("user");
    (store, user)
}

fn run(
    store: &mut Store,
    mailer: &mut Recorder,
    notify: bool,
    request: GenerateRequest<'_>,
    prepared: &Prepared,
) -> Result<Generated, GenerateError> {
    let templates = Templates::new(None);
    let s = settings(notify);
    let mut courier = Courier {
        mailer,
        templates: &templates,
        settings: &s,
    };
    apply(store, &mut courier, request, prepared, &actor(), at(T0))
}

fn stored_hash(store: &Store, user: &User) -> Option<String> {
    users_sql::password_hash(store.conn(), user.id).expect("read")
}

fn emailed_password_is_committed_after_the_mail_and_verifies(backend: Backend) {
    let (mut store, user) = setup(backend, Some("alice@example.com"));
    let prepared = prepare(&PasswordConfig::default(), &mut rand::rng()).expect("prepare");
    let mut mailer = Recorder::default();
    let request = GenerateRequest {
        user: &user,
        handover: Handover::Email(Some(&ALICE)),
        force_change: true,
        bulk: None,
    };
    let done = run(&mut store, &mut mailer, true, request, &prepared).expect("generate");
    assert_eq!(done.expires_at, T0 + 86_400);
    let row = latest_temp(&store, &user);
    assert_eq!(
        (
            row.handover.as_str(),
            row.sent_at,
            row.mail_reply.as_deref()
        ),
        ("email", Some(T0), Some("ok"))
    );
    assert_eq!(
        state::of_temp_password(&row, T0 + 1).state,
        state::State::Sent
    );
    assert!(
        done.notice.is_none(),
        "no notice when the password itself was mailed"
    );
    assert!(mailer.sent[0].1.contains(prepared.password.expose()));
    assert!(password::verify(
        prepared.password.expose(),
        &stored_hash(&store, &user).expect("hash")
    ));
    let after = users_sql::by_id(store.conn(), user.id)
        .expect("read")
        .expect("user");
    assert_eq!(
        (
            after.must_change_password,
            after.temp_password_expires_at,
            after.password_changed_at
        ),
        (true, Some(T0 + 86_400), Some(T0))
    );
    let detail: String = store
        .conn()
        .query_one(
            "SELECT detail FROM audit_log WHERE action = ?1",
            &crate::vals![ACTION],
            |r| r.get(0),
        )
        .expect("audit");
    assert!(
        detail.starts_with("emailed to a***@example.com"),
        "{detail}"
    );
    assert!(!detail.contains(prepared.password.expose()));
}

fn a_refused_mail_leaves_the_old_password_working(backend: Backend) {
    let (mut store, user) = setup(backend, Some("alice@example.com"));
    let old = password::hash(
        "old-password-still-works",
        &PasswordConfig::default(),
        &mut rand::rng(),
    )
    .expect("hash");
    store
        .conn()
        .execute(
            "UPDATE users SET password_hash = ?1 WHERE id = ?2",
            &crate::vals![old, user.id],
        )
        .expect("set");
    let prepared = prepare(&PasswordConfig::default(), &mut rand::rng()).expect("prepare");
    let mut mailer = Recorder {
        fail: true,
        ..Recorder::default()
    };
    let request = GenerateRequest {
        user: &user,
        handover: Handover::Email(Some(&ALICE)),
        force_change: true,
        bulk: None,
    };
    let err = run(&mut store, &mut mailer, true, request, &prepared).expect_err("mail refused");
    assert!(matches!(err, GenerateError::Mail(_)), "{err}");
    let row = latest_temp(&store, &user);
    assert_eq!(
        (row.sent_at, row.mail_reply.as_deref()),
        (None, Some("550 no"))
    );
    let standing = state::of_temp_password(&row, T0 + 1);
    assert_eq!(standing.state, state::State::Failed);
    assert!(standing.reason.expect("why").contains("550 no"));
    assert!(err.to_string().contains("the old one still works"), "{err}");
    assert!(password::verify(
        "old-password-still-works",
        &stored_hash(&store, &user).expect("hash")
    ));
    let failed: i64 = store
        .conn()
        .query_one(
            "SELECT count(*) FROM audit_log WHERE outcome = 'failed'",
            &crate::vals![],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(failed, 1);
}

fn shown_password_sends_a_notice_without_the_secret(backend: Backend) {
    let (mut store, user) = setup(backend, Some("alice@example.com"));
    let prepared = prepare(&PasswordConfig::default(), &mut rand::rng()).expect("prepare");
    let mut mailer = Recorder::default();
    let request = GenerateRequest {
        user: &user,
        handover: Handover::Show {
            notice_to: Some(&ALICE),
        },
        force_change: false,
        bulk: None,
    };
    let done = run(&mut store, &mut mailer, true, request, &prepared).expect("generate");
    assert!(matches!(done.notice, Some(Ok(_))));
    let row = latest_temp(&store, &user);
    assert_eq!(
        state::of_temp_password(&row, T0 + 1).state,
        state::State::Shown
    );
    assert_eq!(mailer.sent.len(), 1);
    assert!(
        !mailer.sent[0].1.contains(prepared.password.expose()),
        "the notice has no password"
    );
    assert!(
        mailer.sent[0]
            .1
            .contains("An administrator has reset the password")
    );
    let after = users_sql::by_id(store.conn(), user.id)
        .expect("read")
        .expect("user");
    assert!(!after.must_change_password, "--no-force-change");
    let mut quiet = Recorder::default();
    let again = GenerateRequest {
        user: &user,
        handover: Handover::Show {
            notice_to: Some(&ALICE),
        },
        force_change: true,
        bulk: None,
    };
    assert!(
        run(&mut store, &mut quiet, false, again, &prepared)
            .expect("generate")
            .notice
            .is_none()
    );
    assert!(quiet.sent.is_empty(), "notify_on_change = false");
}

fn refusals_change_nothing(backend: Backend) {
    let (mut store, mut user) = setup(backend, None);
    let prepared = prepare(&PasswordConfig::default(), &mut rand::rng()).expect("prepare");
    let mut mailer = Recorder::default();
    let email = GenerateRequest {
        user: &user,
        handover: Handover::Email(Some(&X)),
        force_change: true,
        bulk: None,
    };
    assert!(matches!(
        run(&mut store, &mut mailer, true, email, &prepared),
        Err(GenerateError::Refused(Refusal::NoValidEmail(_)))
    ));
    let shown = GenerateRequest {
        user: &user,
        handover: Handover::Show { notice_to: None },
        force_change: true,
        bulk: None,
    };
    assert!(
        run(&mut store, &mut mailer, true, shown, &prepared).is_ok(),
        "show needs no email"
    );
    user.active = false;
    let inactive = GenerateRequest {
        user: &user,
        handover: Handover::Show { notice_to: None },
        force_change: true,
        bulk: None,
    };
    assert!(matches!(
        run(&mut store, &mut mailer, true, inactive, &prepared),
        Err(GenerateError::Refused(Refusal::Inactive(_)))
    ));
    assert!(mailer.sent.is_empty());
}

fn a_new_password_revokes_outstanding_links(backend: Backend) {
    let (mut store, user) = setup(backend, Some("alice@example.com"));
    let request = crate::tokens::IssueRequest {
        ttl_secs: 3600,
        recipient: "alice@example.com",
        actor: "root",
        code_key: None,
    };
    let pending =
        crate::tokens::issue_pending(&mut store, &user, request, at(T0 - 10), &mut rand::rng())
            .expect("issue");
    tokens_sql::activate(store.conn(), pending.id).expect("activate");
    let prepared = prepare(&PasswordConfig::default(), &mut rand::rng()).expect("prepare");
    let req = GenerateRequest {
        user: &user,
        handover: Handover::Show { notice_to: None },
        force_change: true,
        bulk: None,
    };
    run(&mut store, &mut Recorder::default(), false, req, &prepared).expect("generate");
    assert!(crate::tokens::verify(&store, pending.token.expose(), at(T0 + 1)).is_err());
}
