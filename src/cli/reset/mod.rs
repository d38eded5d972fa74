//! `pwreset reset ...`: the ways to reset a password. `send-link` is also the top-level
//! `pwreset send-link`.

mod bulk;
mod generate;
pub mod send_link;

use super::Context;
use crate::cli::CommandResult;
use crate::cli::exit::Exit;

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

/// Run a `reset` subcommand.
pub fn run(ctx: &Context, command: Command) -> CommandResult<Exit> {
    match command {
        Command::SendLink(args) => send_link::run(ctx, args),
        Command::Generate(args) => generate::run(ctx, args),
        Command::Bulk(args) => bulk::run(ctx, args),
    }
}
