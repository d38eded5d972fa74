//! A bulk run's report (`reset bulk --report RUN_ID`): every item with where its user stands
//! now, from the link or temporary password the item produced (`crate::tokens::state`), and the
//! run's [`Summary`]. Works on a run still going or interrupted: items not done yet are
//! `pending`. Items are streamed from one query in one read transaction (one snapshot), so the
//! rows and the summary agree and memory stays flat. Nothing here prints.

use serde::Serialize;

use super::runs::Streamed;
use super::{Action, BulkError};
use crate::store::Store;
use crate::store::bulk::report::{self as sql, Produced};
use crate::store::bulk::{self, Item, Run};
use crate::tokens::state::{self, Standing, State};

/// One user of a run and where they stand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The item.
    pub item: Item,
    /// The user's name, if the entry named one who still exists.
    pub username: Option<String>,
    /// `pending`, `skipped`, `interrupted`, `purged` (its link was deleted by `tokens purge`),
    /// or a [`State`] of its link or temporary password.
    pub state: &'static str,
    /// Why (a skip's or revocation's reason, the reply that refused the mail).
    pub reason: Option<String>,
    /// Whether the link was opened by a browser (links only).
    pub opened: bool,
    /// Whether the run sets temporary passwords rather than sending links.
    pub password: bool,
    /// When the mail server accepted the mail.
    pub sent_at: Option<i64>,
    /// The mail server's reply.
    pub mail_reply: Option<String>,
}

/// `purged`: the item's link or temporary password is no longer in the store.
pub const PURGED: &str = "purged";

impl Line {
    fn new(produced: Produced, action: Action, now: i64) -> Self {
        let Produced {
            item,
            username,
            token,
            temp_password,
            token_id,
            temp_password_id,
        } = produced;
        let (sent_at, mail_reply, opened) = match (&token, &temp_password) {
            (Some(t), _) => (t.sent_at, t.mail_reply.clone(), state::opened(t)),
            (None, Some(p)) => (p.sent_at, p.mail_reply.clone(), false),
            (None, None) => (None, None, false),
        };
        let standing = token
            .map(|t| state::of_link(&t, now))
            .or_else(|| temp_password.map(|p| state::of_temp_password(&p, now)));
        let recorded = token_id.is_some() || temp_password_id.is_some();
        let (state, reason) = match (item.status.as_str(), standing) {
            ("pending" | "sending", _) => ("pending", None),
            ("skipped" | "interrupted", _) => (status_name(&item.status), item.reason.clone()),
            ("failed", standing) => (
                "failed",
                standing.and_then(|s| s.reason).or(item.reason.clone()),
            ),
            (_, Some(Standing { state, reason })) => (state.as_str(), reason),
            (_, None) if recorded => (PURGED, Some("removed by tokens purge".into())),
            // Finished before schema 6, which records what an item produced.
            (_, None) => ("sent", None),
        };
        Line {
            item,
            username,
            state,
            reason,
            opened,
            password: action == Action::Generate,
            sent_at,
            mail_reply,
        }
    }
}

fn status_name(status: &str) -> &'static str {
    if status == "skipped" {
        "skipped"
    } else {
        "interrupted"
    }
}

/// The counts of a report: `1,204 sent: 950 used, 120 opened but not used, 134 never opened
/// (61 expired); 6 failed; 17 skipped`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Users whose mail was accepted.
    pub sent: u64,
    /// Of those, links used.
    pub used: u64,
    /// Links opened by a browser but not used.
    pub opened_not_used: u64,
    /// Links never opened (nor used).
    pub never_opened: u64,
    /// Of those never opened, the expired ones.
    pub never_opened_expired: u64,
    /// Temporary passwords the user has since replaced with their own.
    pub changed: u64,
    /// Temporary passwords not (yet) replaced.
    pub not_changed: u64,
    /// Of those, the expired ones.
    pub not_changed_expired: u64,
    /// Sent, but the link or password is no longer in the store (`tokens purge`).
    pub purged: u64,
    /// Users whose mail failed.
    pub failed: u64,
    /// Entries skipped at planning (or since: cooldown, deactivated).
    pub skipped: u64,
    /// Users not done yet.
    pub pending: u64,
    /// Users whose mail may have gone out with nothing committed.
    pub interrupted: u64,
}

impl Summary {
    /// Count one line.
    pub fn count(&mut self, line: &Line) {
        match line.item.status.as_str() {
            "pending" | "sending" => self.pending += 1,
            "skipped" => self.skipped += 1,
            "failed" => self.failed += 1,
            "interrupted" => self.interrupted += 1,
            _ => self.count_sent(line),
        }
    }

    fn count_sent(&mut self, line: &Line) {
        self.sent += 1;
        let expired = line.state == State::Expired.as_str();
        match line.state {
            PURGED => self.purged += 1,
            "used" => self.used += 1,
            "changed" => self.changed += 1,
            _ if line.password => {
                self.not_changed += 1;
                self.not_changed_expired += u64::from(expired);
            }
            _ if line.opened => self.opened_not_used += 1,
            _ => {
                self.never_opened += 1;
                self.never_opened_expired += u64::from(expired);
            }
        }
    }
}

/// A stored run, ready to report on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reported {
    /// The run.
    pub run: Run,
    /// What it does.
    pub action: Action,
}

/// The run with this id, or [`BulkError::UnknownRun`].
pub fn find(store: &Store, run_id: &str) -> Result<Reported, BulkError> {
    let run = bulk::run(store.conn(), run_id)?
        .ok_or_else(|| BulkError::UnknownRun(run_id.to_string()))?;
    let action = Action::parse(&run.action).ok_or_else(|| BulkError::UnknownAction {
        run: run_id.to_string(),
        action: run.action.clone(),
    })?;
    Ok(Reported { run, action })
}

/// Hand every item of the run to `on_line`, in order, with where its user stands at `now`, in
/// one read snapshot; returns the summary.
pub fn report<E: From<BulkError>>(
    store: &Store,
    run: &Reported,
    now: i64,
    mut on_line: impl FnMut(&Line) -> Result<(), E>,
) -> Result<Summary, E> {
    let read = store.conn().begin_read().map_err(BulkError::from)?;
    let mut summary = Summary::default();
    let streamed = sql::each(&read, &run.run.id, |produced| {
        let line = Line::new(produced, run.action, now);
        summary.count(&line);
        on_line(&line).map_err(Streamed::Caller)
    });
    drop(read); // nothing was written
    streamed.map_err(Streamed::into_error)?;
    Ok(summary)
}
