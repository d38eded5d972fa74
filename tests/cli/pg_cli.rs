//! The CLI as a process against a PostgreSQL store (`store.url` in the config, or `--db`): the
//! everyday commands with the same outcomes as on SQLite, the writer lock's timeout, refused
//! URLs, and TLS through the command line.

use std::fmt::Write as _;

use pwreset::store::sql::WRITER_LOCK_KEY;

use crate::pg_support::{PgTestDb, pg_env, scalar};
use crate::support::{TestEnv, assert_fails, code, json, stderr, stdout};

const NEW_PASSWORD: &str = "violet-harbour-tractor-41";

#[test]
#[cfg_attr(
    not(pwreset_pg),
    ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
)]
fn users_links_tokens_and_the_audit_log_work_on_postgres() {
    let db = PgTestDb::new();
    let env = pg_env(&db, &db.url());
    env.ok(&["users", "add", "alice@example.com", "--username", "alice"]);
    let dup = env.run(&["users", "add", "ALICE@example.com", "--username", "other"]);
    assert_ne!(code(&dup), 0, "emails are unique ignoring case");
    env.write(
        "staff.csv",
        "email,username\nbob@example.com,bob\ncarol@example.com,carol\n",
    );
    env.ok(&["users", "import", "staff.csv"]);
    let listed = json(&env.ok(&["users", "list", "--format", "json"]));
    let names: Vec<&str> = listed
        .as_array()
        .expect("array")
        .iter()
        .map(|u| u["username"].as_str().expect("username"))
        .collect();
    assert_eq!(names, ["alice", "bob", "carol"]);
    assert_eq!(
        env.ok(&["users", "list", "--search", "BOB"])
            .matches("bob@example.com")
            .count(),
        1,
        "search ignores case (ILIKE)"
    );
    assert!(
        env.ok(&["users", "show", "Alice"])
            .contains("alice@example.com")
    );

    let token = env.link_for("alice");
    assert_eq!(scalar(&db, "SELECT count(*) FROM reset_tokens"), 1);
    let verified = env.run_stdin(&["-v", "tokens", "verify"], &format!("{token}\n"));
    assert_eq!(stdout(&verified), "alice\n", "{}", stderr(&verified));
    let listed = env.ok(&["tokens", "list", "--format", "json"]);
    assert_eq!(json(&listed).as_array().expect("array").len(), 1);
    let redeemed = env.run_stdin(
        &["tokens", "redeem", "--format", "json"],
        &format!("{token}\n{NEW_PASSWORD}\n"),
    );
    assert_eq!(code(&redeemed), 0, "{}", stderr(&redeemed));
    assert_eq!(json(&stdout(&redeemed))["user"], "alice");
    let again = env.run_stdin(&["tokens", "redeem"], &format!("{token}\n{NEW_PASSWORD}\n"));
    assert_ne!(code(&again), 0, "single use");
    env.ok(&["tokens", "purge"]);
    assert_eq!(
        scalar(&db, "SELECT count(*) FROM reset_tokens"),
        0,
        "a used token is purged"
    );

    let audit = env.ok(&["audit", "--format", "json"]);
    let actions: Vec<String> = json(&audit)
        .as_array()
        .expect("array")
        .iter()
        .map(|row| row["action"].as_str().unwrap_or_default().to_string())
        .collect();
    for action in [
        "user.add",
        "user.import",
        "link.send",
        "token.redeem",
        "token.purge",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
    let verified = env.run(&["audit", "verify"]);
    assert_eq!(code(&verified), 0, "{}", stderr(&verified));
}

#[test]
#[cfg_attr(
    not(pwreset_pg),
    ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
)]
fn generate_and_a_bulk_link_run_work_on_postgres() {
    let db = PgTestDb::new();
    let env = pg_env(&db, &db.url());
    let mut csv = String::from("email,username\n");
    for n in 1..=4 {
        writeln!(csv, "u{n}@example.com,u{n}").expect("write to a String");
    }
    env.write("staff.csv", &csv);
    env.ok(&["users", "import", "staff.csv"]);
    let out = env.run(&["--yes", "reset", "generate", "u1"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        scalar(
            &db,
            "SELECT must_change_password FROM users WHERE username = 'u1'"
        ),
        1
    );
    env.write("list.txt", "u2\nu3\nU4\nnobody\nu2\n");
    let out = env.run(&["--yes", "reset", "bulk", "--link", "--file", "list.txt"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(env.outbox().len(), 4, "one generate mail and three links");
    assert_eq!(
        scalar(&db, "SELECT count(*) FROM bulk_items WHERE status = 'sent'"),
        3
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT count(*) FROM bulk_items WHERE status = 'skipped'"
        ),
        2,
        "unknown and duplicate"
    );
    let all = env.run(&["--yes", "reset", "bulk", "--generate", "--all"]);
    assert_eq!(code(&all), 0, "{}", stderr(&all));
    env.ok(&["audit", "verify"]);
}

#[test]
#[cfg_attr(
    not(pwreset_pg),
    ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
)]
fn a_held_writer_lock_gives_the_busy_error_after_the_timeout() {
    let db = PgTestDb::new();
    let env = pg_env(&db, &db.url());
    let config = std::fs::read_to_string(env.path("pwreset.toml")).expect("config");
    env.write(
        "pwreset.toml",
        &config.replacen("[store]\n", "[store]\nbusy_timeout_ms = 200\n", 1),
    );
    env.ok(&["users", "list"]);
    let mut holder = db.client();
    holder.batch_execute("BEGIN").expect("begin");
    holder
        .execute("SELECT pg_advisory_xact_lock($1)", &[&WRITER_LOCK_KEY])
        .expect("hold the lock");
    let out = env.run(&["users", "add", "erin@example.com"]);
    assert_fails(&out, 8, "another pwreset holds the store");
    assert_eq!(scalar(&db, "SELECT count(*) FROM users"), 0);
    holder.batch_execute("ROLLBACK").expect("release");
    env.ok(&["users", "add", "erin@example.com"]);
}

