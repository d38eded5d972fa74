//! `pwreset send-link`: a reset link sent over real SMTP to the in-process test server.
//!
//! Every test starts its own [`SmtpServer`] and [`TestEnv`], rewrites `pwreset.toml` to point
//! at that server, runs pwreset as a process and then looks at what the server received, what
//! pwreset printed, and what the store holds.

use crate::support::{json, users_snapshot};
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::Output;

use crate::smtp_server::{Fault, Received, SmtpServer};
use crate::support::{TestEnv, assert_fails, code, stderr, stdout};

const BASE_URL: &str = "https://app.example.com/reset";
const LINK_PREFIX: &str = "https://app.example.com/reset?token=";
const TOKEN_CHARS: usize = 43;
const NEW_PASSWORD: &str = "violet-harbour-tractor-41";
const SMTP_USER: &str = "mailer";
const SMTP_PASSWORD: &str = "Smtp-Secret-quartz-7741";

// ---------------------------------------------------------------------------------------------
// Configuration

/// `"..."` for a TOML basic string (test paths are plain ASCII).
fn toml_str(text: &str) -> String {
    format!("{text:?}")
}

fn path_str(path: &Path) -> String {
    toml_str(path.to_str().expect("UTF-8 path"))
}

/// `[mail.smtp]` for plain SMTP to the server on 127.0.0.1.
fn plain(port: u16) -> String {
    format!("host = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\n")
}

/// `[mail.smtp]` for STARTTLS to `localhost`, trusting the server's test CA.
fn starttls(server: &SmtpServer) -> String {
    let ca = server.ca_pem_path().expect("the server has TLS on");
    format!(
        "{}ca_file = {}\n",
        starttls_untrusted(server.port()),
        path_str(&ca)
    )
}

/// `[mail.smtp]` for STARTTLS to `localhost` without any extra CA.
fn starttls_untrusted(port: u16) -> String {
    format!("host = \"localhost\"\nport = {port}\ntls = \"starttls\"\n")
}

/// Rewrite `pwreset.toml`: SMTP with these `[mail.smtp]` lines, plus extra `[mail]` lines.
fn configure(env: &TestEnv, mail_extra: &str, smtp: &str) {
    let text = format!(
        "{}\n\
         [mail]\ntransport = \"smtp\"\nfrom = \"Example <no-reply@example.com>\"\n{mail_extra}\n\
         [mail.smtp]\n{smtp}\n\
         [links]\nbase_url = \"{BASE_URL}\"\n\n\
         [templates]\napp_name = \"Example App\"\n",
        env.store_config()
    );
    env.write("pwreset.toml", &text);
}

/// The sample users, with pwreset sending over plain SMTP to `server`.
fn env_for(server: &SmtpServer) -> TestEnv {
    let env = TestEnv::with_samples();
    configure(&env, "", &plain(server.port()));
    env
}

// ---------------------------------------------------------------------------------------------
// Running pwreset

/// Run pwreset with `input` on stdin.
fn run_with_stdin(env: &TestEnv, args: &[&str], input: &str) -> Output {
    env.cmd()
        .args(args)
        .write_stdin(input.to_owned())
        .output()
        .expect("run pwreset")
}

/// Run pwreset with the SMTP password in `PWRESET_SMTP_PASSWORD`.
fn run_with_password(env: &TestEnv, args: &[&str], password: &str) -> Output {
    env.cmd()
        .env("PWRESET_SMTP_PASSWORD", password)
        .args(args)
        .output()
        .expect("run pwreset")
}

/// The exit code of `pwreset tokens verify` for this token.
fn verify(env: &TestEnv, token: &str) -> i32 {
    code(&run_with_stdin(
        env,
        &["tokens", "verify"],
        &format!("{token}\n"),
    ))
}

/// The `link.send` rows of the audit log, oldest first.
fn link_audit(env: &TestEnv) -> Vec<serde_json::Value> {
    json(&env.ok(&["audit", "--format", "json"]))
        .as_array()
        .expect("audit is an array")
        .iter()
        .filter(|row| row["action"] == "link.send")
        .cloned()
        .collect()
}

/// `tokens list --all --format json`, as (id, state) pairs ordered by id.
fn token_states(env: &TestEnv) -> Vec<(i64, String)> {
    let mut states: Vec<(i64, String)> =
        json(&env.ok(&["tokens", "list", "--all", "--format", "json"]))
            .as_array()
            .expect("tokens list is an array")
            .iter()
            .map(|row| {
                (
                    row["id"].as_i64().expect("id"),
                    row["standing"].as_str().expect("standing").to_owned(),
                )
            })
            .collect();
    states.sort();
    states
}

