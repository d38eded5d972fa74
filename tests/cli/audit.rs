//! `pwreset audit` and `pwreset audit verify`

use pwreset::store::sql::ValueRef;

use crate::support::{TestDb, TestEnv, assert_fails, code, stderr};

pub(crate) fn rows(env: &TestEnv, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["audit", "--format", "json"];
    all.extend_from_slice(args);
    let out = env.ok(&all);
    serde_json::from_str::<serde_json::Value>(&out)
        .expect("json")
        .as_array()
        .expect("array")
        .clone()
}

#[test]
fn every_change_is_audited_with_actor_and_reason() {
    let env = TestEnv::with_samples();
    env.ok(&[
        "--actor",
        "jdoe",
        "--reason",
        "TICKET-42",
        "users",
        "deactivate",
        "bob",
        "--yes",
    ]);
    let last = rows(&env, &["--limit", "1"]).pop().expect("a row");
    assert_eq!(last["action"], "user.deactivate");
    assert_eq!(last["target"], "bob");
    assert_eq!(last["actor"], "jdoe");
    assert_eq!(last["reason"], "TICKET-42");
    assert_eq!(last["outcome"], "ok");
    assert_eq!(last["at"], "2026-11-22T10:00:00Z");
    assert!(last["os_user"].as_str().is_some_and(|u| !u.is_empty()));
    let actions: Vec<String> = rows(&env, &[])
        .iter()
        .map(|r| r["action"].as_str().expect("action").to_string())
        .collect();
    assert_eq!(
        actions,
        [
            "store.init",
            "user.add",
            "user.add",
            "user.add",
            "user.add",
            "user.deactivate"
        ]
    );
}

#[test]
fn filters_by_user_action_and_since() {
    let env = TestEnv::with_samples();
    env.cmd()
        .args(["users", "activate", "carol"])
        .env("PWRESET_TEST_NOW", "2026-11-23T10:00:00Z")
        .assert()
        .success();
    assert_eq!(rows(&env, &["--user", "carol"]).len(), 2);
    assert_eq!(rows(&env, &["--action", "user.*"]).len(), 5);
    assert_eq!(rows(&env, &["--action", "user.activate"]).len(), 1);
    let recent = env
        .cmd()
        .args(["audit", "--since", "1h", "--format", "json"])
        .env("PWRESET_TEST_NOW", "2026-11-23T10:30:00Z")
        .output()
        .expect("run");
    let recent: serde_json::Value = serde_json::from_slice(&recent.stdout).expect("json");
    assert_eq!(recent.as_array().map(Vec::len), Some(1));
    assert_fails(&env.run(&["audit", "--since", "yesterday"]), 2, "--since");
    assert_fails(&env.run(&["audit", "--user", "zed"]), 4, "no user matches");
}

#[test]
fn csv_and_table_output() {
    let env = TestEnv::with_samples();
    let csv = env.ok(&["audit", "--format", "csv"]);
    assert!(csv.starts_with("id,at,os_user,actor,reason,action,target_user_id,target,recipient,outcome,detail,run_id\n"), "{csv}");
    let table = env.ok(&["audit"]);
    assert!(table.contains("store.init") && table.contains("OUTCOME"));
}

#[test]
fn verify_passes_then_names_a_tampered_row() {
    let env = TestEnv::with_samples();
    let out = env.run(&["audit", "verify"]);
    assert_eq!(code(&out), 0);
    assert!(stderr(&out).contains("5 rows verified"));
    let db = env.db();
    let blocked = db.try_execute("UPDATE audit_log SET target = 'mallory' WHERE id = 3", &[]);
    assert!(blocked.is_err(), "the trigger stops edits");
    assert!(
        db.try_execute("DELETE FROM audit_log WHERE id = 3", &[])
            .is_err(),
        "and deletes"
    );
    drop_triggers(&db, &["audit_log_no_update"]);
    db.execute("UPDATE audit_log SET target = 'mallory' WHERE id = 3", &[]);
    let out = env.run(&["audit", "verify"]);
    assert_fails(&out, 1, "audit log broken at row 3");
}

/// The columns the chain covers, in hashing order (as `Entry::hashed` lists them).
const HASHED: &str = "id, at, os_user, actor, reason, action, target_user_id, target, recipient, outcome, detail, run_id";

