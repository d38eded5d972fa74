//! Whether an application's database fits a profile: reachable, every table and column the
//! profile uses present, and on PostgreSQL the role's rights enough (SELECT on the columns
//! read, UPDATE on the columns written, DELETE where rows are deleted; SRC-3). The answer is a
//! typed [`Report`] listing every [`Problem`] by name; rendering it is the caller's.

use std::fmt;

use super::profile::{Profile, ProfileName, TableUse};
use crate::store::sql::{Conn, DbError};
use crate::vals;

/// A right on a table or column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privilege {
    /// Read.
    Select,
    /// Write.
    Update,
    /// Delete rows.
    Delete,
}

impl Privilege {
    /// Its SQL name.
    pub fn name(self) -> &'static str {
        match self {
            Privilege::Select => "SELECT",
            Privilege::Update => "UPDATE",
            Privilege::Delete => "DELETE",
        }
    }
}

/// One thing that keeps the database from fitting the profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The database did not answer a query (the driver's message, which names no password).
    Unreachable(String),
    /// A table the profile uses is not there.
    MissingTable(&'static str),
    /// A column the profile uses is not there.
    MissingColumn {
        /// The table.
        table: &'static str,
        /// The column.
        column: &'static str,
    },
    /// The role lacks a right (PostgreSQL).
    MissingRight {
        /// The right.
        privilege: Privilege,
        /// The table.
        table: &'static str,
        /// The column, for a column right.
        column: Option<&'static str>,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Unreachable(reason) => write!(f, "the database did not answer: {reason}"),
            Problem::MissingTable(table) => write!(f, "table {table} is missing"),
            Problem::MissingColumn { table, column } => {
                write!(f, "column {table}.{column} is missing")
            }
            Problem::MissingRight {
                privilege,
                table,
                column: Some(column),
            } => write!(f, "the role lacks {} on {table}.{column}", privilege.name()),
            Problem::MissingRight {
                privilege,
                table,
                column: None,
            } => write!(f, "the role lacks {} on {table}", privilege.name()),
        }
    }
}

/// What [`check`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The profile checked.
    pub profile: ProfileName,
    /// Every problem, in the profile's table and column order; empty when the database fits.
    pub problems: Vec<Problem>,
}

impl Report {
    /// Whether the database fits the profile.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Check `conn`'s database against `profile`.
pub fn check(conn: &Conn, profile: &Profile) -> Report {
    let problems = match problems(conn, profile) {
        Ok(problems) => problems,
        Err(e) => vec![Problem::Unreachable(e.to_string())],
    };
    Report {
        profile: profile.name,
        problems,
    }
}

fn problems(conn: &Conn, profile: &Profile) -> Result<Vec<Problem>, DbError> {
    conn.query_one("SELECT 1", &[], |row| row.get::<i64>(0))?;
    let mut found = Vec::new();
    for table in profile.tables {
        let present = conn.declared_columns(table.table)?;
        if present.is_empty() {
            found.push(Problem::MissingTable(table.table));
            continue;
        }
        let missing: Vec<Problem> = columns(table)
            .filter(|column| !present.iter().any(|p| p == column))
            .map(|column| Problem::MissingColumn {
                table: table.table,
                column,
            })
            .collect();
        // Rights on a column that is not there cannot be asked about.
        if missing.is_empty() && conn.is_postgres() {
            found.extend(missing_rights(conn, table)?);
        }
        found.extend(missing);
    }
    Ok(found)
}

/// The table's columns, each once: those read, then those only written.
fn columns(table: &TableUse) -> impl Iterator<Item = &'static str> + '_ {
    let only_written = table.written.iter().filter(|c| !table.read.contains(c));
    table.read.iter().chain(only_written).copied()
}

/// The rights the role lacks on `table` (PostgreSQL).
fn missing_rights(conn: &Conn, table: &TableUse) -> Result<Vec<Problem>, DbError> {
    let asked = table
        .read
        .iter()
        .map(|c| (Privilege::Select, Some(*c)))
        .chain(table.written.iter().map(|c| (Privilege::Update, Some(*c))))
        .chain(table.deletes.then_some((Privilege::Delete, None)));
    let mut missing = Vec::new();
    for (privilege, column) in asked {
        if !has_right(conn, table.table, column, privilege)? {
            missing.push(Problem::MissingRight {
                privilege,
                table: table.table,
                column,
            });
        }
    }
    Ok(missing)
}

fn has_right(
    conn: &Conn,
    table: &str,
    column: Option<&str>,
    privilege: Privilege,
) -> Result<bool, DbError> {
    let name = privilege.name();
    match column {
        Some(column) => conn.query_one(
            "SELECT has_column_privilege(CAST(?1 AS TEXT), CAST(?2 AS TEXT), CAST(?3 AS TEXT))",
            &vals![table, column, name],
            |row| row.get(0),
        ),
        None => conn.query_one(
            "SELECT has_table_privilege(CAST(?1 AS TEXT), CAST(?2 AS TEXT))",
            &vals![table, name],
            |row| row.get(0),
        ),
    }
}
