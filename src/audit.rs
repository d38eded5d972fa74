//! The audit log: one append-only row per state-changing action, chained by a keyed MAC.
//!
//! Each row's `hash` is HMAC-SHA256, keyed with the audit key kept outside the store
//! ([`Key`]), over the previous row's hash and a canonical JSON encoding of the row's fields, so
//! editing, deleting or reordering rows breaks the chain and `verify` finds it, and whoever can
//! write the store but not read the key cannot forge a chain that verifies. Rows written before
//! schema 4 carry a plain SHA-256 (no key); the first keyed append after them adds an
//! `audit.anchor` row whose MAC covers the last of them, and `verify` reports that prefix.
//! Callers must never put a secret (password, token, link, hash, credential) in an event.
//! This module owns the events, the actor, hashing and verifying; the SQL is in
//! `crate::store::audit`, which also lists the hashed columns once ([`Entry::hashed`]).

use jiff::Timestamp;
use rusqlite::Connection;
use rusqlite::types::Value;
use sha2::{Digest, Sha256};

pub use crate::audit::key::{Key, KeyError};
use crate::store::audit as sql;
pub use crate::store::audit::{Entry, Filter, for_each};
use crate::store::users::User;
use crate::store::{Store, StoreError};

mod key;

/// The action of the row that anchors rows written without a key.
pub const ANCHOR: &str = "audit.anchor";

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
    /// No audit key is loaded, so no row can be appended or checked.
    #[error("cannot append to or verify the audit log: {why}")]
    NoKey {
        /// Why there is no key (e.g. the key file does not exist).
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

/// A head as recorded by the admin: the last row's id and MAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Row id.
    pub id: i64,
    /// That row's MAC (hex).
    pub mac: String,
}

impl std::fmt::Display for Head {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.id, self.mac)
    }
}

impl std::str::FromStr for Head {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!("{text:?} is not a head like 42:<64 hex digits> (from `pwreset audit head`)")
        };
        let (id, mac) = text.split_once(':').ok_or_else(bad)?;
        let id = id.parse::<i64>().map_err(|_| bad())?;
        let hex_ok = mac.len() == 64 && mac.bytes().all(|b| b.is_ascii_hexdigit());
        if id < 1 || !hex_ok {
            return Err(bad());
        }
        Ok(Head {
            id,
            mac: mac.to_ascii_lowercase(),
        })
    }
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Rows checked.
    pub rows: u64,
    /// Rows at the start written without a key (before schema 4), anchored by the next row.
    pub unkeyed: u64,
}

/// Key this connection's audit rows with `key`, or record why there is none: appending or
/// verifying then fails with [`AuditError::NoKey`] naming the reason.
pub fn use_key(conn: &Connection, key: Result<Key, KeyError>) -> Result<(), AuditError> {
    match key {
        Ok(key) => sql::install_mac(conn, move |prev, payload| Ok(key.mac(prev, payload)))?,
        Err(err) => {
            let why = err.to_string();
            sql::install_mac(conn, move |_, _| Err(why.clone()))?;
        }
    }
    Ok(())
}

/// The last row's id and MAC, if there is a row.
pub fn head(conn: &Connection) -> Result<Option<Head>, AuditError> {
    Ok(sql::last(conn)?.map(|(id, mac)| Head { id, mac }))
}

impl From<rusqlite::Error> for AuditError {
    fn from(err: rusqlite::Error) -> Self {
        AuditError::Store(StoreError::Sqlite(err))
    }
}

/// Append one event. Call inside the transaction that makes the change it records. When the
/// last row was written without a key (a store from before schema 4), an [`ANCHOR`] row saying
/// so is appended first.
pub fn append(
    conn: &Connection,
    actor: &Actor,
    now: Timestamp,
    event: &Event,
) -> Result<i64, AuditError> {
    let last = sql::last_entry(conn)?;
    if let Some(last) = last.as_ref().filter(|last| plain_hash(last) == last.hash) {
        let detail = format!(
            "rows 1..{} were hashed without a key; the audit key anchors them from here",
            last.id
        );
        let anchor = Event::new(ANCHOR, Outcome::Ok).detail(Some(detail));
        insert(
            conn,
            actor,
            now,
            &anchor,
            Some((last.id, last.hash.clone())),
        )?;
        return append(conn, actor, now, event);
    }
    insert(conn, actor, now, event, last.map(|l| (l.id, l.hash)))
}

