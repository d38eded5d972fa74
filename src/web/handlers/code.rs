//! The code path: a form asking for a username or email and the code from the mail, for when
//! the link cannot be clicked. A right code opens a session like the link does; a wrong one
//! counts a try (the link dies after `codes::MAX_TRIES`, WEB-6) and a failure for the client
//! address (WEB-5). A login that names nobody, or a user without a live link with a code, gets
//! the same answers in the same order, counted by [`crate::web::tries`] (per user whatever
//! spelling was typed; per typed login for nobody). The check and all the counting run as one
//! unit that the connection cannot cut (WEB-9): closing the connection early skips no count.
//! A client over its failure limit still has its code checked: a right code is never refused
//! for other clients' failures (everyone behind one proxy shares an address); only wrong ones
//! get 429, and the link's own try limit still bounds guessing.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use crate::keys::CodeKey;
use crate::secret::Secret;
use crate::tokens::{self, CodeError, Counted, Verified};
use crate::web::Web;
use crate::web::guard::{Client, check_post};
use crate::web::page_error::PageError;
use crate::web::pages::{Page, see_other};
use crate::web::session;
use crate::web::tries::Key;

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
/// the reason next to the field; the last wrong one revokes the link (410); a wrong one from a
/// client over its limit is 429.
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
    let now = (web.deps.clock)();
    let unit = try_code(web.clone(), client, form.login.clone(), form.code, now);
    match web.units.run(unit).await?? {
        Answer::Opened(verified, digest) => Ok(opened(&web, &verified, &digest, now)),
        Answer::Wrong => page(&web, &headers, StatusCode::UNPROCESSABLE_ENTITY, |vars| {
            vars.login = form.login;
            vars.problem = Some(crate::templates::PageProblem::WrongCode);
        }),
        Answer::Exhausted => Err(EXHAUSTED),
        Answer::TooMany => Err(PageError::TooMany),
    }
}

/// What a code POST came to.
enum Answer {
    /// A right code: its link and the link's digest.
    Opened(Verified, String),
    /// A wrong code.
    Wrong,
    /// Too many wrong codes (for the link, the user or the login).
    Exhausted,
    /// A wrong code from a client over its failure limit (WEB-5).
    TooMany,
}

/// WEB-9: the unit of a code POST: check the code in the store, then count the failure for
/// the client and the try where the store does not count it. A client over its limit is
/// answered [`Answer::TooMany`] for a wrong code only.
async fn try_code(
    web: Arc<Web>,
    client: Client,
    login: String,
    code: Secret,
    now: jiff::Timestamp,
) -> Result<Answer, PageError> {
    let over_limit = client.check(&web).is_err();
    let (actor, typed) = (web.actor.clone(), login.clone());
    let checked = super::with_store(&web, move |store| {
        let key = CodeKey::from_audit(&actor.key);
        let verified = tokens::check_code(store, &key, &typed, code.expose(), &actor, now)?;
        let (_, digest) = tokens::verify_id(store, verified.token_id, now)?;
        Ok::<_, CodeError>((verified, digest))
    })
    .await?;
    let answer = count(&web, client, &login, checked)?;
    Ok(match answer {
        Answer::Wrong | Answer::Exhausted if over_limit => Answer::TooMany,
        answer => answer,
    })
}

/// Count what a checked code came to (WEB-5, WEB-6): a failure for the client, and the try
/// by user or login when the store did not count it against a live link.
fn count(
    web: &Web,
    client: Client,
    login: &str,
    checked: Result<(Verified, String), CodeError>,
) -> Result<Answer, PageError> {
    let now = Instant::now();
    match checked {
        Ok((verified, digest)) => {
            web.code_tries.forget(&Key::User(verified.user.id));
            Ok(Answer::Opened(verified, digest))
        }
        Err(CodeError::Wrong(counted)) => {
            client.fail(web);
            let used_up = match counted {
                // Counted in memory too, though not consulted while the link lives, so that once
                // it expired a user who had a link answers like one who never had.
                Counted::Link(id) => {
                    web.code_tries.wrong(Key::User(id), now);
                    false
                }
                Counted::User(id) => web.code_tries.wrong(Key::User(id), now),
                Counted::Nobody => web.code_tries.wrong(Key::login(login), now),
            };
            Ok(if used_up {
                Answer::Exhausted
            } else {
                Answer::Wrong
            })
        }
        Err(CodeError::Exhausted { user_id }) => {
            client.fail(web);
            web.code_tries.exhaust(Key::User(user_id), now);
            Ok(Answer::Exhausted)
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
