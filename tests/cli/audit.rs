//! `pwreset audit` and `pwreset audit verify`

use crate::support::{TestEnv, assert_fails, code, stderr};

fn rows(env: &TestEnv, args: &[&str]) -> Vec<serde_json::Value> {
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
    let conn = env.db();
    let blocked = conn.execute("UPDATE audit_log SET target = 'mallory' WHERE id = 3", []);
    assert!(blocked.is_err(), "the trigger stops edits");
    assert!(
        conn.execute("DELETE FROM audit_log WHERE id = 3", [])
            .is_err(),
        "and deletes"
    );
    conn.execute_batch(
        "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET target = 'mallory' WHERE id = 3;",
    )
    .expect("tamper");
    let out = env.run(&["audit", "verify"]);
    assert_fails(&out, 1, "audit log broken at row 3");
}
