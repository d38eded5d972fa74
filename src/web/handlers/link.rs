//! Arriving with a token (`GET|HEAD P?token=T`, and the cancel link's `P/cancel?token=T`): the
//! open is counted, the token is checked without being used, and it leaves the URL at once, as
//! a session cookie and a 303 to the bare path (WEB-1, WEB-2). Unknown, used, revoked and
//! expired tokens get the one "gone" page (410); only unknown ones (guesses) count as a failure
//! for the client address, so people behind one NAT clicking old links earn no 429. A client
//! over its limit (WEB-5) still opens a live link: the token is checked first, and only a
//! dead or unknown one gets the 429, so nobody's guesses lock a real link out.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;

use super::with_store;
use crate::tokens::{self, OpenKind, TokenError, Verified};
use crate::web::guard::{Client, navigating};
use crate::web::page_error::PageError;
use crate::web::pages::see_other;
use crate::web::{Web, session};

/// `GET|HEAD P`: with a token, arrive; without, the form or the code form.
pub async fn open(
    State(web): State<Arc<Web>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    client: Client,
) -> Result<Response, PageError> {
    match token_param(&uri) {
        Some(token) => arrive(&web, &method, &headers, client, token, Arrival::Form).await,
        None => super::form::show(&web, &headers).await,
    }
}

/// Which page the arrival leads to.
#[derive(Debug, Clone, Copy)]
pub enum Arrival {
    /// The password form (`P`), under the session cookie.
    Form,
    /// The "this wasn't me" page (`P/cancel`), under the cancel cookie.
    Cancel,
}

/// The `token` parameter of the query, if any.
pub fn token_param(uri: &Uri) -> Option<String> {
    url::form_urlencoded::parse(uri.query()?.as_bytes())
        .find(|(key, _)| key == "token")
        .map(|(_, value)| value.into_owned())
}

/// Count the open, check the token, and move it into a cookie; a client over its limit gets
/// 429 unless the token is live (WEB-5).
pub async fn arrive(
    web: &Arc<Web>,
    method: &Method,
    headers: &HeaderMap,
    client: Client,
    token: String,
    to: Arrival,
) -> Result<Response, PageError> {
    let blocked = client.blocked(web);
    let kind = if method == Method::HEAD || !navigating(headers) {
        OpenKind::ScannerLike
    } else {
        OpenKind::Browser
    };
    let now = (web.deps.clock)();
    let checked = with_store(web, move |store| {
        let known = tokens::record_open(store, &token, kind, now).map_err(|err| (true, err))?;
        let verified = tokens::verify(store, &token, now).map_err(|err| (known, err))?;
        Ok::<_, (bool, TokenError)>((verified, tokens::digest(&token)))
    })
    .await?;
    let (verified, digest) = checked.map_err(|(known, err)| {
        if !known && matches!(err, TokenError::Invalid | TokenError::Expired) {
            client.fail(web);
        }
        if blocked {
            PageError::TooMany
        } else {
            PageError::from(err)
        }
    })?;
    Ok(into_cookie(web, &verified, &digest, now, to))
}

/// A live token's session cookie (named for `to`), and a 303 to its page.
fn into_cookie(
    web: &Web,
    verified: &Verified,
    digest: &str,
    now: jiff::Timestamp,
    to: Arrival,
) -> Response {
    let (name, path) = match to {
        Arrival::Form => (session::SESSION, web.settings.site.at("")),
        Arrival::Cancel => (session::CANCEL, web.settings.site.at("/cancel")),
    };
    let value = web.session_key.cookie(name, verified.token_id, digest);
    let max_age = verified.expires_at - now.as_second();
    let cookie = session::set(&web.settings.site, name, value.expose(), max_age);
    see_other(&path, &[cookie])
}
