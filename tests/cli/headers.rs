//! MAIL-2 at send time: a display name or address the application wrote into the store with CR,
//! LF or NUL is refused for that user (exit 4, or a bulk `skipped` line with the reason) before
//! any token row or mail intent, while the others are mailed.

use crate::support::*;

/// Users written straight into the store, as the application might: a display name carrying a
/// header injection, and an address ending in NUL.
fn with_bad_users() -> TestEnv {
    let env = TestEnv::with_samples();
    let db = env.db();
    // PostgreSQL's text cannot hold NUL at all, so there the address ends in a CR.
    let bad_end = if db.conn().is_postgres() { "\r" } else { "\0" };
    db.execute(
        "INSERT INTO users (username, email, display_name, active, created_at, updated_at) \
         VALUES ('mallory', 'mallory@example.com', ?1, 1, 0, 0), ('nul', ?2, 'Nul', 1, 0, 0)",
        &pwreset::vals![
            "Mal\r\nBcc: evil@example.com",
            format!("nul@example.com{bad_end}")
        ],
    );
    env
}

fn assert_nothing_issued(env: &TestEnv) {
    assert!(env.outbox().is_empty(), "nothing was mailed");
    assert_eq!(env.count("SELECT count(*) FROM reset_tokens"), 0);
    assert_eq!(env.count("SELECT count(*) FROM mail_intents"), 0);
}

#[test]
fn send_link_refuses_a_stored_name_or_address_with_cr_lf_or_nul() {
    let env = with_bad_users();
    let out = env.run(&["send-link", "mallory"]);
    assert_fails(
        &out,
        4,
        "mallory's display name contains CR, LF or NUL, which cannot go into a mail header",
    );
    assert!(stderr(&out).contains("hint: see the user with `pwreset users show '#"));
    let out = env.run(&["send-link", "nul"]);
    assert_fails(&out, 4, "nul's email address contains CR, LF or NUL");
    assert_nothing_issued(&env);
}

#[test]
fn generate_email_refuses_a_stored_name_with_cr_lf() {
    let env = with_bad_users();
    let before = users_snapshot(&env);
    let out = env.run(&["reset", "generate", "mallory", "--email", "--yes"]);
    assert_fails(&out, 4, "mallory's display name contains CR, LF or NUL");
    assert_nothing_issued(&env);
    assert_eq!(users_snapshot(&env), before, "no password was set");
}

#[test]
fn a_bulk_run_skips_those_users_with_the_reason_and_mails_the_others() {
    let env = with_bad_users();
    let out = env.run(&[
        "reset", "bulk", "--link", "--all", "--yes", "--format", "json",
    ]);
    assert_exit(&out, 0);
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(json)
        .collect();
    for bad in ["mallory", "nul"] {
        let line = lines
            .iter()
            .find(|l| l["user"] == bad)
            .unwrap_or_else(|| panic!("a line for {bad}: {lines:#?}"));
        assert_eq!(line["status"], "skipped", "{line}");
        assert_eq!(line["reason"], "CR, LF or NUL in name or email", "{line}");
    }
    for good in ["alice", "bob"] {
        assert!(
            lines
                .iter()
                .any(|l| l["user"] == good && l["status"] == "sent"),
            "{good} sent: {lines:#?}"
        );
    }
    assert_eq!(env.outbox().len(), 2);
    let raw: Vec<u8> = env.outbox().concat();
    assert!(!contains_bytes(&raw, "evil@example.com"));
    assert_eq!(
        env.count(
            "SELECT count(*) FROM reset_tokens t JOIN users u ON u.id = t.user_id \
             WHERE u.username IN ('mallory', 'nul')"
        ),
        0
    );
}

#[test]
fn generate_show_sets_the_password_but_sends_no_notice_to_such_a_user() {
    let env = with_bad_users();
    let args = ["--yes", "reset", "generate", "mallory", "--show"];
    let mut session = rexpect::session::spawn_command(env.pty_command(&args), Some(30_000))
        .expect("spawn on a pty");
    let screen = session.exp_eof().expect("pwreset ends");
    let status = session.process().wait().expect("wait");
    assert!(
        matches!(status, rexpect::process::WaitStatus::Exited(_, 0)),
        "{status:?}: {screen}"
    );
    assert!(
        screen.contains("Temporary password for mallory"),
        "{screen}"
    );
    assert!(
        screen.contains("mallory's display name contains CR, LF or NUL"),
        "the notice is refused, with the reason: {screen}"
    );
    assert!(env.outbox().is_empty(), "no notice was mailed");
}
