//! The audit log: one append-only row per state-changing action, chained by SHA-256.
//!
//! Each row's `hash` is SHA-256 over the previous row's hash and a canonical JSON encoding of the
//! row's fields, so editing, deleting or reordering rows breaks the chain and `verify` finds it.
//! Callers must never put a secret (password, token, link, hash, credential) in an event.
//! This module owns the events, the actor, hashing and verifying; the SQL is in
//! `crate::store::audit`, which also lists the hashed columns once ([`Entry::hashed`]).

use jiff::Timestamp;
use rusqlite::Connection;
use rusqlite::types::Value;
use sha2::{Digest, Sha256};

use crate::exit::{Classify, Exit};
use crate::store::audit as sql;
pub use crate::store::audit::{Entry, Filter, for_each};
use crate::store::users::User;
use crate::store::{Store, StoreError};

/// The `prev_hash` of the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who is acting: the OS user, plus the optional `--actor` and `--reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The operating-system user.
    pub os_user: String,
    /// The name given with `--actor`.
    pub actor: Option<String>,
    /// The reason given with `--reason`.
    pub reason: Option<String>,
}

/// How an audited action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done.
    Ok,
    /// Refused before anything changed.
    Refused,
    /// Tried and failed; nothing changed.
    Failed,
}

impl Outcome {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Refused => "refused",
            Outcome::Failed => "failed",
        }
    }
}

/// One thing to record.
#[derive(Debug, Clone)]
pub struct Event {
    action: String,
    outcome: Outcome,
    target_user_id: Option<i64>,
    target: Option<String>,
    recipient: Option<String>,
    detail: Option<String>,
    run_id: Option<String>,
}

impl Event {
    /// An event with an action name such as `user.add` and its outcome.
    pub fn new(action: &str, outcome: Outcome) -> Self {
        Event {
            action: action.to_string(),
            outcome,
            target_user_id: None,
            target: None,
            recipient: None,
            detail: None,
            run_id: None,
        }
    }

    /// The user acted on.
    #[must_use]
    pub fn target(mut self, user: &User) -> Self {
        self.target_user_id = Some(user.id);
        self.target = Some(user.username.clone());
        self
    }

    /// A target that is not (or not yet) a user, e.g. what the operator typed.
    #[must_use]
    pub fn target_text(mut self, text: &str) -> Self {
        self.target = Some(text.to_string());
        self
    }

    /// The address mail went to.
    #[must_use]
    pub fn recipient(mut self, recipient: Option<&str>) -> Self {
        self.recipient = recipient.map(str::to_string);
        self
    }

    /// Free-text detail (never a secret).
    #[must_use]
    pub fn detail(mut self, detail: Option<String>) -> Self {
        self.detail = detail;
        self
    }

    /// The bulk run this belongs to.
    #[must_use]
    pub fn run_id(mut self, run_id: Option<&str>) -> Self {
        self.run_id = run_id.map(str::to_string);
        self
    }
}

/// A broken audit chain or a failed query.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The chain does not verify at this row.
    #[error("audit log broken at row {id}: {why}")]
    Broken {
        /// The first bad row.
        id: i64,
        /// What is wrong with it.
        why: String,
    },
    /// The store failed.
    #[error("audit log: {0}")]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for AuditError {
    fn from(err: rusqlite::Error) -> Self {
        AuditError::Store(StoreError::Sqlite(err))
    }
}

impl Classify for AuditError {
    fn exit(&self) -> Exit {
        match self {
            AuditError::Broken { .. } => Exit::Failure,
            AuditError::Store(err) => err.exit(),
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            AuditError::Broken { .. } => {
                Some("the audit table was edited outside pwreset; keep a copy of the store for investigation".into())
            }
            AuditError::Store(err) => err.hint(),
        }
    }
}

