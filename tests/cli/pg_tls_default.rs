//! The TLS a remote PostgreSQL host gets when the URL names no `sslmode` (DB-2, issue 21 item
//! 14): `verify-full` against the platform's roots, so a server they do not vouch for is
//! refused, as an on-path impostor would be; `sslmode=require` is the explicit downgrade.

use pwreset::db_url::PgTarget;
use pwreset::store::sql::postgres::{self as pg, PgConnectError};

use crate::pg_support::server;

/// The test server, reached by its address but held to the TLS mode that `url` gives.
fn held_to(url: &str) -> PgTarget {
    let remote = PgTarget::parse(url, "pwreset").unwrap_or_else(|e| panic!("{url}: {e}"));
    PgTarget {
        sslmode: remote.sslmode,
        sslrootcert: remote.sslrootcert,
        ..server().template.clone()
    }
}

#[test]
#[cfg_attr(
    not(pwreset_pg),
    ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
)]
fn a_remote_hosts_default_refuses_a_certificate_it_cannot_verify() {
    let server = server();
    let target = held_to("postgres://pwreset@db.example.com/app");
    match pg::connect(&target, Some(&server.password)) {
        Err(err @ PgConnectError::Tls { .. }) => {
            assert!(!err.to_string().contains(server.password.expose()), "{err}");
        }
        Err(other) => panic!("not a TLS failure: {other}"),
        Ok(_) => panic!("connected to a server whose certificate nothing vouches for"),
    }
    let downgraded = held_to("postgres://pwreset@db.example.com/app?sslmode=require");
    pg::connect(&downgraded, Some(&server.password)).expect("require: encrypted, unverified");
}
