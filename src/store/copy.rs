//! Copying a whole store into an empty one, table by table with ids kept, for
//! `pwreset store migrate` (SQLite to PostgreSQL and back).
//!
//! The tables are listed here with every column, in an order that satisfies the foreign keys;
//! a unit test checks the lists against the schema, so a new column cannot be left behind. The
//! audit log is copied in id order, which is what its append-only trigger demands, with its
//! hashes as they are: the chain verifies on the target under the same audit key. Nothing here
//! checks emptiness of the target or verifies chains; the caller does both around [`copy`].

use super::sql::{Backend, Conn, DbError, Value};

/// One table and its columns, `id` first.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    /// The table's name.
    pub name: &'static str,
    /// Every column, in schema order.
    pub columns: &'static [&'static str],
    /// Whether `id` is a generated integer (its sequence must follow the copied ids).
    pub generated_id: bool,
}

/// Every table of the store, parents before children.
pub const TABLES: [Table; 7] = [
    Table {
        name: "users",
        columns: &[
            "id",
            "username",
            "email",
            "display_name",
            "active",
            "password_hash",
            "must_change_password",
            "temp_password_expires_at",
            "password_changed_at",
            "created_at",
            "updated_at",
            "locale",
        ],
        generated_id: true,
    },
    Table {
        name: "reset_tokens",
        columns: &[
            "id",
            "user_id",
            "token_sha256",
            "purpose",
            "created_at",
            "expires_at",
            "used_at",
            "revoked_at",
            "revoked_reason",
            "recipient",
            "actor",
            "code_hmac",
            "code_tries",
            "opened_at",
            "last_opened_at",
            "opens",
            "scanner_opens",
            "sent_at",
            "mail_reply",
            "user_created_at",
        ],
        generated_id: true,
    },
    Table {
        name: "temp_passwords",
        columns: &[
            "id",
            "user_id",
            "created_at",
            "expires_at",
            "handover",
            "recipient",
            "run_id",
            "sent_at",
            "mail_reply",
            "failure",
        ],
        generated_id: true,
    },
    Table {
        name: "bulk_runs",
        columns: &[
            "id",
            "created_at",
            "action",
            "os_user",
            "actor",
            "reason",
            "deliver_to",
            "status",
            "finished_at",
            "reissue_of",
        ],
        generated_id: false,
    },
    Table {
        name: "bulk_items",
        columns: &[
            "id",
            "run_id",
            "position",
            "entry",
            "user_id",
            "status",
            "reason",
            "recipient",
            "expires_at",
            "updated_at",
            "claimed_host",
            "claimed_pid",
            "claimed_started",
            "token_id",
            "temp_password_id",
        ],
        generated_id: true,
    },
    Table {
        name: "mail_intents",
        columns: &[
            "id",
            "created_at",
            "action",
            "user_id",
            "username",
            "token_id",
            "recipient",
            "run_id",
            "item_id",
            "os_user",
            "owner_host",
            "owner_pid",
            "owner_started",
            "resolved_at",
            "outcome",
        ],
        generated_id: true,
    },
    Table {
        name: "audit_log",
        columns: &[
            "id",
            "at",
            "os_user",
            "actor",
            "reason",
            "action",
            "target_user_id",
            "target",
            "recipient",
            "outcome",
            "detail",
            "run_id",
            "prev_hash",
            "hash",
        ],
        // pwreset assigns the next id itself (the append-only trigger checks it): no sequence.
        generated_id: false,
    },
];

/// How many rows each table holds (or received), in [`TABLES`] order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counts(pub Vec<(&'static str, u64)>);

impl Counts {
    /// Rows in all.
    pub fn total(&self) -> u64 {
        self.0.iter().map(|(_, n)| n).sum()
    }
}

/// The row count of every table.
pub fn counts(conn: &Conn) -> Result<Counts, DbError> {
    let mut counts = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        let sql = format!("SELECT count(*) FROM {}", table.name);
        counts.push((table.name, conn.query_one(&sql, &[], |row| row.get(0))?));
    }
    Ok(Counts(counts))
}

/// Copy every row of every table from `from` to `to` (which the caller holds in a write
/// transaction), ids kept; returns the rows copied. On PostgreSQL the id sequences are moved
/// past the copied ids.
pub fn copy(from: &Conn, to: &Conn) -> Result<Counts, DbError> {
    let mut copied = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        copied.push((table.name, copy_table(from, to, table)?));
        if table.generated_id && to.backend() == Backend::Postgres {
            // dialect: identity columns keep their own sequence, which copied ids do not move
            // (the audit log's ids are assigned by pwreset: it has none).
            let sql = format!(
                "SELECT setval(seq, coalesce((SELECT max(id) FROM {0}), 0) + 1, false) \
                 FROM (SELECT pg_get_serial_sequence('{0}', 'id') AS seq) s WHERE seq IS NOT NULL",
                table.name
            );
            to.query_opt(&sql, &[], |row| row.get::<i64>(0))?;
        }
    }
    Ok(Counts(copied))
}

fn copy_table(from: &Conn, to: &Conn, table: Table) -> Result<u64, DbError> {
    let columns = table.columns.join(", ");
    let select = format!("SELECT {columns} FROM {} ORDER BY id", table.name);
    let placeholders: Vec<String> = (1..=table.columns.len()).map(|i| format!("?{i}")).collect();
    let insert = format!(
        "INSERT INTO {} ({columns}) VALUES ({})",
        table.name,
        placeholders.join(", ")
    );
    let mut n = 0_u64;
    from.query_each(&select, &[], |row| {
        let values = (0..table.columns.len())
            .map(|i| row.get::<Value>(i))
            .collect::<Result<Vec<Value>, DbError>>()?;
        let params: Vec<&dyn super::sql::ToValue> = values
            .iter()
            .map(|v| v as &dyn super::sql::ToValue)
            .collect();
        to.execute(&insert, &params)?;
        n += 1;
        Ok::<(), DbError>(())
    })?;
    Ok(n)
}

#[cfg(test)]
mod tests;
