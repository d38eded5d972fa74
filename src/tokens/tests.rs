#![expect(
    clippy::disallowed_methods,
    reason = "tests draw real tokens, salts and passwords from the OS RNG"
)]

use super::*;
use crate::store::testing::{Backend, TestStore, on_both_backends};
use crate::store::users::NewUser;

on_both_backends!(
    a_pending_token_is_not_valid_until_activated,
    expiry_is_exclusive_at_the_boundary,
    unknown_tampered_used_and_revoked_tokens_get_one_answer,
    redeem_sets_the_password_and_revokes_other_links,
    a_policy_failure_changes_nothing,
    two_concurrent_redeems_exactly_one_wins,
    failed_redemptions_are_throttled_per_user,
    a_throttled_guessing_attack_is_audited_once_per_window,
    purge_removes_used_revoked_and_expired_but_never_live,
    cooldown_counts_only_delivered_links,
    the_cooldown_is_checked_where_the_token_is_written_and_counts_pending_links,
    a_bulk_run_counts_only_links_sent_since_it_was_planned,
);

const T0: i64 = 1_800_000_000;

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

/// Issue a token and make it live, as a delivered mail would.
fn live(store: &mut Store, user: &User, now: i64, ttl: u64) -> Secret {
    let request = IssueRequest {
        ttl_secs: ttl,
        recipient: "alice@example.com",
        actor: "root",
        code_key: None,
    };
    let pending = issue_pending(store, user, request, at(now), &mut rand::rng()).expect("issue");
    assert!(sql::activate(store.conn(), pending.id).expect("activate"));
    pending.token
}

fn policy(config: &PasswordConfig) -> RedeemPolicy<'_> {
    RedeemPolicy {
        password: config,
        max_failures_per_hour: 100,
    }
}

fn new_password() -> Secret {
    Secret::new("violet-harbour-tractor-41".into())
}

