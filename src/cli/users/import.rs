//! `pwreset users import`

use std::fs::File;
use std::io::Read;

use serde::Serialize;

use super::Context;
use crate::cli::CommandResult;
use crate::cli::exit::{Exit, Failure};
use crate::cli::output;
use crate::settings::Format;
use crate::users::import::{self, ImportError, Report};

/// Import users from a CSV file
#[derive(Debug, clap::Args)]
#[command(
    after_help = "The first line names the columns: email (required), username, name, active, locale
(a language tag such as pl, id or pt-BR; empty for mail.default_locale).
Rows whose email already exists are left unchanged, so importing twice is harmless.
A leading byte-order mark is ignored; lines may end in LF or CRLF. At most 16 MiB,
1,000,000 lines and 64 KiB a line.

Examples:
  pwreset users import staff.csv
  printf 'email,name\\nzoe@example.com,Zoe\\n' | pwreset users import -"
)]
pub struct Args {
    /// CSV file to read, or - for stdin
    #[arg(value_name = "FILE|-")]
    file: String,
}

#[derive(Serialize)]
struct ImportJson<'a> {
    imported: u64,
    already_present: u64,
    rejected: Vec<RejectedJson<'a>>,
}

#[derive(Serialize)]
struct RejectedJson<'a> {
    line: u64,
    reason: &'a str,
}

/// Run `pwreset users import`.
pub fn run(ctx: &Context, args: Args) -> CommandResult<Exit> {
    let input = open(&args.file)?;
    let (_, mut store) = ctx.open_store()?;
    let report = match import::import(&mut store, input, &ctx.actor()?, ctx.settings.now) {
        Err(err @ ImportError::Input(_)) => {
            let err = anyhow::Error::new(err).context(format!("cannot read {}", args.file));
            return Err(err.into());
        }
        report => report?,
    };
    for bad in &report.rejected {
        ctx.ui
            .warn(&format!("{}:{}: {}", args.file, bad.line, bad.reason));
    }
    if ctx.settings.format == Format::Json {
        output::json(&mut std::io::stdout().lock(), &json(&report))?;
    }
    ctx.ui.status(&format!(
        "Imported {} users; {} already present; {} rows rejected",
        report.imported,
        report.present,
        report.rejected.len()
    ));
    Ok(if report.rejected.is_empty() {
        Exit::Ok
    } else {
        Exit::Partial
    })
}

fn open(file: &str) -> CommandResult<Box<dyn Read>> {
    if file == "-" {
        return Ok(Box::new(std::io::stdin().lock()));
    }
    let handle = File::open(file).map_err(|e| {
        Failure::new(Exit::Config, format!("cannot read {file}: {e}"))
            .hint("check the path and its permissions")
    })?;
    Ok(Box::new(std::io::BufReader::new(handle)))
}

fn json(report: &Report) -> ImportJson<'_> {
    ImportJson {
        imported: report.imported,
        already_present: report.present,
        rejected: report
            .rejected
            .iter()
            .map(|r| RejectedJson {
                line: r.line,
                reason: &r.reason,
            })
            .collect(),
    }
}
