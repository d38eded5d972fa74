//! The PostgreSQL side of the test harness: the throwaway server `.ci/pg-server` started (its
//! `PWRESET_TEST_PG*` variables), a template database migrated once by pwreset's own PG
//! migrations, and one database per test copied from it and dropped with the test.
//!
//! A test that needs the server is `#[ignore]`d, with the reason, unless `cfg(pwreset_pg)` is on
//! (`build.rs`: `PWRESET_TEST_PG_TESTS=1`, which `.ci/pg-server start` exports, or `CI=true`);
//! when it is on, a missing server fails the test: CI must never silently skip the store it ships.

use std::path::PathBuf;
use std::sync::OnceLock;

use pwreset::db_url::PgTarget;
use pwreset::secret::Secret;
use pwreset::store::schema::postgres as pg_schema;
use pwreset::store::sql::postgres::{self as pg};

/// Held (session advisory lock) while the template is migrated, shared while it is copied: a
/// template cannot be copied while someone is connected to it.
const TEMPLATE_LOCK_KEY: i64 = 0x7077_7265_7365_7402;

/// The server `.ci/pg-server start` describes.
#[derive(Debug)]
pub struct PgServer {
    /// The template database, as `PWRESET_TEST_PG` names it (TLS on, no password in it).
    pub template: PgTarget,
    /// The same server's `postgres` database, for CREATE/DROP DATABASE.
    pub admin: PgTarget,
    /// The plaintext-only copy of the server (`PWRESET_TEST_PG_PLAIN`).
    pub plain: PgTarget,
    /// The role's password (`PWRESET_TEST_PG_PASSWORD_FILE`).
    pub password: Secret,
    /// The password file itself.
    pub password_file: PathBuf,
    /// The test CA that signed the server's certificate (`PWRESET_TEST_PG_CA`).
    pub ca: PathBuf,
    /// The Unix socket directory (`PWRESET_TEST_PG_SOCKET`).
    pub socket: PathBuf,
}

#[expect(
    clippy::disallowed_methods,
    reason = "the test harness reads the server .ci/pg-server started, like CI itself"
)]
fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn parse(url: &str) -> PgTarget {
    PgTarget::parse(url, "pwreset").unwrap_or_else(|e| panic!("{url}: {e}"))
}

/// The server. Only tests that run with `cfg(pwreset_pg)` ask for it (`build.rs`; without the
/// cfg they are `#[ignore]`d), so a missing server fails the test: it never says `ok` unrun.
pub fn server() -> &'static PgServer {
    static SERVER: OnceLock<Option<PgServer>> = OnceLock::new();
    let found = SERVER.get_or_init(|| {
        let url = var("PWRESET_TEST_PG")?;
        let need = |name: &str| var(name).unwrap_or_else(|| panic!("{name} is unset"));
        let password_file = PathBuf::from(need("PWRESET_TEST_PG_PASSWORD_FILE"));
        let password = std::fs::read_to_string(&password_file).expect("read the password file");
        let template = parse(&url);
        let admin = PgTarget {
            dbname: "postgres".to_string(),
            ..template.clone()
        };
        Some(PgServer {
            template,
            admin,
            plain: parse(&need("PWRESET_TEST_PG_PLAIN")),
            password: Secret::new(password.trim_end().to_string()),
            password_file,
            ca: PathBuf::from(need("PWRESET_TEST_PG_CA")),
            socket: PathBuf::from(need("PWRESET_TEST_PG_SOCKET")),
        })
    });
    found.as_ref().unwrap_or_else(|| {
        panic!(
            "PostgreSQL test but PWRESET_TEST_PG is unset: run `eval \"$(.ci/pg-server start)\"` \
             first (.ci/run does)"
        )
    })
}

impl PgServer {
    /// A connection to `target` with the role's password.
    pub fn connect(&self, target: &PgTarget) -> pwreset::store::sql::postgres::PgClient {
        pg::connect(target, Some(&self.password)).unwrap_or_else(|e| panic!("connect: {e}"))
    }