fn token_rows(env: &TestEnv) -> i64 {
    env.count("SELECT count(*) FROM reset_tokens")
}

// ---------------------------------------------------------------------------------------------
// Reading the mail

/// A received message, parsed as MIME.
struct Mail {
    text: String,
    html: String,
    content_type: String,
    parts: Vec<String>,
}

fn parse(message: &Received) -> Mail {
    let parsed = mailparse::parse_mail(&message.data).expect("the message parses as MIME");
    let part = |mime: &str| {
        parsed
            .subparts
            .iter()
            .find(|p| p.ctype.mimetype == mime)
            .unwrap_or_else(|| panic!("no {mime} part in:\n{}", message.text()))
            .get_body()
            .expect("decodable body")
    };
    Mail {
        text: part("text/plain"),
        html: part("text/html"),
        content_type: parsed.ctype.mimetype.clone(),
        parts: parsed
            .subparts
            .iter()
            .map(|p| p.ctype.mimetype.clone())
            .collect(),
    }
}

/// The token of the link in `text`: exactly 43 base64url characters after `?token=`.
fn token_in(text: &str) -> String {
    let start = text
        .find(LINK_PREFIX)
        .unwrap_or_else(|| panic!("no link {LINK_PREFIX}... in:\n{text}"))
        + LINK_PREFIX.len();
    let token: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    assert_eq!(
        token.len(),
        TOKEN_CHARS,
        "token {token:?} is not 43 base64url characters"
    );
    token
}

/// The only message the server has, checked to be for `to`; returns its link's token.
fn only_message_to(server: &SmtpServer, to: &str) -> (Received, String) {
    let messages = server.messages();
    assert_eq!(messages.len(), 1, "expected one message: {messages:#?}");
    let message = messages.into_iter().next().expect("one message");
    assert_eq!(message.to, vec![to.to_owned()], "envelope recipients");
    let token = token_in(&parse(&message).text);
    (message, token)
}

/// A link that was sent: its token and its row id.
struct Link {
    token: String,
    id: i64,
}

/// Send a link to alice that must succeed (with `extra` flags) and return it.
fn send_alice(env: &TestEnv, server: &SmtpServer, extra: &[&str]) -> Link {
    let mut args = vec!["send-link", "alice@example.com"];
    args.extend_from_slice(extra);
    env.ok(&args);
    let message = server.messages().pop().expect("a message arrived");
    Link {
        token: token_in(&parse(&message).text),
        id: env.count("SELECT max(id) FROM reset_tokens"),
    }
}

/// Neither the token nor anything that looks like a link is in pwreset's output.
fn assert_no_link_in_output(out: &Output, token: &str) {
    for (name, text) in [("stdout", stdout(out)), ("stderr", stderr(out))] {
        assert!(!text.contains(token), "{name} shows the token:\n{text}");
        assert!(!text.contains("token="), "{name} shows a link:\n{text}");
    }
}

/// A refused or rejected run reached no SMTP server at all.
fn assert_nothing_sent(server: &SmtpServer) {
    assert!(server.messages().is_empty(), "{:#?}", server.messages());
    assert_eq!(server.rcpt_attempts(), 0, "the server saw a RCPT TO");
}

// ---------------------------------------------------------------------------------------------
// 1-3: a link is sent, redeems, and reports in JSON

