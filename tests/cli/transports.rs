//! The file and sendmail transports end to end, and the rule that no raw token, link or
//! password is ever written to the store, its WAL, or the audit log.

use std::os::unix::fs::PermissionsExt;

use crate::support::{
    TestEnv, assert_fails, code, html_part, mode, run_bounded, stderr, stdout, text_part, token_in,
};

/// A fake `sendmail` that records its arguments and the message, then exits with `status`.
fn fake_sendmail(env: &TestEnv, status: i32) -> std::path::PathBuf {
    sendmail_script(
        env,
        &format!(
            "echo \"$@\" > \"{dir}/sendmail.args\"\ncat > \"{dir}/sendmail.msg\"\necho 'sendmail: simulated' >&2\nexit {status}",
            dir = env.dir().display()
        ),
    )
}

/// A stand-in `sendmail` running this shell script.
fn sendmail_script(env: &TestEnv, body: &str) -> std::path::PathBuf {
    let path = env.write("fake-sendmail", &format!("#!/bin/sh\n{body}\n"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

fn use_sendmail(env: &TestEnv, program: &std::path::Path) {
    let config = std::fs::read_to_string(env.path("pwreset.toml")).expect("config");
    let config = config.replace("transport = \"file\"", "transport = \"sendmail\"");
    env.write(
        "pwreset.toml",
        &format!(
            "{config}\n[mail.sendmail]\npath = \"{}\"\n",
            program.display()
        ),
    );
}

#[test]
fn file_transport_writes_a_private_eml_and_says_where() {
    let env = TestEnv::with_samples();
    let out = env.run(&["send-link", "alice@example.com"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(
            "Reset link sent to a***@example.com for alice (expires 2026-11-22 11:00 UTC, in 1h)"
        ),
        "{err}"
    );
    assert!(
        err.contains("Mail written to outbox/20261122T100000Z-"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    let files: Vec<_> = std::fs::read_dir(env.path("outbox"))
        .expect("outbox")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 1);
    assert_eq!(mode(&files[0]), 0o600, "the mail holds a live link");
    let raw = std::fs::read(&files[0]).expect("eml");
    let text = text_part(&raw);
    assert!(
        text.contains("http://localhost:8080/reset-password?token="),
        "{text}"
    );
    assert!(
        text.contains("It expires in 1 hour, at 2026-11-22 11:00 UTC."),
        "{text}"
    );
    let html = html_part(&raw);
    assert!(html.contains("reset-password?token="), "{html}");
    assert!(!err.contains(&token_in(&raw)));
}

#[test]
fn reset_send_link_is_the_same_command() {
    let env = TestEnv::with_samples();
    let out = env.run(&["reset", "send-link", "bob"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("for bob"));
    assert_eq!(env.outbox().len(), 1);
}

#[test]
fn sendmail_transport_pipes_to_sendmail_t_i() {
    let env = TestEnv::with_samples();
    let program = fake_sendmail(&env, 0);
    use_sendmail(&env, &program);
    let out = env.run(&["send-link", "alice"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(env.path("sendmail.args"))
            .expect("args")
            .trim(),
        "-t -i"
    );
    let message = std::fs::read(env.path("sendmail.msg")).expect("message");
    assert!(String::from_utf8_lossy(&message).contains("To: alice@example.com"));
    let token = token_in(&message);
    assert_eq!(
        code(&env.run_stdin(&["tokens", "verify"], &format!("{token}\n"))),
        0
    );
    assert!(env.outbox().is_empty());
}

#[test]
fn a_failing_sendmail_leaves_no_live_token() {
    for status in [1, 75] {
        let env = TestEnv::with_samples();
        let program = fake_sendmail(&env, status);
        use_sendmail(&env, &program);
        let out = env.run(&["send-link", "alice"]);
        assert_fails(
            &out,
            6,
            &format!("exit status {status}: sendmail: simulated"),
        );
        assert!(
            stderr(&out).contains("the new link was revoked"),
            "{}",
            stderr(&out)
        );
        assert_eq!(
            env.count("SELECT count(*) FROM reset_tokens WHERE revoked_at IS NULL"),
            0
        );
        assert_eq!(
            env.count(
                "SELECT count(*) FROM reset_tokens WHERE revoked_reason = 'mail not delivered'"
            ),
            1
        );
        assert_eq!(
            env.count(
                "SELECT count(*) FROM audit_log WHERE action = 'link.send' AND outcome = 'failed'"
            ),
            1
        );
    }
    let env = TestEnv::with_samples();
    use_sendmail(&env, &env.path("no-such-sendmail"));
    assert_fails(&env.run(&["send-link", "alice"]), 6, "cannot run");
}

/// A sendmail that never answers is killed after `mail.sendmail.timeout`, with the processes it
/// started; the command ends with exit 6 naming the program, and no live token is left. It was
/// handed the whole message and may have queued it, so the link is treated as possibly
/// delivered: dead, and audited `interrupted`.
#[test]
fn a_sendmail_that_hangs_is_stopped_after_its_timeout() {
    let env = TestEnv::with_samples();
    // Output first, so pwreset's readers see a child that writes but never exits.
    let program = sendmail_script(&env, "echo queued\necho working >&2\nsleep 600");
    use_sendmail(&env, &program);
    let config = std::fs::read_to_string(env.path("pwreset.toml")).expect("config");
    env.write("pwreset.toml", &format!("{config}timeout = \"1s\"\n"));
    let out = run_bounded(&env, &["send-link", "alice"]);
    assert_fails(
        &out,
        6,
        &format!(
            "{} took the message but its answer was lost (no exit within 1s, so it was stopped)",
            program.display()
        ),
    );
    assert_eq!(
        env.count("SELECT count(*) FROM audit_log WHERE outcome = 'interrupted'"),
        1,
        "audited as possibly delivered"
    );
    assert_eq!(
        stderr(&out).matches("error:").count(),
        1,
        "{}",
        stderr(&out)
    );
    assert_eq!(
        env.count("SELECT count(*) FROM reset_tokens WHERE revoked_at IS NULL"),
        0,
        "no live token without a delivered mail"
    );
}

/// The child gets a fixed PATH and nothing else of pwreset's environment: no SMTP password,
/// no other variable.
#[test]
fn sendmail_runs_with_only_a_fixed_path_in_its_environment() {
    let env = TestEnv::with_samples();
    // /proc/$$/environ is exactly what the child was given, before the shell adds its own.
    let program = sendmail_script(
        &env,
        &format!(
            "tr '\\0' '\\n' < /proc/$$/environ > \"{}/sendmail.env\"\ncat > /dev/null",
            env.dir().display()
        ),
    );
    use_sendmail(&env, &program);
    let out = env
        .cmd()
        .args(["send-link", "alice"])
        .env("PWRESET_SMTP_PASSWORD", "hunter2-smtp-secret")
        .env("PATH", "/opt/evil/bin:/usr/bin")
        .env("HOME", "/root")
        .output()
        .expect("run pwreset");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let seen = std::fs::read_to_string(env.path("sendmail.env")).expect("the child's environment");
    let vars: Vec<&str> = seen.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(vars, ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "{seen}");
}

#[test]
fn a_missing_base_url_is_a_config_error() {
    let env = TestEnv::with_samples();
    let config = std::fs::read_to_string(env.path("pwreset.toml")).expect("config");
    env.write(
        "pwreset.toml",
        &config.replace("base_url = \"http://localhost:8080/reset-password\"\n", ""),
    );
    let out = env.run(&["send-link", "alice"]);
    assert_fails(&out, 8, "links.base_url: is not set");
    assert!(env.outbox().is_empty());
    env.write(
        "pwreset.toml",
        &config.replace("http://localhost:8080", "http://app.example.com"),
    );
    assert_fails(&env.run(&["send-link", "alice"]), 8, "must use https");
}

/// TOK-3, LOG-2: the token, the link and passwords exist only in memory and the outgoing mail.
#[test]
fn no_secret_reaches_the_store_wal_or_audit_log() {
    let env = TestEnv::with_samples();
    let password = "violet-harbour-tractor-41";
    let token = env.link_for("alice");
    // On SQLite, keep a connection that has read the store open, so pwreset is never the last
    // one to close: the last connection checkpoints and deletes the WAL, which would leave
    // nothing to scan.
    let wal = env.hold_wal();
    let out = env.run_stdin(&["tokens", "redeem"], &format!("{token}\n{password}\n"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let second = env.link_for("bob");
    let audit = stdout(&env.run(&["audit", "--format", "json"]));
    assert!(!audit.is_empty());
    if wal.is_some() {
        let wal = std::fs::metadata(env.path("pwreset.db-wal")).map_or(0, |m| m.len());
        assert!(
            wal > 0,
            "the WAL holds the recent writes, so the scan below looks at them"
        );
    }
    for secret in [token.as_str(), second.as_str(), password] {
        for (file, bytes) in env.store_contents() {
            let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "a secret was written to {file}");
        }
        assert!(!audit.contains(secret), "a secret is in the audit log");
    }
    assert!(!audit.contains("token="), "no link in the audit log");
    drop(wal);
}

#[test]
fn reply_to_per_template_names_and_notes_reach_the_mail() {
    let env = TestEnv::with_samples();
    let config = std::fs::read_to_string(env.path("pwreset.toml")).expect("config");
    let config = config
        .replace("transport = \"file\"", "transport = \"file\"\nreply_to = \"Helpdesk <help@example.com>\"")
        .replace("app_name = \"Example App\"", "app_name = \"Example App\"\n\n[templates.password-change-link]\napp_name = \"Example Portal\"");
    env.write("pwreset.toml", &config);
    let out = env.run(&[
        "send-link",
        "alice",
        "--note",
        "Call ext 42 if this was not you",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let raw = env.outbox().pop().expect("a mail");
    assert!(String::from_utf8_lossy(&raw).contains("Reply-To: Helpdesk <help@example.com>"));
    let text = text_part(&raw);
    assert!(
        text.contains("your Example Portal account"),
        "per-template app_name: {text}"
    );
    assert!(
        text.contains("Note from your administrator: Call ext 42 if this was not you"),
        "{text}"
    );
    assert!(html_part(&raw).contains("Call ext 42"));
    assert_fails(
        &env.run(&["send-link", "bob", "--note", "bad\u{1b}[2J"]),
        2,
        "control characters",
    );
    env.write(
        "pwreset.toml",
        &config.replace("Helpdesk <help@example.com>", "not a mailbox"),
    );
    assert_fails(&env.run(&["send-link", "bob"]), 8, "mail.reply_to");
}

/// A sendmail killed by a signal after it read the message may have queued it: possibly
/// delivered, so the link stays dead and the user is audited `interrupted`, never resent.
#[test]
fn a_sendmail_killed_after_reading_the_message_counts_as_possibly_delivered() {
    let env = TestEnv::with_samples();
    let program = sendmail_script(&env, "cat > /dev/null\nkill -9 $$");
    use_sendmail(&env, &program);
    let out = run_bounded(&env, &["send-link", "alice"]);
    assert_fails(
        &out,
        6,
        &format!(
            "{} took the message but its answer was lost (it was killed by a signal",
            program.display()
        ),
    );
    assert_eq!(
        env.count("SELECT count(*) FROM reset_tokens WHERE revoked_at IS NULL"),
        0,
        "no live token"
    );
    assert_eq!(
        env.count("SELECT count(*) FROM audit_log WHERE outcome = 'interrupted'"),
        1
    );
}
