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
use std::io::BufRead;

use crate::store::sql::Conn;
use jiff::Timestamp;

use super::{Action, BulkError};
use crate::audit::{self, Actor, Event};
use crate::store::Store;
use crate::store::bulk::{self, Item, NewRun};
use crate::store::users::{self as users_sql, Filter, Status};
use crate::user::User;
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
    /// Entries resolved but not yet handed to the sink: a link run's users wait here so that
    /// their cooldowns are read [`Planner::CHUNK`] at a time, in one statement.
    held: Vec<(Item, Option<User>)>,
}

impl Planner<'_> {
    /// How many entries wait for one cooldown query.
    const CHUNK: usize = 256;

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
            (Some(user), None) => self.skip_reason(user),
            (None, None) => Some("unknown"),
        };
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
        self.held.push((item, user.cloned()));
        if self.held.len() >= Self::CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    /// Hand the held entries to the sink, in order, each user the cooldown holds back (a link
    /// run's) skipped as `in cooldown`.
    fn flush(&mut self) -> Result<(), BulkError> {
        let held = std::mem::take(&mut self.held);
        let cooling = if self.action == Action::Link {
            let ids: Vec<i64> = held
                .iter()
                .filter(|(item, _)| item.reason.is_none())
                .filter_map(|(item, _)| item.user_id)
                .collect();
            let cooldown = crate::tokens::Cooldown::Any {
                secs: self.cooldown_secs,
            };
            cooldown.until_many(self.conn, &ids, self.now)?
        } else {
            std::collections::HashMap::new()
        };
        for (mut item, user) in held {
            if item.reason.is_none() && item.user_id.is_some_and(|id| cooling.contains_key(&id)) {
                item.status = "skipped".into();
                item.reason = Some("in cooldown".into());
            }
            if item.reason.is_some() {
                self.summary.skipped += 1;
            } else {
                self.summary.to_do += 1;
            }
            (self.sink)(&item, user.as_ref())?;
        }
        Ok(())
    }

    /// Why `user` is skipped, if they are (the cooldown is read when the held entries are
    /// flushed).
    fn skip_reason(&mut self, user: &User) -> Option<&'static str> {
        if !self.seen_users.insert(user.id) {
            return Some("duplicate");
        }
        crate::links::eligible(user)
            .err()
            .map(|refusal| refusal.reason())
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
    // Items are written a chunk at a time, each chunk in one statement.
    let mut chunk: Vec<Item> = Vec::with_capacity(Planner::CHUNK);
    let write = |chunk: &mut Vec<Item>| -> Result<(), BulkError> {
        bulk::insert_items(&tx, request.run_id, chunk, now.as_second())?;
        chunk.clear();
        Ok(())
    };
    let mut insert = |item: &Item, _: Option<&User>| -> Result<(), BulkError> {
        chunk.push(item.clone());
        if chunk.len() >= Planner::CHUNK {
            write(&mut chunk)?;
        }
        Ok(())
    };
    let summary = resolve(&tx, selection, request, now, &mut insert)?;
    write(&mut chunk)?;
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
        held: Vec::new(),
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
    planner.flush()?;
    Ok(planner.summary)
}

fn plan_users(planner: &mut Planner<'_>, filter: &Filter) -> Result<(), BulkError> {
    let conn = planner.conn;
    users_sql::for_each(conn, filter, |user| {
        planner.add(&user.username.clone(), Some(&user), None)
    })
}

mod file;
#[cfg(test)]
use file::csv_column;
use file::entries;

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
