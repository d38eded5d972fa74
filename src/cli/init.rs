//! `pwreset init`: write a config, create an empty migrated store, an outbox folder and the
//! audit key (kept if one is there). `--force` never deletes a store: the old one, audit log
//! included, is moved aside under a timestamped name.

use crate::db_url::StoreLocation;
use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::Context;
use crate::audit::{self, Event, Outcome};
use crate::cli::exit::{Exit, Failure};
use crate::cli::{CommandResult, os_rng};
use crate::keys::{AuditKey, KeyError};
use crate::store::users::NewUser;
use crate::store::{self, Store};

/// Create a config, an empty store and an outbox folder
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  pwreset init                          Set up in the current directory
  pwreset init --dir /etc/pwreset       Set up for the whole machine
  pwreset init --sample-users           Add example users to try things out

Writes the audit key (audit.key, mode 0600) beside the config unless one is there: keep a copy
of it away from the store's backups.")]
pub struct Args {
    /// Write pwreset.toml, pwreset.db and outbox/ into DIR (created with mode 0700)
    #[arg(long, value_name = "DIR", default_value = ".")]
    dir: PathBuf,
    /// Replace an existing config and store; the old store is moved aside, not deleted
    #[arg(long)]
    force: bool,
    /// Add example users: two active, one inactive, one without email
    #[arg(long)]
    sample_users: bool,
}

/// The config `init` writes: the embedded default, mail to `.eml` files in `outbox/`.
pub const DEFAULT_CONFIG: &str = r#"# pwreset configuration, written by `pwreset init`.
# config.example.toml lists every key with its default.

[store]
# The SQLite store, relative to this file.
path = "pwreset.db"

[mail]
# The embedded default: each message is written as an .eml file into outbox/ beside this file,
# so pwreset works on a machine without a mail server. See the README for SMTP and sendmail.
transport = "file"
from = "pwreset <no-reply@localhost>"

[mail.file]
dir = "outbox"

[links]
# The application's page that reads ?token=... and asks for a new password: change this to
# yours (https, or http for localhost only). Links work once and expire after ttl.
base_url = "http://localhost:8080/reset-password"
ttl = "1h"

[templates]
# How the emails name your application.
app_name = "Example App"

[audit]
# The key of the audit log (mode 0600, never printed). Keep it out of the store's backups.
key_file = "audit.key"
"#;

const SAMPLE_USERS: [(&str, Option<&str>, &str, bool); 4] = [
    ("alice", Some("alice@example.com"), "Alice Andersen", true),
    ("bob", Some("bob@example.com"), "Bob Brown", true),
    (
        "carol",
        Some("carol@example.com"),
        "Carol Chen (inactive)",
        false,
    ),
    ("dave", None, "Dave Doe (no email)", true),
];

/// Run `pwreset init`.
pub fn run(ctx: &Context, args: Args) -> CommandResult<Exit> {
    make_private_dir(&args.dir)?;
    let config_path = args.dir.join("pwreset.toml");
    let db_path = match ctx.settings.db_override() {
        None => args.dir.join("pwreset.db"),
        Some(StoreLocation::Sqlite(path)) => path.clone(),
        Some(StoreLocation::Postgres(target)) => {
            return Err(Failure::new(
                Exit::Usage,
                format!("pwreset init creates a SQLite store, not {target}"),
            )
            .hint(
                "create the PostgreSQL database, set store.url in the config, and run any \
                 command (e.g. `pwreset users list`): it creates the schema",
            )
            .into());
        }
    };
    refuse_overwrite(&[&config_path, &db_path], args.force)?;
    let key = audit_key(ctx, &args.dir.join("audit.key"))?;
    if args.force && db_path.exists() {
        let kept = move_aside(&db_path, ctx.settings.now)?;
        ctx.ui.status(&format!(
            "Moved the old store aside to {} (with its -wal/-shm files); its audit log is kept there",
            kept.display()
        ));
    }
    write_private(&config_path, DEFAULT_CONFIG)?;
    make_private_dir(&args.dir.join("outbox"))?;
    let mut store = Store::create(&db_path, 5000)?;
    ctx.use_audit_key(key);
    let added = populate(ctx, &mut store, args.sample_users)?;
    ctx.ui.status(&format!(
        "Created {}, {} and {}/ ({added} sample users)",
        config_path.display(),
        db_path.display(),
        args.dir.join("outbox").display()
    ));
    if args.dir != Path::new(".") {
        ctx.ui.status(&format!(
            "Use it with: export PWRESET_CONFIG={}",
            config_path.display()
        ));
    }
    Ok(Exit::Ok)
}

