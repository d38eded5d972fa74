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
    /// A mail carrying a secret may have gone out, but nothing was committed: the process died,
    /// or the server's answer was lost. What the user may hold is in the detail.
    Interrupted,
}

impl Outcome {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Refused => "refused",
            Outcome::Failed => "failed",
            Outcome::Interrupted => "interrupted",
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
mod tests;
