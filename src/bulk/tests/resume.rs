//! Stopping and resuming: what is left for a resume, and that nobody is mailed twice.

use super::*;

on_both_backends!(
    one_failure_does_not_stop_the_others_and_resume_finishes_only_it,
    stopping_leaves_the_rest_pending_for_resume,
    an_item_whose_mail_may_have_left_is_never_resent,
    an_item_claimed_by_a_dead_process_before_any_mail_is_sent_again,
    an_item_held_by_a_live_process_is_left_to_it,
    resume_checks_the_run_and_counts_what_is_left,
);

fn one_failure_does_not_stop_the_others_and_resume_finishes_only_it(backend: Backend) {
    let mut store = store_with(backend, 4);
    let (id, _) = plan_file(&mut store, "u0\nu1\nu2\nu3\n", Action::Link);
    let mut mailer = Recorder {
        reject: vec!["u2@example.com".into()],
        ..Recorder::default()
    };
    let (report, _) = execute(&mut store, &id, Action::Link, &mut mailer, None);
    assert_eq!((report.sent, report.failed), (3, 1));
    let live: i64 = store
        .conn()
        .query_one(
            "SELECT count(*) FROM reset_tokens WHERE revoked_at IS NULL",
            &crate::vals![],
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

fn stopping_leaves_the_rest_pending_for_resume(backend: Backend) {
    let mut store = store_with(backend, 5);
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

/// A process that is gone: this host, a pid that does not exist.
fn dead_owner() -> crate::store::intents::Owner {
    crate::store::intents::Owner {
        pid: u32::MAX - 1,
        ..crate::delivery::owner::me().clone()
    }
}

/// Plan u0 and u1, and leave u0 `sending`, claimed by `owner`, with a mail intent if `intent`.
fn claimed_mid_send(
    backend: Backend,
    owner: &crate::store::intents::Owner,
    intent: bool,
) -> (TestStore, String) {
    let mut store = store_with(backend, 2);
    let (id, _) = plan_file(&mut store, "u0\nu1\n", Action::Link);
    let first = sql::items(store.conn(), &id, &["pending"], 0, 1).expect("items");
    assert!(sql::claim_item(store.conn(), first[0].id, owner, T0).expect("claim"));
    if intent {
        let new = crate::store::intents::NewIntent {
            action: crate::links::ACTION,
            user_id: first[0].user_id.expect("a user"),
            username: "u0",
            token_id: None,
            recipient: "u0@example.com",
            bulk: Some((&id, first[0].id)),
            os_user: "root",
            owner,
            created_at: T0,
        };
        crate::store::intents::insert(store.conn(), &new).expect("intent");
    }
    (store, id)
}

fn an_item_whose_mail_may_have_left_is_never_resent(backend: Backend) {
    let (mut store, id) = claimed_mid_send(backend, &dead_owner(), true);
    let mut mailer = Recorder::default();
    let (report, seen) = execute(&mut store, &id, Action::Link, &mut mailer, None);
    assert_eq!(mailer.sent, ["u1@example.com"]);
    assert_eq!((report.sent, report.failed), (1, 1));
    assert!(
        seen.iter()
            .any(|(e, o)| e == "u0" && matches!(o, Outcome::Failed(r) if r.contains("not resent")))
    );
    assert_eq!(
        sql::counts(store.conn(), &id).expect("counts").interrupted,
        1
    );
}

fn an_item_claimed_by_a_dead_process_before_any_mail_is_sent_again(backend: Backend) {
    let (mut store, id) = claimed_mid_send(backend, &dead_owner(), false);
    let mut mailer = Recorder::default();
    let (report, _) = execute(&mut store, &id, Action::Link, &mut mailer, None);
    assert_eq!(mailer.sent, ["u0@example.com", "u1@example.com"]);
    assert_eq!((report.sent, report.failed), (2, 0));
}

fn an_item_held_by_a_live_process_is_left_to_it(backend: Backend) {
    let (mut store, id) = claimed_mid_send(backend, crate::delivery::owner::me(), true);
    let mut mailer = Recorder::default();
    let (report, seen) = execute(&mut store, &id, Action::Link, &mut mailer, None);
    assert_eq!(mailer.sent, ["u1@example.com"]);
    assert_eq!((report.sent, report.skipped, report.failed), (1, 0, 0));
    assert!(
        seen.iter().all(|(e, _)| e != "u0"),
        "not this process's user: {seen:?}"
    );
    assert_eq!(sql::counts(store.conn(), &id).expect("counts").sending, 1);
    assert_eq!(
        sql::run(store.conn(), &id)
            .expect("run")
            .expect("exists")
            .status,
        "running",
        "the other process finishes the run"
    );
}

fn resume_checks_the_run_and_counts_what_is_left(backend: Backend) {
    let mut store = store_with(backend, 300);
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
