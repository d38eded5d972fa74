//! `pwreset serve` as a process: the listening line, serving the quick start's link, the
//! access log, stopping on SIGTERM after the request in flight, a bind error, and slow clients
//! dropped. Every wait is bounded.

pub(crate) mod http;
mod cancel_link;
mod notices;
mod proxy;
mod units;

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::support::{TestEnv, assert_fails, code, finish, stderr, text_part};
use http::{Reply, Server, form};

#[test]
fn serve_prints_the_listening_line_and_stops_on_sigterm() {
    let env = TestEnv::with_samples();
    let mut server = Server::start(&env, &[]);
    assert!(server.url.ends_with("/reset-password"), "{}", server.url);
    let reply = server
        .request("GET /reset-password/healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.ends_with("ok\n"), "{reply}");
    let out = server.stop(Signal::SIGTERM);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.matches("listening on http://").count(), 1, "{err}");
    assert!(err.contains("GET /reset-password/healthz 200 "), "{err}");
}

#[test]
fn serve_stops_on_sigint_too() {
    let env = TestEnv::with_samples();
    let server = Server::start(&env, &[]);
    let out = server.stop(Signal::SIGINT);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn access_log_never_holds_the_query_string() {
    let env = TestEnv::with_samples();
    let mut server = Server::start(&env, &[]);
    let secret = "c2VjcmV0LXRva2VuLXRoYXQtbXVzdC1uZXZlci1sZWFr";
    let reply = server.request(&format!(
        "GET /reset-password?token={secret} HTTP/1.1\r\nHost: x\r\nCookie: pwreset_session=1.{secret}\r\nConnection: close\r\n\r\n"
    ));
    assert!(reply.starts_with("HTTP/1.1 "), "{reply}");
    let out = server.stop(Signal::SIGTERM);
    let err = stderr(&out);
    assert!(err.contains("GET /reset-password "), "{err}");
    assert!(!err.contains(secret), "the token reached the log:\n{err}");
    assert!(!err.contains("token="), "{err}");
}

#[test]
fn a_taken_address_is_exit_8_with_a_hint() {
    let env = TestEnv::with_samples();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let out = finish(env.spawn(&["serve", "--bind", &addr]));
    assert_fails(&out, 8, &format!("error: cannot listen on {addr}"));
    assert!(stderr(&out).contains("hint: "), "{}", stderr(&out));
}

#[test]
fn serve_without_a_base_url_is_exit_8() {
    let env = TestEnv::with_samples();
    let config = std::fs::read_to_string(env.path("pwreset.toml")).expect("config");
    let without: Vec<&str> = config
        .lines()
        .filter(|line| !line.trim_start().starts_with("base_url"))
        .collect();
    env.write("pwreset.toml", &without.join("\n"));
    let out = finish(env.spawn(&["serve", "--bind", "127.0.0.1:0"]));
    assert_fails(&out, 8, "links.base_url is not set");
}

#[test]
fn a_bad_serve_key_is_exit_8() {
    let env = TestEnv::with_samples();
    http::append_config(&env, "\n[serve]\nbind = \"nowhere\"\n");
    let out = finish(env.spawn(&["serve"]));
    assert_fails(&out, 8, "serve.bind");
}

#[test]
fn a_client_that_never_finishes_its_headers_is_dropped() {
    let env = TestEnv::with_samples();
    http::append_config(&env, "\n[serve]\nheader_timeout = \"1s\"\n");
    let mut server = Server::start(&env, &[]);
    let mut slow = server.connect();
    std::io::Write::write_all(&mut slow, b"GET /reset-password HTTP/1.1\r\nHost: x\r\n")
        .expect("send part of the headers");
    // Bounded: the read gives up after the deadline, which fails the test.
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut buf = Vec::new();
    let read = std::io::Read::read_to_end(&mut slow, &mut buf);
    match read {
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(err) => panic!("the server did not close the connection: {err}"),
    }
    let reply = server
        .request("GET /reset-password/healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(
        reply.starts_with("HTTP/1.1 200"),
        "still serving others: {reply}"
    );
    let out = server.stop(Signal::SIGTERM);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

pub(crate) const NEW_PASSWORD: &str = "violet-harbour-tractor-41";

/// Open alice's link from the outbox: the session cookie and the form's CSRF value.
pub(crate) fn open_link(env: &TestEnv, server: &mut Server) -> (String, String) {
    let token = env.link_for("alice");
    let arrived = server.get(&format!("/reset-password?token={token}"), "");
    assert_eq!(arrived.status, 303, "{}", arrived.body);
    assert_eq!(arrived.header("location"), Some("/reset-password"));
    let session = arrived.cookie("pwreset_session");
    let page = server.get("/reset-password", &session);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("data-page=\"form\""), "{}", page.body);
    (session, page.csrf())
}

/// The raw request that POSTs [`NEW_PASSWORD`] twice through the form of `session`.
pub(crate) fn new_password_post(session: &str, csrf: &str) -> String {
    let body = form(&[
        ("password", NEW_PASSWORD),
        ("confirm", NEW_PASSWORD),
        ("csrf", csrf),
    ]);
    format!(
        "{}{body}",
        Server::post_head("/reset-password", session, &body, false)
    )
}

/// POST [`NEW_PASSWORD`] twice through the form of `session`: a 303 to the done page.
pub(crate) fn set_new_password(server: &mut Server, session: &str, csrf: &str) {
    let raw = new_password_post(session, csrf);
    let reply = Reply::parse(&server.request(&raw));
    assert_eq!(reply.status, 303, "{}", reply.body);
    assert_eq!(reply.header("location"), Some("/reset-password/done"));
}

#[test]
fn serve_takes_the_quick_start_link_to_a_new_password_and_a_notice() {
    let env = TestEnv::with_samples();
    let mut server = Server::start(&env, &[]);
    let (session, csrf) = open_link(&env, &mut server);
    let mails = env.outbox().len();
    set_new_password(&mut server, &session, &csrf);
    let done = server.get("/reset-password/done", "");
    assert!(done.body.contains("data-page=\"done\""));
    let out = server.stop(Signal::SIGTERM);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        env.count("SELECT count(*) FROM reset_tokens WHERE used_at IS NOT NULL"),
        1
    );
    let outbox = env.outbox();
    assert_eq!(outbox.len(), mails + 1, "the notice");
    let notice = text_part(outbox.last().expect("a mail"));
    assert!(!notice.contains(NEW_PASSWORD));
    let err = stderr(&out);
    assert!(err.contains("POST /reset-password 303 "), "{err}");
    assert!(!err.contains(NEW_PASSWORD) && !err.contains(&csrf), "{err}");
}

