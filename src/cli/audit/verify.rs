//! `pwreset audit verify`

use serde::Serialize;

use super::Context;
use crate::audit::Head;
use crate::cli::CommandResult;
use crate::cli::exit::{Exit, Failure};
use crate::cli::output;
use crate::settings::Format;

/// Check the MAC chain and name the first bad row
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exits 0 when every row verifies, 1 naming the first bad row otherwise. Needs the
audit key (audit.key_file). With --head, also exits 1 unless the log still holds that row with
that MAC, which catches newest rows removed since `pwreset audit head` printed it.

Examples:
  pwreset audit verify
  pwreset audit verify --head 42:3f0c...
  pwreset audit verify --format json"
)]
pub struct Args {
    /// Require this row, as printed earlier by `pwreset audit head` (ID:MAC)
    #[arg(long, value_name = "ID:MAC")]
    head: Option<String>,
}

#[derive(Serialize)]
struct VerifyJson {
    ok: bool,
    rows: u64,
    unkeyed_rows: u64,
}

/// Run `pwreset audit verify`.
pub fn run(ctx: &Context, args: Args) -> CommandResult<Exit> {
    let head = args
        .head
        .as_deref()
        .map(|text| {
            text.parse::<Head>()
                .map_err(|e| Failure::usage(format!("--head: {e}")))
        })
        .transpose()?;
    let (config, store) = ctx.open_store()?;
    let key = ctx.audit_key(&config)?;
    let found = crate::audit::verify(store.conn(), &key, head.as_ref())?;
    if ctx.settings.format == Format::Json {
        output::json(
            &mut std::io::stdout().lock(),
            &VerifyJson {
                ok: true,
                rows: found.rows,
                unkeyed_rows: found.unkeyed,
            },
        )?;
    }
    let anchored = if found.unkeyed > 0 {
        format!(
            "; rows 1..{} were written without a key (before schema 4) and are anchored by row {}",
            found.unkeyed,
            found.unkeyed + 1
        )
    } else {
        String::new()
    };
    let recorded = head.map_or(String::new(), |head| {
        format!("; the recorded head row {} is present", head.id)
    });
    let status = format!(
        "Audit log intact: {} rows verified{anchored}{recorded}",
        found.rows
    );
    ctx.ui.status(&status);
    Ok(Exit::Ok)
}
