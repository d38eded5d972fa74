//! Arriving with a token: GET and HEAD never consume, opens are counted, the token leaves the
//! URL, and dead links get one gone page.

use axum::body::Body;
use axum::http::{Request, StatusCode};

use super::{Harness, browse, cookie, get_with, page_of, set_cookie_line, settings, text};
use crate::store::testing::{Backend, on_both_backends};
use crate::web::Site;

on_both_backends!(
    async
    get_and_head_never_consume_and_every_open_is_counted,
    the_token_leaves_the_url_for_a_cookie_at_once,
    invalid_used_and_revoked_links_get_one_gone_page_expired_may_say_so,
    a_live_link_opens_from_a_client_over_its_limit_dead_and_unknown_ones_get_429,
);

async fn get_and_head_never_consume_and_every_open_is_counted(backend: Backend) {
    let h = Harness::new(backend);
    let alice = h.user("alice");
    let link = h.link(&alice);
    let uri = format!("/reset-password?token={}", link.token);
    let head = Request::head(&uri).body(Body::empty()).expect("req");
    let scanner = Request::get(&uri)
        .header("accept", "*/*")
        .body(Body::empty())
        .expect("req");
    for request in [browse(&uri), head, scanner, browse(&uri)] {
        let response = h.send(request).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
    }
    assert_eq!(h.state(&link.token), "live");
    let digest = crate::tokens::digest(&link.token);
    let count = |column: &str| {
        h.count(&format!(
            "SELECT {column} FROM reset_tokens WHERE token_sha256 = '{digest}'"
        ))
    };
    assert_eq!(count("opens"), 4);
    assert_eq!(
        count("scanner_opens"),
        2,
        "the HEAD and the GET without navigation headers"
    );
}

async fn the_token_leaves_the_url_for_a_cookie_at_once(backend: Backend) {
    let h = Harness::new(backend);
    let alice = h.user("alice");
    let link = h.link(&alice);
    let response = h
        .send(browse(&format!("/reset-password?token={}", link.token)))
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/reset-password");
    let line = set_cookie_line(&response, "pwreset_session");
    for attribute in [
        "HttpOnly",
        "SameSite=Lax",
        "Path=/reset-password",
        "Max-Age=3600",
    ] {
        assert!(line.contains(attribute), "{attribute} missing: {line}");
    }
    assert!(
        !line.contains(&link.token),
        "the cookie never holds the token"
    );
    assert!(!line.contains("Secure"), "http base_url");

    let mut https = settings();
    https.site = Site::new(&"https://example.com/reset-password".parse().expect("url"));
    let h = Harness::with(backend, https);
    let alice = h.user("alice");
    let link = h.link(&alice);
    let response = h
        .send(browse(&format!("/reset-password?token={}", link.token)))
        .await;
    assert!(set_cookie_line(&response, "pwreset_session").contains("; Secure"));
}

async fn invalid_used_and_revoked_links_get_one_gone_page_expired_may_say_so(backend: Backend) {
    let h = Harness::new(backend);
    let bodies = async |token: &str| {
        let response = h
            .send(browse(&format!("/reset-password?token={token}")))
            .await;
        assert_eq!(response.status(), StatusCode::GONE);
        text(response).await
    };
    let invalid = bodies("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").await;
    let alice = h.user("alice");
    let used = h.link(&alice);
    let policy = crate::tokens::RedeemPolicy {
        password: &h.web.settings.password,
        max_failures_per_hour: 100,
    };
    let now = *h.now.lock().expect("clock");
    h.on_store(|store| {
        crate::tokens::redeem(
            store,
            &used.token,
            &crate::secret::Secret::new("violet-harbour-tractor-41".into()),
            policy,
            &super::actor(),
            now,
            &mut rand::rng(),
        )
        .expect("redeem");
    });
    let used = bodies(&used.token).await;
    let revoked = h.link(&alice);
    h.on_store(|store| {
        crate::tokens::revoke_user(store, &alice, &super::actor(), now).expect("revoke")
    });
    let revoked = bodies(&revoked.token).await;
    assert_eq!(page_of(&invalid), "gone");
    assert_eq!(invalid, used, "used is told apart from unknown");
    assert_eq!(invalid, revoked, "revoked is told apart from unknown");
    assert!(!invalid.contains("expired"));
    let expiring = h.link(&alice);
    h.advance(3601);
    let expired = bodies(&expiring.token).await;
    assert_eq!(page_of(&expired), "gone");
    assert!(expired.contains("expired"), "{expired}");
}

/// WEB-5: a client over its limit (everyone behind one proxy, say) still opens a live link;
/// only dead and unknown tokens get its 429.
async fn a_live_link_opens_from_a_client_over_its_limit_dead_and_unknown_ones_get_429(
    backend: Backend,
) {
    let h = Harness::new(backend);
    let alice = h.user("alice");
    let old = h.link(&alice);
    let now = *h.now.lock().expect("clock");
    h.on_store(|store| {
        crate::tokens::revoke_user(store, &alice, &super::actor(), now).expect("revoke")
    });
    let live = h.link(&alice);
    let bad = "/reset-password?token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    for _ in 0..5 {
        assert_eq!(h.send(browse(bad)).await.status(), StatusCode::GONE);
    }
    assert_eq!(
        h.send(browse(bad)).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let old = format!("/reset-password?token={}", old.token);
    assert_eq!(
        h.send(browse(&old)).await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "a revoked link is refused like a guess"
    );
    let response = h
        .send(browse(&format!("/reset-password?token={}", live.token)))
        .await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "another's guesses"
    );
    let session = cookie(&response, "pwreset_session").expect("a session cookie");
    let form = h
        .send(get_with(
            "/reset-password",
            &format!("pwreset_session={session}"),
        ))
        .await;
    assert_eq!(form.status(), StatusCode::OK, "the cookie opens the form");
    assert_eq!(page_of(&text(form).await), "form");
    assert_eq!(
        h.send(browse(bad)).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}
