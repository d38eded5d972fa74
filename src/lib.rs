//! pwreset: reset other people's passwords safely, from the command line.
//!
//! The library holds everything; `main.rs` only calls [`run`]. The dependency points one way:
//! - Domain modules (`store`, `users`, `tokens`, `password`, `links`, `generate`, `delivery`,
//!   `notice`, `mail`, `templates`, `audit`, `bulk`, `config`, `text`, `timefmt`) know nothing
//!   of terminals, flags or exit codes, and return their own `thiserror` enums. Time and
//!   randomness are parameters.
//! - `settings` resolves defaults, the config file, the environment and flags into typed values,
//!   once; it is the only module that reads the environment.
//! - `cli` parses, asks, calls the domain and renders, with `cli::ui` (the terminal) and
//!   `cli::output` (tables, JSON, CSV). `cli/error.rs` is the one place that maps errors to the
//!   exit codes of `cli::exit`. Nothing outside `cli` imports from it.

pub mod audit;
pub mod bulk;
pub mod cli;
pub mod config;
pub mod db_url;
pub mod delivery;
pub mod fsmode;
pub mod generate;
pub mod hashfmt;
pub mod input;
pub mod keys;
#[cfg(test)]
mod layering;
pub mod links;
pub mod mail;
pub mod notice;
pub mod password;
pub mod secret;
pub mod settings;
pub mod sources;
pub mod store;
pub mod templates;
pub mod text;
pub mod timefmt;
pub mod tokens;
pub mod user;
pub mod users;
pub mod web;

/// Run pwreset with the process's arguments and return its exit code.
pub fn run() -> std::process::ExitCode {
    cli::run(std::env::args_os())
}
