//! `pwreset reset generate`: a random temporary password, emailed (the operator never sees it)
//! or shown once on a terminal.
//!
//! Email mode runs against the in-process [`SmtpServer`] (plain SMTP on loopback) or the default
//! file transport; show mode runs pwreset on a pseudo-terminal, because it refuses to print the
//! password anywhere else.

use crate::support::{
    OLD_PASSWORD, assert_exit, contains_bytes, json, set_old_password, users_snapshot,
};

use mailparse::MailHeaderMap as _;

use crate::smtp_server::{Fault, Received, SmtpServer};
use crate::support::{
    TestEnv, assert_fails, code, html_part, on_terminal, on_terminal_unprompted, stderr, stdout,
    text_part,
};

/// The fixed clock of the tests, in Unix seconds (2026-11-22T10:00:00Z).
const NOW_SECS: i64 = 1_795_341_600;
/// The default lifetime of a temporary password.
const DAY_SECS: i64 = 86_400;
/// Generated passwords: letters and digits without look-alikes.
const ALPHABET: &str = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// The default length of a generated password.
const LENGTH: usize = 16;
const SHOWN_PREFIX: &str = "Temporary password for ";

// ---------------------------------------------------------------------------------------------
// Configuration

/// Rewrite `pwreset.toml` to send over plain SMTP to `server` on 127.0.0.1, with extra `[mail]`
/// lines.
fn use_smtp(env: &TestEnv, server: &SmtpServer, mail_extra: &str) {
    let port = server.port();
    let text = format!(
        "{}\n\
         [mail]\ntransport = \"smtp\"\nfrom = \"Example <no-reply@example.com>\"\n{mail_extra}\n\
         [mail.smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\n\n\
         [links]\nbase_url = \"https://app.example.com/reset\"\n\n\
         [templates]\napp_name = \"Example App\"\n",
        env.store_config()
    );
    env.write("pwreset.toml", &text);
}

/// The sample users, with pwreset sending over plain SMTP to `server`.
fn smtp_env(server: &SmtpServer) -> TestEnv {
    let env = TestEnv::with_samples();
    use_smtp(&env, server, "");
    env
}

/// Keep the default file transport, but add `[mail]` `notify_on_change = false`.
fn disable_notices(env: &TestEnv) {
    let config = std::fs::read_to_string(env.path("pwreset.toml")).expect("read config");
    assert!(config.contains("transport = \"file\"\n"), "{config}");
    env.write(
        "pwreset.toml",
        &config.replace(
            "transport = \"file\"\n",
            "transport = \"file\"\nnotify_on_change = false\n",
        ),
    );
}

// ---------------------------------------------------------------------------------------------
// The store and the audit log

/// The password columns of one user.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Account {
    hash: Option<String>,
    must_change: i64,
    temp_expires_at: Option<i64>,
    changed_at: Option<i64>,
}

fn account(env: &TestEnv, username: &str) -> Account {
    env.db().query_one(
        "SELECT password_hash, must_change_password, temp_password_expires_at, \
         password_changed_at FROM users WHERE username = ?1",
        &pwreset::vals![username],
        |r| {
            Ok(Account {
                hash: r.get(0)?,
                must_change: r.get(1)?,
                temp_expires_at: r.get(2)?,
                changed_at: r.get(3)?,
            })
        },
    )
}

/// The stored hash of a user, which must be set.
fn stored_hash(env: &TestEnv, username: &str) -> String {
    account(env, username)
        .hash
        .unwrap_or_else(|| panic!("{username} has no password hash"))
}

/// The `password.generate` rows of the audit log, oldest first.
fn generate_audit(env: &TestEnv) -> Vec<serde_json::Value> {
    json(&env.ok(&["audit", "--format", "json"]))
        .as_array()
        .expect("audit is an array")
        .iter()
        .filter(|row| row["action"] == "password.generate")
        .cloned()
        .collect()
}

fn generate_rows_with(env: &TestEnv, outcome: &str) -> usize {
    generate_audit(env)
        .iter()
        .filter(|row| row["outcome"] == outcome)
        .count()
}

/// The exit code of `pwreset tokens verify` for this token.
fn verify_token(env: &TestEnv, token: &str) -> i32 {
    code(&env.run_stdin(&["tokens", "verify"], &format!("{token}\n")))
}

// ---------------------------------------------------------------------------------------------
// Passwords in mail and on the screen

/// `text` is a generated password: 16 characters of the alphabet.
fn assert_generated(text: &str) {
    assert_eq!(
        text.chars().count(),
        LENGTH,
        "{text:?} is not {LENGTH} characters"
    );
    assert!(
        text.chars().all(|c| ALPHABET.contains(c)),
        "{text:?} has characters outside the alphabet"
    );
}

