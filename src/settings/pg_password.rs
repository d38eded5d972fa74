//! The PostgreSQL password (DB-1): never from argv or the URL, but, highest first, from
//! `PGPASSWORD`, from `store.password_file` (refused when readable by others, like the SMTP
//! password file), or from libpq's password file (`PGPASSFILE`, else `~/.pgpass`), which is
//! ignored with a warning when group or others may read it, as libpq does.
//!
//! Reads the environment and files, prints nothing: the caller words the warnings.

use std::path::{Path, PathBuf};

use crate::db_url::PgTarget;
use crate::secret::Secret;
use crate::store::sql::postgres::pgpass;

use super::secrets::{ReadableByOthers, SecretError, readable_by_others, secret_from_env};

/// The environment variables libpq users set, read once.
#[derive(Debug, Clone, Default)]
pub struct PgEnvironment {
    /// `PGPASSWORD`.
    pub password: Option<Secret>,
    /// `PGPASSFILE`.
    pub passfile: Option<PathBuf>,
    /// `HOME`, where `.pgpass` lives by default.
    pub home: Option<PathBuf>,
}

/// Where the password came from (for messages; never the password itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgPasswordSource {
    /// `PGPASSWORD`.
    Environment,
    /// `store.password_file`.
    PasswordFile(PathBuf),
    /// A line of libpq's password file.
    PgPass(PathBuf),
}

/// The outcome of the search.
#[derive(Debug, Default)]
pub struct PgPassword {
    /// The password and where it was found; `None` when no source has one (the server may not
    /// ask: Unix-socket `peer` or `trust` logins).
    pub found: Option<(Secret, PgPasswordSource)>,
    /// Password files skipped because others may read them.
    pub ignored: Vec<ReadableByOthers>,
}

impl PgEnvironment {
    /// Read `PGPASSWORD`, `PGPASSFILE` and `HOME`.
    #[expect(
        clippy::disallowed_methods,
        reason = "settings is the one place that reads the environment"
    )]
    pub fn read() -> PgEnvironment {
        let path = |name| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        PgEnvironment {
            password: secret_from_env("PGPASSWORD"),
            passfile: path("PGPASSFILE"),
            home: path("HOME"),
        }
    }

    /// libpq's password file: `PGPASSFILE`, else `~/.pgpass`.
    fn passfile(&self) -> Option<PathBuf> {
        self.passfile
            .clone()
            .or_else(|| self.home.as_ref().map(|h| h.join(".pgpass")))
    }
}

/// Find the password for `target` (see the module doc for the order).
pub fn pg_password(
    env: &PgEnvironment,
    target: &PgTarget,
    password_file: Option<&Path>,
) -> Result<PgPassword, SecretError> {
    if let Some(secret) = &env.password {
        let found = Some((secret.clone(), PgPasswordSource::Environment));
        return Ok(PgPassword {
            found,
            ..PgPassword::default()
        });
    }
    if let Some(path) = password_file {
        if let Some(loose) = readable_by_others(path) {
            return Err(SecretError::ReadableByOthers(loose));
        }
        let text = read(path)?;
        let secret = Secret::new(text.trim_end_matches(['\r', '\n']).to_string());
        let found = Some((secret, PgPasswordSource::PasswordFile(path.to_path_buf())));
        return Ok(PgPassword {
            found,
            ..PgPassword::default()
        });
    }
    let Some(path) = env.passfile().filter(|p| p.is_file()) else {
        return Ok(PgPassword::default());
    };
    if let Some(loose) = readable_by_others(&path) {
        return Ok(PgPassword {
            found: None,
            ignored: vec![loose],
        });
    }
    let found = pgpass::lookup(&read(&path)?, target).map(|s| (s, PgPasswordSource::PgPass(path)));
    Ok(PgPassword {
        found,
        ..PgPassword::default()
    })
}

fn read(path: &Path) -> Result<String, SecretError> {
    std::fs::read_to_string(path).map_err(|source| SecretError::Unreadable {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn target() -> PgTarget {
        PgTarget::parse("postgres://pwreset@db.internal/app", "u").expect("url")
    }

    fn write(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        path
    }

    fn home(dir: &Path) -> PgEnvironment {
        PgEnvironment {
            home: Some(dir.to_path_buf()),
            ..PgEnvironment::default()
        }
    }

    fn found(result: &PgPassword) -> Option<(&str, &PgPasswordSource)> {
        result.found.as_ref().map(|(s, src)| (s.expose(), src))
    }

    #[test]
    fn pgpassword_wins_over_the_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = write(dir.path(), "pw", "from-file\n", 0o600);
        write(dir.path(), ".pgpass", "*:*:*:*:from-pgpass\n", 0o600);
        let env = PgEnvironment {
            password: Some(Secret::new("from-env".into())),
            ..home(dir.path())
        };
        let got = pg_password(&env, &target(), Some(&file)).expect("found");
        assert_eq!(
            found(&got),
            Some(("from-env", &PgPasswordSource::Environment))
        );
    }

    #[test]
    fn the_password_file_comes_next_and_must_be_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = write(dir.path(), "pw", "from-file\n", 0o600);
        write(dir.path(), ".pgpass", "*:*:*:*:from-pgpass\n", 0o600);
        let got = pg_password(&home(dir.path()), &target(), Some(&file)).expect("found");
        assert_eq!(
            found(&got),
            Some(("from-file", &PgPasswordSource::PasswordFile(file.clone())))
        );
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        let err = pg_password(&home(dir.path()), &target(), Some(&file)).expect_err("loose");
        assert!(matches!(err, SecretError::ReadableByOthers(_)), "{err}");
    }

    #[test]
    fn pgpass_is_used_when_private_and_ignored_with_a_warning_otherwise() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pgpass = write(
            dir.path(),
            ".pgpass",
            "db.internal:5432:app:pwreset:s3cret\n",
            0o600,
        );
        let got = pg_password(&home(dir.path()), &target(), None).expect("found");
        assert_eq!(
            found(&got),
            Some(("s3cret", &PgPasswordSource::PgPass(pgpass.clone())))
        );
        std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let got = pg_password(&home(dir.path()), &target(), None).expect("no error");
        assert!(got.found.is_none());
        assert_eq!(got.ignored.len(), 1);
        assert_eq!(got.ignored[0].path, pgpass);
    }

    #[test]
    fn pgpassfile_names_another_file_and_no_match_is_no_password() {
        let dir = tempfile::tempdir().expect("tempdir");
        let other = write(dir.path(), "other", "elsewhere:5432:app:pwreset:x\n", 0o600);
        let env = PgEnvironment {
            passfile: Some(other),
            ..home(dir.path())
        };
        let got = pg_password(&env, &target(), None).expect("searched");
        assert!(got.found.is_none() && got.ignored.is_empty());
    }
}
