//! `pwreset users show`

use super::{Context, UserDetail};
use crate::cli::CommandResult;
use crate::exit::Exit;
use crate::output;
use crate::store::tokens;

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
    let detail = UserDetail::new(&user, live);
    output::record(
        ctx.settings.format,
        &mut std::io::stdout().lock(),
        &detail,
        ctx.ui.stdout_is_terminal(),
    )?;
    Ok(Exit::Ok)
}