/// The password in a mail's text part, from its `Temporary password: ` line.
fn password_in_mail(text: &str) -> String {
    let line = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("Temporary password: "))
        .unwrap_or_else(|| panic!("no \"Temporary password: \" line in:\n{text}"));
    let password = line.trim().to_owned();
    assert_generated(&password);
    password
}

/// The password shown on the terminal after `Temporary password for USER: `.
fn password_on_screen(screen: &str, username: &str) -> String {
    let prefix = format!("{SHOWN_PREFIX}{username}: ");
    let start = screen
        .find(&prefix)
        .unwrap_or_else(|| panic!("no {prefix:?} on the screen:\n{screen}"))
        + prefix.len();
    let password: String = screen[start..]
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    assert_generated(&password);
    password
}

/// The only message the server has, checked to be for `to`.
fn only_message_to(server: &SmtpServer, to: &str) -> Received {
    let messages = server.messages();
    assert_eq!(messages.len(), 1, "expected one message: {messages:#?}");
    let message = messages.into_iter().next().expect("one message");
    assert_eq!(message.to, vec![to.to_owned()], "envelope recipients");
    message
}

// ---------------------------------------------------------------------------------------------
// 1: email mode over SMTP

#[test]
fn emails_a_temporary_password_and_stores_only_its_hash() {
    let server = SmtpServer::start();
    let env = smtp_env(&server);
    // On SQLite, keep a connection open without checkpoints, so what pwreset writes stays in
    // the WAL: it holds a shared lock, so pwreset is not the last connection to close and does
    // not checkpoint and delete the WAL.
    let wal = env.hold_wal();

    let out = env.run(&["--yes", "reset", "generate", "alice"]);
    assert_exit(&out, 0);

    let message = only_message_to(&server, "alice@example.com");
    assert_eq!(
        message.header("Subject").as_deref(),
        Some("Your new temporary Example App password")
    );
    let text = text_part(&message.data);
    let password = password_in_mail(&text);
    for needle in [
        "User name: alice",
        "Log in with these details",
        "The password is temporary",
        "choose a new one when you log in",
        "stops working in 24 hours, at 2026-11-23 10:00 UTC",
    ] {
        assert!(text.contains(needle), "text part lacks {needle:?}:\n{text}");
    }
    let html = html_part(&message.data);
    assert!(html.contains(&password), "html part lacks the password");

    let err = stderr(&out);
    assert!(
        err.contains("Temporary password for alice emailed to a***@example.com"),
        "{err}"
    );
    assert_eq!(
        stdout(&out),
        "",
        "stdout carries nothing without --format json"
    );
    let audit = env.run(&["audit", "--format", "json"]);
    assert_exit(&audit, 0);
    let rows = generate_audit(&env);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["outcome"], "ok");
    assert_eq!(rows[0]["target"], "alice");

    for (name, text) in [
        ("stdout", stdout(&out)),
        ("stderr", err),
        ("audit", stdout(&audit)),
    ] {
        assert!(
            !text.contains(&password),
            "{name} shows the password:\n{text}"
        );
    }
    for (file, bytes) in env.store_contents() {
        assert!(
            !contains_bytes(&bytes, &password),
            "{file} holds the password"
        );
    }
    if wal.is_some() {
        assert!(
            !std::fs::read(env.path("pwreset.db-wal"))
                .unwrap_or_default()
                .is_empty(),
            "the WAL was checkpointed away, so the scan proved nothing"
        );
    }
    drop(wal);

    // Read through pwreset's Store only now: opening it drops the WAL holder's locks.
    let stored = account(&env, "alice");
    let hash = stored.hash.clone().expect("a hash is stored");
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(
        pwreset::password::verify(&password, &hash),
        "the mailed password does not verify against the stored hash"
    );
    assert_eq!(stored.must_change, 1);
    assert_eq!(stored.temp_expires_at, Some(NOW_SECS + DAY_SECS));
    assert_eq!(stored.changed_at, Some(NOW_SECS));
}

