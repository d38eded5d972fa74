//! The done page: "your password was changed" only right after a change in this browser (a
//! short-lived, keyed, `HttpOnly` cookie set on the 303 and cleared by the page); anyone else
//! gets a neutral page that claims nothing.

use axum::http::StatusCode;

use super::{Harness, browse, cookie, csrf_in, get_with, page_of, post, set_cookie_line, text};
use crate::store::testing::{Backend, on_both_backends};

on_both_backends!(
    async
    the_done_page_claims_nothing_to_a_visitor_without_a_change,
    the_done_page_says_changed_once_after_a_change_in_this_browser,
);

const GOOD: &str = "violet-harbour-tractor-41";
const CHANGED: &str = "Your password was changed";

async fn the_done_page_claims_nothing_to_a_visitor_without_a_change(backend: Backend) {
    let h = Harness::new(backend);
    let response = h.send(browse("/reset-password/done")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = text(response).await;
    assert_eq!(page_of(&html), "done");
    assert!(!html.contains(CHANGED), "claims a change:\n{html}");
    for forged in ["1800000000.00.00", "1800000000.aa.0000", "x"] {
        let response = h
            .send(get_with(
                "/reset-password/done",
                &format!("pwreset_done={forged}"),
            ))
            .await;
        let html = text(response).await;
        assert!(!html.contains(CHANGED), "a forged cookie {forged}:\n{html}");
    }
}

async fn the_done_page_says_changed_once_after_a_change_in_this_browser(backend: Backend) {
    let h = Harness::new(backend);
    let alice = h.user("alice");
    let link = h.link(&alice);
    let session = h.session(&link).await;
    let csrf = csrf_in(&super::form::form_html(&h, &session).await);
    let fields = [
        ("password", GOOD),
        ("confirm", GOOD),
        ("csrf", csrf.as_str()),
    ];
    let changed = h
        .send(post(
            "/reset-password",
            &format!("pwreset_session={session}"),
            &fields,
            &[],
        ))
        .await;
    assert_eq!(changed.status(), StatusCode::SEE_OTHER);
    let line = set_cookie_line(&changed, "pwreset_done");
    assert!(
        line.contains("HttpOnly") && line.contains("SameSite=Lax"),
        "{line}"
    );
    assert!(line.contains("Max-Age=300"), "short-lived: {line}");
    let value = cookie(&changed, "pwreset_done").expect("the done cookie");
    let done = h
        .send(get_with(
            "/reset-password/done",
            &format!("pwreset_done={value}"),
        ))
        .await;
    assert!(
        set_cookie_line(&done, "pwreset_done").contains("Max-Age=0"),
        "cleared"
    );
    let html = text(done).await;
    assert!(html.contains(CHANGED), "{html}");
    assert!(html.contains("id=\"login-link\" href=\"https://example.com/login\""));
    h.advance(301);
    let late = h
        .send(get_with(
            "/reset-password/done",
            &format!("pwreset_done={value}"),
        ))
        .await;
    assert!(
        !text(late).await.contains(CHANGED),
        "the cookie is short-lived"
    );
}
