//! `pwreset audit head`

use std::io::Write;

use anyhow::Context as _;
use serde::Serialize;

use super::Context;
use crate::cli::CommandResult;
use crate::cli::exit::{Exit, Failure};
use crate::cli::output;
use crate::settings::Format;

/// Print the last row's id and MAC, to record outside the store
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Prints ID:MAC on stdout. Record it somewhere the store's writers cannot reach
(a ticket, syslog via cron, a printout); `pwreset audit verify --head ID:MAC` later fails if
that row was removed or replaced. Exits 1 when the log is empty.

Examples:
  pwreset audit head
  pwreset audit head | logger -t pwreset-audit
  pwreset audit head --format json"
)]
pub struct Args {}

#[derive(Serialize)]
struct HeadJson {
    id: i64,
    mac: String,
}

/// Run `pwreset audit head`.
pub fn run(ctx: &Context, _args: Args) -> CommandResult<Exit> {
    let (_, store) = ctx.open_store()?;
    let Some(head) = crate::audit::head(store.conn())? else {
        return Err(Failure::new(Exit::Failure, "the audit log is empty").into());
    };
    let mut stdout = std::io::stdout().lock();
    if ctx.settings.format == Format::Json {
        let json = HeadJson {
            id: head.id,
            mac: head.mac.clone(),
        };
        output::json(&mut stdout, &json)?;
    } else {
        writeln!(stdout, "{head}").context("cannot write to stdout")?;
    }
    Ok(Exit::Ok)
}
