//! `pwreset reset bulk`: send links to, or set temporary passwords for, many users at once.

use std::io::{BufRead, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::Context;
use super::generate::generate_settings;
use crate::bulk::{self, Action, Outcome, Pacing, Report, Runner, Selection};
use crate::config::LoadedConfig;
use crate::exit::{Exit, Failure};
use crate::output::{ListWriter, Record};
use crate::settings::Format;
use crate::store::Store;
use crate::store::bulk::{self as bulk_sql, Item, NewRun};
use crate::store::users::User;
use crate::ui::{sanitize, thousands};
use crate::{mail, timefmt};

const EXAMPLES: &str = "Examples:
  pwreset reset bulk --link --file users.txt --dry-run     Show the plan, change nothing
  pwreset reset bulk --link --all                           Every active user, after a prompt
  pwreset reset bulk --generate --file staff.csv --yes --rate 120
  grep -v '^#' list | pwreset reset bulk --link --file -
  pwreset reset bulk --link --search @old-domain.example --to helpdesk@example.com
  pwreset reset bulk --resume 20261122-100000-3f2a          Finish an interrupted run";

/// Send reset links to, or set temporary passwords for, many users at once
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Send each user a reset link
    #[arg(long, conflicts_with = "generate")]
    link: bool,
    /// Set a temporary password for each user and email it (never printed)
    #[arg(long)]
    generate: bool,
    /// Users from PATH: one USER per line (# comments), or CSV with an email or username column; - for stdin
    #[arg(long, value_name = "PATH", conflicts_with_all = ["all", "search"])]
    file: Option<String>,
    /// Every active user
    #[arg(long, conflicts_with = "search")]
    all: bool,
    /// Users whose username, email or name contains TEXT
    #[arg(long, value_name = "TEXT")]
    search: Option<String>,
    /// Send every mail to ADDRESS instead of the users' own addresses
    #[arg(long, value_name = "ADDRESS")]
    to: Option<String>,
    /// Send at most N messages a minute, e.g. 120 or 120/min [default: mail.rate, no cap]
    #[arg(long, value_name = "N/min", value_parser = parse_rate)]
    rate: Option<u32>,
    /// Print the plan and stop; change nothing
    #[arg(long)]
    dry_run: bool,
    /// Add TEXT to every mail as a note from the administrator
    #[arg(long, value_name = "TEXT", value_parser = crate::cli::parse_note)]
    note: Option<String>,
    /// Finish run `RUN_ID`: the users still pending or failed (those done are not mailed again)
    #[arg(long, value_name = "RUN_ID", conflicts_with_all = ["link", "generate", "file", "all", "search", "to", "dry_run"])]
    resume: Option<String>,
}

fn parse_rate(text: &str) -> Result<u32, String> {
    let number = text.trim().trim_end_matches("/min").trim_end_matches("/m");
    match number.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{text:?} is not a rate like 120 or 120/min")),
    }
}

/// Run `pwreset reset bulk`.
pub fn run(ctx: &Context, args: Args) -> anyhow::Result<Exit> {
    let (config, mut store) = ctx.open_store()?;
    store.limit_cache(512)?;
    let plan = match &args.resume {
        Some(id) => resumed(ctx, &store, id)?,
        None => planned(ctx, &config, &mut store, &args)?,
    };
    let Some((run_id, action, deliver_to)) = plan else {
        return Ok(Exit::Ok);
    };
    execute(
        ctx,
        &config,
        &mut store,
        &args,
        &run_id,
        action,
        deliver_to.as_deref(),
    )
}

fn action_of(args: &Args) -> anyhow::Result<Action> {
    match (args.link, args.generate) {
        (true, false) => Ok(Action::Link),
        (false, true) => Ok(Action::Generate),
        _ => {
            Err(Failure::usage("say what to do: --link or --generate (or --resume RUN_ID)").into())
        }
    }
}

fn selection(args: &Args) -> anyhow::Result<Selection<Box<dyn BufRead>>> {
    if let Some(path) = &args.file {
        // Read it all before planning takes the store's write lock, so a slow pipe never
        // blocks other pwreset commands (or the application) while the plan is written.
        let mut text = Vec::new();
        let read = if path == "-" {
            std::io::stdin().lock().read_to_end(&mut text)
        } else {
            std::fs::File::open(path).and_then(|mut file| file.read_to_end(&mut text))
        };
        read.map_err(|e| Failure::new(Exit::Config, format!("cannot read {path}: {e}")))?;
        return Ok(Selection::File(Box::new(std::io::Cursor::new(text))));
    }
    if args.all {
        return Ok(Selection::All);
    }
    if let Some(text) = &args.search {
        return Ok(Selection::Search(text.clone()));
    }
    Err(Failure::usage("say whom: --file PATH, --all or --search TEXT").into())
}

