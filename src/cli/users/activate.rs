//! `pwreset users activate`

use super::{Context, describe};
use crate::cli::CommandResult;
use crate::cli::exit::Exit;

/// Activate a user
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  pwreset users activate alice
  pwreset users activate carol@example.com --reason 'back from leave'")]
pub struct Args {
    /// The user: an email, a username or #ID
    user: String,
}

/// Run `pwreset users activate`.
pub fn run(ctx: &Context, args: Args) -> CommandResult<Exit> {
    let (_, mut store) = ctx.open_store()?;
    let user = crate::users::resolve(store.conn(), &args.user)?;
    let result =
        crate::users::set_active(&mut store, &user, true, &ctx.actor()?, ctx.settings.now)?;
    if result.changed {
        ctx.ui.status(&format!("Activated {}", describe(&user)));
    } else {
        ctx.ui.status(&format!(
            "{} is already active; nothing to do",
            describe(&user)
        ));
    }
    Ok(Exit::Ok)
}
