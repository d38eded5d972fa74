//! Arriving with a token (`GET|HEAD P?token=T`), or with the cancel link's value
//! (`P/cancel?cancel=ID.MAC`, see [`crate::tokens::cancel`]): the open is counted, the link is
//! checked without being used, and it leaves the URL at once, as a cookie and a 303 to the bare
//! path (WEB-1, WEB-2). A token opens the form's session or, from a cancel link mailed before
//! cancel values, the cancel page; a cancel value opens only the cancel page. Unknown, used, revoked and
//! expired tokens get the one "gone" page (410); only unknown ones (guesses) count as a failure
//! for the client address, so people behind one NAT clicking old links earn no 429. A client
//! over its limit (WEB-5) still opens a live link: the token is checked first, and only a
//! dead or unknown one gets the 429, so nobody's guesses lock a real link out.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;

use super::with_store;
use crate::secret::Secret;
use crate::store::Store;
use crate::tokens::cancel::{CancelKey, open_cancel};
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
    match query_param(&uri, "token") {
        Some(token) => {
            let carried = Carried::Token(token);
            arrive(&web, &method, &headers, client, carried, Arrival::Form).await
        }
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

/// What a link carries in its query.
pub enum Carried {
    /// A reset token (`token=`).
    Token(String),
    /// A cancel value (`cancel=`).
    Cancel(Secret),
}

/// The parameter `name` of the query, if any.
pub fn query_param(uri: &Uri, name: &str) -> Option<String> {
    url::form_urlencoded::parse(uri.query()?.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// Count the open, check the token, and move it into a cookie; a client over its limit gets
/// 429 unless the token is live (WEB-5).
pub async fn arrive(
    web: &Arc<Web>,
    method: &Method,
    headers: &HeaderMap,
    client: Client,
    carried: Carried,
    to: Arrival,
) -> Result<Response, PageError> {
    let blocked = client.blocked(web);
    let kind = if method == Method::HEAD || !navigating(headers) {
        OpenKind::ScannerLike
    } else {
        OpenKind::Browser
    };
    let now = (web.deps.clock)();
    let key = CancelKey::from_audit(&web.actor.key);
    let checked = with_store(web, move |store| {
        open_link(store, &key, &carried, kind, blocked, now)
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

/// Count the open of the link `carried` names and check it: the live link and its digest, or
/// whether it named a real (dead) link, and why it opens nothing. For a client over its limit
/// (`blocked`) a token is first checked without writing, so its guesses cost the store no write
/// transaction (WEB-5); only a live one goes on to be counted and opened.
fn open_link(
    store: &mut Store,
    key: &CancelKey,
    carried: &Carried,
    kind: OpenKind,
    blocked: bool,
    now: jiff::Timestamp,
) -> Result<(Verified, String), (bool, TokenError)> {
    match carried {
        Carried::Token(token) => {
            if blocked {
                tokens::verify(store, token, now).map_err(|err| (true, err))?;
            }
            let known = tokens::record_open(store, token, kind, now).map_err(|err| (true, err))?;
            let verified = tokens::verify(store, token, now).map_err(|err| (known, err))?;
            Ok((verified, tokens::digest(token)))
        }
        Carried::Cancel(value) => open_cancel(store, key, value.expose(), kind, now)
            .map_err(|refused| (refused.known, refused.error)),
    }
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
