//! `pwreset init`: it writes an SQLite store (and its files), so this module is SQLite's alone
//! and only the SQLite test binary includes it.

use crate::support::{TestEnv, assert_fails, mode, stderr};

#[test]
fn init_writes_private_config_store_and_outbox() {
    let env = TestEnv::empty();
    let out = env.run(&["init"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(mode(&env.path("pwreset.toml")), 0o600);
    assert_eq!(mode(&env.path("pwreset.db")), 0o600);
    assert_eq!(mode(&env.path("outbox")), 0o700);
    let config = std::fs::read_to_string(env.path("pwreset.toml")).expect("config");
    assert!(config.contains("transport = \"file\"") && config.contains("dir = \"outbox\""));
    assert_eq!(env.count("SELECT count(*) FROM users"), 0);
    assert_eq!(
        env.count("PRAGMA user_version"),
        pwreset::store::schema::LATEST
    );
    assert_eq!(
        env.count("SELECT count(*) FROM audit_log WHERE action = 'store.init'"),
        1
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn init_into_a_new_dir_makes_it_0700() {
    let env = TestEnv::empty();
    let out = env.run(&["init", "--dir", "etc/pwreset"]);
    assert!(stderr(&out).contains("PWRESET_CONFIG="), "{}", stderr(&out));
    assert_eq!(mode(&env.path("etc/pwreset")), 0o700);
    assert_eq!(mode(&env.path("etc/pwreset/pwreset.toml")), 0o600);
    assert!(env.path("etc/pwreset/outbox").is_dir());
}

#[test]
fn init_refuses_to_overwrite_without_force() {
    let env = TestEnv::with_samples();
    let out = env.run(&["init"]);
    assert_fails(&out, 1, "already exists");
    assert!(stderr(&out).contains("--force"));
    assert_eq!(
        env.count("SELECT count(*) FROM users"),
        4,
        "the store is untouched"
    );
    env.ok(&["init", "--force"]);
    assert_eq!(env.count("SELECT count(*) FROM users"), 0);
}

#[test]
fn sample_users_include_an_inactive_one_and_one_without_email() {
    let env = TestEnv::with_samples();
    assert_eq!(env.count("SELECT count(*) FROM users WHERE active = 0"), 1);
    assert_eq!(
        env.count("SELECT count(*) FROM users WHERE email IS NULL"),
        1
    );
    assert_eq!(
        env.count("SELECT count(*) FROM users WHERE active = 1 AND email IS NOT NULL"),
        2
    );
}

#[test]
fn wal_and_shm_are_private_while_the_store_is_in_use() {
    let env = TestEnv::with_samples();
    let conn = env.sqlite("the WAL and shared-memory files are SQLite's");
    conn.execute_batch("BEGIN; UPDATE users SET updated_at = updated_at; COMMIT;")
        .expect("write through WAL");
    for name in ["pwreset.db", "pwreset.db-wal", "pwreset.db-shm"] {
        assert_eq!(mode(&env.path(name)), 0o600, "{name}");
    }
}

#[test]
fn a_loose_store_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::with_samples();
    std::fs::set_permissions(
        env.path("pwreset.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .expect("chmod");
    let out = env.run(&["users", "list"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("warning: store") && stderr(&out).contains("chmod 600"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn init_force_moves_the_old_store_and_its_audit_log_aside() {
    let env = TestEnv::with_samples();
    let key = std::fs::read(env.path("audit.key")).expect("key");
    let out = env.run(&["init", "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let kept = "pwreset.db.replaced-20261122T100000Z";
    assert!(
        stderr(&out).contains(&format!("Moved the old store aside to ./{kept}")),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read(env.path("audit.key")).expect("key"),
        key,
        "the key is kept"
    );
    assert_eq!(env.count("SELECT count(*) FROM audit_log"), 1, "a new log");
    let old = rusqlite::Connection::open(env.path(kept)).expect("old store");
    let rows: i64 = old
        .query_row("SELECT count(*) FROM audit_log", [], |r| r.get(0))
        .expect("count");
    assert_eq!(rows, 5, "the old audit log is kept");
    let out = env.run(&["--db", kept, "audit", "verify"]);
    assert!(stderr(&out).contains("5 rows verified"), "{}", stderr(&out));
    let again = env.run(&["init", "--force"]);
    assert!(
        stderr(&again).contains(&format!("{kept}-2")),
        "{}",
        stderr(&again)
    );
}
