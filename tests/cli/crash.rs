//! Crashes and concurrent processes: pwreset killed at every step of a mail carrying a secret
//! (a debug-only hook, `PWRESET_TEST_CRASH_AT`, makes the moment exact), bulk runs killed with
//! SIGKILL at seeded moments, and several processes resuming one run at once. After each:
//! the store is intact, no live link exists without its mail, nobody is mailed twice, and the
//! next command says what happened to whom, once.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::bulk::item_statuses;
use crate::smtp_server::{Received, SmtpServer};
use crate::support::{
    Backend, NOW, OLD_PASSWORD, TestEnv, assert_exit, json, set_old_password, stderr, stdout,
    token_in,
};

/// Every wait in this module ends by then, or the test fails saying what it waited for.
const DEADLINE: Duration = Duration::from_secs(60);

/// The steps of point 2 at which a single command is aborted.
const STEPS: [&str; 3] = ["after-intent", "after-send", "before-commit"];

/// Send over plain SMTP to `server`, with short timeouts and retries.
fn smtp_config(env: &TestEnv, server: &SmtpServer) {
    let port = server.port();
    env.write(
        "pwreset.toml",
        &format!(
            "{}\n\
             [mail]\ntransport = \"smtp\"\nfrom = \"Example <no-reply@example.com>\"\n\
             retry_backoff = \"10ms\"\n\n\
             [mail.smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\ntimeout = \"2s\"\n\n\
             [links]\nbase_url = \"https://app.example.com/reset\"\n",
            env.store_config()
        ),
    );
}

/// Run pwreset with the crash hook armed at `step`; it must die by a signal.
fn crash_at(env: &TestEnv, step: &str, args: &[&str]) {
    let out = env
        .cmd()
        .env("PWRESET_TEST_CRASH_AT", step)
        .args(args)
        .output()
        .expect("run pwreset");
    assert_eq!(
        out.status.code(),
        None,
        "{args:?} at {step} must abort, not exit:\n{}",
        stderr(&out)
    );
}

/// The lines of stderr that report an interrupted mail.
fn interrupted_lines(out: &Output) -> Vec<String> {
    stderr(out)
        .lines()
        .filter(|l| l.contains("an earlier pwreset was interrupted"))
        .map(str::to_owned)
        .collect()
}

/// The audit rows of `action` with outcome `interrupted`.
fn interrupted_audits(env: &TestEnv, action: &str) -> i64 {
    env.count(&format!(
        "SELECT count(*) FROM audit_log WHERE action = '{action}' AND outcome = 'interrupted'"
    ))
}

#[test]
fn send_link_killed_at_each_step_leaves_a_dead_link_and_says_so_once() {
    for step in STEPS {
        let server = SmtpServer::start();
        let env = TestEnv::with_samples();
        smtp_config(&env, &server);
        crash_at(&env, step, &["send-link", "alice"]);
        let mailed = usize::from(step != "after-intent");
        assert_eq!(server.messages().len(), mailed, "{step}");
        assert_eq!(live_links(&env), 0, "{step}: no live link after a crash");

        let next = env.run(&["tokens", "list", "--all", "--format", "json"]);
        assert_exit(&next, 0);
        let lines = interrupted_lines(&next);
        assert_eq!(lines.len(), 1, "{step}: one warning: {}", stderr(&next));
        assert!(
            lines[0].contains("alice a reset link")
                && lines[0].contains("the link was revoked")
                && lines[0].contains("pwreset send-link alice"),
            "{step}: {}",
            lines[0]
        );
        let tokens = json(&stdout(&next));
        assert_eq!(tokens[0]["standing"], "interrupted", "{step}: {tokens}");
        assert_eq!(interrupted_audits(&env, "link.send"), 1, "{step}");
        assert_eq!(
            env.count("SELECT count(*) FROM mail_intents WHERE resolved_at IS NULL"),
            0
        );

        let show = env.run(&["users", "show", "alice", "--format", "json"]);
        assert!(interrupted_lines(&show).is_empty(), "warned once only");
        let shown = json(&stdout(&show));
        let note = shown["interrupted_mail"].as_str().expect("shown");
        assert!(note.starts_with("reset link (revoked) to a***@"), "{note}");
        assert_eq!(interrupted_audits(&env, "link.send"), 1, "audited once");

        env.ok(&["send-link", "alice", "--force"]);
        assert_eq!(server.messages().len(), mailed + 1);
        assert_eq!(live_links(&env), 1, "{step}: a new link works");
    }
}

