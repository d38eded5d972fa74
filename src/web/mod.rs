//! The reset page's HTTP layer (`pwreset serve`): the router, the request handlers, the
//! checks a request passes (cross-site, CSRF, the per-client rate limiter), the error pages,
//! session cookies and CSRF values, security headers, limits, the access log, page rendering,
//! and the server loop with its graceful shutdown.
//!
//! It owns everything HTTP and nothing else: token rules, the password policy, audit rows and
//! mail stay in the domain modules, which it calls on blocking threads. It never reads the
//! environment, the clock or an RNG by itself (the CLI hands in [`Deps`]), never names a flag
//! or an exit code, and never writes a token, code, password or cookie value anywhere.

mod access_log;
mod client;
mod done;
mod guard;
mod handlers;
mod headers;
mod page_error;
mod pages;
mod pool;
mod routes;
mod server;
mod session;
#[cfg(test)]
mod tests;
mod tries;
mod units;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;

use crate::audit::Actor;
use crate::config::{Cidr, PasswordConfig};
use crate::store::Store;
use crate::templates::Templates;
use crate::user::User;

pub use client::RateLimiter;
pub use routes::router;
pub use server::{ServeError, serve};

/// Where the page lives: the path and origin of `links.base_url`.
#[derive(Debug, Clone)]
pub struct Site {
    /// The path of `links.base_url` without a trailing slash (empty for the root).
    pub path: String,
    /// `scheme://host[:port]` of `links.base_url`.
    pub origin: String,
    /// Whether `links.base_url` is https (cookies get `Secure`).
    pub secure: bool,
}

impl Site {
    /// The site of a (checked) `links.base_url`.
    pub fn new(base_url: &url::Url) -> Site {
        Site {
            path: base_url.path().trim_end_matches('/').to_string(),
            origin: base_url.origin().ascii_serialization(),
            secure: base_url.scheme() == "https",
        }
    }

    /// The path of a page below the site, e.g. `at("/done")`; `at("")` is the form's own path.
    pub fn at(&self, sub: &str) -> String {
        let path = format!("{}{sub}", self.path);
        if path.is_empty() { "/".into() } else { path }
    }
}

/// Request limits and logging (`[serve]`).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Longest a request may take once its headers are in.
    pub request_timeout: Duration,
    /// Longest a client may take to send its headers.
    pub header_timeout: Duration,
    /// Failed token or code attempts per client address per 15 minutes.
    pub max_failures_per_client: u32,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<Cidr>,
    /// Whether to write an access-log line per request.
    pub access_log: bool,
    /// Connections served at once; further ones wait unaccepted.
    pub max_connections: usize,
    /// Store connections open at once (`serve.store_connections`).
    pub store_connections: usize,
}

/// What the pages show besides the flow: names and links from the config.
#[derive(Debug, Clone, Default)]
pub struct Branding {
    /// `templates.app_name`.
    pub app_name: String,
    /// `templates.support_contact`.
    pub support_contact: Option<String>,
    /// `serve.logo_url`.
    pub logo_url: Option<url::Url>,
    /// `templates.login_url`.
    pub login_url: Option<String>,
}

/// Why the store could not be opened for a request (shown to nobody; logged as an error).
pub type OpenError = Box<dyn std::error::Error + Send + Sync>;

/// What the server needs from the outside, handed in by the CLI.
#[derive(Clone)]
pub struct Deps {
    /// Open the store, keyed for audit rows, for one blocking task.
    pub open_store: Arc<dyn Fn() -> Result<Store, OpenError> + Send + Sync>,
    /// The current time.
    pub clock: Arc<dyn Fn() -> Timestamp + Send + Sync>,
    /// The OS CSPRNG (TOK-1).
    pub rng: fn() -> rand::rngs::ThreadRng,
    /// Send the "password changed" notice to a user (blocking; failures are its own to report).
    pub notify: Arc<dyn Fn(&User) + Send + Sync>,
    /// Where access-log and error lines go (stderr in the server).
    pub log: Arc<dyn Fn(&str) + Send + Sync>,
}

impl std::fmt::Debug for Deps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Deps")
    }
}

/// The page's settings, resolved from the config once.
#[derive(Debug, Clone)]
pub struct PageSettings {
    /// Where the page lives.
    pub site: Site,
    /// Limits and logging.
    pub limits: Limits,
    /// Names and links on the pages.
    pub branding: Branding,
    /// argon2id parameters.
    pub password: PasswordConfig,
    /// Failed redemptions allowed per user per hour (TOK-10).
    pub max_failed_redeems_per_hour: u32,
    /// Whether codes may be typed instead of opening the link (`links.code`).
    pub codes: bool,
}

/// Everything the handlers share.
#[derive(Debug)]
pub struct Web {
    /// The page's settings.
    pub settings: PageSettings,
    /// The key of session cookies and CSRF values.
    session_key: session::SessionKey,
    /// The pages' templates.
    templates: Templates,
    /// The audit actor of page actions: the OS user, with `actor = "serve"`.
    actor: Actor,
    /// The outside world.
    deps: Deps,
    /// At most one argon2 hash per core at a time, so GETs are never starved (WEB-8).
    hashing: tokio::sync::Semaphore,
    /// Failed attempts per client address (WEB-5).
    limiter: RateLimiter,
    /// Whether the untrusted local proxy was warned about (once per run).
    proxy_warned: std::sync::atomic::AtomicBool,
    /// Wrong codes per typed login, so unknown logins answer like real ones (WEB-6).
    code_tries: tries::CodeTries,
    /// Store connections kept open between requests, checked before reuse (DB-4).
    stores: pool::StorePool,
    /// What POSTs started, finishing whatever the connection does (WEB-9), and the "password
    /// changed" notices being sent, detached from their requests.
    units: units::Units,
}

impl Web {
    /// The shared state, with a hashing permit per core. `session_key` keys cookies and CSRF
    /// values (derived from the audit key, so it survives restarts).
    pub fn new(
        settings: PageSettings,
        session_key: [u8; 32],
        templates: Templates,
        actor: Actor,
        deps: Deps,
    ) -> Web {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let limiter = RateLimiter::new(settings.limits.max_failures_per_client);
        let settings_store_connections = settings.limits.store_connections;
        Web {
            settings,
            session_key: session::SessionKey::new(session_key),
            templates,
            actor,
            deps,
            hashing: tokio::sync::Semaphore::new(cores),
            limiter,
            proxy_warned: std::sync::atomic::AtomicBool::new(false),
            code_tries: tries::CodeTries::default(),
            stores: pool::StorePool::new(settings_store_connections),
            units: units::Units::default(),
        }
    }
}

/// The address a connection came from, put on each request by the server loop.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);
