//! `pwreset tokens purge`

use std::io::Write;

use serde::Serialize;

use super::Context;
use crate::cli::CommandResult;
use crate::cli::exit::Exit;
use crate::cli::output;
use crate::settings::Format;
use crate::tokens;

/// Delete expired, used and revoked tokens (for cron; silent on success)
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Never deletes a live link. Safe to run while other pwreset commands run.

Examples:
  pwreset tokens purge                 From cron: prints nothing unless something is wrong
  pwreset tokens purge --dry-run       Count what would go
  pwreset -v tokens purge              Say how many were deleted"
)]
pub struct Args {
    /// Count what would be deleted, delete nothing
    #[arg(long)]
    dry_run: bool,
}

#[derive(Serialize)]
struct PurgeJson {
    deleted: u64,
    dry_run: bool,
}

/// Run `pwreset tokens purge`.
pub fn run(ctx: &Context, args: Args) -> CommandResult<Exit> {
    let (_, mut store) = ctx.open_store()?;
    let count = tokens::purge(&mut store, &ctx.actor()?, ctx.settings.now, args.dry_run)?;
    if ctx.settings.format == Format::Json {
        output::json(
            &mut std::io::stdout().lock(),
            &PurgeJson {
                deleted: count,
                dry_run: args.dry_run,
            },
        )?;
    } else if args.dry_run {
        writeln!(std::io::stdout().lock(), "{count}")?;
        ctx.ui.status(&format!("{count} tokens would be deleted"));
    } else {
        ctx.ui
            .detail(&format!("deleted {count} expired, used or revoked tokens"));
    }
    Ok(Exit::Ok)
}
