use super::*;
use crate::store::testing::{Backend, TestStore, on_both_backends};
use crate::store::users::NewUser;

on_both_backends!(
    only_another_users_email_or_username_is_a_duplicate,
    an_email_change_counts_the_links_it_revokes_and_a_bad_field_writes_nothing,
    a_locale_is_stored_canonical_cleared_by_an_empty_one_and_a_bad_one_refused,
);

use crate::users::tests::{actor, now};

/// [`now`] in Unix seconds.
const T0: i64 = 1_800_000_000;

/// Ten seconds after [`now`].
fn later() -> Timestamp {
    Timestamp::from_second(T0 + 10).expect("time")
}

/// alice (#1) and bob (#2).
fn setup(backend: Backend) -> TestStore {
    let mut store = TestStore::new(backend);
    for (username, email) in [("alice", "alice@example.com"), ("bob", "bob@example.com")] {
        let user = NewUser {
            username: username.into(),
            email: Some(email.into()),
            display_name: None,
            active: true,
            locale: None,
        };
        crate::users::add(&mut store, &user, &actor(), now()).expect("user");
    }
    store
}

fn alice(store: &TestStore) -> User {
    sql::by_id(store.conn(), 1).expect("read").expect("alice")
}

fn only_another_users_email_or_username_is_a_duplicate(backend: Backend) {
    let store = setup(backend);
    let asking = |email: &str, username: &str| Changes {
        email: Some(email.into()),
        username: Some(username.into()),
        name: None,
        locale: None,
    };
    let own = plan(
        store.conn(),
        alice(&store),
        &asking("ALICE@example.com", "Alice"),
    )
    .expect("alice may change the case of her own");
    assert_eq!(own.changes.len(), 2, "a change of case is a change");
    assert!(matches!(
        plan(
            store.conn(),
            alice(&store),
            &asking("Bob@Example.com", "alice")
        ),
        Err(UserError::EmailTaken { id: 2, .. })
    ));
    assert!(matches!(
        plan(
            store.conn(),
            alice(&store),
            &asking("alice@example.com", "BOB")
        ),
        Err(UserError::UsernameTaken(_))
    ));
    let same = plan(
        store.conn(),
        alice(&store),
        &asking("alice@example.com", "alice"),
    )
    .expect("the same values");
    assert!(same.changes.is_empty());
}

fn an_email_change_counts_the_links_it_revokes_and_a_bad_field_writes_nothing(backend: Backend) {
    let mut store = setup(backend);
    store
        .conn()
        .batch(
            "INSERT INTO reset_tokens (user_id, token_sha256, created_at, expires_at, revoked_at, revoked_reason) VALUES
                 (1, 'live', 1800000000, 1800003600, NULL, NULL),
                 (1, 'pending', 1800000000, 1800003600, 1800000000, 'pending delivery'),
                 (1, 'expired', 1, 2, NULL, NULL),
                 (2, 'bobs', 1800000000, 1800003600, NULL, NULL);",
        )
        .expect("links");
    let bad = Changes {
        email: Some("alice@new.example.com".into()),
        username: None,
        name: Some("a\u{7}b".into()),
        locale: None,
    };
    let err = apply(&mut store, 1, &bad, &actor(), later()).expect_err("bad name");
    assert!(matches!(err, UserError::Invalid(_)), "{err}");
    assert_eq!(alice(&store).email.as_deref(), Some("alice@example.com"));
    let good = Changes {
        name: Some("Alice".into()),
        ..bad
    };
    let edited = apply(&mut store, 1, &good, &actor(), later()).expect("edit");
    assert_eq!(
        edited.links_revoked, 2,
        "the live and the pending link, by pwreset's clock"
    );
    assert_eq!(edited.user.email.as_deref(), Some("alice@new.example.com"));
    let reasons = store
        .conn()
        .query_vec(
            "SELECT token_sha256, revoked_reason, revoked_at FROM reset_tokens ORDER BY id",
            &[],
            |r| {
                Ok((
                    r.get::<String>(0)?,
                    r.get::<Option<String>>(1)?,
                    r.get::<Option<i64>>(2)?,
                ))
            },
        )
        .expect("links");
    let revoked = |digest: &str| {
        (
            digest.to_string(),
            Some(EMAIL_CHANGED.to_string()),
            Some(T0 + 10),
        )
    };
    assert_eq!(
        reasons,
        vec![
            revoked("live"),
            revoked("pending"),
            revoked("expired"),
            ("bobs".to_string(), None, None)
        ],
        "the trigger took the expired one, at the row's updated_at"
    );
    let detail: String = store
        .conn()
        .query_one(
            "SELECT detail FROM audit_log WHERE action = ?1",
            &crate::vals![ACTION],
            |r| r.get(0),
        )
        .expect("one audit row");
    assert_eq!(
        detail,
        r#"email "alice@example.com" -> "alice@new.example.com", name none -> "Alice", revoked 2 links"#
    );
}

fn a_locale_is_stored_canonical_cleared_by_an_empty_one_and_a_bad_one_refused(backend: Backend) {
    let mut store = setup(backend);
    let to = |tag: &str| Changes {
        locale: Some(tag.into()),
        ..Changes::default()
    };
    let edited = apply(&mut store, 1, &to("PT-br"), &actor(), later()).expect("edit");
    assert_eq!(alice(&store).locale.as_deref(), Some("pt-BR"));
    assert_eq!(edited.links_revoked, 0, "a language change revokes nothing");
    assert_eq!(
        edited.plan.detail(0),
        "locale none -> \"pt-BR\"",
        "audited with old and new value"
    );
    let err = apply(&mut store, 1, &to("pt_BR"), &actor(), later()).expect_err("bad tag");
    assert!(matches!(err, UserError::Invalid(_)), "{err}");
    assert_eq!(alice(&store).locale.as_deref(), Some("pt-BR"), "unchanged");
    apply(&mut store, 1, &to(""), &actor(), later()).expect("clear");
    assert_eq!(alice(&store).locale, None);
}
