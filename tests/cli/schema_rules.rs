//! Rules the store keeps whatever the application writes (issue 21, items 12 and 13): a link
//! stays with the user it was issued for, an application's deactivation kills it for good, and
//! audit rows the application forged cannot throttle a user's redemptions (TOK-4, TOK-7,
//! TOK-10). The application is played by plain SQL on the test's own connection.

use crate::support::{TestEnv, assert_fails, code, stderr};

const NEW_PASSWORD: &str = "violet-harbour-tractor-41";

/// 2100-01-01T00:00:00Z: a time the throttle must never look at.
const YEAR_2100: i64 = 4_102_444_800;

/// `env`'s config with a lower redemption limit and a longer link lifetime.
fn limit_failures(env: &TestEnv, per_hour: u32) {
    let config = std::fs::read_to_string(env.path("pwreset.toml")).expect("config");
    let limited = config.replace(
        "ttl = \"1h\"",
        &format!("ttl = \"2h\"\nmax_failed_redeems_per_hour = {per_hour}"),
    );
    assert_ne!(config, limited, "the config names the link ttl");
    env.write("pwreset.toml", &limited);
}

fn verify(env: &TestEnv, token: &str) -> i32 {
    code(&env.run_stdin(&["tokens", "verify"], &format!("{token}\n")))
}

fn redeem_at(env: &TestEnv, token: &str, now: i64) -> std::process::Output {
    env.cmd()
        .env("PWRESET_TEST_NOW", now.to_string())
        .args(["tokens", "redeem"])
        .write_stdin(format!("{token}\n{NEW_PASSWORD}\n"))
        .output()
        .expect("run pwreset")
}

fn now() -> i64 {
    crate::support::NOW
        .parse::<jiff::Timestamp>()
        .expect("NOW")
        .as_second()
}

#[test]
fn an_applications_deactivation_kills_links_for_good() {
    let env = TestEnv::with_samples();
    let token = env.link_for("alice");
    assert_eq!(verify(&env, &token), 0, "{token}");
    let db = env.db();
    db.execute("UPDATE users SET active = 0 WHERE username = 'alice'", &[]);
    db.execute("UPDATE users SET active = 1 WHERE username = 'alice'", &[]);
    assert_eq!(verify(&env, &token), 7, "reactivating revived the link");
    assert_eq!(
        env.count(
            "SELECT count(*) FROM reset_tokens WHERE revoked_reason = 'user deactivated'"
        ),
        1
    );
}

#[test]
fn a_deleted_users_id_is_never_given_again() {
    let env = TestEnv::with_samples();
    env.ok(&["users", "add", "erin@example.com"]);
    let erin = env.count("SELECT id FROM users WHERE username = 'erin'");
    env.db()
        .execute("DELETE FROM users WHERE username = 'erin'", &[]);
    env.ok(&["users", "add", "frank@example.com"]);
    let frank = env.count("SELECT id FROM users WHERE username = 'frank'");
    assert!(frank > erin, "frank got id {frank}, erin had {erin}");
}

/// Append audit rows as an application granted INSERT could: the next id, the chain's last
/// hash as `prev_hash`, and a MAC it cannot compute.
fn forge_failures(env: &TestEnv, user: &str, at: i64, rows: usize) {
    let db = env.db();
    let user_id = db.int("SELECT id FROM users WHERE username = ?1", &[&user]);
    for _ in 0..rows {
        let id = db.count("SELECT max(id) FROM audit_log") + 1;
        let prev = db.text("SELECT hash FROM audit_log WHERE id = ?1", &[&(id - 1)]);
        db.execute(
            "INSERT INTO audit_log (id, at, os_user, action, target_user_id, target, outcome, \
             detail, prev_hash, hash) VALUES (?1, ?2, 'app', 'token.redeem', ?3, ?4, 'failed', \
             'the reset token is not valid', ?5, ?6)",
            &[&id, &at, &user_id, &user, &prev, &"f".repeat(64)],
        );
    }
}

#[test]
fn forged_and_future_audit_rows_never_throttle_a_redemption() {
    let env = TestEnv::with_samples();
    limit_failures(&env, 2);
    let token = env.link_for("alice");
    forge_failures(&env, "alice", YEAR_2100, 2);
    forge_failures(&env, "alice", now(), 2);
    let out = redeem_at(&env, &token, now());
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn try_again_after_names_the_time_the_throttle_lifts() {
    let env = TestEnv::with_samples();
    limit_failures(&env, 2);
    let stale = env.link_for("alice");
    let fresh = env.link_for("alice");
    let t0 = now();
    assert_eq!(code(&redeem_at(&env, &stale, t0)), 7);
    assert_eq!(code(&redeem_at(&env, &stale, t0 + 600)), 7);
    let out = redeem_at(&env, &fresh, t0 + 1200);
    let lifts = pwreset::timefmt::human(t0 + 3600);
    assert_fails(&out, 4, &format!("try again after {lifts}"));
    let out = redeem_at(&env, &fresh, t0 + 3601);
    assert_eq!(code(&out), 0, "the throttle lifted: {}", stderr(&out));
}
