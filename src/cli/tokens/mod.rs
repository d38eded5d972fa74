//! `pwreset tokens ...`: list, verify, redeem, revoke and purge reset tokens.

mod list;
mod purge;
mod redeem;
mod revoke;
mod verify;

pub(super) use redeem::{mail_notice, notify};

use super::Context;
use crate::cli::CommandResult;
use crate::cli::exit::Exit;

/// List, verify, redeem, revoke and purge reset tokens
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List reset links (never their tokens or digests)
    List(list::Args),
    /// Check a token read from stdin: exit 0 if live, 7 if not
    Verify(verify::Args),
    /// Use a token to set a new password (both read from stdin or prompted)
    Redeem(redeem::Args),
    /// Revoke a user's outstanding links, or everyone's
    Revoke(revoke::Args),
    /// Delete expired, used and revoked tokens (for cron; silent on success)
    Purge(purge::Args),
}

/// Run a `tokens` subcommand.
pub fn run(ctx: &Context, command: Command) -> CommandResult<Exit> {
    match command {
        Command::List(args) => list::run(ctx, args),
        Command::Verify(args) => verify::run(ctx, args),
        Command::Redeem(args) => redeem::run(ctx, args),
        Command::Revoke(args) => revoke::run(ctx, args),
        Command::Purge(args) => purge::run(ctx, args),
    }
}
