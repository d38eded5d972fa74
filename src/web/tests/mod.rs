//! Handler tests without a socket: the router driven with `tower::ServiceExt::oneshot`, over a
//! real store on each backend (`store::testing`: a temp SQLite file, a scratch PostgreSQL
//! database), a fixed clock that tests move, and captured log lines and notices.
//!
//! The tests run inside a tokio runtime, where the sync PostgreSQL client must not be used: the
//! harness touches the store only on threads of its own ([`Harness::on_store`]), as `serve`
//! does.
#![expect(
    clippy::disallowed_methods,
    reason = "tests draw real tokens and salts from the OS RNG"
)]

mod basics;
mod cancel;
mod code;
mod done;
mod form;
mod hardening;
mod language;
mod limits;
mod link;
mod probes;
mod units;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, Response};
use jiff::Timestamp;
use tower::ServiceExt as _;

use super::{Branding, Deps, Limits, PageSettings, Peer, Site, Web};
use crate::audit::Actor;
use crate::config::PasswordConfig;
use crate::store::Store;
use crate::store::testing::{Backend, Place, off_runtime};
use crate::store::users::NewUser;
use crate::templates::Templates;
use crate::user::User;

/// The clock's start.
pub const T0: i64 = 1_800_000_000;

/// A server state over a temp store, and what it logged and mailed.
pub struct Harness {
    place: Place,
    /// The state under test.
    pub web: Arc<Web>,
    /// Log lines written.
    pub log: Arc<Mutex<Vec<String>>>,
    /// Usernames a notice was sent to.
    pub notices: Arc<Mutex<Vec<String>>>,
    /// The fixed clock.
    pub now: Arc<Mutex<Timestamp>>,
}

/// Settings for `http://localhost:8080/reset-password`.
pub fn settings() -> PageSettings {
    PageSettings {
        site: Site::new(&"http://localhost:8080/reset-password".parse().expect("url")),
        limits: Limits {
            max_body_bytes: 4096,
            request_timeout: std::time::Duration::from_secs(30),
            header_timeout: std::time::Duration::from_secs(10),
            max_failures_per_client: 5,
            trusted_proxies: vec![crate::config::Cidr::parse("10.0.0.0/8").expect("cidr")],
            access_log: true,
            max_connections: 512,
            store_connections: 8,
        },
        branding: Branding {
            app_name: "Example".into(),
            support_contact: Some("help@example.com".into()),
            logo_url: None,
            login_url: Some("https://example.com/login".into()),
        },
        password: PasswordConfig::default(),
        max_failed_redeems_per_hour: 100,
        codes: true,
    }
}

/// The audit actor in tests.
pub fn actor() -> Actor {
    Actor {
        os_user: "root".into(),
        actor: Some("serve".into()),
        reason: None,
        key: crate::keys::AuditKey::for_tests(),
    }
}

impl Harness {
    /// A harness with [`settings`] over a store on `backend`.
    pub fn new(backend: Backend) -> Harness {
        Harness::with(backend, settings())
    }

    /// A harness with these settings.
    pub fn with(backend: Backend, settings: PageSettings) -> Harness {
        Harness::with_deps(backend, settings, |_| {})
    }

    /// A harness with these settings and its dependencies changed by `tweak`.
    pub fn with_deps(
        backend: Backend,
        settings: PageSettings,
        tweak: impl FnOnce(&mut Deps),
    ) -> Harness {
        let place = off_runtime(|| Place::new(backend, 5000).0);
        let log = Arc::new(Mutex::new(Vec::new()));
        let notices = Arc::new(Mutex::new(Vec::new()));
        let now = Arc::new(Mutex::new(Timestamp::from_second(T0).expect("time")));
        let mut deps = Deps {
            open_store: {
                let open = place.opener(5000);
                Arc::new(move || Ok(open()?))
            },
            clock: {
                let now = now.clone();
                Arc::new(move || *now.lock().expect("clock"))
            },
            rng: rand::rng,
            notify: {
                let notices = notices.clone();
                Arc::new(move |user: &User| {
                    notices.lock().expect("notices").push(user.username.clone());
                })
            },
            log: {
                let log = log.clone();
                Arc::new(move |line: &str| log.lock().expect("log").push(line.to_string()))
            },
        };
        tweak(&mut deps);
        let web = Web::new(settings, [9; 32], Templates::new(None), actor(), deps);
        Harness {
            place,
            web: Arc::new(web),
            log,
            notices,
            now,
        }
    }

    /// Run `f` with a new connection to the store, keyed, on a thread of its own (outside the
    /// test's runtime).
    pub fn on_store<R: Send>(&self, f: impl FnOnce(&mut Store) -> R + Send) -> R {
        let open = self.web.deps.open_store.clone();
        off_runtime(move || f(&mut open().expect("open")))
    }

    /// Add an active user with an email.
    pub fn user(&self, name: &str) -> User {
        self.user_in(name, None)
    }

    /// Add an active user with an email who reads `locale` (none: the default).
    pub fn user_in(&self, name: &str, locale: Option<&str>) -> User {
        let new = NewUser {
            username: name.into(),
            email: Some(format!("{name}@example.com")),
            display_name: None,
            active: true,
            locale: locale.map(str::to_string),
        };
        let now = *self.now.lock().expect("clock");
        self.on_store(|store| crate::users::add(store, &new, &actor(), now).expect("user"))
    }

    /// Send a request from `peer` through the whole router.
    pub async fn send_from(&self, peer: &str, mut request: Request<Body>) -> Response<Body> {
        let peer: SocketAddr = peer.parse().expect("peer");
        request.extensions_mut().insert(Peer(peer));
        super::router(self.web.clone())
            .oneshot(request)
            .await
            .expect("infallible")
    }

