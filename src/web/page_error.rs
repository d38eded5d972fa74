//! Why a request ends on an error page, as a value: handlers return `Result<Response,
//! PageError>` and use `?`. A [`PageError`] becomes a response in two steps, because its page
//! needs the shared state that [`IntoResponse`] does not get: `into_response` leaves a
//! placeholder carrying the error, and the [`render`] middleware (inside the router's
//! `Accept-Language` layer) swaps it for the page, logging a server error first.
//!
//! It decides which page and status each error gets; it knows no flow and no store.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::pages::Page;
use super::{Web, session};
use crate::tokens::TokenError;

/// What went wrong with a request; each variant is one page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageError {
    /// 403: a POST from another site, or with a missing or wrong CSRF value (WEB-3).
    Forbidden,
    /// 429: the client address has used up its failures (WEB-5), or the user their redeem
    /// tries (TOK-10).
    TooMany,
    /// 410: the link is dead (and the session cookie is cleared). Only `expired` is told of
    /// the reasons (TOK-9); `exhausted` says too many wrong codes were typed.
    Gone {
        /// The link expired.
        expired: bool,
        /// Too many wrong codes.
        exhausted: bool,
    },
    /// 404: no such page (or codes are off and the code page was asked for).
    NotFound,
    /// 405: a method the path does not take (shown as the not-found page).
    NotAllowed,
    /// 500, after logging what went wrong (never a secret: domain errors carry none).
    Server(String),
}

impl PageError {
    /// The gone page of a dead link that says nothing of why.
    pub const GONE: PageError = PageError::Gone {
        expired: false,
        exhausted: false,
    };

    /// A server error that logs `what`.
    pub fn server(what: &dyn std::fmt::Display) -> PageError {
        PageError::Server(what.to_string())
    }

    /// The status of its page.
    fn status(&self) -> StatusCode {
        match self {
            PageError::Forbidden => StatusCode::FORBIDDEN,
            PageError::TooMany => StatusCode::TOO_MANY_REQUESTS,
            PageError::Gone { .. } => StatusCode::GONE,
            PageError::NotFound => StatusCode::NOT_FOUND,
            PageError::NotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            PageError::Server(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Its page.
    fn page(self, web: &Web) -> Page {
        let status = self.status();
        match self {
            PageError::Forbidden => Page::new("forbidden", status),
            PageError::TooMany => Page::new("too-many", status),
            PageError::Gone { expired, exhausted } => Page::new("gone", status)
                .with(|vars| {
                    vars.expired = expired;
                    vars.exhausted = exhausted;
                })
                .cookie(session::clear(&web.settings.site, session::SESSION)),
            PageError::NotFound | PageError::NotAllowed => Page::new("not-found", status),
            PageError::Server(what) => {
                (web.deps.log)(&format!("error: {what}"));
                Page::new("error", status)
            }
        }
    }
}

/// A dead token (invalid or expired) is the gone page, telling only "expired"; any other
/// token error is a server error.
impl From<TokenError> for PageError {
    fn from(err: TokenError) -> PageError {
        match err {
            TokenError::Invalid => PageError::GONE,
            TokenError::Expired => PageError::Gone {
                expired: true,
                exhausted: false,
            },
            err => PageError::server(&err),
        }
    }
}

/// The placeholder: the page's status and the error, for [`render`] to replace.
impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let mut response = self.status().into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// Middleware: replace a [`PageError`] placeholder with its rendered page.
pub async fn render(State(web): State<Arc<Web>>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    match response.extensions_mut().remove::<PageError>() {
        Some(err) => err.page(&web).render(&web),
        None => response,
    }
}
