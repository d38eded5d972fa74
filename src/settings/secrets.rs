//! Secrets the config points to, and the rule for files that must stay private.
//!
//! Owns reading the SMTP password (the environment variable named by
//! `mail.smtp.password_env`, else `mail.smtp.password_file`, refused if readable by others) and
//! the LOC-1 rule "a private file must not be readable by group or others". It reads the
//! environment and files but prints nothing: each caller words its own messages, and nothing
//! here knows about flags, terminals or exit codes.

use std::path::{Path, PathBuf};

use crate::config::LoadedConfig;
use crate::secret::Secret;

/// A secret from the environment variable named by the config (e.g. the SMTP password). The
/// variable is read when needed rather than captured, because its name comes from the config.
#[expect(
    clippy::disallowed_methods,
    reason = "settings is the one place that reads the environment"
)]
pub fn secret_from_env(name: &str) -> Option<Secret> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .map(Secret::new)
}

/// A file that should be private but is readable by group or others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadableByOthers {
    /// The file.
    pub path: PathBuf,
    /// Its permission bits.
    pub mode: u32,
}

impl ReadableByOthers {
    /// `{what} {path} is readable by others (mode {mode})`.
    pub fn describe(&self, what: &str) -> String {
        format!("{what} {self}")
    }
}

impl std::fmt::Display for ReadableByOthers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is readable by others (mode {:o})",
            self.path.display(),
            self.mode
        )
    }
}

/// LOC-1: `Some` when `path` exists and group or others may read it.
pub fn readable_by_others(path: &Path) -> Option<ReadableByOthers> {
    crate::fsmode::loose_mode(path).map(|mode| ReadableByOthers {
        path: path.to_path_buf(),
        mode,
    })
}

/// Where the SMTP password comes from.
#[derive(Debug)]
pub enum PasswordOrigin {
    /// The variable named by `mail.smtp.password_env` holds it.
    Environment(Secret),
    /// `mail.smtp.password_file` names this file (private, not read yet).
    File(PathBuf),
}

/// Why there is no SMTP password.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// Neither the variable nor a password file is set.
    #[error("neither {variable} nor password_file holds a password")]
    NotSet {
        /// The variable named by `mail.smtp.password_env`.
        variable: String,
    },
    /// The password file is readable by others.
    #[error("{0}")]
    ReadableByOthers(ReadableByOthers),
    /// The password file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Where the SMTP password would come from: the variable named by `password_env`, else
/// `password_file` (refused when readable by others). The file is not read.
pub fn smtp_password_origin(config: &LoadedConfig) -> Result<PasswordOrigin, SecretError> {
    let smtp = &config.config.mail.smtp;
    if let Some(secret) = secret_from_env(&smtp.password_env) {
        return Ok(PasswordOrigin::Environment(secret));
    }
    let Some(file) = &smtp.password_file else {
        return Err(SecretError::NotSet {
            variable: smtp.password_env.clone(),
        });
    };
    let path = config.resolve(file);
    match readable_by_others(&path) {
        Some(loose) => Err(SecretError::ReadableByOthers(loose)),
        None => Ok(PasswordOrigin::File(path)),
    }
}

/// The SMTP password, from [`smtp_password_origin`]; a file's trailing newline is dropped.
pub fn smtp_password(config: &LoadedConfig) -> Result<Secret, SecretError> {
    match smtp_password_origin(config)? {
        PasswordOrigin::Environment(secret) => Ok(secret),
        PasswordOrigin::File(path) => match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Secret::new(text.trim_end_matches(['\r', '\n']).to_string())),
            Err(source) => Err(SecretError::Unreadable { path, source }),
        },
    }
}
