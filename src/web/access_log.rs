//! The access log (WEB-7): one line per request with the method, the path without its query
//! string, the status, the time taken and the client address. Never a query, cookie, form field
//! or header value besides those.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::{Peer, Web, client};

/// The longest path written (a longer one is cut).
const MAX_PATH: usize = 200;

/// Middleware writing the line once the response is ready.
pub async fn log(State(web): State<Arc<Web>>, request: Request, next: Next) -> Response {
    if !web.settings.limits.access_log {
        return next.run(request).await;
    }
    let started = Instant::now();
    let method = request.method().clone();
    let path = clean(request.uri().path());
    let peer = request.extensions().get::<Peer>().map(|p| p.0.ip());
    let client = client::address(
        peer,
        request.headers(),
        &web.settings.limits.trusted_proxies,
    );
    let response = next.run(request).await;
    let client = client.map_or_else(|| "-".to_string(), |ip| ip.to_string());
    (web.deps.log)(&format!(
        "{method} {path} {} {}ms {client}",
        response.status().as_u16(),
        started.elapsed().as_millis()
    ));
    response
}

/// The path, cut to [`MAX_PATH`] characters, with anything but visible ASCII escaped.
fn clean(path: &str) -> String {
    path.chars()
        .take(MAX_PATH)
        .flat_map(|c| {
            if c.is_ascii_graphic() {
                vec![c]
            } else {
                c.escape_default().collect()
            }
        })
        .collect()
}