#[test]
fn json_output_describes_the_reset_without_the_password() {
    let server = SmtpServer::start();
    let env = smtp_env(&server);
    let out = env.run(&["--yes", "--format", "json", "reset", "generate", "alice"]);
    assert_exit(&out, 0);
    let message = only_message_to(&server, "alice@example.com");
    let password = password_in_mail(&text_part(&message.data));

    let text = stdout(&out);
    assert!(
        !text.contains(&password),
        "JSON shows the password:\n{text}"
    );
    assert!(!stderr(&out).contains(&password), "{}", stderr(&out));
    let value = json(&text);
    let object = value.as_object().expect("one JSON object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "emailed_to",
            "expires_at",
            "must_change_password",
            "shown",
            "user",
            "user_id"
        ]
    );
    assert_eq!(value["user"], "alice");
    assert_eq!(value["user_id"], 1);
    assert_eq!(value["emailed_to"], "a***@example.com");
    assert_eq!(value["shown"], false);
    assert_eq!(value["expires_at"], "2026-11-23T10:00:00Z");
    assert_eq!(value["must_change_password"], true);
}

// ---------------------------------------------------------------------------------------------
// 2: the mail is not accepted: exit 6, the old password still works

fn assert_mail_failure_keeps_old_password(server: &SmtpServer) {
    let env = smtp_env(server);
    let old_hash = set_old_password(&env, "alice");
    let before = users_snapshot(&env);

    let out = env.run(&["--yes", "reset", "generate", "alice"]);
    assert_fails(&out, 6, "the old one still works");
    assert!(
        stderr(&out).contains(&format!("127.0.0.1:{}", server.port())),
        "the error does not name the server:\n{}",
        stderr(&out)
    );
    assert_eq!(stdout(&out), "");
    assert!(server.messages().is_empty(), "{:#?}", server.messages());

    assert_eq!(users_snapshot(&env), before, "a user changed");
    assert_eq!(
        account(&env, "alice").hash.as_deref(),
        Some(old_hash.as_str())
    );
    assert!(
        pwreset::password::verify(OLD_PASSWORD, &stored_hash(&env, "alice")),
        "the old password no longer works"
    );
    let rows = generate_audit(&env);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["outcome"], "failed");
    assert_eq!(rows[0]["target"], "alice");
}

#[test]
fn a_rejected_recipient_leaves_the_old_password() {
    let server = SmtpServer::with_faults(vec![Fault::RejectRcpt { nth: 1, code: 550 }]);
    assert_mail_failure_keeps_old_password(&server);
    assert_eq!(server.rcpt_attempts(), 1, "the server saw the RCPT TO");
}

#[test]
fn a_dropped_connection_leaves_the_old_password() {
    let server = SmtpServer::with_faults(vec![Fault::DropAfterGreeting]);
    assert_mail_failure_keeps_old_password(&server);
}

// ---------------------------------------------------------------------------------------------
// 3: --no-force-change and --to

#[test]
fn no_force_change_leaves_must_change_off() {
    let server = SmtpServer::start();
    let env = smtp_env(&server);
    let out = env.run(&["--yes", "reset", "generate", "alice", "--no-force-change"]);
    assert_exit(&out, 0);
    let message = only_message_to(&server, "alice@example.com");
    let password = password_in_mail(&text_part(&message.data));

    let stored = account(&env, "alice");
    assert_eq!(stored.must_change, 0, "--no-force-change set must_change");
    assert_eq!(stored.temp_expires_at, Some(NOW_SECS + DAY_SECS));
    assert!(pwreset::password::verify(
        &password,
        stored.hash.as_deref().expect("a hash")
    ));
    assert!(
        !stderr(&out).contains("must be changed"),
        "{}",
        stderr(&out)
    );
    let rows = generate_audit(&env);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["outcome"], "ok");
}

#[test]
fn to_mails_the_password_to_another_address() {
    let server = SmtpServer::start();
    let env = smtp_env(&server);
    let out = env.run(&[
        "--yes",
        "reset",
        "generate",
        "alice",
        "--to",
        "helpdesk@example.com",
    ]);
    assert_exit(&out, 0);
    let message = only_message_to(&server, "helpdesk@example.com");
    let to = message.header("To").expect("To header");
    assert!(to.contains("helpdesk@example.com"), "To: {to}");
    assert!(!to.contains("alice@"), "To: {to}");
    let text = text_part(&message.data);
    assert!(text.contains("User name: alice"), "{text}");
    let password = password_in_mail(&text);
    assert!(pwreset::password::verify(
        &password,
        &stored_hash(&env, "alice")
    ));
    assert!(
        stderr(&out).contains("h***@example.com"),
        "{}",
        stderr(&out)
    );
}

// ---------------------------------------------------------------------------------------------
// 4: show mode on a terminal

