//! `pwreset users ...`

use crate::support::json;
use crate::support::{TestEnv, assert_fails, code, on_terminal, stderr, stdout};

#[test]
fn list_as_table_json_and_csv() {
    let env = TestEnv::with_samples();
    let table = env.ok(&["users", "list"]);
    assert!(table.contains("USERNAME") && table.contains("alice") && table.contains("Dave Doe"));
    assert!(table.is_ascii(), "not a terminal: plain ASCII table");
    let rows = json(&env.ok(&["users", "list", "--format", "json"]));
    assert_eq!(rows.as_array().expect("array").len(), 4);
    assert_eq!(
        rows[0],
        serde_json::json!({"id": 1, "username": "alice", "email": "alice@example.com", "name": "Alice Andersen",
            "active": true, "must_change_password": false, "password_changed_at": null, "locale": null})
    );
    let csv = env.ok(&["users", "list", "--format", "csv"]);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("id,username,email,name,active,must_change_password,password_changed_at,locale")
    );
    assert_eq!(
        lines.next(),
        Some("1,alice,alice@example.com,Alice Andersen,true,false,,")
    );
    assert_eq!(csv.lines().count(), 5);
}

#[test]
fn list_never_shows_hashes() {
    let env = TestEnv::with_samples();
    env.db()
        .execute("UPDATE users SET password_hash = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA' WHERE id = 1", &[]);
    for format in ["table", "json", "csv"] {
        let out = env.ok(&["users", "list", "--format", format]);
        assert!(!out.contains("argon2"), "{format}: {out}");
        let out = env.ok(&["users", "show", "alice", "--format", format]);
        assert!(!out.contains("argon2"), "{format}: {out}");
    }
}

#[test]
fn list_filters_by_status_search_and_limit() {
    let env = TestEnv::with_samples();
    let names = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["users", "list", "--format", "json"];
        all.extend_from_slice(args);
        json(&env.ok(&all))
            .as_array()
            .expect("array")
            .iter()
            .map(|u| u["username"].as_str().expect("name").to_string())
            .collect()
    };
    assert_eq!(names(&["--status", "inactive"]), vec!["carol"]);
    assert_eq!(names(&["--status", "active"]), vec!["alice", "bob", "dave"]);
    assert_eq!(names(&["--search", "BROWN"]), vec!["bob"]);
    assert_eq!(
        names(&["--search", "example.com", "--limit", "2"]),
        vec!["alice", "bob"]
    );
    assert_eq!(names(&["--search", "%"]), Vec::<String>::new());
    let out = env.run(&["users", "list", "--search", "nobody"]);
    assert!(stderr(&out).contains("No users match"));
}

#[test]
fn show_by_email_username_and_id() {
    let env = TestEnv::with_samples();
    for key in ["ALICE@example.com", "alice", "#1"] {
        let detail = json(&env.ok(&["users", "show", key, "--format", "json"]));
        assert_eq!(detail["id"], 1, "{key}");
        assert_eq!(detail["email_valid"], true);
        assert_eq!(detail["has_password"], false);
        assert_eq!(detail["created_at"], "2026-11-22T10:00:00Z");
    }
    assert!(env.ok(&["users", "show", "dave"]).contains("email valid"));
    assert_fails(&env.run(&["users", "show", "zed"]), 4, "no user matches");
    assert_fails(&env.run(&["users", "show", "#77"]), 4, "no user matches");
}

#[test]
fn ambiguous_user_is_an_error() {
    let env = TestEnv::with_samples();
    env.db().execute(
        "INSERT INTO users (username, created_at, updated_at) VALUES ('bob@example.com', 0, 0)",
        &[],
    );
    let out = env.run(&["users", "show", "bob@example.com"]);
    assert_fails(&out, 2, "ambiguous");
    assert!(stderr(&out).contains("#2") && stderr(&out).contains("#5"));
}

