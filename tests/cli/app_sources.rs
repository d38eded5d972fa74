//! The built-in profiles (`pwreset::sources`) against the applications' own schemas (issue 22,
//! "Proof"). Django: a throwaway project made by `django-admin startproject` and migrated by
//! `manage.py migrate`, its users created with Django's ORM, and Django's own `authenticate()`
//! asked after pwreset's compare-and-swap write (`apps/django/site.py`, passwords on stdin).
//! Laravel and Odoo: tables written here from the applications' own definitions (each DDL says
//! which file it follows), as running those applications needs PHP's Composer or Odoo itself.
//!
//! The Django tests need the venv's Django (`PWRESET_TEST_PYTHON`, as `.ci/run` sets); without
//! `cfg(pwreset_apps)` they are listed as ignored, with that reason.

use std::path::{Path, PathBuf};
use std::process::Command;

use pwreset::db_url::PgHost;
use pwreset::hashfmt::{Encoded, HashSettings};
use pwreset::secret::Secret;
use pwreset::sources::{self, Profile, ProfileName, Swap};
use pwreset::store::sql::Conn;
use pwreset::store::sql::postgres as pg;
use serde_json::{Value, json};

use crate::pg_support::PgTestDb;

const OLD: &str = "the old password ☃ of alice";
const NEW: &str = "a new password ☃ pwreset wrote";

/// A hash of `password` in `profile`'s format and default settings.
#[expect(
    clippy::disallowed_methods,
    reason = "a test stands in for the CLI edge, which creates the RNG"
)]
fn hash(profile: &Profile, password: &str) -> Encoded {
    profile
        .hash
        .hash(&Secret::new(password.into()), &mut rand::rng())
        .expect("hash")
}

fn open(path: &Path) -> Conn {
    Conn::open_application_sqlite(path, 5000).expect("open the application's database")
}

fn problems(conn: &Conn, name: ProfileName) -> Vec<String> {
    let report = sources::check(conn, &Profile::builtin(name));
    assert_eq!(report.profile, name);
    report.problems.iter().map(ToString::to_string).collect()
}

