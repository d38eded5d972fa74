//! `pwreset reset bulk`: send links to, or set temporary passwords for, many users at once.
//!
//! The command parses its flags, reads the selection, asks the operator, calls `crate::bulk`
//! (which plans, audits, commits, closes and runs) and renders through [`render`]. It holds no
//! SQL and no SMTP; the order of things is the domain's: a plan is committed before the prompt,
//! and a run the operator says no to is closed as `aborted`.

mod reissue;
mod render;
mod report;

use std::io::BufRead;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::Context;
use crate::bulk::{self, Action, Close, Pacing, Request, Resume, RunAction, RunParams, Selection};
use crate::cli::CommandResult;
use crate::cli::exit::{Exit, Failure};
use crate::cli::ui::thousands;
use crate::config::LoadedConfig;
use crate::input::{self, LimitError};
use crate::mail::{Address, RecipientRule};
use crate::settings::{self, Format, Overrides};
use crate::store::Store;

const EXAMPLES: &str = "Examples:
  pwreset reset bulk --link --file users.txt --dry-run     Show the plan, change nothing
  pwreset reset bulk --link --all                           Every active user, after a prompt
  pwreset reset bulk --generate --file staff.csv --yes --rate 120
  grep -v '^#' list | pwreset reset bulk --link --file -
  pwreset reset bulk --link --search @old-domain.example --to helpdesk@example.com
  pwreset reset bulk --resume 20261122-100000-3f2a          Finish an interrupted run
  pwreset reset bulk --report 20261122-100000-3f2a          Where each user stands now
  pwreset reset bulk --reissue 20261122-100000-3f2a --state expired,failed,never-opened";

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
    /// Users from PATH: one USER or #ID per line ('# ' comments), or CSV with an email or username column; - for stdin
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
    to: Option<Address>,
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
    /// Show where each user of run `RUN_ID` stands now (sent, opened, used, expired, failed...) and the totals; changes nothing
    #[arg(long, value_name = "RUN_ID", conflicts_with_all = ["link", "generate", "file", "all", "search", "to", "dry_run", "resume", "rate", "note"])]
    report: Option<String>,
    /// Plan a new run for the users of run `RUN_ID` who stand in --state (same action and recipient unless --link, --generate or --to say otherwise)
    #[arg(long, value_name = "RUN_ID", requires = "state", conflicts_with_all = ["file", "all", "search", "resume", "report"])]
    reissue: Option<String>,
    /// With --reissue: the states to select, comma-separated: sent, opened, never-opened, expired, revoked, superseded, failed, interrupted, skipped
    #[arg(long, value_name = "STATES", requires = "reissue", value_parser = reissue::parse_states)]
    state: Option<reissue::States>,
}

fn parse_rate(text: &str) -> Result<u32, String> {
    let number = text.trim().trim_end_matches("/min").trim_end_matches("/m");
    match number.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{text:?} is not a rate like 120 or 120/min")),
    }
}

/// Run `pwreset reset bulk`.
pub fn run(ctx: &Context, args: Args) -> CommandResult<Exit> {
    let (config, mut store) = ctx.open_store()?;
    store.limit_cache(512)?;
    if let Some(id) = &args.report {
        return report::run(ctx, &store, id);
    }
    let job = match &args.resume {
        Some(id) => resumed(ctx, &store, id)?,
        None => planned(ctx, &config, &mut store, &args)?,
    };
    let Some(job) = job else {
        return Ok(Exit::Ok);
    };
    execute(ctx, &config, &mut store, &args, job)
}

/// A run to send, planned now or resumed.
struct Job {
    run_id: String,
    action: Action,
    /// Who receives the mails: stored with the run, so a resumed run keeps it.
    recipients: RecipientRule,
    /// Resolved when planning; a resumed run resolves them just before it starts.
    resolved: Option<Resolved>,
}

