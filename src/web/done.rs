//! The done page and the cookie that lets it say "your password was changed": set on the 303
//! that follows a change, keyed (a MAC under the session key, so nobody can make one), `HttpOnly`,
//! living [`DONE_SECS`], and cleared by the page that reads it. Without a valid one the page is
//! neutral: it claims nothing about anyone's password. Never logs the cookie's value.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::pages::Page;
use super::{Web, session};

/// The cookie's name.
pub const DONE: &str = "pwreset_done";
/// How long after a change the done page may say so, in seconds.
pub const DONE_SECS: i64 = 300;

/// The `Set-Cookie` value for a change made now: `ISSUED.NONCE.MAC`.
pub fn cookie(web: &Web) -> String {
    let issued = (web.deps.clock)().as_second();
    let stamp = format!("{issued}.{}", session::random_value(&mut (web.deps.rng)()));
    let tag = web.session_key.csrf(DONE, &stamp);
    session::set(
        &web.settings.site,
        DONE,
        &format!("{stamp}.{tag}"),
        DONE_SECS,
    )
}

/// Whether the request carries a done cookie made less than [`DONE_SECS`] ago.
fn changed(web: &Web, headers: &HeaderMap) -> bool {
    let Some(value) = session::read(headers, DONE) else {
        return false;
    };
    let Some((stamp, tag)) = value.expose().rsplit_once('.') else {
        return false;
    };
    let issued = stamp.split('.').next().and_then(|s| s.parse::<i64>().ok());
    let age = issued.map(|issued| (web.deps.clock)().as_second() - issued);
    age.is_some_and(|age| (0..DONE_SECS).contains(&age))
        && web.session_key.csrf_matches(DONE, stamp, tag)
}

/// `GET P/done`: "your password was changed" right after a change in this browser, else a
/// neutral page; the cookie is cleared either way. With the login link when
/// `templates.login_url` is set.
pub fn page(web: &Web, headers: &HeaderMap) -> Response {
    let login_url = web.settings.branding.login_url.clone();
    let changed = changed(web, headers);
    Page::new("done", StatusCode::OK)
        .with(|vars| {
            vars.login_url = login_url;
            vars.changed = changed;
        })
        .cookie(session::clear(&web.settings.site, DONE))
        .render(web)
}