#[test]
fn sends_one_multipart_message_with_the_link_and_its_expiry() {
    let server = SmtpServer::start();
    let env = env_for(&server);

    let out = env.run(&["send-link", "alice@example.com"]);
    assert_eq!(code(&out), 0, "stderr:\n{}", stderr(&out));

    let (message, token) = only_message_to(&server, "alice@example.com");
    assert_eq!(message.from, "no-reply@example.com", "envelope sender");
    assert_eq!(message.auth_user, None);
    assert_eq!(
        message.header("From").as_deref(),
        Some("Example <no-reply@example.com>")
    );
    let to = message.header("To").expect("To header");
    assert!(to.contains("alice@example.com"), "To: {to}");
    assert_eq!(
        message.header("Subject").as_deref(),
        Some("Reset your Example App password")
    );
    let date = message.header("Date").expect("Date header");
    assert!(date.contains("22 Nov 2026 10:00:00"), "Date: {date}");
    let id = message.header("Message-ID").expect("Message-ID header");
    assert!(
        id.starts_with('<') && id.ends_with('>') && id.contains('@'),
        "Message-ID: {id}"
    );

    let mail = parse(&message);
    assert_eq!(mail.content_type, "multipart/alternative");
    assert_eq!(mail.parts, vec!["text/plain", "text/html"]);
    let link = format!("{LINK_PREFIX}{token}");
    assert!(mail.text.contains(&link), "text part:\n{}", mail.text);
    assert!(
        mail.text.contains("2026-11-22 11:00 UTC"),
        "absolute expiry:\n{}",
        mail.text
    );
    assert!(
        mail.text.contains("1 hour"),
        "relative expiry:\n{}",
        mail.text
    );
    assert!(
        mail.text.contains("If you did not ask for this"),
        "what to do if not requested:\n{}",
        mail.text
    );
    assert!(mail.text.contains("Example App"), "{}", mail.text);
    // The HTML part links to the same URL, readable in the source.
    let html = &mail.html;
    assert!(
        html.contains(&format!("href=\"{link}\"")),
        "html part:\n{}",
        mail.html
    );
    assert!(html.contains("2026-11-22 11:00 UTC"), "{html}");

    assert_eq!(
        stdout(&out),
        "",
        "stdout carries nothing without --format json"
    );
    let err = stderr(&out);
    assert!(
        err.contains(
            "Reset link sent to a***@example.com for alice (expires 2026-11-22 11:00 UTC, in 1h)"
        ),
        "stderr:\n{err}"
    );
    assert_no_link_in_output(&out, &token);

    // The store holds the digest only, and one live link.
    assert_eq!(
        env.count("SELECT count(*) FROM reset_tokens WHERE revoked_at IS NULL AND used_at IS NULL"),
        1
    );
    let stored: String = env
        .db()
        .query_one("SELECT token_sha256 FROM reset_tokens", &[], |r| r.get(0));
    assert_ne!(stored, token);
    assert_eq!(stored.len(), 64, "hex SHA-256: {stored}");

    let audit = link_audit(&env);
    assert_eq!(audit.len(), 1, "{audit:#?}");
    assert_eq!(audit[0]["outcome"], "ok");
    assert_eq!(audit[0]["target"], "alice");
    assert!(
        !audit[0].to_string().contains(&token),
        "audit shows the token"
    );
}

#[test]
fn the_mailed_token_redeems_once() {
    let server = SmtpServer::start();
    let env = env_for(&server);
    env.ok(&["send-link", "alice"]);
    let (_, token) = only_message_to(&server, "alice@example.com");
    assert_eq!(verify(&env, &token), 0, "the fresh link verifies");

    let out = run_with_stdin(
        &env,
        &["tokens", "redeem"],
        &format!("{token}\n{NEW_PASSWORD}\n"),
    );
    assert_eq!(code(&out), 0, "redeem failed:\n{}", stderr(&out));
    let hash: Option<String> = env.db().query_one(
        "SELECT password_hash FROM users WHERE username = 'alice'",
        &[],
        |r| r.get(0),
    );
    assert!(
        hash.is_some_and(|h| h.starts_with("$argon2id$")),
        "a new argon2id hash is stored"
    );

    assert_eq!(verify(&env, &token), 7, "a used token no longer verifies");
    let again = run_with_stdin(
        &env,
        &["tokens", "redeem"],
        &format!("{token}\n{NEW_PASSWORD}-2\n"),
    );
    assert_eq!(code(&again), 7, "a used token does not redeem twice");
}

#[test]
fn json_output_describes_the_link_without_the_token() {
    let server = SmtpServer::start();
    let env = env_for(&server);
    let out = env.run(&["--format", "json", "send-link", "alice@example.com"]);
    assert_eq!(code(&out), 0, "stderr:\n{}", stderr(&out));
    let (_, token) = only_message_to(&server, "alice@example.com");

    let text = stdout(&out);
    let value = json(&text);
    let object = value.as_object().expect("one JSON object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "expires_at",
            "recipient",
            "superseded",
            "token_id",
            "user",
            "user_id"
        ]
    );
    assert_eq!(value["user"], "alice");
    assert_eq!(value["user_id"], 1);
    assert_eq!(value["recipient"], "a***@example.com");
    assert_eq!(value["expires_at"], "2026-11-22T11:00:00Z");
    assert_eq!(
        value["token_id"],
        env.count("SELECT max(id) FROM reset_tokens")
    );
    assert_eq!(value["superseded"], 0);
    assert_no_link_in_output(&out, &token);
}

// ---------------------------------------------------------------------------------------------
// 4: the server does not take the mail: exit 6, the new token revoked, nothing else changed

