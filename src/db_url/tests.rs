use super::*;

fn pg(text: &str) -> Result<PgTarget, TargetError> {
    PgTarget::parse(text, "osuser")
}

fn mode(text: &str) -> SslMode {
    pg(text).expect(text).sslmode
}

#[test]
fn sqlite_locations_are_paths() {
    for (text, path) in [
        ("sqlite:/var/db/p.db", "/var/db/p.db"),
        ("sqlite:rel.db", "rel.db"),
        ("pwreset.db", "pwreset.db"),
        ("/srv/x.db", "/srv/x.db"),
    ] {
        assert_eq!(
            StoreLocation::parse(text, "u"),
            Ok(StoreLocation::Sqlite(PathBuf::from(path)))
        );
    }
}

#[test]
fn a_full_url_gives_every_field() {
    let t = pg("postgresql://app%40x@db.internal:6543/my%20db?sslmode=verify-full&sslrootcert=/etc/ca.pem&connect_timeout=3&application_name=cron")
        .expect("parse");
    assert_eq!(t.host, PgHost::Tcp("db.internal".into()));
    assert_eq!(
        (t.port, t.user.as_str(), t.dbname.as_str()),
        (6543, "app@x", "my db")
    );
    assert_eq!(t.sslmode, SslMode::VerifyFull);
    assert_eq!(t.sslrootcert, Some(PathBuf::from("/etc/ca.pem")));
    assert_eq!(t.connect_timeout, Duration::from_secs(3));
    assert_eq!(t.application_name, "cron");
}

#[test]
fn defaults_follow_libpq() {
    let t = pg("postgres://db.internal").expect("parse");
    assert_eq!(
        (t.port, t.user.as_str(), t.dbname.as_str()),
        (5432, "osuser", "osuser")
    );
    assert_eq!(t.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
    assert_eq!(t.application_name, "pwreset");
    let socket = pg("postgres:///app").expect("parse");
    assert_eq!(
        socket.host,
        PgHost::Socket(PathBuf::from(DEFAULT_SOCKET_DIR))
    );
    assert_eq!(socket.dbname, "app");
}

#[test]
fn a_socket_directory_comes_from_the_host_parameter() {
    let t = pg("postgres://pwreset@/app?host=/tmp/pg%20sock&port=5999").expect("parse");
    assert_eq!(t.host, PgHost::Socket(PathBuf::from("/tmp/pg sock")));
    assert_eq!(t.port, 5999);
    assert_eq!(t.sslmode, SslMode::Disable, "no TLS over a Unix socket");
    assert!(t.is_local());
}

#[test]
fn a_password_is_refused_in_the_authority_and_the_query() {
    assert_eq!(
        pg("postgres://u:hunter2@h/db"),
        Err(TargetError::PasswordInUrl)
    );
    assert_eq!(
        pg("postgres://u@h/db?password=hunter2"),
        Err(TargetError::PasswordInUrl)
    );
    let err = StoreLocation::parse("postgresql://u:hunter2@h/db", "u").expect_err("refused");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[test]
fn unknown_parameters_and_bad_values_are_refused() {
    assert_eq!(
        pg("postgres://h/db?sslmod=disable"),
        Err(TargetError::UnknownParameter("sslmod".into()))
    );
    for (url, name) in [
        ("postgres://h/db?sslmode=maybe", "sslmode"),
        ("postgres://h/db?connect_timeout=0", "connect_timeout"),
        ("postgres://h/db?connect_timeout=soon", "connect_timeout"),
        ("postgres://h/db?port=99999", "port"),
    ] {
        assert!(
            matches!(pg(url), Err(TargetError::BadValue { name: n, .. }) if n == name),
            "{url}"
        );
    }
}

#[test]
fn remote_hosts_require_tls_and_never_fall_back() {
    assert_eq!(mode("postgres://db.internal/app"), SslMode::VerifyFull);
    assert_eq!(
        mode("postgres://db.internal/app?sslmode=prefer"),
        SslMode::Require
    );
    assert_eq!(
        mode("postgres://db.internal/app?sslmode=allow"),
        SslMode::Require
    );
    assert_eq!(
        mode("postgres://10.0.0.5/app?sslmode=verify-ca"),
        SslMode::VerifyCa
    );
    assert_eq!(
        pg("postgres://db.internal/app?sslmode=disable"),
        Err(TargetError::PlaintextToRemote {
            host: "db.internal".into()
        })
    );
}

#[test]
fn loopback_hosts_may_use_plaintext() {
    for host in ["localhost", "127.0.0.1", "127.1.2.3", "[::1]"] {
        assert_eq!(
            mode(&format!("postgres://{host}/app")),
            SslMode::Prefer,
            "{host}"
        );
        assert_eq!(
            mode(&format!("postgres://{host}/app?sslmode=disable")),
            SslMode::Disable,
            "{host}"
        );
        assert_eq!(
            mode(&format!("postgres://{host}/app?sslmode=require")),
            SslMode::Require
        );
    }
}

#[test]
fn require_with_a_root_certificate_verifies_the_chain() {
    assert_eq!(
        mode("postgres://db.internal/app?sslmode=require&sslrootcert=/ca.pem"),
        SslMode::VerifyCa
    );
    assert_eq!(
        mode("postgres://db.internal/app?sslrootcert=/ca.pem"),
        SslMode::VerifyFull,
        "no sslmode: the default, verify-full, against that root"
    );
}

#[test]
fn display_names_the_target_without_a_password() {
    let t = pg("postgres://app@db.internal:6543/prod").expect("parse");
    assert_eq!(t.to_string(), "postgres://app@db.internal:6543/prod");
    let v6 = pg("postgres://app@[::1]/prod").expect("parse");
    assert_eq!(v6.to_string(), "postgres://app@[::1]:5432/prod");
    let s = pg("postgres://app@/prod?host=/run/pg").expect("parse");
    assert_eq!(s.to_string(), "postgres://app@/prod?host=/run/pg&port=5432");
}

/// Issue 21, item 14: the default TLS mode per host. A remote host is verified in full
/// against the platform's roots (or `sslrootcert`); loopback keeps `prefer`, a Unix socket no
/// TLS; `require` is an explicit downgrade.
#[test]
fn the_default_mode_verifies_remote_hosts_in_full() {
    assert_eq!(mode("postgres://u@db.internal/app"), SslMode::VerifyFull);
    assert_eq!(mode("postgres://u@10.1.2.3/app"), SslMode::VerifyFull);
    assert_eq!(
        mode("postgres://u@db.internal/app?sslrootcert=/etc/ca.pem"),
        SslMode::VerifyFull
    );
    assert_eq!(mode("postgres://u@127.0.0.1/app"), SslMode::Prefer);
    assert_eq!(mode("postgres://u@localhost/app"), SslMode::Prefer);
    assert_eq!(mode("postgres://u@[::1]/app"), SslMode::Prefer);
    assert_eq!(mode("postgres:///app?host=/run/pg"), SslMode::Disable);
    assert_eq!(
        mode("postgres://u@db.internal/app?sslmode=require"),
        SslMode::Require
    );
    assert_eq!(
        mode("postgres://u@db.internal/app?sslmode=require&sslrootcert=/etc/ca.pem"),
        SslMode::VerifyCa
    );
}
