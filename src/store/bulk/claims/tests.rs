//! Claims on both backends: the next free item in order, given back when released, and on
//! PostgreSQL claimed side by side with another claimer and with a writer holding the lock.

use super::super::{NewRun, insert_item, insert_run};
use super::*;
use crate::store::Store;
use crate::store::sql::postgres::scratch::Scratch;

const T0: i64 = 1_700_000_000;

fn owner() -> Owner {
    Owner {
        host: "here".into(),
        pid: 42,
        started: Some(7),
    }
}

/// A run `r` of `n` pending items (naming nobody) and one skipped item at position 0.
fn plan(store: &mut Store, n: i64) {
    let tx = store.write().expect("write");
    let run = NewRun {
        id: "r",
        action: "link",
        os_user: "admin",
        actor: None,
        reason: None,
        deliver_to: None,
        reissue_of: None,
    };
    insert_run(&tx, &run, T0).expect("run");
    insert_item(&tx, "r", 0, "gone", None, Some("unknown"), T0).expect("skipped");
    for position in 1..=n {
        insert_item(&tx, "r", position, &format!("u{position}"), None, None, T0).expect("item");
    }
    tx.commit().expect("commit");
}

/// Claim the next free item after `after` in a claim transaction of its own.
fn next(store: &mut Store, after: i64) -> Option<i64> {
    let tx = store.claim().expect("claim");
    let claimed = claim_next(&tx, "r", after, &owner(), T0).expect("claim_next");
    tx.commit().expect("commit");
    claimed.map(|(item, user)| {
        assert_eq!((item.status.as_str(), user), ("sending", None));
        item.position
    })
}

#[test]
fn claim_next_takes_free_items_in_order_and_release_gives_one_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::create(&dir.path().join("s.db"), 1000).expect("store");
    plan(&mut store, 3);
    assert_eq!(next(&mut store, 0), Some(1), "the skipped item is not free");
    assert_eq!(next(&mut store, 0), Some(2), "a claimed item is not free");
    let third = next(&mut store, 2).expect("third");
    let id: i64 = store
        .conn()
        .query_one(
            "SELECT id FROM bulk_items WHERE position = ?1",
            &crate::vals![third],
            |r| r.get(0),
        )
        .expect("id");
    let stranger = Owner { pid: 43, ..owner() };
    assert!(!release(store.conn(), id, &stranger, T0).expect("release"));
    assert_eq!(next(&mut store, 0), None, "nothing left");
    assert!(release(store.conn(), id, &owner(), T0).expect("release"));
    assert_eq!(next(&mut store, 0), Some(3), "released: free again");
    assert_eq!(next(&mut store, 3), None);
}

#[test]
#[cfg_attr(
    not(pwreset_pg),
    ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
)]
fn on_postgres_claims_skip_each_others_rows_and_never_wait_for_the_writer_lock() {
    let Some(db) = Scratch::new() else { return };
    let open = || Store::open_pg(&db.target, Some(db.password()), 300).expect("open");
    let (mut a, mut b, mut writer) = (open(), open(), open());
    plan(&mut a, 3);
    // A writer holds pwreset's writer lock for the whole test.
    let _writing = writer.write().expect("the writer lock");
    let held = a.claim().expect("claim a");
    let first = claim_next(&held, "r", 0, &owner(), T0).expect("a claims");
    assert_eq!(first.map(|(item, _)| item.position), Some(1));
    // `a` has not committed: its row is locked, and `b` takes the next one without waiting
    // (a wait would end in the 300 ms lock timeout, an error).
    assert_eq!(next(&mut b, 0), Some(2));
    held.commit().expect("commit a");
    assert_eq!(next(&mut b, 0), Some(3));
    assert_eq!(next(&mut b, 0), None);
}

#[test]
fn claim_next_takes_pending_and_failed_items_in_their_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::create(&dir.path().join("s.db"), 1000).expect("store");
    plan(&mut store, 3);
    // Item ids follow positions from 0: id 3 is position 2.
    super::super::finish_item(store.conn(), 3, "failed", Some("4xx"), None, None, T0)
        .expect("fail position 2");
    assert_eq!(next(&mut store, 0), Some(1));
    assert_eq!(next(&mut store, 1), Some(2), "a failed item in its turn");
    assert_eq!(next(&mut store, 2), Some(3));
    assert_eq!(next(&mut store, 0), None);
}

/// Claim a batch of at most `limit` items after position `after` and commit: their positions.
fn batch(store: &mut Store, after: i64, limit: usize) -> Vec<i64> {
    let tx = store.claim().expect("claim");
    let claimed = claim_batch(&tx, "r", after, &owner(), T0, limit).expect("claim_batch");
    tx.commit().expect("commit");
    claimed
        .iter()
        .map(|(item, _)| item.position)
        .collect::<Vec<_>>()
}