/// After a failed send: exit 6 naming the server (and its reply code), the newest token
/// revoked, `older` still live, the users unchanged, and the failure audited.
fn assert_undelivered(
    env: &TestEnv,
    out: &Output,
    server: &str,
    reply_code: Option<&str>,
    older: &Link,
    users_before: &[String],
) {
    let err = stderr(out);
    assert_eq!(code(out), 6, "expected exit 6; stderr:\n{err}");
    assert!(
        err.contains(server),
        "stderr does not name {server}:\n{err}"
    );
    if let Some(reply_code) = reply_code {
        assert!(
            err.contains(reply_code),
            "stderr lacks the reply code {reply_code}:\n{err}"
        );
    }
    assert_eq!(stdout(out), "");
    assert!(!err.contains("token="), "stderr shows a link:\n{err}");

    let newest = env.count("SELECT max(id) FROM reset_tokens");
    assert!(newest > older.id, "a new token row was written");
    assert_eq!(
        env.count(&format!(
            "SELECT count(*) FROM reset_tokens WHERE id = {newest} AND revoked_at IS NULL"
        )),
        0,
        "the undelivered token is revoked"
    );
    assert_eq!(
        env.count("SELECT count(*) FROM reset_tokens WHERE revoked_at IS NULL"),
        1,
        "only the older link is unrevoked"
    );
    assert_eq!(
        env.count("SELECT min(id) FROM reset_tokens WHERE revoked_at IS NULL"),
        older.id
    );
    let states = token_states(env);
    assert!(
        states.contains(&(newest, "failed".to_owned())),
        "{states:?}"
    );
    // The refusal is kept with the link, for the admin to trace in the server's logs.
    let listed = json(&env.ok(&["tokens", "list", "--all", "--format", "json"]));
    let failed = listed
        .as_array()
        .expect("tokens list is an array")
        .iter()
        .find(|row| row["id"] == newest)
        .expect("the failed link is listed");
    let reply = failed["mail_reply"].as_str().expect("the reply is kept");
    assert_eq!(failed["standing_reason"].as_str(), Some(reply));
    assert_eq!(
        failed["state"], "revoked",
        "the old field keeps its meaning"
    );
    if let Some(reply_code) = reply_code {
        assert!(reply.contains(reply_code), "{reply}");
    }
    assert_eq!(failed["sent_at"], serde_json::Value::Null);
    assert!(
        states.contains(&(older.id, "sent".to_owned())),
        "{states:?}"
    );
    assert_eq!(verify(env, &older.token), 0, "the older link still works");
    assert_eq!(users_snapshot(env), users_before, "users changed");

    let last = link_audit(env).pop().expect("an audit row");
    assert_eq!(last["outcome"], "failed", "{last}");
    assert_eq!(last["target"], "alice");
}

/// Send alice a link, then another (`--force`) that the faulty server does not take.
fn fault_on_second_message(fault: Fault, reply_code: &str) {
    let server = SmtpServer::with_faults(vec![fault]);
    let env = env_for(&server);
    let older = send_alice(&env, &server, &[]);
    let users_before = users_snapshot(&env);

    let out = env.run(&["send-link", "alice@example.com", "--force"]);

    let name = format!("127.0.0.1:{}", server.port());
    assert_undelivered(&env, &out, &name, Some(reply_code), &older, &users_before);
    assert_eq!(server.messages().len(), 1, "only the first message arrived");
}

#[test]
fn rcpt_refused_550_revokes_the_new_link_only() {
    fault_on_second_message(Fault::RejectRcpt { nth: 2, code: 550 }, "550");
}

#[test]
fn rcpt_temp_failure_451_revokes_the_new_link_only() {
    fault_on_second_message(Fault::RejectRcpt { nth: 2, code: 451 }, "451");
}

#[test]
fn data_421_revokes_the_new_link_only() {
    fault_on_second_message(Fault::TempFailData { nth: 2, code: 421 }, "421");
}

#[test]
fn data_554_revokes_the_new_link_only() {
    fault_on_second_message(Fault::TempFailData { nth: 2, code: 554 }, "554");
}

#[test]
fn connection_dropped_after_greeting_revokes_the_new_link_only() {
    let server = SmtpServer::start();
    let env = env_for(&server);
    let older = send_alice(&env, &server, &[]);
    let users_before = users_snapshot(&env);

    let dropper = SmtpServer::with_faults(vec![Fault::DropAfterGreeting]);
    configure(&env, "", &plain(dropper.port()));
    let out = env.run(&["send-link", "alice@example.com", "--force"]);

    let name = format!("127.0.0.1:{}", dropper.port());
    assert_undelivered(&env, &out, &name, None, &older, &users_before);
    assert_eq!(server.messages().len(), 1);
    assert!(dropper.messages().is_empty());
}