    /// Send a request from 192.0.2.1.
    pub async fn send(&self, request: Request<Body>) -> Response<Body> {
        self.send_from("192.0.2.1:5000", request).await
    }

    /// Log lines so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.log.lock().expect("log").clone()
    }

    /// Make the store disappear (the file removed, the database dropped).
    pub fn destroy_store(&self) {
        self.place.destroy();
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        // The connections the server kept between requests: a PostgreSQL one must not be
        // closed inside the test's runtime (its client would start a runtime in a runtime).
        let idle: Vec<Store> = self.web.stores.drain();
        off_runtime(move || drop(idle));
    }
}

/// A GET of `uri` with browser navigation headers.
pub fn browse(uri: &str) -> Request<Body> {
    Request::get(uri)
        .header("sec-fetch-mode", "navigate")
        .header("accept", "text/html")
        .body(Body::empty())
        .expect("request")
}

/// A GET of `uri` carrying cookie `cookie` (`name=value`).
pub fn get_with(uri: &str, cookie: &str) -> Request<Body> {
    Request::get(uri)
        .header("cookie", cookie)
        .body(Body::empty())
        .expect("request")
}

/// The body as text.
pub async fn text(response: Response<Body>) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}

/// The `data-page` of an HTML body.
pub fn page_of(html: &str) -> &str {
    let start = html.find("data-page=\"").expect("a data-page") + "data-page=\"".len();
    &html[start..start + html[start..].find('"').expect("closing quote")]
}

/// Assert the WEB-4 headers.
pub fn assert_secure_headers(response: &Response<Body>) {
    let headers = response.headers();
    let get = |name: &str| {
        headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} on a {} response", response.status()))
            .to_str()
            .expect("ascii")
            .to_string()
    };
    assert_eq!(get("cache-control"), "no-store");
    assert_eq!(get("referrer-policy"), "no-referrer");
    assert_eq!(get("x-content-type-options"), "nosniff");
    let csp = get("content-security-policy");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
}

/// A live link for `user`: its token and its code.
pub struct Link {
    /// The token.
    pub token: String,
    /// The one-time code.
    pub code: String,
}

impl Harness {
    /// Issue `user` a live link (1 hour) with a code, as a delivered mail would.
    pub fn link(&self, user: &User) -> Link {
        let now = *self.now.lock().expect("clock");
        self.on_store(|store| {
            let key = crate::keys::CodeKey::for_tests();
            let request = crate::tokens::IssueRequest {
                ttl_secs: 3600,
                recipient: "x@example.com",
                actor: "root",
                code_key: Some(&key),
            };
            let pending = crate::tokens::issue_pending(store, user, request, now, &mut rand::rng())
                .expect("issue");
            assert!(crate::store::tokens::activate(store.conn(), pending.id).expect("activate"));
            Link {
                token: pending.token.expose().to_string(),
                code: pending.code.expect("a code").expose().to_string(),
            }
        })
    }

    /// The state of the token's row at the clock's time.
    pub fn state(&self, token: &str) -> &'static str {
        let now = self.now.lock().expect("clock").as_second();
        self.on_store(|store| {
            let row = crate::store::tokens::by_digest(store.conn(), &crate::tokens::digest(token))
                .expect("query")
                .expect("row");
            row.state(now)
        })
    }

    /// Move the clock forward.
    pub fn advance(&self, secs: i64) {
        let mut now = self.now.lock().expect("clock");
        *now = Timestamp::from_second(now.as_second() + secs).expect("time");
    }

    /// A single integer from SQL.
    pub fn count(&self, sql: &str) -> i64 {
        self.on_store(|store| {
            store
                .conn()
                .query_one(sql, &crate::vals![], |r| r.get(0))
                .expect("count")
        })
    }

    /// Open the link in a browser: the session cookie's value from the 303.
    pub async fn session(&self, link: &Link) -> String {
        let response = self
            .send(browse(&format!("/reset-password?token={}", link.token)))
            .await;
        assert_eq!(response.status(), 303);
        cookie(&response, "pwreset_session").expect("a session cookie")
    }

    /// Usernames a notice went to.
    pub fn noticed(&self) -> Vec<String> {
        self.notices.lock().expect("notices").clone()
    }

    /// Usernames a notice went to, once there are `n` (notices are detached from their
    /// requests); waits at most 30 s.
    pub async fn noticed_once(&self, n: usize) -> Vec<String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while self.noticed().len() < n && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        self.noticed()
    }
}

/// The value cookie `name` is set to by a response.
pub fn cookie(response: &Response<Body>, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|line| line.strip_prefix(&format!("{name}=")))
        .map(|rest| rest[..rest.find(';').unwrap_or(rest.len())].to_string())
}

/// The whole `Set-Cookie` line for cookie `name`.
pub fn set_cookie_line(response: &Response<Body>, name: &str) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|line| line.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie set"))
        .to_string()
}

/// A form POST to `uri` with cookie `cookie` (`name=value`), the fields, and `headers`;
/// `Sec-Fetch-Site: same-origin` unless `headers` name it.
pub fn post(
    uri: &str,
    cookie: &str,
    fields: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Request<Body> {
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let mut request = Request::post(uri)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", cookie);
    if !headers.iter().any(|(name, _)| *name == "sec-fetch-site") {
        request = request.header("sec-fetch-site", "same-origin");
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(Body::from(body)).expect("request")
}

/// The value of the hidden `csrf` field in a page.
pub fn csrf_in(html: &str) -> String {
    let at =
        html.find("name=\"csrf\" value=\"").expect("a csrf field") + "name=\"csrf\" value=\"".len();
    html[at..at + 64].to_string()
}
