//! The handlers outside the reset journey: the pages' stylesheet, the health check, and the
//! answers for a path or method the router does not know.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::web::Web;
use crate::web::handlers::with_store;
use crate::web::page_error::PageError;

/// `GET P/style.css`: the pages' one stylesheet.
pub async fn style(State(web): State<Arc<Web>>) -> Response {
    match web.templates.stylesheet() {
        Ok(css) => ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], css).into_response(),
        Err(err) => {
            (web.deps.log)(&format!("error: {err}"));
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// `GET P/healthz`: 200 `ok` when a connection of the pool answers a query on the store's
/// tables; 503 otherwise (the reason goes to the log only). It uses the pool as requests do
/// (DB-4: a dead connection fails the check and is dropped), so it opens no connection of its
/// own and never waits on the migration lock.
pub async fn healthz(State(web): State<Arc<Web>>) -> Response {
    match with_store(&web, |store| store.ping().map_err(|e| e.to_string())).await {
        Ok(Ok(())) => "ok\n".into_response(),
        Ok(Err(err)) => {
            (web.deps.log)(&format!("error: health check: {err}"));
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable\n").into_response()
        }
        Err(err) => {
            let why = match err {
                PageError::Server(why) => why,
                other => format!("{other:?}"),
            };
            (web.deps.log)(&format!("error: health check: {why}"));
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable\n").into_response()
        }
    }
}

/// Any path the router does not know: the not-found page.
pub async fn not_found() -> PageError {
    PageError::NotFound
}

/// A method the path does not take: the not-found page with 405.
pub async fn not_allowed() -> PageError {
    PageError::NotAllowed
}
