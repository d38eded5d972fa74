//! What every command receives: resolved settings, the terminal, and helpers to load the config,
//! open the store (which first resolves, and warns about, mails an earlier pwreset left
//! unresolved when it died), and build the mailer and templates from the config.

mod mail;

use std::path::Path;
use std::sync::OnceLock;

use crate::audit::Actor;
use crate::cli::CommandResult;
use crate::cli::exit::Failure;
use crate::config::{ConfigError, LoadedConfig, Transport};
use crate::db_url::{PgTarget, StoreLocation};
use crate::delivery::{self, Interrupted};
use crate::keys::AuditKey;
use crate::mail::SendmailMailer;
use crate::secret::Secret;
use crate::settings::{self, SecretError, Settings, Source};
use crate::store::{self, Store};

use super::StoreOpener;
use crate::cli::ui::Ui;
use crate::templates::Templates;

/// The OS-seeded CSPRNG (TOK-1, PW-2) that domain functions take as a parameter: created
/// only here, at the CLI edge. Never seeded by hand.
#[expect(
    clippy::disallowed_methods,
    reason = "the CLI edge creates the RNG that the domain takes as a parameter"
)]
pub fn os_rng() -> rand::rngs::ThreadRng {
    rand::rng()
}

/// Resolved settings plus the terminal, and the audit key once it is loaded.
#[derive(Debug, Clone)]
pub struct Context {
    /// The settings, resolved once.
    pub settings: Settings,
    /// The terminal.
    pub ui: Ui,
    /// The audit key, loaded at most once per command (see [`Context::audit_key`]).
    key: OnceLock<AuditKey>,
}

impl Context {
    /// Wrap resolved settings.
    pub fn new(settings: Settings) -> Self {
        delivery::crash::arm(settings.crash_at);
        let ui = Ui::new(&settings);
        Context {
            settings,
            ui,
            key: OnceLock::new(),
        }
    }

    /// Find the config file, refuse it unless trusted (owned by root or the running user,
    /// writable by nobody else: a file planted on the search path is refused, not skipped),
    /// and load it.
    pub fn config(&self) -> CommandResult<LoadedConfig> {
        let path = self.settings.config_path()?;
        let what = match self.settings.sources.config {
            Source::Default => "config file (found on the search path)",
            _ => "config file",
        };
        self.trusted(what, &path)?;
        let loaded = crate::config::load(&path)?;
        self.ui
            .detail(&format!("config: {}", loaded.path.display()));
        self.check_private(&loaded, &loaded.path, "config file")?;
        Ok(loaded)
    }

    /// Refuse a file (exit 8) that is not trusted, or that sits in a directory that is not:
    /// see [`settings::check_path`].
    pub fn trusted(&self, what: &str, path: &Path) -> CommandResult<()> {
        Ok(settings::check_path(what, path, self.settings.euid)?)
    }

    /// Refuse the files a mail is made of unless trusted: the templates folder and each file
    /// in it, and the transport's own (the mail folder, the sendmail program and every
    /// directory on its path).
    pub fn check_mail_files(&self, config: &LoadedConfig) -> CommandResult<()> {
        let mail = &config.config.mail;
        if let Some(dir) = &config.config.templates.dir {
            let dir = config.resolve(dir);
            self.trusted("templates folder", &dir)?;
            for file in Templates::files(&dir) {
                self.trusted("template file", &file)?;
            }
        }
        match mail.transport {
            Transport::File => self.trusted("mail folder", &config.resolve(&mail.file.dir)),
            Transport::Sendmail => Ok(settings::check_path(
                "sendmail program",
                &SendmailMailer::program_at(&mail.sendmail.path),
                self.settings.euid,
            )?),
            Transport::Smtp => Ok(()),
        }
    }

    /// Load the config and open the store it names (or `--db`).
    pub fn open_store(&self) -> CommandResult<(LoadedConfig, Store)> {
        self.open_store_then(|_| Ok(()))
    }

    /// [`Context::open_store`], running `first` on the keyed store before anything else
    /// appends to its audit log (`audit rekey` anchors an old log there).
    pub fn open_store_then(
        &self,
        first: impl FnOnce(&mut Store) -> CommandResult<()>,
    ) -> CommandResult<(LoadedConfig, Store)> {
        let config = self.config()?;
        let opener = self.store_opener(&config)?;
        let mut store = opener.open()?;
        // Required before anything else: even a read-only command may append (recovering an
        // interrupted mail below), and a mail must never go out that its audit row cannot follow.
        self.audit_key(&config)?;
        self.ui.detail(&format!("store: {}", opener.describe()));
        first(&mut store)?;
        self.recover(&mut store)?;
        Ok((config, store))
    }

    /// The store the settings name, checked: a SQLite file (and its -wal/-shm) must be trusted
    /// and private; a PostgreSQL store gets its password (a `store.password_file` must be
    /// trusted and private; a `.pgpass` others may read is skipped with a warning).
    pub fn store_opener(&self, config: &LoadedConfig) -> CommandResult<StoreOpener> {
        let location = self.settings.store_location(config)?;
        self.opener_for(config, location)
    }

    /// [`Context::store_opener`] for a store given on the command line rather than by the
    /// settings (`store migrate --to/--from`).
    pub fn opener_for(
        &self,
        config: &LoadedConfig,
        location: StoreLocation,
    ) -> CommandResult<StoreOpener> {
        let password = match &location {
            StoreLocation::Sqlite(path) => {
                self.check_store_files(path)?;
                for file in store_files(path) {
                    self.check_private(config, &file, "store")?;
                }
                None
            }
            StoreLocation::Postgres(target) => self.pg_password(config, target)?,
        };
        Ok(StoreOpener {
            location,
            password,
            busy_timeout_ms: config.config.store.busy_timeout_ms,
        })
    }

