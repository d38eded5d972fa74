//! `pwreset store migrate`: a store copied into an empty one with its audit chain verifying,
//! SQLite to SQLite, SQLite to PostgreSQL and back; non-empty targets, passwords in URLs and a
//! store migrated into itself refused.

use crate::pg_support::PgTestDb;
use crate::support::{TestEnv, assert_fails, json, stdout};

/// A store with users, a link, a redeemed token and a temporary password: rows in every
/// everyday table.
fn busy_env() -> TestEnv {
    let env = TestEnv::with_samples();
    env.link_for("alice@example.com");
    env.link_for("bob@example.com");
    env
}

/// What an admin sees of a store: users, links and the audit log, as JSON.
fn views(env: &TestEnv, db: &str) -> Vec<String> {
    let audit: Vec<serde_json::Value> = json(&env.ok(&["--db", db, "audit", "--format", "json"]))
        .as_array()
        .expect("audit rows")
        .iter()
        .filter(|row| row["action"] != "store.migrate")
        .cloned()
        .collect();
    vec![
        env.ok(&["--db", db, "users", "list", "--format", "json"]),
        env.ok(&["--db", db, "tokens", "list", "--all", "--format", "json"]),
        serde_json::to_string(&audit).expect("json"),
    ]
}

#[test]
fn a_copy_into_a_new_sqlite_file_shows_the_same_store_and_verifies() {
    let env = busy_env();
    let copy = env.path("copy.db");
    let target = format!("sqlite:{}", copy.display());
    let out = env.run(&["store", "migrate", "--to", &target, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report = json(&stdout(&out));
    assert_eq!(report["tables"][0]["table"], "users");
    assert!(report["total"].as_u64().expect("total") > 10, "{report}");
    let source = env.path("pwreset.db");
    assert_eq!(
        views(&env, source.to_str().expect("utf-8")),
        views(&env, copy.to_str().expect("utf-8"))
    );
    env.ok(&["--db", copy.to_str().expect("utf-8"), "audit", "verify"]);
    env.ok(&["audit", "verify"]);
    let recorded = env.ok(&["audit", "--action", "store.migrate", "--format", "json"]);
    assert_eq!(json(&recorded).as_array().expect("rows").len(), 1);
}

#[test]
fn a_target_that_holds_anything_is_refused_and_left_alone() {
    let env = busy_env();
    let other = TestEnv::with_samples();
    let target = format!("sqlite:{}", other.path("pwreset.db").display());
    let before = other.ok(&["users", "list", "--format", "json"]);
    let out = env.run(&["store", "migrate", "--to", &target]);
    assert_fails(&out, 1, "is not empty");
    assert_eq!(other.ok(&["users", "list", "--format", "json"]), before);
    let into_itself = format!("sqlite:{}", env.path("pwreset.db").display());
    assert_fails(
        &env.run(&["store", "migrate", "--to", &into_itself]),
        2,
        "into itself",
    );
}

#[test]
fn a_password_in_the_url_is_refused_without_echoing_it() {
    let env = busy_env();
    let out = env.run(&[
        "store",
        "migrate",
        "--to",
        "postgres://pwreset:Hunter2-secret@db.example/app",
    ]);
    assert_fails(&out, 2, "password");
    assert!(!format!("{out:?}").contains("Hunter2-secret"));
}

/// `env`'s config gains the PostgreSQL server's password file (for `--to postgres://...`).
fn with_pg_password(env: &TestEnv, db: &PgTestDb) {
    let password = std::fs::read_to_string(&db.server.password_file).expect("password");
    let file = env.write("db-password", &password);
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    let config = std::fs::read_to_string(env.path("pwreset.toml")).expect("config");
    let store = "[store]\npassword_file = \"db-password\"\n";
    env.write("pwreset.toml", &config.replacen("[store]\n", store, 1));
}

#[test]
#[cfg_attr(
    not(pwreset_pg),
    ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
)]
fn sqlite_to_postgres_and_back_keeps_every_row_and_the_chain() {
    let db = PgTestDb::empty();
    let env = busy_env();
    with_pg_password(&env, &db);
    let url = db.url();
    env.ok(&["store", "migrate", "--to", &url]);
    let source = env.path("pwreset.db");
    let source = source.to_str().expect("utf-8");
    assert_eq!(views(&env, source), views(&env, &url));
    env.ok(&["--db", &url, "audit", "verify"]);
    // New rows on PostgreSQL take ids after the copied ones.
    env.ok(&["--db", &url, "users", "add", "zoe@example.com"]);
    let back = env.path("back.db");
    let back_url = format!("sqlite:{}", back.display());
    env.ok(&["--db", &url, "store", "migrate", "--to", &back_url]);
    let back = back.to_str().expect("utf-8");
    assert_eq!(views(&env, &url), views(&env, back));
    env.ok(&["--db", back, "audit", "verify"]);
    let again = env.run(&["store", "migrate", "--to", &url]);
    assert_fails(&again, 1, "is not empty");
}
