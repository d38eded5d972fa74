//! Planning a bulk run: read the selection, resolve each entry, and store it as `pending` or
//! `skipped` with a reason (unknown, ambiguous, duplicate, inactive, no valid email, in cooldown).

use std::collections::HashSet;
use std::io::BufRead;

use jiff::Timestamp;
use rusqlite::Connection;

use super::{Action, BulkError};
use crate::audit::Actor;
use crate::store::bulk::{self, NewRun};
use crate::store::users::{self as users_sql, Filter, Status, User};
use crate::users::{self, UserError};

/// Where the users of a run come from.
pub enum Selection<R: BufRead> {
    /// One USER per line (blank lines and `#` comments ignored), or CSV with an `email` or
    /// `username` column.
    File(R),
    /// Every active user.
    All,
    /// Users whose username, email or name contains this text.
    Search(String),
}

/// One entry of the selection, as planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// What selected it.
    pub entry: String,
    /// The user it names, if any.
    pub user: Option<String>,
    /// Why it is skipped, if it is.
    pub skip: Option<&'static str>,
}

/// Counts of a plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanSummary {
    /// Users to act on.
    pub to_do: u64,
    /// Entries skipped.
    pub skipped: u64,
}

/// What planning needs to know.
struct Planner<'a> {
    conn: &'a Connection,
    run_id: &'a str,
    action: Action,
    cooldown_secs: u64,
    now: Timestamp,
    seen_users: HashSet<i64>,
    seen_entries: HashSet<String>,
    position: i64,
    summary: PlanSummary,
}

impl Planner<'_> {
    fn add(
        &mut self,
        entry: &str,
        user: Option<&User>,
        resolve_error: Option<&'static str>,
    ) -> Result<(), BulkError> {
        self.position += 1;
        let skip = match (user, resolve_error) {
            (_, Some(reason)) => {
                if self.seen_entries.insert(entry.to_lowercase()) {
                    Some(reason)
                } else {
                    Some("duplicate")
                }
            }
            (Some(user), None) => self.skip_reason(user)?,
            (None, None) => Some("unknown"),
        };
        if skip.is_some() {
            self.summary.skipped += 1;
        } else {
            self.summary.to_do += 1;
        }
        bulk::insert_item(
            self.conn,
            self.run_id,
            self.position,
            entry,
            user.map(|u| u.id),
            skip,
            self.now.as_second(),
        )?;
        Ok(())
    }

    fn skip_reason(&mut self, user: &User) -> Result<Option<&'static str>, BulkError> {
        if !self.seen_users.insert(user.id) {
            return Ok(Some("duplicate"));
        }
        if let Err(refusal) = crate::links::eligible(user) {
            return Ok(Some(refusal.reason()));
        }
        if self.action == Action::Link {
            let cooldown = i64::try_from(self.cooldown_secs).unwrap_or(i64::MAX / 2);
            let last = crate::store::tokens::last_sent_at(self.conn, user.id)?;
            if last.is_some_and(|at| at + cooldown > self.now.as_second()) {
                return Ok(Some("in cooldown"));
            }
        }
        Ok(None)
    }

    fn add_text(&mut self, text: &str) -> Result<(), BulkError> {
        match users::resolve(self.conn, text) {
            Ok(user) => self.add(text, Some(&user), None),
            Err(UserError::Unknown(_)) => self.add(text, None, Some("unknown")),
            Err(UserError::Ambiguous { .. }) => self.add(text, None, Some("ambiguous")),
            Err(other) => Err(BulkError::Input(other.to_string())),
        }
    }
}

/// Plan a run inside `conn` (a transaction: commit it to keep the plan, roll it back for a dry
/// run). Returns the counts.
pub fn plan<R: BufRead>(
    conn: &Connection,
    selection: Selection<R>,
    run: &NewRun<'_>,
    action: Action,
    cooldown_secs: u64,
    actor: &Actor,
    now: Timestamp,
) -> Result<PlanSummary, BulkError> {
    let _ = actor;
    bulk::insert_run(conn, run, now.as_second())?;
    let mut planner = Planner {
        conn,
        run_id: run.id,
        action,
        cooldown_secs,
        now,
        seen_users: HashSet::new(),
        seen_entries: HashSet::new(),
        position: 0,
        summary: PlanSummary::default(),
    };
    match selection {
        Selection::File(reader) => plan_file(&mut planner, reader)?,
        Selection::All => plan_users(
            &mut planner,
            &Filter {
                status: Status::Active,
                ..Filter::default()
            },
        )?,
        Selection::Search(text) => plan_users(
            &mut planner,
            &Filter {
                search: Some(text),
                ..Filter::default()
            },
        )?,
    }
    Ok(planner.summary)
}

fn plan_users(planner: &mut Planner<'_>, filter: &Filter) -> Result<(), BulkError> {
    let conn = planner.conn;
    users_sql::for_each(conn, filter, |user| {
        planner.add(&user.username.clone(), Some(&user), None)
    })
}

fn plan_file<R: BufRead>(planner: &mut Planner<'_>, mut reader: R) -> Result<(), BulkError> {
    let mut line = String::new();
    loop {
        line.clear();
        if reader
            .read_line(&mut line)
            .map_err(|e| BulkError::Input(e.to_string()))?
            == 0
        {
            return Ok(());
        }
        let text = line.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        if let Some(column) = csv_column(text) {
            return plan_csv(planner, reader, column);
        }
        planner.add_text(text)?;
    }
}

/// The index of the `email` (preferred) or `username` column if `header` is a CSV header.
fn csv_column(header: &str) -> Option<usize> {
    if !header.contains(',') {
        let name = header.trim().trim_matches('"').to_lowercase();
        return matches!(name.as_str(), "email" | "username").then_some(0);
    }
    let names: Vec<String> = header
        .split(',')
        .map(|n| n.trim().trim_matches('"').to_lowercase())
        .collect();
    names
        .iter()
        .position(|n| n == "email")
        .or_else(|| names.iter().position(|n| n == "username"))
}

fn plan_csv<R: BufRead>(
    planner: &mut Planner<'_>,
    reader: R,
    column: usize,
) -> Result<(), BulkError> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(reader);
    for record in csv.records() {
        let record = record.map_err(|e| BulkError::Input(format!("CSV: {e}")))?;
        let text = record.get(column).unwrap_or_default().trim().to_string();
        if text.is_empty() {
            continue;
        }
        planner.add_text(&text)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_headers_are_recognised() {
        assert_eq!(csv_column("email,name"), Some(0));
        assert_eq!(csv_column("name, Username"), Some(1));
        assert_eq!(csv_column("username,email"), Some(1), "email preferred");
        assert_eq!(csv_column("alice@example.com"), None);
        assert_eq!(csv_column("Email"), Some(0), "a one-column CSV");
        assert_eq!(csv_column("\"username\""), Some(0));
        assert_eq!(csv_column("a,b"), None);
    }
}
