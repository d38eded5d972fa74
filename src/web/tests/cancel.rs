//! "This wasn't me": a GET cancels nothing; the POST revokes and audits.

use axum::http::{Request, StatusCode};

use super::{Harness, browse, cookie, csrf_in, get_with, page_of, post, text};
use crate::store::testing::{Backend, on_both_backends};

on_both_backends!(
    async
    get_cancels_nothing_and_the_post_revokes_with_an_audit_row,
    the_cancel_page_without_a_live_cookie_is_gone,
    a_cancel_cookie_is_no_session_cookie,
);

async fn get_cancels_nothing_and_the_post_revokes_with_an_audit_row(backend: Backend) {
    let h = Harness::new(backend);
    let alice = h.user("alice");
    let link = h.link(&alice);
    let head = Request::head(format!("/reset-password/cancel?token={}", link.token))
        .body(axum::body::Body::empty())
        .expect("req");
    assert_eq!(h.send(head).await.status(), StatusCode::SEE_OTHER);
    let response = h
        .send(browse(&format!(
            "/reset-password/cancel?token={}",
            link.token
        )))
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/reset-password/cancel");
    let value = cookie(&response, "pwreset_cancel").expect("a cancel cookie");
    let jar = format!("pwreset_cancel={value}");
    let page = h.send(get_with("/reset-password/cancel", &jar)).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = text(page).await;
    assert_eq!(page_of(&html), "cancel");
    assert!(html.contains("<button type=\"submit\" id=\"cancel\""));
    assert!(html.contains("action=\"/reset-password/cancel\""));
    assert_eq!(h.state(&link.token), "live", "no GET or HEAD cancels");

    let csrf = csrf_in(&html);
    let refused = h
        .send(post("/reset-password/cancel", &jar, &[("csrf", "")], &[]))
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(h.state(&link.token), "live");
    let done = h
        .send(post(
            "/reset-password/cancel",
            &jar,
            &[("csrf", &csrf)],
            &[],
        ))
        .await;
    assert_eq!(done.status(), StatusCode::OK);
    assert_eq!(page_of(&text(done).await), "cancelled");
    assert_eq!(h.state(&link.token), "revoked");
    assert_eq!(
        h.count("SELECT count(*) FROM audit_log WHERE action = 'token.cancel' AND actor = 'serve'"),
        1
    );
}

async fn the_cancel_page_without_a_live_cookie_is_gone(backend: Backend) {
    let h = Harness::new(backend);
    let response = h.send(browse("/reset-password/cancel")).await;
    assert_eq!(response.status(), StatusCode::GONE);
}

async fn a_cancel_cookie_is_no_session_cookie(backend: Backend) {
    let h = Harness::new(backend);
    let alice = h.user("alice");
    let link = h.link(&alice);
    let response = h
        .send(browse(&format!(
            "/reset-password/cancel?token={}",
            link.token
        )))
        .await;
    let value = cookie(&response, "pwreset_cancel").expect("a cancel cookie");
    let page = h
        .send(get_with(
            "/reset-password",
            &format!("pwreset_session={value}"),
        ))
        .await;
    assert_eq!(
        page_of(&text(page).await),
        "code",
        "no password form under a cancel cookie"
    );
}
