//! `pwreset tokens ...`: list, verify, redeem, revoke, purge; and links sent with the default
//! file transport.

use crate::support::json;
use crate::support::{TestEnv, assert_fails, code, stderr, stdout};
use serde_json::Value;

const NEW_PASSWORD: &str = "violet-harbour-tractor-41";

#[test]
fn a_link_from_the_outbox_verifies_and_redeems_once() {
    let env = TestEnv::with_samples();
    let token = env.link_for("alice");
    let out = env.run_stdin(&["-v", "tokens", "verify"], &format!("{token}\n"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "alice\n");
    let checked = json(&stdout(&env.run_stdin(
        &["tokens", "verify", "--format", "json"],
        &format!("{token}\n"),
    )));
    assert_eq!(checked["valid"], true);
    assert_eq!(checked["user"], "alice");
    assert_eq!(checked["expires_at"], "2026-11-22T11:00:00Z");

    let out = env.run_stdin(
        &["tokens", "redeem", "--format", "json"],
        &format!("{token}\n{NEW_PASSWORD}\n"),
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&stdout(&out))["user"], "alice");
    let hash: String = env.db().query_one(
        "SELECT password_hash FROM users WHERE username = 'alice'",
        &[],
        |r| r.get(0),
    );
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(pwreset::password::verify(NEW_PASSWORD, &hash));
    assert_eq!(
        env.count("SELECT password_changed_at FROM users WHERE username = 'alice'"),
        1_795_341_600
    );

    let again = env.run_stdin(&["tokens", "redeem"], &format!("{token}\n{NEW_PASSWORD}\n"));
    assert_fails(&again, 7, "the reset token is not valid");
    assert_fails(
        &env.run_stdin(&["tokens", "verify"], &format!("{token}\n")),
        7,
        "not valid",
    );
}

#[test]
fn verify_gives_one_answer_for_unknown_tampered_used_and_revoked() {
    let env = TestEnv::with_samples();
    let token = env.link_for("alice");
    let mut tampered = token.clone();
    tampered.replace_range(5..6, if &token[5..6] == "A" { "B" } else { "A" });
    let answer = |t: &str| {
        let out = env.run_stdin(&["tokens", "verify"], &format!("{t}\n"));
        assert_eq!(code(&out), 7);
        stderr(&out).lines().next().expect("error line").to_string()
    };
    let unknown = answer(&"Q".repeat(43));
    assert_eq!(unknown, "error: the reset token is not valid");
    assert_eq!(answer(&tampered), unknown);
    assert_eq!(answer("garbage"), unknown);
    env.ok(&["tokens", "revoke", "alice"]);
    assert_eq!(answer(&token), unknown, "revoked looks the same");
    let late = env.link_for("bob");
    let out = env
        .cmd()
        .args(["tokens", "verify"])
        .env("PWRESET_TEST_NOW", "2026-11-22T12:00:00Z")
        .write_stdin(format!("{late}\n"))
        .output()
        .expect("run");
    assert_fails(&out, 7, "the reset token has expired");
    let out = env
        .cmd()
        .args(["tokens", "verify", "--format", "json"])
        .env("PWRESET_TEST_NOW", "2026-11-22T12:00:00Z")
        .write_stdin(format!("{late}\n"))
        .output()
        .expect("run");
    assert_eq!(json(&stdout(&out))["reason"], "expired");
}

