//! `pwreset users show`: the user, their live links, and the last mail an interrupted pwreset
//! may have sent them.

use super::{Context, UserDetail};
use crate::cli::CommandResult;
use crate::exit::Exit;
use crate::output;
use crate::store::{intents, tokens};
use crate::timefmt;

/// `reset link to a***@example.com, 2026-11-22T10:00:00Z (never committed)`.
fn describe_interrupted((at, action, recipient): (i64, String, String)) -> String {
    let what = if action == crate::links::ACTION {
        "reset link (revoked)"
    } else {
        "temporary password (never set)"
    };
    format!(
        "{what} to {}, {}",
        crate::mail::mask(&recipient),
        timefmt::rfc3339(at)
    )
}

/// Show one user
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  pwreset users show alice
  pwreset users show alice@example.com --format json
  pwreset users show '#42'")]
pub struct Args {
    /// The user: an email, a username or #ID
    user: String,
}

/// Run `pwreset users show`.
pub fn run(ctx: &Context, args: Args) -> CommandResult<Exit> {
    let (_, store) = ctx.open_store()?;
    let user = crate::users::resolve(store.conn(), &args.user)?;
    let live = tokens::count_live(store.conn(), user.id, ctx.settings.now.as_second())?;
    let interrupted = intents::last_interrupted(store.conn(), user.id)?.map(describe_interrupted);
    let detail = UserDetail::new(&user, live, interrupted);
    output::record(
        ctx.settings.format,
        &mut std::io::stdout().lock(),
        &detail,
        ctx.ui.stdout_is_terminal(),
    )?;
    Ok(Exit::Ok)
}