fn refuse_overwrite(paths: &[&Path], force: bool) -> CommandResult<()> {
    if force {
        return Ok(());
    }
    if let Some(existing) = paths.iter().find(|p| p.exists()) {
        return Err(Failure::new(
            Exit::Failure,
            format!("{} already exists", existing.display()),
        )
        .hint("pass --force to start afresh (the old store is moved aside, not deleted), or choose another --dir")
        .into());
    }
    Ok(())
}

/// The audit key at `path`: the one there (checked like any key file), or a new one.
fn audit_key(ctx: &Context, path: &Path) -> CommandResult<AuditKey> {
    match AuditKey::load(path) {
        Err(KeyError::Missing { .. }) => {
            let key = AuditKey::generate(&mut os_rng());
            key.create(path)?;
            ctx.ui
                .detail(&format!("audit key: {} (new)", path.display()));
            Ok(key)
        }
        other => Ok(other?),
    }
}

/// Rename the store and its companion files to `NAME.replaced-TIME[-N]`, never over an
/// existing file; returns the new name of the database.
fn move_aside(db: &Path, now: jiff::Timestamp) -> CommandResult<PathBuf> {
    let stamp = now.strftime("%Y%m%dT%H%M%SZ").to_string();
    let target = (1..=u32::MAX)
        .map(|n| {
            let suffix = if n == 1 {
                String::new()
            } else {
                format!("-{n}")
            };
            let mut name = db.as_os_str().to_os_string();
            name.push(format!(".replaced-{stamp}{suffix}"));
            PathBuf::from(name)
        })
        .find(|candidate| {
            std::iter::once(candidate.clone())
                .chain(store::companion_paths(candidate))
                .all(|p| !p.exists())
        })
        .unwrap_or_else(|| unreachable!("some suffix is free"));
    let pairs = std::iter::once((db.to_path_buf(), target.clone())).chain(
        store::companion_paths(db)
            .into_iter()
            .zip(store::companion_paths(&target)),
    );
    for (from, to) in pairs.filter(|(from, _)| from.exists()) {
        std::fs::rename(&from, &to)
            .with_context(|| format!("cannot move {} aside to {}", from.display(), to.display()))?;
    }
    Ok(target)
}

fn make_private_dir(dir: &Path) -> CommandResult<()> {
    if dir.is_dir() {
        return Ok(());
    }
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create directory {}", dir.display()))
        .map_err(|e| Failure::new(Exit::Config, format!("{e:#}")).into())
}

fn write_private(path: &Path, text: &str) -> CommandResult<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn populate(ctx: &Context, store: &mut Store, samples: bool) -> CommandResult<usize> {
    let (actor, now) = (ctx.actor()?, ctx.settings.now);
    audit::record(store, &actor, now, &Event::new("store.init", Outcome::Ok))?;
    if !samples {
        return Ok(0);
    }
    for (username, email, name, active) in SAMPLE_USERS {
        let user = NewUser {
            username: username.to_string(),
            email: email.map(str::to_string),
            display_name: Some(name.to_string()),
            active,
            locale: None,
        };
        crate::users::add(store, &user, &actor, now)?;
    }
    Ok(SAMPLE_USERS.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_the_embedded_default_plus_a_local_base_url() {
        let parsed =
            crate::config::parse(Path::new("pwreset.toml"), DEFAULT_CONFIG).expect("parses");
        let mut expected = crate::config::Config::default();
        expected.links.base_url = Some("http://localhost:8080/reset-password".into());
        expected.templates.app_name = "Example App".into();
        assert_eq!(parsed, expected);
    }
}
