//! The server loop: its own tokio runtime (the rest of pwreset stays synchronous), HTTP/1.1
//! connections (at most `serve.max_connections` at once; more wait unaccepted) with a
//! header-read timeout so slow clients are dropped, the peer address put on
//! each request, and a graceful stop on SIGTERM or SIGINT that finishes requests in flight
//! (up to `request_timeout` + [`STOP_GRACE`]), then waits up to [`STOP_GRACE`] for what page
//! POSTs started and still runs without its request (WEB-9), then gives blocking work and
//! detached "password changed" notices [`STOP_GRACE`] more and abandons what is left with a log
//! line.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt as _;

use super::{Peer, Web, routes};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address could not be bound (in use, not local, not permitted).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address from `--bind` or `serve.bind`.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The async runtime or the signal handlers could not be set up.
    #[error("cannot start the server: {0}")]
    Runtime(std::io::Error),
}

/// Extra time given to requests in flight at a stop, beyond the request timeout; then again to
/// page POSTs whose requests are gone; and then again to blocking work and notices still
/// going. A stop takes at most `request_timeout` + 3 × `STOP_GRACE`.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// Serve the page on `bind` until SIGTERM or SIGINT. Logs `listening on http://ADDR/P` once it
/// accepts connections.
pub fn serve(web: Web, bind: SocketAddr) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("pwreset-serve")
        .build()
        .map_err(ServeError::Runtime)?;
    let web = Arc::new(web);
    let result = runtime.block_on(run(web.clone(), bind));
    runtime.shutdown_timeout(STOP_GRACE);
    let abandoned = web.units.notices();
    if abandoned > 0 {
        (web.deps.log)(&format!(
            "stopped with {abandoned} \"password changed\" notices still being sent: they may not arrive"
        ));
    }
    result
}

async fn run(web: Arc<Web>, bind: SocketAddr) -> Result<(), ServeError> {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|source| ServeError::Bind { addr: bind, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ServeError::Bind { addr: bind, source })?;
    let stop = stop_signal()?;
    let app = routes::router(web.clone());
    (web.deps.log)(&format!(
        "listening on http://{addr}{}",
        web.settings.site.at("")
    ));
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(web.settings.limits.max_connections));
    tokio::pin!(stop);
    loop {
        // At most `max_connections` at once: the next one is not accepted (it waits in the
        // listen backlog) until a connection closes.
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut stop => break,
        };
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => accept(&web, &app, &graceful, (stream, peer), permit),
                // Out of file descriptors and the like: wait a little rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
            () = &mut stop => break,
        }
    }
    drop(listener);
    let grace = web.settings.limits.request_timeout + STOP_GRACE;
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        (web.deps.log)("stopping with requests still in flight");
    }
    if tokio::time::timeout(STOP_GRACE, web.units.finished())
        .await
        .is_err()
    {
        let left = web.units.running();
        (web.deps.log)(&format!(
            "stopping with {left} password changes or code checks still running"
        ));
    }
    Ok(())
}

/// Serve one connection: HTTP/1.1, headers within `header_timeout`, watched for the stop,
/// holding its connection `permit` until it closes.
fn accept(
    web: &Web,
    app: &Router,
    graceful: &GracefulShutdown,
    (stream, peer): (tokio::net::TcpStream, SocketAddr),
    permit: OwnedSemaphorePermit,
) {
    let service = app
        .clone()
        .map_request(move |mut request: axum::http::Request<Incoming>| {
            request.extensions_mut().insert(Peer(peer));
            request
        });
    let service = hyper_util::service::TowerToHyperService::new(service);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(web.settings.limits.header_timeout);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    let connection = graceful.watch(connection);
    tokio::spawn(async move {
        let _ = connection.await;
        drop(permit);
    });
}

/// Resolves at the first SIGTERM or SIGINT.
fn stop_signal() -> Result<impl std::future::Future<Output = ()>, ServeError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(ServeError::Runtime)?;
    let mut int = signal(SignalKind::interrupt()).map_err(ServeError::Runtime)?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
    })
}
