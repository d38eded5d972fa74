//! [`ConfigError`]: what can be wrong with finding, reading or checking the config file.
//!
//! The messages name the file and the dotted key; they never name a flag.

use std::path::PathBuf;

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
    /// `store.url` names no store pwreset accepts (the same words as [`ConfigError::BadValue`]).
    #[error("{path}: store.url: {source}")]
    BadStoreUrl {
        /// The file.
        path: PathBuf,
        /// Why the URL is refused.
        source: crate::db_url::TargetError,
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
    /// A secret file a key names may be read by others, so it is not used.
    #[error("{path}: {key}: {message}")]
    ReadableByOthers {
        /// The config file.
        path: PathBuf,
        /// The dotted key that names the secret file.
        key: String,
        /// Which file, how it is exposed, and what to do about it.
        message: String,
    },
}
