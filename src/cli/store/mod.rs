//! `pwreset store ...`: work on the store as a whole (today: migrate it to another backend).

mod migrate;

use super::Context;
use crate::cli::CommandResult;
use crate::cli::exit::Exit;

/// Work on the store as a whole
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Copy the store into an empty one (SQLite to PostgreSQL or back)
    Migrate(migrate::Args),
}

/// Run a `store` subcommand.
pub fn run(ctx: &Context, command: Command) -> CommandResult<Exit> {
    match command {
        Command::Migrate(args) => migrate::run(ctx, args),
    }
}
