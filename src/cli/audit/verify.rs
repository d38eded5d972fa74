//! `pwreset audit verify`

use serde::Serialize;

use super::Context;
use crate::cli::CommandResult;
use crate::exit::Exit;
use crate::output;
use crate::settings::Format;

/// Check the hash chain and name the first bad row
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exits 0 when every row verifies, 1 naming the first bad row otherwise.

Examples:
  pwreset audit verify
  pwreset audit verify --format json"
)]
pub struct Args {}

#[derive(Serialize)]
struct VerifyJson {
    ok: bool,
    rows: u64,
}

/// Run `pwreset audit verify`.
pub fn run(ctx: &Context, _args: Args) -> CommandResult<Exit> {
    let (_, store) = ctx.open_store()?;
    let rows = crate::audit::verify(store.conn())?;
    if ctx.settings.format == Format::Json {
        output::json(
            &mut std::io::stdout().lock(),
            &VerifyJson { ok: true, rows },
        )?;
    }
    ctx.ui
        .status(&format!("Audit log intact: {rows} rows verified"));
    Ok(Exit::Ok)
}
