//! End-to-end tests of the `pwreset` binary: each test runs it as a process in its own temp dir
//! with a cleared environment, against a real SQLite store. `tests/cli_pg` compiles the same
//! backend-neutral modules against PostgreSQL.

/// The store every test of this binary runs against.
pub const BACKEND: support::Backend = support::Backend::Sqlite;

mod audit;
mod backend;
mod browser;
mod bulk;
mod canary;
mod concurrency;
mod config;
mod crash;
mod docs;
mod faults;
mod generate;
mod global;
mod headers;
mod hostile;
mod import;
mod init;
mod link_code;
mod locale;
mod pg_bulk;
mod pg_cli;
mod pg_connect;
mod pg_schema;
mod pg_support;
mod send_link;
mod serve;
mod smtp_server;
mod smtp_test;
mod snapshots;
mod states;
mod store_migrate;
mod support;
mod templates;
mod terminal;
mod testdb;
mod tokens;
mod transports;
mod trust;
mod unix;
mod users;
mod users_edit;
