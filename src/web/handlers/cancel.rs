//! "This wasn't me": the cancel link (`P/cancel?cancel=ID.MAC`, a value of its own that is no
//! reset token) moves into a cookie like the reset link does, then a page with one button;
//! only its POST revokes the link (audited `token.cancel`). A GET alone cancels nothing.
//! Cancel links mailed before cancel values carry the reset token (`P/cancel?token=T`): they
//! still open the cancel page, which grants nothing the token itself does not.

use std::sync::Arc;

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use serde::Deserialize;

use super::link::{Arrival, Carried, arrive, query_param};
use super::{session_of, with_store};
use crate::links::CANCEL_PARAM;
use crate::secret::Secret;
use crate::tokens;
use crate::web::guard::{Client, check_post};
use crate::web::page_error::PageError;
use crate::web::pages::Page;
use crate::web::{Web, session};

/// `GET|HEAD P/cancel`: with a token, arrive; without, the page with the button under a live
/// cancel cookie, else the gone page.
pub async fn open(
    State(web): State<Arc<Web>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    client: Client,
) -> Result<Response, PageError> {
    let carried = match (query_param(&uri, CANCEL_PARAM), query_param(&uri, "token")) {
        (Some(value), _) => Some(Carried::Cancel(Secret::new(value))),
        (None, Some(token)) => Some(Carried::Token(token)),
        (None, None) => None,
    };
    if let Some(carried) = carried {
        return arrive(&web, &method, &headers, client, carried, Arrival::Cancel).await;
    }
    let value = session::read(&headers, session::CANCEL).ok_or(PageError::GONE)?;
    let verified = session_of(&web, session::CANCEL, value.expose()).await?;
    let csrf = web.session_key.csrf(session::CANCEL, value.expose());
    Ok(Page::new("cancel", StatusCode::OK)
        .with(|vars| vars.csrf = csrf)
        .reader(&verified.user)
        .render(&web))
}

/// The one field of the cancel form.
#[derive(Deserialize)]
pub struct CancelForm {
    #[serde(default)]
    csrf: String,
}

/// `POST P/cancel`: revoke the link.
pub async fn submit(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Form(form): Form<CancelForm>,
) -> Result<Response, PageError> {
    let value = check_post(&web, &headers, session::CANCEL, &form.csrf)?;
    let verified = session_of(&web, session::CANCEL, value.expose()).await?;
    let now = (web.deps.clock)();
    let actor = web.actor.clone();
    let user = with_store(&web, move |store| {
        tokens::cancel_id(store, verified.token_id, &actor, now)
    })
    .await??;
    Ok(Page::new("cancelled", StatusCode::OK)
        .cookie(session::clear(&web.settings.site, session::CANCEL))
        .reader(&user)
        .render(&web))
}