#[test]
fn claim_batch_takes_up_to_its_limit_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::create(&dir.path().join("s.db"), 1000).expect("store");
    plan(&mut store, 5);
    super::super::finish_item(store.conn(), 4, "failed", Some("4xx"), None, None, T0)
        .expect("fail position 3");
    assert_eq!(
        batch(&mut store, 0, 4),
        [1, 2, 3, 4],
        "pending and failed, in order"
    );
    assert_eq!(batch(&mut store, 0, 4), [5]);
    assert!(batch(&mut store, 0, 4).is_empty());
}

#[test]
#[cfg_attr(
    not(pwreset_pg),
    ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
)]
fn claim_batch_on_postgres_skips_a_held_batch() {
    let Some(db) = Scratch::new() else { return };
    let open = || Store::open_pg(&db.target, Some(db.password()), 300).expect("open");
    let (mut a, mut b) = (open(), open());
    plan(&mut a, 5);
    let held = a.claim().expect("claim a");
    let first = claim_batch(&held, "r", 0, &owner(), T0, 3).expect("a claims");
    assert_eq!(first.len(), 3);
    // `a` has not committed: `b` takes the rest without waiting for its rows.
    assert_eq!(batch(&mut b, 0, 3), [4, 5]);
    held.commit().expect("commit a");
    assert!(batch(&mut b, 0, 3).is_empty());
}

#[test]
fn a_page_with_no_status_listed_holds_every_item_in_order_interrupted_ones_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::create(&dir.path().join("s.db"), 1000).expect("store");
    plan(&mut store, 3);
    // Item ids follow positions from 0: id 3 is position 2.
    super::super::finish_item(store.conn(), 3, "interrupted", Some("x"), None, None, T0)
        .expect("interrupt position 2");
    let all = super::super::page(store.conn(), "r", &[], 0, 10).expect("page");
    let seen: Vec<(i64, &str)> = all
        .iter()
        .map(|(item, _)| (item.position, item.status.as_str()))
        .collect();
    assert_eq!(seen, [(1, "pending"), (2, "interrupted"), (3, "pending")]);
    let skipped = super::super::page(store.conn(), "r", &["skipped"], -1, 10).expect("page");
    assert_eq!(skipped.len(), 1, "a listed status still filters");
}

/// Positions and statuses of run `r`'s items with these statuses, streamed, outside and inside
/// a read transaction (a cursor on PostgreSQL).
fn streamed(store: &Store, statuses: &[&str]) -> Vec<(i64, String)> {
    let mut seen = Vec::new();
    super::super::each_item(store.conn(), "r", statuses, |item, _| {
        seen.push((item.position, item.status));
        Ok::<_, DbError>(())
    })
    .expect("stream");
    let read = store.conn().begin_read().expect("read");
    let mut again = Vec::new();
    super::super::each_item(&read, "r", statuses, |item, _| {
        again.push((item.position, item.status));
        Ok::<_, DbError>(())
    })
    .expect("stream in a transaction");
    assert_eq!(seen, again);
    seen
}

fn streams_every_item_in_order_and_stops_at_the_callers_error(store: &mut Store) {
    plan(store, 300); // more than a cursor's batch of rows
    super::super::finish_item(store.conn(), 3, "interrupted", Some("x"), None, None, T0)
        .expect("interrupt position 2");
    let all = streamed(store, &[]);
    assert_eq!(all.len(), 301);
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0), "in order");
    assert_eq!(all[2], (2, "interrupted".to_string()));
    assert_eq!(streamed(store, &["skipped", "interrupted"]).len(), 2);
    let mut handed = 0;
    let stopped = super::super::each_item(store.conn(), "r", &[], |_, _| {
        handed += 1;
        if handed == 5 {
            return Err(Stop::Caller);
        }
        Ok(())
    });
    assert!(
        matches!(stopped, Err(Stop::Caller)),
        "the caller's error comes back"
    );
    assert_eq!(handed, 5, "nothing is handed over after it");
}

/// A caller's own error while streaming (a full pipe, say), or the store's.
#[derive(Debug)]
enum Stop {
    Caller,
    Store,
}

impl From<DbError> for Stop {
    fn from(_: DbError) -> Self {
        Stop::Store
    }
}

#[test]
fn each_item_streams_a_run_in_order_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::create(&dir.path().join("s.db"), 1000).expect("store");
    streams_every_item_in_order_and_stops_at_the_callers_error(&mut store);
}

#[test]
#[cfg_attr(
    not(pwreset_pg),
    ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
)]
fn each_item_streams_a_run_in_order_on_postgres() {
    let Some(db) = Scratch::new() else { return };
    let mut store = Store::open_pg(&db.target, Some(db.password()), 1000).expect("open");
    streams_every_item_in_order_and_stops_at_the_callers_error(&mut store);
}
