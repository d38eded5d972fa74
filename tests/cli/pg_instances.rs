//! Two `pwreset serve` processes on one PostgreSQL store, as behind a load balancer: what
//! docs/serve.md says they share through the store holds across both (a link used through one
//! is dead on the other, a link's wrong-code tries add up (WEB-6), the per-account redeem
//! throttle is read from the shared audit log (TOK-10)), and what it says each counts on its own
//! stays its own (a client blocked on one is not on the other (WEB-5); wrong codes for a login
//! naming nobody).

use pwreset::tokens::codes::MAX_TRIES;

use crate::link_code::code_in;
use crate::pg_support::{PgTestDb, pg_env, scalar};
use crate::serve::http::{Reply, Server, append_config, form};
use crate::serve::{NEW_PASSWORD, set_new_password};
use crate::support::{TestEnv, code, stderr, text_part};

/// A test dir on its own PostgreSQL database, with alice, and `config` appended.
fn store_with_alice(db: &PgTestDb, config: &str) -> TestEnv {
    let env = pg_env(db, &db.url());
    env.ok(&["users", "add", "alice@example.com", "--username", "alice"]);
    append_config(&env, config);
    env
}

/// Add `line` to the config's existing `[links]` section.
fn set_in_links(env: &TestEnv, line: &str) {
    let config = std::fs::read_to_string(env.path("pwreset.toml")).expect("config");
    assert!(config.contains("\n[links]\n"), "{config}");
    env.write(
        "pwreset.toml",
        &config.replacen("\n[links]\n", &format!("\n[links]\n{line}\n"), 1),
    );
}

/// Two instances of `serve` on the same config, so the same store (each on a port of its own).
fn two_instances(env: &TestEnv) -> (Server, Server) {
    (Server::start(env, &[]), Server::start(env, &[]))
}

/// Stop an instance and require a clean exit.
fn stop(server: Server) {
    let out = server.stop(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

/// Open the link of `token` on `server`: its session cookie and the form's CSRF value.
fn open_on(server: &mut Server, token: &str) -> (String, String) {
    let arrived = server.get(&format!("/reset-password?token={token}"), "");
    assert_eq!(arrived.status, 303, "{}", arrived.body);
    let session = arrived.cookie("pwreset_session");
    let page = server.get("/reset-password", &session);
    page_is(&page, 200, "form");
    (session, page.csrf())
}

/// `POST P/code` with `login` and `typed` on `server`, under a code form it has just served.
fn try_code(server: &mut Server, login: &str, typed: &str) -> Reply {
    let page = server.get("/reset-password/code", "");
    assert_eq!(page.status, 200, "{}", page.body);
    let cookie = page.cookie("pwreset_form");
    let body = form(&[("login", login), ("code", typed), ("csrf", &page.csrf())]);
    let head = Server::post_head("/reset-password/code", &cookie, &body, false);
    Reply::parse(&server.request(&format!("{head}{body}")))
}

/// POST `password` twice through the form of `session` (opened on any instance).
fn post_password(server: &mut Server, session: &str, csrf: &str, password: &str) -> Reply {
    let body = form(&[
        ("password", password),
        ("confirm", password),
        ("csrf", csrf),
    ]);
    let head = Server::post_head("/reset-password", session, &body, false);
    Reply::parse(&server.request(&format!("{head}{body}")))
}

fn page_is(reply: &Reply, status: u16, page: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    let marker = format!("data-page=\"{page}\"");
    assert!(reply.body.contains(&marker), "not {page}: {}", reply.body);
}

fn live_links(db: &PgTestDb) -> i64 {
    scalar(
        db,
        "SELECT count(*) FROM reset_tokens WHERE used_at IS NULL AND revoked_at IS NULL",
    )
}

#[test]
#[cfg_attr(
    not(pwreset_pg),
    ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
)]
fn a_link_used_through_one_instance_is_dead_on_the_other() {
    let db = PgTestDb::new();
    let env = store_with_alice(&db, "");
    let token = env.link_for("alice");
    let (mut a, mut b) = two_instances(&env);
    let (session_a, csrf_a) = open_on(&mut a, &token);
    let (session_b, csrf_b) = open_on(&mut b, &token);
    assert_eq!(
        scalar(&db, "SELECT opens FROM reset_tokens"),
        2,
        "one open counted by each instance, on the one row"
    );
    set_new_password(&mut a, &session_a, &csrf_a);
    page_is(
        &b.get(&format!("/reset-password?token={token}"), ""),
        410,
        "gone",
    );
    page_is(&b.get("/reset-password", &session_b), 200, "code");
    let late = post_password(&mut b, &session_b, &csrf_b, "another-long-password-77");
    page_is(&late, 410, "gone");
    stop(a);
    stop(b);
    let hash: String = db
        .client()
        .query_one("SELECT password_hash FROM users", &[])
        .expect("alice")
        .get(0);
    assert!(
        pwreset::password::verify(NEW_PASSWORD, &hash),
        "A's password stands"
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT count(*) FROM audit_log WHERE action = 'token.redeem'"
        ),
        1
    );
}

