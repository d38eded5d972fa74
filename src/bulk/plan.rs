//! Planning a bulk run: read the selection, resolve each entry, and store it as `pending` or
//! `skipped` with a reason (unknown, ambiguous, duplicate, inactive, no valid email, in cooldown).
//!
//! A plan is written in one write transaction with its `bulk.plan` audit row and committed
//! ([`plan`]). A dry run ([`dry_run`]) resolves the same entries in a read transaction and
//! hands each one over as it is resolved (duplicates are found with in-memory sets), writing
//! nothing: it holds no write lock, so a dry run piped into a pager that waits never blocks
//! another pwreset. Reading a slow selection (a pipe) is the caller's job, done before calling
//! here: the write lock is held while planning. A selection file is parsed and checked whole
//! before its first entry is resolved (its size is bounded by the caller, see
//! [`crate::input`]), so a refused file plans nothing. Nothing here prints.

use std::collections::HashSet;
use std::io::{BufRead, Read};

use crate::store::db::Conn;
use jiff::Timestamp;

use super::{Action, BulkError};
use crate::audit::{self, Actor, Event};
use crate::input::{Tape, true_line};
use crate::store::Store;
use crate::store::bulk::{self, Item, NewRun};
use crate::store::users::{self as users_sql, Filter, Status, User};
use crate::users::{self, UserError};

