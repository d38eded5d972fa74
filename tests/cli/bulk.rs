//! `pwreset reset bulk`: plan, confirm, send to many users, and resume a run without mailing
//! anyone twice.
//!
//! Tests that look at delivery run against the in-process [`SmtpServer`] (plain SMTP on
//! loopback, `retry_backoff = "10ms"` so retries do not sleep); the others use the default file
//! transport and look at `outbox/`.

use crate::support::{OLD_PASSWORD, assert_exit, contains_bytes, json, set_old_password};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::process::Output;

use serde_json::Value;

use crate::smtp_server::{Fault, Received, SmtpServer};
use crate::support::{TestEnv, assert_fails, code, on_terminal, stderr, stdout, text_part};

const BASE_URL: &str = "https://app.example.com/reset";
const TEMP_PREFIX: &str = "Temporary password: ";
/// The users of the ten-user runs.
const USERS: usize = 10;
/// The 5th user's mail gets 550 (permanent).
const REJECTED: &str = "user05";
/// The 7th user's mail gets 421 every time (transient, retried until the retries run out).
const DEFERRED: &str = "user07";

// ---------------------------------------------------------------------------------------------
// Set-up

/// Rewrite `pwreset.toml` to send over plain SMTP to 127.0.0.1:`port`, retrying quickly.
pub(crate) fn use_smtp(env: &TestEnv, port: u16) {
    let text = format!(
        "{}\n\
         [mail]\ntransport = \"smtp\"\nfrom = \"Example <no-reply@example.com>\"\n\
         retry_backoff = \"10ms\"\n\n\
         [mail.smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\n\n\
         [links]\nbase_url = \"{BASE_URL}\"\n\n\
         [templates]\napp_name = \"Example App\"\n",
        env.store_config()
    );
    env.write("pwreset.toml", &text);
}

fn username(n: usize) -> String {
    format!("user{n:02}")
}

pub(crate) fn email(user: &str) -> String {
    format!("{user}@example.com")
}

/// An initialised store with user01..user10 (user01@example.com ...), imported from CSV, and
/// `users.txt` naming them one per line.
pub(crate) fn ten_users() -> (TestEnv, Vec<String>) {
    let env = TestEnv::initialised();
    let users: Vec<String> = (1..=USERS).map(username).collect();
    let mut csv = String::from("email,username\n");
    let mut list = String::new();
    for user in &users {
        writeln!(csv, "{},{user}", email(user)).expect("write to a String");
        writeln!(list, "{user}").expect("write to a String");
    }
    env.write("staff.csv", &csv);
    env.ok(&["users", "import", "staff.csv"]);
    env.write("users.txt", &list);
    (env, users)
}

// ---------------------------------------------------------------------------------------------
// Running pwreset and reading its output

/// `reset bulk` with these arguments.
fn bulk(env: &TestEnv, args: &[&str]) -> Output {
    let mut all = vec!["reset", "bulk"];
    all.extend_from_slice(args);
    env.run(&all)
}

/// The JSON lines of a run (`--format json`), one per user.
fn json_lines(out: &Output) -> Vec<Value> {
    stdout(out)
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(json)
        .collect()
}

/// The JSON line about `user` (by username); there must be exactly one.
fn line_for<'a>(lines: &'a [Value], user: &str) -> &'a Value {
    let found: Vec<&Value> = lines.iter().filter(|l| l["user"] == user).collect();
    assert_eq!(found.len(), 1, "one line for {user}: {lines:#?}");
    found[0]
}