#[test]
fn redeem_enforces_the_password_policy_and_keeps_the_token() {
    let env = TestEnv::with_samples();
    let token = env.link_for("alice");
    for (password, why) in [
        ("short-pass", "too short"),
        ("alice@example.com", "must not be the username or email"),
        ("password1234", "too easy to guess"),
        (&"x9".repeat(65), "too long"),
    ] {
        let out = env.run_stdin(&["tokens", "redeem"], &format!("{token}\n{password}\n"));
        assert_fails(&out, 2, why);
        assert!(
            !stderr(&out).contains(password),
            "the password is never echoed"
        );
    }
    assert_eq!(
        env.count("SELECT count(*) FROM users WHERE password_hash IS NOT NULL"),
        0
    );
    let long_ok = "Tq7-vaxlm.Rb2!".repeat(9);
    let out = env.run_stdin(
        &["tokens", "redeem"],
        &format!("{token}\n{}\n", &long_ok[..126]),
    );
    assert_eq!(
        code(&out),
        0,
        "126 characters, not truncated: {}",
        stderr(&out)
    );
    let hash: String = env.db().query_one(
        "SELECT password_hash FROM users WHERE username = 'alice'",
        &[],
        |r| r.get(0),
    );
    assert!(pwreset::password::verify(&long_ok[..126], &hash));
    assert!(
        !pwreset::password::verify(&long_ok[..72], &hash),
        "no truncation"
    );
}

#[test]
fn redeem_needs_both_lines_and_revokes_other_links() {
    let env = TestEnv::with_samples();
    let first = env.link_for("alice");
    let second = env.link_for("alice");
    assert_fails(
        &env.run_stdin(&["tokens", "redeem"], &format!("{second}\n")),
        2,
        "new password",
    );
    assert_fails(&env.run_stdin(&["tokens", "redeem"], ""), 2, "reset token");
    env.db().execute(
        "UPDATE users SET must_change_password = 1 WHERE username = 'alice'",
        &[],
    );
    let out = env.run_stdin(
        &["tokens", "redeem"],
        &format!("{second}\n{NEW_PASSWORD}\n"),
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        env.count("SELECT must_change_password FROM users WHERE username = 'alice'"),
        0
    );
    assert_fails(
        &env.run_stdin(&["tokens", "verify"], &format!("{first}\n")),
        7,
        "not valid",
    );
}

#[test]
fn failed_redemptions_are_throttled() {
    let env = TestEnv::with_samples();
    let config = std::fs::read_to_string(env.path("pwreset.toml")).expect("config");
    env.write(
        "pwreset.toml",
        &config.replace(
            "ttl = \"1h\"",
            "ttl = \"1h\"\nmax_failed_redeems_per_hour = 2",
        ),
    );
    let stale = env.link_for("alice");
    let fresh = env.link_for("alice");
    for _ in 0..2 {
        assert_eq!(
            code(&env.run_stdin(&["tokens", "redeem"], &format!("{stale}\n{NEW_PASSWORD}\n"))),
            7
        );
    }
    let out = env.run_stdin(&["tokens", "redeem"], &format!("{fresh}\n{NEW_PASSWORD}\n"));
    assert_fails(&out, 4, "too many failed attempts");
    assert_eq!(
        env.count(
            "SELECT count(*) FROM audit_log WHERE action = 'token.redeem' AND outcome = 'failed'"
        ),
        2
    );
}

