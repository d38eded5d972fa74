//! Where each reset stands: a bulk run against the test SMTP server with one recipient
//! rejected, links opened through `pwreset serve` (by a browser and by a scanner), links used,
//! and the rest left to expire under the test clock; then `--report` in every format, the
//! states in `tokens list` and `users show`, and `--reissue` mailing exactly the users chosen.

use std::collections::BTreeMap;
use std::process::Output;

use serde_json::Value;

use crate::bulk::{email, ten_users};
use crate::serve::http::Server;
use crate::smtp_server::{Fault, SmtpServer};
use crate::support::{TestEnv, assert_fails, code, json, stderr, stdout, token_in};

/// Two hours after the test clock's `NOW`: every link of the run (1 h) has expired.
const LATER: &str = "2026-11-22T12:00:00Z";
const NEW_PASSWORD: &str = "violet-harbour-tractor-41";

/// Mail over SMTP to `port`, links pointing at the page `pwreset serve` serves.
fn use_smtp_and_page(env: &TestEnv, port: u16) {
    let text = format!(
        "{}\n\
         [mail]\ntransport = \"smtp\"\nfrom = \"Example <no-reply@example.com>\"\n\
         retry_backoff = \"10ms\"\n\n\
         [mail.smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\n\n\
         [links]\nbase_url = \"http://localhost:8080/reset-password\"\n",
        env.store_config()
    );
    env.write("pwreset.toml", &text);
}

/// pwreset at `now` (the test clock's `NOW` unless given).
fn run_at(env: &TestEnv, now: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = env.cmd();
    if let Some(now) = now {
        cmd.env("PWRESET_TEST_NOW", now);
    }
    cmd.args(args).output().expect("run pwreset")
}

fn ok_at(env: &TestEnv, now: Option<&str>, args: &[&str]) -> Output {
    let out = run_at(env, now, args);
    assert_eq!(code(&out), 0, "pwreset {args:?}:\n{}", stderr(&out));
    out
}

/// `out` after requiring exit 0.
fn env_ok(out: Output) -> Output {
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    out
}

/// The run id from `Run RUN_ID: sent ...` on stderr.
fn run_id(out: &Output) -> String {
    let err = stderr(out);
    err.lines()
        .find_map(|l| {
            l.strip_prefix("Run ")?
                .split_once(": sent ")
                .map(|(id, _)| id.to_owned())
        })
        .unwrap_or_else(|| panic!("no run id in:\n{err}"))
}

/// Messages the server received, per recipient.
fn mailed(server: &SmtpServer) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for message in server.messages() {
        for to in &message.to {
            *counts.entry(to.clone()).or_default() += 1;
        }
    }
    counts
}

/// The token of the (latest) mail to `user`.
fn token_for(server: &SmtpServer, user: &str) -> String {
    let message = server
        .messages()
        .into_iter()
        .rev()
        .find(|m| m.to.iter().any(|to| *to == email(user)))
        .unwrap_or_else(|| panic!("no mail to {user}"));
    token_in(&message.data)
}

/// The JSON report's user rows by username (or entry), and its summary.
fn report_json(env: &TestEnv, now: Option<&str>, run: &str) -> (Value, BTreeMap<String, Value>) {
    let out = ok_at(
        env,
        now,
        &["reset", "bulk", "--report", run, "--format", "json"],
    );
    let report = json(&stdout(&out));
    let users = report["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| {
            let key = u["user"].as_str().or(u["entry"].as_str()).expect("a name");
            (key.to_owned(), u.clone())
        })
        .collect();
    (report, users)
}

