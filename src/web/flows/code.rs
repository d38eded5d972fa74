//! The code path: a form asking for a username or email and the code from the mail, for when
//! the link cannot be clicked. A right code opens a session like the link does; a wrong one
//! counts a try (the link dies after `codes::MAX_TRIES`) and a failure for the client address.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use crate::web::Web;
use crate::web::pages::Page;
use crate::web::session;

/// `GET P/code` (and `GET P` without a session): the code form, bound to a `pwreset_form`
/// cookie (set here when missing). 404 when codes are off.
pub async fn show(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    form(&web, &headers, StatusCode::OK, |_| {})
}

/// The code form with `status`, its values set by `fill`.
pub fn form(
    web: &Web,
    headers: &HeaderMap,
    status: StatusCode,
    fill: impl FnOnce(&mut crate::templates::PageVars),
) -> Response {
    if !web.settings.codes {
        return Page::new("not-found", StatusCode::NOT_FOUND).render(web);
    }
    let existing = session::read(headers, session::FORM);
    let value = existing
        .clone()
        .unwrap_or_else(|| session::random_value(&mut (web.deps.rng)()));
    let csrf = web.session_key.csrf(&value);
    let mut page = Page::new("code", status).with(|vars| {
        vars.csrf = csrf;
        fill(vars);
    });
    if existing.is_none() {
        let max_age = i64::try_from(crate::web::client::WINDOW.as_secs()).unwrap_or(900) * 4;
        page = page.cookie(session::set(
            &web.settings.site,
            session::FORM,
            &value,
            max_age,
        ));
    }
    page.render(web)
}
