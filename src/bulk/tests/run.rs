//! Running: retries, parallel hashing and claims.

use super::*;

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
