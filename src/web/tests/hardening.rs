//! What the security review found untested: escaping on the pages, the request timeout, the
//! per-account redemption throttle (TOK-10) and hashing off the request threads (WEB-8).

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::http::StatusCode;

use super::{Harness, browse, csrf_in, get_with, page_of, post, settings, text};
use crate::store::testing::{Backend, on_both_backends};

on_both_backends!(
    async
    names_with_markup_come_out_escaped_on_the_form_done_and_code_pages,
    a_body_slower_than_the_request_timeout_is_408_and_consumes_nothing,
    after_max_failed_redeems_the_page_refuses_and_changes_nothing,
    with_every_hashing_permit_taken_a_get_still_answers_and_the_post_waits,
);

const GOOD: &str = "violet-harbour-tractor-41";
const SCRIPT: &str = "<script>alert(1)</script>";

/// The form page's CSRF value under `session`.
async fn form_csrf(h: &Harness, session: &str) -> String {
    csrf_in(&super::form::form_html(h, session).await)
}

/// The password form POST under `session`.
fn set_password(session: &str, csrf: &str) -> axum::http::Request<Body> {
    post(
        "/reset-password",
        &format!("pwreset_session={session}"),
        &[("password", GOOD), ("confirm", GOOD), ("csrf", csrf)],
        &[],
    )
}

fn assert_escaped(html: &str) {
    assert!(!html.contains("<script"), "unescaped:\n{html}");
    assert!(
        html.contains("&lt;script&gt;"),
        "not shown escaped:\n{html}"
    );
}

async fn names_with_markup_come_out_escaped_on_the_form_done_and_code_pages(backend: Backend) {
    let mut settings = settings();
    settings.branding.app_name = SCRIPT.into();
    let h = Harness::with(backend, settings);
    let alice = h.user("alice");
    // The application may write any username into the store.
    h.on_store(|store| {
        store
            .conn()
            .execute(
                "UPDATE users SET username = ?1 WHERE id = ?2",
                &crate::vals![SCRIPT, alice.id],
            )
            .expect("rename")
    });
    let link = h.link(&alice);
    let session = h.session(&link).await;
    let html = super::form::form_html(&h, &session).await;
    assert_escaped(&html);
    assert!(
        html.contains("autocomplete=\"username\" value=\"&lt;script&gt;"),
        "the username field:\n{html}"
    );
    let done = text(h.send(browse("/reset-password/done")).await).await;
    assert_escaped(&done);
    let code = h.send(browse("/reset-password/code")).await;
    let form_cookie = super::cookie(&code, "pwreset_form").expect("a form cookie");
    let csrf = csrf_in(&text(code).await);
    let echoed = h
        .send(post(
            "/reset-password/code",
            &format!("pwreset_form={form_cookie}"),
            &[("login", SCRIPT), ("code", "AAAA-AAAA"), ("csrf", &csrf)],
            &[],
        ))
        .await;
    assert_eq!(echoed.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = text(echoed).await;
    assert_escaped(&html);
    assert!(
        html.contains("value=\"&lt;script&gt;"),
        "the login is echoed escaped"
    );
}

/// A request body that never arrives.
struct Stalled;

impl HttpBody for Stalled {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        Poll::Pending
    }
}

async fn a_body_slower_than_the_request_timeout_is_408_and_consumes_nothing(backend: Backend) {
    let mut settings = settings();
    settings.limits.request_timeout = std::time::Duration::from_secs(1);
    let h = Harness::with(backend, settings);
    let alice = h.user("alice");
    let link = h.link(&alice);
    let session = h.session(&link).await;
    let csrf = form_csrf(&h, &session).await;
    let mut request = set_password(&session, &csrf);
    *request.body_mut() = Body::new(Stalled);
    let response = h.send(request).await;
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    super::assert_secure_headers(&response);
    assert_eq!(h.state(&link.token), "live");
}

async fn after_max_failed_redeems_the_page_refuses_and_changes_nothing(backend: Backend) {
    let mut settings = settings();
    settings.max_failed_redeems_per_hour = 2;
    let h = Harness::with(backend, settings);
    let alice = h.user("alice");
    let now = *h.now.lock().expect("clock");
    for _ in 0..2 {
        let event =
            crate::audit::Event::new("token.redeem", crate::audit::Outcome::Failed).target(&alice);
        h.on_store(|store| {
            crate::audit::append(store.conn(), &super::actor(), now, &event).expect("audit");
        });
    }
    let link = h.link(&alice);
    let session = h.session(&link).await;
    let csrf = form_csrf(&h, &session).await;
    let response = h.send(set_password(&session, &csrf)).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(page_of(&text(response).await), "too-many");
    assert_eq!(h.state(&link.token), "live");
    let hash = h.on_store(|store| {
        crate::store::users::password_hash(store.conn(), alice.id).expect("query")
    });
    assert_eq!(hash, None, "no password was set");
    assert!(h.noticed().is_empty());
}

async fn with_every_hashing_permit_taken_a_get_still_answers_and_the_post_waits(backend: Backend) {
    let h = std::sync::Arc::new(Harness::new(backend));
    let alice = h.user("alice");
    let link = h.link(&alice);
    let session = h.session(&link).await;
    let csrf = form_csrf(&h, &session).await;
    let all = u32::try_from(h.web.hashing.available_permits()).expect("fits");
    let held = h.web.hashing.acquire_many(all).await.expect("permits");
    let posting = tokio::spawn({
        let (h, session) = (h.clone(), session.clone());
        async move { h.send(set_password(&session, &csrf)).await.status() }
    });
    let page = h
        .send(get_with(
            "/reset-password",
            &format!("pwreset_session={session}"),
        ))
        .await;
    assert_eq!(page.status(), StatusCode::OK, "a GET needs no permit");
    let health = h.send(browse("/reset-password/healthz")).await;
    assert_eq!(health.status(), StatusCode::OK);
    assert!(!posting.is_finished(), "the POST waits for a permit");
    assert_eq!(h.state(&link.token), "live");
    drop(held);
    assert_eq!(posting.await.expect("task"), StatusCode::SEE_OTHER);
    assert_eq!(h.state(&link.token), "used");
}