    fn pg_password(
        &self,
        config: &LoadedConfig,
        target: &PgTarget,
    ) -> CommandResult<Option<Secret>> {
        if let Some(file) = &config.config.store.password_file {
            self.trusted("store password file", &config.resolve(file))?;
        }
        let found = self.settings.pg_password(config, target).map_err(|err| {
            secret_error(config, "store.password_file", err, |variable| {
                format!("{variable} is not set")
            })
        })?;
        for loose in &found.ignored {
            self.ui.warn(&format!(
                "ignored {}; run chmod 600 on it",
                loose.describe("password file")
            ));
        }
        Ok(found.found.map(|(secret, _)| secret))
    }

    /// Refuse a store (or its -wal/-shm) that is not trusted.
    pub fn check_store_files(&self, path: &Path) -> CommandResult<()> {
        for file in store_files(path) {
            self.trusted("store", &file)?;
        }
        Ok(())
    }

    /// The audit key: trusted, private and well-formed, or an error saying how to get one.
    /// Loaded once; later calls return the same key.
    pub fn audit_key(&self, config: &LoadedConfig) -> CommandResult<AuditKey> {
        if let Some(key) = self.key.get() {
            return Ok(key.clone());
        }
        let path = audit_key_path(config);
        self.trusted("audit key file", &path)?;
        let key = AuditKey::load(&path)?;
        Ok(self.key.get_or_init(|| key).clone())
    }

    /// Use `key` as this command's audit key (`init`, which has just created it).
    pub fn use_audit_key(&self, key: AuditKey) {
        let _ = self.key.set(key);
    }

    /// Resolve the mails an earlier pwreset left unresolved when it died (see
    /// `delivery::recover`), warning once per user with what to do.
    fn recover(&self, store: &mut Store) -> CommandResult<()> {
        for found in delivery::recover(store, &self.actor()?, self.settings.now)? {
            self.ui.warn(&interrupted_warning(&found));
        }
        Ok(())
    }

    /// Load the config, and open the store only when `needed`.
    pub fn open_store_if(&self, needed: bool) -> CommandResult<(LoadedConfig, Option<Store>)> {
        if needed {
            let (config, store) = self.open_store()?;
            return Ok((config, Some(store)));
        }
        Ok((self.config()?, None))
    }

    /// The acting operator, for audit rows, with the audit key that signs them (loaded from
    /// the config's `audit.key_file` if no store was opened yet).
    pub fn actor(&self) -> CommandResult<Actor> {
        let key = match self.key.get() {
            Some(key) => key.clone(),
            None => self.audit_key(&self.config()?)?,
        };
        Ok(Actor {
            os_user: self.settings.os_user.clone(),
            actor: self.settings.actor.clone(),
            reason: self.settings.reason.clone(),
            key,
        })
    }

    /// LOC-1: warn when a file is readable by others, or refuse with
    /// `security.strict_permissions = true` (exit 8).
    pub fn check_private(
        &self,
        config: &LoadedConfig,
        path: &Path,
        what: &str,
    ) -> CommandResult<()> {
        let Some(loose) = settings::readable_by_others(path) else {
            return Ok(());
        };
        let message = loose.describe(what);
        if config.config.security.strict_permissions {
            return Err(Failure::new(crate::cli::exit::Exit::Config, message)
                .hint(format!(
                    "run `chmod 600 {}` (security.strict_permissions is on)",
                    path.display()
                ))
                .into());
        }
        self.ui
            .warn(&format!("{message}; run `chmod 600 {}`", path.display()));
        Ok(())
    }
}

/// One line about a mail an earlier pwreset may have sent without committing it: to whom, what
/// they may have received, the state it was left in, and the command that finishes the job.
fn interrupted_warning(found: &Interrupted) -> String {
    let user = crate::cli::ui::sanitize(&found.username);
    let head = format!("an earlier pwreset was interrupted while mailing {user}");
    let run = found
        .run_id
        .as_deref()
        .map(|run| format!(" (bulk run {run})"))
        .unwrap_or_default();
    if found.action == crate::links::ACTION {
        format!(
            "{head} a reset link at {}{run}; the link was revoked: send a new one with `pwreset send-link {user}`",
            found.recipient
        )
    } else {
        format!(
            "{head} a temporary password at {}{run}; it was never set and the old password still works: set a new one with `pwreset reset generate {user}`",
            found.recipient
        )
    }
}

/// The store and its `-wal`/`-shm` files.
fn store_files(path: &Path) -> impl Iterator<Item = std::path::PathBuf> {
    std::iter::once(path.to_path_buf()).chain(store::companion_paths(path).into_iter().take(2))
}

/// Where the audit key lives (`audit.key_file`, relative to the config).
pub fn audit_key_path(config: &LoadedConfig) -> std::path::PathBuf {
    config.resolve(&config.config.audit.key_file)
}

/// A secret the config's `key` names, not found or not usable, as a config error; `not_set`
/// words the case where no place holds it.
fn secret_error(
    config: &LoadedConfig,
    key: &str,
    err: SecretError,
    not_set: impl FnOnce(&str) -> String,
) -> ConfigError {
    let (path, key) = (config.path.clone(), key.to_string());
    match err {
        SecretError::NotSet { variable } => ConfigError::BadValue {
            path,
            key,
            message: not_set(&variable),
        },
        SecretError::ReadableByOthers(loose) => ConfigError::ReadableByOthers {
            path,
            key,
            message: format!("{loose}; run chmod 600 on it"),
        },
        SecretError::Unreadable { path, source } => ConfigError::Unreadable { path, source },
    }
}
