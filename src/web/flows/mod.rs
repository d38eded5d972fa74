//! The handlers of the reset flow, one file per part: opening a link (`link`), the password
//! form (`form`), the code path (`code`) and "this wasn't me" (`cancel`). Shared here: running
//! store work on a blocking thread, and the checks every POST passes (cross-site, CSRF).

pub mod code;

use std::sync::Arc;

use axum::http::HeaderMap;
use axum::response::Response;

use super::routes::{cross_site, error};
use super::{Web, session};
use crate::store::Store;

/// Run `work` with a freshly opened store on a blocking thread; a store that does not open, or
/// a task that panicked, is the error page.
pub async fn with_store<T: Send + 'static>(
    web: &Arc<Web>,
    work: impl FnOnce(&mut Store) -> T + Send + 'static,
) -> Result<T, Response> {
    let open = web.deps.open_store.clone();
    let task = tokio::task::spawn_blocking(move || open().map(|mut store| work(&mut store)));
    match task.await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(error(web, &err)),
        Err(err) => Err(error(web, &err)),
    }
}

/// WEB-3 for a POST: the value of cookie `cookie`, or `None` (answer 403) when the POST comes
/// from another site, or its CSRF value is not the one bound to that cookie.
pub fn check_post(web: &Web, headers: &HeaderMap, cookie: &str, csrf: &str) -> Option<String> {
    if cross_site(headers, &web.settings.site.origin) {
        return None;
    }
    let value = session::read(headers, cookie)?;
    web.session_key.csrf_matches(&value, csrf).then_some(value)
}