#[test]
fn show_prints_the_password_once_and_notifies_the_user() {
    let env = TestEnv::with_samples();
    let (exit, screen) =
        on_terminal_unprompted(&env, &["--yes", "reset", "generate", "alice", "--show"]);
    assert_eq!(exit, 0, "{screen}");
    let password = password_on_screen(&screen, "alice");
    assert!(screen.contains("must change it at first login"), "{screen}");
    assert!(screen.contains("temporary"), "{screen}");
    assert!(
        pwreset::password::verify(&password, &stored_hash(&env, "alice")),
        "the shown password does not verify"
    );
    let stored = account(&env, "alice");
    assert_eq!(stored.must_change, 1);
    assert_eq!(stored.temp_expires_at, Some(NOW_SECS + DAY_SECS));

    let mails = env.outbox();
    assert_eq!(mails.len(), 1, "exactly one mail, the notice");
    let raw = &mails[0];
    let parsed = mailparse::parse_mail(raw).expect("MIME");
    let headers = parsed.get_headers();
    let subject = headers.get_first_value("Subject").expect("Subject");
    assert_eq!(subject, "Your Example App password was reset");
    let to = headers.get_first_value("To").expect("To");
    assert!(to.contains("alice@example.com"), "To: {to}");
    let text = text_part(raw);
    assert!(text.contains("reset the password"), "{text}");
    assert!(!text.contains(&password), "the notice carries the password");
    assert!(
        !html_part(raw).contains(&password),
        "the notice carries the password"
    );
    assert!(
        !contains_bytes(raw, &password),
        "the notice carries the password"
    );

    let rows = generate_audit(&env);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["outcome"], "ok");
    assert!(!rows[0].to_string().contains(&password), "audit shows it");
}

#[test]
fn show_without_notices_sends_no_mail() {
    let env = TestEnv::with_samples();
    disable_notices(&env);
    let (exit, screen) =
        on_terminal_unprompted(&env, &["--yes", "reset", "generate", "alice", "--show"]);
    assert_eq!(exit, 0, "{screen}");
    let password = password_on_screen(&screen, "alice");
    assert!(pwreset::password::verify(
        &password,
        &stored_hash(&env, "alice")
    ));
    assert!(env.outbox().is_empty(), "a mail was sent");
}

// ---------------------------------------------------------------------------------------------
// 5: show is refused into a pipe and with JSON

#[test]
fn show_into_a_pipe_is_refused() {
    let env = TestEnv::with_samples();
    let before = users_snapshot(&env);
    let out = env.run(&["--yes", "reset", "generate", "alice", "--show"]);
    assert_fails(&out, 2, "terminal");
    assert_eq!(stdout(&out), "");
    assert_eq!(account(&env, "alice").hash, None);
    assert_eq!(users_snapshot(&env), before);
    assert_eq!(generate_rows_with(&env, "ok"), 0);
    assert!(env.outbox().is_empty());
}

#[test]
fn show_with_json_is_refused_even_on_a_terminal() {
    let env = TestEnv::with_samples();
    let before = users_snapshot(&env);
    let (exit, screen) = on_terminal_unprompted(
        &env,
        &[
            "--yes", "--format", "json", "reset", "generate", "alice", "--show",
        ],
    );
    assert_eq!(exit, 2, "{screen}");
    assert!(screen.contains("--format json"), "{screen}");
    assert!(!screen.contains(SHOWN_PREFIX), "{screen}");
    assert_eq!(users_snapshot(&env), before);
    assert_eq!(generate_rows_with(&env, "ok"), 0);
    assert!(env.outbox().is_empty());

    // The same in a pipe.
    let out = env.run(&[
        "--yes", "--format", "json", "reset", "generate", "alice", "--show",
    ]);
    assert_exit(&out, 2);
    assert_eq!(stdout(&out), "");
    assert_eq!(users_snapshot(&env), before);
}

// ---------------------------------------------------------------------------------------------
// 6-7: confirmation

const PROMPT: &str = "Replace the password of alice";

#[test]
fn answering_no_at_the_prompt_changes_nothing() {
    let env = TestEnv::with_samples();
    let before = users_snapshot(&env);
    let (exit, screen) = on_terminal(&env, &["reset", "generate", "alice"], PROMPT, "n");
    assert_eq!(exit, 5, "{screen}");
    assert_eq!(users_snapshot(&env), before);
    assert!(env.outbox().is_empty(), "a mail was sent");
    assert_eq!(generate_rows_with(&env, "ok"), 0);
}

#[test]
fn answering_yes_at_the_prompt_emails_the_password() {
    let env = TestEnv::with_samples();
    let (exit, screen) = on_terminal(&env, &["reset", "generate", "alice"], PROMPT, "y");
    assert_eq!(exit, 0, "{screen}");
    assert!(screen.contains("a***@example.com"), "{screen}");
    let mails = env.outbox();
    assert_eq!(mails.len(), 1);
    let password = password_in_mail(&text_part(&mails[0]));
    assert!(
        !screen.contains(&password),
        "the terminal shows the password"
    );
    assert!(pwreset::password::verify(
        &password,
        &stored_hash(&env, "alice")
    ));
}

