//! `pwreset reset bulk --report RUN_ID`: the run's users with where each stands now (table or
//! CSV on stdout, the summary line on stderr; or one JSON object with the run, the users and the
//! summary counts). Reads only; rendering only: the states come from `crate::bulk::report`.

use std::fmt::Write as _;
use std::io::{BufWriter, Write};

use serde::Serialize;

use super::Context;
use crate::bulk::Action;
use crate::bulk::report::{self, Line, Reported, Summary};
use crate::cli::CommandResult;
use crate::cli::exit::Exit;
use crate::cli::output::{self, ListWriter, Record};
use crate::cli::ui::thousands;
use crate::settings::Format;
use crate::store::Store;
use crate::{mail, timefmt};

/// Report on run `run_id`.
pub(super) fn run(ctx: &Context, store: &Store, run_id: &str) -> CommandResult<Exit> {
    let reported = report::find(store, run_id)?;
    let now = ctx.settings.now.as_second();
    ctx.ui.status(&header(&reported));
    let summary = if ctx.settings.format == Format::Json {
        json(store, &reported, now)?
    } else {
        let mut writer = ListWriter::new::<ReportRow>(
            ctx.settings.format,
            std::io::stdout().lock(),
            ctx.ui.stdout_is_terminal(),
        );
        let summary = report::report(store, &reported, now, |line| {
            writer.row(&ReportRow::new(line))
        })?;
        writer.finish()?;
        summary
    };
    ctx.ui.status(&summary_line(reported.action, &summary));
    Ok(Exit::Ok)
}

/// `Run 20261122-100000-3f2a (link, done, planned 2026-11-22T10:00:00Z, reissue of ...)`.
fn header(reported: &Reported) -> String {
    let run = &reported.run;
    let mut text = format!(
        "Run {} ({}, {}, planned {}",
        run.id,
        reported.action.as_str(),
        run.status,
        timefmt::rfc3339(run.created_at)
    );
    if let Some(original) = &run.reissue_of {
        text.push_str(", reissue of ");
        text.push_str(original);
    }
    text.push(')');
    text
}

/// `1,204 sent: 950 used, 120 opened but not used, 134 never opened (61 expired); 6 failed;
/// 17 skipped` (a run of temporary passwords: `950 changed, 254 not changed (61 expired)`).
pub(super) fn summary_line(action: Action, s: &Summary) -> String {
    let n = thousands;
    let mut parts = match action {
        Action::Link => vec![
            format!("{} used", n(s.used)),
            format!("{} opened but not used", n(s.opened_not_used)),
            format!(
                "{} never opened ({} expired)",
                n(s.never_opened),
                n(s.never_opened_expired)
            ),
        ],
        Action::Generate => vec![
            format!("{} changed", n(s.changed)),
            format!(
                "{} not changed ({} expired)",
                n(s.not_changed),
                n(s.not_changed_expired)
            ),
        ],
    };
    if s.purged > 0 {
        parts.push(format!("{} purged", n(s.purged)));
    }
    let mut line = format!(
        "{} sent: {}; {} failed; {} skipped",
        n(s.sent),
        parts.join(", "),
        n(s.failed),
        n(s.skipped)
    );
    for (count, what) in [(s.pending, "pending"), (s.interrupted, "interrupted")] {
        if count > 0 {
            let _ = write!(line, "; {} {what}", n(count));
        }
    }
    line
}

/// `{"run": {...}, "users": [...], "summary": {...}}`, the users streamed.
fn json(store: &Store, reported: &Reported, now: i64) -> CommandResult<Summary> {
    let mut out = BufWriter::with_capacity(output::BUFFER, std::io::stdout().lock());
    out.write_all(b"{\"run\": ")?;
    output::json_line(&mut out, &RunJson::new(reported))?;
    out.write_all(b", \"users\": [\n")?;
    let mut first = true;
    let summary = report::report(store, reported, now, |line| {
        if !first {
            out.write_all(b",")?;
        }
        first = false;
        output::json_line(&mut out, &ReportRow::new(line))?;
        Ok::<_, anyhow::Error>(())
    })?;
    out.write_all(b"], \"summary\": ")?;
    output::json_line(&mut out, &summary)?;
    out.write_all(b"}\n")?;
    out.flush()?;
    Ok(summary)
}

/// The run in the JSON report.
#[derive(Serialize)]
struct RunJson {
    id: String,
    action: &'static str,
    status: String,
    created_at: String,
    reissue_of: Option<String>,
}

impl RunJson {
    fn new(reported: &Reported) -> Self {
        RunJson {
            id: reported.run.id.clone(),
            action: reported.action.as_str(),
            status: reported.run.status.clone(),
            created_at: timefmt::rfc3339(reported.run.created_at),
            reissue_of: reported.run.reissue_of.clone(),
        }
    }
}

/// One user of the report (JSON keys and CSV headers are the field names).
#[derive(Serialize)]
struct ReportRow {
    position: i64,
    entry: String,
    user: Option<String>,
    state: &'static str,
    state_reason: Option<String>,
    opened: bool,
    recipient: Option<String>,
    sent_at: Option<String>,
    expires_at: Option<String>,
    mail_reply: Option<String>,
}

impl ReportRow {
    fn new(line: &Line) -> Self {
        ReportRow {
            position: line.item.position,
            entry: line.item.entry.clone(),
            user: line.username.clone(),
            state: line.state,
            state_reason: line.reason.clone(),
            opened: line.opened,
            recipient: line.item.recipient.as_deref().map(mail::mask),
            sent_at: line.sent_at.map(timefmt::rfc3339),
            expires_at: line.item.expires_at.map(timefmt::rfc3339),
            mail_reply: line.mail_reply.clone(),
        }
    }
}

impl Record for ReportRow {
    const HEADINGS: &'static [&'static str] = &[
        "#",
        "ENTRY",
        "USER",
        "STATE",
        "OPENED",
        "RECIPIENT",
        "SENT",
        "EXPIRES",
        "MAIL REPLY",
    ];
    fn cells(&self) -> Vec<String> {
        let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        let when = |v: &Option<String>| {
            dash(&v.as_ref().map(|t| t.replace('T', " ").replace('Z', " UTC")))
        };
        let state = match &self.state_reason {
            Some(reason) => format!("{}: {reason}", self.state),
            None => self.state.to_string(),
        };
        vec![
            self.position.to_string(),
            self.entry.clone(),
            dash(&self.user),
            state,
            if self.opened { "yes" } else { "no" }.to_string(),
            dash(&self.recipient),
            when(&self.sent_at),
            when(&self.expires_at),
            dash(&self.mail_reply),
        ]
    }
}