#[test]
fn list_shows_states_and_never_digests() {
    let env = TestEnv::with_samples();
    let used = env.link_for("alice");
    env.run_stdin(&["tokens", "redeem"], &format!("{used}\n{NEW_PASSWORD}\n"));
    env.link_for("bob");
    let live = json(&env.ok(&["tokens", "list", "--format", "json"]));
    assert_eq!(live.as_array().map(Vec::len), Some(1));
    assert_eq!(live[0]["user"], "bob");
    assert_eq!(live[0]["state"], "live", "the field's meaning is kept");
    assert_eq!(live[0]["standing"], "sent", "live and never opened");
    assert_eq!(live[0]["standing_reason"], Value::Null);
    let reply = live[0]["mail_reply"]
        .as_str()
        .expect("the transport's reply");
    assert!(reply.starts_with("written to "), "{reply}");
    assert_eq!(live[0]["sent_at"], "2026-11-22T10:00:00Z");
    assert_eq!(live[0]["recipient"], "bob@example.com");
    let all = json(&env.ok(&["tokens", "list", "--all", "--format", "json"]));
    let states: Vec<&str> = all
        .as_array()
        .expect("array")
        .iter()
        .map(|t| t["standing"].as_str().expect("standing"))
        .collect();
    assert_eq!(states, ["sent", "used"]);
    let alice = json(&env.ok(&[
        "tokens", "list", "--all", "--user", "alice", "--format", "json",
    ]));
    assert_eq!(alice.as_array().map(Vec::len), Some(1));
    let digest: String =
        env.db()
            .query_one("SELECT token_sha256 FROM reset_tokens LIMIT 1", &[], |r| {
                r.get(0)
            });
    for format in ["table", "json", "csv"] {
        let out = env.ok(&["tokens", "list", "--all", "--format", format]);
        assert!(!out.contains(&digest) && !out.contains(&used), "{format}");
    }
    let csv = env.ok(&["tokens", "list", "--all", "--format", "csv"]);
    assert!(
        csv.starts_with(
            "id,user,user_id,created_at,expires_at,state,recipient,opened_at,last_opened_at,opens,scanner_opens,standing,standing_reason,sent_at,mail_reply\n"
        ),
        "{csv}"
    );
}

#[test]
fn revoke_one_user_or_all_with_confirmation() {
    let env = TestEnv::with_samples();
    let a = env.link_for("alice");
    let b = env.link_for("bob");
    let out = env.run(&["tokens", "revoke", "alice"]);
    assert!(
        stderr(&out).contains("Revoked 1 reset links of alice"),
        "{}",
        stderr(&out)
    );
    assert_fails(
        &env.run_stdin(&["tokens", "verify"], &format!("{a}\n")),
        7,
        "not valid",
    );
    assert_fails(&env.run(&["tokens", "revoke", "--all"]), 2, "--yes");
    assert_eq!(
        code(&env.run_stdin(&["tokens", "verify"], &format!("{b}\n"))),
        0,
        "refusal changed nothing"
    );
    env.ok(&["tokens", "revoke", "--all", "--yes"]);
    assert_eq!(
        code(&env.run_stdin(&["tokens", "verify"], &format!("{b}\n"))),
        7
    );
    assert_fails(&env.run(&["tokens", "revoke"]), 2, "required");
    assert_eq!(
        env.count("SELECT count(*) FROM audit_log WHERE action LIKE 'token.revoke%'"),
        2
    );
}

#[test]
fn purge_is_quiet_keeps_live_links_and_reports_on_request() {
    let env = TestEnv::with_samples();
    let used = env.link_for("alice");
    env.run_stdin(&["tokens", "redeem"], &format!("{used}\n{NEW_PASSWORD}\n"));
    let live = env.link_for("bob");
    let out = env.run(&["tokens", "purge", "--dry-run"]);
    assert_eq!(stdout(&out), "1\n");
    assert_eq!(
        env.count("SELECT count(*) FROM reset_tokens"),
        2,
        "dry run deletes nothing"
    );
    let out = env.run(&["tokens", "purge"]);
    assert_eq!(code(&out), 0);
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "cron-quiet: {}",
        stderr(&out)
    );
    assert_eq!(env.count("SELECT count(*) FROM reset_tokens"), 1);
    assert_eq!(
        code(&env.run_stdin(&["tokens", "verify"], &format!("{live}\n"))),
        0
    );
    let out = env.run(&["-v", "tokens", "purge"]);
    assert!(stderr(&out).contains("deleted 0"), "{}", stderr(&out));
    let later = env
        .cmd()
        .args(["tokens", "purge", "--format", "json"])
        .env("PWRESET_TEST_NOW", "2026-11-23T10:00:00Z")
        .output()
        .expect("run");
    assert_eq!(
        json(&stdout(&later)),
        serde_json::json!({"deleted": 1, "dry_run": false})
    );
}

