//! The password form: shown under a session, CSRF and cross-site checks, policy errors, and
//! the one POST that uses the token.

use axum::http::StatusCode;

use super::{Harness, cookie, csrf_in, get_with, page_of, post, text};
use crate::store::testing::{Backend, on_both_backends};

on_both_backends!(
    async
    the_form_follows_the_html_contract,
    a_policy_error_is_422_next_to_the_field_and_the_token_stays_live,
    success_uses_the_token_revokes_the_others_audits_and_notifies,
    a_missing_or_wrong_csrf_value_is_403_and_consumes_nothing,
    cross_site_posts_are_403_but_origin_null_is_the_page_itself,
    a_notice_slower_than_the_request_timeout_still_gives_303,
);

const GOOD: &str = "violet-harbour-tractor-41";

/// A harness with alice, her link, her session cookie and the form's CSRF value.
async fn opened(backend: Backend) -> (Harness, super::Link, String, String) {
    let h = Harness::new(backend);
    let alice = h.user("alice");
    let link = h.link(&alice);
    let session = h.session(&link).await;
    let html = form_html(&h, &session).await;
    let csrf = csrf_in(&html);
    (h, link, session, csrf)
}

/// The form page under `session`.
pub(super) async fn form_html(h: &Harness, session: &str) -> String {
    let response = h
        .send(get_with(
            "/reset-password",
            &format!("pwreset_session={session}"),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = text(response).await;
    assert_eq!(page_of(&html), "form");
    html
}

fn set(
    session: &str,
    csrf: &str,
    password: &str,
    confirm: &str,
) -> axum::http::Request<axum::body::Body> {
    post(
        "/reset-password",
        &format!("pwreset_session={session}"),
        &[("password", password), ("confirm", confirm), ("csrf", csrf)],
        &[],
    )
}

async fn the_form_follows_the_html_contract(backend: Backend) {
    let h = Harness::new(backend);
    let alice = h.user("alice");
    let link = h.link(&alice);
    let session = h.session(&link).await;
    let html = form_html(&h, &session).await;
    for needle in [
        "<form method=\"post\" action=\"/reset-password\">",
        "name=\"username\" autocomplete=\"username\" value=\"alice\"",
        "type=\"password\" id=\"password\" name=\"password\" autocomplete=\"new-password\" autofocus",
        "id=\"confirm\" name=\"confirm\"",
        "id=\"policy\"",
        "<button type=\"submit\" id=\"submit\">",
        "id=\"use-code\" href=\"/reset-password/code\"",
        "<label for=\"password\">",
        "<label for=\"confirm\">",
    ] {
        assert!(html.contains(needle), "{needle} missing:\n{html}");
    }
    assert!(!html.contains(&link.token));
}

async fn a_policy_error_is_422_next_to_the_field_and_the_token_stays_live(backend: Backend) {
    let (h, link, session, csrf) = opened(backend).await;
    for (password, reason) in [
        ("short", "too short"),
        ("alice", "too short"),
        ("password1234", "too easy"),
    ] {
        let response = h.send(set(&session, &csrf, password, password)).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = text(response).await;
        assert_eq!(page_of(&html), "form");
        assert!(
            html.contains("id=\"password-error\" role=\"alert\""),
            "{html}"
        );
        assert!(html.contains("aria-invalid=\"true\""));
        assert!(html.contains("aria-describedby=\"policy password-error\""));
        assert!(html.to_lowercase().contains(reason), "{reason}: {html}");
    }
    let response = h
        .send(set(&session, &csrf, GOOD, "another-one-entirely"))
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(response).await.contains("differ"));
    assert_eq!(h.state(&link.token), "live");
    assert!(h.noticed().is_empty());
}

async fn success_uses_the_token_revokes_the_others_audits_and_notifies(backend: Backend) {
    let (h, link, session, csrf) = opened(backend).await;
    let alice = h.on_store(|store| {
        crate::store::users::by_username(store.conn(), "alice")
            .expect("query")
            .expect("alice")
    });
    let other = h.link(&alice);
    // Supersede is the issuer's business; here both are live until the change.
    h.on_store(|store| {
        store
            .conn()
            .execute("UPDATE users SET must_change_password = 1", &crate::vals![])
            .expect("flag")
    });
    let response = h.send(set(&session, &csrf, GOOD, GOOD)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/reset-password/done");
    assert_eq!(
        cookie(&response, "pwreset_session").as_deref(),
        Some(""),
        "cleared"
    );
    assert_eq!(h.state(&link.token), "used");
    assert_eq!(h.state(&other.token), "revoked");
    assert_eq!(
        h.count("SELECT must_change_password FROM users WHERE username = 'alice'"),
        0
    );
    let hash: String = h.on_store(|store| {
        store
            .conn()
            .query_one(
                "SELECT password_hash FROM users WHERE username = 'alice'",
                &crate::vals![],
                |r| r.get(0),
            )
            .expect("hash")
    });
    assert!(crate::password::verify(GOOD, &hash));
    assert_eq!(
        h.count("SELECT count(*) FROM audit_log WHERE action = 'token.redeem' AND outcome = 'ok' AND actor = 'serve'"),
        1
    );
    assert_eq!(h.noticed_once(1).await, ["alice"]);
    let done = h.send(super::browse("/reset-password/done")).await;
    let html = text(done).await;
    assert_eq!(page_of(&html), "done");
    assert!(html.contains("id=\"login-link\" href=\"https://example.com/login\""));
    let again = h.send(set(&session, &csrf, GOOD, GOOD)).await;
    assert_eq!(
        again.status(),
        StatusCode::GONE,
        "the session died with the token"
    );
}

async fn a_missing_or_wrong_csrf_value_is_403_and_consumes_nothing(backend: Backend) {
    let (h, link, session, csrf) = opened(backend).await;
    for given in ["", &"0".repeat(64), &csrf[..63]] {
        let response = h.send(set(&session, given, GOOD, GOOD)).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(page_of(&text(response).await), "forbidden");
    }
    let no_cookie = post(
        "/reset-password",
        "",
        &[("password", GOOD), ("confirm", GOOD), ("csrf", &csrf)],
        &[],
    );
    assert_eq!(h.send(no_cookie).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(h.state(&link.token), "live");
}

async fn cross_site_posts_are_403_but_origin_null_is_the_page_itself(backend: Backend) {
    let (h, link, session, csrf) = opened(backend).await;
    let fields = [
        ("password", GOOD),
        ("confirm", GOOD),
        ("csrf", csrf.as_str()),
    ];
    let cookie = format!("pwreset_session={session}");
    for headers in [
        vec![("sec-fetch-site", "cross-site")],
        vec![("sec-fetch-site", "same-site")],
        vec![("sec-fetch-site", "cross-site"), ("origin", "null")],
    ] {
        let response = h
            .send(post("/reset-password", &cookie, &fields, &headers))
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{headers:?}");
    }
    // Without Sec-Fetch-Site: a foreign Origin is refused.
    let mut foreign = post(
        "/reset-password",
        &cookie,
        &fields,
        &[("origin", "https://evil.example")],
    );
    foreign.headers_mut().remove("sec-fetch-site");
    assert_eq!(h.send(foreign).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(h.state(&link.token), "live");
    // A browser's own form under no-referrer: Origin null, same-origin.
    let own = post(
        "/reset-password",
        &cookie,
        &fields,
        &[("sec-fetch-site", "same-origin"), ("origin", "null")],
    );
    assert_eq!(h.send(own).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(h.state(&link.token), "used");
}

async fn a_notice_slower_than_the_request_timeout_still_gives_303(backend: Backend) {
    let mut settings = super::settings();
    settings.limits.request_timeout = std::time::Duration::from_secs(5);
    let (release, gate) = std::sync::mpsc::channel::<()>();
    let gate = std::sync::Mutex::new(gate);
    let h = Harness::with_deps(backend, settings, |deps| {
        let inner = deps.notify.clone();
        deps.notify = std::sync::Arc::new(move |user| {
            // Held until the test has its answer (bounded, should the test fail first).
            let gate = gate.lock().expect("gate");
            let _ = gate.recv_timeout(std::time::Duration::from_secs(60));
            inner(user);
        });
    });
    let alice = h.user("alice");
    let link = h.link(&alice);
    let session = h.session(&link).await;
    let csrf = csrf_in(&form_html(&h, &session).await);
    let response = h.send(set(&session, &csrf, GOOD, GOOD)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "not 408");
    assert!(super::set_cookie_line(&response, "pwreset_session").contains("Max-Age=0"));
    assert_eq!(h.state(&link.token), "used");
    assert!(h.noticed().is_empty(), "the notice is still held");
    release.send(()).expect("the notifier waits");
    assert_eq!(
        h.noticed_once(1).await,
        ["alice"],
        "the notice went out after the answer"
    );
}