/// Run `program args...` in `dir`, failing the test with its stderr.
fn run(dir: &Path, program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A Django project, made and migrated by Django itself on SQLite.
struct DjangoSite {
    _dir: tempfile::TempDir,
    project: PathBuf,
}

impl DjangoSite {
    /// A project on SQLite (`db.sqlite3` in the project).
    fn new() -> DjangoSite {
        Self::on(None)
    }

    /// A project on `pg` when given (the role's password read from the test server's password
    /// file when Django connects), else on SQLite.
    fn on(pg: Option<&PgTestDb>) -> DjangoSite {
        let dir = tempfile::tempdir().expect("tempdir");
        let project = dir.path().join("site");
        std::fs::create_dir(&project).expect("mkdir");
        let python = crate::app_hashes::python();
        let path = project.to_str().expect("utf-8 path");
        run(
            dir.path(),
            &python,
            &["-m", "django", "startproject", "site_app", path],
        );
        if let Some(db) = pg {
            let settings = project.join("site_app/settings.py");
            let mut text = std::fs::read_to_string(&settings).expect("settings");
            text.push_str(&django_pg_settings(db));
            std::fs::write(&settings, text).expect("settings");
        }
        run(
            &project,
            &python,
            &["manage.py", "migrate", "--no-input", "-v", "0"],
        );
        DjangoSite { _dir: dir, project }
    }

    fn db(&self) -> PathBuf {
        self.project.join("db.sqlite3")
    }

    /// Ask `apps/django/site.py` (Django's ORM in this project).
    fn ask(&self, request: &Value) -> Value {
        let mut request = request.clone();
        request["project"] = json!(self.project);
        crate::app_hashes::run_script(&crate::app_hashes::python(), "django/site.py", &request)
    }

    fn authenticate(&self, username: &str, password: &str) -> Value {
        self.ask(&json!({"op": "authenticate", "username": username, "password": password}))
    }
}

#[test]
#[cfg_attr(
    not(pwreset_apps),
    ignore = "needs Django 5.2: PWRESET_TEST_APPS=1, docs/development.md"
)]
fn django_find_list_and_a_compare_and_swap_write_that_django_accepts() {
    let site = DjangoSite::new();
    let users = json!([
        {"username": "alice", "email": "alice@example.com", "first_name": "Alice",
         "last_name": "Liddell", "password": OLD, "is_active": true},
        {"username": "bob", "email": "", "first_name": "", "last_name": "",
         "password": "bob's own password", "is_active": false},
    ]);
    let ids = site.ask(&json!({"op": "create", "users": users}))["ids"].clone();
    let (alice_id, bob_id) = (ids[0].as_i64().expect("id"), ids[1].as_i64().expect("id"));
    let mut conn = open(&site.db());
    let profile = Profile::builtin(ProfileName::Django);
    assert_eq!(problems(&conn, ProfileName::Django), Vec::<String>::new());

    let alice = sources::find_by_login(&conn, &profile, "alice")
        .expect("find")
        .expect("alice");
    assert_eq!(
        (alice.id, alice.login.as_str(), alice.email.as_deref()),
        (alice_id, "alice", Some("alice@example.com"))
    );
    assert_eq!((alice.name.as_str(), alice.active), ("Alice Liddell", true));
    let read = alice.password.clone().expect("a hash");
    assert!(
        read.starts_with("pbkdf2_sha256$1000000$"),
        "Django 5.2's own hash"
    );
    assert_eq!(
        sources::find_by_login(&conn, &profile, "ALICE").expect("find"),
        None,
        "logins compare exactly, as Django's"
    );
    let all = sources::list(&conn, &profile, None, None).expect("list");
    let listed: Vec<_> = all
        .iter()
        .map(|u| (u.id, u.login.as_str(), u.active))
        .collect();
    assert_eq!(listed, [(alice_id, "alice", true), (bob_id, "bob", false)]);
    assert_eq!(all[1].email, None, "an empty email is no email");
    let page = sources::list(&conn, &profile, Some(alice_id), Some(1)).expect("page");
    assert_eq!(page.iter().map(|u| u.id).collect::<Vec<_>>(), [bob_id]);

    let new = hash(&profile, NEW);
    let stale = hash(&profile, "a hash pwreset never read");
    let swap = sources::write_password(&mut conn, &profile, alice_id, stale.as_str(), &new);
    assert_eq!(swap.expect("write"), Swap::Changed);
    let unchanged = sources::find_by_login(&conn, &profile, "alice").expect("find");
    assert_eq!(unchanged.and_then(|u| u.password), Some(read.clone()));
    assert_eq!(
        site.authenticate("alice", OLD)["ok"],
        true,
        "nothing was written"
    );

    let swap = sources::write_password(&mut conn, &profile, alice_id, &read, &new);
    assert_eq!(swap.expect("write"), Swap::Written);
    let accepted = site.authenticate("alice", NEW);
    assert_eq!(accepted["ok"], true, "{accepted}");
    assert_eq!(accepted["must_update"], false, "{accepted}");
    assert_eq!(
        accepted["stored"],
        new.as_str(),
        "Django kept pwreset's hash as it is"
    );
    assert_eq!(site.authenticate("alice", OLD)["ok"], false);
    let again = sources::write_password(&mut conn, &profile, alice_id, &read, &hash(&profile, OLD));
    assert_eq!(
        again.expect("write"),
        Swap::Changed,
        "the old hash guards no more"
    );
}

#[test]
#[cfg_attr(
    not(pwreset_apps),
    ignore = "needs Django 5.2: PWRESET_TEST_APPS=1, docs/development.md"
)]
fn django_check_names_a_renamed_and_a_dropped_column() {
    let site = DjangoSite::new();
    let conn = open(&site.db());
    conn.batch("ALTER TABLE auth_user RENAME COLUMN email TO mail")
        .expect("rename");
    conn.batch("ALTER TABLE auth_user DROP COLUMN last_name")
        .expect("drop");
    assert_eq!(
        problems(&conn, ProfileName::Django),
        [
            "column auth_user.email is missing",
            "column auth_user.last_name is missing"
        ]
    );
    conn.batch("DROP TABLE auth_user").expect("drop the table");
    assert_eq!(
        problems(&conn, ProfileName::Django),
        ["table auth_user is missing"]
    );
}

