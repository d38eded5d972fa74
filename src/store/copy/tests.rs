#![expect(
    clippy::disallowed_methods,
    reason = "tests draw real tokens from the OS RNG"
)]

use super::*;
use crate::audit::{Actor, verify};
use crate::store::Store;
use crate::store::bulk::{self, NewRun};
use crate::store::users::NewUser;
use crate::tokens::{IssueRequest, issue_pending};

fn at(secs: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(secs).expect("time")
}

fn actor() -> Actor {
    Actor {
        os_user: "root".into(),
        actor: None,
        reason: None,
    }
}

/// A store with a user, a token, a bulk run with an item, and audit rows.
fn filled(dir: &std::path::Path) -> Store {
    let mut store = Store::create(&dir.join("from.db"), 5000).expect("store");
    let new = NewUser {
        username: "alice".into(),
        email: Some("alice@example.com".into()),
        display_name: Some("Alice".into()),
        active: true,
    };
    let user = crate::users::add(&mut store, &new, &actor(), at(1_800_000_000)).expect("user");
    let key = store.code_key().cloned();
    let request = IssueRequest {
        ttl_secs: 3600,
        recipient: "alice@example.com",
        actor: "root",
        code_key: key.as_ref(),
    };
    issue_pending(
        &mut store,
        &user,
        request,
        at(1_800_000_001),
        &mut rand::rng(),
    )
    .expect("token");
    let run = NewRun {
        id: "run-1",
        action: "link",
        os_user: "root",
        actor: None,
        reason: None,
        deliver_to: None,
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

#[test]
fn the_table_lists_hold_every_column_of_the_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::create(&dir.path().join("s.db"), 5000).expect("store");
    let names: Vec<String> = store
        .conn()
        .query_vec(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
            &[],
            |row| row.get(0),
        )
        .expect("tables");
    let mut listed: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
    listed.sort_unstable();
    assert_eq!(names, listed);
    for table in TABLES {
        let sql = format!(
            "SELECT name FROM pragma_table_info('{}') ORDER BY cid",
            table.name
        );
        let columns: Vec<String> = store
            .conn()
            .query_vec(&sql, &[], |row| row.get(0))
            .expect("columns");
        assert_eq!(columns, table.columns, "{}", table.name);
    }
}

#[test]
fn a_copy_holds_the_same_rows_and_its_audit_chain_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let from = filled(dir.path());
    let mut to = Store::create(&dir.path().join("to.db"), 5000).expect("store");
    assert_eq!(counts(to.conn()).expect("counts").total(), 0);
    let tx = to.write().expect("tx");
    let copied = copy(from.conn(), &tx).expect("copy");
    tx.commit().expect("commit");
    assert_eq!(copied, counts(from.conn()).expect("counts"));
    assert!(copied.total() >= 5, "{copied:?}");
    assert_eq!(dump(from.conn()), dump(to.conn()));
    let verified = verify(to.conn(), None).expect("the chain verifies on the copy");
    assert_eq!(
        verified.rows,
        verify(from.conn(), None).expect("source").rows
    );
}

#[test]
fn a_failed_copy_leaves_the_target_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let from = filled(dir.path());
    let mut to = Store::create(&dir.path().join("to.db"), 5000).expect("store");
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
    assert_eq!(left.total(), 1, "only the clashing row: {left:?}");
}