/// Drop these triggers of the audit log, as someone who owns the store can.
fn drop_triggers(db: &TestDb, names: &[&str]) {
    // PostgreSQL names a trigger's table.
    let on = if db.conn().is_postgres() {
        " ON audit_log"
    } else {
        ""
    };
    for name in names {
        db.batch(&format!("DROP TRIGGER {name}{on}"));
    }
}

/// Drop the triggers, run `edit`, and recompute the chain from row `from` on with plain
/// SHA-256, as an attacker who can write the store but has no key would.
pub(crate) fn rechain_without_key(db: &TestDb, from: i64, edit: &str) {
    use sha2::{Digest, Sha256};
    drop_triggers(
        db,
        &[
            "audit_log_no_update",
            "audit_log_no_delete",
            "audit_log_append_only",
        ],
    );
    if !edit.is_empty() {
        db.batch(edit);
    }
    let mut prev = db.text(
        "SELECT prev_hash FROM audit_log WHERE id = ?1",
        &pwreset::vals![from],
    );
    let last = db.count("SELECT max(id) FROM audit_log");
    for id in from..=last {
        let fields: Vec<serde_json::Value> = db.query_one(
            &format!("SELECT {HASHED} FROM audit_log WHERE id = ?1"),
            &pwreset::vals![id],
            |r| (0..12).map(|i| r.value(i).map(json_value)).collect(),
        );
        let mut hasher = Sha256::new();
        hasher.update(prev.as_bytes());
        hasher.update(b"\n");
        hasher.update(serde_json::Value::Array(fields).to_string().as_bytes());
        let hash = hex::encode(hasher.finalize());
        db.execute(
            "UPDATE audit_log SET prev_hash = ?1, hash = ?2 WHERE id = ?3",
            &pwreset::vals![prev, hash, id],
        );
        prev = hash;
    }
}

/// A column as the chain hashes it.
fn json_value(value: ValueRef<'_>) -> serde_json::Value {
    match value {
        ValueRef::Null => serde_json::Value::Null,
        ValueRef::Int(n) => n.into(),
        ValueRef::Text(text) => text.into(),
    }
}

