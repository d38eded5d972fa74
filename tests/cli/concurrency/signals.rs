//! Signals to a running bulk run: SIGTERM and SIGINT stop it after the user in progress, with
//! the resume hint, and `--resume` finishes it.

use std::collections::BTreeMap;

use nix::sys::signal::Signal;

use super::{outbox_recipients, signal, the_run};
use crate::bulk::{item_statuses, run_status, ten_users, use_smtp};
use crate::smtp_server::{Fault, SmtpServer};
use crate::support::{DEADLINE, TestEnv, assert_exit, finish, stderr, wait_for};

/// A bulk run sent `signal` while it waits for its rate cap finishes the user in progress,
/// exits 3 with the resume hint, and `--resume` mails exactly the rest.
fn a_signal_stops_a_bulk_run_and_resume_finishes_it(sig: Signal) {
    let (env, users) = ten_users();
    let child = env.spawn(&[
        "reset",
        "bulk",
        "--link",
        "--file",
        "users.txt",
        "--yes",
        "--rate",
        "60",
    ]);
    wait_for("the first mail", || !env.outbox().is_empty());
    signal(&child, sig);
    let out = finish(child);
    assert_exit(&out, 3);
    let run = the_run(&env);
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "Interrupted. Resume with: pwreset reset bulk --resume {run}"
        )),
        "{err}"
    );
    assert_eq!(run_status(&env, &run), "interrupted");
    let first = env.outbox().len();
    assert!(first < users.len(), "stopped before the end: {first} mails");
    let statuses = item_statuses(&env, &run);
    assert_eq!(statuses.get("sent").copied(), i64::try_from(first).ok());
    assert_eq!(statuses.get("sending"), None, "{statuses:?}");

    let resumed = crate::support::run_bounded(
        &env,
        &["reset", "bulk", "--resume", &run, "--yes", "--rate", "6000"],
    );
    assert_exit(&resumed, 0);
    let mailed = outbox_recipients(&env);
    let expected: BTreeMap<String, usize> =
        users.iter().map(|u| (crate::bulk::email(u), 1)).collect();
    assert_eq!(mailed, expected, "every user exactly once");
}

#[test]
fn sigterm_stops_a_bulk_run_like_ctrl_c_and_resume_finishes_it() {
    a_signal_stops_a_bulk_run_and_resume_finishes_it(Signal::SIGTERM);
}

#[test]
fn sigint_stops_a_bulk_run_and_resume_finishes_it() {
    a_signal_stops_a_bulk_run_and_resume_finishes_it(Signal::SIGINT);
}

/// A run waiting out a long retry backoff (5 minutes, far past [`DEADLINE`]) stops at once on
/// SIGTERM; the users being retried are recorded as failed, so `--resume` tries them again.
#[test]
fn sigterm_during_the_retry_backoff_ends_the_run() {
    let server = SmtpServer::with_faults(vec![Fault::AlwaysTempFail { code: 451 }]);
    let (env, run) = sigterm_a_run(
        &server,
        ("retry_backoff = \"10ms\"", "retry_backoff = \"5m\""),
        "the first attempt",
    );
    // Users already tried are failed (with the 451), the others still pending; none is left
    // `sending`, however far the run got before the signal.
    let statuses = item_statuses(&env, &run);
    let (failed, pending) = (statuses.get("failed"), statuses.get("pending"));
    assert!(failed.is_some_and(|n| *n >= 1), "{statuses:?}");
    assert_eq!(
        failed.copied().unwrap_or(0) + pending.copied().unwrap_or(0),
        10,
        "{statuses:?}"
    );
    assert!(
        DEADLINE.as_secs() < 300,
        "the backoff outlasts the deadline"
    );
}

/// SIGTERM while a mail is stuck on a server that stopped answering: the wait is bounded by
/// `mail.smtp.timeout`, so the run still ends (exit 3, the resume hint) soon after, without
/// waiting for the server, and leaves no user `sending`.
#[test]
fn sigterm_while_the_server_stalls_ends_the_run_after_the_smtp_timeout() {
    let server = SmtpServer::with_faults(vec![Fault::StallAfterRcpt {
        to: crate::bulk::email("user01"),
    }]);
    let (env, run) = sigterm_a_run(
        &server,
        ("tls = \"none\"\n", "tls = \"none\"\ntimeout = \"2s\"\n"),
        "user01's mail to stall",
    );
    let statuses = item_statuses(&env, &run);
    assert_eq!(statuses.get("sending"), None, "{statuses:?}");
    assert!(
        statuses.get("sent").copied().unwrap_or(0) < 10,
        "stopped before the end: {statuses:?}"
    );
    let user01 = env.db().text(
        "SELECT i.status FROM bulk_items i JOIN users u ON u.id = i.user_id \
         WHERE u.username = 'user01'",
        &[],
    );
    assert_ne!(user01, "sent", "the stalled mail was never accepted");
}

/// A bulk link run of ten users through `server`, with `edit` (from, to) made to the config,
/// sent SIGTERM once the server saw a first RCPT (`waiting`): it must end with exit 3 and the
/// resume hint. Returns the test environment and the run id.
fn sigterm_a_run(server: &SmtpServer, edit: (&str, &str), waiting: &str) -> (TestEnv, String) {
    let (env, _users) = ten_users();
    use_smtp(&env, server.port());
    let config = std::fs::read_to_string(env.path("pwreset.toml")).expect("config");
    assert!(config.contains(edit.0), "{:?} is in the config", edit.0);
    env.write("pwreset.toml", &config.replace(edit.0, edit.1));
    let child = env.spawn(&["reset", "bulk", "--link", "--file", "users.txt", "--yes"]);
    wait_for(waiting, || server.rcpt_attempts() >= 1);
    signal(&child, Signal::SIGTERM);
    let out = finish(child);
    assert_exit(&out, 3);
    let run = the_run(&env);
    assert!(
        stderr(&out).contains(&format!("Resume with: pwreset reset bulk --resume {run}")),
        "{}",
        stderr(&out)
    );
    (env, run)
}
