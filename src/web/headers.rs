//! The headers every response carries (WEB-4), whatever produced it: handlers, redirects,
//! 404, 405, 408, 413 and 429 alike.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use super::Web;

/// The Content-Security-Policy: no script at all, styles and images only from the site (and
/// the logo's origin), forms only to the site, never framed.
pub fn csp(logo: Option<&url::Url>) -> String {
    let logo = logo
        .map(|url| format!(" {}", url.origin().ascii_serialization()))
        .unwrap_or_default();
    format!(
        "default-src 'none'; style-src 'self'; img-src 'self'{logo}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
}

/// Middleware adding the security headers to every response.
pub async fn secure(State(web): State<Arc<Web>>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let policy = csp(web.settings.branding.logo_url.as_ref());
    let fixed = [
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if let Ok(value) = HeaderValue::from_str(&policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}