#[test]
fn a_failed_send_starts_no_cooldown() {
    let server = SmtpServer::with_faults(vec![Fault::RejectRcpt { nth: 1, code: 451 }]);
    let env = env_for(&server);
    let out = env.run(&["send-link", "alice@example.com"]);
    assert_fails(&out, 6, "451");
    assert!(server.messages().is_empty());

    // Retrying at once, without --force, is not refused: the failed link does not count.
    let retry = send_alice(&env, &server, &[]);
    assert_eq!(server.messages().len(), 1);
    assert_eq!(verify(&env, &retry.token), 0);
    assert_eq!(
        token_states(&env),
        vec![(1, "failed".to_owned()), (2, "sent".to_owned())]
    );
}

// ---------------------------------------------------------------------------------------------
// 5: supersede and cooldown

#[test]
fn a_new_link_supersedes_the_older_one() {
    let server = SmtpServer::start();
    let env = env_for(&server);
    let first = send_alice(&env, &server, &[]);
    assert_eq!(verify(&env, &first.token), 0);

    let out = env.run(&[
        "--format",
        "json",
        "send-link",
        "alice@example.com",
        "--force",
    ]);
    assert_eq!(code(&out), 0, "stderr:\n{}", stderr(&out));
    assert_eq!(json(&stdout(&out))["superseded"], 1);
    let messages = server.messages();
    assert_eq!(messages.len(), 2);
    let second = token_in(&parse(&messages[1]).text);
    assert_ne!(first.token, second);

    assert_eq!(
        verify(&env, &first.token),
        7,
        "the first link is superseded"
    );
    assert_eq!(verify(&env, &second), 0, "the second link works");
    let states = token_states(&env);
    assert!(
        states.contains(&(first.id, "revoked".to_owned())),
        "{states:?}"
    );
}

#[test]
fn a_second_link_within_the_cooldown_is_refused() {
    let server = SmtpServer::start();
    let env = env_for(&server);
    let first = send_alice(&env, &server, &[]);

    let out = env.run(&["send-link", "alice@example.com"]);
    assert_fails(&out, 4, "2026-11-22 10:01 UTC");
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert_eq!(server.messages().len(), 1, "nothing more was sent");
    assert_eq!(server.rcpt_attempts(), 1);
    assert_eq!(token_rows(&env), 1, "no token was written");
    assert_eq!(verify(&env, &first.token), 0, "the first link still works");
    let last = link_audit(&env).pop().expect("an audit row");
    assert_eq!(last["outcome"], "refused");
}

// ---------------------------------------------------------------------------------------------
// 6: refusals

/// `send-link USER` is refused with exit 4 and `needle` on stderr, nothing is sent or stored,
/// and the refusal is audited.
fn assert_refused(user: &str, needle: &str) {
    let server = SmtpServer::start();
    let env = env_for(&server);
    let users_before = users_snapshot(&env);
    let out = env.run(&["send-link", user]);
    assert_fails(&out, 4, needle);
    assert_eq!(stdout(&out), "");
    assert_nothing_sent(&server);
    assert_eq!(token_rows(&env), 0, "no token was written");
    assert_eq!(users_snapshot(&env), users_before);
    let audit = link_audit(&env);
    assert_eq!(audit.len(), 1, "{audit:#?}");
    assert_eq!(audit[0]["outcome"], "refused", "{}", audit[0]);
    assert_eq!(audit[0]["target"], user, "{}", audit[0]);
}

#[test]
fn inactive_user_is_refused_with_a_hint_to_activate() {
    assert_refused("carol", "pwreset users activate carol");
}

#[test]
fn user_without_email_is_refused() {
    assert_refused("dave", "dave has no valid email address");
}

#[test]
fn unknown_user_is_refused() {
    assert_refused("zed", "zed");
}

// ---------------------------------------------------------------------------------------------
// 7: where the mail goes

#[test]
fn to_sends_the_link_to_another_address() {
    let server = SmtpServer::start();
    let env = env_for(&server);
    let out = env.run(&["send-link", "alice", "--to", "helpdesk@example.com"]);
    assert_eq!(code(&out), 0, "stderr:\n{}", stderr(&out));
    let (message, token) = only_message_to(&server, "helpdesk@example.com");
    let to = message.header("To").expect("To header");
    assert!(to.contains("helpdesk@example.com"), "To: {to}");
    assert!(
        !message.text().contains("alice@example.com"),
        "alice is not a recipient"
    );
    assert!(
        stderr(&out).contains("h***@example.com"),
        "{}",
        stderr(&out)
    );
    assert_eq!(verify(&env, &token), 0, "the link resets alice");
    let last = link_audit(&env).pop().expect("audit row");
    assert_eq!(last["recipient"], "helpdesk@example.com");
    assert_eq!(last["target"], "alice");
}

