//! `pwreset users edit`: email changes (confirmed, links revoked, a notice to the old address
//! over real SMTP), username and name changes, refusals that change nothing, and the audit rows.

use std::time::Duration;

use crate::smtp_server::SmtpServer;
use crate::support::{
    TestEnv, assert_exit, assert_fails, code, json, on_terminal, stderr, stdout, users_snapshot,
};

/// The sample users, mailing over plain SMTP to `server`.
fn smtp_env(server: &SmtpServer) -> TestEnv {
    let env = TestEnv::with_samples();
    crate::bulk::use_smtp(&env, server.port());
    env
}

/// alice is sent a link; returns its token.
fn link_for_alice(env: &TestEnv, server: &SmtpServer) -> String {
    env.ok(&["send-link", "alice"]);
    let mail = server.wait_for(1, Duration::from_secs(10)).remove(0);
    let body = crate::support::text_part(&mail.data);
    let start = body.find("token=").expect("a link") + "token=".len();
    body[start..start + 43].to_string()
}

fn verify(env: &TestEnv, token: &str) -> i32 {
    code(&env.run_stdin(&["tokens", "verify"], &format!("{token}\n")))
}

/// The `user.edit` rows' details.
fn edit_rows(env: &TestEnv) -> Vec<String> {
    env.db().texts(
        "SELECT detail FROM audit_log WHERE action = 'user.edit' ORDER BY id",
        &[],
    )
}