fn insert(
    conn: &Connection,
    actor: &Actor,
    now: Timestamp,
    event: &Event,
    last: Option<(i64, String)>,
) -> Result<i64, AuditError> {
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
    entry.hash = keyed_hash(conn, &entry)?;
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

/// HMAC-SHA256 under the connection's audit key (see [`use_key`]), hex-encoded.
fn keyed_hash(conn: &Connection, entry: &Entry) -> Result<String, AuditError> {
    sql::mac(conn, &entry.prev_hash, &payload(entry))?.map_err(|why| AuditError::NoKey { why })
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
        Value::Integer(n) => n.into(),
        Value::Real(x) => x.into(),
        Value::Text(text) => text.into(),
        Value::Blob(bytes) => hex::encode(bytes).into(),
    }
}

/// Check the whole chain under the connection's key: ids contiguous from 1, each row linked to
/// the one before, every MAC right. Rows without a key are allowed only as a prefix anchored by
/// an [`ANCHOR`] row. With `head`, that row must still be there with that MAC.
pub fn verify(conn: &Connection, head: Option<&Head>) -> Result<Verified, AuditError> {
    let mut walk = Walk {
        conn,
        expected_id: 1,
        prev: GENESIS.to_string(),
        unkeyed: 0,
        keyed: false,
        head_seen: None,
    };
    sql::for_all(conn, |entry: Entry| walk.step(entry, head))?;
    let rows = u64::try_from(walk.expected_id - 1).unwrap_or(0);
    if rows > 0 && !walk.keyed {
        return Err(AuditError::Unanchored { rows });
    }
    if let Some(head) = head {
        check_head(head, walk.head_seen.as_deref(), walk.expected_id - 1)?;
    }
    Ok(Verified {
        rows,
        unkeyed: walk.unkeyed,
    })
}

/// The state of [`verify`] between rows.
struct Walk<'c> {
    conn: &'c Connection,
    expected_id: i64,
    prev: String,
    unkeyed: u64,
    keyed: bool,
    head_seen: Option<String>,
}

impl Walk<'_> {
    fn step(&mut self, entry: Entry, head: Option<&Head>) -> Result<(), AuditError> {
        let broken = |why: &str| AuditError::Broken {
            id: entry.id,
            why: why.to_string(),
        };
        if entry.id != self.expected_id {
            return Err(broken(&format!(
                "expected row {}: rows are missing",
                self.expected_id
            )));
        }
        if entry.prev_hash != self.prev {
            return Err(broken("its prev_hash does not match the row before it"));
        }
        if keyed_hash(self.conn, &entry)? == entry.hash {
            if !self.keyed && entry.id > 1 && entry.action != ANCHOR {
                return Err(broken(
                    "it is the first keyed row but does not anchor the rows before it",
                ));
            }
            self.keyed = true;
        } else if self.keyed {
            return Err(broken(
                "its contents do not match its MAC (rewritten without the audit key?)",
            ));
        } else if plain_hash(&entry) == entry.hash {
            self.unkeyed += 1;
        } else {
            return Err(broken("its contents do not match its hash"));
        }
        if head.is_some_and(|h| h.id == entry.id) {
            self.head_seen = Some(entry.hash.clone());
        }
        self.prev = entry.hash;
        self.expected_id += 1;
        Ok(())
    }
}

fn check_head(head: &Head, seen: Option<&str>, last: i64) -> Result<(), AuditError> {
    let why = match seen {
        Some(mac) if mac == head.mac => return Ok(()),
        Some(mac) => format!("row {} now has MAC {mac}", head.id),
        None => format!("the log ends at row {last}: newer rows were removed"),
    };
    Err(AuditError::HeadMissing {
        head: head.to_string(),
        why,
    })
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