#[test]
fn deliver_to_admin_sends_to_the_admin_address() {
    let server = SmtpServer::start();
    let env = TestEnv::with_samples();
    configure(
        &env,
        "deliver_to = \"admin\"\nadmin_email = \"ops@example.com\"\n",
        &plain(server.port()),
    );
    env.ok(&["send-link", "alice@example.com"]);
    let (message, _) = only_message_to(&server, "ops@example.com");
    assert!(
        message
            .header("To")
            .is_some_and(|to| to.contains("ops@example.com"))
    );
}

#[test]
fn to_must_be_an_email_address() {
    let server = SmtpServer::start();
    let env = env_for(&server);
    let out = env.run(&["send-link", "alice", "--to", "not-an-email"]);
    assert_fails(&out, 2, "--to");
    assert_nothing_sent(&server);
    assert_eq!(token_rows(&env), 0);
}

#[test]
fn a_malformed_to_is_refused_while_parsing_before_anything_is_read() {
    let server = SmtpServer::start();
    let env = env_for(&server);
    let audit_rows = env.count("SELECT count(*) FROM audit_log");
    for args in [
        &["send-link", "nobody", "--to", "not-an-email"][..],
        &[
            "reset",
            "generate",
            "nobody",
            "--to",
            "not-an-email",
            "--yes",
        ],
        &[
            "reset",
            "bulk",
            "--link",
            "--all",
            "--to",
            "not-an-email",
            "--yes",
        ],
    ] {
        let out = env.run(args);
        assert_fails(&out, 2, "error: --to: ");
        assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    }
    assert_eq!(
        env.count("SELECT count(*) FROM audit_log"),
        audit_rows,
        "no user was looked up, so nothing was audited"
    );
    assert_eq!(token_rows(&env), 0);
    assert_nothing_sent(&server);
}

// ---------------------------------------------------------------------------------------------
// 8: link lifetime

#[test]
fn ttl_sets_the_expiry_in_the_mail_and_the_store() {
    let server = SmtpServer::start();
    let env = env_for(&server);
    let out = env.run(&["send-link", "alice", "--ttl", "30m"]);
    assert_eq!(code(&out), 0, "stderr:\n{}", stderr(&out));
    assert!(
        stderr(&out).contains("(expires 2026-11-22 10:30 UTC, in 30m)"),
        "{}",
        stderr(&out)
    );
    let (message, _) = only_message_to(&server, "alice@example.com");
    let text = parse(&message).text;
    assert!(text.contains("2026-11-22 10:30 UTC"), "{text}");
    assert!(text.contains("30 minutes"), "{text}");
    assert!(!text.contains("1 hour"), "{text}");
    assert_eq!(
        token_states(&env).len(),
        1,
        "one token row for the one link"
    );
    let row = &json(&env.ok(&["tokens", "list", "--format", "json"]))[0];
    assert_eq!(row["expires_at"], "2026-11-22T10:30:00Z");
}

#[test]
fn ttl_outside_5m_to_24h_or_not_a_duration_is_a_usage_error() {
    let server = SmtpServer::start();
    let env = env_for(&server);
    for ttl in ["2m", "25h", "soon"] {
        let out = env.run(&["send-link", "alice", "--ttl", ttl]);
        assert_fails(&out, 2, "--ttl");
    }
    assert_nothing_sent(&server);
    assert_eq!(token_rows(&env), 0);
}

// ---------------------------------------------------------------------------------------------
// 9: --print-link

#[test]
fn print_link_refuses_when_stdout_is_not_a_terminal() {
    let server = SmtpServer::start();
    let env = env_for(&server);
    let out = env.run(&["send-link", "alice", "--print-link"]);
    assert_fails(&out, 2, "--print-link");
    assert_eq!(stdout(&out), "");
    assert_nothing_sent(&server);
    assert_eq!(token_rows(&env), 0);
}

// ---------------------------------------------------------------------------------------------
// 10: STARTTLS and AUTH

#[test]
fn starttls_with_the_test_ca_delivers() {
    let server = SmtpServer::builder().starttls().start();
    let env = TestEnv::with_samples();
    configure(&env, "", &starttls(&server));
    let out = env.run(&["send-link", "alice@example.com"]);
    assert_eq!(code(&out), 0, "stderr:\n{}", stderr(&out));
    let (message, token) = only_message_to(&server, "alice@example.com");
    assert_eq!(message.auth_user, None);
    assert_eq!(verify(&env, &token), 0);
}