#[test]
fn tokens_are_43_base64url_characters_and_differ() {
    let a = generate(&mut rand::rng());
    let b = generate(&mut rand::rng());
    assert_eq!(a.expose().len(), TOKEN_CHARS);
    assert!(well_formed(a.expose()));
    assert_ne!(a, b);
    assert_eq!(
        digest("abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

fn a_pending_token_is_not_valid_until_activated(backend: Backend) {
    let (mut store, user) = setup(backend);
    let request = IssueRequest {
        ttl_secs: 3600,
        recipient: "alice@example.com",
        actor: "root",
        code_key: None,
    };
    let pending =
        issue_pending(&mut store, &user, request, at(T0), &mut rand::rng()).expect("issue");
    assert!(matches!(
        verify(&store, pending.token.expose(), at(T0 + 1)),
        Err(TokenError::Invalid)
    ));
    sql::activate(store.conn(), pending.id).expect("activate");
    assert_eq!(
        verify(&store, pending.token.expose(), at(T0 + 1))
            .expect("live")
            .user
            .id,
        user.id
    );
}

fn expiry_is_exclusive_at_the_boundary(backend: Backend) {
    let (mut store, user) = setup(backend);
    let token = live(&mut store, &user, T0, 3600);
    assert!(verify(&store, token.expose(), at(T0 + 3599)).is_ok());
    assert!(matches!(
        verify(&store, token.expose(), at(T0 + 3600)),
        Err(TokenError::Expired)
    ));
}

fn unknown_tampered_used_and_revoked_tokens_get_one_answer(backend: Backend) {
    let (mut store, user) = setup(backend);
    let token = live(&mut store, &user, T0, 3600);
    let mut tampered = token.expose().to_string();
    tampered.replace_range(0..1, if tampered.starts_with('A') { "B" } else { "A" });
    let answers: Vec<String> = [tampered.as_str(), "short", &"x".repeat(43)]
        .iter()
        .map(|t| verify(&store, t, at(T0)).expect_err("invalid").to_string())
        .collect();
    assert!(
        answers.iter().all(|a| a == "the reset token is not valid"),
        "{answers:?}"
    );
    let config = PasswordConfig::default();
    redeem(
        &mut store,
        token.expose(),
        &new_password(),
        policy(&config),
        &actor(),
        at(T0 + 5),
        &mut rand::rng(),
    )
    .expect("redeem");
    let used = verify(&store, token.expose(), at(T0 + 6)).expect_err("used");
    assert_eq!(used.to_string(), "the reset token is not valid");
    let other = live(&mut store, &user, T0 + 10, 3600);
    revoke_user(&mut store, &user, &actor(), at(T0 + 11)).expect("revoke");
    assert_eq!(
        verify(&store, other.expose(), at(T0 + 12))
            .expect_err("revoked")
            .to_string(),
        "the reset token is not valid"
    );
}

fn redeem_sets_the_password_and_revokes_other_links(backend: Backend) {
    let (mut store, user) = setup(backend);
    store
        .conn()
        .execute(
            "UPDATE users SET must_change_password = 1 WHERE id = ?1",
            &crate::vals![user.id],
        )
        .expect("flag");
    let first = live(&mut store, &user, T0, 3600);
    let second = live(&mut store, &user, T0 + 1, 3600);
    let config = PasswordConfig::default();
    let redeemed = redeem(
        &mut store,
        second.expose(),
        &new_password(),
        policy(&config),
        &actor(),
        at(T0 + 60),
        &mut rand::rng(),
    )
    .expect("redeem");
    assert_eq!(redeemed.id, user.id);
    let hash = users_sql::password_hash(store.conn(), user.id)
        .expect("read")
        .expect("hash set");
    assert!(password::verify("violet-harbour-tractor-41", &hash));
    let after = users_sql::by_id(store.conn(), user.id)
        .expect("read")
        .expect("user");
    assert_eq!(
        (after.must_change_password, after.password_changed_at),
        (false, Some(T0 + 60))
    );
    assert!(
        matches!(
            verify(&store, first.expose(), at(T0 + 61)),
            Err(TokenError::Invalid)
        ),
        "other link revoked"
    );
    // Counted by pwreset, not swallowed by the store's trigger, which fires on the change.
    assert_eq!(
        redeem_rows(&store, "ok"),
        vec![(T0 + 60, Some("revoked 1 other links".to_string()))]
    );
}

fn a_policy_failure_changes_nothing(backend: Backend) {
    let (mut store, user) = setup(backend);
    let token = live(&mut store, &user, T0, 3600);
    let config = PasswordConfig::default();
    let weak = Secret::new("password1234".into());
    let err = redeem(
        &mut store,
        token.expose(),
        &weak,
        policy(&config),
        &actor(),
        at(T0 + 1),
        &mut rand::rng(),
    )
    .expect_err("weak");
    assert!(matches!(err, TokenError::Policy(_)));
    assert!(
        verify(&store, token.expose(), at(T0 + 2)).is_ok(),
        "token still usable"
    );
    assert_eq!(
        users_sql::password_hash(store.conn(), user.id).expect("read"),
        None
    );
}

fn two_concurrent_redeems_exactly_one_wins(backend: Backend) {
    let (mut store, user) = setup(backend);
    let token = live(&mut store, &user, T0, 3600);
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let mut other = store.reopen(10_000);
            let (token, barrier) = (token.clone(), barrier.clone());
            std::thread::spawn(move || {
                let config = PasswordConfig::default();
                barrier.wait();
                redeem(
                    &mut other,
                    token.expose(),
                    &new_password(),
                    policy(&config),
                    &actor(),
                    at(T0 + 5),
                    &mut rand::rng(),
                )
                .is_ok()
            })
        })
        .collect();
    let wins: usize = handles
        .into_iter()
        .map(|h| usize::from(h.join().expect("thread")))
        .sum();
    assert_eq!(wins, 1);
    let used: i64 = store
        .conn()
        .query_one(
            "SELECT count(*) FROM reset_tokens WHERE used_at IS NOT NULL",
            &crate::vals![],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(used, 1);
}

fn failed_redemptions_are_throttled_per_user(backend: Backend) {
    let (mut store, user) = setup(backend);
    let token = live(&mut store, &user, T0, 60);
    let config = PasswordConfig::default();
    let strict = RedeemPolicy {
        password: &config,
        max_failures_per_hour: 3,
    };
    for i in 0..3 {
        let err = redeem(
            &mut store,
            token.expose(),
            &new_password(),
            strict,
            &actor(),
            at(T0 + 100 + i),
            &mut rand::rng(),
        );
        assert!(matches!(err, Err(TokenError::Expired)), "{err:?}");
    }
    let fresh = live(&mut store, &user, T0 + 200, 86_400);
    let err = redeem(
        &mut store,
        fresh.expose(),
        &new_password(),
        strict,
        &actor(),
        at(T0 + 201),
        &mut rand::rng(),
    );
    assert!(matches!(err, Err(TokenError::Throttled { .. })), "{err:?}");
    assert!(
        verify(&store, fresh.expose(), at(T0 + 202)).is_ok(),
        "the good token is not burnt"
    );
    let later = redeem(
        &mut store,
        fresh.expose(),
        &new_password(),
        strict,
        &actor(),
        at(T0 + 3800),
        &mut rand::rng(),
    );
    assert!(later.is_ok(), "an hour later it works: {later:?}");
}

/// The `token.redeem` rows of `outcome` and their times.
fn redeem_rows(store: &Store, outcome: &str) -> Vec<(i64, Option<String>)> {
    store
        .conn()
        .query_vec(
            "SELECT at, detail FROM audit_log WHERE action = 'token.redeem' AND outcome = ?1 ORDER BY id",
            &crate::vals![outcome],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("rows")
}

fn a_throttled_guessing_attack_is_audited_once_per_window(backend: Backend) {
    let (mut store, user) = setup(backend);
    let expired = live(&mut store, &user, T0, 60);
    let config = PasswordConfig::default();
    let attack = |store: &mut Store, start: i64| {
        for i in 0..200 {
            let err = redeem(
                store,
                expired.expose(),
                &new_password(),
                policy(&config),
                &actor(),
                at(start + i),
                &mut rand::rng(),
            );
            let throttled = matches!(err, Err(TokenError::Throttled { .. }));
            assert_eq!(throttled, i >= 100, "attempt {i}: {err:?}");
        }
    };
    attack(&mut store, T0 + 100);
    assert_eq!(
        redeem_rows(&store, "failed").len(),
        100,
        "failures up to the limit"
    );
    assert_eq!(
        redeem_rows(&store, "refused"),
        vec![(T0 + 200, Some("throttled".to_string()))],
        "one throttled row for the 100 refusals of that hour"
    );

    // Past the hour the failures have aged out: the limit applies afresh, and the next
    // throttled hour gets its own row.
    attack(&mut store, T0 + 100 + 3600 + 200);
    assert_eq!(redeem_rows(&store, "failed").len(), 200);
    assert_eq!(
        redeem_rows(&store, "refused"),
        vec![
            (T0 + 200, Some("throttled".to_string())),
            (T0 + 4000, Some("throttled".to_string()))
        ]
    );
}

fn purge_removes_used_revoked_and_expired_but_never_live(backend: Backend) {
    let (mut store, user) = setup(backend);
    let config = PasswordConfig::default();
    let used = live(&mut store, &user, T0, 3600);
    redeem(
        &mut store,
        used.expose(),
        &new_password(),
        policy(&config),
        &actor(),
        at(T0 + 1),
        &mut rand::rng(),
    )
    .expect("redeem");
    let _expired = live(&mut store, &user, T0 + 2, 300);
    let _revoked = live(&mut store, &user, T0 + 3, 3600);
    revoke_user(&mut store, &user, &actor(), at(T0 + 4)).expect("revoke");
    let keep = live(&mut store, &user, T0 + 5, 3600);
    let request = IssueRequest {
        ttl_secs: 3600,
        recipient: "a@example.com",
        actor: "root",
        code_key: None,
    };
    let pending =
        issue_pending(&mut store, &user, request, at(T0 + 6), &mut rand::rng()).expect("pending");
    let now = at(T0 + 400);
    assert_eq!(purge(&mut store, &actor(), now, true).expect("dry run"), 3);
    assert_eq!(purge(&mut store, &actor(), now, false).expect("purge"), 3);
    assert!(
        verify(&store, keep.expose(), now).is_ok(),
        "live token survives"
    );
    assert!(
        sql::activate(store.conn(), pending.id).expect("activate"),
        "an in-flight send survives"
    );
    assert_eq!(purge(&mut store, &actor(), now, false).expect("again"), 0);
}

fn cooldown_counts_only_delivered_links(backend: Backend) {
    let (mut store, user) = setup(backend);
    assert_eq!(
        cooldown_until(&store, &user, 60, at(T0)).expect("none"),
        None
    );
    let request = IssueRequest {
        ttl_secs: 3600,
        recipient: "a@example.com",
        actor: "root",
        code_key: None,
    };
    let failed =
        issue_pending(&mut store, &user, request, at(T0), &mut rand::rng()).expect("issue");
    sql::mark_undelivered(store.conn(), failed.id, T0, None).expect("fail");
    assert_eq!(
        cooldown_until(&store, &user, 60, at(T0 + 1)).expect("failed send"),
        None
    );
    live(&mut store, &user, T0 + 10, 3600);
    assert_eq!(
        cooldown_until(&store, &user, 60, at(T0 + 30)).expect("cool"),
        Some(T0 + 70)
    );
    assert_eq!(
        cooldown_until(&store, &user, 60, at(T0 + 70)).expect("over"),
        None
    );
}

fn request() -> IssueRequest<'static> {
    IssueRequest {
        ttl_secs: 3600,
        recipient: "a@example.com",
        actor: "root",
        code_key: None,
    }
}

fn the_cooldown_is_checked_where_the_token_is_written_and_counts_pending_links(backend: Backend) {
    let (mut store, user) = setup(backend);
    let any = Some(Cooldown::Any { secs: 60 });
    let first = issue_pending_checked(&mut store, &user, request(), any, at(T0), &mut rand::rng())
        .expect("first");
    assert!(matches!(first, Issued::Pending(_)), "{first:?}");
    // Still pending (its mail on the way): it counts, and nothing is written.
    let second = issue_pending_checked(
        &mut store,
        &user,
        request(),
        any,
        at(T0 + 1),
        &mut rand::rng(),
    )
    .expect("second");
    assert!(
        matches!(second, Issued::InCooldown { until } if until == T0 + 60),
        "{second:?}"
    );
    let rows: i64 = store
        .conn()
        .query_one("SELECT count(*) FROM reset_tokens", &crate::vals![], |r| {
            r.get(0)
        })
        .expect("count");
    assert_eq!(rows, 1);
    let forced = issue_pending_checked(
        &mut store,
        &user,
        request(),
        None,
        at(T0 + 2),
        &mut rand::rng(),
    )
    .expect("forced");
    assert!(matches!(forced, Issued::Pending(_)));
}

fn a_bulk_run_counts_only_links_sent_since_it_was_planned(backend: Backend) {
    let (mut store, user) = setup(backend);
    live(&mut store, &user, T0, 3600);
    let run = crate::store::bulk::NewRun {
        id: "20261122-100000-abcd",
        action: "link",
        os_user: "root",
        actor: None,
        reason: None,
        deliver_to: None,
        reissue_of: None,
    };
    crate::store::bulk::insert_run(store.conn(), &run, T0 + 1).expect("plan");
    let since_run = Cooldown::SinceRun {
        secs: 60,
        run_id: run.id,
    };
    let now = at(T0 + 2);
    assert_eq!(
        since_run.until(store.conn(), user.id, now).expect("before"),
        None,
        "a link from before the plan was the plan's to check"
    );
    assert_eq!(
        Cooldown::Any { secs: 60 }
            .until(store.conn(), user.id, now)
            .expect("any"),
        Some(T0 + 60)
    );
    live(&mut store, &user, T0 + 2, 3600);
    assert_eq!(
        since_run
            .until(store.conn(), user.id, at(T0 + 3))
            .expect("after"),
        Some(T0 + 62),
        "a link sent by hand during the run counts"
    );
}

mod binding;
mod page;
