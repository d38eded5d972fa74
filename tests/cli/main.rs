//! End-to-end tests of the `pwreset` binary: each test runs it as a process in its own temp dir
//! with a cleared environment, against a real SQLite store.

mod audit;
mod browser;
mod bulk;
mod canary;
mod concurrency;
mod config;
mod crash;
mod faults;
mod generate;
mod global;
mod headers;
mod hostile;
mod import;
mod init;
mod link_code;
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
mod support;
mod templates;
mod terminal;
mod tokens;
mod transports;
mod trust;
mod unix;
mod users;