#[test]
fn insert_or_replace_of_a_row_is_refused_by_the_store() {
    let env = TestEnv::with_samples();
    let db = env.db();
    // SQLite's replacing inserts; PostgreSQL's upsert.
    let (verbs, upsert) = if db.conn().is_postgres() {
        (
            &["INSERT"][..],
            " ON CONFLICT (id) DO UPDATE SET target = 'mallory'",
        )
    } else {
        (&["INSERT OR REPLACE", "REPLACE", "INSERT"][..], "")
    };
    for sql in verbs {
        let err = db
            .try_execute(
                &format!("{sql} INTO audit_log (id, at, os_user, action, target, outcome, prev_hash, hash) SELECT 2, at, os_user, action, 'mallory', outcome, prev_hash, hash FROM audit_log WHERE id = 2{upsert}"),
                &[],
            )
            .expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    assert_eq!(
        env.count("SELECT count(*) FROM audit_log WHERE target = 'mallory'"),
        0
    );
    assert!(stderr(&env.run(&["audit", "verify"])).contains("5 rows verified"));
}

#[test]
fn a_row_rewritten_and_rechained_without_the_key_is_named() {
    let env = TestEnv::with_samples();
    let edit = "UPDATE audit_log SET target = 'mallory' WHERE id = 3";
    rechain_without_key(&env.db(), 3, edit);
    let out = env.run(&["audit", "verify"]);
    assert_fails(&out, 1, "audit log broken at row 3");
    assert!(stderr(&out).contains("MAC"), "{}", stderr(&out));
    assert_eq!(
        stderr(&out)
            .lines()
            .filter(|l| l.starts_with("error:"))
            .count(),
        1
    );
    // Rechaining every row, the first included, leaves no keyed row: refused as well.
    let env = TestEnv::with_samples();
    rechain_without_key(&env.db(), 1, edit);
    assert_fails(&env.run(&["audit", "verify"]), 1, "audit log is not keyed");
}

#[test]
fn removing_the_newest_rows_fails_verify_with_the_recorded_head() {
    let env = TestEnv::with_samples();
    let head = env.ok(&["audit", "head"]).trim().to_string();
    assert!(head.starts_with("5:") && head.len() == 66, "{head}");
    let json = crate::support::json(&env.ok(&["audit", "head", "--format", "json"]));
    assert_eq!(json["id"], 5);
    assert_eq!(format!("5:{}", json["mac"].as_str().expect("mac")), head);
    env.ok(&["users", "deactivate", "bob", "--yes"]);
    env.ok(&["audit", "verify", "--head", &head]);
    let db = env.db();
    drop_triggers(&db, &["audit_log_no_delete"]);
    db.execute("DELETE FROM audit_log WHERE id >= 5", &[]);
    env.ok(&["audit", "verify"]);
    let out = env.run(&["audit", "verify", "--head", &head]);
    assert_fails(&out, 1, "does not hold the recorded head 5:");
    assert!(
        stderr(&out).contains("the log ends at row 4"),
        "{}",
        stderr(&out)
    );
    assert_fails(&env.run(&["audit", "verify", "--head", "5"]), 2, "--head");
}

#[test]
fn the_key_is_private_and_never_shown_or_stored() {
    let env = TestEnv::with_samples();
    let key_path = env.path("audit.key");
    assert_eq!(crate::support::mode(&key_path), 0o600);
    let key = std::fs::read_to_string(&key_path).expect("key");
    let key = key.trim();
    assert_eq!(key.len(), 64);
    let mut seen = Vec::new();
    for args in [
        vec!["audit"],
        vec!["audit", "--format", "json"],
        vec!["audit", "verify"],
        vec!["audit", "head"],
        vec!["audit", "rekey"],
        vec!["users", "deactivate", "bob", "--yes"],
        vec!["-v", "config", "show"],
    ] {
        let out = env.run(&args);
        seen.extend(out.stdout);
        seen.extend(out.stderr);
    }
    let raw = hex::decode(key).expect("hex");
    for file in ["pwreset.db", "pwreset.db-wal", "pwreset.toml"] {
        let bytes = std::fs::read(env.path(file)).unwrap_or_default();
        assert!(!crate::support::contains_bytes(&bytes, key), "{file}");
        assert!(
            !bytes.windows(raw.len()).any(|w| w == raw.as_slice()),
            "{file}"
        );
    }
    assert!(
        !crate::support::contains_bytes(&seen, key),
        "the key was printed"
    );
}

#[test]
fn without_the_key_no_mail_leaves_and_nothing_changes() {
    let env = TestEnv::with_samples();
    std::fs::remove_file(env.path("audit.key")).expect("remove key");
    let before = env.count("SELECT count(*) FROM audit_log");
    let out = env.run(&["send-link", "alice"]);
    assert_fails(&out, 8, "audit key");
    assert!(env.outbox().is_empty(), "no mail was sent");
    assert_eq!(env.count("SELECT count(*) FROM reset_tokens"), 0);
    assert_eq!(env.count("SELECT count(*) FROM audit_log"), before);
}

/// Someone who can write the store but not read the key rewrites the whole log as unkeyed rows
/// (the way a store from before schema 4 looks). No command vouches for them: ordinary
/// commands refuse to append, and `audit rekey` refuses to anchor them under the existing key.
#[test]
fn a_log_rewritten_as_unkeyed_rows_is_never_anchored() {
    let env = TestEnv::with_samples();
    rechain_without_key(&env.db(), 1, "");
    let rows_before = env.count("SELECT count(*) FROM audit_log");
    let out = env.run(&["users", "deactivate", "bob", "--yes"]);
    assert_fails(&out, 1, "audit log is not keyed");
    assert_eq!(
        env.count("SELECT count(*) FROM users WHERE active = 0"),
        1,
        "bob untouched"
    );
    let out = env.run(&["audit", "rekey"]);
    assert_fails(&out, 1, "although the audit key exists");
    assert_eq!(env.count("SELECT count(*) FROM audit_log"), rows_before);
    assert_fails(&env.run(&["audit", "verify"]), 1, "not keyed");
}

/// Every store starts with its init row: a log emptied with the triggers dropped fails.
#[test]
fn an_emptied_log_fails_verify() {
    let env = TestEnv::with_samples();
    let db = env.db();
    drop_triggers(&db, &["audit_log_no_delete"]);
    db.batch("DELETE FROM audit_log; DELETE FROM mail_intents;");
    assert_fails(&env.run(&["audit", "verify"]), 1, "the log is empty");
}
