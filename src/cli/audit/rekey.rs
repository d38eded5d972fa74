//! `pwreset audit rekey`

use super::Context;
use crate::audit::{self, Event, Key, KeyError, Outcome};
use crate::cli::CommandResult;
use crate::cli::context::{audit_key_path, os_rng};
use crate::exit::Exit;

/// Create the audit key if there is none, and anchor the log under it
#[derive(Debug, clap::Args)]
#[command(
    after_help = "For a store from before schema 4, which has no audit key: creates audit.key_file
(mode 0600, never printed) and appends an audit.anchor row saying that the rows before it were
hashed without a key. An existing key is kept as it is. Copy the key somewhere safe, away from
the store's backups.

Examples:
  pwreset audit rekey"
)]
pub struct Args {}

/// Run `pwreset audit rekey`.
pub fn run(ctx: &Context, _args: Args) -> CommandResult<Exit> {
    let config = ctx.config()?;
    let path = audit_key_path(&config);
    if let Err(KeyError::Missing { .. }) = Key::load(&path) {
        Key::generate(&mut os_rng()).create(&path)?;
        ctx.ui.status(&format!(
            "Created the audit key {} (mode 0600); keep a copy away from the store's backups",
            path.display()
        ));
    }
    let (_, mut store) = ctx.open_store()?;
    let event = Event::new("audit.rekey", Outcome::Ok);
    let id = audit::record(&mut store, &ctx.actor(), ctx.settings.now, &event)?;
    ctx.ui
        .status(&format!("The audit log is keyed; row {id} records this"));
    Ok(Exit::Ok)
}
