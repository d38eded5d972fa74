//! SQL for `bulk_runs` and `bulk_items`: a bulk run's plan and each user's outcome, written
//! in the same transaction as the change to that user, so a resumed run knows exactly who is
//! done.
//!
//! Items are read with their users (one join, not a query per item) in flat memory: streamed
//! from one query ([`each_item`]) when the reader writes nothing meanwhile, else a page at a
//! time through [`ItemPager`]. A user about to be mailed is read again when their item is
//! claimed ([`claim`]), as a page may be minutes old by then.

use std::collections::VecDeque;

use super::sql::many::Many;
use super::sql::{Conn, DbError, Row};
use crate::vals;

use super::users;
use crate::user::User;

mod claims;
mod many;
pub use many::{finish_items, insert_items};
pub mod report;

pub use claims::{
    Claim, claim, claim_batch, claim_item, claim_next, holder, release, take_over, user_of,
};

/// A bulk run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// Run id, e.g. `20261122-100000-3f2a`.
    pub id: String,
    /// `link` or `generate`.
    pub action: String,
    /// `planned`, `running`, `done`, `interrupted` or `aborted`.
    pub status: String,
    /// The recipient override (`--to` or the admin address), if any.
    pub deliver_to: Option<String>,
    /// When it was planned.
    pub created_at: i64,
    /// The run it reissues, if it does.
    pub reissue_of: Option<String>,
}

/// One planned entry of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Row id.
    pub id: i64,
    /// Order in the selection.
    pub position: i64,
    /// What selected it (the file's line, or the username).
    pub entry: String,
    /// The user, when the entry named one.
    pub user_id: Option<i64>,
    /// `pending`, `sending`, `sent`, `skipped`, `failed` or `interrupted`.
    pub status: String,
    /// Why it was skipped or failed.
    pub reason: Option<String>,
    /// Where the mail went.
    pub recipient: Option<String>,
    /// When the link or password expires.
    pub expires_at: Option<i64>,
}

fn item_from(row: &Row<'_>) -> Result<Item, DbError> {
    Ok(Item {
        id: row.get(0)?,
        position: row.get(1)?,
        entry: row.get(2)?,
        user_id: row.get(3)?,
        status: row.get(4)?,
        reason: row.get(5)?,
        recipient: row.get(6)?,
        expires_at: row.get(7)?,
    })
}

/// The columns [`item_from`] reads (first), on `bulk_items` aliased `i`.
const ITEM_COLUMNS: &str =
    "i.id, i.position, i.entry, i.user_id, i.status, i.reason, i.recipient, i.expires_at";

/// Where the user's columns start in a row of [`page`].
const USER_AT: usize = 8;

/// A new run in the `planned` state.
pub struct NewRun<'a> {
    /// Run id.
    pub id: &'a str,
    /// `link` or `generate`.
    pub action: &'a str,
    /// OS user.
    pub os_user: &'a str,
    /// `--actor`.
    pub actor: Option<&'a str>,
    /// `--reason`.
    pub reason: Option<&'a str>,
    /// Recipient override.
    pub deliver_to: Option<&'a str>,
    /// The run it reissues (`--reissue`), if any.
    pub reissue_of: Option<&'a str>,
}

/// Insert a run.
pub fn insert_run(conn: &Conn, run: &NewRun<'_>, now: i64) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO bulk_runs (id, created_at, action, os_user, actor, reason, deliver_to, \
         status, reissue_of) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'planned', ?8)",
        &vals![
            run.id,
            now,
            run.action,
            run.os_user,
            run.actor,
            run.reason,
            run.deliver_to,
            run.reissue_of
        ],
    )?;
    Ok(())
}

/// Insert a planned item (`pending`, or `skipped` with a reason), sent with the transaction's
/// next statement ([`Conn::defer`]): [`insert_items`] of one.
pub fn insert_item(
    conn: &Conn,
    run_id: &str,
    position: i64,
    entry: &str,
    user_id: Option<i64>,
    skip: Option<&str>,
    now: i64,
) -> Result<(), DbError> {
    let item = Item {
        id: 0,
        position,
        entry: entry.to_string(),
        user_id,
        status: String::new(),
        reason: skip.map(str::to_string),
        recipient: None,
        expires_at: None,
    };
    insert_items(conn, run_id, &[item], now)
}

