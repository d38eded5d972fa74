#![expect(
    clippy::disallowed_methods,
    reason = "tests draw real tokens from the OS RNG"
)]

use super::*;
use crate::audit::{Actor, verify};
use crate::store::bulk::{self, NewRun};
use crate::store::testing::{TestStore, on_both_backends};
use crate::store::users::NewUser;
use crate::tokens::{IssueRequest, issue_pending};

fn at(secs: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(secs).expect("time")
}

on_both_backends!(
    the_table_lists_hold_every_column_of_the_schema,
    a_copy_holds_the_same_rows_and_its_audit_chain_verifies,
    a_failed_copy_leaves_the_target_empty,
);

/// The (from, to) pairs a test copies between: SQLite to SQLite; with PostgreSQL, both ways
/// between the two and PostgreSQL to PostgreSQL.
fn pairs(backend: Backend) -> Vec<(Backend, Backend)> {
    match backend {
        Backend::Sqlite => vec![(Backend::Sqlite, Backend::Sqlite)],
        Backend::Postgres => vec![
            (Backend::Sqlite, Backend::Postgres),
            (Backend::Postgres, Backend::Sqlite),
            (Backend::Postgres, Backend::Postgres),
        ],
    }
}

fn actor() -> Actor {
    Actor {
        os_user: "root".into(),
        actor: None,
        reason: None,
        key: crate::keys::AuditKey::for_tests(),
    }
}

/// A store with a user, a token, a bulk run with an item, and audit rows.
fn filled(backend: Backend) -> TestStore {
    let mut store = TestStore::new(backend);
    let new = NewUser {
        username: "alice".into(),
        email: Some("alice@example.com".into()),
        display_name: Some("Alice".into()),
        active: true,
        locale: None,
    };
    let user = crate::users::add(&mut store, &new, &actor(), at(1_800_000_000)).expect("user");
    let key = Some(crate::keys::CodeKey::for_tests());
    let request = IssueRequest {
        ttl_secs: 3600,
        recipient: "alice@example.com",
        actor: "root",
        code_key: key.as_ref(),
    };
    let token = issue_pending(
        &mut store,
        &user,
        request,
        at(1_800_000_001),
        &mut rand::rng(),
    )
    .expect("token");
    let reply = Some("250 2.0.0 Ok: queued as 4XyZ");
    crate::store::tokens::activate_sent(store.conn(), token.id, Some(1_800_000_001), reply)
        .expect("sent");
    let temp = crate::store::temp_passwords::NewTempPassword {
        user_id: user.id,
        created_at: 1_800_000_001,
        expires_at: 1_800_086_401,
        handover: crate::store::temp_passwords::Handover::Email,
        recipient: Some("alice@example.com"),
        run_id: Some("run-1"),
        sent_at: Some(1_800_000_001),
        mail_reply: reply,
        failure: None,
    };
    crate::store::temp_passwords::insert(store.conn(), &temp).expect("temp password");
    let run = NewRun {
        id: "run-1",
        action: "link",
        os_user: "root",
        actor: None,
        reason: None,
        deliver_to: None,
        reissue_of: Some("run-0"),
    };
    bulk::insert_run(store.conn(), &run, 1_800_000_002).expect("run");
    bulk::insert_item(
        store.conn(),
        "run-1",
        1,
        "alice",
        Some(user.id),
        None,
        1_800_000_002,
    )
    .expect("item");
    let end = bulk::Finish {
        status: "sent",
        produced: bulk::Produced::Token(token.id),
        ..bulk::Finish::default()
    };
    bulk::finish_item_producing(store.conn(), 1, &end, 1_800_000_003).expect("finish");
    store
}