#[test]
fn add_validates_and_refuses_duplicates() {
    let env = TestEnv::with_samples();
    env.ok(&[
        "users",
        "add",
        "erin@example.com",
        "--name",
        "Erin E",
        "--inactive",
    ]);
    let erin = json(&env.ok(&["users", "show", "erin", "--format", "json"]));
    assert_eq!(
        (erin["active"].as_bool(), erin["name"].as_str()),
        (Some(false), Some("Erin E"))
    );
    assert_fails(
        &env.run(&["users", "add", "ERIN@example.com", "--username", "erin2"]),
        1,
        "already used by erin",
    );
    assert_fails(
        &env.run(&["users", "add", "x@example.com", "--username", "Alice"]),
        1,
        "already taken",
    );
    assert_fails(
        &env.run(&["users", "add", "not-an-email"]),
        2,
        "malformed email",
    );
    assert_fails(
        &env.run(&["users", "add", "y@example.com", "--name", "a\u{7}b"]),
        2,
        "control characters",
    );
    assert_eq!(env.count("SELECT count(*) FROM users"), 5);
}

#[test]
fn deactivate_needs_confirmation_and_revokes_links() {
    let env = TestEnv::with_samples();
    env.db()
        .execute("INSERT INTO reset_tokens (user_id, token_sha256, created_at, expires_at) VALUES (1, 'x', 1795000000, 1895000000)", &[]);
    let out = env.run(&["users", "deactivate", "alice"]);
    assert_fails(&out, 2, "no terminal");
    assert!(stderr(&out).contains("--yes"));
    assert_eq!(
        env.count("SELECT active FROM users WHERE id = 1"),
        1,
        "nothing changed"
    );
    env.ok(&["users", "deactivate", "alice", "--yes"]);
    assert_eq!(env.count("SELECT active FROM users WHERE id = 1"), 0);
    assert_eq!(
        env.count("SELECT count(*) FROM reset_tokens WHERE revoked_at IS NOT NULL"),
        1
    );
    let again = env.run(&["users", "deactivate", "alice"]);
    assert_eq!(
        code(&again),
        0,
        "already inactive: nothing to do, no prompt"
    );
    assert!(stderr(&again).contains("already inactive"));
    assert_fails(
        &env.run(&["users", "deactivate", "zed", "--yes"]),
        4,
        "no user matches",
    );
}

#[test]
fn deactivate_prompt_on_a_terminal() {
    let env = TestEnv::with_samples();
    let (exit, screen) = on_terminal(
        &env,
        &["users", "deactivate", "bob"],
        "Deactivate bob <bob@example.com>?",
        "n",
    );
    assert_eq!(exit, 5, "{screen}");
    assert!(screen.contains("aborted"), "{screen}");
    assert_eq!(env.count("SELECT active FROM users WHERE id = 2"), 1);
    let (exit, screen) = on_terminal(&env, &["users", "deactivate", "bob"], "Deactivate bob", "y");
    assert_eq!(exit, 0, "{screen}");
    assert_eq!(env.count("SELECT active FROM users WHERE id = 2"), 0);
}

#[test]
fn activate_is_idempotent() {
    let env = TestEnv::with_samples();
    env.ok(&["users", "activate", "carol"]);
    assert_eq!(
        env.count("SELECT active FROM users WHERE username = 'carol'"),
        1
    );
    let out = env.run(&["users", "activate", "carol"]);
    assert_eq!(code(&out), 0);
    assert!(stderr(&out).contains("already active"));
    assert_eq!(
        env.count("SELECT count(*) FROM audit_log WHERE action = 'user.activate'"),
        1
    );
}

#[test]
fn control_characters_in_user_data_are_neutralised_on_the_terminal() {
    let env = TestEnv::with_samples();
    env.db().execute(
        "UPDATE users SET display_name = 'Mal\u{1b}[2Jlory' WHERE id = 2",
        &[],
    );
    let table = env.ok(&["users", "list"]);
    assert!(!table.contains('\u{1b}'), "{table}");
    assert!(table.contains("Mal\\u{1b}[2Jlory"));
    let shown = env.ok(&["users", "show", "bob"]);
    assert!(!shown.contains('\u{1b}'));
    let data = env.ok(&["users", "list", "--format", "json"]);
    assert!(
        data.contains("Mal\\u001b[2Jlory"),
        "JSON keeps the data, escaped: {data}"
    );
    let out = env.run(&["users", "show", "x\u{1b}[31m"]);
    assert!(!stderr(&out).contains('\u{1b}'), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
}
