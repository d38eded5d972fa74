//! `pwreset audit`: list the audit log; `audit verify` its MAC chain, `audit head` print its last
//! row, `audit rekey` create the key of a store from before schema 4.

mod head;
mod rekey;
mod verify;

use serde::Serialize;

use super::Context;
use crate::audit::{self, Entry, Filter};
use crate::cli::CommandResult;
use crate::cli::exit::{Exit, Failure};
use crate::cli::output::{ListWriter, Record};
use crate::timefmt;

/// Show or verify the audit log
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
#[command(after_help = "Examples:
  pwreset audit --since 24h
  pwreset audit --user alice --format json
  pwreset audit --action 'user.*' --limit 20
  pwreset audit verify
  pwreset audit head")]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Show only entries about USER (an email, a username or #ID)
    #[arg(long, value_name = "USER")]
    user: Option<String>,
    /// Show only this action, e.g. user.add; a trailing * matches a prefix (user.*)
    #[arg(long, value_name = "A")]
    action: Option<String>,
    /// Show only entries from the last DURATION, e.g. 30m, 24h, 7d
    #[arg(long, value_name = "DURATION")]
    since: Option<String>,
    /// Show only the last N matching entries
    #[arg(long, value_name = "N")]
    limit: Option<u64>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Check the MAC chain and name the first bad row
    Verify(verify::Args),
    /// Print the last row's id and MAC, to record outside the store
    Head(head::Args),
    /// Create the audit key if there is none, and anchor the log under it
    Rekey(rekey::Args),
}

/// Run `pwreset audit`.
pub fn run(ctx: &Context, args: Args) -> CommandResult<Exit> {
    match args.command {
        Some(Command::Verify(args)) => return verify::run(ctx, args),
        Some(Command::Head(args)) => return head::run(ctx, args),
        Some(Command::Rekey(args)) => return rekey::run(ctx, args),
        None => {}
    }
    let (_, store) = ctx.open_store()?;
    // A listing reads each page once: a small page cache keeps its memory flat.
    store.limit_cache(512)?;
    let user_id = match &args.user {
        Some(key) => Some(crate::users::resolve(store.conn(), key)?.id),
        None => None,
    };
    let since = args
        .since
        .as_deref()
        .map(|text| since(ctx, text))
        .transpose()?;
    let filter = Filter {
        user_id,
        action: args.action,
        since,
        limit: args.limit,
    };
    let stdout = std::io::stdout().lock();
    let mut writer =
        ListWriter::new::<AuditRow>(ctx.settings.format, stdout, ctx.ui.stdout_is_terminal());
    audit::for_each(store.conn(), &filter, |entry| {
        writer.row(&AuditRow::from(entry))
    })?;
    writer.finish()?;
    Ok(Exit::Ok)
}

fn since(ctx: &Context, text: &str) -> CommandResult<i64> {
    let duration = humantime::parse_duration(text).map_err(|e| {
        Failure::usage(format!("--since {text:?}: {e}"))
            .hint("use a duration such as 30m, 24h or 7d")
    })?;
    let secs = i64::try_from(duration.as_secs()).unwrap_or(i64::MAX);
    Ok(ctx.settings.now.as_second().saturating_sub(secs))
}

/// An audit entry as printed (JSON keys and CSV headers are the field names).
#[derive(Debug, Serialize)]
struct AuditRow {
    id: i64,
    at: String,
    os_user: String,
    actor: Option<String>,
    reason: Option<String>,
    action: String,
    target_user_id: Option<i64>,
    target: Option<String>,
    recipient: Option<String>,
    outcome: String,
    detail: Option<String>,
    run_id: Option<String>,
}

impl From<Entry> for AuditRow {
    fn from(e: Entry) -> Self {
        AuditRow {
            id: e.id,
            at: timefmt::rfc3339(e.at),
            os_user: e.os_user,
            actor: e.actor,
            reason: e.reason,
            action: e.action,
            target_user_id: e.target_user_id,
            target: e.target,
            recipient: e.recipient,
            outcome: e.outcome,
            detail: e.detail,
            run_id: e.run_id,
        }
    }
}

impl Record for AuditRow {
    const HEADINGS: &'static [&'static str] = &[
        "ID",
        "TIME",
        "BY",
        "ACTION",
        "TARGET",
        "RECIPIENT",
        "OUTCOME",
        "DETAIL",
        "REASON",
    ];
    fn cells(&self) -> Vec<String> {
        let by = match &self.actor {
            Some(actor) => format!("{actor} ({})", self.os_user),
            None => self.os_user.clone(),
        };
        let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        vec![
            self.id.to_string(),
            self.at.replace('T', " ").replace('Z', ""),
            by,
            self.action.clone(),
            opt(&self.target),
            opt(&self.recipient),
            self.outcome.clone(),
            opt(&self.detail),
            opt(&self.reason),
        ]
    }
}