/// What the run takes from the config and the flags.
struct Resolved {
    /// Who receives the mails of a new plan (`--to`, `deliver_to = "admin"`, or each user).
    recipients: RecipientRule,
    /// The action with its settings.
    action: RunAction,
    pacing: Pacing,
}

/// Resolve the run's settings through [`crate::settings`], all in one place.
fn resolve(config: &LoadedConfig, args: &Args, action: Action) -> CommandResult<Resolved> {
    let overrides = Overrides {
        rate: args.rate,
        to: args.to.clone(),
        note: args.note.clone(),
        ttl_secs: None,
    };
    let recipients = if args.resume.is_some() {
        RecipientRule::User // a resumed run keeps the rule stored with it
    } else {
        settings::recipient_rule(config, &overrides)
    };
    let action = match action {
        Action::Link => RunAction::Link(settings::link_settings(config, &overrides)?),
        Action::Generate => RunAction::Generate(settings::generate_settings(config, &overrides)),
    };
    Ok(Resolved {
        recipients,
        action,
        pacing: settings::pacing(config, &overrides),
    })
}

fn action_of(args: &Args) -> CommandResult<Action> {
    match (args.link, args.generate) {
        (true, false) => Ok(Action::Link),
        (false, true) => Ok(Action::Generate),
        _ => {
            Err(Failure::usage("say what to do: --link or --generate (or --resume RUN_ID)").into())
        }
    }
}