/// Append one event. Call inside the transaction that makes the change it records.
pub fn append(
    conn: &Connection,
    actor: &Actor,
    now: Timestamp,
    event: &Event,
) -> Result<i64, AuditError> {
    let last = sql::last(conn)?;
    let (id, prev_hash) = last.map_or((1, GENESIS.to_string()), |(id, hash)| (id + 1, hash));
    let mut entry = Entry {
        id,
        at: now.as_second(),
        os_user: actor.os_user.clone(),
        actor: actor.actor.clone(),
        reason: actor.reason.clone(),
        action: event.action.clone(),
        target_user_id: event.target_user_id,
        target: event.target.clone(),
        recipient: event.recipient.clone(),
        outcome: event.outcome.as_str().to_string(),
        detail: event.detail.clone(),
        run_id: event.run_id.clone(),
        prev_hash,
        hash: String::new(),
    };
    entry.hash = row_hash(&entry);
    sql::insert(conn, &entry)?;
    Ok(id)
}

/// Append one event in a transaction of its own (for refusals, where nothing else changes).
pub fn record(
    store: &mut Store,
    actor: &Actor,
    now: Timestamp,
    event: &Event,
) -> Result<i64, AuditError> {
    let tx = store.write()?;
    let id = append(&tx, actor, now, event)?;
    tx.commit()?;
    Ok(id)
}

/// SHA-256 over the previous hash and the row's hashed fields ([`Entry::hashed`]) as a
/// compact JSON array, hex-encoded.
fn row_hash(entry: &Entry) -> String {
    let fields: Vec<serde_json::Value> = entry
        .hashed()
        .into_iter()
        .map(|(_, value)| json_of(value))
        .collect();
    let mut hasher = Sha256::new();
    hasher.update(entry.prev_hash.as_bytes());
    hasher.update(b"\n");
    hasher.update(serde_json::Value::Array(fields).to_string().as_bytes());
    hex::encode(hasher.finalize())
}

/// A column's value as the hash sees it: integers as numbers, text as strings, NULL as null.
fn json_of(value: Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Integer(n) => n.into(),
        Value::Real(x) => x.into(),
        Value::Text(text) => text.into(),
        Value::Blob(bytes) => hex::encode(bytes).into(),
    }
}

/// Check the whole chain; returns the number of rows verified, or the first bad row.
pub fn verify(conn: &Connection) -> Result<u64, AuditError> {
    let (mut expected_id, mut prev, mut count) = (1_i64, GENESIS.to_string(), 0_u64);
    sql::for_all(conn, |entry: Entry| {
        let broken = |why: &str| AuditError::Broken {
            id: entry.id,
            why: why.to_string(),
        };
        if entry.id != expected_id {
            return Err(broken(&format!(
                "expected row {expected_id}: rows are missing"
            )));
        }
        if entry.prev_hash != prev {
            return Err(broken("its prev_hash does not match the row before it"));
        }
        if row_hash(&entry) != entry.hash {
            return Err(broken("its contents do not match its hash"));
        }
        prev = entry.hash;
        expected_id += 1;
        count += 1;
        Ok(())
    })?;
    Ok(count)
}