#[test]
fn starttls_without_the_ca_is_not_trusted() {
    let server = SmtpServer::builder().starttls().start();
    let env = TestEnv::with_samples();
    configure(&env, "", &starttls_untrusted(server.port()));
    let out = env.run(&["send-link", "alice@example.com"]);
    assert_fails(&out, 6, &format!("localhost:{}", server.port()));
    assert!(
        stderr(&out).contains("certificate"),
        "the reason is the certificate:\n{}",
        stderr(&out)
    );
    assert!(server.messages().is_empty());
    assert_eq!(server.rcpt_attempts(), 0, "nothing was sent unverified");
    assert_eq!(
        env.count("SELECT count(*) FROM reset_tokens WHERE revoked_at IS NULL"),
        0
    );
}

/// `[mail.smtp]` for STARTTLS with AUTH as [`SMTP_USER`], plus `extra` lines.
fn auth_smtp(server: &SmtpServer, extra: &str) -> String {
    format!("{}username = \"{SMTP_USER}\"\n{extra}", starttls(server))
}

#[test]
fn auth_with_the_password_from_the_environment() {
    let server = SmtpServer::builder().auth(SMTP_USER, SMTP_PASSWORD).start();
    let env = TestEnv::with_samples();
    configure(&env, "", &auth_smtp(&server, ""));
    let out = run_with_password(&env, &["send-link", "alice@example.com"], SMTP_PASSWORD);
    assert_eq!(code(&out), 0, "stderr:\n{}", stderr(&out));
    let (message, token) = only_message_to(&server, "alice@example.com");
    assert_eq!(message.auth_user.as_deref(), Some(SMTP_USER));
    assert_eq!(verify(&env, &token), 0);
}

#[test]
fn auth_with_a_wrong_password_is_exit_6_and_revokes_the_link() {
    let server = SmtpServer::builder().auth(SMTP_USER, SMTP_PASSWORD).start();
    let env = TestEnv::with_samples();
    configure(&env, "", &auth_smtp(&server, ""));
    let out = run_with_password(
        &env,
        &["send-link", "alice@example.com"],
        "not-the-password-1234",
    );
    assert_fails(&out, 6, &format!("localhost:{}", server.port()));
    assert!(stderr(&out).contains("535"), "{}", stderr(&out));
    assert!(server.messages().is_empty());
    assert_eq!(server.rcpt_attempts(), 0);
    assert_eq!(
        env.count("SELECT count(*) FROM reset_tokens WHERE revoked_at IS NULL"),
        0
    );
    assert_eq!(token_states(&env), vec![(1, "failed".to_owned())]);
    let last = link_audit(&env).pop().expect("audit row");
    assert_eq!(last["outcome"], "failed");
}

#[test]
fn auth_without_any_password_is_a_config_error() {
    let server = SmtpServer::builder().auth(SMTP_USER, SMTP_PASSWORD).start();
    let env = TestEnv::with_samples();
    configure(&env, "", &auth_smtp(&server, ""));
    let out = env.run(&["send-link", "alice@example.com"]);
    assert_fails(&out, 8, "PWRESET_SMTP_PASSWORD");
    assert_nothing_sent(&server);
    assert_eq!(token_rows(&env), 0);
}

