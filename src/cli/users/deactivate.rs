//! `pwreset users deactivate`

use super::{Context, describe};
use crate::cli::CommandResult;
use crate::cli::exit::Exit;
use crate::store::tokens;

/// Deactivate a user and revoke their outstanding reset links
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  pwreset users deactivate alice
  pwreset users deactivate bob@example.com --yes --reason 'left the company'")]
pub struct Args {
    /// The user: an email, a username or #ID
    user: String,
}

/// Run `pwreset users deactivate`.
pub fn run(ctx: &Context, args: Args) -> CommandResult<Exit> {
    let (_, mut store) = ctx.open_store()?;
    let user = crate::users::resolve(store.conn(), &args.user)?;
    if !user.active {
        ctx.ui.status(&format!(
            "{} is already inactive; nothing to do",
            describe(&user)
        ));
        return Ok(Exit::Ok);
    }
    let live = tokens::count_live(store.conn(), user.id, ctx.settings.now.as_second())?;
    let links = if live > 0 {
        format!(" Their {live} live reset links will be revoked.")
    } else {
        String::new()
    };
    ctx.ui.confirm(
        &format!("Deactivate {}?{links}", describe(&user)),
        ctx.settings.yes,
    )?;
    let result =
        crate::users::set_active(&mut store, &user, false, &ctx.actor()?, ctx.settings.now)?;
    ctx.ui.status(&format!(
        "Deactivated {}{}",
        describe(&user),
        if result.links_revoked > 0 {
            format!("; revoked {} reset links", result.links_revoked)
        } else {
            String::new()
        }
    ));
    Ok(Exit::Ok)
}
