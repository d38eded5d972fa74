use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::*;
use crate::audit::Actor;
use crate::config::{PasswordConfig, Supersede};
use crate::generate::GenerateSettings;
use crate::links::LinkSettings;
use crate::mail::{Delivered, MailError, Mailer, Outgoing};
use crate::store::Store;
use crate::store::bulk as sql;
use crate::store::users::NewUser;
use crate::templates::Templates;

const T0: i64 = 1_800_000_000;

fn at() -> jiff::Timestamp {
    jiff::Timestamp::from_second(T0).expect("time")
}

fn actor() -> Actor {
    Actor {
        os_user: "root".into(),
        actor: None,
        reason: None,
    }
}

/// Records mail; fails the given recipients (transiently for the first `flaky` attempts).
#[derive(Default)]
struct Recorder {
    sent: Vec<String>,
    reject: Vec<String>,
    flaky: usize,
}

impl Mailer for Recorder {
    fn send(&mut self, message: &Outgoing) -> Result<Delivered, MailError> {
        if self.reject.contains(&message.to) {
            return Err(MailError::Refused {
                server: "t".into(),
                reply: "550 no".into(),
                transient: false,
            });
        }
        if self.flaky > 0 {
            self.flaky -= 1;
            return Err(MailError::Refused {
                server: "t".into(),
                reply: "451 later".into(),
                transient: true,
            });
        }
        self.sent.push(message.to.clone());
        Ok(Delivered {
            detail: "ok".into(),
        })
    }
}

fn store_with(n: usize) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::create(&dir.path().join("t.db"), 5000).expect("store");
    for i in 0..n {
        let new = NewUser {
            username: format!("u{i}"),
            email: Some(format!("u{i}@example.com")),
            display_name: None,
            active: true,
        };
        crate::users::add(&mut store, &new, &actor(), at()).expect("user");
    }
    (dir, store)
}

fn plan_file(store: &mut Store, text: &str, action: Action) -> (String, PlanSummary) {
    let id = format!("run-{}", text.len());
    let request = Request {
        run_id: &id,
        action,
        deliver_to: None,
        cooldown_secs: 60,
    };
    let summary = plan(
        store,
        Selection::File(text.as_bytes()),
        &request,
        &actor(),
        at(),
    )
    .expect("plan");
    (id, summary)
}

fn link_settings() -> LinkSettings {
    LinkSettings {
        base_url: url::Url::parse("https://app.example.com/r").expect("url"),
        ttl_secs: 3600,
        supersede: Supersede::Revoke,
        cooldown_secs: 60,
        app_name: "X".into(),
        support_contact: None,
        note: None,
    }
}

