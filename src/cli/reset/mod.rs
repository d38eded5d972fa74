//! `pwreset reset ...`: the ways to reset a password.

mod bulk;
mod generate;

pub use generate::generate_settings;

use super::{Context, send_link};
use crate::audit::{self, Event, Outcome};
use crate::exit::Exit;
use crate::store::Store;
use crate::store::users::User;
use crate::users::UserError;

/// Reset passwords: send a reset link, or set a temporary password
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Email a user a single-use, time-limited link to set a new password
    SendLink(send_link::Args),
    /// Set a new random temporary password and email it, or show it once
    Generate(generate::Args),
    /// Send reset links to, or set temporary passwords for, many users at once
    Bulk(bulk::Args),
}

/// Resolve USER; an unknown one is refused and audited under `action`.
pub fn resolve_audited(
    ctx: &Context,
    store: &mut Store,
    key: &str,
    action: &str,
) -> anyhow::Result<User> {
    match crate::users::resolve(store.conn(), key) {
        Err(err @ UserError::Unknown(_)) => {
            let event = Event::new(action, Outcome::Refused)
                .target_text(&crate::ui::sanitize(key))
                .detail(Some("no such user".into()));
            audit::record(store, &ctx.actor(), ctx.settings.now, &event)?;
            Err(err.into())
        }
        other => Ok(other?),
    }
}

/// Run a `reset` subcommand.
pub fn run(ctx: &Context, command: Command) -> anyhow::Result<Exit> {
    match command {
        Command::SendLink(args) => send_link::run(ctx, args),
        Command::Generate(args) => generate::run(ctx, args),
        Command::Bulk(args) => bulk::run(ctx, args),
    }
}
