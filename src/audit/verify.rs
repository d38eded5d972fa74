//! Checking the chain: [`verify`] walks every row under the audit key it is given, and a [`Head`]
//! recorded earlier by the admin catches rows removed from the end. Reads only; the SQL is in
//! `crate::store::audit`.

use crate::keys::AuditKey;
use crate::store::sql::Conn;

use super::{ANCHOR, AuditError, Entry, GENESIS, keyed_hash, plain_hash};
use crate::store::audit as sql;

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

/// Check the whole chain under the audit key `key`: ids contiguous from 1, each row linked to
/// the one before, every MAC right. Rows without a key are allowed only as a prefix anchored by
/// an [`ANCHOR`] row. With `head`, that row must still be there with that MAC.
pub fn verify(conn: &Conn, key: &AuditKey, head: Option<&Head>) -> Result<Verified, AuditError> {
    let mut walk = Walk {
        key,
        expected_id: 1,
        prev: GENESIS.to_string(),
        unkeyed: 0,
        keyed: false,
        head_seen: None,
    };
    sql::for_all(conn, |entry: Entry| walk.step(entry, head))?;
    let rows = u64::try_from(walk.expected_id - 1).unwrap_or(0);
    if rows == 0 {
        // `pwreset init` writes the first row of every store: an empty log was emptied.
        return Err(AuditError::Broken {
            id: 1,
            why: "the log is empty, though every store starts with the row of its init: rows were removed".into(),
        });
    }
    if !walk.keyed {
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
struct Walk<'k> {
    key: &'k AuditKey,
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
        if keyed_hash(self.key, &entry) == entry.hash {
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
