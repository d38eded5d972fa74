//! `pwreset users list`

use super::{Context, UserRow};
use crate::cli::CommandResult;
use crate::cli::exit::Exit;
use crate::cli::output::ListWriter;
use crate::store::users::{self, Filter, Status};

/// List users as a table, JSON or CSV
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  pwreset users list --status inactive
  pwreset users list --search example.org --format csv > users.csv
  pwreset users list --format json | jq -r '.[].email'")]
pub struct Args {
    /// Show active, inactive or all users
    #[arg(long, value_enum, default_value_t = Status::All)]
    status: Status,
    /// Show users whose username, email or name contains TEXT (ignoring case)
    #[arg(long, value_name = "TEXT")]
    search: Option<String>,
    /// Show at most N users
    #[arg(long, value_name = "N")]
    limit: Option<u64>,
}

/// Run `pwreset users list`.
pub fn run(ctx: &Context, args: Args) -> CommandResult<Exit> {
    let (_, store) = ctx.open_store()?;
    // A listing reads each page once: a small page cache keeps its memory flat.
    store.limit_cache(512)?;
    let filter = Filter {
        status: args.status,
        search: args.search,
        limit: args.limit,
    };
    let stdout = std::io::stdout().lock();
    let mut writer =
        ListWriter::new::<UserRow>(ctx.settings.format, stdout, ctx.ui.stdout_is_terminal());
    users::for_each_listed(store.conn(), &filter, |user| {
        writer.row(&UserRow::from(user))
    })?;
    if writer.finish()? == 0 && ctx.settings.format == crate::settings::Format::Table {
        ctx.ui.status("No users match.");
    }
    Ok(Exit::Ok)
}
