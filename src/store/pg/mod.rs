//! The PostgreSQL store's own pieces: where it is ([`target`]), how to reach it safely
//! ([`connect`], [`tls`]), where its password may come from ([`pgpass`]'s format) and its schema
//! ([`schema`]).
//!
//! It holds no per-table SQL (that lives once, for both stores, in the rest of `store/`) and
//! knows nothing about flags, terminals or exit codes. It reads no environment: `settings`
//! finds the password and passes it in.

pub mod client;
pub mod connect;
pub mod pgpass;
pub mod schema;
#[cfg(test)]
pub(crate) mod scratch;
pub mod target;
pub mod tls;

pub use client::PgClient;
pub use connect::{PgConnectError, connect};
pub use schema::{PgSchemaError, migrate, version};
pub use target::{PgHost, PgTarget, SslMode, StoreLocation, TargetError};