#[test]
fn generate_email_killed_at_each_step_keeps_the_old_password_and_says_so_once() {
    for step in STEPS {
        let server = SmtpServer::start();
        let env = TestEnv::with_samples();
        smtp_config(&env, &server);
        let old = set_old_password(&env, "alice");
        let link = link_for_smtp(&env, &server);
        crash_at(
            &env,
            step,
            &["reset", "generate", "alice", "--email", "--yes"],
        );
        let mailed = usize::from(step != "after-intent");
        assert_eq!(server.messages().len(), 1 + mailed, "{step}");
        assert_eq!(
            password_hash(&env),
            old,
            "{step}: the old password still works"
        );
        assert_eq!(live_links(&env), 1, "{step}: nothing was revoked: {link}");

        let next = env.run(&["users", "show", "alice", "--format", "json"]);
        assert_exit(&next, 0);
        let lines = interrupted_lines(&next);
        assert_eq!(lines.len(), 1, "{step}: {}", stderr(&next));
        assert!(
            lines[0].contains("alice a temporary password")
                && lines[0].contains("old password still works")
                && lines[0].contains("pwreset reset generate alice"),
            "{step}: {}",
            lines[0]
        );
        let note = json(&stdout(&next))["interrupted_mail"].clone();
        assert!(
            note.as_str().is_some_and(|n| n.contains("never set")),
            "{note}"
        );
        assert_eq!(interrupted_audits(&env, "password.generate"), 1, "{step}");
        let detail: String = env.db().query_one(
            "SELECT detail FROM audit_log WHERE outcome = 'interrupted'",
            &[],
            |r| r.get(0),
        );
        assert!(detail.contains("the old password still works"), "{detail}");
        assert!(!detail.contains(OLD_PASSWORD));
        assert!(interrupted_lines(&env.run(&["tokens", "list"])).is_empty());
        assert_eq!(password_hash(&env), old);
    }
}

/// Send alice a link through `server` and return its token.
fn link_for_smtp(env: &TestEnv, server: &SmtpServer) -> String {
    let before = server.messages().len();
    env.ok(&["send-link", "alice", "--force"]);
    let mails = server.messages();
    assert_eq!(mails.len(), before + 1);
    token_in(&mails[before].data)
}

fn password_hash(env: &TestEnv) -> String {
    env.db().query_one(
        "SELECT password_hash FROM users WHERE username = 'alice'",
        &[],
        |r| r.get(0),
    )
}

/// Links that work at the test clock.
fn live_links(env: &TestEnv) -> i64 {
    env.count(&format!(
        "SELECT count(*) FROM reset_tokens WHERE used_at IS NULL AND revoked_at IS NULL AND expires_at > {}",
        test_now()
    ))
}

/// The test clock, Unix seconds.
fn test_now() -> i64 {
    NOW.parse::<jiff::Timestamp>().expect("NOW").as_second()
}

// ---------------------------------------------------------------------------------------------
// Bulk runs killed with SIGKILL

/// Users of the bulk crash runs.
const CROWD: usize = 200;

/// An initialised store with `n` users (`u000@example.com` ...).
fn crowd(n: usize) -> TestEnv {
    let env = TestEnv::initialised();
    let mut csv = String::from("email,username\n");
    for i in 0..n {
        writeln!(csv, "u{i:03}@example.com,u{i:03}").expect("write to a String");
    }
    env.write("crowd.csv", &csv);
    env.ok(&["users", "import", "crowd.csv"]);
    env
}

/// pwreset as a child process at the clock `now` (Unix seconds), output captured.
fn spawn(env: &TestEnv, now: i64, args: &[&str]) -> Child {
    spawn_command(env, now, args)
        .spawn()
        .expect("spawn pwreset")
}

/// The command [`spawn`] starts, to change before starting it.
fn spawn_command(env: &TestEnv, now: i64, args: &[&str]) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("pwreset"));
    cmd.env_clear()
        .current_dir(env.dir())
        .env("PWRESET_TEST_NOW", now.to_string())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Wait for a child, failing the test if it outlives [`DEADLINE`].
