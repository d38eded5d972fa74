//! The code path: a right code opens a session, wrong ones are 422, the fifth revokes the link.

use axum::http::StatusCode;

use super::{Harness, browse, cookie, csrf_in, get_with, page_of, post, text};

/// The form cookie and CSRF value of a fresh code form.
async fn code_form(h: &Harness) -> (String, String) {
    let response = h.send(browse("/reset-password/code")).await;
    let form = cookie(&response, "pwreset_form").expect("a form cookie");
    let csrf = csrf_in(&text(response).await);
    (format!("pwreset_form={form}"), csrf)
}

fn submit(
    cookie: &str,
    csrf: &str,
    login: &str,
    code: &str,
) -> axum::http::Request<axum::body::Body> {
    post(
        "/reset-password/code",
        cookie,
        &[("login", login), ("code", code), ("csrf", csrf)],
        &[],
    )
}

#[tokio::test]
async fn a_right_code_opens_the_form_like_the_link() {
    let h = Harness::new();
    let alice = h.user("alice");
    let link = h.link(&alice);
    let (form, csrf) = code_form(&h).await;
    let typed = link.code.to_lowercase().replace('-', " ");
    let response = h
        .send(submit(&form, &csrf, "ALICE@example.com", &typed))
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/reset-password");
    let session = cookie(&response, "pwreset_session").expect("a session");
    let page = h
        .send(get_with(
            "/reset-password",
            &format!("pwreset_session={session}"),
        ))
        .await;
    assert_eq!(page_of(&text(page).await), "form");
    assert_eq!(
        h.state(&link.token),
        "live",
        "a code consumes nothing either"
    );
}

#[tokio::test]
async fn wrong_codes_are_422_and_the_fifth_revokes_the_link() {
    let h = Harness::new();
    let alice = h.user("alice");
    let link = h.link(&alice);
    let (form, csrf) = code_form(&h).await;
    for _ in 0..4 {
        let response = h.send(submit(&form, &csrf, "alice", "AAAA-AAAA")).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = text(response).await;
        assert_eq!(page_of(&html), "code");
        assert!(html.contains("id=\"code-error\" role=\"alert\""));
        assert!(html.contains("value=\"alice\""), "the login is kept");
    }
    assert_eq!(h.state(&link.token), "live");
    let response = h.send(submit(&form, &csrf, "alice", "AAAA-AAAA")).await;
    assert_eq!(response.status(), StatusCode::GONE);
    let html = text(response).await;
    assert_eq!(page_of(&html), "gone");
    assert!(html.contains("too many times"));
    assert_eq!(h.state(&link.token), "revoked");
    // From another address (this one has used up its failures).
    let late = h
        .send_from("192.0.2.50:1", submit(&form, &csrf, "alice", &link.code))
        .await;
    assert_eq!(
        late.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "the right code is dead now"
    );
}

#[tokio::test]
async fn an_unknown_user_gets_the_same_answer_and_csrf_is_checked() {
    let h = Harness::new();
    let (form, csrf) = code_form(&h).await;
    let response = h.send(submit(&form, &csrf, "nobody", "AAAA-AAAA")).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let response = h.send(submit(&form, "", "nobody", "AAAA-AAAA")).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = h
        .send(submit("pwreset_form=00ff", &csrf, "nobody", "AAAA-AAAA"))
        .await;
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "the value is bound to the cookie"
    );
}