#[test]
fn purge_runs_safely_while_links_are_being_sent() {
    let env = TestEnv::with_samples();
    for _ in 0..3 {
        env.link_for("alice");
    }
    let senders: Vec<_> = (0..4)
        .map(|_| {
            env.cmd()
                .args(["send-link", "bob", "--force"])
                .env("PWRESET_TEST_NOW", "2026-11-22T10:00:00Z")
                .output()
        })
        .collect();
    for sent in senders {
        assert_eq!(sent.expect("run").status.code(), Some(0));
    }
    let purgers: Vec<std::thread::JoinHandle<i32>> = (0..3)
        .map(|_| {
            let mut cmd = env.cmd();
            std::thread::spawn(move || {
                cmd.args(["tokens", "purge"])
                    .output()
                    .expect("purge")
                    .status
                    .code()
                    .unwrap_or(-1)
            })
        })
        .collect();
    let sender = {
        let mut cmd = env.cmd();
        std::thread::spawn(move || {
            cmd.args(["send-link", "alice", "--force"])
                .output()
                .expect("send")
                .status
                .code()
                .unwrap_or(-1)
        })
    };
    for handle in purgers {
        assert_eq!(handle.join().expect("thread"), 0);
    }
    assert_eq!(sender.join().expect("thread"), 0);
    let live = json(&env.ok(&["tokens", "list", "--format", "json"]));
    let mut users: Vec<&str> = live
        .as_array()
        .expect("array")
        .iter()
        .map(|t| t["user"].as_str().expect("user"))
        .collect();
    users.sort_unstable();
    assert_eq!(
        users,
        ["alice", "bob"],
        "each user's newest link survived the purges"
    );
    assert_eq!(
        env.count("SELECT count(*) FROM reset_tokens WHERE revoked_reason = 'pending delivery'"),
        0
    );
}

#[test]
fn redeeming_sends_a_change_notice_without_secrets() {
    let env = TestEnv::with_samples();
    let token = env.link_for("alice");
    let out = env.run_stdin(&["tokens", "redeem"], &format!("{token}\n{NEW_PASSWORD}\n"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Sent a notice of the change to a***@example.com"),
        "{}",
        stderr(&out)
    );
    let mails = env.outbox();
    assert_eq!(mails.len(), 2, "the link, then the notice");
    let notice = mails
        .iter()
        .map(|raw| crate::support::text_part(raw))
        .find(|t| t.contains("was just changed"))
        .expect("a notice");
    assert!(
        !notice.contains(NEW_PASSWORD) && !notice.contains(&token),
        "{notice}"
    );

    let quiet = TestEnv::with_samples();
    let config = std::fs::read_to_string(quiet.path("pwreset.toml")).expect("config");
    quiet.write(
        "pwreset.toml",
        &config.replace(
            "transport = \"file\"\n",
            "transport = \"file\"\nnotify_on_change = false\n",
        ),
    );
    let token = quiet.link_for("bob");
    assert_eq!(
        code(&quiet.run_stdin(&["tokens", "redeem"], &format!("{token}\n{NEW_PASSWORD}\n"))),
        0
    );
    assert_eq!(
        quiet.outbox().len(),
        1,
        "mail.notify_on_change = false sends no notice"
    );
}

/// A mail intent names a recipient and matters only while its mail is in flight: purge deletes
/// those resolved more than a day ago, and never an open one.
#[test]
fn purge_deletes_mail_intents_resolved_more_than_a_day_ago() {
    let env = TestEnv::with_samples();
    env.link_for("alice");
    assert_eq!(
        env.count("SELECT count(*) FROM mail_intents WHERE resolved_at IS NOT NULL"),
        1
    );
    let out = env.run(&["tokens", "purge"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        env.count("SELECT count(*) FROM mail_intents"),
        1,
        "resolved moments ago: kept"
    );
    let out = env
        .cmd()
        .args(["tokens", "purge"])
        .env("PWRESET_TEST_NOW", "2026-11-24T10:00:00Z")
        .output()
        .expect("purge two days later");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(env.count("SELECT count(*) FROM mail_intents"), 0);
}
