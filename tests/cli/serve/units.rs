//! A page POST finishes as a unit whatever the connection does (WEB-9): the recipe (a
//! request timeout shorter than the hash), a client that closes while its password is hashed,
//! and wrong codes whose requests time out while the store is busy (WEB-5, WEB-6). The access
//! log has a line for each, with the status the request got (408), or 499 when the client went
//! away; and a server killed while hashing leaves the link working for the next one. Every
//! wait is bounded.

use std::io::Write;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::http::{self, Reply, Server, form};
use super::{NEW_PASSWORD, open_link};
use crate::support::{TestEnv, stderr};

/// `[serve]` settings `serve`, and hashes that take seconds in a test build.
fn slow_page(env: &TestEnv, serve: &str) {
    http::append_config(
        env,
        &format!("\n[serve]\n{serve}\n[password]\nargon2_iterations = 200\n"),
    );
}

/// A request timeout shorter than a hash.
const SHORT_TIMEOUT: &str = "request_timeout = \"1s\"\n";

/// Wait (at most 60 s) for `n` mails in the outbox.
fn outbox_reaches(env: &TestEnv, n: usize) {
    let until = Instant::now() + Duration::from_secs(60);
    while env.outbox().len() < n {
        assert!(Instant::now() < until, "the outbox stayed at {}", env.outbox().len());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The body of a POST of [`NEW_PASSWORD`].
fn password_body(csrf: &str) -> String {
    form(&[
        ("password", NEW_PASSWORD),
        ("confirm", NEW_PASSWORD),
        ("csrf", csrf),
    ])
}

/// The raw POST of [`NEW_PASSWORD`] under `session`.
fn password_post(session: &str, csrf: &str) -> String {
    let body = password_body(csrf);
    format!("{}{body}", Server::post_head("/reset-password", session, &body, false))
}

/// The CPU time the server has used, in clock ticks (user + system, from `/proc`).
fn cpu_ticks(server: &Server) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", server.child_ref().id()))
        .expect("the server's /proc stat");
    let fields: Vec<&str> = stat[stat.rfind(')').expect("comm") + 2..].split(' ').collect();
    // After the command: state is field 3, utime 14 and stime 15 (1-based, man 5 proc).
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

/// POST `body` to `target` with `cookie` and return the open connection. The head asks for
/// `100 Continue`, which the server sends once a handler reads the body: the request is then
/// in a handler, not just in the socket.
fn post_and_keep(server: &Server, target: &str, cookie: &str, body: &str) -> std::net::TcpStream {
    let mut stream = server.connect();
    let head = Server::post_head(target, cookie, body, true);
    stream.write_all(head.as_bytes()).expect("send the head");
    let mut continued = [0_u8; 25];
    std::io::Read::read_exact(&mut stream, &mut continued).expect("100 Continue");
    assert_eq!(&continued, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(body.as_bytes()).expect("send the body");
    stream
}

/// POST [`NEW_PASSWORD`] under `session` and return (the connection still open) once the
/// server has spent 0.3 s of CPU on it: the hash is running (it takes seconds).
fn post_while_hashing(server: &Server, session: &str, csrf: &str) -> std::net::TcpStream {
    let cpu = cpu_ticks(server);
    let stream = post_and_keep(server, "/reset-password", session, &password_body(csrf));
    let until = Instant::now() + Duration::from_secs(60);
    while cpu_ticks(server) < cpu + 30 {
        assert!(Instant::now() < until, "the hash never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    stream
}

/// The link used, one `token.redeem ok` row and the notice in the outbox.
fn assert_changed_and_noticed(env: &TestEnv, mails_before: usize) {
    outbox_reaches(env, mails_before + 1);
    let used = "SELECT count(*) FROM reset_tokens WHERE used_at IS NOT NULL";
    assert_eq!(env.count(used), 1);
    let audited = "SELECT count(*) FROM audit_log WHERE action = 'token.redeem' AND outcome = 'ok'";
    assert_eq!(env.count(audited), 1);
}

#[test]
fn a_post_cut_by_the_request_timeout_still_sends_its_notice() {
    let env = TestEnv::with_samples();
    slow_page(&env, SHORT_TIMEOUT);
    let mut server = Server::start(&env, &[]);
    let (session, csrf) = open_link(&env, &mut server);
    let mails = env.outbox().len();
    let reply = Reply::parse(&server.request(&password_post(&session, &csrf)));
    assert_eq!(reply.status, 408, "the hash outlasts the request: {}", reply.body);
    assert_changed_and_noticed(&env, mails);
    let out = server.stop(Signal::SIGTERM);
    let err = stderr(&out);
    assert!(err.contains("POST /reset-password 408 "), "{err}");
    assert!(!err.contains(NEW_PASSWORD), "{err}");
}

#[test]
fn a_post_whose_client_closed_while_hashing_still_sends_its_notice_and_is_logged() {
    let env = TestEnv::with_samples();
    slow_page(&env, "");
    let mut server = Server::start(&env, &[]);
    let (session, csrf) = open_link(&env, &mut server);
    let mails = env.outbox().len();
    let mut stream = post_while_hashing(&server, &session, &csrf);
    assert!(env.outbox().len() == mails, "closed before the change");
    std::io::Write::flush(&mut stream).expect("flush");
    drop(stream);
    assert_changed_and_noticed(&env, mails);
    server.wait_line("POST /reset-password 499 ");
    let out = server.stop(Signal::SIGTERM);
    assert!(!stderr(&out).contains(NEW_PASSWORD));
}

#[test]
fn wrong_codes_cut_by_the_request_timeout_still_count_for_the_client_and_the_link() {
    let env = TestEnv::with_samples();
    slow_page(&env, &format!("{SHORT_TIMEOUT}max_failures_per_client = 3\n"));
    env.link_for("alice");
    let mut server = Server::start(&env, &[]);
    let page = server.get("/reset-password/code", "");
    let cookie = page.cookie("pwreset_form");
    let body = form(&[("login", "alice"), ("code", "AAAA-AAAA"), ("csrf", &page.csrf())]);
    let raw = format!("{}{body}", Server::post_head("/reset-password/code", &cookie, &body, false));
    // The store is busy past the request timeout (not past its busy timeout): each code check
    // waits for the writer lock, and its request gets a 408 meanwhile.
    let mut db = env.db();
    db.while_writer_locked(|| {
        let mut streams: Vec<_> = (0..3).map(|_| server.connect()).collect();
        for stream in &mut streams {
            stream.write_all(raw.as_bytes()).expect("send");
        }
        for stream in &mut streams {
            let reply = Reply::parse(&http::read_all(stream));
            assert_eq!(reply.status, 408, "{}", reply.body);
        }
    });
    let until = Instant::now() + Duration::from_secs(60);
    while db.count("SELECT code_tries FROM reset_tokens") < 3 {
        assert!(Instant::now() < until, "the tries were not counted");
        std::thread::sleep(Duration::from_millis(20));
    }
    let fourth = Reply::parse(&server.request(&raw));
    assert_eq!(fourth.status, 429, "the client's limit held: {}", fourth.body);
    assert_eq!(db.count("SELECT code_tries FROM reset_tokens"), 4, "the link's tries too");
    let out = server.stop(Signal::SIGTERM);
    let err = stderr(&out);
    assert_eq!(err.matches("POST /reset-password/code 408 ").count(), 3, "{err}");
}

#[test]
fn a_server_killed_while_hashing_leaves_the_link_working() {
    let env = TestEnv::with_samples();
    slow_page(&env, "");
    let mut server = Server::start(&env, &[]);
    let (session, csrf) = open_link(&env, &mut server);
    let mails = env.outbox().len();
    let _stream = post_while_hashing(&server, &session, &csrf);
    server.stop(Signal::SIGKILL);
    let used = "SELECT count(*) FROM reset_tokens WHERE used_at IS NOT NULL";
    assert_eq!(env.count(used), 0, "nothing was half done");
    assert_eq!(env.outbox().len(), mails);
    let mut again = Server::start(&env, &[]);
    super::set_new_password(&mut again, &session, &csrf);
    assert_changed_and_noticed(&env, mails);
    let out = again.stop(Signal::SIGTERM);
    assert!(!stderr(&out).contains(NEW_PASSWORD));
}
