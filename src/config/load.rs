//! Reading a config file: TOML parsing with line and column in errors, and flattening a table
//! into dotted keys. It reads the file it is given; it does not decide which file (`settings`
//! does) and never reads the environment.

use std::path::{Path, PathBuf};

use super::{Config, ConfigError, validate::validate};

/// A loaded config together with the file it came from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The file that was read.
    pub path: PathBuf,
    /// Its parsed contents.
    pub config: Config,
    /// The dotted keys the file sets (the others have their defaults).
    pub set_keys: std::collections::BTreeSet<String>,
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
pub(super) fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}
