//! What holds for every response, and the handlers outside the flows.

use axum::body::Body;
use axum::http::{Request, StatusCode};

use super::{Harness, assert_secure_headers, browse, page_of, settings, text};
use crate::store::testing::{Backend, on_both_backends};
use crate::web::guard::{cross_site, navigating};
use crate::web::headers::csp;

on_both_backends!(
    async
    every_response_carries_the_security_headers,
    pages_follow_the_html_contract,
    the_stylesheet_is_served_as_css,
    healthz_checks_the_store_opens,
    the_code_form_sets_a_form_cookie_bound_to_its_csrf_value,
    codes_off_means_no_code_page,
    the_access_log_has_method_path_status_time_and_client_only,
);

async fn every_response_carries_the_security_headers(backend: Backend) {
    let h = Harness::new(backend);
    let big = "x".repeat(10_000);
    let requests = [
        browse("/reset-password/code"),
        browse("/elsewhere"),
        browse("/reset-password/style.css"),
        browse("/reset-password/healthz"),
        Request::delete("/reset-password/code")
            .body(Body::empty())
            .expect("req"),
        Request::post("/reset-password/code")
            .header("content-length", big.len())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(big))
            .expect("req"),
    ];
    let mut statuses = Vec::new();
    for request in requests {
        let response = h.send(request).await;
        assert_secure_headers(&response);
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [200, 404, 200, 200, 405, 413]);
}

async fn pages_follow_the_html_contract(backend: Backend) {
    let h = Harness::new(backend);
    let response = h.send(browse("/nowhere")).await;
    let html = text(response).await;
    assert_eq!(page_of(&html), "not-found");
    assert_eq!(html.matches("<h1 id=\"title\">").count(), 1);
    assert!(html.contains("<main>"));
    assert!(html.contains("href=\"/reset-password/style.css\""));
    assert!(html.contains("name=\"viewport\""));
    assert!(!html.contains("<script"));
    assert!(!html.contains("style="));
}

async fn the_stylesheet_is_served_as_css(backend: Backend) {
    let h = Harness::new(backend);
    let response = h.send(browse("/reset-password/style.css")).await;
    assert_eq!(
        response.headers()["content-type"],
        "text/css; charset=utf-8"
    );
    assert!(text(response).await.contains("max-width"));
}

async fn healthz_checks_the_store_opens(backend: Backend) {
    let h = Harness::new(backend);
    let response = h.send(browse("/reset-password/healthz")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(text(response).await, "ok\n");
    h.destroy_store();
    let response = h.send(browse("/reset-password/healthz")).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = text(response).await;
    assert!(!body.contains("t.db"), "no detail to the client: {body}");
    // With no idle connection left, the pool must open one, and that failure is logged too.
    let idle = h.web.stores.drain();
    crate::store::testing::off_runtime(move || drop(idle));
    let response = h.send(browse("/reset-password/healthz")).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let logged = h.log_lines();
    let reasons = logged
        .iter()
        .filter(|line| line.starts_with("error: health check: "))
        .count();
    assert_eq!(reasons, 2, "each reason goes to the log: {logged:?}");
}

async fn the_code_form_sets_a_form_cookie_bound_to_its_csrf_value(backend: Backend) {
    let h = Harness::new(backend);
    let response = h.send(browse("/reset-password")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(cookie.starts_with("pwreset_form="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(cookie.contains("Path=/reset-password"), "{cookie}");
    assert!(!cookie.contains("Secure"), "http base_url: no Secure");
    let html = text(response).await;
    assert_eq!(page_of(&html), "code");
    let value = &cookie["pwreset_form=".len()..cookie.find(';').expect("attrs")];
    assert!(html.contains(&format!(
        "value=\"{}\"",
        h.web.session_key.csrf("pwreset_form", value)
    )));
    for id in [
        "id=\"login\"",
        "id=\"code\"",
        "autocomplete=\"one-time-code\"",
        "id=\"submit\"",
    ] {
        assert!(html.contains(id), "{id} missing");
    }
}

async fn codes_off_means_no_code_page(backend: Backend) {
    let mut off = settings();
    off.codes = false;
    let h = Harness::with(backend, off);
    let response = h.send(browse("/reset-password/code")).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

async fn the_access_log_has_method_path_status_time_and_client_only(backend: Backend) {
    let h = Harness::new(backend);
    let request = Request::get("/reset-password/code?token=SECRET-TOKEN&code=K7QF")
        .header("cookie", "pwreset_session=1.SECRETCOOKIE")
        .header("x-forwarded-for", "203.0.113.5")
        .body(Body::empty())
        .expect("req");
    h.send_from("10.0.0.1:4000", request).await;
    let lines = h.log_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert!(line.starts_with("GET /reset-password/code 200 "), "{line}");
    assert!(
        line.ends_with("ms 203.0.113.5"),
        "the proxy's client: {line}"
    );
    for secret in ["SECRET", "token", "K7QF", "code="] {
        assert!(!line.contains(secret), "{secret} in {line}");
    }
}

#[test]
fn cross_site_posts_are_told_by_sec_fetch_site_then_origin() {
    let origin = "http://localhost:8080";
    let with = |pairs: &[(&'static str, &str)]| cross_site(&headers(pairs), origin);
    assert!(!with(&[]));
    assert!(!with(&[("sec-fetch-site", "same-origin")]));
    assert!(!with(&[("sec-fetch-site", "none")]));
    assert!(with(&[("sec-fetch-site", "cross-site")]));
    assert!(with(&[("sec-fetch-site", "same-site")]));
    assert!(!with(&[
        ("sec-fetch-site", "same-origin"),
        ("origin", "null")
    ]));
    assert!(
        !with(&[("origin", "null")]),
        "a browser's own form under no-referrer"
    );
    assert!(!with(&[("origin", origin)]));
    assert!(with(&[("origin", "https://evil.example")]));
}

#[test]
fn a_foreign_origin_is_refused_whatever_sec_fetch_site_says() {
    let origin = "http://localhost:8080";
    let with = |pairs: &[(&'static str, &str)]| cross_site(&headers(pairs), origin);
    for site in ["none", "same-origin"] {
        assert!(
            with(&[("sec-fetch-site", site), ("origin", "https://evil.example")]),
            "{site}"
        );
        assert!(
            !with(&[("sec-fetch-site", site), ("origin", origin)]),
            "{site}"
        );
        assert!(
            !with(&[("sec-fetch-site", site), ("origin", "null")]),
            "{site}"
        );
    }
}

#[test]
fn scanners_are_told_from_browsers_by_navigation_headers() {
    let with = |pairs: &[(&'static str, &str)]| navigating(&headers(pairs));
    assert!(with(&[
        ("sec-fetch-mode", "navigate"),
        ("accept", "text/html")
    ]));
    assert!(!with(&[
        ("sec-fetch-mode", "no-cors"),
        ("accept", "text/html")
    ]));
    assert!(with(&[("accept", "text/html,application/xhtml+xml")]));
    assert!(!with(&[("accept", "*/*")]));
    assert!(!with(&[]));
}

#[test]
fn the_csp_allows_the_logo_origin_only() {
    assert!(!csp(None).contains("https:"));
    let logo = "https://cdn.example.com/a/logo.png".parse().expect("url");
    assert!(csp(Some(&logo)).contains("img-src 'self' https://cdn.example.com;"));
}

fn headers(pairs: &[(&'static str, &str)]) -> axum::http::HeaderMap {
    let mut headers = axum::http::HeaderMap::new();
    for (name, value) in pairs {
        headers.insert(*name, value.parse().expect("value"));
    }
    headers
}