/// The ten users' run: user05 refused (550), an unknown entry skipped; user01 and user02 set a
/// password, user03 and user04 open their links in a browser, user06's is fetched by a scanner
/// (HEAD) only. Returns the env, the server and the run id.
fn the_run() -> (TestEnv, SmtpServer, String) {
    let (env, _) = ten_users();
    let server = SmtpServer::with_faults(vec![Fault::RejectRcptTo {
        address: email("user05"),
        code: 550,
    }]);
    use_smtp_and_page(&env, server.port());
    let mut list = std::fs::read_to_string(env.path("users.txt")).expect("list");
    list.push_str("nobody\n");
    env.write("users.txt", &list);
    let out = run_at(
        &env,
        None,
        &["reset", "bulk", "--link", "--file", "users.txt", "--yes"],
    );
    assert_eq!(code(&out), 3, "user05 failed:\n{}", stderr(&out));
    let run = run_id(&out);
    for user in ["user01", "user02"] {
        let input = format!("{}\n{NEW_PASSWORD}\n", token_for(&server, user));
        let redeemed = env.run_stdin(&["tokens", "redeem"], &input);
        assert_eq!(code(&redeemed), 0, "{}", stderr(&redeemed));
    }
    let mut page = Server::start(&env, &[]);
    for user in ["user03", "user04"] {
        let reply = page.get(
            &format!("/reset-password?token={}", token_for(&server, user)),
            "",
        );
        assert_eq!(reply.status, 303, "{}", reply.body);
    }
    let head = format!(
        "HEAD /reset-password?token={} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        token_for(&server, "user06")
    );
    assert!(page.request(&head).starts_with("HTTP/1.1 "));
    drop(page);
    (env, server, run)
}

#[test]
fn the_report_counts_every_state_in_every_format() {
    let (env, _server, run) = the_run();
    let (report, users) = report_json(&env, None, &run);
    assert_eq!(report["run"]["id"], run.as_str());
    assert_eq!(report["run"]["reissue_of"], Value::Null);
    let summary = &report["summary"];
    for (field, n) in [
        ("sent", 9),
        ("used", 2),
        ("opened_not_used", 2),
        ("never_opened", 5),
        ("never_opened_expired", 0),
        ("failed", 1),
        ("skipped", 1),
        ("pending", 0),
    ] {
        assert_eq!(summary[field], n, "{field}: {summary}");
    }
    let state = |user: &str| users[user]["state"].as_str().expect("state").to_owned();
    assert_eq!(state("user01"), "used");
    assert_eq!(state("user03"), "opened");
    assert_eq!(state("user06"), "sent", "a scanner's fetch is not an open");
    assert_eq!(state("nobody"), "skipped");
    assert_eq!(users["nobody"]["state_reason"], "unknown");
    let refused = &users["user05"];
    assert_eq!(refused["state"], "failed");
    assert!(
        refused["mail_reply"]
            .as_str()
            .expect("reply")
            .contains("550"),
        "{refused}"
    );
    let accepted = users["user06"]["mail_reply"].as_str().expect("reply");
    assert!(accepted.starts_with("250"), "{accepted}");
    assert_eq!(users["user06"]["sent_at"], "2026-11-22T10:00:00Z");

    // Two hours later the unused links have expired; the opened ones stay "opened but not used".
    let (later, users) = report_json(&env, Some(LATER), &run);
    assert_eq!(later["summary"]["never_opened_expired"], 5);
    assert_eq!(later["summary"]["opened_not_used"], 2);
    assert_eq!(users["user03"]["state"], "expired");
    assert_eq!(users["user03"]["opened"], true);

    let table = ok_at(&env, Some(LATER), &["reset", "bulk", "--report", &run]);
    assert!(
        stderr(&table).contains(
            "9 sent: 2 used, 2 opened but not used, 5 never opened (5 expired); 1 failed; 1 skipped"
        ),
        "{}",
        stderr(&table)
    );
    assert!(stdout(&table).contains("failed: "), "{}", stdout(&table));
    let csv = ok_at(
        &env,
        Some(LATER),
        &["reset", "bulk", "--report", &run, "--format", "csv"],
    );
    let csv = stdout(&csv);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "position,entry,user,state,state_reason,opened,recipient,sent_at,expires_at,mail_reply"
        )
    );
    let states: Vec<&str> = lines.map(|l| l.split(',').nth(3).expect("state")).collect();
    assert_eq!(states.len(), 11, "{csv}");
    assert_eq!(states.iter().filter(|s| **s == "used").count(), 2, "{csv}");
    assert_eq!(
        states.iter().filter(|s| **s == "expired").count(),
        7,
        "{csv}"
    );
}