#[test]
fn without_a_terminal_it_needs_yes() {
    let env = TestEnv::with_samples();
    let before = users_snapshot(&env);
    let out = env.run(&["reset", "generate", "alice"]);
    assert_fails(&out, 2, "--yes");
    assert_eq!(users_snapshot(&env), before);
    assert!(env.outbox().is_empty());
    assert_eq!(generate_rows_with(&env, "ok"), 0);
}

// ---------------------------------------------------------------------------------------------
// 8: refusals

#[test]
fn an_inactive_user_is_refused_in_both_modes() {
    let env = TestEnv::with_samples();
    let before = users_snapshot(&env);
    assert_fails(
        &env.run(&["--yes", "reset", "generate", "carol"]),
        4,
        "carol",
    );
    let (exit, screen) =
        on_terminal_unprompted(&env, &["--yes", "reset", "generate", "carol", "--show"]);
    assert_eq!(exit, 4, "{screen}");
    assert!(!screen.contains(SHOWN_PREFIX), "{screen}");
    assert_eq!(users_snapshot(&env), before);
    assert!(env.outbox().is_empty());
    let rows = generate_audit(&env);
    assert_eq!(rows.len(), 2, "{rows:#?}");
    assert!(rows.iter().all(|r| r["outcome"] == "refused"), "{rows:#?}");
}

#[test]
fn a_user_without_email_can_only_be_shown_a_password() {
    let env = TestEnv::with_samples();
    let before = users_snapshot(&env);
    assert_fails(
        &env.run(&["--yes", "reset", "generate", "dave"]),
        4,
        "email",
    );
    assert_eq!(users_snapshot(&env), before);
    assert_eq!(generate_rows_with(&env, "refused"), 1);

    let (exit, screen) =
        on_terminal_unprompted(&env, &["--yes", "reset", "generate", "dave", "--show"]);
    assert_eq!(exit, 0, "{screen}");
    let password = password_on_screen(&screen, "dave");
    assert!(pwreset::password::verify(
        &password,
        &stored_hash(&env, "dave")
    ));
    assert_eq!(account(&env, "dave").must_change, 1);
    assert!(env.outbox().is_empty(), "dave has no address for a notice");
}

#[test]
fn an_unknown_user_is_refused_and_audited() {
    let env = TestEnv::with_samples();
    let before = users_snapshot(&env);
    assert_fails(&env.run(&["--yes", "reset", "generate", "zed"]), 4, "zed");
    assert_eq!(users_snapshot(&env), before);
    assert!(env.outbox().is_empty());
    let rows = generate_audit(&env);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["outcome"], "refused");
    assert_eq!(rows[0]["target"], "zed");
}

// ---------------------------------------------------------------------------------------------
// 9: outstanding reset links

#[test]
fn outstanding_links_of_the_user_are_revoked() {
    let env = TestEnv::with_samples();
    let alice = env.link_for("alice");
    let bob = env.link_for("bob");
    assert_eq!(verify_token(&env, &alice), 0, "the link is live at first");

    let out = env.run(&["--yes", "reset", "generate", "alice"]);
    assert_exit(&out, 0);
    assert_eq!(verify_token(&env, &alice), 7, "alice's link still works");
    assert_eq!(verify_token(&env, &bob), 0, "bob's link was revoked too");
    let rows = generate_audit(&env);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let detail = rows[0]["detail"].as_str().expect("detail");
    assert!(detail.contains("revoked 1"), "{detail}");
}

#[test]
fn the_change_notice_follows_deliver_to_admin() {
    let server = SmtpServer::start();
    let env = TestEnv::with_samples();
    use_smtp(
        &env,
        &server,
        "deliver_to = \"admin\"\nadmin_email = \"ops@example.com\"",
    );
    let (exit, screen) =
        on_terminal_unprompted(&env, &["reset", "generate", "alice", "--show", "--yes"]);
    assert_eq!(exit, 0, "{screen}");
    let notice = only_message_to(&server, "ops@example.com");
    assert!(
        notice
            .text()
            .contains("An administrator has reset the password"),
        "rehearsals never mail the user"
    );
}

#[test]
fn show_with_to_but_without_email_is_a_usage_error() {
    let env = TestEnv::with_samples();
    let out = env.run(&[
        "reset",
        "generate",
        "bob",
        "--show",
        "--to",
        "helpdesk@example.com",
        "--yes",
    ]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("add --email"), "{}", stderr(&out));
    assert!(env.outbox().is_empty());
}