/// Plan a fresh run; returns `None` when there is nothing more to do (dry run, nothing to do,
/// or the operator said no).
fn planned(
    ctx: &Context,
    config: &LoadedConfig,
    store: &mut Store,
    args: &Args,
) -> anyhow::Result<Option<(String, Action, Option<String>)>> {
    let action = action_of(args)?;
    let selection = selection(args)?;
    let deliver_to = match (&args.to, config.config.mail.deliver_to) {
        (None, crate::config::DeliverTo::User) => None,
        (to, _) => Some(ctx.recipient(config, to.as_deref(), None)?),
    };
    let link = if action == Action::Link {
        Some(ctx.link_settings(config, None)?)
    } else {
        None
    };
    let (now, actor) = (ctx.settings.now, ctx.actor());
    let run_id = bulk::new_run_id(now, &mut rand::rng());
    let run = NewRun {
        id: &run_id,
        action: action.as_str(),
        os_user: &actor.os_user,
        actor: actor.actor.as_deref(),
        reason: actor.reason.as_deref(),
        deliver_to: deliver_to.as_deref(),
    };
    let cooldown = link.as_ref().map_or(0, |l| l.cooldown_secs);
    let tx = store.write()?;
    let summary = bulk::plan(&tx, selection, &run, action, cooldown, &actor, now)?;
    if args.dry_run {
        print_plan(ctx, &tx, &run_id, action, summary)?;
        return Ok(None); // the transaction is rolled back: a dry run changes nothing
    }
    let detail = format!(
        "{}: {} to do, {} skipped",
        action.as_str(),
        summary.to_do,
        summary.skipped
    );
    crate::audit::append(
        &tx,
        &actor,
        now,
        &crate::audit::Event::new("bulk.plan", crate::audit::Outcome::Ok)
            .detail(Some(detail))
            .run_id(Some(&run_id)),
    )?;
    tx.commit()?;
    list_skipped(ctx, store, &run_id)?;
    ctx.ui.status(&format!(
        "Plan {run_id}: {} {} users; {} skipped",
        verb(action).to_lowercase(),
        thousands(summary.to_do),
        thousands(summary.skipped)
    ));
    if summary.to_do == 0 {
        ctx.ui.status(&format!(
            "Nothing to do: all {} entries were skipped",
            thousands(summary.skipped)
        ));
        close(store, &run_id, "done", ctx)?;
        return Ok(None);
    }
    let question = format!(
        "{} {} users? {} skipped",
        verb(action),
        thousands(summary.to_do),
        thousands(summary.skipped)
    );
    if let Err(err) = ctx.ui.confirm(&question, ctx.settings.yes) {
        close(store, &run_id, "aborted", ctx)?;
        return Err(err);
    }
    Ok(Some((run_id, action, deliver_to)))
}

fn verb(action: Action) -> &'static str {
    match action {
        Action::Link => "Send reset links to",
        Action::Generate => "Set and email temporary passwords for",
    }
}

fn close(store: &mut Store, run_id: &str, status: &str, ctx: &Context) -> anyhow::Result<()> {
    let tx = store.write()?;
    bulk_sql::set_run_status(&tx, run_id, status, ctx.settings.now.as_second())?;
    tx.commit()?;
    Ok(())
}

fn resumed(
    ctx: &Context,
    store: &Store,
    id: &str,
) -> anyhow::Result<Option<(String, Action, Option<String>)>> {
    let run = bulk_sql::run(store.conn(), id)?.ok_or_else(|| {
        Failure::usage(format!("no bulk run {id:?}")).hint(
            "run ids are printed when a run starts, and are in `pwreset audit --action 'bulk.*'`",
        )
    })?;
    let action = Action::parse(&run.action).ok_or_else(|| {
        Failure::new(
            Exit::Config,
            format!("run {id} has unknown action {}", run.action),
        )
    })?;
    if run.status == "aborted" {
        return Err(Failure::usage(format!(
            "run {id} was aborted at its prompt and cannot be resumed"
        ))
        .hint("plan a new run, which checks every user again")
        .into());
    }
    let counts = bulk_sql::counts(store.conn(), id)?;
    if counts.pending + counts.failed + counts.sending == 0 {
        ctx.ui.status(&format!(
            "Run {id} has nothing left to do ({} sent)",
            thousands(counts.sent)
        ));
        return Ok(None);
    }
    let question = format!(
        "Resume run {id}: {} {} users ({} already done)?",
        verb(action).to_lowercase(),
        thousands(counts.pending + counts.failed),
        thousands(counts.sent)
    );
    ctx.ui.confirm(&question, ctx.settings.yes)?;
    Ok(Some((run.id, action, run.deliver_to)))
}

