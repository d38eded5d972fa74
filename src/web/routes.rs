//! The router: which path and method go to which handler, and the layers every request passes
//! (access log, security headers, request deadline, body limit, the page's language, error
//! pages). It only wires: the handlers are in [`super::handlers`], the checks they make in
//! [`super::guard`], their error pages in [`super::page_error`].

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::routing::get;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use super::handlers::{cancel, code, form, link, site};
use super::{Web, access_log, headers, page_error, pages};

/// The page's routes below the path of `links.base_url`, with every layer.
pub fn router(web: Arc<Web>) -> Router {
    let base = web.settings.site.clone();
    let limits = web.settings.limits.clone();
    Router::new()
        .route(
            &base.at(""),
            get(link::open).head(link::open).post(form::submit),
        )
        .route(&base.at("/done"), get(form::done))
        .route(&base.at("/code"), get(code::show).post(code::submit))
        .route(
            &base.at("/cancel"),
            get(cancel::open).head(cancel::open).post(cancel::submit),
        )
        .route(&base.at("/style.css"), get(site::style))
        .route(&base.at("/healthz"), get(site::healthz))
        .fallback(site::not_found)
        .method_not_allowed_fallback(site::not_allowed)
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
