//! The configuration file: typed TOML structs, their defaults, and validation at load.
//!
//! Unknown keys are rejected. Relative paths are resolved against the directory of the config
//! file. This module reads files but never the environment; `settings` decides which file.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::exit::{Classify, Exit};

/// Everything in `pwreset.toml`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[store]`: where the user store lives.
    pub store: StoreConfig,
    /// `[mail]`: how mail leaves pwreset.
    pub mail: MailConfig,
}

/// `[store]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Path of the SQLite store, relative to the config file. Default `pwreset.db`.
    pub path: PathBuf,
    /// How long to wait for a lock held by another pwreset (e.g. cron), in milliseconds.
    pub busy_timeout_ms: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: PathBuf::from("pwreset.db"),
            busy_timeout_ms: 5000,
        }
    }
}

/// `[mail]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// Which transport sends mail: `file` (the default) writes `.eml` files.
    pub transport: Transport,
    /// The From header, e.g. `Example <no-reply@example.com>`.
    pub from: String,
    /// `[mail.file]`: settings of the `file` transport.
    pub file: FileTransportConfig,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            transport: Transport::File,
            from: "pwreset <no-reply@localhost>".to_string(),
            file: FileTransportConfig::default(),
        }
    }
}

/// The mail transports pwreset knows.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Each message becomes an `.eml` file in `mail.file.dir`.
    File,
}

/// `[mail.file]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FileTransportConfig {
    /// Folder for `.eml` files, relative to the config file. Default `outbox`.
    pub dir: PathBuf,
}

impl Default for FileTransportConfig {
    fn default() -> Self {
        FileTransportConfig {
            dir: PathBuf::from("outbox"),
        }
    }
}

/// A problem with the configuration file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No config file was found in any of the searched places.
    #[error("no configuration file found (looked in {searched})")]
    NotFound {
        /// The places searched, joined for display.
        searched: String,
    },
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not match the expected shape.
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What was wrong and what was expected.
        message: String,
    },
    /// A value parsed but is not acceptable.
    #[error("{path}: {key}: {message}")]
    BadValue {
        /// The file.
        path: PathBuf,
        /// The dotted key.
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

impl Classify for ConfigError {
    fn exit(&self) -> Exit {
        Exit::Config
    }
    fn hint(&self) -> Option<String> {
        match self {
            ConfigError::NotFound { .. } => Some(
                "run `pwreset init` to create one, or point to it with --config / PWRESET_CONFIG"
                    .into(),
            ),
            ConfigError::Invalid { .. } | ConfigError::BadValue { .. } => Some(
                "compare with config.example.toml, which lists every key with its default".into(),
            ),
            ConfigError::Unreadable { .. } => None,
        }
    }
}

/// A loaded config together with the file it came from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The file that was read.
    pub path: PathBuf,
    /// Its parsed contents.
    pub config: Config,
}

impl LoadedConfig {
    /// Resolve a path from the config relative to the config file's directory.
    pub fn resolve(&self, relative: &Path) -> PathBuf {
        let base = self.path.parent().unwrap_or_else(|| Path::new("."));
        base.join(relative)
    }
}

/// Read and validate a config file.
pub fn load(path: &Path) -> Result<LoadedConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    let config = parse(path, &text)?;
    Ok(LoadedConfig {
        path: path.to_path_buf(),
        config,
    })
}

/// Parse config text; `path` is only used in error messages.
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let config: Config = toml::from_str(text).map_err(|err| invalid(path, text, &err))?;
    validate(path, &config)?;
    Ok(config)
}

fn invalid(path: &Path, text: &str, err: &toml::de::Error) -> ConfigError {
    let offset = err.span().map_or(0, |span| span.start);
    let (line, column) = line_and_column(text, offset);
    let message = err.message().trim().replace('\n', " ");
    ConfigError::Invalid {
        path: path.to_path_buf(),
        line,
        column,
        message,
    }
}

/// 1-based line and column of a byte offset.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn validate(path: &Path, config: &Config) -> Result<(), ConfigError> {
    let bad = |key: &str, message: String| ConfigError::BadValue {
        path: path.to_path_buf(),
        key: key.to_string(),
        message,
    };
    if config
        .mail
        .from
        .parse::<lettre::message::Mailbox>()
        .is_err()
    {
        return Err(bad(
            "mail.from",
            format!(
                "{:?} is not a mailbox like `Example <no-reply@example.com>`",
                config.mail.from
            ),
        ));
    }
    if config.store.path.as_os_str().is_empty() {
        return Err(bad("store.path", "must not be empty".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Config, ConfigError> {
        parse(Path::new("/etc/pwreset/config.toml"), text)
    }

    #[test]
    fn example_config_lists_the_defaults() {
        let text = include_str!("../config.example.toml");
        assert_eq!(parse_str(text).expect("example parses"), Config::default());
    }

    #[test]
    fn empty_file_gives_defaults() {
        let config = parse_str("").expect("empty config parses");
        assert_eq!(config, Config::default());
        assert_eq!(config.store.path, PathBuf::from("pwreset.db"));
        assert_eq!(config.mail.transport, Transport::File);
    }

    #[test]
    fn unknown_key_is_rejected_with_line_and_column() {
        let err = parse_str("[store]\npath = \"x.db\"\ncolour = 3\n").expect_err("unknown key");
        let text = err.to_string();
        assert!(text.starts_with("/etc/pwreset/config.toml:3:1: "), "{text}");
        assert!(text.contains("unknown field `colour`"), "{text}");
        assert!(!text.contains('\n'), "one line: {text}");
    }

    #[test]
    fn wrong_type_names_what_was_expected() {
        let err = parse_str("[store]\nbusy_timeout_ms = \"soon\"\n").expect_err("wrong type");
        let text = err.to_string();
        assert!(text.contains(":2:19:"), "{text}");
        assert!(
            text.contains("invalid type: string \"soon\", expected u32"),
            "{text}"
        );
    }

    #[test]
    fn syntax_error_has_position() {
        let err = parse_str("[store\n").expect_err("syntax");
        assert!(matches!(err, ConfigError::Invalid { line: 1, .. }), "{err}");
    }

    #[test]
    fn unknown_transport_is_rejected() {
        let err = parse_str("[mail]\ntransport = \"pigeon\"\n").expect_err("transport");
        assert!(
            err.to_string().contains("unknown variant `pigeon`"),
            "{err}"
        );
    }

    #[test]
    fn bad_from_is_rejected() {
        let err = parse_str("[mail]\nfrom = \"not an address\"\n").expect_err("from");
        assert!(err.to_string().contains("mail.from"), "{err}");
        assert_eq!(err.exit(), Exit::Config);
    }

    #[test]
    fn relative_paths_resolve_beside_the_config() {
        let loaded = LoadedConfig {
            path: PathBuf::from("/srv/app/pwreset.toml"),
            config: Config::default(),
        };
        assert_eq!(
            loaded.resolve(Path::new("pwreset.db")),
            PathBuf::from("/srv/app/pwreset.db")
        );
        assert_eq!(
            loaded.resolve(Path::new("/var/db/x.db")),
            PathBuf::from("/var/db/x.db")
        );
    }

    #[test]
    fn line_and_column_count_characters() {
        assert_eq!(line_and_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_and_column("", 0), (1, 1));
    }
}
