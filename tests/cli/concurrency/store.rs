//! Processes sharing one store: the cooldown under contention, read-only work beside
//! writers, a locked store, purging during a run, and racing redemptions.

use std::collections::BTreeMap;

use super::{outbox_recipients, the_run};
use crate::bulk::{item_statuses, live_tokens, ten_users};
use crate::support::{
    DEADLINE, TestEnv, assert_exit, assert_fails, finish, on_terminal_meanwhile,
};

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
pub(crate) fn busy_timeout(env: &TestEnv, ms: u32) {
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

/// TOK-11: `tokens purge` every 100 ms during a bulk run of 200 users: neither fails, and
/// every live token afterwards is one whose mail is in the outbox (a link being sent is never
/// purged from under the run).
#[test]
fn purging_every_100ms_during_a_bulk_run_loses_no_live_token() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let env = many_users(200);
    let done = AtomicBool::new(false);
    let (run, purges) = std::thread::scope(|scope| {
        let purger = scope.spawn(|| {
            let mut purges = Vec::new();
            while !done.load(Ordering::SeqCst) {
                purges.push(crate::support::run_bounded(&env, &["tokens", "purge"]));
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            purges
        });
        let run = crate::support::run_bounded(
            &env,
            &[
                "reset", "bulk", "--link", "--all", "--yes", "--rate", "6000",
            ],
        );
        done.store(true, Ordering::SeqCst);
        (run, purger.join().expect("the purger"))
    });
    assert_exit(&run, 0);
    assert!(!purges.is_empty());
    for purge in &purges {
        assert_exit(purge, 0);
    }
    let mailed: std::collections::BTreeSet<String> = env
        .outbox()
        .iter()
        .map(|raw| pwreset::tokens::digest(&crate::support::token_in(raw)))
        .collect();
    assert_eq!(mailed.len(), 202, "alice, bob and the 200");
    let live: std::collections::BTreeSet<String> = env
        .db()
        .texts(
            "SELECT token_sha256 FROM reset_tokens WHERE revoked_at IS NULL AND used_at IS NULL",
            &[],
        )
        .into_iter()
        .collect();
    assert_eq!(live, mailed, "every mailed link is live, and only those");
}

/// TOK-6: two processes redeeming one token at once: exactly one wins, the other is exit 7.
#[test]
fn two_processes_redeeming_one_token_exactly_one_wins() {
    use std::io::Write;
    let env = TestEnv::with_samples();
    let token = env.link_for("alice");
    let input = format!("{token}\nviolet-harbour-tractor-41\n");
    let children: Vec<_> = (0..2)
        .map(|_| {
            let mut child = env
                .process(&["tokens", "redeem"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("start redeem");
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input.as_bytes())
                .expect("write the token");
            child
        })
        .collect();
    let mut codes: Vec<i32> = children
        .into_iter()
        .map(|child| {
            let out = finish(child);
            if out.status.code() == Some(7) {
                assert_fails(&out, 7, "the reset token is not valid");
            }
            out.status.code().expect("exited")
        })
        .collect();
    codes.sort_unstable();
    assert_eq!(codes, [0, 7]);
    assert_eq!(
        env.count("SELECT count(*) FROM reset_tokens WHERE used_at IS NOT NULL"),
        1
    );
}
