//! `pwreset reset ...`: the ways to reset a password.

use super::{Context, send_link};
use crate::exit::Exit;

/// Reset passwords: send a reset link
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Email a user a single-use, time-limited link to set a new password
    SendLink(send_link::Args),
}

/// Run a `reset` subcommand.
pub fn run(ctx: &Context, command: Command) -> anyhow::Result<Exit> {
    match command {
        Command::SendLink(args) => send_link::run(ctx, args),
    }
}