#[test]
fn tokens_list_and_users_show_give_the_states() {
    let (env, _server, _) = the_run();
    let show = |user: &str| json(&env.ok(&["users", "show", user, "--format", "json"]));
    assert_eq!(show("user03")["last_link_state"], "opened");
    assert_eq!(show("user01")["last_link_state"], "used");
    let refused = show("user05");
    assert_eq!(refused["last_link_state"], "failed");
    assert!(
        refused["last_link_mail_reply"]
            .as_str()
            .expect("reply")
            .contains("550")
    );
    let tokens = json(&env.ok(&[
        "tokens", "list", "--all", "--user", "user04", "--format", "json",
    ]));
    assert_eq!(tokens[0]["standing"], "opened");
    assert_eq!(tokens[0]["state"], "live");
    assert!(
        tokens[0]["mail_reply"]
            .as_str()
            .expect("reply")
            .starts_with("250")
    );
}

#[test]
fn reissue_plans_exactly_the_chosen_users_and_mails_nobody_else() {
    let (env, server, run) = the_run();
    let states = "expired,failed,never-opened";
    let chosen = [
        "user03", "user04", "user05", "user06", "user07", "user08", "user09", "user10",
    ];
    let reissue = |extra: &[&str]| {
        let mut args = vec!["reset", "bulk", "--reissue", &run, "--state", states];
        args.extend_from_slice(extra);
        run_at(&env, Some(LATER), &args)
    };
    let dry = env_ok(reissue(&["--dry-run", "--format", "json"]));
    let planned: Vec<String> = json(&stdout(&dry))
        .as_array()
        .expect("the plan")
        .iter()
        .map(|row| row["user"].as_str().expect("user").to_owned())
        .collect();
    assert_eq!(planned, chosen);
    let before = mailed(&server);
    let out = reissue(&["--yes"]);
    assert_eq!(code(&out), 3, "user05 is refused again:\n{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("Reissue of run {run}")),
        "{}",
        stderr(&out)
    );
    let after = mailed(&server);
    let newly: Vec<&str> = after
        .iter()
        .filter(|(to, n)| **n > before.get(*to).copied().unwrap_or(0))
        .map(|(to, _)| to.split('@').next().expect("local part"))
        .collect();
    assert_eq!(
        newly,
        [
            "user03", "user04", "user06", "user07", "user08", "user09", "user10"
        ]
    );
    let second = run_id(&out);
    let (report, users) = report_json(&env, Some(LATER), &second);
    assert_eq!(report["run"]["reissue_of"], run.as_str());
    assert_eq!(users.len(), chosen.len());
    assert_eq!(report["summary"]["sent"], 7);
    let audit = env.ok(&["audit", "--action", "bulk.plan", "--format", "json"]);
    assert!(audit.contains(&format!("reissue of {run}")), "{audit}");
}

#[test]
fn unknown_runs_and_states_are_refused_with_a_hint() {
    let env = TestEnv::initialised();
    let out = env.run(&["reset", "bulk", "--report", "20261122-100000-ffff"]);
    assert_fails(&out, 2, "no bulk run");
    assert!(stderr(&out).contains("hint: "), "{}", stderr(&out));
    let out = env.run(&["reset", "bulk", "--reissue", "x", "--state", "expird"]);
    assert_fails(&out, 2, "accepted states: sent, opened, never-opened");
    let out = env.run(&["reset", "bulk", "--reissue", "x", "--state", "pending"]);
    assert_fails(&out, 2, "--resume");
}
