//! The password form: shown under a live session, posted with the new password twice. The POST
//! is the only thing that uses a token (WEB-1): the same policy, throttle, atomic use, revoking
//! and audit row as `tokens redeem`, argon2 on a blocking thread under a per-core permit (WEB-8),
//! then a 303 to the done page while the "password changed" notice goes out detached (the
//! request never waits for the mail server). Once the session is checked, the permit, the
//! redemption and the notice run as one unit that the connection cannot cut (WEB-9): a client
//! that goes away, or the request timeout, never leaves a change without its notice.

use std::sync::Arc;

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::{SessionError, session_of, with_store};
use crate::password::{MAX_LENGTH, MIN_LENGTH, PolicyError};
use crate::secret::Secret;
use crate::templates::PageProblem;
use crate::tokens::{self, RedeemPolicy, TokenError, Verified};
use crate::user::User;
use crate::web::guard::check_post;
use crate::web::page_error::PageError;
use crate::web::pages::{Page, see_other};
use crate::web::{Web, session};

/// The page's name for a refused password.
fn problem_of(err: &PolicyError) -> PageProblem {
    match err {
        PolicyError::TooShort => PageProblem::TooShort,
        PolicyError::TooLong => PageProblem::TooLong,
        PolicyError::Common => PageProblem::Common,
        PolicyError::SameAsIdentity => PageProblem::SameAsIdentity,
    }
}

/// `GET P` without a token: the form under a live session; else the code form (or the gone
/// page when codes are off).
pub async fn show(web: &Arc<Web>, headers: &HeaderMap) -> Result<Response, PageError> {
    let Some(value) = session::read(headers, session::SESSION) else {
        return no_session(web, headers);
    };
    match session_of(web, session::SESSION, value.expose()).await {
        Ok(verified) => Ok(form_page(
            web,
            &verified,
            value.expose(),
            StatusCode::OK,
            None,
        )),
        Err(SessionError::Token(_)) => no_session(web, headers),
        Err(SessionError::Page(err)) => Err(err),
    }
}

fn no_session(web: &Web, headers: &HeaderMap) -> Result<Response, PageError> {
    if web.settings.codes {
        super::code::page(web, headers, StatusCode::OK, |_| {})
    } else {
        Err(PageError::GONE)
    }
}

/// The form for `verified`'s user, bound to session cookie `value`, with an error if any.
fn form_page(
    web: &Web,
    verified: &Verified,
    value: &str,
    status: StatusCode,
    problem: Option<PageProblem>,
) -> Response {
    let csrf = web.session_key.csrf(session::SESSION, value);
    Page::new("form", status)
        .with(|vars| {
            vars.username = Some(verified.user.username.clone());
            vars.csrf = csrf;
            vars.min_length = MIN_LENGTH;
            vars.max_length = MAX_LENGTH;
            vars.problem = problem;
        })
        .reader(&verified.user)
        .render(web)
}

/// The fields of the form.
#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    #[serde(default = "super::no_secret", deserialize_with = "super::secret_field")]
    password: Secret,
    #[serde(default = "super::no_secret", deserialize_with = "super::secret_field")]
    confirm: Secret,
    #[serde(default)]
    csrf: String,
}

/// `POST P`: set the password.
pub async fn submit(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> Result<Response, PageError> {
    let value = check_post(&web, &headers, session::SESSION, &form.csrf)?;
    let verified = session_of(&web, session::SESSION, value.expose()).await?;
    let (password, confirm) = (form.password, form.confirm);
    if password.expose() != confirm.expose() {
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        let problem = Some(PageProblem::Mismatch);
        return Ok(form_page(&web, &verified, value.expose(), status, problem));
    }
    let unit = change(web.clone(), verified.token_id, password);
    match web.units.run(unit).await?? {
        Redeemed::Changed => {
            let clear = session::clear(&web.settings.site, session::SESSION);
            let done = crate::web::done::cookie(&web);
            Ok(see_other(&web.settings.site.at("/done"), &[clear, done]))
        }
        Redeemed::Refused(problem) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            let problem = Some(problem_of(&problem));
            Ok(form_page(&web, &verified, value.expose(), status, problem))
        }
    }
}

/// WEB-9: the unit a POST hands over once its session is checked: the hashing permit, the
/// redemption and, when the password was set, the notice (PW-6), started by the redemption's
/// own thread right after the commit. It runs to the end whatever
/// happens to the request.
async fn change(web: Arc<Web>, token_id: i64, password: Secret) -> Result<Redeemed, PageError> {
    Ok(match redeem(&web, token_id, password).await? {
        Ok(_) => Redeemed::Changed,
        Err(problem) => Redeemed::Refused(problem),
    })
}

/// What a redemption that did not fail came to.
enum Redeemed {
    /// The password was set (and its notice is on its way).
    Changed,
    /// The policy refused the password; nothing changed.
    Refused(PolicyError),
}

/// Redeem the token under a hashing permit held until the hash and the store write are done
/// (WEB-8), on a blocking thread: the user whose password was set, or the policy's refusal.
/// Too many failed redemptions (TOK-10) are [`PageError::TooMany`].
async fn redeem(
    web: &Arc<Web>,
    token_id: i64,
    password: Secret,
) -> Result<Result<User, PolicyError>, PageError> {
    let Ok(_permit) = web.hashing.acquire().await else {
        return Err(PageError::server(&"the hashing permits were closed"));
    };
    let now = (web.deps.clock)();
    let (settings, actor, rng) = (web.settings.clone(), web.actor.clone(), web.deps.rng);
    let units = web.clone();
    let redeemed = with_store(web, move |store| {
        let _hashing = units.units.hashing();
        let policy = RedeemPolicy {
            password: &settings.password,
            max_failures_per_hour: settings.max_failed_redeems_per_hour,
        };
        let redeemed =
            tokens::redeem_id(store, token_id, &password, policy, &actor, now, &mut rng());
        // The notice starts on the thread that committed the change, so no stop or dropped
        // task can come between the two (WEB-9, PW-6).
        if let Ok(user) = &redeemed {
            notify(&units, user.clone());
        }
        redeemed
    })
    .await?;
    match redeemed {
        Ok(user) => Ok(Ok(user)),
        Err(TokenError::Policy(problem)) => Ok(Err(problem)),
        Err(TokenError::Throttled { .. }) => Err(PageError::TooMany),
        Err(err) => Err(err.into()),
    }
}

/// PW-6: the notice, on a blocking thread (the mailers are synchronous) that the request does
/// not wait for; the notifier bounds its own wait. Counted by `web.units` until it ends, so a
/// stop can tell how many it abandons.
fn notify(web: &Arc<Web>, user: User) {
    let notify = web.deps.notify.clone();
    let sending = web.units.sending();
    drop(tokio::task::spawn_blocking(move || {
        let _sending = sending;
        notify(&user);
    }));
}

/// `GET P/done`: see [`crate::web::done::page`].
pub async fn done(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    crate::web::done::page(&web, &headers)
}