fn finish(mut child: Child, what: &str) -> Output {
    let until = Instant::now() + DEADLINE;
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > until {
            let _ = child.kill();
            panic!("{what} did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("collect output")
}

/// Envelope recipients of these messages, counted.
fn per_recipient(messages: &[Received]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for message in messages {
        for to in &message.to {
            *counts.entry(to.clone()).or_default() += 1;
        }
    }
    counts
}

/// The digests of the tokens in these messages.
fn digests(messages: &[Received]) -> BTreeSet<String> {
    messages
        .iter()
        .map(|m| pwreset::tokens::digest(&token_in(&m.data)))
        .collect()
}

/// Every live token was mailed (its digest is in `mailed`); returns how many are live.
fn assert_live_tokens_were_mailed(env: &TestEnv, now: i64, mailed: &BTreeSet<String>) -> usize {
    let live = env.db().texts(
        "SELECT token_sha256 FROM reset_tokens WHERE used_at IS NULL AND revoked_at IS NULL AND expires_at > ?1",
        &pwreset::vals![now],
    );
    for digest in &live {
        assert!(
            mailed.contains(digest),
            "a live token whose mail never arrived"
        );
    }
    live.len()
}

/// The moment of the `i`th kill: after how many received mails (1 ..= CROWD - 10), from a fixed
/// seed, so a failure can be replayed.
fn kill_after(i: u64) -> usize {
    let mut x = 0x9E37_79B9_7F4A_7C15_u64 ^ (i + 1);
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    usize::try_from(x % (CROWD as u64 - 10)).expect("small") + 1
}

#[test]
fn bulk_link_runs_killed_at_seeded_moments_resume_without_mailing_anyone_twice() {
    let server = SmtpServer::start();
    let env = crowd(CROWD);
    smtp_config(&env, &server);
    let start = test_now();
    for i in 0..20 {
        // Two hours apart: the earlier links have expired and no user is in cooldown.
        let now = start + i64::try_from(i).expect("small") * 7200;
        let base = server.messages().len();
        let n = kill_after(i);
        let mut child = spawn(&env, now, &["reset", "bulk", "--link", "--all", "--yes"]);
        let got = server.wait_for(base + n, DEADLINE).len();
        assert!(
            got >= base + n,
            "run {i}: only {} of {n} mails arrived",
            got - base
        );
        child.kill().expect("SIGKILL");
        finish(child, "the killed run");

        // SQLite's own check of its file after a SIGKILL (a PostgreSQL server outlives its
        // client, so there is no file of ours to check).
        if env.backend() == Backend::Sqlite {
            let conn = rusqlite::Connection::open(env.path("pwreset.db")).expect("open store");
            let integrity: String = conn
                .query_row("PRAGMA integrity_check", [], |r| r.get(0))
                .expect("integrity_check");
            assert_eq!(integrity, "ok", "run {i}");
        }
        let mailed = digests(&server.messages()[base..]);
        assert_live_tokens_were_mailed(&env, now, &mailed);

        let run: String = env.db().query_one(
            "SELECT id FROM bulk_runs ORDER BY created_at DESC LIMIT 1",
            &[],
            |r| r.get(0),
        );
        let resume = finish(
            spawn(&env, now, &["reset", "bulk", "--resume", &run, "--yes"]),
            "the resume",
        );
        assert_exit(&resume, 0);

        let messages = server.messages()[base..].to_vec();
        let counts = per_recipient(&messages);
        assert!(
            counts.values().all(|&c| c == 1),
            "run {i} (kill after {n}): someone was mailed twice: {counts:?}"
        );
        let items = item_statuses(&env, &run);
        let (sent, interrupted) = (
            items.get("sent").copied().unwrap_or(0),
            items.get("interrupted").copied().unwrap_or(0),
        );
        assert_eq!(
            sent + interrupted,
            i64::try_from(CROWD).expect("small"),
            "run {i} (kill after {n}): every user ended: {items:?}"
        );
        // On PostgreSQL users are written a batch at a time: a crash can leave the batch.
        let in_flight = match env.backend() {
            Backend::Sqlite => 3,
            Backend::Postgres => {
                i64::try_from(pwreset::bulk::batching::PG_BATCH).expect("small") + 3
            }
        };
        assert!(
            interrupted <= in_flight,
            "only the mails in flight: {items:?}"
        );
        assert_eq!(
            interrupted_lines(&resume).len(),
            usize::try_from(interrupted).expect("small"),
            "one warning per interrupted user: {}",
            stderr(&resume)
        );
        let live = assert_live_tokens_were_mailed(&env, now, &digests(&messages));
        assert_eq!(
            live,
            usize::try_from(sent).expect("small"),
            "run {i}: {items:?}"
        );
        assert!(counts.len() >= live, "run {i}");
        assert_eq!(
            env.count("SELECT count(*) FROM mail_intents WHERE resolved_at IS NULL"),
            0,
            "run {i}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Several processes on one run

#[test]
fn concurrent_resumers_share_a_run_and_mail_everyone_once() {
    const USERS: usize = 100;
    let server = SmtpServer::start();
    let env = crowd(USERS);
    smtp_config(&env, &server);
    let now = test_now();
    let json_run = ["--yes", "--format", "json", "--rate", "3000/min"];
    let first = spawn(
        &env,
        now,
        &[&["reset", "bulk", "--link", "--all"][..], &json_run].concat(),
    );
    assert!(
        !server.wait_for(1, DEADLINE).is_empty(),
        "the first run started"
    );
    let run: String = env
        .db()
        .query_one("SELECT id FROM bulk_runs", &[], |r| r.get(0));
    let resumers: Vec<Child> = (0..3)
        .map(|_| {
            spawn(
                &env,
                now,
                &[
                    "reset", "bulk", "--resume", &run, "--yes", "--format", "json",
                ],
            )
        })
        .collect();
    let mut outputs = vec![finish(first, "the first run")];
    outputs.extend(resumers.into_iter().map(|c| finish(c, "a resumer")));

    let mut reported = BTreeMap::<String, usize>::new();
    for out in &outputs {
        assert_exit(out, 0);
        assert!(
            !stderr(out).contains("interrupted"),
            "a live process's users are not relabelled: {}",
            stderr(out)
        );
        for line in stdout(out).lines() {
            let value = json(line);
            assert_eq!(value["status"], "sent", "{value}");
            *reported
                .entry(value["user"].as_str().expect("user").to_owned())
                .or_default() += 1;
        }
    }
    assert_eq!(reported.len(), USERS, "every user reported");
    assert!(
        reported.values().all(|&n| n == 1),
        "by one process only: {reported:?}"
    );
    let counts = per_recipient(&server.messages());
    assert_eq!(counts.len(), USERS);
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
    assert_eq!(
        item_statuses(&env, &run),
        BTreeMap::from([("sent".to_owned(), i64::try_from(USERS).expect("small"))])
    );
    let status: String = env
        .db()
        .query_one("SELECT status FROM bulk_runs", &[], |r| r.get(0));
    assert_eq!(status, "done");
}

/// SIGTERM in the middle of a run without a rate cap (on PostgreSQL users go a batch at a time)
/// ends it with exit 3 once the users in progress are done: none is left `sending` or
/// `interrupted`, every mail that arrived is a live link, and `--resume` mails exactly the
/// rest, each user once.
#[test]
fn sigterm_mid_run_finishes_the_users_in_progress_and_resume_mails_the_rest() {
    let server = SmtpServer::start();
    // Enough users that the run is still going when the signal lands, even on a loaded machine.
    let many = 5 * CROWD;
    let env = crowd(many);
    smtp_config(&env, &server);
    let now = test_now();
    // Its per-user output would fill a pipe nobody reads until it ends: it goes to a file.
    let mut command = spawn_command(&env, now, &["reset", "bulk", "--link", "--all", "--yes"]);
    let log = std::fs::File::create(env.path("stopped.log")).expect("log");
    let child = command.stdout(log).spawn().expect("spawn pwreset");
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("a pid"));
    server.wait_for(5, DEADLINE);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    let stopped = finish(child, "the stopped run");
    assert_exit(&stopped, 3);
    let run: String = env
        .db()
        .query_one("SELECT id FROM bulk_runs", &[], |r| r.get(0));
    let items = item_statuses(&env, &run);
    let sent = usize::try_from(items.get("sent").copied().unwrap_or(0)).expect("small");
    assert!(sent < many, "stopped before the end: {items:?}");
    assert_eq!(
        (items.get("sending"), items.get("interrupted")),
        (None, None),
        "{items:?}"
    );
    let mailed = server.messages();
    assert_eq!(mailed.len(), sent, "one mail per user sent: {items:?}");
    assert_eq!(
        assert_live_tokens_were_mailed(&env, now, &digests(&mailed)),
        sent
    );

    let log = std::fs::File::create(env.path("resume.log")).expect("log");
    let mut command = spawn_command(&env, now, &["reset", "bulk", "--resume", &run, "--yes"]);
    let resume = finish(command.stdout(log).spawn().expect("spawn"), "the resume");
    assert_exit(&resume, 0);
    let counts = per_recipient(&server.messages());
    assert_eq!(counts.len(), many, "everyone was mailed");
    assert!(counts.values().all(|&c| c == 1), "nobody twice: {counts:?}");
}