/// Where the users of a run come from.
pub enum Selection<R: BufRead> {
    /// One USER per line (blank lines and `# ` comments ignored, `#12` names user 12; LF, CRLF
    /// or CR line endings), or CSV with an `email` or `username` column. Size limits and a
    /// byte-order mark are the reader's business ([`crate::input`]).
    File(R),
    /// Every active user.
    All,
    /// Users whose username, email or name contains this text.
    Search(String),
    /// Entries already checked, one per line (`#ID` or a user's text): a reissue's users.
    Entries(String),
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

/// Where each planned entry goes: into the run's items, or to a dry run's caller.
type Sink<'a> = dyn FnMut(&Item, Option<&User>) -> Result<(), BulkError> + 'a;

/// What planning needs to know.
struct Planner<'a> {
    conn: &'a Conn,
    sink: &'a mut Sink<'a>,
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
        let item = Item {
            id: self.position,
            position: self.position,
            entry: entry.to_string(),
            user_id: user.map(|u| u.id),
            status: if skip.is_some() { "skipped" } else { "pending" }.to_string(),
            reason: skip.map(str::to_string),
            recipient: None,
            expires_at: None,
        };
        (self.sink)(&item, user)
    }

    fn skip_reason(&mut self, user: &User) -> Result<Option<&'static str>, BulkError> {
        if !self.seen_users.insert(user.id) {
            return Ok(Some("duplicate"));
        }
        if let Err(refusal) = crate::links::eligible(user) {
            return Ok(Some(refusal.reason()));
        }
        if self.action == Action::Link {
            let cooldown = crate::tokens::Cooldown::Any {
                secs: self.cooldown_secs,
            };
            if cooldown.until(self.conn, user.id, self.now)?.is_some() {
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

/// What to plan.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The new run's id (see [`super::new_run_id`]).
    pub run_id: &'a str,
    /// What the run does to each user.
    pub action: Action,
    /// Send every mail here instead of to the users, if set.
    pub deliver_to: Option<&'a str>,
    /// Skip users sent a link less than this long ago (links only).
    pub cooldown_secs: u64,
    /// The run this one reissues (`--reissue`), if any.
    pub reissue_of: Option<&'a str>,
}

/// Plan a run and keep it: the run, its items and a `bulk.plan` audit row by `actor`, in one
/// committed transaction. Returns the counts.
pub fn plan<R: BufRead>(
    store: &mut Store,
    selection: Selection<R>,
    request: &Request<'_>,
    actor: &Actor,
    now: Timestamp,
) -> Result<PlanSummary, BulkError> {
    let tx = store.write()?;
    let run = NewRun {
        id: request.run_id,
        action: request.action.as_str(),
        os_user: &actor.os_user,
        actor: actor.actor.as_deref(),
        reason: actor.reason.as_deref(),
        deliver_to: request.deliver_to,
        reissue_of: request.reissue_of,
    };
    bulk::insert_run(&tx, &run, now.as_second())?;
    let mut insert = |item: &Item, _: Option<&User>| -> Result<(), BulkError> {
        let skip = item.reason.as_deref();
        let (position, at) = (item.position, now.as_second());
        bulk::insert_item(
            &tx,
            request.run_id,
            position,
            &item.entry,
            item.user_id,
            skip,
            at,
        )?;
        Ok(())
    };
    let summary = resolve(&tx, selection, request, now, &mut insert)?;
    let mut detail = format!(
        "{}: {} to do, {} skipped",
        request.action.as_str(),
        summary.to_do,
        summary.skipped
    );
    if let Some(original) = request.reissue_of {
        detail.push_str(", reissue of ");
        detail.push_str(original);
    }
    let event = Event::new("bulk.plan", audit::Outcome::Ok)
        .detail(Some(detail))
        .run_id(Some(request.run_id));
    audit::append(&tx, actor, now, &event)?;
    tx.commit()?;
    Ok(summary)
}

/// Plan a run without keeping anything: hand each entry (`pending` or `skipped`, in order,
/// with its user; `id` is its position) to `on_row` as it is resolved. Runs in a read
/// transaction, so `on_row` may block (a full pipe) without holding up any writer. Returns
/// the counts.
pub fn dry_run<R: BufRead, E: From<BulkError>>(
    store: &Store,
    selection: Selection<R>,
    request: &Request<'_>,
    now: Timestamp,
    mut on_row: impl FnMut(&Item, Option<&User>) -> Result<(), E>,
) -> Result<PlanSummary, E> {
    let read = store.conn().begin_read().map_err(BulkError::from)?;
    // `on_row`'s own error stops planning and is handed back as it was.
    let mut failed = None;
    let mut sink = |item: &Item, user: Option<&User>| {
        on_row(item, user).map_err(|err| {
            failed = Some(err);
            BulkError::Run("the dry run's output failed".into())
        })
    };
    let planned = resolve(&read, selection, request, now, &mut sink);
    drop(read); // nothing was written
    match (planned, failed) {
        (_, Some(err)) => Err(err),
        (planned, None) => Ok(planned?),
    }
}

/// Resolve every entry of the selection, handing each to `sink`.
fn resolve<'a, R: BufRead>(
    conn: &'a Conn,
    selection: Selection<R>,
    request: &Request<'_>,
    now: Timestamp,
    sink: &'a mut Sink<'a>,
) -> Result<PlanSummary, BulkError> {
    let mut planner = Planner {
        conn,
        sink,
        action: request.action,
        cooldown_secs: request.cooldown_secs,
        now,
        seen_users: HashSet::new(),
        seen_entries: HashSet::new(),
        position: 0,
        summary: PlanSummary::default(),
    };
    match selection {
        Selection::File(reader) => {
            // The whole file is checked before the first entry is resolved: a refused file
            // plans nothing and a dry run prints nothing.
            for entry in entries(reader)?.lines() {
                planner.add_text(entry)?;
            }
        }
        Selection::Entries(text) => {
            for entry in text.lines() {
                planner.add_text(entry)?;
            }
        }
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

/// The entries of a selection file, in order, one per line (see [`Selection::File`]): one
/// string rather than a `Vec`, so a million entries cost little more than the file itself. An
/// entry holds no control character, so no line break.
fn entries<R: BufRead>(mut reader: R) -> Result<String, BulkError> {
    let mut found = String::new();
    let mut raw = Vec::new();
    let mut number = 0u64;
    loop {
        raw.clear();
        let read = reader.read_until(b'\n', &mut raw);
        if read.map_err(|e| BulkError::Input(e.to_string()))? == 0 {
            return Ok(found);
        }
        number += 1;
        let line = std::str::from_utf8(&raw)
            .map_err(|_| BulkError::Input(format!("line {number} is not valid UTF-8")))?;
        // A lone CR ends a line too, so files with mixed line endings read as they look.
        let mut rest = Some(line.trim_end_matches(['\r', '\n']));
        while let Some(text) = rest {
            let (piece, tail) = text
                .split_once('\r')
                .map_or((text, None), |(piece, tail)| (piece, Some(tail)));
            rest = tail;
            let Some(entry) = entry_of(piece, number)? else {
                continue;
            };
            if let Some(column) = csv_column(entry) {
                // Records after a lone CR on the header's line start on that line.
                let first = if tail.is_some() { number } else { number + 1 };
                let tail = tail.map(|t| format!("{t}\n")).unwrap_or_default();
                let rest = std::io::Cursor::new(tail).chain(reader);
                csv_entries(rest, column, first, &mut found)?;
                return Ok(found);
            }
            push_line(&mut found, entry);
        }
    }
}

fn push_line(found: &mut String, entry: &str) {
    found.push_str(entry);
    found.push('\n');
}

/// The entry on one line of a plain selection, if it holds one: blank lines and comments (a
/// line whose first non-blank character is `#` followed by a blank, or a lone `#`) hold none;
/// `#12` names user 12. Control characters (NUL, escapes) refuse the file.
fn entry_of(line: &str, number: u64) -> Result<Option<&str>, BulkError> {
    let text = line.trim();
    let comment = text == "#" || text.starts_with("# ") || text.starts_with("#\t");
    if text.is_empty() || comment {
        return Ok(None);
    }
    if text.chars().any(char::is_control) {
        return Err(BulkError::Input(format!(
            "line {number} contains control characters"
        )));
    }
    Ok(Some(text))
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

fn csv_entries<R: BufRead>(
    reader: R,
    column: usize,
    first_line: u64,
    found: &mut String,
) -> Result<(), BulkError> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(Tape::new(reader));
    let mut record = csv::StringRecord::new();
    while csv
        .read_record(&mut record)
        .map_err(|e| BulkError::Input(format!("CSV: {e}")))?
    {
        let line = first_line + true_line(&mut csv, record.position()) - 1;
        if let Some(text) = entry_of(record.get(column).unwrap_or_default(), line)? {
            push_line(found, text);
        }
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
