//! What the code form tells about who has a pending reset (WEB-6, TOK-10): wrong codes count
//! per resolved user whatever spelling of the login was typed, a known user gets the same
//! answers with or without a live link, probes against a user without a link are audited and
//! cannot revoke or block the link issued later; and a right code is never refused for other
//! clients' failures (WEB-5).

use axum::http::StatusCode;

use super::code::{code_form, submit};
use super::{Harness, text};
use crate::store::testing::{Backend, on_both_backends};

on_both_backends!(
    async
    spellings_of_one_login_count_together_with_or_without_a_link,
    probes_against_a_user_without_a_link_are_audited_without_the_code,
    probes_made_before_a_link_cannot_revoke_or_block_it,
    a_right_code_is_never_refused_for_other_clients_failures,
    a_user_whose_link_expired_answers_like_one_who_never_had_one,
);

/// Lenient per-client settings: these sequences are about the login.
fn lenient() -> crate::web::PageSettings {
    let mut settings = super::settings();
    settings.limits.max_failures_per_client = 1000;
    settings
}

/// The statuses of four wrong codes as `alice` then one as `alice@example.com`.
async fn four_and_one(h: &Harness) -> Vec<StatusCode> {
    let (form, csrf) = code_form(h).await;
    let mut statuses = Vec::new();
    for login in ["alice", "alice", "ALICE", " alice", "alice@example.com"] {
        let response = h.send(submit(&form, &csrf, login, "AAAA-AAAA")).await;
        statuses.push(response.status());
    }
    statuses
}

async fn spellings_of_one_login_count_together_with_or_without_a_link(backend: Backend) {
    let with_link = Harness::with(backend, lenient());
    let alice = with_link.user("alice");
    with_link.link(&alice);
    let without_link = Harness::with(backend, lenient());
    without_link.user("alice");
    let wrong = StatusCode::UNPROCESSABLE_ENTITY;
    let expected = vec![wrong, wrong, wrong, wrong, StatusCode::GONE];
    assert_eq!(four_and_one(&with_link).await, expected, "with a live link");
    assert_eq!(
        four_and_one(&without_link).await,
        expected,
        "without a link"
    );
    // The same writes either way: an audit row per wrong code.
    let audited = "SELECT count(*) FROM audit_log WHERE action = 'token.code'";
    assert_eq!(with_link.count(audited), 5);
    assert_eq!(without_link.count(audited), 5);
}

async fn probes_against_a_user_without_a_link_are_audited_without_the_code(backend: Backend) {
    let h = Harness::with(backend, lenient());
    h.user("bob");
    let (form, csrf) = code_form(&h).await;
    for login in ["bob", "bob@example.com"] {
        let response = h.send(submit(&form, &csrf, login, "QQQQ-7777")).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let audited = "SELECT count(*) FROM audit_log WHERE action = 'token.code' \
                   AND outcome = 'failed' AND target = 'bob'";
    assert_eq!(h.count(audited), 2, "one row per probe");
    let leaked = "SELECT count(*) FROM audit_log WHERE detail LIKE '%QQQQ%' \
                  OR detail LIKE '%7777%'";
    assert_eq!(h.count(leaked), 0, "no code in the audit log");
}

async fn probes_made_before_a_link_cannot_revoke_or_block_it(backend: Backend) {
    let h = Harness::with(backend, lenient());
    let alice = h.user("alice");
    let (form, csrf) = code_form(&h).await;
    for _ in 0..6 {
        h.send(submit(&form, &csrf, "alice", "AAAA-AAAA")).await;
    }
    let link = h.link(&alice);
    let response = h.send(submit(&form, &csrf, "alice", "AAAA-AAAA")).await;
    assert_eq!(
        response.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "the new link's first wrong try: {}",
        text(response).await
    );
    assert_eq!(h.state(&link.token), "live");
    let right = h.send(submit(&form, &csrf, "alice", &link.code)).await;
    assert_eq!(
        right.status(),
        StatusCode::SEE_OTHER,
        "the right code opens the form"
    );
}

async fn a_right_code_is_never_refused_for_other_clients_failures(backend: Backend) {
    let mut settings = super::settings();
    settings.limits.max_failures_per_client = 3;
    let h = Harness::with(backend, settings);
    let alice = h.user("alice");
    let link = h.link(&alice);
    let (form, csrf) = code_form(&h).await;
    // Others behind the same proxy address guess for nobody and use the bucket up.
    for _ in 0..3 {
        h.send(submit(&form, &csrf, "nobody", "AAAA-AAAA")).await;
    }
    let guess = h.send(submit(&form, &csrf, "nobody", "AAAA-AAAA")).await;
    assert_eq!(
        guess.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "wrong codes are refused"
    );
    let wrong = h.send(submit(&form, &csrf, "alice", "AAAA-AAAA")).await;
    assert_eq!(wrong.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        h.count("SELECT code_tries FROM reset_tokens"),
        1,
        "the link's own try limit still counts"
    );
    let right = h.send(submit(&form, &csrf, "alice", &link.code)).await;
    assert_eq!(
        right.status(),
        StatusCode::SEE_OTHER,
        "the right code is let through"
    );
}

/// Four wrong codes, then the link (if any) expires, then a fifth: the same answers whether
/// the user had a link or not, so they tell nobody that a reset was pending.
async fn a_user_whose_link_expired_answers_like_one_who_never_had_one(backend: Backend) {
    let mut answers = Vec::new();
    for had_link in [true, false] {
        let h = Harness::with(backend, lenient());
        let alice = h.user("alice");
        if had_link {
            h.link(&alice);
        }
        let (form, csrf) = code_form(&h).await;
        let mut statuses = Vec::new();
        for _ in 0..4 {
            statuses.push(
                h.send(submit(&form, &csrf, "alice", "AAAA-AAAA"))
                    .await
                    .status(),
            );
        }
        h.advance(24 * 3600 + 1);
        statuses.push(
            h.send(submit(&form, &csrf, "alice", "AAAA-AAAA"))
                .await
                .status(),
        );
        answers.push(statuses);
    }
    assert_eq!(answers[0], answers[1], "had a link, never had one");
    assert_eq!(
        answers[1][4],
        StatusCode::GONE,
        "the fifth is too many either way"
    );
}