fn selection(args: &Args) -> CommandResult<Selection<Box<dyn BufRead>>> {
    if let Some(path) = &args.file {
        // Read it all before planning takes the store's write lock, so a slow pipe never
        // blocks other pwreset commands (or the application) while the plan is written. The
        // limits keep memory bounded (`--file /dev/zero` ends at once).
        let read = if path == "-" {
            input::read_all(std::io::stdin().lock(), input::TEXT_FILE)
        } else {
            std::fs::File::open(path).and_then(|file| input::read_all(file, input::TEXT_FILE))
        };
        let text = match read.map_err(LimitError::split) {
            Ok(text) => text,
            Err(Ok(limit)) => {
                return Err(anyhow::Error::new(limit)
                    .context(format!("cannot read {path}"))
                    .into());
            }
            Err(Err(e)) => {
                return Err(Failure::new(Exit::Config, format!("cannot read {path}: {e}")).into());
            }
        };
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
) -> CommandResult<Option<Job>> {
    let reissued = reissue::select(ctx, store, args)?;
    if reissued.as_ref().is_some_and(|r| r.count == 0) {
        ctx.ui
            .status("Nothing to reissue: no user of that run stands in those states");
        return Ok(None);
    }
    let (action, selection, reissue_of) = match reissued {
        Some(r) => (r.action, r.selection, Some((r.run_id, r.deliver_to))),
        None => (action_of(args)?, selection(args)?, None),
    };
    let mut resolved = resolve(config, args, action)?;
    if let (Some((_, Some(to))), None) = (&reissue_of, &args.to) {
        resolved.recipients = RecipientRule::from_stored(Some(to));
    }
    let (now, actor) = (ctx.settings.now, ctx.actor()?);
    let run_id = bulk::new_run_id(now, &mut crate::cli::os_rng());
    let request = Request {
        run_id: &run_id,
        action,
        deliver_to: resolved.recipients.stored(),
        cooldown_secs: match &resolved.action {
            RunAction::Link(link) => link.cooldown_secs,
            RunAction::Generate(_) => 0,
        },
        reissue_of: reissue_of.as_ref().map(|(id, _)| id.as_str()),
    };
    if args.dry_run {
        let mut rows = render::item_writer(ctx);
        let summary = bulk::dry_run(store, selection, &request, now, |item, user| {
            rows.row(&render::ItemRow::new(item, user))
        })?;
        rows.finish()?;
        render::dry_run_done(ctx, action, summary);
        return Ok(None);
    }
    let summary = bulk::plan(store, selection, &request, &actor, now)?;
    render::planned(ctx, store, &run_id, action, summary)?;
    if summary.to_do == 0 {
        ctx.ui.status(&format!(
            "Nothing to do: all {} entries were skipped",
            thousands(summary.skipped)
        ));
        bulk::close(store, &run_id, Close::Done, now)?;
        return Ok(None);
    }
    let question = format!(
        "{} {} users? {} skipped",
        render::verb(action),
        thousands(summary.to_do),
        thousands(summary.skipped)
    );
    if let Err(err) = ctx.ui.confirm(&question, ctx.settings.yes) {
        bulk::close(store, &run_id, Close::Aborted, now)?;
        return Err(err.into());
    }
    Ok(Some(Job {
        run_id,
        action,
        recipients: resolved.recipients.clone(),
        resolved: Some(resolved),
    }))
}

/// Check that a run can be resumed and ask; returns `None` when it has nothing left to do.
fn resumed(ctx: &Context, store: &Store, id: &str) -> CommandResult<Option<Job>> {
    let run = match bulk::resume(store.conn(), id)? {
        Resume::Ready(run) => run,
        Resume::NothingLeft { sent } => {
            ctx.ui.status(&format!(
                "Run {id} has nothing left to do ({} sent)",
                thousands(sent)
            ));
            return Ok(None);
        }
    };
    let question = format!(
        "Resume run {id}: {} {} users ({} already done)?",
        render::verb(run.action).to_lowercase(),
        thousands(run.counts.pending + run.counts.failed),
        thousands(run.counts.sent)
    );
    ctx.ui.confirm(&question, ctx.settings.yes)?;
    Ok(Some(Job {
        run_id: run.run_id,
        action: run.action,
        recipients: RecipientRule::from_stored(run.deliver_to.as_deref()),
        resolved: None,
    }))
}

/// Send a planned (or resumed) run, show each user as they finish, then the report.
fn execute(
    ctx: &Context,
    config: &LoadedConfig,
    store: &mut Store,
    args: &Args,
    job: Job,
) -> CommandResult<Exit> {
    let (run_id, action) = (job.run_id.as_str(), job.action);
    let to_do = bulk::to_do(store.conn(), run_id)?;
    let resolved = match job.resolved {
        Some(resolved) => resolved,
        None => resolve(config, args, action)?,
    };
    let mut mailer = ctx.mailer(config)?;
    let templates = ctx.templates(config);
    let stop = stop_flag();
    let settings = &ctx.settings;
    let clock = || settings.clock();
    let actor = ctx.actor()?;
    let mut params = RunParams {
        run_id,
        action: &resolved.action,
        recipients: &job.recipients,
        mailer: mailer.as_mut(),
        templates: &templates,
        pacing: resolved.pacing,
        stop: &stop,
        clock: &clock,
        actor: &actor,
        rng: crate::cli::os_rng,
        report_planned_skips: args.resume.is_none(),
    };
    ctx.ui
        .status(&format!("Run {run_id}: {} users to do", thousands(to_do)));
    let started = Instant::now();
    let mut progress = render::Progress::start(ctx, action, to_do);
    let report = bulk::run(store, &mut params, |item, user, outcome| {
        progress.item(item, user, outcome);
    })?;
    progress.finish();
    if ctx.settings.format != Format::Json {
        // A closed stdout (`| head`) must not hide failures: the summary and exit code follow.
        if let Err(err) = render::report(ctx, store, run_id) {
            if !crate::cli::error::is_broken_pipe(err.error()) {
                return Err(err);
            }
        }
    }
    render::summarize(ctx, run_id, &report, started.elapsed());
    Ok(if report.failed > 0 || report.interrupted {
        Exit::Partial
    } else {
        Exit::Ok
    })
}

/// A flag raised by Ctrl-C, SIGTERM or SIGHUP (ctrlc's `termination` feature): the run stops
/// after the user in progress.
fn stop_flag() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let handler_flag = Arc::clone(&stop);
    let _ = ctrlc::set_handler(move || handler_flag.store(true, Ordering::SeqCst));
    stop
}
