//! Failed attempts per client address (429), and who the client is behind a proxy.

use axum::http::{Request, StatusCode};

use super::{Harness, browse};
use crate::store::testing::{Backend, on_both_backends};

on_both_backends!(
    async
    too_many_bad_links_from_one_address_is_429_for_that_address_only,
    forwarded_for_counts_only_behind_a_trusted_proxy,
    old_links_from_one_address_earn_no_429_only_guesses_do,
);

const BAD: &str = "/reset-password?token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

fn via(uri: &str, forwarded: &str) -> Request<axum::body::Body> {
    let mut request = browse(uri);
    request
        .headers_mut()
        .insert("x-forwarded-for", forwarded.parse().expect("value"));
    request
}

async fn too_many_bad_links_from_one_address_is_429_for_that_address_only(backend: Backend) {
    let h = Harness::new(backend);
    let alice = h.user("alice");
    let link = h.link(&alice);
    for _ in 0..5 {
        assert_eq!(h.send(browse(BAD)).await.status(), StatusCode::GONE);
    }
    let blocked = h.send(browse(BAD)).await;
    assert_eq!(blocked.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(super::page_of(&super::text(blocked).await), "too-many");
    let other = h.send_from("192.0.2.2:1", browse(BAD)).await;
    assert_eq!(other.status(), StatusCode::GONE);
    // A live link still opens from the blocked address (`link.rs` tests that rule).
    let good = format!("/reset-password?token={}", link.token);
    assert_eq!(h.send(browse(&good)).await.status(), StatusCode::SEE_OTHER);
}

async fn forwarded_for_counts_only_behind_a_trusted_proxy(backend: Backend) {
    let h = Harness::new(backend);
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

async fn old_links_from_one_address_earn_no_429_only_guesses_do(backend: Backend) {
    let h = Harness::new(backend);
    let alice = h.user("alice");
    let revoked = h.link(&alice);
    let now = *h.now.lock().expect("clock");
    h.on_store(|store| {
        crate::tokens::revoke_user(store, &alice, &super::actor(), now).expect("revoke")
    });
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
        h.send(browse(BAD)).await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "unknown tokens still count"
    );
}
