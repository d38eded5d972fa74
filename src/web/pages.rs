//! Turning a page name and its values into a response: the branding, the site's path and the
//! page's language are filled in here, so handlers set only what their page is about. The
//! language is the user's when the page is about a link (the handler names the reader), else the
//! best match of the request's `Accept-Language` (kept for the request by [`accept_language`]),
//! else `mail.default_locale`. A template that fails to render is logged and answered with a
//! plain 500, never with its message.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Web;
use crate::templates::PageVars;
use crate::user::User;

/// A page to render, with the status and any cookies to set.
#[derive(Debug)]
pub struct Page {
    /// One of [`crate::templates::PAGES`].
    pub name: &'static str,
    /// The HTTP status.
    pub status: StatusCode,
    /// The page's own values (branding and path are added by [`Page::render`]).
    pub vars: PageVars,
    /// `Set-Cookie` values.
    pub cookies: Vec<String>,
    /// The stored language of the user the page is about, if it is about one.
    pub reader: Option<String>,
}

tokio::task_local! {
    /// The `Accept-Language` of the request being answered.
    static ACCEPT_LANGUAGE: Option<String>;
}

/// Middleware: keep the request's `Accept-Language` while it is answered, for the pages
/// rendered on its behalf (error pages included, which no handler passes headers to).
pub async fn accept_language(request: Request, next: Next) -> Response {
    let header = request
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    ACCEPT_LANGUAGE.scope(header, next.run(request)).await
}

impl Page {
    /// Page `name` with `status` and no values of its own.
    pub fn new(name: &'static str, status: StatusCode) -> Page {
        Page {
            name,
            status,
            vars: PageVars::default(),
            cookies: Vec::new(),
            reader: None,
        }
    }

    /// Write the page in the language of `user` (when there are pages in it).
    #[must_use]
    pub fn reader(mut self, user: &User) -> Page {
        self.reader.clone_from(&user.locale);
        self
    }

    /// Set values of the page.
    #[must_use]
    pub fn with(mut self, fill: impl FnOnce(&mut PageVars)) -> Page {
        fill(&mut self.vars);
        self
    }

    /// Add a `Set-Cookie` value.
    #[must_use]
    pub fn cookie(mut self, value: String) -> Page {
        self.cookies.push(value);
        self
    }

    /// Render it into a response.
    pub fn render(mut self, web: &Web) -> Response {
        let branding = &web.settings.branding;
        self.vars.page = self.name.to_string();
        self.vars.path = web.settings.site.at("").trim_end_matches('/').to_string();
        self.vars.app_name.clone_from(&branding.app_name);
        self.vars
            .support_contact
            .clone_from(&branding.support_contact);
        self.vars.logo_url = branding.logo_url.as_ref().map(ToString::to_string);
        self.vars.codes = web.settings.codes;
        let requested = ACCEPT_LANGUAGE.try_with(Clone::clone).ok().flatten();
        let locale = web
            .templates
            .page_locale(self.reader.as_deref(), requested.as_deref());
        let html = match web.templates.render_page(self.name, &locale, &self.vars) {
            Ok(html) => html,
            Err(err) => {
                (web.deps.log)(&format!("error: {err}"));
                return (StatusCode::INTERNAL_SERVER_ERROR, "error\n").into_response();
            }
        };
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response();
        with_cookies(&mut response, &self.cookies);
        response
    }
}

/// Add `Set-Cookie` headers to a response.
pub fn with_cookies(response: &mut Response, cookies: &[String]) {
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
}

/// A 303 to `location`, setting `cookies`.
pub fn see_other(location: &str, cookies: &[String]) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    with_cookies(&mut response, cookies);
    response
}
