//! Several processes working one bulk run on a PostgreSQL store, as the CLI runs them: each
//! claims the next free user (`FOR UPDATE SKIP LOCKED`), nobody is mailed twice, each process
//! reports only its own users, and the run ends `done` with the audit chain intact.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::Output;
use std::time::Duration;

use crate::pg_support::PgTestDb;
use crate::pg_support::pg_env;
use crate::smtp_server::SmtpServer;
use crate::support::{DEADLINE, TestEnv, assert_exit, finish, json, stderr, stdout};

/// Users in the shared run.
const USERS: usize = 60;

/// Point the PostgreSQL test dir's config at `server` over plain SMTP (loopback, no AUTH).
fn mail_to(env: &TestEnv, db: &PgTestDb, server: &SmtpServer) {
    let (url, port) = (db.url(), server.port());
    env.write(
        "pwreset.toml",
        &format!(
            "[store]\nurl = \"{url}\"\npassword_file = \"db-password\"\n\n\
             [mail]\ntransport = \"smtp\"\nfrom = \"Example <no-reply@example.com>\"\n\
             retry_backoff = \"10ms\"\n\n\
             [mail.smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\ntimeout = \"5s\"\n\n\
             [links]\nbase_url = \"https://app.example.com/reset\"\n\n\
             [audit]\nkey_file = \"audit.key\"\n"
        ),
    );
}

/// How many users a process's summary line (`Run ID: sent N, ...`) says it sent.
fn summary_sent(out: &Output) -> usize {
    let err = stderr(out);
    let line = err
        .lines()
        .find(|l| l.starts_with("Run ") && l.contains(": sent "))
        .unwrap_or_else(|| panic!("no summary in:\n{err}"));
    let after = line.split(": sent ").nth(1).expect("sent");
    let number: String = after.chars().take_while(char::is_ascii_digit).collect();
    number.parse().unwrap_or_else(|_| panic!("{line}"))
}

#[test]
#[cfg_attr(
    not(pwreset_pg),
    ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
)]
fn two_resumers_and_the_planner_share_a_run_and_mail_everyone_once() {
    let db = PgTestDb::new();
    let server = SmtpServer::start();
    let env = pg_env(&db, &db.url());
    mail_to(&env, &db, &server);
    let mut csv = String::from("email,username\n");
    for i in 0..USERS {
        writeln!(csv, "u{i:03}@example.com,u{i:03}").expect("write to a String");
    }
    env.write("crowd.csv", &csv);
    env.ok(&["users", "import", "crowd.csv"]);

    // The planner sends ten mails a second, so it is still working when the resumers start.
    let json_out = ["--yes", "--format", "json"];
    let planner = env.spawn(
        &[
            &["reset", "bulk", "--link", "--all", "--rate", "600/min"][..],
            &json_out,
        ]
        .concat(),
    );
    assert!(
        !server.wait_for(1, DEADLINE).is_empty(),
        "the planner started sending"
    );
    let mut client = db.client();
    let run: String = client
        .query_one("SELECT id FROM bulk_runs", &[])
        .expect("the run")
        .get(0);
    let resume = [&["reset", "bulk", "--resume", &run][..], &json_out].concat();
    let resumers = [env.spawn(&resume), env.spawn(&resume)];
    let mut outputs = vec![finish(planner)];
    outputs.extend(resumers.into_iter().map(finish));

    let mut reported = BTreeMap::<String, usize>::new();
    let mut summed = 0;
    for out in &outputs {
        assert_exit(out, 0);
        for line in stdout(out).lines() {
            let value = json(line);
            assert_eq!(value["status"], "sent", "{value}");
            *reported
                .entry(value["user"].as_str().expect("user").to_owned())
                .or_default() += 1;
        }
        summed += summary_sent(out);
    }
    assert_eq!(summed, USERS, "the summaries add up to the run");
    assert_eq!(reported.len(), USERS, "every user reported");
    assert!(reported.values().all(|&n| n == 1), "{reported:?}");

    let messages = server.wait_for(USERS, Duration::from_secs(1));
    let mut recipients = BTreeMap::<String, usize>::new();
    for message in &messages {
        for to in &message.to {
            *recipients.entry(to.clone()).or_default() += 1;
        }
    }
    assert_eq!(recipients.len(), USERS, "every user mailed");
    assert!(recipients.values().all(|&n| n == 1), "{recipients:?}");

    let row = client
        .query_one(
            "SELECT status, (SELECT count(*) FROM bulk_items WHERE run_id = $1 AND status = 'sent') \
             FROM bulk_runs WHERE id = $1",
            &[&run],
        )
        .expect("the run's totals");
    assert_eq!(row.get::<_, String>(0), "done");
    assert_eq!(row.get::<_, i64>(1), i64::try_from(USERS).expect("small"));
    let verified = env.run(&["audit", "verify"]);
    assert_exit(&verified, 0);
}