#[test]
#[cfg_attr(
    not(pwreset_pg),
    ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
)]
fn wrong_codes_split_across_instances_revoke_the_link_at_the_fifth_in_total() {
    let db = PgTestDb::new();
    let env = store_with_alice(&db, "");
    env.link_for("alice");
    let right = code_in(&text_part(env.outbox().last().expect("a mail"))).expect("a code");
    let wrong = format!(
        "{}{}",
        if right.starts_with('Z') { 'Y' } else { 'Z' },
        &right[1..]
    );
    let (mut a, mut b) = two_instances(&env);
    // A, B, A, B: neither instance alone has seen MAX_TRIES, so only the store's count can
    // revoke the link at the last one.
    for n in 1..MAX_TRIES {
        let server = if n % 2 == 1 { &mut a } else { &mut b };
        page_is(&try_code(server, "alice", &wrong), 422, "code");
    }
    assert_eq!(live_links(&db), 1, "four wrong codes leave the link live");
    let last = try_code(&mut b, "alice", &wrong);
    page_is(&last, 410, "gone");
    assert!(last.body.contains("too many times"), "{}", last.body);
    // The right code opens nothing now (no 303 to the form): A answers as for a login
    // without a live link.
    let late = try_code(&mut a, "alice", &right);
    page_is(&late, 422, "code");
    stop(a);
    stop(b);
    assert_eq!(live_links(&db), 0);
    assert_eq!(
        scalar(
            &db,
            "SELECT count(*) FROM reset_tokens WHERE revoked_reason = 'too many wrong codes'"
        ),
        1
    );
}

#[test]
#[cfg_attr(
    not(pwreset_pg),
    ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
)]
fn the_per_account_throttle_holds_on_both_instances_from_the_store() {
    let db = PgTestDb::new();
    let env = store_with_alice(&db, "");
    set_in_links(&env, "max_failed_redeems_per_hour = 2");
    let dead = env.link_for("alice");
    env.ok(&["tokens", "revoke", "alice"]);
    let token = env.link_for("alice");
    let (mut a, mut b) = two_instances(&env);
    let (session_a, csrf_a) = open_on(&mut a, &token);
    let (session_b, csrf_b) = open_on(&mut b, &token);
    // Failed redemptions recorded while both run, by a third process on the same store.
    let fail = || {
        let out = env.run_stdin(&["tokens", "redeem"], &format!("{dead}\n{NEW_PASSWORD}\n"));
        assert_ne!(code(&out), 0, "a revoked link redeems nothing");
    };
    fail();
    let short = post_password(&mut b, &session_b, &csrf_b, "short");
    page_is(&short, 422, "form");
    fail();
    page_is(
        &post_password(&mut a, &session_a, &csrf_a, NEW_PASSWORD),
        429,
        "too-many",
    );
    page_is(
        &post_password(&mut b, &session_b, &csrf_b, NEW_PASSWORD),
        429,
        "too-many",
    );
    stop(a);
    stop(b);
    assert_eq!(live_links(&db), 1, "the throttle changed nothing");
    assert_eq!(
        scalar(
            &db,
            "SELECT count(*) FROM users WHERE password_hash IS NULL"
        ),
        1
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT count(*) FROM audit_log WHERE action = 'token.redeem' AND outcome = 'refused'"
        ),
        1,
        "refusals on both instances are audited once per account and hour"
    );
}

#[test]
#[cfg_attr(
    not(pwreset_pg),
    ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
)]
fn a_client_blocked_on_one_instance_is_not_blocked_on_the_other() {
    let db = PgTestDb::new();
    let env = store_with_alice(&db, "\n[serve]\nmax_failures_per_client = 2\n");
    let (mut a, mut b) = two_instances(&env);
    let guess = |n: u32| format!("/reset-password?token={}", "g".repeat(42) + &n.to_string());
    for n in 0..2 {
        page_is(&a.get(&guess(n), ""), 410, "gone");
    }
    page_is(&a.get(&guess(2), ""), 429, "too-many");
    page_is(&b.get(&guess(3), ""), 410, "gone");
    stop(a);
    stop(b);
}

#[test]
#[cfg_attr(
    not(pwreset_pg),
    ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
)]
fn wrong_codes_for_a_login_naming_nobody_count_per_instance() {
    let db = PgTestDb::new();
    let env = store_with_alice(&db, "");
    let (mut a, mut b) = two_instances(&env);
    for _ in 1..MAX_TRIES {
        page_is(&try_code(&mut a, "nobody", "K7QF-M2XD"), 422, "code");
    }
    page_is(&try_code(&mut b, "nobody", "K7QF-M2XD"), 422, "code");
    let last = try_code(&mut a, "nobody", "K7QF-M2XD");
    page_is(&last, 410, "gone");
    assert!(last.body.contains("too many times"), "{}", last.body);
    stop(a);
    stop(b);
}
