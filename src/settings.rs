//! Resolved settings: the flags, the environment and the config file turned into one value.
//!
//! Precedence, lowest to highest: built-in defaults < config file < `PWRESET_*` environment
//! variables < command-line flags. This is the only module that reads environment variables;
//! everything after it receives plain values. `PWRESET_TEST_NOW` (RFC 3339 or Unix seconds) fixes
//! the clock for tests; release builds ignore it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use crate::config::{self, ConfigError, LoadedConfig};
use crate::exit::Failure;

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
}

impl Environment {
    const NAMES: [&'static str; 7] = [
        "PWRESET_CONFIG",
        "PWRESET_DB",
        "PWRESET_FORMAT",
        "PWRESET_TEST_NOW",
        "NO_COLOR",
        "XDG_CONFIG_HOME",
        "HOME",
    ];

    /// Read the variables pwreset uses from the process environment.
    pub fn capture() -> Self {
        let vars = Self::NAMES
            .iter()
            .filter_map(|name| std::env::var(name).ok().map(|v| ((*name).to_string(), v)))
            .collect();
        Environment { vars }
    }

    /// An environment made of the given pairs (for tests).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        let vars = pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        Environment { vars }
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
    /// The operating-system user running pwreset.
    pub os_user: String,
    config_path: Option<PathBuf>,
    db_path: Option<PathBuf>,
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
    pub fn resolve(flags: Flags, env: &Environment) -> Result<Settings, Failure> {
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
            os_user: whoami::username().unwrap_or_else(|_| "unknown".to_string()),
            config_path: flags
                .config
                .or_else(|| env.get("PWRESET_CONFIG").map(PathBuf::from)),
            db_path: flags
                .db
                .or_else(|| env.get("PWRESET_DB").map(PathBuf::from)),
            search_path: search_path(env),
            sources,
        })
    }

    /// The current time, for long runs: the fixed test time, or the wall clock.
    pub fn clock(&self) -> Timestamp {
        if self.fixed_clock {
            self.now
        } else {
            Timestamp::now()
        }
    }

    /// The config file to use: `--config`, `PWRESET_CONFIG`, or the first that exists of
    /// `./pwreset.toml`, `$XDG_CONFIG_HOME/pwreset/config.toml` (or `~/.config/...`) and
    /// `/etc/pwreset/config.toml`.
    pub fn config_path(&self) -> Result<PathBuf, ConfigError> {
        if let Some(path) = &self.config_path {
            return Ok(path.clone());
        }
        self.search_path
            .iter()
            .find(|p| p.is_file())
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

    /// Find and load the config file.
    pub fn load_config(&self) -> Result<LoadedConfig, ConfigError> {
        config::load(&self.config_path()?)
    }

    /// The store to open: `--db` or `PWRESET_DB` if given, else `store.path` from the config.
    pub fn db_path(&self, config: &LoadedConfig) -> PathBuf {
        match &self.db_path {
            Some(path) => path.clone(),
            None => config.resolve(&config.config.store.path),
        }
    }

    /// The `--db`/`PWRESET_DB` override alone, if one was given.
    pub fn db_override(&self) -> Option<&Path> {
        self.db_path.as_deref()
    }
}

/// A secret from the environment variable named by the config (e.g. the SMTP password). The
/// variable is read when needed rather than captured, because its name comes from the config.
pub fn secret_from_env(name: &str) -> Option<crate::secret::Secret> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .map(crate::secret::Secret::new)
}

fn parse_format(text: &str) -> Result<Format, Failure> {
    <Format as clap::ValueEnum>::from_str(text, true).map_err(|_| {
        Failure::usage(format!("PWRESET_FORMAT={text:?} is not a format"))
            .hint("use table, json or csv")
    })
}

