//! Connecting to a real PostgreSQL server: each `sslmode` rule (DB-2) against the TLS server and
//! its plaintext-only copy, the password sources (DB-1), and each failure sorted into its kind
//! with a message that names the target but never the password.

use std::path::Path;

use pwreset::db_url::{PgTarget, StoreLocation};
use pwreset::settings::{PgEnvironment, pg_password};
use pwreset::store::sql::postgres::{self as pg, PgConnectError};

use crate::pg_support::{PgServer, PgTestDb, server};

/// `postgres://pwreset@HOST:PORT/DB?QUERY` on the server behind `base`.
fn target(base: &PgTarget, host: &str, dbname: &str, query: &str) -> PgTarget {
    let url = format!("postgres://pwreset@{host}:{}/{dbname}?{query}", base.port);
    PgTarget::parse(&url, "pwreset").unwrap_or_else(|e| panic!("{url}: {e}"))
}

fn tls_target(server: &PgServer, host: &str, query: &str) -> PgTarget {
    target(&server.template, host, &server.template.dbname, query)
}

fn connect(
    server: &PgServer,
    target: &PgTarget,
) -> Result<pwreset::store::sql::postgres::PgClient, PgConnectError> {
    pg::connect(target, Some(&server.password))
}

fn uses_tls(client: &mut pwreset::store::sql::postgres::PgClient) -> bool {
    client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .expect("pg_stat_ssl")
        .get(0)
}

fn tls_failure(
    result: Result<pwreset::store::sql::postgres::PgClient, PgConnectError>,
    what: &str,
) -> String {
    match result {
        Err(err @ PgConnectError::Tls { .. }) => err.to_string(),
        Err(other) => panic!("{what}: not a TLS failure: {other}"),
        Ok(_) => panic!("{what}: connected"),
    }
}

#[test]
#[cfg_attr(
    not(pwreset_pg),
    ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
)]
fn require_encrypts_without_verifying() {
    let server = server();
    let mut client = connect(server, &tls_target(server, "localhost", "sslmode=require"))
        .expect("require connects to a certificate it cannot verify");
    assert!(uses_tls(&mut client));
}

#[test]
#[cfg_attr(
    not(pwreset_pg),
    ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
)]
fn verify_full_with_the_right_ca_connects() {
    let server = server();
    let query = format!("sslmode=verify-full&sslrootcert={}", server.ca.display());
    let mut client = connect(server, &tls_target(server, "127.0.0.1", &query)).expect("verified");
    assert!(uses_tls(&mut client));
}

#[test]
#[cfg_attr(
    not(pwreset_pg),
    ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
)]
fn verify_full_with_another_ca_fails() {
    let server = server();
    let dir = tempfile::tempdir().expect("tempdir");
    let other_ca = dir.path().join("other-ca.pem");
    std::fs::write(&other_ca, another_ca()).expect("write the other CA");
    let query = format!("sslmode=verify-full&sslrootcert={}", other_ca.display());
    let message = tls_failure(
        connect(server, &tls_target(server, "127.0.0.1", &query)),
        "wrong CA",
    );
    assert!(message.contains("127.0.0.1"), "{message}");
}

#[test]
#[cfg_attr(
    not(pwreset_pg),
    ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
)]
fn verify_full_checks_the_host_name_and_verify_ca_does_not() {
    let server = server();
    let root = format!("sslrootcert={}", server.ca.display());
    let full = tls_target(server, "localhost", &format!("sslmode=verify-full&{root}"));
    tls_failure(
        connect(server, &full),
        "a name the certificate does not hold",
    );
    let ca = tls_target(server, "localhost", &format!("sslmode=verify-ca&{root}"));
    let mut client = connect(server, &ca).expect("verify-ca ignores the name");
    assert!(uses_tls(&mut client));
}

#[test]
#[cfg_attr(
    not(pwreset_pg),
    ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
)]
fn a_plaintext_server_is_refused_when_tls_is_required() {
    let server = server();
    let plain = |query: &str| target(&server.plain, "127.0.0.1", &server.plain.dbname, query);
    tls_failure(connect(server, &plain("sslmode=require")), "require");
    let query = format!("sslmode=verify-full&sslrootcert={}", server.ca.display());
    tls_failure(connect(server, &plain(&query)), "verify-full");
    let mut client = connect(server, &plain("")).expect("loopback prefers, then plaintext");
    assert!(!uses_tls(&mut client));
    connect(server, &plain("sslmode=disable")).expect("disable on loopback");
}

