//! Reading a config file: TOML parsing with line and column in errors, and flattening a table
//! into dotted keys. It reads the file it is given; it does not decide which file (`settings`
//! does) and never reads the environment.

use std::path::{Path, PathBuf};

use lettre::message::Mailbox;

use super::{Config, ConfigError, validate::validate};

/// The values of the file that the checks at load parse (MAIL-1, MAIL-2), in their types.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// `links.base_url`, checked: https, or http for a loopback host; no user part.
    pub base_url: Option<url::Url>,
    /// `mail.from`.
    pub from: Mailbox,
    /// `mail.reply_to`.
    pub reply_to: Option<Mailbox>,
    /// `[serve]`.
    pub serve: super::ParsedServe,
    /// `mail.default_locale`, in canonical form.
    pub default_locale: crate::user::locale::Locale,
}

/// A loaded config together with the file it came from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The file that was read.
    pub path: PathBuf,
    /// Its parsed contents.
    pub config: Config,
    /// The dotted keys the file sets (the others have their defaults).
    pub set_keys: std::collections::BTreeSet<String>,
    /// The values checked at load, in their types, so nothing parses them again.
    pub parsed: Parsed,
}

impl LoadedConfig {
    /// A config that did not come from a file's text (tests, defaults): checked as at load.
    pub fn new(path: PathBuf, config: Config) -> Result<Self, ConfigError> {
        let parsed = validate(&path, &config)?;
        Ok(LoadedConfig {
            path,
            config,
            set_keys: std::collections::BTreeSet::new(),
            parsed,
        })
    }

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
    let (config, parsed) = read(path, &text)?;
    let set_keys = toml::from_str::<toml::Table>(&text)
        .map(|table| flatten(&table))
        .unwrap_or_default()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    Ok(LoadedConfig {
        path: path.to_path_buf(),
        config,
        set_keys,
        parsed,
    })
}

/// Every leaf of a TOML table as `(dotted.key, value)`, in order.
pub fn flatten(table: &toml::Table) -> Vec<(String, toml::Value)> {
    let mut out = Vec::new();
    flatten_into(table, "", &mut out);
    out
}

fn flatten_into(table: &toml::Table, prefix: &str, out: &mut Vec<(String, toml::Value)>) {
    for (key, value) in table {
        let dotted = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(inner) => flatten_into(inner, &dotted, out),
            other => out.push((dotted, other.clone())),
        }
    }
}

/// Every setting of `config` (defaults included) as `(dotted.key, value)`.
pub fn settings_of(config: &Config) -> Vec<(String, toml::Value)> {
    toml::Table::try_from(config)
        .map(|table| flatten(&table))
        .unwrap_or_default()
}

/// Parse config text; `path` is only used in error messages.
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    read(path, text).map(|(config, _)| config)
}

/// Parse and check config text, keeping the values the checks parsed.
fn read(path: &Path, text: &str) -> Result<(Config, Parsed), ConfigError> {
    let config: Config = toml::from_str(text).map_err(|err| invalid(path, text, &err))?;
    let parsed = validate(path, &config)?;
    Ok((config, parsed))
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
pub(super) fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}
