//! Resolved settings: the flags, the environment and the config file turned into one value.
//!
//! Precedence, lowest to highest: built-in defaults < config file < `PWRESET_*` environment
//! variables < command-line flags. The store is `--db`, else `PWRESET_DB`, else `store.url`,
//! else `store.path` (each a `postgres://` URL, `sqlite:PATH` or a path; see
//! [`Settings::store_location`]); a PostgreSQL password comes only from `PGPASSWORD`,
//! `store.password_file` or libpq's password file ([`Settings::pg_password`]). This is the only module that reads environment variables;
//! everything after it receives plain values. `PWRESET_TEST_NOW` (RFC 3339 or Unix seconds) fixes
//! the clock for tests, and `PWRESET_TEST_CRASH_AT` (`after-intent`, `after-send`,
//! `before-commit`) aborts the process at that step of a mail carrying a secret, for the crash
//! tests, and `PWRESET_TEST_SYSTEM_CONFIG` replaces `/etc/pwreset/config.toml` in the config
//! search, so the tests never read the machine's own; release builds ignore all three.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use crate::config::ConfigError;
use crate::db_url::{StoreLocation, TargetError};
use crate::delivery::CrashPoint;

mod capabilities;
mod pg_password;
mod secrets;
mod store;
mod trust;

pub use capabilities::{Overrides, generate_settings, link_settings, pacing, recipient_rule};

pub use pg_password::{PgEnvironment, PgPassword, PgPasswordSource, pg_password};
pub use secrets::{
    PasswordOrigin, ReadableByOthers, SecretError, readable_by_others, secret_from_env,
    smtp_password, smtp_password_origin,
};
pub use trust::{Problem, Untrusted, check_path, check_trusted};

/// Why flags or environment could not be resolved into settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// `PWRESET_FORMAT` names no format.
    #[error("PWRESET_FORMAT={0:?} is not a format")]
    Format(String),
    /// A label for the audit log (`--actor`, `--reason`) holds control characters.
    #[error("{0} must not contain control characters")]
    ControlCharacters(&'static str),
    /// `PWRESET_TEST_NOW` is not a time.
    #[error("PWRESET_TEST_NOW={0:?} is not a time")]
    TestNow(String),
    /// `PWRESET_TEST_CRASH_AT` names no step.
    #[error("PWRESET_TEST_CRASH_AT={0:?} is not after-intent, after-send or before-commit")]
    TestCrashAt(String),
    /// `--db` / `PWRESET_DB` is a store URL pwreset refuses (a password in it, a bad value).
    #[error("{source_name}: {error}")]
    StoreUrl {
        /// `--db` or `PWRESET_DB`.
        source_name: &'static str,
        /// Why it was refused.
        error: TargetError,
    },
}

/// Output format of listings and results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    /// Human-readable table (the default).
    #[default]
    Table,
    /// JSON, stable and documented in the README.
    Json,
    /// CSV with a header row.
    Csv,
}

/// When to color terminal output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum ColorChoice {
    /// Color when writing to a terminal and `NO_COLOR` is unset or empty.
    #[default]
    Auto,
    /// Always color.
    Always,
    /// Never color.
    Never,
}

/// Where a setting's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// pwreset's built-in default.
    Default,
    /// The config file.
    File,
    /// A `PWRESET_*` environment variable.
    Environment,
    /// A command-line flag.
    Flag,
}

impl Source {
    /// `default`, `file`, `environment` or `flag`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Default => "default",
            Source::File => "file",
            Source::Environment => "environment",
            Source::Flag => "flag",
        }
    }
}

fn source_of<T>(flag: Option<&T>, env: Option<&str>) -> Source {
    match (flag, env) {
        (Some(_), _) => Source::Flag,
        (None, Some(_)) => Source::Environment,
        (None, None) => Source::Default,
    }
}

/// The global flags as parsed, before any resolution. `None` means "not given".
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// `--config`
    pub config: Option<PathBuf>,
    /// `--db`
    pub db: Option<PathBuf>,
    /// `--format`
    pub format: Option<Format>,
    /// `--color`
    pub color: Option<ColorChoice>,
    /// `--yes`
    pub yes: bool,
    /// `--quiet`
    pub quiet: bool,
    /// `--verbose`, counted.
    pub verbose: u8,
    /// `--actor`
    pub actor: Option<String>,
    /// `--reason`
    pub reason: Option<String>,
}

