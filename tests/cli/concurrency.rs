//! Several pwreset processes at once, and signals sent to a running one: every wait in these
//! tests is bounded by [`DEADLINE`], and they assert outcomes that hold under any interleaving.

use std::collections::BTreeMap;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::bulk::{item_statuses, live_tokens, run_status, ten_users, use_smtp};
use crate::smtp_server::{Fault, SmtpServer};
use crate::support::{
    DEADLINE, TestEnv, assert_exit, assert_fails, finish, on_terminal_meanwhile, stderr, wait_for,
};

/// Send `signal` to a process started by [`TestEnv::spawn`].
fn signal(child: &std::process::Child, signal: Signal) {
    let pid = i32::try_from(child.id()).expect("a pid fits in i32");
    kill(Pid::from_raw(pid), signal).expect("send the signal");
}

/// The one bulk run in the store.
fn the_run(env: &TestEnv) -> String {
    env.db()
        .query_row("SELECT id FROM bulk_runs", [], |r| r.get(0))
        .expect("the run")
}

/// How many mails in `outbox/` went to each address.
fn outbox_recipients(env: &TestEnv) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for raw in env.outbox() {
        let mail = mailparse::parse_mail(&raw).expect("a mail");
        let to = mail
            .headers
            .iter()
            .find(|h| h.get_key() == "To")
            .expect("a To header")
            .get_value();
        *seen.entry(to).or_insert(0) += 1;
    }
    seen
}

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
    let (env, _users) = ten_users();
    use_smtp(&env, server.port());
    let config = std::fs::read_to_string(env.path("pwreset.toml")).expect("config");
    env.write(
        "pwreset.toml",
        &config.replace("retry_backoff = \"10ms\"", "retry_backoff = \"5m\""),
    );
    let child = env.spawn(&["reset", "bulk", "--link", "--file", "users.txt", "--yes"]);
    wait_for("the first attempt", || server.rcpt_attempts() >= 1);
    signal(&child, Signal::SIGTERM);
    let out = finish(child);
    assert_exit(&out, 3);
    let run = the_run(&env);
    assert!(
        stderr(&out).contains(&format!("Resume with: pwreset reset bulk --resume {run}")),
        "{}",
        stderr(&out)
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

/// MAIL-5 under contention: ten `send-link alice` at once produce exactly one mail; the nine
/// others are refused (exit 4, "moments ago"), and all ten are audited.
#[test]
fn ten_parallel_send_links_to_one_user_send_exactly_one_mail() {
    let env = TestEnv::with_samples();
    let children: Vec<_> = (0..10)
        .map(|_| env.spawn(&["send-link", "alice"]))
        .collect();
    let outs: Vec<_> = children.into_iter().map(finish).collect();
    let sent: Vec<_> = outs.iter().filter(|o| o.status.code() == Some(0)).collect();
    assert_eq!(sent.len(), 1, "exactly one sent");
    for out in outs.iter().filter(|o| o.status.code() != Some(0)) {
        assert_fails(out, 4, "a reset link was sent to alice moments ago");
    }
    assert_eq!(env.outbox().len(), 1, "exactly one mail");
    assert_eq!(
        env.count("SELECT count(*) FROM reset_tokens WHERE revoked_at IS NULL"),
        1
    );
    assert_eq!(
        env.count("SELECT count(*) FROM audit_log WHERE action = 'link.send' AND outcome = 'ok'"),
        1
    );
    assert_eq!(
        env.count(
            "SELECT count(*) FROM audit_log WHERE action = 'link.send' AND outcome = 'refused'"
        ),
        9
    );
}

/// A user sent a link by hand after a bulk run was planned is skipped `in cooldown` when the
/// run reaches them; the others are sent. The run waits at its confirmation prompt (the plan
/// is already committed) while the link is sent by hand, so the order is certain.
#[test]
fn a_bulk_run_skips_a_user_mailed_by_hand_since_the_plan() {
    let (env, users) = ten_users();
    let (exit, screen) = on_terminal_meanwhile(
        &env,
        &["reset", "bulk", "--link", "--file", "users.txt"],
        "Send reset links to 10 users? 0 skipped",
        || {
            env.ok(&["send-link", "user03"]);
        },
        "y",
    );
    assert_eq!(exit, 0, "{screen}");
    assert!(
        screen.contains("a reset link was sent to user03 moments ago"),
        "{screen}"
    );
    let mailed = outbox_recipients(&env);
    let expected: BTreeMap<String, usize> =
        users.iter().map(|u| (crate::bulk::email(u), 1)).collect();
    assert_eq!(
        mailed, expected,
        "user03 only by hand, the others by the run"
    );
    let run = the_run(&env);
    let statuses = item_statuses(&env, &run);
    assert_eq!(
        (statuses.get("sent"), statuses.get("skipped")),
        (Some(&9), Some(&1)),
        "{statuses:?}"
    );
    assert_eq!(
        env.count(
            "SELECT count(*) FROM bulk_items i JOIN users u ON u.id = i.user_id \
             WHERE u.username = 'user03' AND i.status = 'skipped'"
        ),
        1
    );
    assert_eq!(
        live_tokens(&env, "user03"),
        1,
        "the link sent by hand still works"
    );
}

/// Set `store.busy_timeout_ms`: how long a writer waits for another one.
fn busy_timeout(env: &TestEnv, ms: u32) {
    let config = std::fs::read_to_string(env.path("pwreset.toml")).expect("config");
    env.write(
        "pwreset.toml",
        &config.replacen(
            "[store]\n",
            &format!("[store]\nbusy_timeout_ms = {ms}\n"),
            1,
        ),
    );
}

/// `count` users user0001.. imported from CSV.
fn many_users(count: usize) -> TestEnv {
    let env = TestEnv::with_samples();
    let csv: String = std::iter::once("email,username\n".to_string())
        .chain((1..=count).map(|n| format!("user{n:04}@example.com,user{n:04}\n")))
        .collect();
    env.write("many.csv", &csv);
    env.ok(&["users", "import", "many.csv"]);
    env
}

/// Point 5: a dry run whose reader stalls (a pager) holds no write lock. The test reads the
/// first byte of the plan (so the dry run is printing) and then nothing, so the dry run
/// blocks on its full stdout pipe (the plan is far larger than a pipe holds); meanwhile
/// `send-link` writes to the store within a short busy timeout.
#[test]
fn a_dry_run_stalled_on_its_pipe_blocks_no_writer() {
    use std::io::Read;
    use std::sync::mpsc;
    let env = many_users(3000);
    busy_timeout(&env, 1000);
    let mut child = env.spawn(&[
        "reset",
        "bulk",
        "--link",
        "--all",
        "--dry-run",
        "--format",
        "csv",
    ]);
    let mut stdout = child.stdout.take().expect("stdout");
    let (started, started_rx) = mpsc::channel();
    let (go, go_rx) = mpsc::channel::<()>();
    let reader = std::thread::spawn(move || {
        let mut first = [0_u8; 1];
        stdout.read_exact(&mut first).expect("the first byte");
        started.send(()).expect("tell the test");
        go_rx.recv().expect("wait for the test");
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).expect("the rest");
        rest
    });
    started_rx
        .recv_timeout(DEADLINE)
        .expect("the dry run starts printing");
    let sent = crate::support::run_bounded(&env, &["send-link", "alice"]);
    assert_exit(&sent, 0);
    assert!(
        child.try_wait().expect("poll the dry run").is_none(),
        "the dry run was still blocked on its pipe while send-link wrote"
    );
    go.send(()).expect("resume reading");
    let out = finish(child);
    assert_exit(&out, 0);
    let plan = reader.join().expect("the reader");
    assert_eq!(plan.lines().filter(|l| l.contains("pending")).count(), 3002);
    assert_eq!(
        env.count("SELECT count(*) FROM bulk_runs"),
        0,
        "a dry run keeps nothing"
    );
}

/// A writer that finds the store locked past `store.busy_timeout_ms` is exit 8 with a hint;
/// read-only commands (listings, the audit log, a dry run) work all the while.
#[test]
fn a_locked_store_is_exit_8_for_writers_and_no_obstacle_for_readers() {
    let env = TestEnv::with_samples();
    busy_timeout(&env, 100);
    let holder = env.db();
    holder
        .execute_batch("BEGIN IMMEDIATE")
        .expect("hold the write lock");
    let out = crate::support::run_bounded(&env, &["send-link", "alice"]);
    assert_fails(
        &out,
        8,
        "hint: another pwreset holds the store; try again, or raise store.busy_timeout_ms",
    );
    assert!(env.outbox().is_empty(), "{}", stderr(&out));
    for read in [
        &["users", "list"][..],
        &["users", "show", "alice"],
        &["tokens", "list"],
        &["audit"],
        &["reset", "bulk", "--link", "--all", "--dry-run"],
    ] {
        let out = crate::support::run_bounded(&env, read);
        assert_exit(&out, 0);
    }
    holder.execute_batch("ROLLBACK").expect("release the lock");
    assert_exit(
        &crate::support::run_bounded(&env, &["send-link", "alice"]),
        0,
    );
}