/// Every row of every table, as text, for comparing two stores.
fn dump(conn: &Conn) -> Vec<String> {
    let mut rows = Vec::new();
    for table in TABLES {
        let sql = format!(
            "SELECT {} FROM {} ORDER BY id",
            table.columns.join(", "),
            table.name
        );
        conn.query_each(&sql, &[], |row| {
            let cells: Vec<String> = (0..table.columns.len())
                .map(|i| row.get::<Value>(i).map(|v| format!("{v:?}")))
                .collect::<Result<_, DbError>>()?;
            rows.push(format!("{}: {}", table.name, cells.join(" | ")));
            Ok::<(), DbError>(())
        })
        .expect("dump");
    }
    rows
}

fn the_table_lists_hold_every_column_of_the_schema(backend: Backend) {
    let store = TestStore::new(backend);
    // PostgreSQL's migrations keep their version in a table of their own (SQLite's is
    // `PRAGMA user_version`), which is not the store's data.
    let names = store.conn().table_names().expect("tables");
    let mut listed: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
    listed.sort_unstable();
    assert_eq!(names, listed);
    for table in TABLES {
        let found = store.conn().column_names(table.name).expect("columns");
        assert_eq!(found, table.columns, "{}", table.name);
    }
    if backend == Backend::Postgres {
        // Only identity columns have a sequence for `copy` to move past the copied ids.
        for table in TABLES {
            let identity: String = store
                .conn()
                .query_one(
                    "SELECT CAST(is_identity AS TEXT) FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND table_name = ?1 \
                     AND column_name = 'id'",
                    &crate::vals![table.name],
                    |row| row.get(0),
                )
                .expect("id column");
            assert_eq!(identity == "YES", table.generated_id, "{}", table.name);
        }
    }
}

fn a_copy_holds_the_same_rows_and_its_audit_chain_verifies(backend: Backend) {
    for (from_backend, to_backend) in pairs(backend) {
        let pair = format!("{from_backend:?} to {to_backend:?}");
        let from = filled(from_backend);
        let mut to = TestStore::new(to_backend);
        assert_eq!(counts(to.conn()).expect("counts").total(), 0);
        let tx = to.write().expect("tx");
        let copied = copy(from.conn(), &tx).expect("copy");
        tx.commit().expect("commit");
        assert_eq!(copied, counts(from.conn()).expect("counts"), "{pair}");
        assert!(copied.total() >= 5, "{pair}: {copied:?}");
        assert_eq!(dump(from.conn()), dump(to.conn()), "{pair}");
        let verified = verify(to.conn(), &crate::keys::AuditKey::for_tests(), None)
            .expect("the chain verifies on the copy");
        assert_eq!(
            verified.rows,
            verify(from.conn(), &crate::keys::AuditKey::for_tests(), None)
                .expect("source")
                .rows,
            "{pair}"
        );
        // New rows take ids after the copied ones (PostgreSQL: the sequences were moved).
        let new = NewUser {
            username: "bob".into(),
            email: Some("bob@example.com".into()),
            display_name: None,
            active: true,
            locale: None,
        };
        let bob = crate::users::add(&mut to, &new, &actor(), at(1_800_000_003)).expect("bob");
        assert_eq!(bob.id, 2, "{pair}");
    }
}

fn a_failed_copy_leaves_the_target_empty(backend: Backend) {
    for (from_backend, to_backend) in pairs(backend) {
        let from = filled(from_backend);
        let mut to = TestStore::new(to_backend);
        // A row already in the target makes the copy of `bulk_runs` collide.
        to.conn()
            .execute(
                "INSERT INTO bulk_runs (id, created_at, action, os_user, status) \
                 VALUES ('run-1', 0, 'link', 'x', 'done')",
                &[],
            )
            .expect("a clashing row");
        let tx = to.write().expect("tx");
        assert!(copy(from.conn(), &tx).is_err());
        drop(tx);
        let left = counts(to.conn()).expect("counts");
        assert_eq!(
            left.total(),
            1,
            "{from_backend:?} to {to_backend:?}: only the clashing row: {left:?}"
        );
    }
}