#[test]
fn an_email_change_revokes_links_tells_the_old_address_and_is_audited() {
    let server = SmtpServer::start();
    let env = smtp_env(&server);
    let token = link_for_alice(&env, &server);
    assert_eq!(verify(&env, &token), 0, "live before");
    let out = env.run(&[
        "users",
        "edit",
        "alice",
        "--email",
        "alice@new.example.com",
        "--yes",
    ]);
    assert_exit(&out, 0);
    let err = stderr(&out);
    assert!(
        err.contains("Changed alice (#1): email a***@example.com -> a***@new.example.com; revoked 1 reset links"),
        "{err}"
    );
    assert!(
        err.contains("Sent a notice of the change to a***@example.com"),
        "{err}"
    );
    assert!(!err.contains("alice@new.example.com") && stdout(&out).is_empty());

    let mails = server.wait_for(2, Duration::from_secs(10));
    assert_eq!(
        mails.len(),
        2,
        "the link, then the notice; none to the new address"
    );
    let notice = &mails[1];
    assert_eq!(notice.to, vec!["alice@example.com".to_string()]);
    assert_eq!(
        notice.header("Subject").as_deref(),
        Some("The email address of your Example App account was changed")
    );
    let text = crate::support::text_part(&notice.data);
    assert!(text.contains("to a***@new.example.com."), "{text}");
    assert!(
        !text.contains("alice@new.example.com") && !text.contains("token="),
        "{text}"
    );
    assert!(crate::support::html_part(&notice.data).contains("a***@new.example.com"));

    assert_eq!(verify(&env, &token), 7, "the link is dead");
    assert_eq!(
        env.db()
            .texts("SELECT revoked_reason FROM reset_tokens", &[]),
        vec!["email changed"]
    );
    assert_eq!(
        env.db().texts("SELECT email FROM users WHERE id = 1", &[]),
        vec!["alice@new.example.com"]
    );
    assert_eq!(
        edit_rows(&env),
        vec![r#"email "alice@example.com" -> "alice@new.example.com", revoked 1 links"#]
    );
    env.ok(&["audit", "verify"]);
}

#[test]
fn an_email_change_needs_a_terminal_or_yes_and_changes_nothing_without() {
    let server = SmtpServer::start();
    let env = smtp_env(&server);
    let token = link_for_alice(&env, &server);
    let before = users_snapshot(&env);
    let out = env.run(&["users", "edit", "alice", "--email", "a2@example.com"]);
    assert_fails(&out, 2, "no terminal");
    assert!(stderr(&out).contains("--yes"), "{}", stderr(&out));
    assert_eq!(users_snapshot(&env), before);
    assert_eq!(verify(&env, &token), 0, "the link still works");
    assert!(edit_rows(&env).is_empty());
    assert_eq!(server.messages().len(), 1, "only the link");
}

#[test]
fn an_email_change_asks_on_a_terminal_showing_masked_addresses() {
    let env = TestEnv::with_samples();
    let args = ["users", "edit", "bob", "--email", "robert@example.org"];
    let prompt = "Change the email of bob (#2) from b***@example.com to r***@example.org?";
    let (exit, screen) = on_terminal(&env, &args, prompt, "n");
    assert_eq!(exit, 5, "{screen}");
    assert!(!screen.contains("robert@example.org"), "{screen}");
    assert!(edit_rows(&env).is_empty());
    let (exit, screen) = on_terminal(&env, &args, prompt, "y");
    assert_eq!(exit, 0, "{screen}");
    assert_eq!(
        env.db().texts("SELECT email FROM users WHERE id = 2", &[]),
        vec!["robert@example.org"]
    );
    assert_eq!(
        env.outbox().len(),
        1,
        "the notice, through the file transport"
    );
}

#[test]
fn duplicates_and_bad_values_are_refused_and_nothing_changes() {
    let server = SmtpServer::start();
    let env = smtp_env(&server);
    let before = users_snapshot(&env);
    let edit = |args: &[&str]| {
        let mut all = vec!["users", "edit", "alice", "--yes"];
        all.extend_from_slice(args);
        env.run(&all)
    };
    assert_fails(
        &edit(&["--email", "BOB@example.com"]),
        1,
        "already used by bob",
    );
    assert_fails(&edit(&["--username", "Bob"]), 1, "already taken");
    assert_fails(&edit(&["--email", "not-an-email"]), 2, "malformed email");
    assert_fails(&edit(&["--username", "a b"]), 2, "whitespace");
    let out = edit(&["--email", "fine@example.com", "--name", "a\u{7}b"]);
    assert_fails(&out, 2, "control characters");
    assert_fails(&edit(&[]), 2, "--email");
    assert_fails(
        &env.run(&["users", "edit", "zed", "--name", "Z"]),
        4,
        "no user matches",
    );
    assert_eq!(users_snapshot(&env), before, "nothing changed");
    assert!(edit_rows(&env).is_empty());
    assert!(server.messages().is_empty(), "no mail");
}

#[test]
fn username_and_name_changes_need_no_prompt_and_keep_the_links() {
    let server = SmtpServer::start();
    let env = smtp_env(&server);
    let token = link_for_alice(&env, &server);
    let out = env.run(&[
        "users",
        "edit",
        "ALICE",
        "--username",
        "Alice",
        "--name",
        "Alice B",
        "--format",
        "json",
    ]);
    assert_exit(&out, 0);
    assert_eq!(
        json(&stdout(&out)),
        serde_json::json!({"user": "Alice", "user_id": 1, "dry_run": false,
            "changes": [{"field": "username", "old": "alice", "new": "Alice"},
                        {"field": "name", "old": "Alice Andersen", "new": "Alice B"}],
            "links_revoked": 0, "notice_to": null})
    );
    env.ok(&["users", "edit", "#1", "--name", ""]);
    assert_eq!(
        env.count("SELECT count(*) FROM users WHERE id = 1 AND display_name IS NULL"),
        1
    );
    env.ok(&["users", "edit", "#1", "--locale", "PT-br"]);
    let shown = json(&env.ok(&["users", "show", "#1", "--format", "json"]));
    assert_eq!(shown["locale"], "pt-BR", "stored canonical");
    assert_exit(&env.run(&["users", "edit", "#1", "--locale", "pt_BR"]), 2);
    env.ok(&["users", "edit", "#1", "--locale", ""]);
    let shown = json(&env.ok(&["users", "show", "#1", "--format", "json"]));
    assert_eq!(shown["locale"], serde_json::Value::Null, "cleared");
    assert_eq!(verify(&env, &token), 0, "the link still works");
    assert_eq!(server.messages().len(), 1, "no notice");
    assert_eq!(
        edit_rows(&env),
        vec![
            r#"username "alice" -> "Alice", name "Alice Andersen" -> "Alice B""#,
            r#"name "Alice B" -> none"#,
            r#"locale none -> "pt-BR""#,
            r#"locale "pt-BR" -> none"#
        ]
    );
    let again = env.run(&["users", "edit", "alice", "--name", ""]);
    assert_exit(&again, 0);
    assert!(stderr(&again).contains("already has these values"));
    assert_eq!(edit_rows(&env).len(), 4, "nothing to do, nothing audited");
    env.ok(&["audit", "verify"]);
}

#[test]
fn a_dry_run_shows_the_change_and_changes_nothing() {
    let env = TestEnv::with_samples();
    let before = users_snapshot(&env);
    let args = [
        "users",
        "edit",
        "bob",
        "--email",
        "robert@example.org",
        "--dry-run",
    ];
    let table = env.ok(&args);
    assert!(
        table.contains("b***@example.com") && table.contains("r***@example.org"),
        "{table}"
    );
    assert!(!table.contains("robert@"), "{table}");
    let mut as_json = args.to_vec();
    as_json.extend(["--format", "json"]);
    let report = json(&env.ok(&as_json));
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["changes"][0]["new"], "r***@example.org");
    assert_eq!(users_snapshot(&env), before);
    assert!(edit_rows(&env).is_empty() && env.outbox().is_empty());
}

#[test]
fn no_notice_without_an_active_old_address() {
    let server = SmtpServer::start();
    let env = smtp_env(&server);
    for (user, why) in [
        ("carol", "carol is inactive"),
        ("dave", "dave has no valid email address"),
    ] {
        let new = format!("{user}@new.example.com");
        let out = env.run(&["users", "edit", user, "--email", &new, "--yes"]);
        assert_exit(&out, 0);
        assert!(
            stderr(&out).contains(&format!(
                "no notice of the change was mailed to the old address: {why}"
            )),
            "{}",
            stderr(&out)
        );
    }
    assert!(server.messages().is_empty());
    assert_eq!(edit_rows(&env).len(), 2);
}
