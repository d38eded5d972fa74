//! `pwreset audit rekey`

use super::Context;
use crate::audit::Actor;
use crate::audit::{self, Event, Outcome};
use crate::cli::CommandResult;
use crate::cli::context::{audit_key_path, os_rng};
use crate::cli::exit::{Exit, Failure};
use crate::keys::{AuditKey, KeyError};
use crate::store::Store;
use jiff::Timestamp;

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

/// Anchor an old log's unkeyed rows, but only under a key created just now: a log that ends
/// with unkeyed rows although a key already existed was rewritten without the key (or is an
/// old backup), and vouching for it would launder the rewrite.
fn anchor(store: &mut Store, created: bool, actor: &Actor, now: Timestamp) -> CommandResult<()> {
    let tx = store.write()?;
    let Some(id) = audit::anchor(&tx, actor, now)? else {
        return Ok(());
    };
    if !created {
        return Err(Failure::new(
            Exit::Failure,
            format!("the audit log ends with rows written without a key although the audit key exists; not anchoring them (row {id} would)"),
        )
        .hint("the log may have been rewritten by someone without the key: keep a copy of the store for investigation; for a store restored from before schema 4, move the key aside and run `pwreset audit rekey` again")
        .into());
    }
    tx.commit()?;
    Ok(())
}

/// Run `pwreset audit rekey`.
pub fn run(ctx: &Context, _args: Args) -> CommandResult<Exit> {
    let config = ctx.config()?;
    let path = audit_key_path(&config);
    let created = matches!(AuditKey::load(&path), Err(KeyError::Missing { .. }));
    if created {
        AuditKey::generate(&mut os_rng()).create(&path)?;
        ctx.ui.status(&format!(
            "Created the audit key {} (mode 0600); keep a copy away from the store's backups",
            path.display()
        ));
    }
    let (actor, now) = (ctx.actor()?, ctx.settings.now);
    let (_, mut store) = ctx.open_store_then(|store| anchor(store, created, &actor, now))?;
    let event = Event::new("audit.rekey", Outcome::Ok);
    let id = audit::record(&mut store, &ctx.actor()?, ctx.settings.now, &event)?;
    ctx.ui
        .status(&format!("The audit log is keyed; row {id} records this"));
    Ok(Exit::Ok)
}