/// The `(user, status, reason)` of each line, in order.
fn outcomes(lines: &[Value]) -> Vec<(String, String, Option<String>)> {
    lines
        .iter()
        .map(|l| {
            (
                l["user"].as_str().unwrap_or("-").to_owned(),
                l["status"].as_str().expect("status").to_owned(),
                l["reason"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

/// The run id from the summary line `Run RUN_ID: sent ...` on stderr.
fn run_id(out: &Output) -> String {
    let err = stderr(out);
    let id = err
        .lines()
        .find_map(|line| {
            line.strip_prefix("Run ")
                .and_then(|rest| rest.split_once(": sent "))
                .map(|(id, _)| id.to_owned())
        })
        .unwrap_or_else(|| panic!("no \"Run RUN_ID: sent\" summary on stderr:\n{err}"));
    let parts: Vec<&str> = id.split('-').collect();
    assert!(
        parts.len() == 3
            && parts[0] == "20261122"
            && parts[1] == "100000"
            && parts[2].len() == 4
            && parts[2].chars().all(|c| c.is_ascii_hexdigit()),
        "run id {id:?} is not like 20261122-100000-3f2a"
    );
    id
}

fn assert_stderr_has(out: &Output, needle: &str) {
    let err = stderr(out);
    assert!(err.contains(needle), "stderr lacks {needle:?}:\n{err}");
}

// ---------------------------------------------------------------------------------------------
// The store

/// Reset links of `user` that work (not revoked, not used).
pub(crate) fn live_tokens(env: &TestEnv, user: &str) -> i64 {
    env.db().int(
        "SELECT count(*) FROM reset_tokens t JOIN users u ON u.id = t.user_id \
         WHERE u.username = ?1 AND t.revoked_at IS NULL AND t.used_at IS NULL",
        &pwreset::vals![user],
    )
}

/// `password_hash` and `must_change_password` of `user`.
fn password_of(env: &TestEnv, user: &str) -> (Option<String>, i64) {
    env.db().query_one(
        "SELECT password_hash, must_change_password FROM users WHERE username = ?1",
        &pwreset::vals![user],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// How many items of `run` have each status.
pub(crate) fn item_statuses(env: &TestEnv, run: &str) -> BTreeMap<String, i64> {
    env.db()
        .query_vec(
            "SELECT status, count(*) FROM bulk_items WHERE run_id = ?1 GROUP BY status",
            &pwreset::vals![run],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .into_iter()
        .collect()
}

pub(crate) fn run_status(env: &TestEnv, run: &str) -> String {
    env.db().query_one(
        "SELECT status FROM bulk_runs WHERE id = ?1",
        &pwreset::vals![run],
        |r| r.get(0),
    )
}

/// The audit log as JSON rows.
fn audit(env: &TestEnv) -> Vec<Value> {
    json(&env.ok(&["audit", "--format", "json"]))
        .as_array()
        .expect("audit is an array")
        .clone()
}

// ---------------------------------------------------------------------------------------------
// Mail

/// The single envelope recipient of a message.
fn recipient(message: &Received) -> &str {
    assert_eq!(message.to.len(), 1, "one recipient: {:?}", message.to);
    &message.to[0]
}

/// Messages per envelope recipient, over all these servers.
fn per_address(servers: &[&SmtpServer]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for message in servers.iter().flat_map(|s| s.messages()) {
        *counts.entry(recipient(&message).to_owned()).or_default() += 1;
    }
    counts
}

/// The temporary password in a mail, from its `Temporary password: ` line.
fn password_in(raw: &[u8]) -> String {
    let text = text_part(raw);
    let password = text
        .lines()
        .find_map(|line| line.trim().strip_prefix(TEMP_PREFIX))
        .unwrap_or_else(|| panic!("no {TEMP_PREFIX:?} line in:\n{text}"))
        .trim()
        .to_owned();
    assert!(
        password.len() >= 12 && password.chars().all(|c| c.is_ascii_alphanumeric()),
        "{password:?} does not look like a generated password"
    );
    password
}

/// (username, password) of every mail, by the local part of its recipient.
fn passwords(messages: &[Received]) -> Vec<(String, String)> {
    messages
        .iter()
        .map(|m| {
            let to = recipient(m);
            let user = to.split('@').next().expect("a local part").to_owned();
            (user, password_in(&m.data))
        })
        .collect()
}

/// Each mailed password works for its user, and the user must change it.
fn assert_passwords_work(env: &TestEnv, mailed: &[(String, String)]) {
    for (user, password) in mailed {
        let (hash, must_change) = password_of(env, user);
        let hash = hash.unwrap_or_else(|| panic!("{user} has no password hash"));
        assert!(
            pwreset::password::verify(password, &hash),
            "the password mailed to {user} does not verify"
        );
        assert_eq!(must_change, 1, "{user} must change the temporary password");
    }
}

/// None of these passwords is in pwreset's output.
fn assert_not_printed(out: &Output, mailed: &[(String, String)]) {
    for (user, password) in mailed {
        assert!(
            !stdout(out).contains(password.as_str()),
            "stdout shows {user}'s password"
        );
        assert!(
            !stderr(out).contains(password.as_str()),
            "stderr shows {user}'s password"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 1. The scenario: one permanent and one persistent transient failure, then --resume

/// The first run of the scenario: 10 users, the 5th refused (550), the 7th deferred (421)
/// every time.
struct FirstRun {
    env: TestEnv,
    users: Vec<String>,
    server: SmtpServer,
    run_id: String,
    out: Output,
}

fn first_run(action: &str, prepare: impl FnOnce(&TestEnv)) -> FirstRun {
    let server = SmtpServer::with_faults(vec![
        Fault::RejectRcptTo {
            address: email(REJECTED),
            code: 550,
        },
        Fault::RejectRcptTo {
            address: email(DEFERRED),
            code: 421,
        },
    ]);
    let (env, users) = ten_users();
    use_smtp(&env, server.port());
    prepare(&env);
    let out = bulk(
        &env,
        &[action, "--file", "users.txt", "--yes", "--format", "json"],
    );
    assert_exit(&out, 3);
    let run_id = run_id(&out);
    let run = FirstRun {
        env,
        users,
        server,
        run_id,
        out,
    };
    check_first_run(&run, action);
    run
}

fn check_first_run(run: &FirstRun, action: &str) {
    let lines = json_lines(&run.out);
    assert_eq!(lines.len(), USERS, "one line per user: {lines:#?}");
    let server = format!("127.0.0.1:{}", run.server.port());
    for user in &run.users {
        let line = line_for(&lines, user);
        assert_eq!(line["entry"], user.as_str());
        assert_eq!(line["action"], action.trim_start_matches("--"));
        if user == REJECTED || user == DEFERRED {
            let reason = line["reason"].as_str().expect("a failure has a reason");
            let reply = if user == REJECTED { "550" } else { "421" };
            assert_eq!(line["status"], "failed", "{line}");
            assert!(
                reason.contains(&server) && reason.contains(reply),
                "{user}'s reason should name {server} and its {reply} reply: {reason}"
            );
            assert_eq!(line["recipient"], Value::Null);
        } else {
            assert_eq!(line["status"], "sent", "{line}");
            assert_eq!(line["reason"], Value::Null);
            assert_eq!(line["recipient"], "u***@example.com");
            assert!(line["expires_at"].as_str().is_some(), "{line}");
        }
    }
    let id = &run.run_id;
    assert_stderr_has(&run.out, &format!("Run {id}: sent 8, skipped 0, failed 2"));
    assert_stderr_has(
        &run.out,
        &format!("Retry the failed users with: pwreset reset bulk --resume {id}"),
    );
    let expected: BTreeMap<String, usize> = run
        .users
        .iter()
        .filter(|u| *u != REJECTED && *u != DEFERRED)
        .map(|u| (email(u), 1))
        .collect();
    assert_eq!(
        per_address(&[&run.server]),
        expected,
        "one mail per sent user"
    );
    // 10 first tries, plus the default 3 retries of the 421; the 550 is not retried.
    assert_eq!(run.server.rcpt_attempts(), USERS + 3);
    let statuses = item_statuses(&run.env, id);
    assert_eq!(statuses.get("sent"), Some(&8), "{statuses:?}");
    assert_eq!(statuses.get("failed"), Some(&2), "{statuses:?}");
}

/// Resume the run against a fresh server without faults; returns that server.
fn resume_on_fresh_server(run: &FirstRun) -> SmtpServer {
    let second = SmtpServer::start();
    use_smtp(&run.env, second.port());
    let id = &run.run_id;
    let out = bulk(&run.env, &["--resume", id, "--yes", "--format", "json"]);
    assert_exit(&out, 0);
    let mut done = outcomes(&json_lines(&out));
    done.sort(); // --generate sends in the order the hashes finish
    assert_eq!(
        done,
        vec![
            (REJECTED.to_owned(), "sent".to_owned(), None),
            (DEFERRED.to_owned(), "sent".to_owned(), None)
        ],
        "only the two failed users are done again"
    );
    assert_stderr_has(&out, &format!("Run {id}: sent 2, skipped 0, failed 0"));
    assert!(
        !stderr(&out).contains("Retry the failed"),
        "{}",
        stderr(&out)
    );

    let to_second: BTreeSet<String> = second
        .messages()
        .iter()
        .map(|m| recipient(m).to_owned())
        .collect();
    assert_eq!(second.messages().len(), 2, "{:#?}", second.messages());
    assert_eq!(
        to_second,
        BTreeSet::from([email(REJECTED), email(DEFERRED)])
    );
    let everyone: BTreeMap<String, usize> = run.users.iter().map(|u| (email(u), 1)).collect();
    assert_eq!(
        per_address(&[&run.server, &second]),
        everyone,
        "every user mailed exactly once over both runs"
    );
    assert_eq!(item_statuses(&run.env, id).get("sent"), Some(&10));
    assert_eq!(run_status(&run.env, id), "done");
    second
}

#[test]
fn link_run_with_two_refused_users_then_resume_mails_only_them() {
    let run = first_run("--link", |_| {});
    for user in &run.users {
        let expected = i64::from(user != REJECTED && user != DEFERRED);
        assert_eq!(
            live_tokens(&run.env, user),
            expected,
            "live links of {user}"
        );
    }
    let failed_tokens = run.env.count(
        "SELECT count(*) FROM reset_tokens t JOIN users u ON u.id = t.user_id \
         WHERE u.username IN ('user05', 'user07')",
    );
    assert!(failed_tokens >= 2, "the failed attempts left revoked rows");

    resume_on_fresh_server(&run);
    for user in &run.users {
        assert_eq!(live_tokens(&run.env, user), 1, "live links of {user}");
    }
}

#[test]
fn generate_run_with_two_refused_users_then_resume_mails_only_them() {
    let old_hash = std::cell::RefCell::new(String::new());
    let run = first_run("--generate", |env| {
        *old_hash.borrow_mut() = set_old_password(env, REJECTED);
    });
    let old_hash = old_hash.into_inner();

    // The refused users keep what they had: the old password, or none.
    let (hash, must_change) = password_of(&run.env, REJECTED);
    assert_eq!(hash.as_deref(), Some(old_hash.as_str()));
    assert!(pwreset::password::verify(OLD_PASSWORD, &old_hash));
    assert_eq!(must_change, 0);
    assert_eq!(password_of(&run.env, DEFERRED), (None, 0));
    let mailed = passwords(&run.server.messages());
    assert_eq!(mailed.len(), 8);
    assert_passwords_work(&run.env, &mailed);
    assert_not_printed(&run.out, &mailed);

    let second = resume_on_fresh_server(&run);
    let resumed = passwords(&second.messages());
    assert_passwords_work(&run.env, &resumed);
    let (hash, _) = password_of(&run.env, REJECTED);
    assert!(
        !pwreset::password::verify(OLD_PASSWORD, &hash.expect("a new hash")),
        "the old password was replaced"
    );
    // The users done in the first run still have the password of their one mail.
    assert_passwords_work(&run.env, &mailed);
}

// ---------------------------------------------------------------------------------------------
// 2. The plan: duplicates and skip reasons, with --dry-run

#[test]
fn dry_run_prints_the_plan_with_skip_reasons_and_changes_nothing() {
    let env = TestEnv::with_samples();
    env.write(
        "list.txt",
        "# people to reset\n\nalice\nALICE@example.com\n  # indented comment\ncarol\ndave\n\nzed\nbob\n",
    );
    let audit_rows = env.count("SELECT count(*) FROM audit_log");
    let out = bulk(
        &env,
        &[
            "--link",
            "--file",
            "list.txt",
            "--dry-run",
            "--format",
            "json",
        ],
    );
    assert_exit(&out, 0);
    let plan = json(&stdout(&out));
    let rows = plan.as_array().expect("the plan is a JSON array");
    let got: Vec<(String, Option<String>, String, Option<String>)> = rows
        .iter()
        .map(|r| {
            (
                r["entry"].as_str().expect("entry").to_owned(),
                r["user"].as_str().map(str::to_owned),
                r["status"].as_str().expect("status").to_owned(),
                r["reason"].as_str().map(str::to_owned),
            )
        })
        .collect();
    let row = |entry: &str, user: Option<&str>, status: &str, reason: Option<&str>| {
        (
            entry.to_owned(),
            user.map(str::to_owned),
            status.to_owned(),
            reason.map(str::to_owned),
        )
    };
    assert_eq!(
        got,
        vec![
            row("alice", Some("alice"), "pending", None),
            row(
                "ALICE@example.com",
                Some("alice"),
                "skipped",
                Some("duplicate")
            ),
            row("carol", Some("carol"), "skipped", Some("inactive")),
            row("dave", Some("dave"), "skipped", Some("no valid email")),
            row("zed", None, "skipped", Some("unknown")),
            row("bob", Some("bob"), "pending", None),
        ]
    );
    assert_stderr_has(&out, "Nothing was changed");

    assert_eq!(env.count("SELECT count(*) FROM reset_tokens"), 0);
    assert_eq!(env.count("SELECT count(*) FROM bulk_runs"), 0);
    assert_eq!(env.count("SELECT count(*) FROM bulk_items"), 0);
    assert_eq!(env.count("SELECT count(*) FROM audit_log"), audit_rows);
    assert!(env.outbox().is_empty(), "a dry run sends nothing");
}

// ---------------------------------------------------------------------------------------------
// 3. Cooldown

#[test]
fn a_user_sent_a_link_moments_ago_is_skipped_in_cooldown() {
    let env = TestEnv::with_samples();
    env.ok(&["send-link", "alice"]);
    env.write("list.txt", "alice\nbob\n");
    let out = bulk(
        &env,
        &["--link", "--file", "list.txt", "--yes", "--format", "json"],
    );
    assert_exit(&out, 0);
    assert_eq!(
        outcomes(&json_lines(&out)),
        vec![
            (
                "alice".to_owned(),
                "skipped".to_owned(),
                Some("in cooldown".to_owned())
            ),
            ("bob".to_owned(), "sent".to_owned(), None),
        ]
    );
    assert_stderr_has(&out, "skip alice: in cooldown");
    assert_eq!(env.outbox().len(), 2, "alice's first link and bob's");
    assert_eq!(
        live_tokens(&env, "alice"),
        1,
        "alice's first link still works"
    );
    assert_eq!(live_tokens(&env, "bob"), 1);
}

// ---------------------------------------------------------------------------------------------
// 4. Confirmation

#[test]
fn without_a_terminal_or_yes_it_refuses_and_sends_nothing() {
    let env = TestEnv::with_samples();
    env.write("list.txt", "alice\nbob\n");
    let out = bulk(&env, &["--link", "--file", "list.txt"]);
    assert_fails(&out, 2, "--yes");
    assert!(env.outbox().is_empty());
    assert_eq!(env.count("SELECT count(*) FROM reset_tokens"), 0);
    assert_eq!(
        env.count("SELECT count(*) FROM bulk_items WHERE status = 'sent'"),
        0
    );
}

#[test]
fn answering_no_on_a_terminal_aborts_and_sends_nothing() {
    let env = TestEnv::with_samples();
    env.write("list.txt", "alice\nbob\nzed\n");
    let (exit, screen) = on_terminal(
        &env,
        &["reset", "bulk", "--link", "--file", "list.txt"],
        "Send reset links to 2 users? 1 skipped",
        "n",
    );
    assert_eq!(exit, 5, "{screen}");
    assert!(env.outbox().is_empty());
    assert_eq!(env.count("SELECT count(*) FROM reset_tokens"), 0);
    assert_eq!(
        env.count("SELECT count(*) FROM bulk_items WHERE status = 'sent'"),
        0
    );
}

// ---------------------------------------------------------------------------------------------
// 5. --all and --search

#[test]
fn all_selects_every_active_user_and_skips_those_without_email() {
    let env = TestEnv::with_samples();
    let out = bulk(&env, &["--link", "--all", "--yes", "--format", "json"]);
    assert_exit(&out, 0);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 3, "alice, bob and dave; not carol: {lines:#?}");
    assert_eq!(line_for(&lines, "alice")["status"], "sent");
    assert_eq!(line_for(&lines, "bob")["status"], "sent");
    let dave = line_for(&lines, "dave");
    assert_eq!(dave["status"], "skipped");
    assert_eq!(dave["reason"], "no valid email");
    assert!(lines.iter().all(|l| l["user"] != "carol"), "{lines:#?}");
    assert_eq!(env.outbox().len(), 2);
}

#[test]
fn search_selects_inactive_users_too_and_skips_them() {
    let env = TestEnv::with_samples();
    let out = bulk(
        &env,
        &[
            "--link",
            "--search",
            "example.com",
            "--yes",
            "--format",
            "json",
        ],
    );
    assert_exit(&out, 0);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 3, "alice, bob and carol: {lines:#?}");
    assert_eq!(line_for(&lines, "alice")["status"], "sent");
    assert_eq!(line_for(&lines, "bob")["status"], "sent");
    let carol = line_for(&lines, "carol");
    assert_eq!(carol["status"], "skipped");
    assert_eq!(carol["reason"], "inactive");
    assert_eq!(env.outbox().len(), 2);
    assert_eq!(live_tokens(&env, "carol"), 0);
}

// ---------------------------------------------------------------------------------------------
// 6. stdin and CSV

#[test]
fn file_dash_reads_csv_from_stdin_using_the_email_column() {
    let env = TestEnv::with_samples();
    let out = env.run_stdin(
        &[
            "reset", "bulk", "--link", "--file", "-", "--yes", "--format", "json",
        ],
        "name,email\nAlice A,alice@example.com\n\"Brown, Bob\",BOB@example.com\n",
    );
    assert_exit(&out, 0);
    let lines = json_lines(&out);
    let entries: Vec<(&str, &str, &str)> = lines
        .iter()
        .map(|l| {
            (
                l["entry"].as_str().expect("entry"),
                l["user"].as_str().expect("user"),
                l["status"].as_str().expect("status"),
            )
        })
        .collect();
    assert_eq!(
        entries,
        vec![
            ("alice@example.com", "alice", "sent"),
            ("BOB@example.com", "bob", "sent"),
        ]
    );
    assert_eq!(env.outbox().len(), 2);
}

// ---------------------------------------------------------------------------------------------
// 7. --to

#[test]
fn to_sends_every_mail_to_that_address() {
    let server = SmtpServer::start();
    let env = TestEnv::with_samples();
    use_smtp(&env, server.port());
    let out = bulk(
        &env,
        &[
            "--link",
            "--all",
            "--to",
            "helpdesk@example.com",
            "--yes",
            "--format",
            "json",
        ],
    );
    assert_exit(&out, 0);
    let lines = json_lines(&out);
    for user in ["alice", "bob"] {
        let line = line_for(&lines, user);
        assert_eq!(line["status"], "sent");
        assert_eq!(line["recipient"], "h***@example.com");
    }
    assert_eq!(
        per_address(&[&server]),
        BTreeMap::from([("helpdesk@example.com".to_owned(), 2)])
    );
    let texts: Vec<String> = server
        .messages()
        .iter()
        .map(|m| text_part(&m.data))
        .collect();
    assert!(texts.iter().any(|t| t.contains("Alice")), "{texts:#?}");
    assert!(texts.iter().any(|t| t.contains("Bob")), "{texts:#?}");
    assert!(
        !stdout(&out).contains("helpdesk@example.com"),
        "recipients are masked"
    );
}

// ---------------------------------------------------------------------------------------------
// 8. --generate never prints a password

#[test]
fn generate_mails_passwords_and_never_prints_or_stores_them() {
    let server = SmtpServer::start();
    let (env, _users) = ten_users();
    use_smtp(&env, server.port());
    let wal = env.hold_wal();
    let out = bulk(&env, &["--generate", "--file", "users.txt", "--yes"]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("user10"),
        "a report table: {}",
        stdout(&out)
    );

    let mailed = passwords(&server.messages());
    assert_eq!(mailed.len(), USERS);
    let distinct: BTreeSet<&String> = mailed.iter().map(|(_, p)| p).collect();
    assert_eq!(distinct.len(), USERS, "every user gets their own password");
    assert_not_printed(&out, &mailed);

    let audit = stdout(&env.run(&["audit", "--format", "json"]));
    assert!(audit.contains("password.generate"), "{audit}");
    for (user, password) in &mailed {
        assert!(
            !audit.contains(password.as_str()),
            "{user}'s password is audited"
        );
        for (file, bytes) in env.store_contents() {
            assert!(
                !contains_bytes(&bytes, password),
                "{user}'s password was written to {file}"
            );
        }
    }
    drop(wal);
    // Read through pwreset's Store only now: opening it drops the WAL holder's locks.
    assert_passwords_work(&env, &mailed);
}

// ---------------------------------------------------------------------------------------------
// 9. The audit log

#[test]
fn audit_rows_carry_the_run_id() {
    let env = TestEnv::with_samples();
    let out = bulk(&env, &["--link", "--all", "--yes"]);
    assert_exit(&out, 0);
    let id = run_id(&out);
    let rows = audit(&env);
    let sends: Vec<&Value> = rows.iter().filter(|r| r["action"] == "link.send").collect();
    assert_eq!(sends.len(), 2, "alice and bob: {sends:#?}");
    for row in &sends {
        assert_eq!(row["run_id"], id.as_str(), "{row}");
        assert_eq!(row["outcome"], "ok", "{row}");
    }
    let runs: Vec<&Value> = rows.iter().filter(|r| r["action"] == "bulk.run").collect();
    assert_eq!(runs.len(), 1, "{rows:#?}");
    assert_eq!(runs[0]["run_id"], id.as_str());
    assert!(
        rows.iter()
            .any(|r| r["action"] == "bulk.plan" && r["run_id"] == id.as_str()),
        "{rows:#?}"
    );
    env.ok(&["audit", "verify"]);
}

// ---------------------------------------------------------------------------------------------
// 10. Retries

#[test]
fn a_transient_failure_that_clears_is_retried() {
    let server = SmtpServer::with_faults(vec![Fault::TempFailData { nth: 1, code: 451 }]);
    let (env, users) = ten_users();
    use_smtp(&env, server.port());
    let out = bulk(
        &env,
        &["--link", "--file", "users.txt", "--yes", "--format", "json"],
    );
    assert_exit(&out, 0);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), USERS);
    assert!(lines.iter().all(|l| l["status"] == "sent"), "{lines:#?}");
    let id = run_id(&out);
    assert_stderr_has(&out, &format!("Run {id}: sent 10, skipped 0, failed 0"));
    let everyone: BTreeMap<String, usize> = users.iter().map(|u| (email(u), 1)).collect();
    assert_eq!(per_address(&[&server]), everyone);
    for user in &users {
        assert_eq!(live_tokens(&env, user), 1, "live links of {user}");
    }
}

// ---------------------------------------------------------------------------------------------
// 11. --resume edge cases

#[test]
fn resuming_an_unknown_run_is_a_usage_error() {
    let env = TestEnv::with_samples();
    let out = bulk(&env, &["--resume", "20261122-100000-ffff", "--yes"]);
    assert_fails(&out, 2, "20261122-100000-ffff");
    assert!(env.outbox().is_empty());
}

#[test]
fn resuming_a_finished_run_has_nothing_left_to_do() {
    let env = TestEnv::with_samples();
    let out = bulk(&env, &["--link", "--all", "--yes"]);
    assert_exit(&out, 0);
    let id = run_id(&out);
    assert_eq!(env.outbox().len(), 2);
    let again = bulk(&env, &["--resume", &id, "--yes", "--format", "json"]);
    assert_exit(&again, 0);
    assert_stderr_has(&again, "nothing left to do");
    assert!(stdout(&again).trim().is_empty(), "{}", stdout(&again));
    assert_eq!(env.outbox().len(), 2, "nobody mailed again");
}

// ---------------------------------------------------------------------------------------------
// 12. --rate

#[test]
fn a_rate_cap_still_sends_everyone() {
    let env = TestEnv::with_samples();
    let out = bulk(
        &env,
        &[
            "--link", "--all", "--rate", "6000/min", "--yes", "--format", "json",
        ],
    );
    assert_exit(&out, 0);
    let sent = json_lines(&out)
        .iter()
        .filter(|l| l["status"] == "sent")
        .count();
    assert_eq!(sent, 2);
    assert_eq!(env.outbox().len(), 2);
}

#[test]
fn a_bad_rate_is_a_usage_error() {
    let env = TestEnv::with_samples();
    for rate in ["0", "fast"] {
        let out = bulk(&env, &["--link", "--all", "--rate", rate, "--yes"]);
        assert_exit(&out, 2);
        assert!(stderr(&out).contains(rate), "{}", stderr(&out));
    }
    assert!(env.outbox().is_empty());
    assert_eq!(env.count("SELECT count(*) FROM bulk_runs"), 0);
}

/// Wait (bounded) until the outbox holds at least `n` mails.
fn wait_for_outbox(env: &TestEnv, n: usize) {
    for _ in 0..200 {
        if env.outbox().len() >= n {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("the outbox never reached {n} mails");
}

#[test]
fn two_processes_on_one_run_mail_each_user_once() {
    let (env, users) = ten_users();
    env.write("four.txt", &users[..4].join("\n"));
    let slow = env
        .pty_command(&[
            "reset", "bulk", "--link", "--file", "four.txt", "--yes", "--rate", "60/min",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the first run");
    wait_for_outbox(&env, 1);
    let run: String = env
        .db()
        .query_one("SELECT id FROM bulk_runs", &[], |r| r.get(0));
    let resume = env.run(&[
        "reset", "bulk", "--resume", &run, "--yes", "--rate", "6000/min",
    ]);
    assert_eq!(code(&resume), 0, "{}", stderr(&resume));
    let first = slow.wait_with_output().expect("first run ends");
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let mut mailed: Vec<String> = env
        .outbox()
        .iter()
        .map(|raw| {
            mailparse::parse_mail(raw)
                .expect("mail")
                .headers
                .iter()
                .find(|h| h.get_key() == "To")
                .expect("To")
                .get_value()
        })
        .collect();
    mailed.sort();
    let expected: Vec<String> = users[..4].iter().map(|u| email(u)).collect();
    assert_eq!(mailed, expected, "each user exactly once");
    assert_eq!(
        live_tokens(&env, &users[0]) + live_tokens(&env, &users[3]),
        2
    );
}

#[test]
fn ctrl_c_stops_after_the_user_in_progress_and_says_how_to_resume() {
    let (env, users) = ten_users();
    env.write("three.txt", &users[..3].join("\n"));
    let child = env
        .pty_command(&[
            "reset",
            "bulk",
            "--link",
            "--file",
            "three.txt",
            "--yes",
            "--rate",
            "6/min",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the run");
    wait_for_outbox(&env, 1);
    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(interrupted.success());
    let out = child.wait_with_output().expect("the run ends");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("Interrupted. Resume with: pwreset reset bulk --resume "),
        "{err}"
    );
    assert_eq!(env.outbox().len(), 1, "no user after the one in progress");
    let run: String = env
        .db()
        .query_one("SELECT id FROM bulk_runs", &[], |r| r.get(0));
    assert_eq!(run_status(&env, &run), "interrupted");
    let statuses = item_statuses(&env, &run);
    assert_eq!(
        (statuses.get("sent"), statuses.get("pending")),
        (Some(&1), Some(&2)),
        "{statuses:?}"
    );
}

#[test]
fn a_terminal_gets_a_progress_bar_and_a_pipe_does_not() {
    let (env, users) = ten_users();
    env.write("three.txt", &users[..3].join("\n"));
    let args = [
        "reset",
        "bulk",
        "--link",
        "--file",
        "three.txt",
        "--yes",
        "--rate",
        "300/min",
    ];
    let mut command = env.pty_command(&args);
    command.env("TERM", "xterm"); // indicatif draws nothing on a "dumb" terminal
    let mut session =
        rexpect::session::spawn_command(command, Some(20_000)).expect("spawn on a pty");
    let screen = session.exp_eof().expect("the run ends");
    assert!(
        screen.contains("/3 users"),
        "a progress bar with a count: {screen}"
    );
    assert!(screen.contains("ETA"), "and an ETA: {screen}");
    assert!(
        screen.contains("user01"),
        "the report is readable on a terminal of unknown width: {screen}"
    );
    let (env, users) = ten_users();
    env.write("three.txt", &users[..3].join("\n"));
    let out = env.run(&args);
    assert!(
        !stderr(&out).contains("ETA"),
        "no bar off a terminal: {}",
        stderr(&out)
    );
}

#[test]
fn a_closed_stdout_does_not_hide_failures() {
    let (env, users) = ten_users();
    let server = SmtpServer::with_faults(vec![Fault::RejectRcptTo {
        address: email(&users[1]),
        code: 550,
    }]);
    use_smtp(&env, server.port());
    env.write("three.txt", &users[..3].join("\n"));
    let mut child = env
        .pty_command(&["reset", "bulk", "--link", "--file", "three.txt", "--yes"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("the run ends");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains(": sent 2, skipped 0, failed 1"), "{err}");
}