fn clean_label(flag: &str, value: Option<String>) -> Result<Option<String>, Failure> {
    match value {
        Some(text) if text.chars().any(char::is_control) => Err(Failure::usage(format!(
            "{flag} must not contain control characters"
        ))),
        Some(text) if text.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

/// Whether `PWRESET_TEST_NOW` is honoured: only in debug builds (the test suite), never in a
/// release build, where it would let anyone who can set the environment mint links that live
/// for decades or make purge delete live ones.
const TEST_CLOCK: bool = cfg!(debug_assertions);

fn resolve_now(env: &Environment) -> Result<Timestamp, Failure> {
    let Some(text) = env.get("PWRESET_TEST_NOW").filter(|_| TEST_CLOCK) else {
        return Ok(Timestamp::now());
    };
    let parsed = match text.parse::<i64>() {
        Ok(secs) => Timestamp::from_second(secs).ok(),
        Err(_) => text.parse::<Timestamp>().ok(),
    };
    parsed.ok_or_else(|| Failure::usage(format!("PWRESET_TEST_NOW={text:?} is not a time")))
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
    paths.push(PathBuf::from("/etc/pwreset/config.toml"));
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(flags: Flags, env: &[(&str, &str)]) -> Settings {
        Settings::resolve(flags, &Environment::from_pairs(env)).expect("settings resolve")
    }

    #[test]
    fn format_flag_beats_environment_beats_default() {
        assert_eq!(resolve(Flags::default(), &[]).format, Format::Table);
        assert_eq!(
            resolve(Flags::default(), &[("PWRESET_FORMAT", "json")]).format,
            Format::Json
        );
        let flags = Flags {
            format: Some(Format::Csv),
            ..Flags::default()
        };
        assert_eq!(
            resolve(flags, &[("PWRESET_FORMAT", "json")]).format,
            Format::Csv
        );
    }

    #[test]
    fn bad_format_in_environment_is_a_usage_error() {
        let err = Settings::resolve(
            Flags::default(),
            &Environment::from_pairs(&[("PWRESET_FORMAT", "xml")]),
        )
        .expect_err("xml is not a format");
        assert!(err.to_string().contains("PWRESET_FORMAT"));
    }

    #[test]
    fn no_color_means_never_unless_a_flag_says_otherwise() {
        assert_eq!(resolve(Flags::default(), &[]).color, ColorChoice::Auto);
        assert_eq!(
            resolve(Flags::default(), &[("NO_COLOR", "1")]).color,
            ColorChoice::Never
        );
        assert_eq!(
            resolve(Flags::default(), &[("NO_COLOR", "")]).color,
            ColorChoice::Auto
        );
        let flags = Flags {
            color: Some(ColorChoice::Always),
            ..Flags::default()
        };
        assert_eq!(
            resolve(flags, &[("NO_COLOR", "1")]).color,
            ColorChoice::Always
        );
    }

    #[test]
    fn db_flag_beats_environment_beats_config() {
        let loaded = LoadedConfig {
            path: PathBuf::from("/srv/pwreset.toml"),
            config: crate::config::Config::default(),
            set_keys: std::collections::BTreeSet::new(),
        };
        assert_eq!(
            resolve(Flags::default(), &[]).db_path(&loaded),
            PathBuf::from("/srv/pwreset.db")
        );
        let env = [("PWRESET_DB", "/env.db")];
        assert_eq!(
            resolve(Flags::default(), &env).db_path(&loaded),
            PathBuf::from("/env.db")
        );
        let flags = Flags {
            db: Some(PathBuf::from("/flag.db")),
            ..Flags::default()
        };
        assert_eq!(
            resolve(flags, &env).db_path(&loaded),
            PathBuf::from("/flag.db")
        );
    }

    #[test]
    fn sources_say_where_values_came_from() {
        let flags = Flags {
            db: Some(PathBuf::from("/x.db")),
            ..Flags::default()
        };
        let settings = resolve(flags, &[("PWRESET_FORMAT", "json")]);
        assert_eq!(settings.sources.db, Source::Flag);
        assert_eq!(settings.sources.format, Source::Environment);
        assert_eq!(settings.sources.config, Source::Default);
    }

    #[test]
    fn config_flag_beats_environment() {
        let env = [("PWRESET_CONFIG", "/env.toml")];
        assert_eq!(
            resolve(Flags::default(), &env).config_path().ok(),
            Some(PathBuf::from("/env.toml"))
        );
        let flags = Flags {
            config: Some(PathBuf::from("/flag.toml")),
            ..Flags::default()
        };
        assert_eq!(
            resolve(flags, &env).config_path().ok(),
            Some(PathBuf::from("/flag.toml"))
        );
    }

    #[test]
    fn search_path_prefers_xdg_over_home() {
        let env = Environment::from_pairs(&[("XDG_CONFIG_HOME", "/x"), ("HOME", "/h")]);
        assert_eq!(
            search_path(&env)[1],
            PathBuf::from("/x/pwreset/config.toml")
        );
        let env = Environment::from_pairs(&[("HOME", "/h")]);
        assert_eq!(
            search_path(&env)[1],
            PathBuf::from("/h/.config/pwreset/config.toml")
        );
        let paths = search_path(&Environment::default());
        assert_eq!(
            paths,
            vec![
                PathBuf::from("pwreset.toml"),
                PathBuf::from("/etc/pwreset/config.toml")
            ]
        );
    }

    #[test]
    fn missing_config_names_every_place_searched() {
        let settings = resolve(Flags::default(), &[("XDG_CONFIG_HOME", "/nonexistent-xdg")]);
        let err = settings.config_path().expect_err("nothing there");
        let text = err.to_string();
        assert!(
            text.contains("/nonexistent-xdg/pwreset/config.toml"),
            "{text}"
        );
        assert!(text.contains("/etc/pwreset/config.toml"), "{text}");
    }

    #[test]
    fn test_clock_accepts_seconds_and_rfc3339() {
        let at = resolve(Flags::default(), &[("PWRESET_TEST_NOW", "1800000000")]).now;
        assert_eq!(at.as_second(), 1_800_000_000);
        let at = resolve(
            Flags::default(),
            &[("PWRESET_TEST_NOW", "2026-11-22T10:00:00Z")],
        )
        .now;
        assert_eq!(at.to_string(), "2026-11-22T10:00:00Z");
    }

    /// Only `cargo test --release` runs this: a release build must ignore the test clock.
    #[test]
    #[cfg(not(debug_assertions))]
    fn release_builds_ignore_the_test_clock() {
        let at = resolve(Flags::default(), &[("PWRESET_TEST_NOW", "4000000000")]).now;
        assert!(at.as_second() < 4_000_000_000);
    }

    #[test]
    fn actor_with_control_characters_is_refused() {
        let flags = Flags {
            actor: Some("eve\u{1b}[2J".into()),
            ..Flags::default()
        };
        assert!(Settings::resolve(flags, &Environment::default()).is_err());
    }
}
