//! The dialect's differences, named: each helper says what a statement means (compare ignoring
//! case, match a pattern, no limit, claim rows others are not claiming, read the catalogue) and
//! writes it for the connection's backend, so table modules never write two texts.

use super::{Conn, DbError};

impl Conn {
    /// `column = param`, ignoring case. SQLite: the column is declared `COLLATE NOCASE` (every
    /// case-insensitive column of the schema is), so a plain `=` uses its index; PostgreSQL
    /// compares `lower()` of both (its indexes are on `lower(column)`).
    pub fn equals_ignoring_case(&self, column: &str, param: &str) -> String {
        self.dialect(
            format!("{column} = {param}"),
            format!("lower({column}) = lower({param})"),
        )
    }

    /// `column LIKE pattern ESCAPE '\'`, ignoring ASCII case (SQLite's `LIKE` does; PostgreSQL
    /// needs `ILIKE`); `%`, `_` and `\\` in the pattern are escaped with `\\`.
    pub fn like_ignoring_case(&self, column: &str, pattern: &str) -> String {
        let like = self.dialect("LIKE", "ILIKE");
        format!("{column} {like} {pattern} ESCAPE '\\'")
    }

    /// `LIMIT param`, where a NULL parameter means no limit (SQLite: `LIMIT -1`; PostgreSQL:
    /// `LIMIT NULL`).
    pub fn limit_or_all(&self, param: &str) -> String {
        self.dialect(
            format!("LIMIT coalesce({param}, -1)"),
            format!("LIMIT CAST({param} AS BIGINT)"),
        )
    }

    /// The suffix of a `SELECT` that claims rows for this transaction while others claim the
    /// rest: PostgreSQL locks the rows and skips those others have locked; SQLite has one writer
    /// at a time (`BEGIN IMMEDIATE`), so it needs nothing.
    pub fn for_update_skip_locked(&self) -> &'static str {
        self.dialect("", " FOR UPDATE SKIP LOCKED")
    }

    /// The names of the store's tables, sorted (not PostgreSQL's migration bookkeeping).
    pub fn table_names(&self) -> Result<Vec<String>, DbError> {
        let sql = self.dialect(
            // `sqlite_sequence` (AUTOINCREMENT's counters) is SQLite's, not the store's.
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             ORDER BY name",
            "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name <> 'pwreset_schema_version' \
             ORDER BY table_name",
        );
        self.query_vec(sql, &[], |row| row.get(0))
    }

    /// The columns of `table`, in their order.
    pub fn column_names(&self, table: &str) -> Result<Vec<String>, DbError> {
        let sql = self.dialect(
            "SELECT name FROM pragma_table_info(?1) ORDER BY cid",
            "SELECT CAST(column_name AS TEXT) FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = ?1 ORDER BY ordinal_position",
        );
        self.query_vec(sql, &crate::vals![table], |row| row.get(0))
    }
}

impl Conn {
    /// The columns `table` declares, in their order, whatever rights this role has on them
    /// (PostgreSQL's `information_schema` shows only the columns the role may use, which would
    /// make a column without rights look absent); empty when there is no such table. For
    /// another application's tables, whose rights are checked separately.
    pub fn declared_columns(&self, table: &str) -> Result<Vec<String>, DbError> {
        let sql = self.dialect(
            "SELECT name FROM pragma_table_info(?1) ORDER BY cid",
            "SELECT CAST(attname AS TEXT) FROM pg_catalog.pg_attribute \
             WHERE attrelid = to_regclass(CAST(?1 AS TEXT)) AND attnum > 0 AND NOT attisdropped \
             ORDER BY attnum",
        );
        self.query_vec(sql, &crate::vals![table], |row| row.get(0))
    }
}
