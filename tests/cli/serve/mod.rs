//! `pwreset serve` as a process: the listening line, serving the quick start's link, the
//! access log, stopping on SIGTERM after the request in flight, a bind error, and slow clients
//! dropped. Every wait is bounded.

mod http;

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::support::{TestEnv, assert_fails, code, finish, stderr};
use http::Server;

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