fn execute(
    ctx: &Context,
    config: &LoadedConfig,
    store: &mut Store,
    args: &Args,
    run_id: &str,
    action: Action,
    deliver_to: Option<&str>,
) -> anyhow::Result<Exit> {
    let counts = bulk_sql::counts(store.conn(), run_id)?;
    let link = if action == Action::Link {
        let mut settings = ctx.link_settings(config, None)?;
        settings.note.clone_from(&args.note);
        Some(settings)
    } else {
        None
    };
    let generate = (action == Action::Generate).then(|| {
        let mut settings = generate_settings(config);
        settings.note.clone_from(&args.note);
        settings
    });
    let mut mailer = ctx.mailer(config)?;
    let templates = ctx.templates(config);
    let stop = Arc::new(AtomicBool::new(false));
    let handler_flag = Arc::clone(&stop);
    let _ = ctrlc::set_handler(move || handler_flag.store(true, Ordering::SeqCst));
    let mail_config = &config.config.mail;
    let rate = args.rate.or(mail_config.rate);
    let pacing = Pacing {
        min_interval: rate.map(|per_minute| Duration::from_secs_f64(60.0 / f64::from(per_minute))),
        retries: mail_config.retries,
        backoff: mail_config.retry_backoff.0,
    };
    let settings = &ctx.settings;
    let clock = || settings.clock();
    let actor = ctx.actor();
    let mut runner = Runner {
        run_id,
        action,
        deliver_to,
        mailer: mailer.as_mut(),
        templates: &templates,
        link: link.as_ref(),
        generate: generate.as_ref(),
        pacing,
        stop: &stop,
        clock: &clock,
        actor: &actor,
        report_planned_skips: args.resume.is_none(),
    };
    ctx.ui.status(&format!(
        "Run {run_id}: {} users to do",
        thousands(counts.pending + counts.failed)
    ));
    let started = Instant::now();
    let progress = progress_bar(ctx, counts.pending + counts.failed);
    let mut lines = std::io::stdout().lock();
    let json = ctx.settings.format == Format::Json;
    let report = bulk::run(store, &mut runner, |item, user, outcome| {
        if json {
            let _ = serde_json::to_writer(&mut lines, &Line::new(action, item, user, outcome))
                .map(|()| writeln!(lines));
        }
        let planned_skip = item.status == "skipped";
        if let (Some(bar), false) = (&progress, planned_skip) {
            bar.inc(1);
        }
    })?;
    drop(lines);
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    if !json {
        // A closed stdout (`| head`) must not hide failures: the summary and exit code follow.
        if let Err(err) = print_report(ctx, store, run_id, action) {
            if !crate::cli::error::is_broken_pipe(&err) {
                return Err(err);
            }
        }
    }
    summarize(ctx, run_id, &report, started.elapsed());
    Ok(if report.failed > 0 || report.interrupted {
        Exit::Partial
    } else {
        Exit::Ok
    })
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

fn summarize(ctx: &Context, run_id: &str, report: &Report, elapsed: Duration) {
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

fn list_skipped(ctx: &Context, store: &Store, run_id: &str) -> anyhow::Result<()> {
    let mut after = 0;
    loop {
        let page = bulk_sql::items(store.conn(), run_id, &["skipped"], after, 256)?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        after = last.position;
        for item in &page {
            ctx.ui.status(&format!(
                "  skip {}: {}",
                sanitize(&item.entry),
                item.reason.as_deref().unwrap_or_default()
            ));
        }
    }
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
struct ItemRow {
    position: i64,
    entry: String,
    user: Option<String>,
    status: String,
    reason: Option<String>,
    recipient: Option<String>,
    expires_at: Option<String>,
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

fn write_items(
    ctx: &Context,
    conn: &rusqlite::Connection,
    run_id: &str,
    statuses: &[&str],
) -> anyhow::Result<()> {
    let mut writer = ListWriter::new::<ItemRow>(
        ctx.settings.format,
        std::io::stdout().lock(),
        ctx.ui.stdout_is_terminal(),
    );
    let mut after = 0;
    loop {
        let page = bulk_sql::items(conn, run_id, statuses, after, 256)?;
        let Some(last) = page.last() else { break };
        after = last.position;
        for item in page {
            let user = match item.user_id {
                Some(id) => crate::store::users::by_id(conn, id)?.map(|u| u.username),
                None => None,
            };
            writer.row(&ItemRow {
                position: item.position,
                entry: item.entry,
                user,
                status: item.status,
                reason: item.reason,
                recipient: item.recipient.as_deref().map(mail::mask),
                expires_at: item.expires_at.map(timefmt::rfc3339),
            })?;
        }
    }
    writer.finish()?;
    Ok(())
}

fn print_plan(
    ctx: &Context,
    conn: &rusqlite::Connection,
    run_id: &str,
    action: Action,
    summary: bulk::PlanSummary,
) -> anyhow::Result<()> {
    write_items(ctx, conn, run_id, &["pending", "skipped"])?;
    ctx.ui.status(&format!(
        "Dry run: would {} {} users; {} skipped. Nothing was changed.",
        verb(action).to_lowercase(),
        thousands(summary.to_do),
        thousands(summary.skipped)
    ));
    Ok(())
}

fn print_report(ctx: &Context, store: &Store, run_id: &str, _action: Action) -> anyhow::Result<()> {
    write_items(
        ctx,
        store.conn(),
        run_id,
        &["sent", "skipped", "failed", "pending", "sending"],
    )
}
