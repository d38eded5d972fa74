//! The request handlers, one file per part of the reset journey: arriving with a token
//! (`link`), the password form (`form`), the code path (`code`) and "this wasn't me"
//! (`cancel`); and those outside it (`site`: stylesheet, health check, not found). Shared here:
//! running store work on a blocking thread, the session a cookie names, and the secret form
//! fields. The checks a request passes are in [`super::guard`], the error pages in
//! [`super::page_error`].

pub mod cancel;
pub mod code;
pub mod form;
pub mod link;
pub mod site;

use std::sync::Arc;

use super::page_error::PageError;
use super::{Web, session};
use crate::secret::Secret;
use crate::store::Store;
use crate::tokens::{self, TokenError, Verified};

/// Run `work` with a store from the pool on a blocking thread, waiting (bounded) for one of the
/// pool's connections first; a store that does not open, or a task that panicked, is a server
/// error. The connection goes back to the pool only if it can serve other work (DB-4: never
/// one left in a transaction or ended by the server).
pub async fn with_store<T: Send + 'static>(
    web: &Arc<Web>,
    work: impl FnOnce(&mut Store) -> T + Send + 'static,
) -> Result<T, PageError> {
    let permit = web
        .stores
        .permit()
        .await
        .map_err(|e| PageError::server(&e))?;
    let shared = Arc::clone(web);
    let task = tokio::task::spawn_blocking(move || {
        let mut store = shared.stores.take(&permit, &shared.deps.open_store)?;
        let value = work(&mut store);
        shared.stores.give_back(store);
        drop(permit);
        Ok::<T, super::OpenError>(value)
    });
    match task.await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(PageError::server(&err)),
        Err(err) => Err(PageError::server(&err)),
    }
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
        .map_err(SessionError::Page)?
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
    Page(PageError),
}

/// The page for it: gone (410) for a dead token, else the error page.
impl From<SessionError> for PageError {
    fn from(err: SessionError) -> PageError {
        match err {
            SessionError::Token(err) => err.into(),
            SessionError::Page(page) => page,
        }
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
