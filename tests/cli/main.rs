//! End-to-end tests of the `pwreset` binary: each test runs it as a process in its own temp dir
//! with a cleared environment, against a real store. One binary for both stores: the modules
//! named in [`on_both_backends!`] run on SQLite (`audit::...`) and again on PostgreSQL
//! (`postgres::audit::...`); every other module runs once, for the reason written above it.
//! `layout::every_test_module_runs_on_both_backends_or_says_why` keeps it so.
//!
//! The PostgreSQL tests need the server of `eval "$(.ci/pg-server start)"`; without
//! `cfg(pwreset_pg)` (see `build.rs`) they are listed as ignored, with that reason.
#![cfg_attr(
    pwreset_pg,
    expect(
        clippy::duplicate_mod,
        reason = "on_both_backends! compiles each backend-neutral module twice, on purpose"
    )
)]

/// Declares the backend-neutral test modules: each once at the top (the SQLite tests) and
/// again under `postgres` (the same tests; [`backend::current`] reads the `postgres::` in a
/// test's name). Without `cfg(pwreset_pg)` the PostgreSQL copy is not compiled: one ignored
/// placeholder per module says so instead.
macro_rules! on_both_backends {
    ($($module:ident),+ $(,)?) => {
        $(mod $module;)+

        /// The same modules, every test on PostgreSQL.
        #[cfg(pwreset_pg)]
        #[path = "."]
        #[allow(
            dead_code,
            reason = "helpers other modules share are reached through the first copy"
        )]
        mod postgres {
            $(mod $module;)+
        }

        /// Without `cfg(pwreset_pg)`: one ignored test per module, naming what did not run.
        #[cfg(not(pwreset_pg))]
        mod postgres {
            $(
                #[test]
                #[ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""]
                fn $module() {}
            )+
        }
    };
}

on_both_backends!(
    audit,
    browser,
    bulk,
    busy_store,
    concurrency,
    crash,
    faults,
    generate,
    headers,
    hostile,
    import,
    link_code,
    locale,
    schema_rules,
    send_link,
    serve,
    smtp_test,
    states,
    templates,
    terminal,
    tokens,
    transports,
    trust,
    users,
    users_edit,
);

// Each module below runs once, for the reason on the line above it (`layout` requires one).

// Once: the docs and the code they cite; no store.
mod docs;
// Once: password hashes checked by the applications' own code; no store.
mod app_hashes;
// Once: the applications' own schemas, made by the applications; not pwreset's store.
mod app_sources;
// Once: the harness, no tests of its own.
mod backend;
// Once: the harness, no tests of its own.
mod pg_support;
// Once: the harness; its own tests are of the SMTP test server, which holds no store.
mod smtp_server;
// Once: the harness, no tests of its own.
mod support;
// Once: the harness, no tests of its own.
mod testdb;
// Once: this guard reads files, no store.
mod layout;
// Once, on SQLite: it scans the store's files and the WAL, which only SQLite has.
mod canary;
// Once, on SQLite: config files and their checks, independent of the store.
mod config;
// Once, on SQLite: global flags, the environment and the config search, not the store.
mod global;
// Once, on SQLite: `init` writes an SQLite store.
mod init;
// Once, on SQLite: help texts, independent of the store.
mod snapshots;
// Once, on SQLite: the SQLite store's own mechanics (a pre-schema-4 store, its write lock).
mod sqlite_store;
// Once, from SQLite: `store migrate` copies an SQLite store (to PostgreSQL too, with the server).
mod store_migrate;
// Once, on SQLite: file modes, the umask and the contrib files, independent of the store.
mod unix;
// Once, on PostgreSQL: bulk runs that processes share on one PostgreSQL store.
mod pg_bulk;
// Once, on PostgreSQL: the CLI on a PostgreSQL store named by URL.
mod pg_cli;
// Once, on PostgreSQL: connections, TLS modes and password sources.
mod pg_connect;
// Once, on PostgreSQL: the bounds on every wait for a PostgreSQL server (DB-4).
mod pg_bounded;
// Once, on PostgreSQL: its schema and migrations.
mod pg_schema;
// Once, on PostgreSQL: row locks between two sessions, which SQLite's one writer never takes.
mod pg_lock_order;
// Once, on PostgreSQL: the TLS mode a remote host gets by default.
mod pg_tls_default;
// Once, on PostgreSQL: `serve` over a store its config names by URL.
mod pg_serve;
// Once, on PostgreSQL: two `serve` processes on one store, as behind a load balancer.
mod pg_instances;