#[test]
#[cfg_attr(
    not(pwreset_pg),
    ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
)]
fn a_wrong_or_missing_password_is_bad_credentials_without_the_password() {
    let server = server();
    let target = tls_target(server, "127.0.0.1", "");
    let wrong = pwreset::secret::Secret::new("not-the-password-4711".to_string());
    match pg::connect(&target, Some(&wrong)).map(drop) {
        Err(err @ PgConnectError::BadCredentials { .. }) => {
            let message = err.to_string();
            assert!(message.contains("pwreset@127.0.0.1"), "{message}");
            assert!(!message.contains("4711"), "{message}");
        }
        other => panic!("wrong password: {other:?}"),
    }
    match pg::connect(&target, None).map(drop) {
        Err(PgConnectError::BadCredentials { reason, .. }) => {
            assert!(reason.contains("none was found"), "{reason}");
        }
        other => panic!("no password: {other:?}"),
    }
}

#[test]
#[cfg_attr(
    not(pwreset_pg),
    ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
)]
fn a_missing_database_and_a_closed_port_are_told_apart() {
    let server = server();
    let missing = target(&server.template, "127.0.0.1", "no_such_db", "");
    assert!(
        matches!(
            connect(server, &missing),
            Err(PgConnectError::MissingDatabase { .. })
        ),
        "missing database"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("postgres://pwreset@127.0.0.1:{port}/x?connect_timeout=2");
    let closed = PgTarget::parse(&url, "pwreset").expect("url");
    match connect(server, &closed).map(drop) {
        Err(err @ PgConnectError::Unreachable { .. }) => {
            assert!(err.to_string().contains(&format!(":{port}/x")), "{err}");
        }
        other => panic!("closed port: {other:?}"),
    }
}

#[test]
#[cfg_attr(
    not(pwreset_pg),
    ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
)]
fn connecting_inside_an_async_runtime_is_an_error_not_a_panic() {
    let server = server();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let target = tls_target(server, "127.0.0.1", "");
    let result = runtime.block_on(async { connect(server, &target).map(|_| ()) });
    assert!(
        matches!(result, Err(PgConnectError::InsideAsyncRuntime { .. })),
        "{result:?}"
    );
}

#[test]
#[cfg_attr(
    not(pwreset_pg),
    ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
)]
fn the_unix_socket_and_a_pgpass_file_work() {
    let server = server();
    let url = format!(
        "postgres://pwreset@/{}?host={}&port={}",
        server.template.dbname,
        server.socket.display(),
        server.template.port
    );
    let socket = PgTarget::parse(&url, "pwreset").expect("url");
    pg::connect(&socket, None).expect("the socket trusts local users");

    let home = tempfile::tempdir().expect("tempdir");
    let line = format!("127.0.0.1:*:*:pwreset:{}\n", server.password.expose());
    write_private(&home.path().join(".pgpass"), &line);
    let env = PgEnvironment {
        home: Some(home.path().to_path_buf()),
        ..PgEnvironment::default()
    };
    let target = tls_target(server, "127.0.0.1", "");
    let found = pg_password(&env, &target, None).expect("search");
    let (password, _) = found.found.expect("a .pgpass line matched");
    pg::connect(&target, Some(&password)).expect("the .pgpass password logs in");
}

#[test]
#[cfg_attr(
    not(pwreset_pg),
    ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
)]
fn a_test_database_url_and_the_password_file_log_in() {
    let db = PgTestDb::new();
    let StoreLocation::Postgres(target) = StoreLocation::parse(&db.url(), "nobody").expect("url")
    else {
        panic!("{} is not a PostgreSQL URL", db.url());
    };
    let env = PgEnvironment::default();
    let found = pg_password(&env, &target, Some(&db.server.password_file)).expect("search");
    let (password, _) = found.found.expect("the password file holds it");
    let mut client = pg::connect(&target, Some(&password)).expect("log in");
    let name: String = client
        .query_one("SELECT current_database()::text", &[])
        .expect("name")
        .get(0);
    assert_eq!(name, db.target.dbname);
}

fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

/// A CA that signed nothing the server holds.
fn another_ca() -> String {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key = rcgen::KeyPair::generate().expect("key");
    params.self_signed(&key).expect("self-signed").pem()
}