/// An SQLite database of the application's made by `ddl`, which must fit profile `name` as it
/// is: the directory that holds it, the connection, the profile, and a hash of [`OLD`] in its
/// format.
fn app_db(ddl: &str, name: ProfileName) -> (tempfile::TempDir, Conn, Profile, Encoded) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.sqlite3");
    std::fs::File::create(&path).expect("create");
    let conn = open(&path);
    conn.batch(ddl).expect(ddl);
    assert_eq!(problems(&conn, name), Vec::<String>::new());
    let profile = Profile::builtin(name);
    let old = hash(&profile, OLD);
    (dir, conn, profile, old)
}

/// Laravel 11+'s `database/migrations/0001_01_01_000000_create_users_table.php` (laravel/laravel),
/// as its schema builder writes it for SQLite (`id()` a big integer key, `string` a varchar(255),
/// `timestamps()` two nullable timestamps); `sessions` is left out: pwreset does not use it.
const LARAVEL_DDL: &str = "
    CREATE TABLE users (
        id integer PRIMARY KEY AUTOINCREMENT NOT NULL,
        name varchar NOT NULL,
        email varchar NOT NULL,
        email_verified_at datetime,
        password varchar NOT NULL,
        remember_token varchar,
        created_at datetime,
        updated_at datetime
    );
    CREATE UNIQUE INDEX users_email_unique ON users (email);
    CREATE TABLE password_reset_tokens (
        email varchar NOT NULL PRIMARY KEY,
        token varchar NOT NULL,
        created_at datetime
    );";

#[test]
fn laravel_check_write_and_the_reset_tokens_that_die_with_the_hash() {
    let (_dir, mut conn, profile, old) = app_db(LARAVEL_DDL, ProfileName::Laravel);
    conn.execute(
        "INSERT INTO users (name, email, password) VALUES ('Alice', 'alice@example.com', ?1)",
        &[&old.as_str()],
    )
    .expect("insert");
    conn.batch(
        "INSERT INTO password_reset_tokens (email, token) VALUES ('alice@example.com', 'x'), \
         ('bob@example.com', 'y')",
    )
    .expect("tokens");
    let alice = sources::find_by_login(&conn, &profile, "alice@example.com")
        .expect("find")
        .expect("alice");
    assert_eq!((alice.name.as_str(), alice.active), ("Alice", true));
    let new = hash(&profile, NEW);
    let swap = sources::write_password(&mut conn, &profile, alice.id, old.as_str(), &new);
    assert_eq!(swap.expect("write"), Swap::Written);
    let left: Vec<String> = conn
        .query_vec("SELECT email FROM password_reset_tokens", &[], |r| r.get(0))
        .expect("tokens");
    assert_eq!(
        left,
        ["bob@example.com"],
        "alice's Laravel reset token died"
    );
    let stored = sources::find_by_login(&conn, &profile, "alice@example.com").expect("find");
    assert_eq!(
        stored.and_then(|u| u.password).as_deref(),
        Some(new.as_str())
    );

    conn.batch("DROP TABLE password_reset_tokens; ALTER TABLE users DROP COLUMN name")
        .expect("drop");
    assert_eq!(
        problems(&conn, ProfileName::Laravel),
        [
            "column users.name is missing",
            "table password_reset_tokens is missing"
        ]
    );
}

/// Odoo's `res_partner` and `res_users` as its ORM creates them from the models'
/// fields (odoo/odoo `odoo/addons/base/models/res_partner.py`, `res_users.py`, and
/// `addons/auth_signup/models/res_partner.py` for the signup columns), reduced to the columns
/// pwreset reads or writes plus a few neighbours; Odoo runs on PostgreSQL only, and its
/// column types are kept.
const ODOO_DDL: &str = "
    CREATE TABLE res_partner (
        id integer PRIMARY KEY,
        name varchar,
        email varchar,
        active boolean,
        signup_token varchar,
        signup_type varchar,
        signup_expiration timestamp
    );
    CREATE TABLE res_users (
        id integer PRIMARY KEY,
        login varchar NOT NULL UNIQUE,
        password varchar,
        partner_id integer NOT NULL REFERENCES res_partner (id),
        active boolean DEFAULT true,
        share boolean
    );";