/// How many rows with this action and outcome concern a user since a time (for throttling).
pub fn count_since(
    conn: &Connection,
    action: &str,
    outcome: Outcome,
    user_id: i64,
    since: i64,
) -> Result<u64, AuditError> {
    Ok(sql::count_since(
        conn,
        action,
        outcome.as_str(),
        user_id,
        since,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::audit::{COLUMNS, from_row};

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::create(&dir.path().join("a.db"), 1000).expect("store");
        (dir, store)
    }

    fn actor() -> Actor {
        Actor {
            os_user: "root".into(),
            actor: Some("ops".into()),
            reason: None,
        }
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).expect("valid time")
    }

    fn fill(store: &mut Store, n: i64) {
        for i in 0..n {
            let event = Event::new("user.add", Outcome::Ok).target_text(&format!("u{i}"));
            record(store, &actor(), at(1_000 + i), &event).expect("record");
        }
    }

    fn tamper(conn: &Connection, sql: &str) {
        conn.execute_batch("DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;")
            .expect("drop");
        conn.execute_batch(sql).expect("tamper");
    }

    #[test]
    fn a_fresh_chain_verifies() {
        let (_dir, mut store) = store();
        assert_eq!(verify(store.conn()).expect("empty"), 0);
        fill(&mut store, 3);
        assert_eq!(verify(store.conn()).expect("three rows"), 3);
        let first_prev: String = store
            .conn()
            .query_row("SELECT prev_hash FROM audit_log WHERE id = 1", [], |r| {
                r.get(0)
            })
            .expect("row");
        assert_eq!(first_prev, GENESIS);
    }

    #[test]
    fn an_edited_row_is_named() {
        let (_dir, mut store) = store();
        fill(&mut store, 3);
        tamper(
            store.conn(),
            "UPDATE audit_log SET target = 'mallory' WHERE id = 2",
        );
        match verify(store.conn()) {
            Err(AuditError::Broken { id, why }) => {
                assert_eq!(id, 2);
                assert!(why.contains("contents"), "{why}");
            }
            other => panic!("expected broken chain, got {other:?}"),
        }
    }

    #[test]
    fn a_deleted_row_is_found() {
        let (_dir, mut store) = store();
        fill(&mut store, 3);
        tamper(store.conn(), "DELETE FROM audit_log WHERE id = 2");
        assert!(matches!(
            verify(store.conn()),
            Err(AuditError::Broken { id: 3, .. })
        ));
    }

    #[test]
    fn a_rehashed_row_breaks_the_next_link() {
        let (_dir, mut store) = store();
        fill(&mut store, 3);
        let mut entry = store
            .conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM audit_log WHERE id = 2"),
                [],
                from_row,
            )
            .expect("row 2");
        entry.target = Some("mallory".into());
        let forged = row_hash(&entry);
        tamper(
            store.conn(),
            &format!("UPDATE audit_log SET target = 'mallory', hash = '{forged}' WHERE id = 2"),
        );
        assert!(matches!(
            verify(store.conn()),
            Err(AuditError::Broken { id: 3, .. })
        ));
    }

    #[test]
    fn filter_by_action_prefix_since_and_limit() {
        let (_dir, mut store) = store();
        fill(&mut store, 5);
        record(
            &mut store,
            &actor(),
            at(2_000),
            &Event::new("store.init", Outcome::Ok),
        )
        .expect("record");
        let collect = |filter: &Filter| {
            let mut ids = Vec::new();
            for_each::<rusqlite::Error>(store.conn(), filter, |e| {
                ids.push(e.id);
                Ok(())
            })
            .expect("query");
            ids
        };
        assert_eq!(
            collect(&Filter {
                action: Some("user.*".into()),
                ..Filter::default()
            }),
            vec![1, 2, 3, 4, 5]
        );
        assert_eq!(
            collect(&Filter {
                action: Some("store.init".into()),
                ..Filter::default()
            }),
            vec![6]
        );
        assert_eq!(
            collect(&Filter {
                since: Some(1_003),
                ..Filter::default()
            }),
            vec![4, 5, 6]
        );
        assert_eq!(
            collect(&Filter {
                limit: Some(2),
                ..Filter::default()
            }),
            vec![5, 6]
        );
    }

    #[test]
    fn the_hash_of_a_fixed_row_is_pinned() {
        // Existing stores must keep verifying: this hash was computed before the columns were
        // listed once, and must never change.
        let entry = Entry {
            id: 7,
            at: 1_800_000_000,
            os_user: "root".into(),
            actor: Some("ops".into()),
            reason: Some("ticket \"42\"".into()),
            action: "link.send".into(),
            target_user_id: Some(3),
            target: Some("alice".into()),
            recipient: Some("alice@example.com".into()),
            outcome: "ok".into(),
            detail: Some("token #9, expires \u{e9}\nnext".into()),
            run_id: None,
            prev_hash: "ab".repeat(32),
            hash: String::new(),
        };
        assert_eq!(
            row_hash(&entry),
            "50e6152809566780f0a78e1a1871c064e6e85e898bbd79b0304aef1b05fd4a34"
        );
    }
}