    /// Migrate the template once per test process, under an advisory lock across processes.
    fn ensure_template(&self) {
        static MIGRATED: OnceLock<()> = OnceLock::new();
        MIGRATED.get_or_init(|| {
            let mut admin = self.connect(&self.admin);
            admin
                .execute("SELECT pg_advisory_lock($1)", &[&TEMPLATE_LOCK_KEY])
                .expect("lock the template");
            let mut template = self.connect(&self.template);
            pg_schema::migrate(&mut template).expect("migrate the template");
            drop(template);
            admin
                .execute("SELECT pg_advisory_unlock($1)", &[&TEMPLATE_LOCK_KEY])
                .expect("unlock the template");
        });
    }
}

/// A database of its own for one test, copied from the migrated template; dropped on drop.
pub struct PgTestDb {
    /// The server it lives on.
    pub server: &'static PgServer,
    /// The database (TLS on, no password in it).
    pub target: PgTarget,
}

impl PgTestDb {
    /// A fresh, migrated database (a missing server fails the test: see [`server`]).
    pub fn new() -> PgTestDb {
        let server = server();
        server.ensure_template();
        Self::copy(server, &server.template.dbname)
    }

    /// A fresh database pwreset never migrated (a copy of `template0`).
    pub fn empty() -> PgTestDb {
        Self::copy(server(), "template0")
    }

    #[expect(
        clippy::disallowed_methods,
        reason = "a unique database name from the OS RNG, so parallel test processes never collide"
    )]
    fn copy(server: &'static PgServer, template: &str) -> PgTestDb {
        let name = format!("t_{:016x}", rand::random::<u64>());
        let mut admin = server.connect(&server.admin);
        admin
            .execute("SELECT pg_advisory_lock_shared($1)", &[&TEMPLATE_LOCK_KEY])
            .expect("lock the template (shared)");
        admin
            .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
            .expect("copy the template");
        let target = PgTarget {
            dbname: name,
            ..server.template.clone()
        };
        PgTestDb { server, target }
    }

    /// A connection to this database.
    pub fn client(&self) -> pwreset::store::sql::postgres::PgClient {
        self.server.connect(&self.target)
    }

    /// The database's URL, as a user would write it (no password).
    pub fn url(&self) -> String {
        self.target.to_string()
    }
}

impl Drop for PgTestDb {
    fn drop(&mut self) {
        let sql = format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.target.dbname
        );
        let dropped = pg::connect(&self.server.admin, Some(&self.server.password))
            .map_err(|e| e.to_string())
            .and_then(|mut c| c.batch_execute(&sql).map_err(|e| e.to_string()));
        if let Err(e) = dropped {
            eprintln!(
                "note: could not drop test database {}: {e}",
                self.target.dbname
            );
        }
    }
}

/// A test dir whose config names `db` in `store.url` (password from `store.password_file`),
/// with the SQLite store `init` made removed so nothing can silently use it.
pub fn pg_env(db: &PgTestDb, url: &str) -> crate::support::TestEnv {
    let env = crate::support::TestEnv::initialised();
    let password = std::fs::read_to_string(&db.server.password_file).expect("password");
    let file = env.write("db-password", &password);
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    let config = std::fs::read_to_string(env.path("pwreset.toml")).expect("config");
    let store = format!("[store]\nurl = \"{url}\"\npassword_file = \"db-password\"\n");
    env.write("pwreset.toml", &config.replacen("[store]\n", &store, 1));
    for name in ["pwreset.db", "pwreset.db-wal", "pwreset.db-shm"] {
        let _ = std::fs::remove_file(env.path(name));
    }
    env
}

pub fn scalar(db: &PgTestDb, sql: &str) -> i64 {
    db.client().query_one(sql, &[]).expect(sql).get(0)
}