fn execute(
    store: &mut Store,
    run_id: &str,
    action: Action,
    mailer: &mut Recorder,
    stop_after: Option<usize>,
) -> (Report, Vec<(String, Outcome)>) {
    let templates = Templates::new(None);
    let link = link_settings();
    let generate = GenerateSettings {
        password: PasswordConfig::default(),
        app_name: "X".into(),
        support_contact: None,
        login_url: None,
        notify_on_change: false,
        notice_names: ("X".into(), None),
        note: None,
    };
    let stop = AtomicBool::new(false);
    let clock = at;
    let actor = actor();
    let mut runner = Runner {
        run_id,
        action,
        deliver_to: None,
        mailer,
        templates: &templates,
        link: Some(&link),
        generate: Some(&generate),
        pacing: Pacing {
            min_interval: None,
            retries: 2,
            backoff: Duration::from_millis(1),
        },
        stop: &stop,
        clock: &clock,
        actor: &actor,
        report_planned_skips: true,
    };
    let mut seen = Vec::new();
    let report = run(store, &mut runner, |item, _, outcome| {
        seen.push((item.entry.clone(), outcome.clone()));
        if stop_after.is_some_and(|n| {
            seen.iter()
                .filter(|(_, o)| matches!(o, Outcome::Sent { .. }))
                .count()
                >= n
        }) {
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    })
    .expect("run");
    (report, seen)
}

#[test]
fn plan_skips_with_reasons_and_collapses_duplicates() {
    let (_dir, mut store) = store_with(3);
    store
        .conn()
        .execute("UPDATE users SET active = 0 WHERE username = 'u1'", [])
        .expect("deactivate");
    store
        .conn()
        .execute("UPDATE users SET email = NULL WHERE username = 'u2'", [])
        .expect("no email");
    let (id, summary) = plan_file(
        &mut store,
        "# list\nu0\n\nu1\nu2\nnobody\nU0@example.com\nnobody\n",
        Action::Link,
    );
    assert_eq!(
        summary,
        PlanSummary {
            to_do: 1,
            skipped: 5
        }
    );
    let items = sql::items(store.conn(), &id, &["pending", "skipped"], 0, 100).expect("items");
    let reasons: Vec<(&str, Option<&str>)> = items
        .iter()
        .map(|i| (i.entry.as_str(), i.reason.as_deref()))
        .collect();
    assert_eq!(
        reasons,
        [
            ("u0", None),
            ("u1", Some("inactive")),
            ("u2", Some("no valid email")),
            ("nobody", Some("unknown")),
            ("U0@example.com", Some("duplicate")),
            ("nobody", Some("duplicate"))
        ]
    );
}

#[test]
fn csv_files_use_the_email_or_username_column() {
    let (_dir, mut store) = store_with(2);
    let (_, summary) = plan_file(
        &mut store,
        "name,email\nA,u0@example.com\nB,u1@example.com\n",
        Action::Link,
    );
    assert_eq!(summary.to_do, 2);
    let (_, summary) = plan_file(&mut store, "username,role\nu1,admin\n", Action::Generate);
    assert_eq!(summary.to_do, 1);
}

#[test]
fn one_failure_does_not_stop_the_others_and_resume_finishes_only_it() {
    let (_dir, mut store) = store_with(4);
    let (id, _) = plan_file(&mut store, "u0\nu1\nu2\nu3\n", Action::Link);
    let mut mailer = Recorder {
        reject: vec!["u2@example.com".into()],
        ..Recorder::default()
    };
    let (report, _) = execute(&mut store, &id, Action::Link, &mut mailer, None);
    assert_eq!((report.sent, report.failed), (3, 1));
    let live: i64 = store
        .conn()
        .query_row(
            "SELECT count(*) FROM reset_tokens WHERE revoked_at IS NULL",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(live, 3, "no live token for the failed user");
    mailer.reject.clear();
    let mut resume = Recorder::default();
    let (report, seen) = {
        let (report, seen) = execute(&mut store, &id, Action::Link, &mut resume, None);
        (
            report,
            seen.into_iter()
                .filter(|(_, o)| !matches!(o, Outcome::Skipped(_)))
                .collect::<Vec<_>>(),
        )
    };
    assert_eq!(report.sent, 1);
    assert_eq!(resume.sent, ["u2@example.com"], "nobody mailed twice");
    assert_eq!(seen.len(), 1);
}

#[test]
fn transient_replies_are_retried() {
    let (_dir, mut store) = store_with(2);
    let (id, _) = plan_file(&mut store, "u0\nu1\n", Action::Link);
    let mut mailer = Recorder {
        flaky: 2,
        ..Recorder::default()
    };
    let (report, _) = execute(&mut store, &id, Action::Link, &mut mailer, None);
    assert_eq!((report.sent, report.failed), (2, 0));
    let mut always = Recorder {
        flaky: 100,
        ..Recorder::default()
    };
    let (_dir, mut store) = store_with(2);
    let (id, _) = plan_file(&mut store, "u0\nu1\n", Action::Link);
    let (report, _) = execute(&mut store, &id, Action::Link, &mut always, None);
    assert_eq!(report.failed, 2, "gives up after the retries");
    assert_eq!(always.flaky, 100 - 6, "1 try + 2 retries each");
}

#[test]
fn stopping_leaves_the_rest_pending_for_resume() {
    let (_dir, mut store) = store_with(5);
    let (id, _) = plan_file(&mut store, "u0\nu1\nu2\nu3\nu4\n", Action::Link);
    let mut mailer = Recorder::default();
    let (report, _) = execute(&mut store, &id, Action::Link, &mut mailer, Some(2));
    assert!(report.interrupted);
    assert_eq!(report.sent, 2);
    assert_eq!(
        sql::run(store.conn(), &id)
            .expect("run")
            .expect("exists")
            .status,
        "interrupted"
    );
    let mut rest = Recorder::default();
    execute(&mut store, &id, Action::Link, &mut rest, None);
    assert_eq!(
        rest.sent,
        ["u2@example.com", "u3@example.com", "u4@example.com"]
    );
}

#[test]
fn an_item_interrupted_mid_send_is_never_resent() {
    let (_dir, mut store) = store_with(2);
    let (id, _) = plan_file(&mut store, "u0\nu1\n", Action::Link);
    let first = sql::items(store.conn(), &id, &["pending"], 0, 1).expect("items");
    assert!(
        sql::claim_item(store.conn(), first[0].id, T0).expect("claim"),
        "crash mid-send"
    );
    let mut mailer = Recorder::default();
    let (report, seen) = execute(&mut store, &id, Action::Link, &mut mailer, None);
    assert_eq!(mailer.sent, ["u1@example.com"]);
    assert_eq!(report.sent, 1);
    assert!(seen.iter().any(|(e, o)| e == "u0" && matches!(o, Outcome::Skipped(r) if r.contains("not resent"))));
}

#[test]
fn generate_hashes_in_parallel_and_every_password_verifies() {
    let (_dir, mut store) = store_with(6);
    let (id, _) = plan_file(&mut store, "u0\nu1\nu2\nu3\nu4\nu5\n", Action::Generate);
    let mut mailer = Recorder {
        reject: vec!["u3@example.com".into()],
        ..Recorder::default()
    };
    let (report, _) = execute(&mut store, &id, Action::Generate, &mut mailer, None);
    assert_eq!((report.sent, report.failed), (5, 1));
    let with_hash: i64 = store
        .conn()
        .query_row(
            "SELECT count(*) FROM users WHERE password_hash IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(
        with_hash, 5,
        "the user whose mail failed keeps no new password"
    );
    let u3: Option<String> = store
        .conn()
        .query_row(
            "SELECT password_hash FROM users WHERE username = 'u3'",
            [],
            |r| r.get(0),
        )
        .expect("row");
    assert_eq!(u3, None);
}

#[test]
fn an_item_can_be_claimed_once() {
    let (_dir, mut store) = store_with(1);
    let (id, _) = plan_file(&mut store, "u0\n", Action::Link);
    let item = sql::items(store.conn(), &id, &["pending"], 0, 1).expect("items")[0].id;
    assert!(sql::claim_item(store.conn(), item, T0).expect("first"));
    assert!(
        !sql::claim_item(store.conn(), item, T0).expect("second"),
        "another run cannot take it"
    );
    sql::finish_item(store.conn(), item, "failed", Some("x"), None, None, T0).expect("fail");
    assert!(
        sql::claim_item(store.conn(), item, T0).expect("retry"),
        "a failed item can be retried"
    );
    sql::finish_item(store.conn(), item, "sent", None, None, None, T0).expect("sent");
    assert!(
        !sql::claim_item(store.conn(), item, T0).expect("done"),
        "a sent item is never sent again"
    );
}

#[test]
fn plan_audits_with_its_actor_and_a_dry_run_changes_nothing() {
    let (_dir, mut store) = store_with(2);
    let count = |store: &Store, sql: &str| -> i64 {
        store
            .conn()
            .query_row(sql, [], |r| r.get(0))
            .expect("count")
    };
    let audit_rows = count(&store, "SELECT count(*) FROM audit_log");
    let request = Request {
        run_id: "dry",
        action: Action::Link,
        deliver_to: None,
        cooldown_secs: 60,
    };
    let mut rows = Vec::new();
    let file = Selection::File("u0\nnobody\nu1\n".as_bytes());
    let summary = dry_run(&mut store, file, &request, &actor(), at(), |item, user| {
        rows.push((item.entry.clone(), user.map(|u| u.username.clone())));
        Ok::<_, BulkError>(())
    })
    .expect("dry run");
    assert_eq!((summary.to_do, summary.skipped), (2, 1));
    assert_eq!(rows[1], ("nobody".to_string(), None));
    assert_eq!(rows[2], ("u1".to_string(), Some("u1".to_string())));
    assert_eq!(count(&store, "SELECT count(*) FROM bulk_runs"), 0);
    assert_eq!(count(&store, "SELECT count(*) FROM audit_log"), audit_rows);
    let (id, _) = plan_file(&mut store, "u0\n", Action::Link);
    let (action, os_user): (String, String) = store
        .conn()
        .query_row(
            "SELECT action, os_user FROM audit_log WHERE run_id = ?1",
            [&id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("the plan is audited");
    assert_eq!((action.as_str(), os_user.as_str()), ("bulk.plan", "root"));
}

#[test]
fn resume_checks_the_run_and_counts_what_is_left() {
    let (_dir, mut store) = store_with(300);
    assert!(matches!(
        resume(store.conn(), "none"),
        Err(BulkError::UnknownRun(_))
    ));
    let list = (0..300)
        .map(|i| format!("u{i}"))
        .collect::<Vec<_>>()
        .join("\n");
    let (id, _) = plan_file(&mut store, &list, Action::Link);
    let Ok(Resume::Ready(ready)) = resume(store.conn(), &id) else {
        panic!("a planned run can be resumed");
    };
    assert_eq!((ready.action, ready.counts.pending), (Action::Link, 300));
    let mut seen = 0;
    for_each_item(store.conn(), &id, Items::All, |item, user| {
        seen += 1;
        assert_eq!(user.map(|u| u.username.as_str()), Some(item.entry.as_str()));
        Ok::<_, BulkError>(())
    })
    .expect("items");
    assert_eq!(seen, 300, "more than one page, each item once");
    close(&mut store, &id, Close::Aborted, at()).expect("close");
    assert!(matches!(
        resume(store.conn(), &id),
        Err(BulkError::Aborted(_))
    ));
    let (id, _) = plan_file(&mut store, "nobody\n", Action::Link);
    assert_eq!(
        resume(store.conn(), &id).expect("resume"),
        Resume::NothingLeft { sent: 0 }
    );
}