/// The run with this id.
pub fn run(conn: &Conn, id: &str) -> Result<Option<Run>, DbError> {
    conn.query_opt(
        "SELECT id, action, status, deliver_to, created_at, reissue_of FROM bulk_runs \
         WHERE id = ?1",
        &vals![id],
        |r| {
            Ok(Run {
                id: r.get(0)?,
                action: r.get(1)?,
                status: r.get(2)?,
                deliver_to: r.get(3)?,
                created_at: r.get(4)?,
                reissue_of: r.get(5)?,
            })
        },
    )
}

/// Set a run's status (and its finish time for final states).
pub fn set_run_status(conn: &Conn, id: &str, status: &str, now: i64) -> Result<(), DbError> {
    conn.execute(
        "UPDATE bulk_runs SET status = ?2, finished_at = CASE WHEN CAST(?2 AS TEXT) IN \
         ('done', 'aborted') THEN ?3 ELSE finished_at END WHERE id = ?1",
        &vals![id, status, now],
    )?;
    Ok(())
}

/// Counts of items by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Still to do (pending, or failed and worth another try).
    pub pending: u64,
    /// Interrupted in the middle of sending: not retried, to never mail anyone twice.
    pub sending: u64,
    /// Done.
    pub sent: u64,
    /// Skipped at planning.
    pub skipped: u64,
    /// Failed.
    pub failed: u64,
    /// A mail that may have gone out with nothing committed: not retried.
    pub interrupted: u64,
}

/// Count a run's items by status.
pub fn counts(conn: &Conn, run_id: &str) -> Result<Counts, DbError> {
    let mut counts = Counts::default();
    conn.query_each(
        "SELECT status, count(*) FROM bulk_items WHERE run_id = ?1 GROUP BY status",
        &vals![run_id],
        |row| {
            let n = u64::try_from(row.get::<i64>(1)?).unwrap_or(0);
            match row.get::<String>(0)?.as_str() {
                "pending" => counts.pending = n,
                "sending" => counts.sending = n,
                "sent" => counts.sent = n,
                "skipped" => counts.skipped = n,
                "interrupted" => counts.interrupted = n,
                _ => counts.failed = n,
            }
            Ok::<_, DbError>(())
        },
    )?;
    Ok(counts)
}

/// Items with one of these statuses (every item when none is listed), in order, starting after
/// `after` position, at most `limit`.
pub fn items(
    conn: &Conn,
    run_id: &str,
    statuses: &[&str],
    after: i64,
    limit: i64,
) -> Result<Vec<Item>, DbError> {
    let page = page(conn, run_id, statuses, after, limit)?;
    Ok(page.into_iter().map(|(item, _)| item).collect())
}

/// Like [`items`], each with its user (`None` for an entry that named nobody, or a user
/// deleted since).
pub fn page(
    conn: &Conn,
    run_id: &str,
    statuses: &[&str],
    after: i64,
    limit: i64,
) -> Result<Vec<(Item, Option<User>)>, DbError> {
    let mut params = Many::new();
    params.text(run_id).int(after).int(limit);
    let status_in = status_filter(&mut params, statuses);
    let sql = format!(
        "SELECT {ITEM_COLUMNS}, {} FROM bulk_items i LEFT JOIN users u ON u.id = i.user_id \
         WHERE i.run_id = ?1 {status_in}AND i.position > ?2 ORDER BY i.position LIMIT ?3",
        users::joined_columns("u")
    );
    conn.query_vec(&sql, &params.params(), |row| {
        Ok((item_from(row)?, users::joined_at(row, USER_AT)?))
    })
}

/// The items of a run with one of these statuses (every item when none is listed), each with
/// its user, in order, streamed from one query: `f` gets each row as it arrives and may not use
/// the connection. However stale the table's statistics (a run just planned, not yet analysed),
/// the items are sorted at most once, where pages of [`page`] could each sort the whole run.
pub fn each_item<E: From<DbError>>(
    conn: &Conn,
    run_id: &str,
    statuses: &[&str],
    mut f: impl FnMut(Item, Option<User>) -> Result<(), E>,
) -> Result<(), E> {
    let mut params = Many::new();
    params.text(run_id);
    let status_in = status_filter(&mut params, statuses);
    let sql = format!(
        "SELECT {ITEM_COLUMNS}, {} FROM bulk_items i LEFT JOIN users u ON u.id = i.user_id \
         WHERE i.run_id = ?1 {status_in}ORDER BY i.position",
        users::joined_columns("u")
    );
    conn.query_each(&sql, &params.params(), |row| {
        f(item_from(row)?, users::joined_at(row, USER_AT)?)
    })
}

