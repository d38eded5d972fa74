//! `pwreset tokens revoke`

use super::Context;
use crate::cli::CommandResult;
use crate::cli::exit::Exit;
use crate::tokens;

/// Revoke a user's outstanding links, or everyone's
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  pwreset tokens revoke alice
  pwreset tokens revoke --all --reason 'mail server compromised'")]
pub struct Args {
    /// The user: an email, a username or #ID
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    user: Option<String>,
    /// Revoke every outstanding link of every user (asks for confirmation)
    #[arg(long)]
    all: bool,
}

/// Run `pwreset tokens revoke`.
pub fn run(ctx: &Context, args: Args) -> CommandResult<Exit> {
    let (_, mut store) = ctx.open_store()?;
    let (actor, now) = (ctx.actor()?, ctx.settings.now);
    let (count, whom) = if let Some(key) = &args.user {
        let user = crate::users::resolve(store.conn(), key)?;
        (
            tokens::revoke_user(&mut store, &user, &actor, now)?,
            crate::cli::ui::sanitize(&user.username).into_owned(),
        )
    } else {
        ctx.ui.confirm(
            "Revoke every outstanding reset link of every user?",
            ctx.settings.yes,
        )?;
        (
            tokens::revoke_all(&mut store, &actor, now)?,
            "all users".to_string(),
        )
    };
    ctx.ui
        .status(&format!("Revoked {count} reset links of {whom}"));
    Ok(Exit::Ok)
}
