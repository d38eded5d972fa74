//! The access log (WEB-7): one line per request with the method, the path without its query
//! string, the status, the time taken and the client address. Never a query, cookie, form field
//! or header value besides those. A request whose client went away before its answer (the
//! connection closed, so the server dropped it) still gets its line, with status
//! [`CLIENT_CLOSED`] (nginx's 499); what its POST started finishes anyway (WEB-9).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::{Peer, Web, client};

/// The longest path written (a longer one is cut).
const MAX_PATH: usize = 200;

/// The status logged for a request whose client closed the connection before the answer.
pub const CLIENT_CLOSED: u16 = 499;

/// Middleware writing the line once the response is ready, or when the request is dropped.
pub async fn log(State(web): State<Arc<Web>>, request: Request, next: Next) -> Response {
    if !web.settings.limits.access_log {
        return next.run(request).await;
    }
    let peer = request.extensions().get::<Peer>().map(|p| p.0.ip());
    let client = client::address(
        peer,
        request.headers(),
        &web.settings.limits.trusted_proxies,
    );
    let mut line = Line {
        web: web.clone(),
        started: Instant::now(),
        method: request.method().to_string(),
        path: clean(request.uri().path()),
        client: client.map_or_else(|| "-".to_string(), |ip| ip.to_string()),
        status: CLIENT_CLOSED,
    };
    let response = next.run(request).await;
    line.status = response.status().as_u16();
    response
}

/// One request's line, written when dropped: after the answer, or when the server dropped the
/// request (its status then still [`CLIENT_CLOSED`]).
struct Line {
    web: Arc<Web>,
    started: Instant,
    method: String,
    path: String,
    client: String,
    status: u16,
}

impl Drop for Line {
    fn drop(&mut self) {
        (self.web.deps.log)(&format!(
            "{} {} {} {}ms {}",
            self.method,
            self.path,
            self.status,
            self.started.elapsed().as_millis(),
            self.client
        ));
    }
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
