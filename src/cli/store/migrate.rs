//! `pwreset store migrate --to URL | --from URL`

use serde::Serialize;

use super::Context;
use crate::audit::{self, Event, Outcome};
use crate::cli::CommandResult;
use crate::cli::exit::{Exit, Failure};
use crate::cli::output;
use crate::db_url::StoreLocation;
use crate::settings::Format;
use crate::store::copy::{self, Counts};
use crate::store::{Store, StoreError};

/// Copy the store into an empty one (SQLite to PostgreSQL or back)
#[derive(Debug, clap::Args)]
#[command(
    group(clap::ArgGroup::new("direction").required(true).args(["to", "from"])),
    after_help = "Copies users, reset tokens, the audit log, bulk runs and mail intents, ids kept, into an
empty store, in one transaction. The audit chain is verified on both sides (the same audit key
keys both). A URL must not hold a password: it comes from PGPASSWORD, store.password_file or
~/.pgpass. Nothing is deleted from the source.

Examples:
  pwreset store migrate --to 'postgres://pwreset@db.internal/app'
  pwreset store migrate --from sqlite:/var/lib/pwreset/pwreset.db   Into the configured store"
)]
pub struct Args {
    /// Copy the configured store into the store at URL (postgres://... or sqlite:PATH, created if missing)
    #[arg(long, value_name = "URL")]
    to: Option<String>,
    /// Copy the store at URL into the configured store
    #[arg(long, value_name = "URL")]
    from: Option<String>,
}

#[derive(Serialize)]
struct MigrateJson {
    from: String,
    to: String,
    tables: Vec<TableJson>,
    total: u64,
}

#[derive(Serialize)]
struct TableJson {
    table: &'static str,
    rows: u64,
}

/// Run `pwreset store migrate`.
pub fn run(ctx: &Context, args: Args) -> CommandResult<Exit> {
    let (config, configured) = ctx.open_store()?;
    let given = args
        .to
        .as_deref()
        .or(args.from.as_deref())
        .unwrap_or_default();
    let location = StoreLocation::parse(given, &ctx.settings.os_user).map_err(|e| {
        Failure::new(Exit::Usage, format!("bad store URL: {e}"))
            .hint("give postgres://USER@HOST/DB or sqlite:PATH, without a password")
    })?;
    let opener = ctx.opener_for(&config, location)?;
    let here_opener = ctx.store_opener(&config)?;
    let (here, there) = (here_opener.describe(), opener.describe());
    if same_store(&here_opener.location, &opener.location) {
        return Err(Failure::new(Exit::Usage, "the store cannot be migrated into itself").into());
    }
    let other = match &opener.location {
        StoreLocation::Sqlite(path) if !path.exists() => {
            Store::create(path, config.config.store.busy_timeout_ms)?
        }
        _ => opener.open()?,
    };
    let (mut from, mut to, names) = if args.to.is_some() {
        (configured, other, (here, there))
    } else {
        (other, configured, (there, here))
    };
    let counts = migrate(ctx, &mut from, &mut to, &names)?;
    render(ctx, &names, &counts)?;
    Ok(Exit::Ok)
}

/// Verify the source's chain, refuse a target that holds anything, copy in one transaction,
/// verify the copy's chain before committing, then record the migration on both sides.
fn migrate(
    ctx: &Context,
    from: &mut Store,
    to: &mut Store,
    (from_name, to_name): &(String, String),
) -> CommandResult<Counts> {
    let actor = ctx.actor()?;
    let source = copy::counts(from.conn()).map_err(StoreError::from)?;
    if audit_rows(&source) > 0 {
        audit::verify(from.conn(), &actor.key, None)?;
    }
    let held = copy::counts(to.conn()).map_err(StoreError::from)?.total();
    if held > 0 {
        return Err(Failure::new(
            Exit::Failure,
            format!("the target store {to_name} is not empty ({held} rows): nothing was copied"),
        )
        .hint("migrate into a new SQLite file or an empty PostgreSQL database")
        .into());
    }
    let now = ctx.settings.clock();
    let tx = to.write()?;
    let copied = copy::copy(from.conn(), &tx).map_err(StoreError::from)?;
    if audit_rows(&copied) > 0 {
        audit::verify(&tx, &actor.key, None)?;
    }
    let detail = format!("copied {} rows from {from_name}", copied.total());
    audit::append(
        &tx,
        &actor,
        now,
        &Event::new("store.migrate", Outcome::Ok).detail(Some(detail)),
    )?;
    tx.commit()?;
    let detail = format!("copied {} rows to {to_name}", copied.total());
    audit::record(
        from,
        &actor,
        now,
        &Event::new("store.migrate", Outcome::Ok).detail(Some(detail)),
    )?;
    Ok(copied)
}

/// Whether two locations name one store: the same SQLite file (however it is spelled), or the
/// same PostgreSQL URL.
fn same_store(a: &StoreLocation, b: &StoreLocation) -> bool {
    match (a, b) {
        (StoreLocation::Sqlite(a), StoreLocation::Sqlite(b)) => {
            let real =
                |p: &std::path::Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
            real(a) == real(b)
        }
        (StoreLocation::Postgres(a), StoreLocation::Postgres(b)) => a.to_string() == b.to_string(),
        _ => false,
    }
}

fn audit_rows(counts: &Counts) -> u64 {
    counts
        .0
        .iter()
        .find(|(table, _)| *table == "audit_log")
        .map_or(0, |(_, n)| *n)
}

fn render(ctx: &Context, (from, to): &(String, String), counts: &Counts) -> CommandResult<()> {
    if ctx.settings.format == Format::Json {
        let body = MigrateJson {
            from: from.clone(),
            to: to.clone(),
            tables: counts
                .0
                .iter()
                .map(|&(table, rows)| TableJson { table, rows })
                .collect(),
            total: counts.total(),
        };
        output::json(&mut std::io::stdout().lock(), &body)?;
    } else {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        for (table, rows) in &counts.0 {
            writeln!(out, "{table:<14} {rows}")?;
        }
    }
    ctx.ui.status(&format!(
        "Copied {} rows from {from} to {to}; the audit chain verifies on both",
        counts.total()
    ));
    Ok(())
}
