use super::*;
use crate::store::testing::{Backend, TestStore, on_both_backends};
use crate::store::users::NewUser;

on_both_backends!(
    resolve_by_email_username_and_id,
    text_naming_two_users_is_ambiguous,
    duplicates_are_refused_with_nothing_written,
    deactivation_revokes_live_links_and_is_audited_once,
);

/// The operator of the users tests (also `edit`'s).
pub(super) fn actor() -> Actor {
    Actor {
        os_user: "root".into(),
        actor: None,
        reason: None,
        key: crate::keys::AuditKey::for_tests(),
    }
}

/// The time of the users tests (also `edit`'s).
pub(super) fn now() -> Timestamp {
    Timestamp::from_second(1_800_000_000).expect("time")
}

fn new(username: &str, email: Option<&str>) -> NewUser {
    NewUser {
        username: username.into(),
        email: email.map(str::to_string),
        display_name: None,
        active: true,
        locale: None,
    }
}

fn resolve_by_email_username_and_id(backend: Backend) {
    let mut store = TestStore::new(backend);
    let alice = add(
        &mut store,
        &new("alice", Some("Alice@Example.com")),
        &actor(),
        now(),
    )
    .expect("add");
    assert_eq!(
        resolve(store.conn(), "alice@example.COM")
            .expect("email")
            .id,
        alice.id
    );
    assert_eq!(
        resolve(store.conn(), "ALICE").expect("username").id,
        alice.id
    );
    assert_eq!(
        resolve(store.conn(), &format!("#{}", alice.id))
            .expect("id")
            .id,
        alice.id
    );
    assert!(matches!(
        resolve(store.conn(), "#999"),
        Err(UserError::Unknown(_))
    ));
    assert!(matches!(
        resolve(store.conn(), "nobody"),
        Err(UserError::Unknown(_))
    ));
}

fn text_naming_two_users_is_ambiguous(backend: Backend) {
    let mut store = TestStore::new(backend);
    add(
        &mut store,
        &new("bob", Some("bob@example.com")),
        &actor(),
        now(),
    )
    .expect("bob");
    // An application may have stored a username that looks like someone else's email.
    store
        .conn()
        .execute(
            "INSERT INTO users (username, created_at, updated_at) VALUES ('bob@example.com', 0, 0)",
            &crate::vals![],
        )
        .expect("raw insert");
    let err = resolve(store.conn(), "bob@example.com").expect_err("ambiguous");
    assert!(matches!(err, UserError::Ambiguous { .. }));
}

fn duplicates_are_refused_with_nothing_written(backend: Backend) {
    let mut store = TestStore::new(backend);
    add(
        &mut store,
        &new("alice", Some("alice@example.com")),
        &actor(),
        now(),
    )
    .expect("add");
    let err = add(
        &mut store,
        &new("alice2", Some("ALICE@example.com")),
        &actor(),
        now(),
    )
    .expect_err("dup email");
    assert!(matches!(err, UserError::EmailTaken { .. }));
    let err = add(
        &mut store,
        &new("Alice", Some("other@example.com")),
        &actor(),
        now(),
    )
    .expect_err("dup name");
    assert!(matches!(err, UserError::UsernameTaken(_)));
    let users: i64 = store
        .conn()
        .query_one("SELECT count(*) FROM users", &crate::vals![], |r| r.get(0))
        .expect("count");
    let audits: i64 = store
        .conn()
        .query_one("SELECT count(*) FROM audit_log", &crate::vals![], |r| {
            r.get(0)
        })
        .expect("count");
    assert_eq!((users, audits), (1, 1));
}

fn deactivation_revokes_live_links_and_is_audited_once(backend: Backend) {
    let mut store = TestStore::new(backend);
    let alice = add(
        &mut store,
        &new("alice", Some("alice@example.com")),
        &actor(),
        now(),
    )
    .expect("add");
    let t = now().as_second();
    store
        .conn()
        .execute(
            "INSERT INTO reset_tokens (user_id, token_sha256, created_at, expires_at) VALUES (?1, 'aa', ?2, ?3), (?1, 'bb', ?2, ?4)",
            &crate::vals![alice.id, t - 10, t + 3600, t - 1],
        )
        .expect("tokens");
    let result = set_active(&mut store, &alice, false, &actor(), now()).expect("deactivate");
    assert_eq!(
        result,
        Activation {
            changed: true,
            links_revoked: 1
        }
    );
    let again = set_active(&mut store, &alice, false, &actor(), now()).expect("again");
    assert_eq!(
        again,
        Activation {
            changed: false,
            links_revoked: 0
        }
    );
    let audits: i64 = store
        .conn()
        .query_one(
            "SELECT count(*) FROM audit_log WHERE action = 'user.deactivate'",
            &crate::vals![],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(audits, 1);
}