#[test]
fn a_password_in_the_url_is_refused_from_a_flag_and_from_the_config() {
    let env = TestEnv::initialised();
    let url = "postgres://pwreset:hunter2@127.0.0.1:1/app";
    let out = env.run(&["--db", url, "users", "list"]);
    assert_fails(&out, 2, "PGPASSWORD");
    assert!(!stderr(&out).contains("hunter2"), "{}", stderr(&out));
    let config = std::fs::read_to_string(env.path("pwreset.toml")).expect("config");
    env.write(
        "pwreset.toml",
        &config.replacen("[store]\n", &format!("[store]\nurl = \"{url}\"\n"), 1),
    );
    let out = env.run(&["users", "list"]);
    assert_fails(&out, 8, "PGPASSWORD");
    assert!(!stderr(&out).contains("hunter2"), "{}", stderr(&out));
}

#[test]
#[cfg_attr(
    not(pwreset_pg),
    ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
)]
fn tls_through_the_cli_requires_and_verifies_as_the_url_says() {
    let db = PgTestDb::new();
    let base = db.url();
    let env = pg_env(&db, &format!("{base}?sslmode=require"));
    env.ok(&["users", "add", "erin@example.com"]);
    let wrong_ca = env.write("other-ca.pem", &rcgen_ca());
    let verify = format!(
        "{base}?sslmode=verify-full&sslrootcert={}",
        wrong_ca.display()
    );
    let out = env.run(&["--db", &verify, "users", "list"]);
    assert_fails(&out, 8, "TLS");
    let right = format!(
        "{base}?sslmode=verify-full&sslrootcert={}",
        db.server.ca.display()
    );
    assert!(
        env.ok(&["--db", &right, "users", "list"])
            .contains("erin@example.com")
    );
    let init = env.run(&["--db", &base, "init", "--force"]);
    assert_fails(&init, 2, "creates a SQLite store");
}

/// A CA certificate that signed nothing on the server.
fn rcgen_ca() -> String {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(Vec::new()).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.self_signed(&key).expect("self-signed").pem()
}
