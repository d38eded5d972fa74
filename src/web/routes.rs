//! The router: which path and method go to which handler, the layers every request passes
//! (access log, security headers, request deadline, body limit), and the small handlers that
//! belong to no flow (stylesheet, health check, not found).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use super::page_error::{self, PageError};
use super::{Web, access_log, flows, headers, pages};

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
        .layer(from_fn_with_state(web.clone(), page_error::render))
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

async fn not_found() -> PageError {
    PageError::NotFound
}

async fn not_allowed() -> PageError {
    PageError::NotAllowed
}
