//! What `pwreset reset bulk` shows: the plan and report rows (table, JSON or CSV on stdout), one
//! JSON line per user while a run goes, the progress bar, and the status lines on stderr.
//!
//! Rendering only: nothing here decides what happens to a run, asks the operator, or touches
//! the store other than reading a run's items back.

use std::io::StdoutLock;
use std::time::Duration;

use serde::Serialize;

use super::Context;
use crate::bulk::{self, Action, Items, Outcome, PlanSummary, Report};
use crate::cli::CommandResult;
use crate::cli::output::{ListWriter, Record};
use crate::cli::ui::{sanitize, thousands};
use crate::settings::Format;
use crate::store::Store;
use crate::store::bulk::Item;
use crate::user::User;
use crate::{mail, timefmt};

/// What an action does, as the start of a sentence about `N users`.
pub(super) fn verb(action: Action) -> &'static str {
    match action {
        Action::Link => "Send reset links to",
        Action::Generate => "Set and email temporary passwords for",
    }
}

/// The line after a dry run's plan.
pub(super) fn dry_run_done(ctx: &Context, action: Action, summary: PlanSummary) {
    ctx.ui.status(&format!(
        "Dry run: would {} {} users; {} skipped. Nothing was changed.",
        verb(action).to_lowercase(),
        thousands(summary.to_do),
        thousands(summary.skipped)
    ));
}

/// The entries skipped when planning, one `skip` line each, then the plan's counts.
pub(super) fn planned(
    ctx: &Context,
    store: &Store,
    run_id: &str,
    action: Action,
    summary: PlanSummary,
) -> CommandResult<()> {
    bulk::for_each_item(store.conn(), run_id, Items::Skipped, |item, _| {
        ctx.ui.status(&format!(
            "  skip {}: {}",
            sanitize(&item.entry),
            item.reason.as_deref().unwrap_or_default()
        ));
        Ok::<_, anyhow::Error>(())
    })?;
    ctx.ui.status(&format!(
        "Plan {run_id}: {} {} users; {} skipped",
        verb(action).to_lowercase(),
        thousands(summary.to_do),
        thousands(summary.skipped)
    ));
    Ok(())
}

/// A listing of plan or report rows on stdout.
pub(super) fn item_writer(ctx: &Context) -> ListWriter<StdoutLock<'static>> {
    ListWriter::new::<ItemRow>(
        ctx.settings.format,
        std::io::stdout().lock(),
        ctx.ui.stdout_is_terminal(),
    )
}

/// Every item of a run and how it ended (`--format table` or `csv`, after the run).
pub(super) fn report(ctx: &Context, store: &Store, run_id: &str) -> CommandResult<()> {
    let mut writer = item_writer(ctx);
    bulk::for_each_item(store.conn(), run_id, Items::All, |item, user| {
        writer.row(&ItemRow::new(item, user))
    })?;
    writer.finish()?;
    Ok(())
}

/// The totals of a run, and how to resume it if that is needed.
pub(super) fn summarize(ctx: &Context, run_id: &str, report: &Report, elapsed: Duration) {
    ctx.ui.status(&format!(
        "Run {run_id}: sent {}, skipped {}, failed {} in {:.1}s",
        thousands(report.sent),
        thousands(report.skipped),
        thousands(report.failed),
        elapsed.as_secs_f64()
    ));
    if report.interrupted {
        ctx.ui.status(&format!(
            "Interrupted. Resume with: pwreset reset bulk --resume {run_id}"
        ));
    } else if report.failed > 0 {
        ctx.ui.status(&format!(
            "Retry the failed users with: pwreset reset bulk --resume {run_id}"
        ));
    }
}

/// What a run shows as each user finishes: a JSON line (`--format json`) and a step of the
/// progress bar (on a terminal).
pub(super) struct Progress {
    bar: Option<indicatif::ProgressBar>,
    lines: Option<StdoutLock<'static>>,
    action: Action,
}

impl Progress {
    /// Start showing the progress of `total` users.
    pub(super) fn start(ctx: &Context, action: Action, total: u64) -> Self {
        let json = ctx.settings.format == Format::Json;
        Progress {
            bar: progress_bar(ctx, total),
            lines: json.then(|| std::io::stdout().lock()),
            action,
        }
    }

    /// One user finished. A failing stdout does not stop the run.
    pub(super) fn item(&mut self, item: &Item, user: Option<&User>, outcome: &Outcome) {
        if let Some(lines) = &mut self.lines {
            let line = Line::new(self.action, item, user, outcome);
            let _ = crate::cli::output::json_line(&mut *lines, &line);
        }
        let planned_skip = item.status == "skipped";
        if let (Some(bar), false) = (&self.bar, planned_skip) {
            bar.inc(1);
        }
    }

    /// Release stdout and clear the bar.
    pub(super) fn finish(self) {
        drop(self.lines);
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

fn progress_bar(ctx: &Context, total: u64) -> Option<indicatif::ProgressBar> {
    if !ctx.ui.shows_progress() {
        return None;
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} users  {per_sec}  ETA {eta}")
    {
        bar.set_style(style);
    }
    Some(bar)
}

/// One JSON line per user (`--format json`).
#[derive(Serialize)]
struct Line<'a> {
    user: Option<&'a str>,
    entry: &'a str,
    action: &'static str,
    status: &'static str,
    reason: Option<&'a str>,
    recipient: Option<String>,
    expires_at: Option<String>,
}

impl<'a> Line<'a> {
    fn new(action: Action, item: &'a Item, user: Option<&'a User>, outcome: &'a Outcome) -> Self {
        let (status, reason, recipient, expires_at) = match outcome {
            Outcome::Sent {
                recipient,
                expires_at,
            } => (
                "sent",
                None,
                Some(mail::mask(recipient)),
                Some(timefmt::rfc3339(*expires_at)),
            ),
            Outcome::Skipped(reason) => ("skipped", Some(reason.as_str()), None, None),
            Outcome::Failed(reason) => ("failed", Some(reason.as_str()), None, None),
        };
        Line {
            user: user.map(|u| u.username.as_str()),
            entry: &item.entry,
            action: action.as_str(),
            status,
            reason,
            recipient,
            expires_at,
        }
    }
}

/// One row of the plan or the report.
#[derive(Serialize)]
pub(super) struct ItemRow {
    position: i64,
    entry: String,
    user: Option<String>,
    status: String,
    reason: Option<String>,
    recipient: Option<String>,
    expires_at: Option<String>,
}

impl ItemRow {
    /// The row of an item and its user.
    pub(super) fn new(item: &Item, user: Option<&User>) -> Self {
        ItemRow {
            position: item.position,
            entry: item.entry.clone(),
            user: user.map(|u| u.username.clone()),
            status: item.status.clone(),
            reason: item.reason.clone(),
            recipient: item.recipient.as_deref().map(mail::mask),
            expires_at: item.expires_at.map(timefmt::rfc3339),
        }
    }
}

impl Record for ItemRow {
    const HEADINGS: &'static [&'static str] = &[
        "#",
        "ENTRY",
        "USER",
        "STATUS",
        "REASON",
        "RECIPIENT",
        "EXPIRES",
    ];
    fn cells(&self) -> Vec<String> {
        let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        vec![
            self.position.to_string(),
            self.entry.clone(),
            dash(&self.user),
            self.status.clone(),
            dash(&self.reason),
            dash(&self.recipient),
            dash(
                &self
                    .expires_at
                    .as_ref()
                    .map(|t| t.replace('T', " ").replace('Z', " UTC")),
            ),
        ]
    }
}