/// A snapshot of the environment variables pwreset cares about.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    vars: BTreeMap<String, String>,
    /// libpq's variables (`PGPASSWORD`, `PGPASSFILE`, `HOME`).
    pub pg: PgEnvironment,
}

impl Environment {
    const NAMES: [&'static str; 9] = [
        "PWRESET_CONFIG",
        "PWRESET_DB",
        "PWRESET_FORMAT",
        "PWRESET_TEST_NOW",
        "PWRESET_TEST_CRASH_AT",
        "PWRESET_TEST_SYSTEM_CONFIG",
        "NO_COLOR",
        "XDG_CONFIG_HOME",
        "HOME",
    ];

    /// Read the variables pwreset uses from the process environment.
    #[expect(
        clippy::disallowed_methods,
        reason = "settings is the one place that reads the environment"
    )]
    pub fn capture() -> Self {
        let vars = Self::NAMES
            .iter()
            .filter_map(|name| std::env::var(name).ok().map(|v| ((*name).to_string(), v)))
            .collect();
        Environment {
            vars,
            pg: PgEnvironment::read(),
        }
    }

    /// An environment made of the given pairs (for tests).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        let vars = pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        Environment {
            vars,
            pg: PgEnvironment::default(),
        }
    }

    /// A variable's value, treating an empty value as unset.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// Everything a command needs to know about how it was invoked, resolved once.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Output format for data on stdout.
    pub format: Format,
    /// Color choice after `NO_COLOR` was applied; `Auto` still depends on the terminal.
    pub color: ColorChoice,
    /// Skip confirmation prompts.
    pub yes: bool,
    /// Print no status messages.
    pub quiet: bool,
    /// Verbosity level.
    pub verbose: u8,
    /// The operator's name for the audit log, if given.
    pub actor: Option<String>,
    /// Why the operator is doing this, for the audit log.
    pub reason: Option<String>,
    /// The current time, when the command started.
    pub now: Timestamp,
    /// Whether the clock is fixed (`PWRESET_TEST_NOW`).
    fixed_clock: bool,
    /// Where to abort for a crash test (`PWRESET_TEST_CRASH_AT`, debug builds only).
    pub crash_at: Option<CrashPoint>,
    /// The operating-system user running pwreset.
    pub os_user: String,
    /// Its effective uid: files it uses must be owned by root or by this user
    /// ([`check_trusted`]).
    pub euid: u32,
    config_path: Option<PathBuf>,
    store_override: Option<StoreLocation>,
    pg_env: PgEnvironment,
    search_path: Vec<PathBuf>,
    /// Where `config_path`, `db_path` and `format` came from.
    pub sources: Sources,
}

/// Where the settings that flags and environment can set came from.
#[derive(Debug, Clone, Copy)]
pub struct Sources {
    /// The config file's location (`Default`: found on the search path).
    pub config: Source,
    /// `--db` / `PWRESET_DB` (`Default`: `store.path` of the config).
    pub db: Source,
    /// `--format` / `PWRESET_FORMAT`.
    pub format: Source,
}

impl Settings {
    /// Resolve flags and environment into settings. Fails only on malformed values.
    pub fn resolve(flags: Flags, env: &Environment) -> Result<Settings, SettingsError> {
        let sources = Sources {
            config: source_of(flags.config.as_ref(), env.get("PWRESET_CONFIG")),
            db: source_of(flags.db.as_ref(), env.get("PWRESET_DB")),
            format: source_of(flags.format.as_ref(), env.get("PWRESET_FORMAT")),
        };
        let format = match (flags.format, env.get("PWRESET_FORMAT")) {
            (Some(format), _) => format,
            (None, Some(text)) => parse_format(text)?,
            (None, None) => Format::Table,
        };
        let color = match (flags.color, env.get("NO_COLOR")) {
            (Some(choice), _) => choice,
            (None, Some(_)) => ColorChoice::Never,
            (None, None) => ColorChoice::Auto,
        };
        let os_user = whoami::username().unwrap_or_else(|_| "unknown".to_string());
        let store_override = match (flags.db, env.get("PWRESET_DB")) {
            (Some(path), _) => Some(store::parse_location("--db", path, &os_user)?),
            (None, Some(text)) => Some(store::parse_location("PWRESET_DB", text.into(), &os_user)?),
            (None, None) => None,
        };
        Ok(Settings {
            format,
            color,
            yes: flags.yes,
            quiet: flags.quiet,
            verbose: flags.verbose,
            actor: clean_label("--actor", flags.actor)?,
            reason: clean_label("--reason", flags.reason)?,
            now: resolve_now(env)?,
            fixed_clock: TEST_CLOCK && env.get("PWRESET_TEST_NOW").is_some(),
            crash_at: resolve_crash_at(env)?,
            os_user,
            euid: trust::euid(),
            config_path: flags
                .config
                .or_else(|| env.get("PWRESET_CONFIG").map(PathBuf::from)),
            store_override,
            pg_env: env.pg.clone(),
            search_path: search_path(env),
            sources,
        })
    }

