//! The audit log: one append-only row per state-changing action, chained by SHA-256.
//!
//! Each row's `hash` is SHA-256 over the previous row's hash and a canonical JSON encoding of the
//! row's fields, so editing, deleting or reordering rows breaks the chain and `verify` finds it.
//! Callers must never put a secret (password, token, link, hash, credential) in an event.

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, Row, params};
use sha2::{Digest, Sha256};

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

/// A stored audit row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Row id (1, 2, 3, ...).
    pub id: i64,
    /// When (Unix seconds, UTC).
    pub at: i64,
    /// The OS user.
    pub os_user: String,
    /// `--actor`.
    pub actor: Option<String>,
    /// `--reason`.
    pub reason: Option<String>,
    /// Action name.
    pub action: String,
    /// Target user id.
    pub target_user_id: Option<i64>,
    /// Target username (at the time).
    pub target: Option<String>,
    /// Mail recipient.
    pub recipient: Option<String>,
    /// `ok`, `refused` or `failed`.
    pub outcome: String,
    /// Detail.
    pub detail: Option<String>,
    /// Bulk run id.
    pub run_id: Option<String>,
    /// The previous row's hash.
    pub prev_hash: String,
    /// This row's hash.
    pub hash: String,
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

/// Append one event. Call inside the transaction that makes the change it records.
pub fn append(
    conn: &Connection,
    actor: &Actor,
    now: Timestamp,
    event: &Event,
) -> Result<i64, AuditError> {
    let last: Option<(i64, String)> = conn
        .prepare_cached("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
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
    conn.prepare_cached(
        "INSERT INTO audit_log (id, at, os_user, actor, reason, action, target_user_id, target, \
         recipient, outcome, detail, run_id, prev_hash, hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        entry.id,
        entry.at,
        entry.os_user,
        entry.actor,
        entry.reason,
        entry.action,
        entry.target_user_id,
        entry.target,
        entry.recipient,
        entry.outcome,
        entry.detail,
        entry.run_id,
        entry.prev_hash,
        entry.hash
    ])?;
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

/// SHA-256 over the previous hash and the row's fields, hex-encoded.
fn row_hash(entry: &Entry) -> String {
    let fields = serde_json::json!([
        entry.id,
        entry.at,
        entry.os_user,
        entry.actor,
        entry.reason,
        entry.action,
        entry.target_user_id,
        entry.target,
        entry.recipient,
        entry.outcome,
        entry.detail,
        entry.run_id
    ]);
    let mut hasher = Sha256::new();
    hasher.update(entry.prev_hash.as_bytes());
    hasher.update(b"\n");
    hasher.update(fields.to_string().as_bytes());
    hex::encode(hasher.finalize())
}

const COLUMNS: &str = "id, at, os_user, actor, reason, action, target_user_id, target, recipient, \
     outcome, detail, run_id, prev_hash, hash";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Entry> {
    Ok(Entry {
        id: row.get(0)?,
        at: row.get(1)?,
        os_user: row.get(2)?,
        actor: row.get(3)?,
        reason: row.get(4)?,
        action: row.get(5)?,
        target_user_id: row.get(6)?,
        target: row.get(7)?,
        recipient: row.get(8)?,
        outcome: row.get(9)?,
        detail: row.get(10)?,
        run_id: row.get(11)?,
        prev_hash: row.get(12)?,
        hash: row.get(13)?,
    })
}

/// Check the whole chain; returns the number of rows verified, or the first bad row.
pub fn verify(conn: &Connection) -> Result<u64, AuditError> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM audit_log ORDER BY id"))?;
    let mut rows = stmt.query([])?;
    let (mut expected_id, mut prev, mut count) = (1_i64, GENESIS.to_string(), 0_u64);
    while let Some(row) = rows.next()? {
        let entry = from_row(row)?;
        let broken = |why: &str| AuditError::Broken {
            id: entry.id,
            why: why.to_string(),
        };
        if entry.id != expected_id {
            return Err(AuditError::Broken {
                id: entry.id,
                why: format!("expected row {expected_id}: rows are missing"),
            });
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
    }
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
    let n: i64 = conn.prepare_cached(
        "SELECT count(*) FROM audit_log WHERE target_user_id = ?1 AND action = ?2 AND outcome = ?3 AND at >= ?4",
    )?
    .query_row(params![user_id, action, outcome.as_str(), since], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Which rows `for_each` returns.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only rows about this user id.
    pub user_id: Option<i64>,
    /// Only this action; a trailing `*` matches a prefix (`user.*`).
    pub action: Option<String>,
    /// Only rows at or after this time (Unix seconds).
    pub since: Option<i64>,
    /// Only the last N matching rows.
    pub limit: Option<u64>,
}

/// Call `f` for each matching row, oldest first, streaming from SQLite.
pub fn for_each<E: From<rusqlite::Error>>(
    conn: &Connection,
    filter: &Filter,
    mut f: impl FnMut(Entry) -> Result<(), E>,
) -> Result<(), E> {
    let sql = format!(
        "SELECT * FROM (SELECT {COLUMNS} FROM audit_log WHERE (?1 IS NULL OR target_user_id = ?1) \
         AND (?2 IS NULL OR action = ?2 OR (?3 IS NOT NULL AND substr(action, 1, length(?3)) = ?3)) \
         AND (?4 IS NULL OR at >= ?4) ORDER BY id DESC LIMIT ?5) ORDER BY id"
    );
    let prefix = filter.action.as_deref().and_then(|a| a.strip_suffix('*'));
    let limit = filter
        .limit
        .map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query(params![
        filter.user_id,
        filter.action,
        prefix,
        filter.since,
        limit
    ])?;
    while let Some(row) = rows.next()? {
        f(from_row(row)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
