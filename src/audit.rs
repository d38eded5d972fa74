//! The audit log: one append-only row per state-changing action, chained by a keyed MAC.
//!
//! Each row's `hash` is HMAC-SHA256, keyed with the audit key kept outside the store
//! ([`AuditKey`], carried by the [`Actor`] who appends), over the previous row's hash and a canonical JSON encoding of the row's fields, so
//! editing, deleting or reordering rows breaks the chain and `verify` finds it, and whoever can
//! write the store but not read the key cannot forge a chain that verifies. Rows written before
//! schema 4 carry a plain SHA-256 (no key); the first keyed append after them adds an
//! `audit.anchor` row whose MAC covers the last of them, and `verify` reports that prefix.
//! Callers must never put a secret (password, token, link, hash, credential) in an event.
//! This module owns the events, the actor, hashing and verifying; the SQL is in
//! `crate::store::audit`, which also lists the hashed columns once ([`Entry::hashed`]).

use crate::store::sql::{Conn, DbError};
use jiff::Timestamp;
use sha2::{Digest, Sha256};

use crate::keys::AuditKey;
use crate::store::audit as sql;
pub use crate::store::audit::{Entry, Filter, for_each};
use crate::store::sql::Value;
use crate::store::{Store, StoreError};
use crate::user::User;

mod verify;

pub use verify::{Head, Verified, verify};

/// The action of the row that anchors rows written without a key.
pub const ANCHOR: &str = "audit.anchor";

/// The `prev_hash` of the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who is acting: the OS user, plus the optional `--actor` and `--reason`, and the audit key
/// that signs the rows they append. The store holds no key: passing the actor to [`append`] is
/// what passes the key in.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The operating-system user.
    pub os_user: String,
    /// The name given with `--actor`.
    pub actor: Option<String>,
    /// The reason given with `--reason`.
    pub reason: Option<String>,
    /// The audit key (`audit.key_file`), which keys the MAC of every row this actor appends.
    pub key: AuditKey,
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
    /// Every row carries a plain SHA-256 hash: nothing is keyed or anchored.
    #[error(
        "audit log is not keyed: rows 1..{rows} carry only plain SHA-256 hashes, which anyone who can write the store can recompute"
    )]
    Unanchored {
        /// How many rows there are.
        rows: u64,
    },
    /// The head recorded earlier is not in the chain (rows were removed or replaced).
    #[error("audit log does not hold the recorded head {head}: {why}")]
    HeadMissing {
        /// The head as given, `ID:MAC`.
        head: String,
        /// What was found instead.
        why: String,
    },
    /// The store failed.
    #[error("audit log: {0}")]
    Store(#[from] StoreError),
}

/// The last row's id and MAC, if there is a row.
pub fn head(conn: &Conn) -> Result<Option<Head>, AuditError> {
    Ok(sql::last(conn)?.map(|(id, mac)| Head { id, mac }))
}

impl From<DbError> for AuditError {
    fn from(err: DbError) -> Self {
        AuditError::Store(StoreError::Db(err))
    }
}

/// Append one event. Call inside the transaction that makes the change it records. A log whose
/// last row was written without a key (a store from before schema 4, or rows rewritten by
/// someone without the key) is refused: only [`anchor`], on the operator's explicit
/// `pwreset audit rekey`, may vouch for such rows, never an ordinary command.
pub fn append(
    conn: &Conn,
    actor: &Actor,
    now: Timestamp,
    event: &Event,
) -> Result<i64, AuditError> {
    let head = keyed_head(conn)?;
    insert(conn, actor, now, event, head)
}

/// The chain's head (id and hash of the last row), refusing a log whose last row was written
/// without a key (see [`append`]).
fn keyed_head(conn: &Conn) -> Result<Option<(i64, String)>, AuditError> {
    let last = sql::last_entry(conn)?;
    if let Some(last) = last.as_ref().filter(|last| plain_hash(last) == last.hash) {
        return Err(AuditError::Unanchored {
            rows: u64::try_from(last.id).unwrap_or(0),
        });
    }
    Ok(last.map(|l| (l.id, l.hash)))
}

