//! Unit tests' PostgreSQL: a database of their own on the throwaway server `.ci/pg-server`
//! started (`PWRESET_TEST_PG*`), created empty from `template0` and dropped with the test.
//!
//! Without `cfg(pwreset_pg)` (`build.rs`) the tests using it are `#[ignore]`d; with it, a missing
//! server fails them: CI must never silently skip the store it ships. It never connects
//! to the server's template database, which the CLI tests copy (a copy fails while anyone is
//! connected to it).

use crate::secret::Secret;

use crate::db_url::PgTarget;

/// A fresh, empty database, dropped on drop.
pub(crate) struct Scratch {
    admin: PgTarget,
    password: Secret,
    /// The database.
    pub target: PgTarget,
}

#[expect(
    clippy::disallowed_methods,
    reason = "the test harness reads the server .ci/pg-server started, like CI itself"
)]
fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Whether PostgreSQL tests run: only with `cfg(pwreset_pg)` (see `build.rs`; without it they
/// are `#[ignore]`d). Then a missing server fails the test, in one line: a test that did not
/// run must never say `ok`.
pub(crate) fn configured() -> bool {
    if !cfg!(pwreset_pg) {
        return false;
    }
    assert!(
        var("PWRESET_TEST_PG").is_some(),
        "PostgreSQL test but PWRESET_TEST_PG is unset: run `eval \"$(.ci/pg-server start)\"` first"
    );
    true
}

impl Scratch {
    /// A new database, or `None` (with a note) when no server is configured outside CI.
    #[expect(
        clippy::disallowed_methods,
        reason = "a unique database name from the OS RNG, so parallel tests never collide"
    )]
    pub(crate) fn new() -> Option<Scratch> {
        if !configured() {
            return None;
        }
        let url = var("PWRESET_TEST_PG")?;
        let file = var("PWRESET_TEST_PG_PASSWORD_FILE").expect("PWRESET_TEST_PG_PASSWORD_FILE");
        let password = std::fs::read_to_string(file).expect("read the password file");
        let password = Secret::new(password.trim_end().to_string());
        let template = PgTarget::parse(&url, "pwreset").expect("PWRESET_TEST_PG");
        let admin = PgTarget {
            dbname: "postgres".into(),
            ..template.clone()
        };
        let target = PgTarget {
            dbname: format!("u_{:016x}", rand::random::<u64>()),
            ..template
        };
        let scratch = Scratch {
            admin,
            password,
            target,
        };
        scratch.admin_sql(&format!(
            "CREATE DATABASE {} TEMPLATE template0",
            scratch.target.dbname
        ));
        Some(scratch)
    }

    /// A new connection to the database.
    pub(crate) fn client(&self) -> super::PgClient {
        super::connect(&self.target, Some(&self.password)).expect("connect")
    }

    /// The role's password.
    pub(crate) fn password(&self) -> &Secret {
        &self.password
    }

    fn admin_sql(&self, sql: &str) {
        let mut admin = super::connect(&self.admin, Some(&self.password)).expect("connect");
        admin.batch_execute(sql).expect(sql);
    }
}

impl Scratch {
    /// Drop the database now (a test of a store gone missing); dropping the `Scratch` later
    /// finds nothing left to drop. Runs on a thread of its own, so it may be called from
    /// inside a tokio runtime (the sync client refuses to connect there).
    pub(crate) fn drop_database(&self) -> Result<(), String> {
        let sql = format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.target.dbname
        );
        std::thread::scope(|s| {
            s.spawn(|| {
                super::connect(&self.admin, Some(&self.password))
                    .map_err(|e| e.to_string())
                    .and_then(|mut c| c.batch_execute(&sql).map_err(|e| e.to_string()))
            })
            .join()
            .unwrap_or_else(|_| Err("the dropping thread panicked".into()))
        })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = self.drop_database() {
            eprintln!("note: could not drop {}: {e}", self.target.dbname);
        }
    }
}
