//! Where the store is: `--db`/`PWRESET_DB` (parsed once, when settings are resolved), else
//! `store.url`, else `store.path`, and where a PostgreSQL store's password comes from. Nothing
//! here connects to anything.

use std::path::PathBuf;

use crate::config::{ConfigError, LoadedConfig};
use crate::db_url::{DEFAULT_CONNECT_TIMEOUT, PgTarget, StoreLocation};

use super::{PgPassword, SecretError, Settings, SettingsError, pg_password};

impl Settings {
    /// The store to open: `--db`, else `PWRESET_DB`, else `store.url`, else `store.path` (paths
    /// in the config are relative to it). A `store.url` pwreset refuses is a config error; the
    /// PostgreSQL connect timeout is the URL's `connect_timeout`, else `store.connect_timeout`.
    pub fn store_location(&self, config: &LoadedConfig) -> Result<StoreLocation, ConfigError> {
        let store = &config.config.store;
        let location = match (&self.store_override, &store.url) {
            (Some(given), _) => given.clone(),
            (None, Some(url)) => StoreLocation::parse(url, &self.os_user).map_err(|source| {
                ConfigError::BadStoreUrl {
                    path: config.path.clone(),
                    source,
                }
            })?,
            (None, None) => StoreLocation::Sqlite(store.path.clone()),
        };
        Ok(match location {
            StoreLocation::Sqlite(path) if self.store_override.is_none() => {
                StoreLocation::Sqlite(config.resolve(&path))
            }
            StoreLocation::Postgres(target) => StoreLocation::Postgres(PgTarget {
                connect_timeout: match store.connect_timeout {
                    Some(timeout) if target.connect_timeout == DEFAULT_CONNECT_TIMEOUT => timeout.0,
                    _ => target.connect_timeout,
                },
                ..target
            }),
            other @ StoreLocation::Sqlite(_) => other,
        })
    }

    /// The `--db`/`PWRESET_DB` override alone, if one was given.
    pub fn db_override(&self) -> Option<&StoreLocation> {
        self.store_override.as_ref()
    }

    /// The password for a PostgreSQL store: `PGPASSWORD`, else `store.password_file`, else
    /// libpq's password file (see [`pg_password`]).
    pub fn pg_password(
        &self,
        config: &LoadedConfig,
        target: &PgTarget,
    ) -> Result<PgPassword, SecretError> {
        let file = config
            .config
            .store
            .password_file
            .as_deref()
            .map(|f| config.resolve(f));
        pg_password(&self.pg_env, target, file.as_deref())
    }
}

/// `--db` / `PWRESET_DB` as a store location; a path that is not UTF-8 is a SQLite file.
pub(super) fn parse_location(
    source_name: &'static str,
    given: PathBuf,
    os_user: &str,
) -> Result<StoreLocation, SettingsError> {
    let Some(text) = given.to_str() else {
        return Ok(StoreLocation::Sqlite(given));
    };
    StoreLocation::parse(text, os_user)
        .map_err(|error| SettingsError::StoreUrl { source_name, error })
}