/// Write the SMTP password to `smtp-password` with `mode`; returns the file.
fn password_file(env: &TestEnv, mode: u32) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = env.write("smtp-password", &format!("{SMTP_PASSWORD}\n"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    path
}

#[test]
fn auth_with_a_0600_password_file() {
    let server = SmtpServer::builder().auth(SMTP_USER, SMTP_PASSWORD).start();
    let env = TestEnv::with_samples();
    let file = password_file(&env, 0o600);
    let extra = format!("password_file = {}\n", path_str(&file));
    configure(&env, "", &auth_smtp(&server, &extra));
    let out = env.run(&["send-link", "alice@example.com"]);
    assert_eq!(code(&out), 0, "stderr:\n{}", stderr(&out));
    let (message, _) = only_message_to(&server, "alice@example.com");
    assert_eq!(message.auth_user.as_deref(), Some(SMTP_USER));
}

#[test]
fn a_password_file_readable_by_others_is_refused() {
    let server = SmtpServer::builder().auth(SMTP_USER, SMTP_PASSWORD).start();
    let env = TestEnv::with_samples();
    let file = password_file(&env, 0o644);
    let extra = format!("password_file = {}\n", path_str(&file));
    configure(&env, "", &auth_smtp(&server, &extra));
    let out = env.run(&["send-link", "alice@example.com"]);
    assert_fails(&out, 8, "password_file");
    assert!(stderr(&out).contains("644"), "{}", stderr(&out));
    assert!(!stderr(&out).contains(SMTP_PASSWORD));
    assert_nothing_sent(&server);
    assert_eq!(token_rows(&env), 0);
}

// ---------------------------------------------------------------------------------------------
// 11: plain SMTP only to loopback and never with credentials

/// A listener nobody serves; [`connections_waiting`] says whether anyone connected.
fn idle_listener() -> TcpListener {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0")
}

/// Whether a connection is queued on `listener`. pwreset has exited by then, so a connection
/// it made has completed its handshake and waits in the accept queue.
fn connections_waiting(listener: &TcpListener) -> bool {
    listener.set_nonblocking(true).expect("non-blocking");
    match listener.accept() {
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
        Err(e) => panic!("accept: {e}"),
    }
}

#[test]
fn plain_smtp_with_a_username_is_refused_before_connecting() {
    let server = SmtpServer::start();
    let env = TestEnv::with_samples();
    let smtp = format!("{}username = \"u\"\n", plain(server.port()));
    configure(&env, "", &smtp);
    let out = run_with_password(&env, &["send-link", "alice@example.com"], SMTP_PASSWORD);
    assert_fails(&out, 8, "mail.smtp.tls");
    assert_nothing_sent(&server);
    assert_eq!(token_rows(&env), 0);
    assert_eq!(
        env.count("SELECT count(*) FROM audit_log WHERE action = 'link.send'"),
        0
    );

    // Not even a TCP connection is opened.
    let listener = idle_listener();
    let port = listener.local_addr().expect("address").port();
    configure(&env, "", &format!("{}username = \"u\"\n", plain(port)));
    let out = run_with_password(&env, &["send-link", "alice@example.com"], SMTP_PASSWORD);
    assert_eq!(code(&out), 8, "stderr:\n{}", stderr(&out));
    assert!(!connections_waiting(&listener), "pwreset connected");
}

#[test]
fn plain_smtp_to_a_non_loopback_host_is_refused() {
    // 0.0.0.0 is not a loopback address, but connecting to it reaches this machine's
    // listeners, so if the check were missing the test server would get the mail.
    let server = SmtpServer::start();
    let env = TestEnv::with_samples();
    let smtp = format!(
        "host = \"0.0.0.0\"\nport = {}\ntls = \"none\"\n",
        server.port()
    );
    configure(&env, "", &smtp);
    let out = env.run(&["send-link", "alice@example.com"]);
    assert_fails(&out, 8, "loopback");
    assert_nothing_sent(&server);
    assert_eq!(token_rows(&env), 0);
}

// ---------------------------------------------------------------------------------------------
// 12: the SMTP password is never shown or stored

#[test]
fn the_smtp_password_never_appears_in_output_audit_or_store() {
    let wrong = "Wrong-Secret-basalt-5512";
    let server = SmtpServer::builder().auth(SMTP_USER, SMTP_PASSWORD).start();
    let env = TestEnv::with_samples();
    configure(&env, "", &auth_smtp(&server, ""));

    let mut outputs = vec![
        run_with_password(
            &env,
            &["-v", "send-link", "alice@example.com"],
            SMTP_PASSWORD,
        ),
        run_with_password(
            &env,
            &["-v", "--format", "json", "send-link", "bob@example.com"],
            SMTP_PASSWORD,
        ),
        run_with_password(
            &env,
            &["-v", "send-link", "alice@example.com", "--force"],
            wrong,
        ),
    ];
    assert_eq!(code(&outputs[0]), 0, "stderr:\n{}", stderr(&outputs[0]));
    assert_eq!(code(&outputs[1]), 0, "stderr:\n{}", stderr(&outputs[1]));
    assert_eq!(code(&outputs[2]), 6, "stderr:\n{}", stderr(&outputs[2]));
    assert_eq!(server.messages().len(), 2);
    outputs.push(env.run(&["audit", "--format", "json"]));
    outputs.push(env.run(&["tokens", "list", "--all", "--format", "json"]));

    for secret in [SMTP_PASSWORD, wrong] {
        for out in &outputs {
            for text in [stdout(out), stderr(out)] {
                assert!(!text.contains(secret), "output shows the password:\n{text}");
            }
        }
        for message in server.messages() {
            assert!(
                !message.text().contains(secret),
                "the mail carries the password"
            );
        }
        for (file, bytes) in env.store_contents() {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{file} holds the password"
            );
        }
    }
    // The audit log did record the three attempts, so it was searched for something.
    assert_eq!(link_audit(&env).len(), 3);
}