#[test]
fn sigterm_finishes_the_request_in_flight_then_exits_0() {
    let env = TestEnv::with_samples();
    let mut server = Server::start(&env, &[]);
    let (session, csrf) = open_link(&env, &mut server);
    let body = form(&[
        ("password", NEW_PASSWORD),
        ("confirm", NEW_PASSWORD),
        ("csrf", &csrf),
    ]);
    let mut stream = server.connect();
    let head = Server::post_head("/reset-password", &session, &body, true);
    std::io::Write::write_all(&mut stream, head.as_bytes()).expect("send the head");
    // The server asks for the body once a handler reads it: the request is in flight.
    let mut continued = [0_u8; 25];
    std::io::Read::read_exact(&mut stream, &mut continued).expect("100 Continue");
    assert_eq!(&continued, b"HTTP/1.1 100 Continue\r\n\r\n");
    crate::concurrency::signal(server.child_ref(), Signal::SIGTERM);
    std::io::Write::write_all(&mut stream, body.as_bytes()).expect("send the body");
    let reply = Reply::parse(&http::read_all(&mut stream));
    assert_eq!(
        reply.status, 303,
        "the request in flight was finished: {}",
        reply.body
    );
    let out = server.stop_signalled();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        env.count("SELECT count(*) FROM reset_tokens WHERE used_at IS NOT NULL"),
        1
    );
}

/// Read one `200 ok` health reply from a kept-alive connection (bounded by its read timeout).
fn read_health(stream: &mut std::net::TcpStream) {
    let mut reply = Vec::new();
    let mut chunk = [0_u8; 1024];
    while !reply.ends_with(b"\r\n\r\nok\n") {
        let n = std::io::Read::read(stream, &mut chunk).expect("a reply within the deadline");
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&reply));
        reply.extend_from_slice(&chunk[..n]);
    }
    assert!(reply.starts_with(b"HTTP/1.1 200"));
}

#[test]
fn connections_past_max_connections_wait_for_one_to_close() {
    let env = TestEnv::with_samples();
    http::append_config(&env, "\n[serve]\nmax_connections = 1\n");
    let server = Server::start(&env, &[]);
    let health = b"GET /reset-password/healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut first = server.connect();
    std::io::Write::write_all(&mut first, health).expect("send");
    read_health(&mut first);
    let mut second = server.connect();
    std::io::Write::write_all(
        &mut second,
        b"GET /reset-password/done HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .expect("send");
    // The first connection holds the only permit: its second request is served first.
    std::io::Write::write_all(&mut first, health).expect("send again");
    read_health(&mut first);
    drop(first);
    let reply = http::read_all(&mut second);
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    let out = server.stop(Signal::SIGTERM);
    let err = stderr(&out);
    let second_health = err.rfind("GET /reset-password/healthz").expect("logged");
    let done = err.find("GET /reset-password/done").expect("logged");
    assert!(
        done > second_health,
        "served only after the first closed:\n{err}"
    );
}