/// [`append`] for several events in one statement, in order: the chain's head is read once.
pub fn append_all(
    conn: &Conn,
    actor: &Actor,
    now: Timestamp,
    events: &[Event],
) -> Result<(), AuditError> {
    if events.is_empty() {
        return Ok(());
    }
    let mut last = keyed_head(conn)?;
    let mut entries = Vec::with_capacity(events.len());
    for event in events {
        let entry = entry(actor, now, event, last.take());
        last = Some((entry.id, entry.hash.clone()));
        entries.push(entry);
    }
    Ok(sql::insert_many(conn, &entries)?)
}

/// If the log ends with rows written without a key, append the [`ANCHOR`] row that vouches
/// for them under the key from here on; returns its id, or `None` when there was nothing to
/// anchor. Only `pwreset audit rekey` calls this, when it has just created the key.
pub fn anchor(conn: &Conn, actor: &Actor, now: Timestamp) -> Result<Option<i64>, AuditError> {
    let Some(last) = sql::last_entry(conn)?.filter(|last| plain_hash(last) == last.hash) else {
        return Ok(None);
    };
    let detail = format!(
        "rows 1..{} were hashed without a key; the audit key anchors them from here",
        last.id
    );
    let event = Event::new(ANCHOR, Outcome::Ok).detail(Some(detail));
    insert(conn, actor, now, &event, Some((last.id, last.hash))).map(Some)
}

fn insert(
    conn: &Conn,
    actor: &Actor,
    now: Timestamp,
    event: &Event,
    last: Option<(i64, String)>,
) -> Result<i64, AuditError> {
    let entry = entry(actor, now, event, last);
    sql::insert(conn, &entry)?;
    Ok(entry.id)
}

/// The row that records `event` after `last` (the chain's head), its MAC computed under the
/// actor's key.
fn entry(actor: &Actor, now: Timestamp, event: &Event, last: Option<(i64, String)>) -> Entry {
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
    entry.hash = keyed_hash(&actor.key, &entry);
    entry
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

/// The row's hashed fields ([`Entry::hashed`]) as a compact JSON array: what the MAC covers,
/// after the previous row's hash.
fn payload(entry: &Entry) -> String {
    let fields: Vec<serde_json::Value> = entry
        .hashed()
        .into_iter()
        .map(|(_, value)| json_of(value))
        .collect();
    serde_json::Value::Array(fields).to_string()
}

/// HMAC-SHA256 under the audit key, hex-encoded.
fn keyed_hash(key: &AuditKey, entry: &Entry) -> String {
    key.mac(&entry.prev_hash, &payload(entry))
}

/// Plain SHA-256 over the same input: how rows were hashed before schema 4.
fn plain_hash(entry: &Entry) -> String {
    let mut hasher = Sha256::new();
    hasher.update(entry.prev_hash.as_bytes());
    hasher.update(b"\n");
    hasher.update(payload(entry).as_bytes());
    hex::encode(hasher.finalize())
}

/// A column's value as the hash sees it: integers as numbers, text as strings, NULL as null.
fn json_of(value: Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Int(n) => n.into(),
        Value::Text(text) => text.into(),
    }
}

/// How many rows with this action and outcome concern a user since a time (for throttling).
pub fn count_since(
    conn: &Conn,
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

/// The times of the rows with this action and outcome about a user, from `since` up to `until`,
/// oldest first, counting only rows whose MAC verifies under `key`: what the throttle counts
/// (TOK-10). A row the application inserted (it may be granted INSERT, and cannot compute a
/// MAC) or one dated in the future never counts.
pub fn signed_times(
    conn: &Conn,
    key: &AuditKey,
    about: &Event,
    since: i64,
    until: i64,
) -> Result<Vec<i64>, AuditError> {
    let window = sql::Window {
        action: &about.action,
        outcome: about.outcome.as_str(),
        user_id: about.target_user_id.unwrap_or(0),
        since,
        until,
    };
    let rows = sql::rows_between(conn, &window)?;
    Ok(rows
        .into_iter()
        .filter(|entry| keyed_hash(key, entry) == entry.hash)
        .map(|entry| entry.at)
        .collect())
}

#[cfg(test)]
mod tests;
