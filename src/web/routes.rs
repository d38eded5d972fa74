//! The router: which path and method go to which handler, the layers every request passes
//! (access log, security headers, request deadline, body limit), and the small handlers that
//! belong to no flow (stylesheet, health check, not found).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use super::pages::{self, Page};
use super::{Web, access_log, flows, headers};

/// The page's routes below the path of `links.base_url`, with every layer.
pub fn router(web: Arc<Web>) -> Router {
    let site = web.settings.site.clone();
    let limits = web.settings.limits.clone();
    Router::new()
        .route(
            &site.at(""),
            get(flows::link::open)
                .head(flows::link::open)
                .post(flows::form::submit),
        )
        .route(&site.at("/done"), get(flows::form::done))
        .route(
            &site.at("/code"),
            get(flows::code::show).post(flows::code::submit),
        )
        .route(
            &site.at("/cancel"),
            get(flows::cancel::open)
                .head(flows::cancel::open)
                .post(flows::cancel::submit),
        )
        .route(&site.at("/style.css"), get(style))
        .route(&site.at("/healthz"), get(healthz))
        .fallback(not_found)
        .method_not_allowed_fallback(not_allowed)
        .layer(axum::middleware::from_fn(pages::accept_language))
        .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(from_fn_with_state(web.clone(), headers::secure))
        .layer(from_fn_with_state(web.clone(), access_log::log))
        .with_state(web)
}

/// The pages' one stylesheet.
async fn style(State(web): State<Arc<Web>>) -> Response {
    match web.templates.stylesheet() {
        Ok(css) => ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], css).into_response(),
        Err(err) => {
            (web.deps.log)(&format!("error: {err}"));
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// 200 `ok` when the store opens; 503 otherwise (the reason goes to the log only).
async fn healthz(State(web): State<Arc<Web>>) -> Response {
    let open = web.deps.open_store.clone();
    match tokio::task::spawn_blocking(move || open().map(drop)).await {
        Ok(Ok(())) => "ok\n".into_response(),
        Ok(Err(err)) => {
            (web.deps.log)(&format!("error: health check: {err}"));
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable\n").into_response()
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable\n").into_response(),
    }
}

async fn not_found(State(web): State<Arc<Web>>) -> Response {
    Page::new("not-found", StatusCode::NOT_FOUND).render(&web)
}

async fn not_allowed(State(web): State<Arc<Web>>) -> Response {
    Page::new("not-found", StatusCode::METHOD_NOT_ALLOWED).render(&web)
}

/// WEB-3: whether a POST was sent from another site. `Sec-Fetch-Site`, when present, must be
/// `same-origin` or `none`; and a non-null `Origin`, when present, must be the site's own
/// (whatever `Sec-Fetch-Site` says). `Origin: null` is not cross-site: a browser sends it on
/// the page's own form under `Referrer-Policy: no-referrer`.
pub fn cross_site(headers: &HeaderMap, origin: &str) -> bool {
    let fetch_site_ok = headers
        .get("sec-fetch-site")
        .is_none_or(|site| matches!(site.to_str(), Ok("same-origin" | "none")));
    let origin_ok = match headers.get(header::ORIGIN).map(|value| value.to_str()) {
        None | Some(Ok("null")) => true,
        Some(Ok(given)) => given == origin,
        Some(Err(_)) => false,
    };
    !(fetch_site_ok && origin_ok)
}

/// Whether a GET looks like a person's browser navigating (rather than a scanner or prefetch).
pub fn navigating(headers: &HeaderMap) -> bool {
    let has = |name: &str, want: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains(want))
    };
    match headers.get("sec-fetch-mode") {
        Some(_) => has("sec-fetch-mode", "navigate"),
        None => has("accept", "text/html"),
    }
}

/// The 403 page: cross-site, or a missing or wrong CSRF value.
pub fn forbidden(web: &Web) -> Response {
    Page::new("forbidden", StatusCode::FORBIDDEN).render(web)
}

/// The 500 page, after logging what went wrong (never a secret: domain errors carry none).
pub fn error(web: &Web, what: &dyn std::fmt::Display) -> Response {
    (web.deps.log)(&format!("error: {what}"));
    Page::new("error", StatusCode::INTERNAL_SERVER_ERROR).render(web)
}

/// The 429 page.
pub fn too_many(web: &Web) -> Response {
    Page::new("too-many", StatusCode::TOO_MANY_REQUESTS).render(web)
}
