//! PostgreSQL's connection setup (where a server is: `crate::db_url`): how to reach it safely
//! ([`connect`], [`tls`]), where its password may come from ([`pgpass`]'s format), and the
//! synchronous client the driver runs statements on ([`client`]).
//!
//! It holds no table and no schema (those are `store::schema` and the table modules) and
//! knows nothing about flags, terminals or exit codes. It reads no environment: `settings`
//! finds the password and passes it in.

pub mod client;
pub mod connect;
pub mod pgpass;
#[cfg(test)]
pub(crate) mod scratch;
pub mod tls;

pub use client::PgClient;
pub use connect::{PgConnectError, connect};
