//! The checks a request passes before a handler acts on it: whether a POST comes from the
//! site itself with the CSRF value of its cookie (WEB-3), whether a GET looks like a person's
//! browser, and the client address with its failure count (WEB-5), warning once per run when a
//! proxy on this host forwards requests without being a trusted proxy. A failed check is a
//! [`PageError`]; what the handler then does is not decided here.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};

use super::page_error::PageError;
use super::{Peer, Web, client, session};
use crate::secret::Secret;

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

/// WEB-3 for a POST: the value of cookie `cookie`; [`PageError::Forbidden`] when the POST
/// comes from another site, or its CSRF value is not the one bound to that cookie.
pub fn check_post(
    web: &Web,
    headers: &HeaderMap,
    cookie: &str,
    csrf: &str,
) -> Result<Secret, PageError> {
    if cross_site(headers, &web.settings.site.origin) {
        return Err(PageError::Forbidden);
    }
    let value = session::read(headers, cookie).ok_or(PageError::Forbidden)?;
    if web.session_key.csrf_matches(cookie, value.expose(), csrf) {
        Ok(value)
    } else {
        Err(PageError::Forbidden)
    }
}

/// The client's address (see [`client::address`]), for the failure count.
#[derive(Debug, Clone, Copy)]
pub struct Client(Option<IpAddr>);

impl Client {
    /// [`PageError::TooMany`] when it has used up its failures.
    pub fn check(self, web: &Web) -> Result<(), PageError> {
        if self.blocked(web) {
            Err(PageError::TooMany)
        } else {
            Ok(())
        }
    }

    /// Whether it has used up its failures (WEB-5).
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
        let trusted = &web.settings.limits.trusted_proxies;
        if client::untrusted_local_proxy(peer, &parts.headers, trusted)
            && !web.proxy_warned.swap(true, Ordering::Relaxed)
        {
            if let Some(peer) = peer {
                (web.deps.log)(&client::proxy_warning(peer));
            }
        }
        Ok(Client(client::address(peer, &parts.headers, trusted)))
    }
}
