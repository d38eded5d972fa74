//! `pwreset reset bulk --reissue RUN_ID --state LIST`: choose the users of an earlier run who
//! stand in those states (`crate::bulk::reissue`), then plan them like any other run (the
//! caller's plan, prompt, dry run, rate and resume rules), recorded as a reissue of that run.
//! The action is the original run's unless `--link` or `--generate` says otherwise; so is the
//! recipient override, unless `--to` says otherwise.

use super::{Args, Context};
use crate::bulk::reissue::{self, Selector};
use crate::bulk::{Action, Selection};
use crate::cli::CommandResult;
use crate::cli::exit::Failure;
use crate::cli::ui::thousands;
use crate::store::Store;

/// The parsed `--state` list, and its text for messages.
#[derive(Debug, Clone)]
pub(super) struct States(Vec<Selector>, String);

/// Parse `--state expired,failed,never-opened`.
pub(super) fn parse_states(text: &str) -> Result<States, String> {
    reissue::parse(text).map(|states| States(states, text.to_string()))
}

/// A reissue's users, ready to plan.
pub(super) struct Reissued {
    /// The run reissued.
    pub(super) run_id: String,
    /// What the new run does.
    pub(super) action: Action,
    /// The original run's recipient override, kept unless `--to` is given.
    pub(super) deliver_to: Option<String>,
    /// The users.
    pub(super) selection: Selection<Box<dyn std::io::BufRead>>,
    /// How many.
    pub(super) count: u64,
}

/// The users `--reissue` selects, or `None` without `--reissue`.
pub(super) fn select(ctx: &Context, store: &Store, args: &Args) -> CommandResult<Option<Reissued>> {
    let Some(run_id) = &args.reissue else {
        return Ok(None);
    };
    let Some(States(states, text)) = &args.state else {
        return Err(
            Failure::usage("say whose mail to send again: --state STATES")
                .hint(
                    "e.g. --state expired,failed,never-opened; see --report RUN_ID for the states",
                )
                .into(),
        );
    };
    let now = ctx.settings.now.as_second();
    let chosen = reissue::select(store, run_id, states, now)?;
    let action = match (args.link, args.generate) {
        (true, _) => Action::Link,
        (_, true) => Action::Generate,
        _ => chosen.original.action,
    };
    ctx.ui.status(&format!(
        "Reissue of run {run_id} ({text}): {} users",
        thousands(chosen.count)
    ));
    Ok(Some(Reissued {
        run_id: run_id.clone(),
        action,
        deliver_to: chosen.original.run.deliver_to,
        selection: Selection::Entries(chosen.entries),
        count: chosen.count,
    }))
}
