//! The code path: a form asking for a username or email and the code from the mail, for when
//! the link cannot be clicked. A right code opens a session like the link does; a wrong one
//! counts a try (the link dies after `codes::MAX_TRIES`) and a failure for the client address.
//! A login that names nobody (or a user without a live link with a code) gets the same answers
//! in the same order, counted per typed login by [`crate::web::tries`].

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use crate::keys::CodeKey;
use crate::secret::Secret;
use crate::tokens::{self, CodeError, Verified};
use crate::web::Web;
use crate::web::guard::{Client, check_post};
use crate::web::page_error::PageError;
use crate::web::pages::{Page, see_other};
use crate::web::session;

/// `GET P/code` (and `GET P` without a session): the code form, bound to a `pwreset_form`
/// cookie (set here when missing). 404 when codes are off.
pub async fn show(State(web): State<Arc<Web>>, headers: HeaderMap) -> Result<Response, PageError> {
    page(&web, &headers, StatusCode::OK, |_| {})
}

/// The code form with `status`, its values set by `fill`.
pub fn page(
    web: &Web,
    headers: &HeaderMap,
    status: StatusCode,
    fill: impl FnOnce(&mut crate::templates::PageVars),
) -> Result<Response, PageError> {
    if !web.settings.codes {
        return Err(PageError::NotFound);
    }
    let existing = session::read(headers, session::FORM);
    let value = existing
        .clone()
        .unwrap_or_else(|| session::random_value(&mut (web.deps.rng)()).into());
    let csrf = web.session_key.csrf(session::FORM, value.expose());
    let mut page = Page::new("code", status).with(|vars| {
        vars.csrf = csrf;
        fill(vars);
    });
    if existing.is_none() {
        let max_age = i64::try_from(crate::web::client::WINDOW.as_secs()).unwrap_or(900) * 4;
        page = page.cookie(session::set(
            &web.settings.site,
            session::FORM,
            value.expose(),
            max_age,
        ));
    }
    Ok(page.render(web))
}

/// The fields of the code form.
#[derive(Debug, serde::Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    login: String,
    #[serde(default = "super::no_secret", deserialize_with = "super::secret_field")]
    code: Secret,
    #[serde(default)]
    csrf: String,
}

/// `POST P/code`: a right code opens a session and goes to the form; a wrong one is 422 with
/// the reason next to the field; the last wrong one revokes the link (410).
pub async fn submit(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    client: Client,
    axum::Form(form): axum::Form<CodeForm>,
) -> Result<Response, PageError> {
    if !web.settings.codes {
        return Err(PageError::NotFound);
    }
    check_post(&web, &headers, session::FORM, &form.csrf)?;
    client.check(&web)?;
    let now = (web.deps.clock)();
    let (actor, login, code) = (web.actor.clone(), form.login.clone(), form.code);
    let checked = super::with_store(&web, move |store| {
        let key = CodeKey::from_audit(&actor.key);
        let verified = tokens::check_code(store, &key, &login, code.expose(), &actor, now)?;
        let (_, digest) = tokens::verify_id(store, verified.token_id, now)?;
        Ok::<_, CodeError>((verified, digest))
    })
    .await?;
    match checked {
        Ok((verified, digest)) => {
            web.code_tries.forget(&form.login);
            Ok(opened(&web, &verified, &digest, now))
        }
        Err(CodeError::Wrong) => {
            client.fail(&web);
            if web.code_tries.wrong(&form.login, Instant::now()) {
                return Err(EXHAUSTED);
            }
            let login = form.login;
            page(&web, &headers, StatusCode::UNPROCESSABLE_ENTITY, |vars| {
                vars.login = login;
                vars.problem = Some(crate::templates::PageProblem::WrongCode);
            })
        }
        Err(CodeError::Exhausted) => {
            client.fail(&web);
            web.code_tries.wrong(&form.login, Instant::now());
            Err(EXHAUSTED)
        }
        // A link that died between the lookup and now (a concurrent revoke or use) is gone;
        // any other failure is the error page.
        Err(CodeError::Token(err)) => Err(err.into()),
    }
}

/// The gone page after too many wrong codes.
const EXHAUSTED: PageError = PageError::Gone {
    expired: false,
    exhausted: true,
};

/// A right code: the session cookie for its link, and a 303 to the form.
fn opened(web: &Web, verified: &Verified, digest: &str, now: jiff::Timestamp) -> Response {
    let value = web
        .session_key
        .cookie(session::SESSION, verified.token_id, digest);
    let site = &web.settings.site;
    let cookies = [
        session::set(
            site,
            session::SESSION,
            value.expose(),
            verified.expires_at - now.as_second(),
        ),
        session::clear(site, session::FORM),
    ];
    see_other(&site.at(""), &cookies)
}