/// `AND i.status IN (...) ` for these statuses, their parameters added (LOC-2: never pasted
/// into the SQL); empty when none is listed.
fn status_filter(params: &mut Many, statuses: &[&str]) -> String {
    if statuses.is_empty() {
        return String::new();
    }
    format!("AND i.status IN ({}) ", params.text_list(statuses))
}

/// The items of a run with some statuses, each with its user, in order: fetched a page
/// ([`ItemPager::PAGE`] items) at a time, so memory stays flat in the size of the run.
///
/// The pager borrows the connection only while it fetches, so the caller may write between two
/// items. It stops at the first empty page; an item whose status changes after its page was
/// fetched is seen with the status it had then.
pub struct ItemPager<'a> {
    run_id: &'a str,
    statuses: &'a [&'a str],
    after: i64,
    page: VecDeque<(Item, Option<User>)>,
    exhausted: bool,
}

impl<'a> ItemPager<'a> {
    /// Items fetched from the store at a time.
    pub const PAGE: i64 = 256;

    /// A pager over the items of `run_id` with one of these statuses.
    pub fn new(run_id: &'a str, statuses: &'a [&'a str]) -> Self {
        ItemPager {
            run_id,
            statuses,
            after: 0,
            page: VecDeque::new(),
            exhausted: false,
        }
    }

    /// The next item and its user, fetching the next page from `conn` when this one is used up.
    pub fn next_item(&mut self, conn: &Conn) -> Result<Option<(Item, Option<User>)>, DbError> {
        if self.page.is_empty() && !self.exhausted {
            let page = page(conn, self.run_id, self.statuses, self.after, Self::PAGE)?;
            self.exhausted = page.is_empty();
            self.after = page.last().map_or(self.after, |(item, _)| item.position);
            self.page.extend(page);
        }
        Ok(self.page.pop_front())
    }
}

/// What an item's mail produced: the link or temporary password its report follows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Produced {
    /// Nothing (refused before anything was written).
    #[default]
    Nothing,
    /// This reset link (`reset_tokens.id`).
    Token(i64),
    /// This temporary password (`temp_passwords.id`).
    TempPassword(i64),
}

impl Produced {
    /// The token id and the temporary password id (at most one is set).
    pub fn ids(self) -> (Option<i64>, Option<i64>) {
        match self {
            Produced::Nothing => (None, None),
            Produced::Token(id) => (Some(id), None),
            Produced::TempPassword(id) => (None, Some(id)),
        }
    }
}

/// How an item ends: its status and what else is recorded with it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Finish<'a> {
    /// `sent`, `skipped`, `failed` or `interrupted`.
    pub status: &'a str,
    /// Why it was skipped or failed.
    pub reason: Option<&'a str>,
    /// Where the mail went (`None` keeps the planned recipient).
    pub recipient: Option<&'a str>,
    /// When the link or password expires.
    pub expires_at: Option<i64>,
    /// The link or temporary password it produced.
    pub produced: Produced,
}

/// Record an item's outcome, which produced nothing to follow.
pub fn finish_item(
    conn: &Conn,
    item_id: i64,
    status: &str,
    reason: Option<&str>,
    recipient: Option<&str>,
    expires_at: Option<i64>,
    now: i64,
) -> Result<(), DbError> {
    let end = Finish {
        status,
        reason,
        recipient,
        expires_at,
        produced: Produced::Nothing,
    };
    finish_item_producing(conn, item_id, &end, now)
}

/// Record an item's outcome and the link or temporary password it produced (sent with the
/// transaction's next statement or its commit: [`Conn::defer`]): [`finish_items`] of one.
pub fn finish_item_producing(
    conn: &Conn,
    item_id: i64,
    end: &Finish<'_>,
    now: i64,
) -> Result<(), DbError> {
    finish_items(conn, &[(item_id, *end)], now)
}
