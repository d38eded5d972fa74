//! The handlers of the reset flow, one file per part: arriving with a token (`link`), the
//! password form (`form`), the code path (`code`) and "this wasn't me" (`cancel`). Shared here:
//! running store work on a blocking thread, the checks every POST passes (cross-site, CSRF),
//! the session a cookie names, and the client address with its failure count.

pub mod cancel;
pub mod code;
pub mod form;
pub mod link;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::Response;

use super::routes::{cross_site, error};
use super::{Peer, Web, client, session};
use crate::secret::Secret;
use crate::store::Store;
use crate::tokens::{self, TokenError, Verified};

/// Run `work` with a freshly opened store on a blocking thread; a store that does not open, or
/// a task that panicked, is the error page.
pub async fn with_store<T: Send + 'static>(
    web: &Arc<Web>,
    work: impl FnOnce(&mut Store) -> T + Send + 'static,
) -> Result<T, Response> {
    let shared = Arc::clone(web);
    let task = tokio::task::spawn_blocking(move || {
        let mut store = shared.stores.take(&shared.deps.open_store)?;
        let value = work(&mut store);
        shared.stores.give_back(store);
        Ok::<T, super::OpenError>(value)
    });
    match task.await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(error(web, &err)),
        Err(err) => Err(error(web, &err)),
    }
}

/// WEB-3 for a POST: the value of cookie `cookie`, or `None` (answer 403) when the POST comes
/// from another site, or its CSRF value is not the one bound to that cookie.
pub fn check_post(web: &Web, headers: &HeaderMap, cookie: &str, csrf: &str) -> Option<Secret> {
    if cross_site(headers, &web.settings.site.origin) {
        return None;
    }
    let value = session::read(headers, cookie)?;
    web.session_key
        .csrf_matches(cookie, value.expose(), csrf)
        .then_some(value)
}

/// A form field that is a secret (a password, a code): held in a [`Secret`] from the moment
/// it is parsed; missing is empty.
pub fn secret_field<'de, D: serde::Deserializer<'de>>(field: D) -> Result<Secret, D::Error> {
    <String as serde::Deserialize>::deserialize(field).map(Secret::new)
}

/// An empty [`Secret`], the value of a missing secret field.
pub fn no_secret() -> Secret {
    Secret::new(String::new())
}

/// The live token that cookie `name` (session or cancel) with `value` names, if its MAC
/// matches the cookie's name and the row's digest.
pub async fn session_of(
    web: &Arc<Web>,
    name: &'static str,
    value: &str,
) -> Result<Verified, SessionError> {
    let id = session::token_id(value).ok_or(SessionError::Token(TokenError::Invalid))?;
    let now = (web.deps.clock)();
    let (verified, digest) = with_store(web, move |store| tokens::verify_id(store, id, now))
        .await
        .map_err(SessionError::Response)?
        .map_err(SessionError::Token)?;
    if !web.session_key.cookie_matches(name, value, id, &digest) {
        return Err(SessionError::Token(TokenError::Invalid));
    }
    Ok(verified)
}

/// Why a session names no live token.
#[derive(Debug)]
pub enum SessionError {
    /// The token is invalid, used, revoked or expired (or another token error).
    Token(TokenError),
    /// The store failed: this is the page to show.
    Response(Response),
}

impl SessionError {
    /// The page for it: gone (410) for a dead token, else the error page.
    pub fn page(self, web: &Web) -> Response {
        match self {
            SessionError::Token(err @ (TokenError::Invalid | TokenError::Expired)) => {
                gone(web, &err)
            }
            SessionError::Token(err) => error(web, &err),
            SessionError::Response(response) => response,
        }
    }
}

/// The gone page for a dead token: "expired" is told, the rest is not.
pub fn gone(web: &Web, err: &TokenError) -> Response {
    link::gone_page(web, matches!(err, TokenError::Expired), false)
}

/// The client's address (see [`client::address`]), for the failure count.
#[derive(Debug, Clone, Copy)]
pub struct Client(Option<IpAddr>);

impl Client {
    /// Whether it has used up its failures.
    pub fn blocked(self, web: &Web) -> bool {
        web.limiter.blocked(self.0, Instant::now())
    }

    /// Count a failure.
    pub fn fail(self, web: &Web) {
        web.limiter.fail(self.0, Instant::now());
    }
}

impl FromRequestParts<Arc<Web>> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        web: &Arc<Web>,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<Peer>().map(|p| p.0.ip());
        Ok(Client(client::address(
            peer,
            &parts.headers,
            &web.settings.limits.trusted_proxies,
        )))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_and_codes_are_secrets_from_the_moment_they_are_parsed() {
        let form: super::form::PasswordForm =
            serde_json::from_str(r#"{"password": "violet-harbour-41", "csrf": "ab"}"#)
                .expect("form");
        let shown = format!("{form:?}");
        assert!(!shown.contains("violet"), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
        let form: super::code::CodeForm =
            serde_json::from_str(r#"{"login": "alice", "code": "K7QF-M2XD"}"#).expect("form");
        let shown = format!("{form:?}");
        assert!(!shown.contains("K7QF"), "{shown}");
        assert!(shown.contains("alice"), "the login is no secret: {shown}");
    }
}
