//! The CLI end-to-end tests of `tests/cli` again, with every test's store a PostgreSQL database
//! of its own (copied from a template pwreset's migrations built) instead of an SQLite file:
//! the same modules, compiled here with [`BACKEND`] set to PostgreSQL.
//!
//! Needs the throwaway server of `.ci/pg-server start` (`PWRESET_TEST_PG*`). Without it the
//! binary ends at its first test with a loud note, except under `CI=true`, where every test
//! fails. Left out, as SQLite's alone or independent of the store: `init` (it writes an SQLite
//! store), `config`, `global` and `unix` (config files and flags), `canary` (scans the store's
//! files), `snapshots` (help texts), and the `pg_*` modules (PostgreSQL-specific already).

/// The store every test of this binary runs against.
pub const BACKEND: support::Backend = support::Backend::Postgres;

// The harness.
#[path = "../cli/backend.rs"]
mod backend;
#[allow(
    dead_code,
    reason = "the pg_* tests in tests/cli use the rest of the PostgreSQL harness"
)]
#[path = "../cli/pg_support.rs"]
mod pg_support;
// A file with its own submodules in `smtp_server/` is reached through an inline module: a
// `#[path]` file of its own would look for them beside it.
#[path = "../cli"]
mod nested {
    pub mod smtp_server;
}
use nested::smtp_server;
#[path = "../cli/support.rs"]
mod support;
#[path = "../cli/testdb.rs"]
mod testdb;

// The tests.
#[path = "../cli/audit.rs"]
mod audit;
#[path = "../cli/browser/mod.rs"]
mod browser;
#[path = "../cli/bulk.rs"]
mod bulk;
#[path = "../cli/concurrency/mod.rs"]
mod concurrency;
#[path = "../cli/crash.rs"]
mod crash;
#[path = "../cli/faults.rs"]
mod faults;
#[path = "../cli/generate.rs"]
mod generate;
#[path = "../cli/headers.rs"]
mod headers;
#[path = "../cli/hostile.rs"]
mod hostile;
#[path = "../cli/import.rs"]
mod import;
#[path = "../cli/link_code.rs"]
mod link_code;
#[path = "../cli/locale.rs"]
mod locale;
#[path = "../cli/send_link.rs"]
mod send_link;
#[path = "../cli/serve/mod.rs"]
mod serve;
#[path = "../cli/smtp_test.rs"]
mod smtp_test;
#[path = "../cli/states.rs"]
mod states;
#[path = "../cli/templates.rs"]
mod templates;
#[path = "../cli/terminal.rs"]
mod terminal;
#[path = "../cli/tokens.rs"]
mod tokens;
#[path = "../cli/transports.rs"]
mod transports;
#[path = "../cli/trust.rs"]
mod trust;
#[path = "../cli/users.rs"]
mod users;
#[path = "../cli/users_edit.rs"]
mod users_edit;
