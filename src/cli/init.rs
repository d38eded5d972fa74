//! `pwreset init`: write a config, create an empty migrated store and an outbox folder.

use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::Context;
use crate::audit::{self, Event, Outcome};
use crate::cli::CommandResult;
use crate::exit::{Exit, Failure};
use crate::store::users::NewUser;
use crate::store::{self, Store};

/// Create a config, an empty store and an outbox folder
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  pwreset init                          Set up in the current directory
  pwreset init --dir /etc/pwreset       Set up for the whole machine
  pwreset init --sample-users           Add example users to try things out")]
pub struct Args {
    /// Write pwreset.toml, pwreset.db and outbox/ into DIR (created with mode 0700)
    #[arg(long, value_name = "DIR", default_value = ".")]
    dir: PathBuf,
    /// Replace an existing config and store (the store's users are lost)
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
    let db_path = ctx
        .settings
        .db_override()
        .map_or_else(|| args.dir.join("pwreset.db"), Path::to_path_buf);
    refuse_overwrite(&[&config_path, &db_path], args.force)?;
    if args.force {
        remove_store(&db_path)?;
    }
    write_private(&config_path, DEFAULT_CONFIG)?;
    make_private_dir(&args.dir.join("outbox"))?;
    let mut store = Store::create(&db_path, 5000)?;
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
        .hint("pass --force to replace it (the store's users are lost), or choose another --dir")
        .into());
    }
    Ok(())
}

fn remove_store(db: &Path) -> CommandResult<()> {
    for path in std::iter::once(db.to_path_buf()).chain(store::companion_paths(db)) {
        match std::fs::remove_file(&path) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                return Err(anyhow::Error::new(err)
                    .context(format!("cannot remove {}", path.display()))
                    .into());
            }
            _ => {}
        }
    }
    Ok(())
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
    let (actor, now) = (ctx.actor(), ctx.settings.now);
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
