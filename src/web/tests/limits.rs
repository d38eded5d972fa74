//! Failed attempts per client address (429), and who the client is behind a proxy.

use axum::http::{Request, StatusCode};

use super::{Harness, browse};

const BAD: &str = "/reset-password?token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

fn via(uri: &str, forwarded: &str) -> Request<axum::body::Body> {
    let mut request = browse(uri);
    request
        .headers_mut()
        .insert("x-forwarded-for", forwarded.parse().expect("value"));
    request
}

#[tokio::test]
async fn too_many_bad_links_from_one_address_is_429_for_that_address_only() {
    let h = Harness::new();
    let alice = h.user("alice");
    let link = h.link(&alice);
    for _ in 0..5 {
        assert_eq!(h.send(browse(BAD)).await.status(), StatusCode::GONE);
    }
    let good = format!("/reset-password?token={}", link.token);
    let blocked = h.send(browse(&good)).await;
    assert_eq!(blocked.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(super::page_of(&super::text(blocked).await), "too-many");
    let other = h.send_from("192.0.2.2:1", browse(&good)).await;
    assert_eq!(other.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn forwarded_for_counts_only_behind_a_trusted_proxy() {
    let h = Harness::new();
    // Behind the trusted proxy (10.0.0.0/8), each client counts on its own.
    for _ in 0..5 {
        let response = h.send_from("10.0.0.1:1", via(BAD, "203.0.113.7")).await;
        assert_eq!(response.status(), StatusCode::GONE);
    }
    let blocked = h.send_from("10.0.0.1:1", via(BAD, "203.0.113.7")).await;
    assert_eq!(blocked.status(), StatusCode::TOO_MANY_REQUESTS);
    let neighbour = h.send_from("10.0.0.1:1", via(BAD, "203.0.113.8")).await;
    assert_eq!(neighbour.status(), StatusCode::GONE);
    // From an untrusted peer the header is ignored: changing it does not escape the count.
    for n in 0..5 {
        let forged = format!("198.51.100.{n}");
        h.send_from("192.0.2.9:1", via(BAD, &forged)).await;
    }
    let forged = h.send_from("192.0.2.9:1", via(BAD, "198.51.100.77")).await;
    assert_eq!(forged.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn old_links_from_one_address_earn_no_429_only_guesses_do() {
    let h = Harness::new();
    let alice = h.user("alice");
    let revoked = h.link(&alice);
    let now = *h.now.lock().expect("clock");
    crate::tokens::revoke_user(&mut h.store(), &alice, &super::actor(), now).expect("revoke");
    let old = format!("/reset-password?token={}", revoked.token);
    for _ in 0..10 {
        assert_eq!(h.send(browse(&old)).await.status(), StatusCode::GONE);
    }
    let live = h.link(&alice);
    let good = format!("/reset-password?token={}", live.token);
    assert_eq!(
        h.send(browse(&good)).await.status(),
        StatusCode::SEE_OTHER,
        "ten clicks on a revoked link are no failures"
    );
    for _ in 0..5 {
        assert_eq!(h.send(browse(BAD)).await.status(), StatusCode::GONE);
    }
    assert_eq!(
        h.send(browse(&good)).await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "unknown tokens still count"
    );
}