    /// The current time, for long runs: the fixed test time, or the wall clock.
    pub fn clock(&self) -> Timestamp {
        if self.fixed_clock {
            self.now
        } else {
            wall_clock()
        }
    }

    /// The config file to use: `--config`, `PWRESET_CONFIG`, or the first that exists of
    /// `./pwreset.toml`, `$XDG_CONFIG_HOME/pwreset/config.toml` (or `~/.config/...`) and
    /// `/etc/pwreset/config.toml`.
    pub fn config_path(&self) -> Result<PathBuf, ConfigError> {
        self.find_config(Path::is_file)
    }

    /// [`Settings::config_path`], with `exists` saying which files are there (tests pass their
    /// own, so they depend on no file of the machine or the working directory).
    fn find_config(&self, exists: impl Fn(&Path) -> bool) -> Result<PathBuf, ConfigError> {
        if let Some(path) = &self.config_path {
            return Ok(path.clone());
        }
        self.search_path
            .iter()
            .find(|p| exists(p))
            .cloned()
            .ok_or_else(|| {
                let searched = self
                    .search_path
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>();
                ConfigError::NotFound {
                    searched: searched.join(", "),
                }
            })
    }
}

fn parse_format(text: &str) -> Result<Format, SettingsError> {
    <Format as clap::ValueEnum>::from_str(text, true)
        .map_err(|_| SettingsError::Format(text.to_string()))
}

fn clean_label(flag: &'static str, value: Option<String>) -> Result<Option<String>, SettingsError> {
    match value {
        Some(text) if text.chars().any(char::is_control) => {
            Err(SettingsError::ControlCharacters(flag))
        }
        Some(text) if text.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

/// Whether `PWRESET_TEST_NOW` is honoured: only in debug builds (the test suite), never in a
/// release build, where it would let anyone who can set the environment mint links that live
/// for decades or make purge delete live ones.
const TEST_CLOCK: bool = cfg!(debug_assertions);

/// The time now: settings reads the clock, everything else is given `now`.
#[expect(
    clippy::disallowed_methods,
    reason = "settings is the one place that reads the clock"
)]
fn wall_clock() -> Timestamp {
    Timestamp::now()
}

fn resolve_now(env: &Environment) -> Result<Timestamp, SettingsError> {
    let Some(text) = env.get("PWRESET_TEST_NOW").filter(|_| TEST_CLOCK) else {
        return Ok(wall_clock());
    };
    let parsed = match text.parse::<i64>() {
        Ok(secs) => Timestamp::from_second(secs).ok(),
        Err(_) => text.parse::<Timestamp>().ok(),
    };
    parsed.ok_or_else(|| SettingsError::TestNow(text.to_string()))
}

/// `PWRESET_TEST_CRASH_AT`, honoured in debug builds only, like `PWRESET_TEST_NOW`.
fn resolve_crash_at(env: &Environment) -> Result<Option<CrashPoint>, SettingsError> {
    match env.get("PWRESET_TEST_CRASH_AT").filter(|_| TEST_CLOCK) {
        None => Ok(None),
        Some(text) => CrashPoint::parse(text)
            .map(Some)
            .ok_or_else(|| SettingsError::TestCrashAt(text.to_string())),
    }
}

fn search_path(env: &Environment) -> Vec<PathBuf> {
    let mut paths = vec![PathBuf::from("pwreset.toml")];
    let xdg = env
        .get("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| env.get("HOME").map(|home| Path::new(home).join(".config")));
    if let Some(dir) = xdg {
        paths.push(dir.join("pwreset").join("config.toml"));
    }
    // Debug builds (the test suite) may name another, so tests never read the machine's own.
    let system = env.get("PWRESET_TEST_SYSTEM_CONFIG").filter(|_| TEST_CLOCK);
    paths.push(system.map_or_else(|| PathBuf::from("/etc/pwreset/config.toml"), PathBuf::from));
    paths
}

#[cfg(test)]
mod tests;