#[test]
fn odoo_check_write_and_the_signup_token_cleared() {
    let (_dir, mut conn, profile, old) = app_db(ODOO_DDL, ProfileName::Odoo);
    conn.batch(
        "INSERT INTO res_partner (id, name, email, signup_token, signup_type) \
         VALUES (7, 'Alice', 'alice@example.com', 'tok', 'reset'), (8, 'Bob', NULL, 'tok2', 'reset')",
    )
    .expect("partners");
    conn.execute(
        "INSERT INTO res_users (id, login, password, partner_id, active) VALUES \
         (2, 'alice', ?1, 7, 1), (3, 'bob', NULL, 8, 0)",
        &[&old.as_str()],
    )
    .expect("users");
    let all = sources::list(&conn, &profile, None, None).expect("list");
    let shown: Vec<_> = all
        .iter()
        .map(|u| {
            (
                u.id,
                u.login.as_str(),
                u.email.as_deref(),
                u.name.as_str(),
                u.active,
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            (2, "alice", Some("alice@example.com"), "Alice", true),
            (3, "bob", None, "Bob", false)
        ]
    );
    let new = hash(&profile, NEW);
    let swap = sources::write_password(&mut conn, &profile, 2, old.as_str(), &new);
    assert_eq!(swap.expect("write"), Swap::Written);
    let tokens: Vec<Option<String>> = conn
        .query_vec(
            "SELECT signup_token FROM res_partner ORDER BY id",
            &[],
            |r| r.get(0),
        )
        .expect("tokens");
    assert_eq!(
        tokens,
        [None, Some("tok2".to_string())],
        "only alice's partner cleared"
    );

    conn.batch("ALTER TABLE res_partner DROP COLUMN signup_expiration; ALTER TABLE res_users RENAME COLUMN login TO username")
        .expect("alter");
    assert_eq!(
        problems(&conn, ProfileName::Odoo),
        [
            "column res_users.login is missing",
            "column res_partner.signup_expiration is missing"
        ]
    );
}

/// A profile's own settings are the ones written: a site on Django 4.2 LTS's count.
#[test]
fn a_site_with_its_own_iterations_gets_them() {
    let django = Profile::builtin(ProfileName::Django);
    let site = HashSettings::Pbkdf2Sha256Django(pwreset::hashfmt::DjangoSettings {
        iterations: 600_000,
    });
    let profile = django.with_hash(site).expect("same format");
    assert!(
        hash(&profile, NEW)
            .as_str()
            .starts_with("pbkdf2_sha256$600000$")
    );
}

/// The `DATABASES` of a Django project on `db`, over TLS, the password read from the server's
/// password file (never written into the settings).
fn django_pg_settings(db: &PgTestDb) -> String {
    let PgHost::Tcp(host) = &db.target.host else {
        panic!("the test server listens on TCP");
    };
    format!(
        "\nDATABASES = {{'default': {{'ENGINE': 'django.db.backends.postgresql', \
         'NAME': {name:?}, 'USER': {user:?}, 'HOST': {host:?}, 'PORT': {port}, \
         'PASSWORD': open({file:?}).read().strip(), 'OPTIONS': {{'sslmode': 'require'}}}}}}\n",
        name = db.target.dbname,
        user = db.target.user,
        port = db.target.port,
        file = db.server.password_file.to_str().expect("utf-8 path"),
    )
}

/// A connection to `db` as pwreset would open an application's database.
fn open_pg(db: &PgTestDb) -> Conn {
    let client = pg::connect(&db.target, Some(&db.server.password)).expect("connect");
    Conn::application_pg(client, 5000)
}

/// A role of its own for `db` (roles are the cluster's, so it is named after the database),
/// made by the cluster's superuser over the trusted Unix socket and one the test role may
/// `SET ROLE` to; then, granted by the tables' owner, the rights SRC-3 documents for the django
/// profile: SELECT on the columns read, UPDATE on the password column, nothing else. Its name.
fn limited_django_role(db: &PgTestDb, owner: &Conn) -> String {
    let role = format!("{}_app", db.target.dbname);
    let superuser = pwreset::db_url::PgTarget {
        host: PgHost::Socket(db.server.socket.clone()),
        user: "postgres".to_string(),
        sslmode: pwreset::db_url::SslMode::Disable,
        ..db.target.clone()
    };
    let mut admin = pg::connect(&superuser, None).expect("connect as the superuser");
    let create = format!(
        "CREATE ROLE {role} NOLOGIN; GRANT {role} TO {}",
        db.target.user
    );
    admin.batch_execute(&create).expect("create the role");
    let grant = format!(
        "GRANT SELECT (id, username, email, first_name, last_name, is_active, password) \
         ON auth_user TO {role}; GRANT UPDATE (password) ON auth_user TO {role}"
    );
    owner.batch(&grant).expect("grant");
    role
}

#[test]
#[cfg_attr(
    not(all(pwreset_apps, pwreset_pg)),
    ignore = "needs Django 5.2 with psycopg and PostgreSQL: PWRESET_TEST_APPS=1, eval \"$(.ci/pg-server start)\""
)]
fn django_on_postgresql_with_only_the_documented_rights() {
    let db = PgTestDb::empty();
    let site = DjangoSite::on(Some(&db));
    let users = json!([{"username": "alice", "email": "alice@example.com", "first_name": "Alice",
        "last_name": "Liddell", "password": OLD, "is_active": true}]);
    let alice_id = site.ask(&json!({"op": "create", "users": users}))["ids"][0]
        .as_i64()
        .expect("id");
    let mut conn = open_pg(&db);
    let profile = Profile::builtin(ProfileName::Django);
    let role = limited_django_role(&db, &conn);
    let become_role = format!("SET ROLE {role}");
    conn.batch(&become_role).expect("become the limited role");
    assert_eq!(problems(&conn, ProfileName::Django), Vec::<String>::new());

    let alice = sources::find_by_login(&conn, &profile, "alice")
        .expect("find")
        .expect("alice");
    assert_eq!(
        (alice.id, alice.name.as_str(), alice.active),
        (alice_id, "Alice Liddell", true)
    );
    let listed = sources::list(&conn, &profile, None, Some(10)).expect("list");
    assert_eq!(listed.iter().map(|u| u.id).collect::<Vec<_>>(), [alice_id]);
    let read = alice.password.expect("a hash");
    let new = hash(&profile, NEW);
    let stale = hash(&profile, "a hash pwreset never read");
    let swap = sources::write_password(&mut conn, &profile, alice_id, stale.as_str(), &new);
    assert_eq!(swap.expect("write"), Swap::Changed);
    let swap = sources::write_password(&mut conn, &profile, alice_id, &read, &new);
    assert_eq!(swap.expect("write"), Swap::Written);
    let accepted = site.authenticate("alice", NEW);
    assert_eq!(
        (&accepted["ok"], &accepted["must_update"]),
        (&json!(true), &json!(false)),
        "{accepted}"
    );
    assert_eq!(site.authenticate("alice", OLD)["ok"], false);

    conn.batch(&format!(
        "RESET ROLE; REVOKE UPDATE (password) ON auth_user FROM {role}; \
         REVOKE SELECT (email) ON auth_user FROM {role}; {become_role}"
    ))
    .expect("revoke");
    assert_eq!(
        problems(&conn, ProfileName::Django),
        [
            "the role lacks SELECT on auth_user.email",
            "the role lacks UPDATE on auth_user.password"
        ]
    );
    conn.batch("RESET ROLE; ALTER TABLE auth_user RENAME COLUMN is_active TO active")
        .expect("rename");
    assert_eq!(
        problems(&conn, ProfileName::Django),
        ["column auth_user.is_active is missing"]
    );
}
