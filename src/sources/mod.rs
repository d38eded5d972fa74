//! Users that live in another application's database (issue 22): the built-in profiles
//! (`django`, `laravel`, `odoo`) as data, what each reads and writes and in which hash format
//! ([`profile`]), the statements that find, list and compare-and-swap a user's password there
//! ([`access`]), and the check that a database fits a profile ([`check`]).
//!
//! A domain module: it knows no terminal, flag or exit code, and reads no settings. It runs SQL
//! only through [`crate::store::sql::Conn`], every value bound as a parameter; the only names it
//! puts into a statement are the profiles' own fixed table and column names (LOC-2). It never
//! creates a table or column in the application's database, and writes the password column
//! only as a compare-and-swap on the hash it read (SRC-1).

pub mod access;
pub mod check;
pub mod profile;

pub use access::{AppUser, Skip, Swap, find_by_login, list, write_password};
pub use check::{Privilege, Problem, Report, check};
pub use profile::{Profile, ProfileName};

#[cfg(test)]
mod tests;
