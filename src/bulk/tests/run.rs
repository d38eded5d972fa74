//! Running: retries, parallel hashing, claims, and users changed while a run goes.

use super::*;

on_both_backends!(
    transient_replies_are_retried,
    generate_hashes_in_parallel_and_every_password_verifies,
    an_item_can_be_claimed_once,
    a_user_is_mailed_at_the_address_they_have_when_their_turn_comes,
    a_user_deactivated_during_a_run_is_skipped_and_not_mailed,
);

fn transient_replies_are_retried(backend: Backend) {
    let mut store = store_with(backend, 2);
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
    let mut store = store_with(backend, 2);
    let (id, _) = plan_file(&mut store, "u0\nu1\n", Action::Link);
    let (report, _) = execute(&mut store, &id, Action::Link, &mut always, None);
    assert_eq!(report.failed, 2, "gives up after the retries");
    assert_eq!(always.flaky, 100 - 6, "1 try + 2 retries each");
}

fn generate_hashes_in_parallel_and_every_password_verifies(backend: Backend) {
    let mut store = store_with(backend, 6);
    let (id, _) = plan_file(&mut store, "u0\nu1\nu2\nu3\nu4\nu5\n", Action::Generate);
    let mut mailer = Recorder {
        reject: vec!["u3@example.com".into()],
        ..Recorder::default()
    };
    let (report, _) = execute(&mut store, &id, Action::Generate, &mut mailer, None);
    assert_eq!((report.sent, report.failed), (5, 1));
    let with_hash: i64 = store
        .conn()
        .query_one(
            "SELECT count(*) FROM users WHERE password_hash IS NOT NULL",
            &crate::vals![],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(
        with_hash, 5,
        "the user whose mail failed keeps no new password"
    );
    let u3: Option<String> = store
        .conn()
        .query_one(
            "SELECT password_hash FROM users WHERE username = 'u3'",
            &crate::vals![],
            |r| r.get(0),
        )
        .expect("row");
    assert_eq!(u3, None);
}

fn an_item_can_be_claimed_once(backend: Backend) {
    let mut store = store_with(backend, 1);
    let (id, _) = plan_file(&mut store, "u0\n", Action::Link);
    let item = sql::items(store.conn(), &id, &["pending"], 0, 1).expect("items")[0].id;
    assert!(sql::claim_item(store.conn(), item, crate::delivery::owner::me(), T0).expect("first"));
    assert!(
        !sql::claim_item(store.conn(), item, crate::delivery::owner::me(), T0).expect("second"),
        "another run cannot take it"
    );
    sql::finish_item(store.conn(), item, "failed", Some("x"), None, None, T0).expect("fail");
    assert!(
        sql::claim_item(store.conn(), item, crate::delivery::owner::me(), T0).expect("retry"),
        "a failed item can be retried"
    );
    sql::finish_item(store.conn(), item, "sent", None, None, None, T0).expect("sent");
    assert!(
        !sql::claim_item(store.conn(), item, crate::delivery::owner::me(), T0).expect("done"),
        "a sent item is never sent again"
    );
}

/// Each way a run mails: links one at a time, links pipelined, temporary passwords.
const PATHS: [(Action, bool); 3] = [
    (Action::Link, false),
    (Action::Link, true),
    (Action::Generate, false),
];

/// On each path, a run of u0, u1 and u2 in which, as the first mail goes out, `sql` changes
/// the users who are not its recipient (`?1`); their items were read with the first page,
/// before that. `check` gets the path's name, whether users are claimed and written a batch at
/// a time (pipelined links on PostgreSQL: then the others were read, and their links written,
/// with the first), the report, the outcomes and the mail sent.
fn on_each_path_change_the_others(
    backend: Backend,
    sql: &'static str,
    check: impl Fn(&str, bool, Report, Vec<(String, Outcome)>, Vec<String>),
) {
    for (action, pipelined) in PATHS {
        let mut store = store_with(backend, 3);
        let (id, _) = plan_file(&mut store, "u0\nu1\nu2\n", action);
        let mut mailer = Recorder {
            pipelined,
            // Another pwreset's connection.
            meanwhile: Some((store.reopen(5000), sql)),
            ..Recorder::default()
        };
        let batched = action == Action::Link
            && pipelined
            && crate::bulk::batching::users_per_transaction(&store) > 1;
        let (report, seen) = execute(&mut store, &id, action, &mut mailer, None);
        let path = format!("{action:?}, pipelined: {pipelined}");
        check(&path, batched, report, seen, mailer.sent);
    }
}

/// On the batched path the others' mails were written and on their way when they changed: each
/// went to the address read with the batch, and its link stays dead (the item failed, so
/// `--reissue RUN --state failed` mails them again).
fn the_others_links_died_in_flight(
    path: &str,
    report: Report,
    seen: &[(String, Outcome)],
    sent: &[String],
) {
    assert_eq!((report.sent, report.failed), (1, 2), "{path}: {seen:?}");
    let dead = seen
        .iter()
        .filter(|(_, o)| {
            *o == Outcome::Failed(crate::links::LinkFailure::RevokedMeanwhile.to_string())
        })
        .count();
    assert_eq!(dead, 2, "{path}: {seen:?}");
    let mut sent = sent.to_vec();
    sent.sort();
    assert_eq!(
        sent,
        ["u0@example.com", "u1@example.com", "u2@example.com"],
        "{path}"
    );
}

fn a_user_is_mailed_at_the_address_they_have_when_their_turn_comes(backend: Backend) {
    let sql = "UPDATE users SET email = 'new.' || email WHERE email <> ?1";
    on_each_path_change_the_others(backend, sql, |path, batched, report, seen, sent| {
        if batched {
            the_others_links_died_in_flight(path, report, &seen, &sent);
            return;
        }
        assert_eq!(report.sent, 3, "{path}");
        // Temporary passwords go out in the order their hashing ends.
        let (first, rest) = sent.split_first().expect("mail");
        let mut rest = rest.to_vec();
        rest.sort();
        let others: Vec<String> = ["u0", "u1", "u2"]
            .iter()
            .map(|u| format!("{u}@example.com"))
            .filter(|address| address != first)
            .map(|address| format!("new.{address}"))
            .collect();
        assert_eq!(rest, others, "{path}: {sent:?}");
    });
}

fn a_user_deactivated_during_a_run_is_skipped_and_not_mailed(backend: Backend) {
    let sql = "UPDATE users SET active = 0 WHERE email <> ?1";
    on_each_path_change_the_others(backend, sql, |path, batched, report, seen, sent| {
        if batched {
            the_others_links_died_in_flight(path, report, &seen, &sent);
            return;
        }
        assert_eq!((report.sent, report.skipped), (1, 2), "{path}");
        assert_eq!(sent.len(), 1, "{path}: {sent:?}");
        let inactive = seen
            .iter()
            .filter(|(_, o)| *o == Outcome::Skipped("inactive".into()))
            .count();
        assert_eq!(inactive, 2, "{path}: {seen:?}");
    });
}
